package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Member is a node as etcd holds it, with its lease.
type Member struct {
	Node
	// Lease is the lease the node key is attached to (0: none).
	Lease clientv3.LeaseID
	// LeaseLive reports whether the lease is alive, and LeaseLeft how
	// long it has left unless renewed.
	LeaseLive bool
	LeaseLeft time.Duration
}

// List reads every node key under prefix and asks etcd about each one's
// lease.
func List(ctx context.Context, cli *clientv3.Client, prefix string) ([]Member, error) {
	resp, err := cli.Get(ctx, nodesPrefix(prefix), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read nodes under %s: %w", nodesPrefix(prefix), err)
	}
	var out []Member
	for _, kv := range resp.Kvs {
		n, err := decodeNode(string(kv.Key), kv.Value)
		if err != nil {
			return nil, err
		}
		n.Name = strings.TrimPrefix(string(kv.Key), nodesPrefix(prefix))
		m := Member{Node: n, Lease: clientv3.LeaseID(kv.Lease)}
		if m.Lease != 0 {
			ttl, err := cli.TimeToLive(ctx, m.Lease)
			if err != nil {
				return nil, fmt.Errorf("lease of node %s: %w", n.Name, err)
			}
			m.LeaseLive = ttl.TTL >= 0
			m.LeaseLeft = time.Duration(max(ttl.TTL, 0)) * time.Second
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
