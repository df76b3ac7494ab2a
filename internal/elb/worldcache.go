package elb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"sync"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// worldCache holds the world decoded at one store revision, which
// read-only calls share instead of decoding every load balancer,
// listener, rule and target group on every call.
//
// The store revision is the key: every committed write advances it, in a
// fleet too (every kelb server's commit rewrites the one revision key of
// the shared etcd store), so two views at one revision read the same
// resources. Only the world of the newest revision seen is kept; a view of
// an older revision builds its own. A new revision's world decodes only
// the records whose stored bytes changed and shares the decoded values of
// the others with the previous world: values are never changed once
// decoded. Writes that change resources in place decode their own world
// (loadWorld); those that only read it before they write share it too.
type worldCache struct {
	// groups has the worlds hold the security groups too (Snapshot's).
	groups bool

	mu  sync.Mutex // held while decoding, so concurrent readers decode once
	rev int64
	w   *world
}

// readWorld returns the world tx reads, shared with every read-only call
// at the same revision. The caller must not change the world or anything
// it points to: what it returns to its own caller it copies with detach
// (or builds from plain values), what it writes it decodes afresh (tx.Get)
// or builds anew. An Update may call it only before it writes: a write
// transaction reads its own writes, which are not the revision's.
func (s *Service) readWorld(tx store.ReadTx) (*world, error) {
	return s.worlds.read(tx)
}

// read returns the world tx reads from c, bringing c to tx's revision
// when it is newer.
func (c *worldCache) read(tx store.ReadTx) (*world, error) {
	rev := tx.Revision()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w != nil && c.rev == rev {
		return c.w, nil
	}
	w, err := sharedWorld(tx, c.w, c.groups)
	if err != nil {
		return nil, err
	}
	if c.w == nil || rev > c.rev {
		c.rev, c.w = rev, w
	}
	return w, nil
}

// sharedWorld reads every resource of tx into a world to share, decoding
// only the records whose stored bytes differ from prev's (nil: all of
// them) and sharing prev's decoded values for the others: after one write,
// a copy and a comparison per record and one decode, not a decode per
// record. prev is read only, never changed. With groups, the world holds
// the security groups too.
func sharedWorld(tx store.ReadTx, prev *world, groups bool) (*world, error) {
	if prev == nil {
		prev = &world{}
	}
	w := &world{raw: map[string][]byte{}}
	var err error
	if w.lbs, err = listShared(tx, kindLoadBalancer, w.raw, prev.raw, prev.lbs); err != nil {
		return nil, err
	}
	if w.listeners, err = listShared(tx, kindListener, w.raw, prev.raw, prev.listeners); err != nil {
		return nil, err
	}
	if w.rules, err = listShared(tx, kindRule, w.raw, prev.raw, prev.rules); err != nil {
		return nil, err
	}
	if w.tgs, err = listShared(tx, kindTargetGroup, w.raw, prev.raw, prev.tgs); err != nil {
		return nil, err
	}
	if groups {
		if w.groups, err = listShared(tx, secgroup.Kind, w.raw, prev.raw, prev.groups); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// listShared is listJSON for sharedWorld: the stored bytes go to raw, and
// a record whose bytes equal prevRaw's keeps prev's decoded value.
func listShared[T any](tx store.ReadTx, kind string, raw, prevRaw map[string][]byte, prev map[string]*T) (map[string]*T, error) {
	kvs, err := tx.List(kind)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*T, len(kvs))
	for _, kv := range kvs {
		if v, ok := prev[kv.Key]; ok && bytes.Equal(prevRaw[kv.Key], kv.Value) {
			m[kv.Key], raw[kv.Key] = v, prevRaw[kv.Key]
			continue
		}
		v := new(T)
		if err := json.Unmarshal(kv.Value, v); err != nil {
			return nil, fmt.Errorf("decode %s %s: %w", kind, kv.Key, err)
		}
		m[kv.Key], raw[kv.Key] = v, kv.Value
	}
	return m, nil
}

// withTargetGroup returns w with target group tg in place of the one of
// its ARN: a world for checks after a write, sharing everything else with
// w (neither may be changed).
func (w *world) withTargetGroup(tg *TargetGroup) *world {
	next := *w
	next.tgs = maps.Clone(w.tgs)
	next.tgs[tg.ARN] = tg
	return &next
}

// withListener is withTargetGroup for listener l.
func (w *world) withListener(l *Listener) *world {
	next := *w
	next.listeners = maps.Clone(w.listeners)
	next.listeners[l.ARN] = l
	return &next
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
