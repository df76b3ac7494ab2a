package fleet

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// load reads the whole fleet at one revision and replaces the view with it.
func (f *Fleet) load(ctx context.Context) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	resp, err := f.cfg.Client.Txn(rctx).Then(
		clientv3.OpGet(nodesPrefix(f.cfg.Prefix), clientv3.WithPrefix()),
		clientv3.OpGet(healthPrefix(f.cfg.Prefix), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return 0, fmt.Errorf("read the fleet: %w", err)
	}
	peers := map[string]Node{}
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		if n, ok := f.decodePeer(kv.Key, kv.Value); ok {
			peers[n.Name] = n
		}
	}
	views := map[string]map[string]groupHealth{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if node, id, g, ok := f.decodeView(kv.Key, kv.Value); ok {
			if views[node] == nil {
				views[node] = map[string]groupHealth{}
			}
			views[node][id] = g
		}
	}
	f.mu.Lock()
	f.peers, f.views = peers, views
	f.reindex()
	f.mu.Unlock()
	return resp.Header.Revision, nil
}

// decodePeer decodes another node's key; this node's own and undecodable
// ones are false.
func (f *Fleet) decodePeer(key, value []byte) (Node, bool) {
	name := strings.TrimPrefix(string(key), nodesPrefix(f.cfg.Prefix))
	if name == f.name {
		return Node{}, false
	}
	n, err := decodeNode(string(key), value)
	if err != nil {
		f.log.Warn("fleet: ignoring a node key", "err", err)
		return Node{}, false
	}
	n.Name = name
	return n, true
}

// decodeView decodes another node's health key.
func (f *Fleet) decodeView(key, value []byte) (node, id string, g groupHealth, ok bool) {
	node, id, found := strings.Cut(strings.TrimPrefix(string(key), healthPrefix(f.cfg.Prefix)), "/")
	if !found || node == f.name {
		return "", "", groupHealth{}, false
	}
	if value == nil {
		return node, id, groupHealth{}, true
	}
	g, err := decodeGroupHealth(string(key), value)
	if err != nil {
		f.log.Warn("fleet: ignoring a health key", "err", err)
		return "", "", groupHealth{}, false
	}
	return node, id, g, true
}

func (f *Fleet) nodeEvents(evs []*clientv3.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := false
	for _, ev := range evs {
		name := strings.TrimPrefix(string(ev.Kv.Key), nodesPrefix(f.cfg.Prefix))
		if ev.Type == clientv3.EventTypeDelete {
			if _, ok := f.peers[name]; ok {
				delete(f.peers, name)
				changed = true
			}
			continue
		}
		if n, ok := f.decodePeer(ev.Kv.Key, ev.Kv.Value); ok {
			f.peers[n.Name] = n
			changed = true
		}
	}
	if changed {
		f.reindex()
	}
}

func (f *Fleet) healthEvents(evs []*clientv3.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := false
	for _, ev := range evs {
		value := ev.Kv.Value
		if ev.Type == clientv3.EventTypeDelete {
			value = nil
		}
		node, id, g, ok := f.decodeView(ev.Kv.Key, value)
		if !ok {
			continue
		}
		changed = true
		if value == nil {
			delete(f.views[node], id)
			if len(f.views[node]) == 0 {
				delete(f.views, node)
			}
			continue
		}
		if f.views[node] == nil {
			f.views[node] = map[string]groupHealth{}
		}
		f.views[node][id] = g
	}
	if changed {
		f.reindex()
	}
}

// reindex rebuilds the peers' health index and tells Changed; f.mu is
// held.
func (f *Fleet) reindex() {
	idx := buildIndex(f.views, f.peers)
	f.index.Store(&idx)
	signal(f.changed)
}
