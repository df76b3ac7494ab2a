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

// answerWhenApplied holds next's answer until the store revision its
// writes reached has reached the data planes, the health checker and
// DNS, so that when a call returns its change is in effect: after
// DeregisterTargets no new flow goes to the target, after CreateListener
// the port accepts connections. Answers are small XML or JSON documents,
// buffered whole.
//
// The writes of a call are those it made through a recordingStore with
// the request's context. On one node (allWait false) a call that wrote
// nothing answers at once: a read does not queue behind the data plane
// passes of other clients' writes, which during a cold start of many
// Services is most of a read's time. With allWait (a fleet, whose other
// nodes write to the same store) every call waits for the revision the
// store is at when it ends, as a read on this node must see the writes
// made through the others in effect.
func answerWhenApplied(next http.Handler, st store.Store, gate *revisionGate, allWait bool, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := &bufferedResponse{header: w.Header(), status: http.StatusOK}
		rec := &writeRecord{}
		next.ServeHTTP(buf, r.WithContext(context.WithValue(r.Context(), writeRecordKey{}, rec)))
		rev, wrote, unknown := rec.revision()
		var err error
		if allWait || unknown {
			// Wait for the store's current revision, which includes
			// every write made so far.
			rev, err = st.Revision(r.Context())
		}
		if err == nil && (wrote || allWait) && rev > 0 {
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

// writeRecord holds what the writes of one API request did: whether it
// committed any, and the highest store revision they reached; unknown
// when that revision could not be read.
type writeRecord struct {
	mu      sync.Mutex
	wrote   bool
	unknown bool
	rev     int64
}

type writeRecordKey struct{}

func (w *writeRecord) note(rev int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wrote = true
	if rev <= 0 {
		w.unknown = true
	}
	w.rev = max(w.rev, rev)
}

func (w *writeRecord) revision() (rev int64, wrote, unknown bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rev, w.wrote, w.unknown
}

// recordingStore is a store whose committed writes note, in the
// writeRecord of the API request whose context they carry, the revision
// they reached; answerWhenApplied waits for it.
type recordingStore struct{ store.Store }

func (s recordingStore) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	rec, _ := ctx.Value(writeRecordKey{}).(*writeRecord)
	if rec == nil {
		return s.Store.Update(ctx, fn)
	}
	var wrote bool
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		// fn may run again on a fresh view: only the last run commits.
		wrote = false
		return fn(writeTracker{Tx: tx, wrote: &wrote})
	})
	if err != nil || !wrote {
		return err
	}
	// The store is at this commit's revision or, when others committed
	// since, a later one that includes it.
	rev, rerr := s.Store.Revision(ctx)
	if rerr != nil {
		rev = 0
	}
	rec.note(rev)
	return nil
}

// writeTracker notes whether a transaction wrote.
type writeTracker struct {
	store.Tx
	wrote *bool
}

func (t writeTracker) Put(kind, key string, value []byte) error {
	*t.wrote = true
	return t.Tx.Put(kind, key, value)
}

func (t writeTracker) Delete(kind, key string) error {
	*t.wrote = true
	return t.Tx.Delete(kind, key)
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
