package elb

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// worldCache holds the world decoded at one store revision, which
// read-only calls share instead of decoding every load balancer,
// listener, rule and target group on every call.
//
// The store revision is the key: every committed write advances it, in a
// fleet too (every kelb server's commit rewrites the one revision key of
// the shared etcd store), so two views at one revision read the same
// resources. Only the world of the newest revision seen is kept; a view of
// an older revision decodes its own. Writes (Update) never use it: they
// decode their own world, change it and commit.
type worldCache struct {
	mu  sync.Mutex // held while decoding, so concurrent readers decode once
	rev int64
	w   *world
}

// readWorld returns the world tx reads, shared with every read-only call
// at the same revision. The caller must not change the world or anything
// it points to: what it returns to its own caller it copies with detach
// (or builds from plain values).
func (s *Service) readWorld(tx store.ReadTx) (*world, error) {
	rev := tx.Revision()
	c := &s.worlds
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w != nil && c.rev == rev {
		return c.w, nil
	}
	w, err := decodeWorld(tx, map[string][]byte{})
	if err != nil {
		return nil, err
	}
	if c.w == nil || rev > c.rev {
		c.rev, c.w = rev, w
	}
	return w, nil
}

// detach returns a copy of the resource arn of a shared world, decoded
// from its stored bytes, that the caller owns.
func detach[T any](w *world, arn string) (T, error) {
	var v T
	b, ok := w.raw[arn]
	if !ok {
		return v, fmt.Errorf("decode %s: not in the shared configuration", arn)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", arn, err)
	}
	return v, nil
}
