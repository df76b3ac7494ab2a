// Package connlimit caps the connections a server holds open at once: one
// listener wrapper that every kelb server (the API, metrics, DNS over TCP,
// the webhook, each ALB listener) accepts through.
//
// Listener.Accept hands out at most Max connections; a connection's slot is
// freed when it is closed (once, however often Close is called). When all
// slots are taken and a new connection comes, Accept first evicts the connection that has been idle
// longest, if the server marked any idle (Conn.SetIdle, or ConnState for an
// http.Server: a connection is idle from its start and between requests
// until a whole request head has been read, so neither an idle keep-alive
// connection nor a slow or stalled request head keeps a client that sends
// whole requests out). With none idle it waits for a slot, and new
// connections wait in the kernel's accept queue: the cap holds and the
// server's deadlines free slots. Evictions are counted (Evicted) so that a
// server under pressure shows it.
//
// A Budget bounds the connections of several servers together: kelb
// server's descriptor budget, shared by the application load balancers'
// listeners (Listener.Share) and the network load balancers' flows. A
// listener that finds it spent evicts as at its own cap, its own idle
// connection first, then one of another server, else waits.
//
// HTTPServer builds kelb's own HTTP servers (not the ALB listeners, whose
// deadlines follow the load balancer's idle timeout) on such a listener,
// with deadlines for the request head, the whole request, the answer and
// idle keep-alive connections, and a 64 KiB head limit.
package connlimit

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is a net.Listener that holds at most Max connections open.
type Listener struct {
	net.Listener
	max int

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	freed  chan struct{}
	done   chan struct{}
	closed bool

	evicted atomic.Uint64
	onEvict func()

	budget     *Budget // shared with other servers; nil: none
	unregister func()
}

// NewListener caps ln at max open connections; max <= 0 means no cap
// (connections are still tracked for Open).
func NewListener(ln net.Listener, max int) *Listener {
	return &Listener{Listener: ln, max: max, conns: map[*Conn]struct{}{}, freed: make(chan struct{}, 1), done: make(chan struct{})}
}

// OnEvict sets a function called for each eviction, for a metric. Set it
// before the first Accept.
func (l *Listener) OnEvict(f func()) { l.onEvict = f }

// Accept returns the next connection once it has a slot: a free one, else
// that of the longest idle connection, which it closes, else the first to
// be freed. Only the connection waiting for a slot is held beyond the cap.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &Conn{Conn: c, l: l}
	if err := l.admit(lc); err != nil {
		c.Close()
		return nil, err
	}
	return lc, nil
}

// admit gives c a slot, evicting the longest idle connection or waiting
// for one to close when all are taken. With a shared Budget spent, it
// evicts the longest idle connection of its own, else of another server
// of the budget, else waits for a slot of either.
func (l *Listener) admit(c *Conn) error {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return net.ErrClosed
		}
		atBudget := false
		if l.max <= 0 || len(l.conns) < l.max {
			if l.budget.TryAcquire() {
				l.conns[c] = struct{}{}
				l.mu.Unlock()
				return nil
			}
			atBudget = true
		}
		victim := l.longestIdle()
		l.mu.Unlock()
		if victim != nil {
			l.countEviction()
			victim.Close() // frees its slot
			continue
		}
		if atBudget && l.budget.Evict() {
			continue
		}
		var retry *time.Timer
		var retryC <-chan time.Time
		if atBudget {
			// Slots freed by other servers are not signalled: look again.
			retry = time.NewTimer(budgetRetry)
			retryC = retry.C
		}
		select {
		case <-l.freed:
		case <-retryC:
		case <-l.done:
			return net.ErrClosed
		}
		if retry != nil {
			retry.Stop()
		}
	}
}

// budgetRetry is how often a listener waiting for a slot of a spent
// Budget looks for one.
const budgetRetry = 20 * time.Millisecond

func (l *Listener) countEviction() {
	l.evicted.Add(1)
	if l.onEvict != nil {
		l.onEvict()
	}
}

// evictIdle closes the longest idle connection, for the Budget, and
// reports whether there was one.
func (l *Listener) evictIdle() bool {
	l.mu.Lock()
	victim := l.longestIdle()
	l.mu.Unlock()
	if victim == nil {
		return false
	}
	l.countEviction()
	victim.Close()
	return true
}

// Share makes the listener's connections take slots of b as well (nil: no
// budget) and offers its idle connections for eviction to the budget's
// other servers. Call it before the first Accept.
func (l *Listener) Share(b *Budget) {
	l.budget = b
	l.unregister = b.Register(l.evictIdle)
}

// longestIdle returns the connection idle longest, nil when none is idle.
// It runs only at the cap, so a scan is cheaper than keeping an order on
// every request.
func (l *Listener) longestIdle() *Conn {
	var victim *Conn
	var since int64
	for c := range l.conns {
		if t := c.idleSince.Load(); t != 0 && (victim == nil || t < since) {
			victim, since = c, t
		}
	}
	return victim
}

// Close closes the listener; connections it accepted stay open.
func (l *Listener) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	l.mu.Unlock()
	if l.unregister != nil {
		l.unregister()
	}
	return l.Listener.Close()
}

// Open is the number of connections accepted and not closed yet.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Evicted is the number of idle connections closed to make room for new
// ones.
func (l *Listener) Evicted() uint64 { return l.evicted.Load() }

// ConnState is an http.Server ConnState hook that marks connections idle
// in the New and Idle states.
func (l *Listener) ConnState(c net.Conn, st http.ConnState) {
	lc := Unwrap(c)
	if lc == nil || lc.l != l {
		return
	}
	switch st {
	case http.StateNew, http.StateIdle:
		lc.SetIdle(true)
	case http.StateActive, http.StateHijacked:
		lc.SetIdle(false)
	}
}

// Unwrap finds the *Conn under c (a *Conn, or a *tls.Conn or other
// wrapper with a NetConn method), nil when there is none.
func Unwrap(c net.Conn) *Conn {
	for range 4 {
		switch v := c.(type) {
		case *Conn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// Conn is a connection that holds a slot of its Listener until closed.
type Conn struct {
	net.Conn
	l *Listener
	// idleSince is when the connection became idle (Unix nanoseconds),
	// zero while busy.
	idleSince atomic.Int64
	closeOnce sync.Once
}

// SetIdle marks the connection idle, so that it may be closed to make
// room for a new one, or busy. It does nothing on a nil *Conn.
func (c *Conn) SetIdle(idle bool) {
	if c == nil {
		return
	}
	if !idle {
		c.idleSince.Store(0)
		return
	}
	if c.idleSince.Load() == 0 {
		c.idleSince.Store(time.Now().UnixNano())
	}
}

// Close closes the connection and frees its slot.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.budget.Release()
		select {
		case c.l.freed <- struct{}{}:
		default:
		}
	})
	return err
}

// CloseWrite half-closes a TCP connection, as net/http does before
// closing one after an error.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn returns the connection under c.
func (c *Conn) NetConn() net.Conn { return c.Conn }
