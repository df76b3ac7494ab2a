package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// appliedWait bounds how long an API answer waits for its change to reach
// the data planes; past it the answer goes out anyway (the change still
// applies, a moment later).
const appliedWait = 2 * time.Second

// revisionGate publishes the last store revision the syncer applied and
// lets callers wait for a revision to be applied.
type revisionGate struct {
	mu      sync.Mutex
	applied int64
	changed chan struct{} // closed and replaced when applied advances
}

func newRevisionGate() *revisionGate {
	return &revisionGate{changed: make(chan struct{})}
}

// set records that rev is applied.
func (g *revisionGate) set(rev int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rev > g.applied {
		g.applied = rev
		close(g.changed)
		g.changed = make(chan struct{})
	}
}

// wait returns once rev is applied, or with ctx's error.
func (g *revisionGate) wait(ctx context.Context, rev int64) error {
	for {
		g.mu.Lock()
		applied, changed := g.applied, g.changed
		g.mu.Unlock()
		if applied >= rev {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// answerWhenApplied holds next's answer until the store revision it left
// behind has reached the data planes, the health checker and DNS, so that
// when a call returns its change is in effect: after DeregisterTargets no
// new flow goes to the target, after CreateListener the port accepts
// connections. Answers are small XML or JSON documents, buffered whole.
// Calls that change nothing find their revision applied already and pass
// straight through.
func answerWhenApplied(next http.Handler, st store.Store, gate *revisionGate, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := &bufferedResponse{header: w.Header(), status: http.StatusOK}
		next.ServeHTTP(buf, r)
		rev, err := st.Revision(r.Context())
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), appliedWait)
			err = gate.wait(ctx, rev)
			cancel()
		}
		if err != nil {
			log.Warn("answering before the change is applied", "revision", rev, "err", err)
		}
		w.WriteHeader(buf.status)
		_, _ = w.Write(buf.body.Bytes())
	})
}

// bufferedResponse keeps a handler's answer until it may be sent. Headers
// go straight to the real writer's map; they are sent with WriteHeader.
type bufferedResponse struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if !b.wroteHeader {
		b.status, b.wroteHeader = status, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wroteHeader = true
	return b.body.Write(p)
}
