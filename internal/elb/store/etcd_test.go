package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store/etcdtest"
)

// TestEtcdWatchFromOtherStore: a write through one Etcd (one kelb server)
// wakes the watchers of another on the same etcd and prefix, and is read
// there.
func TestEtcdWatchFromOtherStore(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	ctx := context.Background()
	a := openTestEtcd(t, srv, "/kelb/")
	b := openTestEtcd(t, srv, "/kelb/")
	ch := b.Watch(ctx)
	for i := range 3 {
		if err := a.Update(ctx, func(tx Tx) error { return tx.Put("lb", fmt.Sprint(i), []byte("v")) }); err != nil {
			t.Fatal(err)
		}
		if got := recvRevision(t, ch); got != int64(i+1) {
			t.Fatalf("other store's watch = %d, want %d", got, i+1)
		}
		if _, err := b.Get(ctx, "lb", fmt.Sprint(i)); err != nil {
			t.Fatalf("other store's Get: %v", err)
		}
	}
	// Another prefix is another store.
	c := openTestEtcd(t, srv, "/other/")
	if kvs, err := c.List(ctx, "lb"); err != nil || len(kvs) != 0 {
		t.Errorf("List under another prefix = %v, %v; want nothing", kvs, err)
	}
}

// TestEtcdUnavailable: with etcd stopped, reads and writes fail with an
// error naming etcd that matches ErrUnavailable, nothing is written, and
// watch channels stay open (consumers keep their configuration). Once etcd
// is back, writes succeed and watchers are woken again.
func TestEtcdUnavailable(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{})
	ctx := context.Background()
	s, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{srv.Endpoint}, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ch := s.Watch(ctx)
	if err := s.Update(ctx, func(tx Tx) error { return tx.Put("lb", "a", []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	recvUntil(t, ch, 1, 1)

	srv.Stop()
	err = s.Update(ctx, func(tx Tx) error {
		return errors.Join(tx.Put("lb", "a", []byte("2")), tx.Put("lb", "b", []byte("2")))
	})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "etcd at "+srv.Endpoint) {
		t.Fatalf("Update with etcd stopped: error = %v, want ErrUnavailable naming etcd at %s", err, srv.Endpoint)
	}
	if _, err := s.Revision(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Revision with etcd stopped: error = %v, want ErrUnavailable", err)
	}
	if _, err := s.List(ctx, "lb"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("List with etcd stopped: error = %v, want ErrUnavailable", err)
	}
	select {
	case rev, ok := <-ch:
		t.Fatalf("watch with etcd stopped gave %d (open: %v), want nothing and open", rev, ok)
	default:
	}

	srv.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = s.Update(ctx, func(tx Tx) error { return tx.Put("lb", "c", []byte("3")) })
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Update after etcd is back: %v", err)
	}
	recvUntil(t, ch, 1, 2)
	kvs, err := s.List(ctx, "lb")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(kvs); got != fmt.Sprint([]KV{{Key: "a", Value: []byte("1")}, {Key: "c", Value: []byte("3")}}) {
		t.Errorf("after the failed write and a good one: %s, want a=1 and c=3 only", got)
	}
}

// TestEtcdTLS: a store on an etcd that requires client certificates.
func TestEtcdTLS(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.Options{TLS: true})
	ctx := context.Background()
	s := openTestEtcd(t, srv, "/kelb/")
	if err := s.Update(ctx, func(tx Tx) error { return tx.Put("lb", "a", []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "lb", "a"); err != nil || string(v) != "1" {
		t.Fatalf("Get over TLS = %q, %v", v, err)
	}
	// Without the client certificate etcd refuses the connection.
	_, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{srv.Endpoint}, CACert: srv.TLS.CACert, DialTimeout: time.Second, RequestTimeout: time.Second})
	if err == nil {
		t.Error("OpenEtcd without a client certificate succeeded")
	}
	// A client certificate without its key is a configuration error.
	_, err = OpenEtcd(ctx, EtcdConfig{Endpoints: []string{srv.Endpoint}, Cert: srv.TLS.Cert})
	if err == nil || !strings.Contains(err.Error(), "go together") {
		t.Errorf("OpenEtcd with a certificate and no key: error = %v", err)
	}
}

// BenchmarkUpdate measures one Update that reads a value and writes it
// back, as an API call does, on each backend.
func BenchmarkUpdate(b *testing.B) {
	value := []byte(strings.Repeat("x", 1024))
	run := func(b *testing.B, s Store) {
		ctx := context.Background()
		if err := s.Update(ctx, func(tx Tx) error { return tx.Put("lb", "a", value) }); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if err := s.Update(ctx, func(tx Tx) error {
				v, err := tx.Get("lb", "a")
				if err != nil {
					return err
				}
				return tx.Put("lb", "a", v)
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("bolt", func(b *testing.B) {
		s, err := OpenBolt(filepath.Join(b.TempDir(), "kelb.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("etcd", func(b *testing.B) {
		run(b, openTestEtcd(b, etcdtest.Start(b, etcdtest.Options{}), "/kelb/"))
	})
}

// BenchmarkList measures a consistent read of 100 values, as a Describe
// call does, on each backend.
func BenchmarkList(b *testing.B) {
	run := func(b *testing.B, s Store) {
		ctx := context.Background()
		if err := s.Update(ctx, func(tx Tx) error {
			for i := range 100 {
				if err := tx.Put("tg", fmt.Sprintf("%03d", i), []byte(strings.Repeat("x", 1024))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if kvs, err := s.List(ctx, "tg"); err != nil || len(kvs) != 100 {
				b.Fatal(len(kvs), err)
			}
		}
	}
	b.Run("bolt", func(b *testing.B) {
		s, err := OpenBolt(filepath.Join(b.TempDir(), "kelb.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("etcd", func(b *testing.B) {
		run(b, openTestEtcd(b, etcdtest.Start(b, etcdtest.Options{}), "/kelb/"))
	})
}
