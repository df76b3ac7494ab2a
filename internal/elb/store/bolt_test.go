package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func openTestBolt(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

var errAbort = errors.New("abort")

func TestBoltUpdate(t *testing.T) {
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b := openTestBolt(t, filepath.Join(t.TempDir(), "kelb.db"))
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
}

func TestBoltGet(t *testing.T) {
	ctx := context.Background()
	b := openTestBolt(t, filepath.Join(t.TempDir(), "kelb.db"))
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
}

func TestBoltWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	b := openTestBolt(t, filepath.Join(t.TempDir(), "kelb.db"))
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

	// A reader that falls behind sees only the latest revision.
	for _, key := range []string{"d", "e", "f"} {
		if err := b.Update(ctx, func(tx Tx) error { return tx.Put("lb", key, []byte("v")) }); err != nil {
			t.Fatal(err)
		}
	}
	if got := recvRevision(t, ch); got != 6 {
		t.Fatalf("watch after burst = %d, want 6", got)
	}

	// A failed update does not wake watchers.
	_ = b.Update(ctx, func(tx Tx) error {
		_ = tx.Put("lb", "z", []byte("v"))
		return errAbort
	})
	select {
	case rev := <-ch:
		t.Fatalf("watch woke with %d after a failed update", rev)
	default:
	}

	cancel()
	waitClosed(t, ch)
}

func TestBoltWatchClosedWithStore(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	ch := b.Watch(context.Background())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch)
	if _, err := b.Get(context.Background(), "lb", "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close error = %v, want ErrClosed", err)
	}
}

func TestBoltReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kelb.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		if err := b.Update(ctx, func(tx Tx) error { return tx.Put("lb", key, []byte(key)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTestBolt(t, path)
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
