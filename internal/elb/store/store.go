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
// Two backends implement it. Bolt keeps one kelb server's configuration in
// one bbolt file. Etcd keeps it in etcd, shared by every kelb server of a
// fleet: each Update is one etcd transaction, committed only if no other
// writer committed since its reads (the revision is one etcd key that every
// commit rewrites, and the transaction compares it), so two servers racing
// serialize and nothing is ever half-written; a watch on that key wakes the
// watchers of every server.
//
// Contract shared by both backends:
//   - Update's fn may run more than once: when another writer committed
//     between fn's reads and the commit, the backend discards fn's writes
//     and runs it again on a fresh view, up to a bound, then fails with
//     ErrConflict and writes nothing. fn must therefore only read and write
//     through tx and set its own results.
//   - When the backend cannot be reached (etcd down, quorum lost), every
//     operation fails within a bounded time with an error matching
//     ErrUnavailable, and a write that fails is not applied. Watch channels
//     stay open meanwhile: consumers keep the configuration they have and
//     are woken again when the backend is back and has changed.
//   - Kinds are non-empty and hold no "/"; keys are non-empty.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("not found")

// ErrClosed is returned by every operation on a closed store.
var ErrClosed = errors.New("store closed")

// ErrConflict is returned by Update when other writers kept committing
// between its reads and its commit, retry after retry. Nothing was written.
var ErrConflict = errors.New("store: too many conflicting writes, nothing written")

// ErrUnavailable matches (errors.Is) the errors of operations that failed
// because the store could not be reached. Nothing was written, with one
// exception: an etcd commit cut off by the request timeout after etcd
// received it may still be applied, whole (never in part).
var ErrUnavailable = errors.New("configuration store unavailable")

// UnavailableError is the error of an operation that could not reach the
// store; it names the store and says why.
type UnavailableError struct {
	// Store names the store, such as "etcd at https://10.0.0.1:2379".
	Store string
	Err   error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("configuration store %s unavailable: %v", e.Store, e.Err)
}

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

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
	// Kinds returns every kind that holds at least one key, sorted.
	Kinds() ([]string, error)
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

// checkPut rejects a kind or key that cannot be stored.
func checkPut(kind, key string) error {
	if kind == "" || key == "" {
		return errors.New("put: empty kind or key")
	}
	if strings.Contains(kind, "/") {
		return fmt.Errorf("put: kind %q holds a /", kind)
	}
	return nil
}
