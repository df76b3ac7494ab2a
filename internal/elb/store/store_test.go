package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb/store/etcdtest"
)

// The tests of this file are the Store contract: each runs against every
// backend.

// opener opens one store: every call opens the same store again (the same
// bbolt file, the same etcd prefix); it is closed when the test ends.
type opener func(t *testing.T) Store

type backend struct {
	name string
	// space returns the opener of a new, empty store.
	space func(t *testing.T) opener
	// shared is true when two stores of one space may be open at once (as
	// two kelb servers on one etcd); a bbolt file is opened once.
	shared bool
}

var etcdPrefixes atomic.Int64

// backends returns both backends; etcd is started here, on the test's own
// goroutine, and its subtests skip when there is no etcd binary.
func backends(t *testing.T) []backend {
	bolt := backend{name: "bolt", space: func(t *testing.T) opener {
		path := filepath.Join(t.TempDir(), "kelb.db")
		return func(t *testing.T) Store { return openTestBolt(t, path) }
	}}
	etcd := backend{name: "etcd", shared: true}
	if _, err := etcdtest.Binary(); err != nil {
		etcd.space = func(t *testing.T) opener {
			t.Skipf("no etcd binary (install etcd-server, run make up once to build one, or set KELB_ETCD): %v", err)
			return nil
		}
		return []backend{bolt, etcd}
	}
	srv := etcdtest.Start(t, etcdtest.Options{})
	etcd.space = func(t *testing.T) opener {
		prefix := fmt.Sprintf("/kelb-test/%d/", etcdPrefixes.Add(1))
		return func(t *testing.T) Store { return openTestEtcd(t, srv, prefix) }
	}
	return []backend{bolt, etcd}
}

// forEachBackend runs test once per backend, as a subtest.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

func openTestBolt(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openTestEtcd(t testing.TB, srv *etcdtest.Server, prefix string) *Etcd {
	t.Helper()
	cfg := EtcdConfig{Endpoints: []string{srv.Endpoint}, Prefix: prefix}
	if srv.TLS != nil {
		cfg.CACert, cfg.Cert, cfg.Key = srv.TLS.CACert, srv.TLS.Cert, srv.TLS.Key
	}
	e, err := OpenEtcd(context.Background(), cfg)
	if err != nil {
		t.Fatalf("OpenEtcd: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

var errAbort = errors.New("abort")

func TestUpdate(t *testing.T) {
	type step struct {
		fn      func(tx Tx) error
		wantErr error
	}
	put := func(kind, key, v string) func(Tx) error {
		return func(tx Tx) error { return tx.Put(kind, key, []byte(v)) }
	}
	tests := []struct {
		name    string
		steps   []step
		kind    string
		want    []KV
		wantRev int64
	}{
		{
			name:    "empty store",
			kind:    "lb",
			wantRev: 0,
		},
		{
			name:    "one put",
			steps:   []step{{fn: put("lb", "a", `{"n":1}`)}},
			kind:    "lb",
			want:    []KV{{Key: "a", Value: []byte(`{"n":1}`)}},
			wantRev: 1,
		},
		{
			name: "list is sorted and per kind",
			steps: []step{
				{fn: put("lb", "b", "2")},
				{fn: put("tg", "x", "9")},
				{fn: put("lb", "a", "1")},
			},
			kind:    "lb",
			want:    []KV{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
			wantRev: 3,
		},
		{
			name: "several writes in one update advance the revision once",
			steps: []step{{fn: func(tx Tx) error {
				for _, k := range []string{"a", "b", "c"} {
					if err := tx.Put("lb", k, []byte(k)); err != nil {
						return err
					}
				}
				return tx.Delete("lb", "b")
			}}},
			kind:    "lb",
			want:    []KV{{Key: "a", Value: []byte("a")}, {Key: "c", Value: []byte("c")}},
			wantRev: 1,
		},
		{
			name: "failed update writes nothing",
			steps: []step{
				{fn: put("lb", "a", "1")},
				{fn: func(tx Tx) error {
					if err := tx.Put("lb", "b", []byte("2")); err != nil {
						return err
					}
					if err := tx.Delete("lb", "a"); err != nil {
						return err
					}
					return errAbort
				}, wantErr: errAbort},
			},
			kind:    "lb",
			want:    []KV{{Key: "a", Value: []byte("1")}},
			wantRev: 1,
		},
		{
			name: "update without writes keeps the revision",
			steps: []step{
				{fn: put("lb", "a", "1")},
				{fn: func(tx Tx) error {
					_, err := tx.Get("lb", "a")
					return err
				}},
				{fn: func(tx Tx) error { return tx.Delete("lb", "missing") }},
			},
			kind:    "lb",
			want:    []KV{{Key: "a", Value: []byte("1")}},
			wantRev: 1,
		},
		{
			name: "overwrite and delete",
			steps: []step{
				{fn: put("lb", "a", "1")},
				{fn: put("lb", "a", "2")},
				{fn: put("lb", "b", "3")},
				{fn: func(tx Tx) error { return tx.Delete("lb", "b") }},
			},
			kind:    "lb",
			want:    []KV{{Key: "a", Value: []byte("2")}},
			wantRev: 4,
		},
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				b := be.space(t)(t)
				for i, s := range tt.steps {
					if err := b.Update(ctx, s.fn); !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: Update error = %v, want %v", i, err, s.wantErr)
					}
				}
				got, err := b.List(ctx, tt.kind)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("List(%q) mismatch (-want +got):\n%s", tt.kind, diff)
				}
				rev, err := b.Revision(ctx)
				if err != nil {
					t.Fatalf("Revision: %v", err)
				}
				if rev != tt.wantRev {
					t.Errorf("Revision = %d, want %d", rev, tt.wantRev)
				}
			})
		}
	})
}

func TestGet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		b := be.space(t)(t)
		if err := b.Update(ctx, func(tx Tx) error { return tx.Put("tg", "web", []byte("v")) }); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			kind, key string
			want      []byte
			wantErr   error
		}{
			{kind: "tg", key: "web", want: []byte("v")},
			{kind: "tg", key: "api", wantErr: ErrNotFound},
			{kind: "lb", key: "web", wantErr: ErrNotFound},
		}
		for _, tt := range tests {
			got, err := b.Get(ctx, tt.kind, tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Get(%s, %s) error = %v, want %v", tt.kind, tt.key, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Get(%s, %s) mismatch (-want +got):\n%s", tt.kind, tt.key, diff)
			}
		}
	})
}

// TestTxSeesItsOwnWrites: reads inside an Update see the writes made
// before them in the same Update.
func TestTxSeesItsOwnWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		b := be.space(t)(t)
		if err := b.Update(ctx, func(tx Tx) error {
			return errors.Join(tx.Put("lb", "a", []byte("1")), tx.Put("lb", "b", []byte("2")))
		}); err != nil {
			t.Fatal(err)
		}
		var got []KV
		var gotA []byte
		var gotKinds []string
		var errB error
		if err := b.Update(ctx, func(tx Tx) error {
			if err := errors.Join(tx.Put("lb", "a", []byte("9")), tx.Put("lb", "c", []byte("3")),
				tx.Delete("lb", "b"), tx.Put("tg", "x", []byte("x"))); err != nil {
				return err
			}
			var err error
			if gotA, err = tx.Get("lb", "a"); err != nil {
				return err
			}
			_, errB = tx.Get("lb", "b")
			if got, err = tx.List("lb"); err != nil {
				return err
			}
			gotKinds, err = tx.Kinds()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if string(gotA) != "9" {
			t.Errorf("Get(lb, a) after Put = %q, want 9", gotA)
		}
		if !errors.Is(errB, ErrNotFound) {
			t.Errorf("Get(lb, b) after Delete error = %v, want ErrNotFound", errB)
		}
		want := []KV{{Key: "a", Value: []byte("9")}, {Key: "c", Value: []byte("3")}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("List(lb) inside the update (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"lb", "tg"}, gotKinds); diff != "" {
			t.Errorf("Kinds inside the update (-want +got):\n%s", diff)
		}
	})
}

func TestPutRejectsBadNames(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.space(t)(t)
		for _, kk := range [][2]string{{"", "a"}, {"lb", ""}, {"l/b", "a"}} {
			err := b.Update(context.Background(), func(tx Tx) error { return tx.Put(kk[0], kk[1], []byte("v")) })
			if err == nil {
				t.Errorf("Put(%q, %q) succeeded, want an error", kk[0], kk[1])
			}
		}
		if rev, err := b.Revision(context.Background()); err != nil || rev != 0 {
			t.Errorf("Revision = %d, %v; want 0", rev, err)
		}
	})
}

func TestKinds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		b := be.space(t)(t)
		steps := []func(Tx) error{
			func(tx Tx) error { return tx.Put("tg", "x", nil) },
			func(tx Tx) error { return tx.Put("lb", "a", nil) },
			func(tx Tx) error { return tx.Put("certificate", "c", nil) },
			func(tx Tx) error { return tx.Delete("certificate", "c") },
		}
		for _, fn := range steps {
			if err := b.Update(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		if err := b.View(ctx, func(tx ReadTx) (err error) { got, err = tx.Kinds(); return err }); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"lb", "tg"}, got); diff != "" {
			t.Errorf("Kinds (-want +got):\n%s", diff)
		}
	})
}

func TestWatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := be.space(t)(t)
		ch := b.Watch(ctx)

		for i, key := range []string{"a", "b", "c"} {
			if err := b.Update(ctx, func(tx Tx) error { return tx.Put("lb", key, []byte("v")) }); err != nil {
				t.Fatal(err)
			}
			got := recvRevision(t, ch)
			if want := int64(i + 1); got != want {
				t.Fatalf("watch after write %d = %d, want %d", i, got, want)
			}
		}

		// A reader that falls behind skips to the latest revision: it
		// sees fewer revisions than were written, in order, ending with
		// the last.
		for _, key := range []string{"d", "e", "f"} {
			if err := b.Update(ctx, func(tx Tx) error { return tx.Put("lb", key, []byte("v")) }); err != nil {
				t.Fatal(err)
			}
		}
		recvUntil(t, ch, 3, 6)

		// A failed update wakes nobody: the next revision seen is the
		// next write's.
		_ = b.Update(ctx, func(tx Tx) error {
			_ = tx.Put("lb", "z", []byte("v"))
			return errAbort
		})
		if err := b.Update(ctx, func(tx Tx) error { return tx.Put("lb", "g", []byte("v")) }); err != nil {
			t.Fatal(err)
		}
		if got := recvRevision(t, ch); got != 7 {
			t.Fatalf("watch after a failed update and a write = %d, want 7", got)
		}

		cancel()
		waitClosed(t, ch)
	})
}

func TestWatchClosedWithStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		b := be.space(t)(t)
		ch := b.Watch(context.Background())
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, ch)
		if _, err := b.Get(context.Background(), "lb", "a"); !errors.Is(err, ErrClosed) {
			t.Errorf("Get after Close error = %v, want ErrClosed", err)
		}
		if err := b.Update(context.Background(), func(tx Tx) error { return tx.Put("lb", "a", nil) }); !errors.Is(err, ErrClosed) {
			t.Errorf("Update after Close error = %v, want ErrClosed", err)
		}
	})
}

func TestReopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		open := be.space(t)
		b := open(t)
		for _, key := range []string{"a", "b"} {
			if err := b.Update(ctx, func(tx Tx) error { return tx.Put("lb", key, []byte(key)) }); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}

		b = open(t)
		got, err := b.List(ctx, "lb")
		if err != nil {
			t.Fatal(err)
		}
		want := []KV{{Key: "a", Value: []byte("a")}, {Key: "b", Value: []byte("b")}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after reopen (-want +got):\n%s", diff)
		}
		rev, err := b.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rev != 2 {
			t.Errorf("revision after reopen = %d, want 2", rev)
		}
		// The revision keeps counting from where it was.
		ch := b.Watch(ctx)
		if err := b.Update(ctx, func(tx Tx) error { return tx.Put("lb", "c", nil) }); err != nil {
			t.Fatal(err)
		}
		if got := recvRevision(t, ch); got != 3 {
			t.Errorf("revision after reopen and write = %d, want 3", got)
		}
	})
}

// TestConcurrentUpdates: writers on two stores of one space (two kelb
// servers on one etcd; one bbolt file is shared by one server's goroutines)
// each increment one counter by read-modify-write Updates. No increment is
// lost: the counter and the revision equal the number of Updates that
// succeeded, and an Update that failed did so cleanly with ErrConflict.
func TestConcurrentUpdates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		open := be.space(t)
		stores := []Store{open(t)}
		if be.shared {
			stores = append(stores, open(t))
		} else {
			stores = append(stores, stores[0])
		}
		const writersPerStore, increments = 3, 20
		var ok, conflicts atomic.Int64
		var wg sync.WaitGroup
		errc := make(chan error, len(stores)*writersPerStore*increments)
		for _, st := range stores {
			for range writersPerStore {
				wg.Go(func() {
					for range increments {
						err := st.Update(ctx, func(tx Tx) error {
							n := 0
							v, err := tx.Get("counter", "n")
							switch {
							case err == nil:
								if n, err = strconv.Atoi(string(v)); err != nil {
									return err
								}
							case !errors.Is(err, ErrNotFound):
								return err
							}
							return tx.Put("counter", "n", []byte(strconv.Itoa(n+1)))
						})
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, ErrConflict):
							conflicts.Add(1)
						default:
							errc <- err
						}
					}
				})
			}
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Errorf("Update: %v", err)
		}
		t.Logf("%d updates committed, %d failed with ErrConflict", ok.Load(), conflicts.Load())
		if ok.Load() == 0 {
			t.Fatal("no update committed")
		}
		for i, st := range stores {
			v, err := st.Get(ctx, "counter", "n")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(v), strconv.FormatInt(ok.Load(), 10); got != want {
				t.Errorf("store %d: counter = %s, want %s (updates lost)", i, got, want)
			}
			if rev, err := st.Revision(ctx); err != nil || rev != ok.Load() {
				t.Errorf("store %d: revision = %d, %v; want %d", i, rev, err, ok.Load())
			}
		}
	})
}

func recvRevision(t *testing.T, ch <-chan int64) int64 {
	t.Helper()
	select {
	case rev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return rev
	case <-time.After(10 * time.Second):
		t.Fatal("no revision from watch")
		return 0
	}
}

// recvUntil receives revisions until want, each newer than the one before,
// and fails if it takes more than most of them.
func recvUntil(t *testing.T, ch <-chan int64, most int, want int64) {
	t.Helper()
	var seen []int64
	for len(seen) == 0 || seen[len(seen)-1] != want {
		rev := recvRevision(t, ch)
		if len(seen) > 0 && rev <= seen[len(seen)-1] || rev > want {
			t.Fatalf("watch gave %v then %d, want increasing revisions up to %d", seen, rev, want)
		}
		seen = append(seen, rev)
	}
	if len(seen) > most {
		t.Fatalf("watch gave %v, want at most %d revisions", seen, most)
	}
}

func waitClosed(t *testing.T, ch <-chan int64) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch channel not closed")
		}
	}
}
