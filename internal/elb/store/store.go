// Package store keeps kelb's configuration: load balancers, listeners, rules
// and target groups, as JSON values under (kind, key) pairs.
//
// A Store is a small transactional key-value map. Every committed Update that
// writes at least one key advances a single monotonically increasing revision
// and wakes every watcher with the new revision; an Update whose function
// returns an error writes nothing and leaves the revision alone. Watchers
// receive the latest revision only: a slow watcher skips intermediate
// revisions instead of blocking writers, which is enough for consumers that
// rebuild from a fresh read (the data plane, the health checker).
//
// The interface is deliberately narrow so that a second backend (etcd, for
// several kelb servers sharing one configuration) can implement it with one
// transaction per Update and a watch on a key prefix.
package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by every operation on a closed store.
var ErrClosed = errors.New("store closed")

// KV is one stored value with its key.
type KV struct {
	Key   string
	Value []byte
}

// ReadTx reads a consistent view of the store.
type ReadTx interface {
	// Get returns the value stored under kind/key, or ErrNotFound.
	Get(kind, key string) ([]byte, error)
	// List returns every value of kind, sorted by key.
	List(kind string) ([]KV, error)
	// Revision returns the revision the view reads at.
	Revision() int64
}

// Tx reads and writes inside one atomic Update.
type Tx interface {
	ReadTx
	// Put stores value under kind/key.
	Put(kind, key string, value []byte) error
	// Delete removes kind/key; deleting a missing key is not an error.
	Delete(kind, key string) error
}

// Store is the configuration store.
type Store interface {
	// Get returns the value stored under kind/key, or ErrNotFound.
	Get(ctx context.Context, kind, key string) ([]byte, error)
	// List returns every value of kind, sorted by key.
	List(ctx context.Context, kind string) ([]KV, error)
	// View runs fn with a consistent read-only view.
	View(ctx context.Context, fn func(tx ReadTx) error) error
	// Update runs fn in one atomic transaction: all of its writes are
	// committed together when fn returns nil, none when it returns an error.
	// The revision advances by one when fn wrote anything.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Revision returns the current revision (0 for an empty store).
	Revision(ctx context.Context) (int64, error)
	// Watch returns a channel that receives the new revision after each
	// committed change. Only the latest revision is kept for a slow reader.
	// The channel is closed when ctx is done or the store is closed.
	Watch(ctx context.Context) <-chan int64
	// Close releases the store; open watch channels are closed.
	Close() error
}
