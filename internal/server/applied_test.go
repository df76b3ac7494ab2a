package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
)

func TestRevisionGate(t *testing.T) {
	g := newRevisionGate()
	g.set(3)
	if err := g.wait(context.Background(), 2); err != nil {
		t.Fatalf("wait for an applied revision: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := g.wait(ctx, 4); err == nil {
		t.Fatal("wait for a revision not applied returned nil")
	}
	done := make(chan error, 1)
	go func() { done <- g.wait(context.Background(), 5) }()
	g.set(4)
	select {
	case err := <-done:
		t.Fatalf("wait(5) returned %v at revision 4", err)
	case <-time.After(20 * time.Millisecond):
	}
	g.set(5)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	g.set(1) // revisions never go back
	if err := g.wait(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
}

// TestAnswerWhenApplied checks that an answer is held until the revision
// the call left behind is applied, and sent as the handler wrote it.
func TestAnswerWhenApplied(t *testing.T) {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	gate := newRevisionGate()
	var handled atomic.Int32
	write := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := (recordingStore{st}).Update(r.Context(), func(tx store.Tx) error { return tx.Put("thing", "k", []byte("v")) }); err != nil {
			t.Error(err)
		}
		handled.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "<ok/>")
	})
	srv := httptest.NewServer(answerWhenApplied(write, st, gate, false, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)

	type answer struct {
		resp *http.Response
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Post(srv.URL, "text/plain", nil)
		if err != nil {
			got <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- answer{resp: resp, body: string(b), err: err}
	}()
	// The handler has run (the store is at revision 1), but the answer
	// waits for revision 1 to be applied.
	deadline := time.Now().Add(5 * time.Second)
	for handled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case a := <-got:
		t.Fatalf("answered before the change was applied: %+v", a)
	case <-time.After(100 * time.Millisecond):
	}
	gate.set(1)
	a := <-got
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.resp.StatusCode != http.StatusCreated || a.resp.Header.Get("Content-Type") != "text/xml" || a.body != "<ok/>" {
		t.Errorf("answer: %d %q %q", a.resp.StatusCode, a.resp.Header.Get("Content-Type"), a.body)
	}
}

// TestReadsAnswerAtOnce: on one node a call that wrote nothing answers
// while the data planes are still behind the store; in a fleet (allWait)
// it waits for the store's revision, which may hold other nodes' writes.
func TestReadsAnswerAtOnce(t *testing.T) {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// A write of another client, not applied yet: the store is at 1, the
	// gate at 0.
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.Put("thing", "k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	gate := newRevisionGate()
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An Update that writes nothing is a read too.
		if err := (recordingStore{st}).Update(r.Context(), func(tx store.Tx) error { _, err := tx.Get("thing", "k"); return err }); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "<read/>")
	})
	// Had it waited, it would have answered after appliedWait, saying so
	// in the log.
	var logged strings.Builder
	one := httptest.NewServer(answerWhenApplied(read, st, gate, false, slog.New(slog.NewTextHandler(&lockedBuilder{b: &logged}, nil))))
	t.Cleanup(one.Close)
	resp, err := http.Get(one.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	one.Close()
	if strings.Contains(logged.String(), "answering before the change is applied") {
		t.Errorf("a read on one node waited for another client's write to be applied:\n%s", logged.String())
	}

	fleet := httptest.NewServer(answerWhenApplied(read, st, gate, true, slog.New(slog.DiscardHandler)))
	t.Cleanup(fleet.Close)
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get(fleet.URL)
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a fleet's read answered before revision 1 was applied (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	gate.set(1)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

type lockedBuilder struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
