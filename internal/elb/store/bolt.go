package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

var _ Store = (*Bolt)(nil)

var (
	metaBucket  = []byte("meta")
	revisionKey = []byte("revision")
	kindPrefix  = []byte("kind/")
)

// Bolt is a Store in one bbolt file: a bucket per kind and a meta bucket
// holding the revision, which is written in the same transaction as the
// change it counts, so the revision survives restarts exactly.
type Bolt struct {
	db  *bolt.DB
	hub *hub
}

// OpenBolt opens (creating if needed) the bbolt database at path.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(metaBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise store %s: %w", path, err)
	}
	return &Bolt{db: db, hub: newHub()}, nil
}

// Close closes the database and every watch channel.
func (b *Bolt) Close() error {
	if !b.hub.close() {
		return nil
	}
	return b.db.Close()
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, kind, key string) ([]byte, error) {
	var v []byte
	err := b.View(ctx, func(tx ReadTx) error {
		var err error
		v, err = tx.Get(kind, key)
		return err
	})
	return v, err
}

// List implements Store.
func (b *Bolt) List(ctx context.Context, kind string) ([]KV, error) {
	var kvs []KV
	err := b.View(ctx, func(tx ReadTx) error {
		var err error
		kvs, err = tx.List(kind)
		return err
	})
	return kvs, err
}

// Revision implements Store.
func (b *Bolt) Revision(ctx context.Context) (int64, error) {
	var rev int64
	err := b.View(ctx, func(tx ReadTx) error {
		rev = tx.Revision()
		return nil
	})
	return rev, err
}

// View implements Store.
func (b *Bolt) View(ctx context.Context, fn func(tx ReadTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.hub.isClosed() {
		return ErrClosed
	}
	return b.db.View(func(tx *bolt.Tx) error {
		return fn(&boltTx{tx: tx})
	})
}

// Update implements Store.
func (b *Bolt) Update(ctx context.Context, fn func(tx Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.hub.isClosed() {
		return ErrClosed
	}
	var (
		rev   int64
		wrote bool
	)
	err := b.db.Update(func(tx *bolt.Tx) error {
		t := &boltTx{tx: tx}
		if err := fn(t); err != nil {
			return err
		}
		if !t.wrote {
			return nil
		}
		wrote = true
		rev = t.Revision() + 1
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(rev))
		return tx.Bucket(metaBucket).Put(revisionKey, buf[:])
	})
	if err != nil {
		return err
	}
	if wrote {
		b.hub.notify(rev)
	}
	return nil
}

// Watch implements Store.
func (b *Bolt) Watch(ctx context.Context) <-chan int64 {
	return b.hub.watch(ctx)
}

type boltTx struct {
	tx    *bolt.Tx
	wrote bool
}

func bucketName(kind string) []byte {
	return append(bytes.Clone(kindPrefix), kind...)
}

func (t *boltTx) Revision() int64 {
	v := t.tx.Bucket(metaBucket).Get(revisionKey)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func (t *boltTx) Get(kind, key string) ([]byte, error) {
	bk := t.tx.Bucket(bucketName(kind))
	if bk == nil {
		return nil, fmt.Errorf("%s %s: %w", kind, key, ErrNotFound)
	}
	v := bk.Get([]byte(key))
	if v == nil {
		return nil, fmt.Errorf("%s %s: %w", kind, key, ErrNotFound)
	}
	// bbolt values are only valid inside the transaction.
	return bytes.Clone(v), nil
}

func (t *boltTx) List(kind string) ([]KV, error) {
	bk := t.tx.Bucket(bucketName(kind))
	if bk == nil {
		return nil, nil
	}
	var kvs []KV
	err := bk.ForEach(func(k, v []byte) error {
		kvs = append(kvs, KV{Key: string(k), Value: bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	return kvs, nil
}

func (t *boltTx) Kinds() ([]string, error) {
	var kinds []string
	err := t.tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
		kind, ok := strings.CutPrefix(string(name), string(kindPrefix))
		if ok {
			if k, _ := bk.Cursor().First(); k != nil {
				kinds = append(kinds, kind)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	slices.Sort(kinds)
	return kinds, nil
}

func (t *boltTx) Put(kind, key string, value []byte) error {
	if err := checkPut(kind, key); err != nil {
		return err
	}
	bk, err := t.tx.CreateBucketIfNotExists(bucketName(kind))
	if err != nil {
		return fmt.Errorf("put %s %s: %w", kind, key, err)
	}
	if err := bk.Put([]byte(key), value); err != nil {
		return fmt.Errorf("put %s %s: %w", kind, key, err)
	}
	t.wrote = true
	return nil
}

func (t *boltTx) Delete(kind, key string) error {
	bk := t.tx.Bucket(bucketName(kind))
	if bk == nil || bk.Get([]byte(key)) == nil {
		return nil
	}
	if err := bk.Delete([]byte(key)); err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, key, err)
	}
	t.wrote = true
	return nil
}
