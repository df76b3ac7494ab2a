package store

import (
	"context"
	"sync"
)

// hub hands revisions to watch channels; both backends use it. A channel
// holds at most one revision: a newer one replaces an unread older one, so
// a slow reader never blocks the writer.
type hub struct {
	mu       sync.Mutex
	closed   bool
	watchers map[*watcher]struct{}
}

type watcher struct {
	ch   chan int64
	stop func() bool
}

func newHub() *hub {
	return &hub{watchers: map[*watcher]struct{}{}}
}

// watch returns a channel that receives revisions until ctx is done or the
// hub is closed.
func (h *hub) watch(ctx context.Context) <-chan int64 {
	w := &watcher{ch: make(chan int64, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || ctx.Err() != nil {
		close(w.ch)
		return w.ch
	}
	h.watchers[w] = struct{}{}
	w.stop = context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.watchers[w]; ok {
			delete(h.watchers, w)
			close(w.ch)
		}
	})
	return w.ch
}

// notify hands rev to every watcher, replacing an unread older revision.
// Only notify sends on watcher channels, always under h.mu, so after the
// buffer is drained the send cannot block.
func (h *hub) notify(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		select {
		case w.ch <- rev:
		default:
			select {
			case <-w.ch:
			default:
			}
			w.ch <- rev
		}
	}
}

// close closes every watch channel; it reports false if the hub was
// closed already.
func (h *hub) close() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.closed = true
	for w := range h.watchers {
		w.stop()
		close(w.ch)
		delete(h.watchers, w)
	}
	return true
}

func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}
