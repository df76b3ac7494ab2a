package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/kelb-io/kelb/internal/elb"
)

// Defaults of Config.
const (
	DefaultLeaseTTL       = 3 * time.Second
	defaultRequestTimeout = 3 * time.Second
	// healthWriteInterval bounds how often a node writes its key and
	// health view.
	healthWriteInterval = time.Second
	// retryInterval is the wait between registrations while etcd does
	// not answer.
	retryInterval = time.Second
	// maxTxnOps stays under etcd's default of 128 operations a
	// transaction.
	maxTxnOps = 100
)

// Config configures New.
type Config struct {
	// Client is the store's etcd client; nil is a fleet of this one node
	// (the bbolt store).
	Client *clientv3.Client
	// Prefix is the store's key prefix.
	Prefix string
	// Node is this node: Name, Zones, API and Version; State starts as
	// StateServing.
	Node Node
	// LeaseTTL is the lifetime of the node's lease; default
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// RequestTimeout bounds each etcd request; default 3 s.
	RequestTimeout time.Duration
	Logger         *slog.Logger
	// Registerer takes the fleet's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Fleet is this node's membership of the fleet and its view of the others.
type Fleet struct {
	cfg  Config
	name string
	log  *slog.Logger
	// changed is signalled when the live nodes or their health views
	// change.
	changed chan struct{}
	// dirty is signalled when this node's key or health view must be
	// written.
	dirty chan struct{}

	mu     sync.Mutex
	self   Node
	report map[string][]byte // own health view, by target group id
	peers  map[string]Node   // the other live nodes, by name
	views  map[string]map[string]groupHealth
	lease  clientv3.LeaseID // 0 while not registered
	// last is the lease of the last registration, whose key this node
	// may overwrite.
	last clientv3.LeaseID
	// session is the current registration's lease as a concurrency
	// session (nil while not registered); registered is closed when a
	// registration begins.
	session    *concurrency.Session
	registered chan struct{}
	index      atomic.Pointer[healthIndex]
	m          *metrics
}

// New returns this node's fleet; Run registers it.
func New(cfg Config) (*Fleet, error) {
	if err := ValidateName(cfg.Node.Name); err != nil {
		return nil, err
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.LeaseTTL < time.Second || cfg.LeaseTTL%time.Second != 0 {
		return nil, fmt.Errorf("node lease TTL %v: must be whole seconds, at least 1s", cfg.LeaseTTL)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	now := time.Now().UTC()
	self := cfg.Node
	self.Zones = slices.Clone(self.Zones)
	self.State, self.Since, self.Started = StateServing, now, now
	f := &Fleet{
		cfg: cfg, name: self.Name, log: cfg.Logger,
		changed: make(chan struct{}, 1), dirty: make(chan struct{}, 1),
		self: self, peers: map[string]Node{}, views: map[string]map[string]groupHealth{},
		registered: make(chan struct{}),
	}
	f.index.Store(&healthIndex{})
	f.m = newMetrics(f)
	if cfg.Registerer != nil {
		if err := f.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("fleet metrics: %w", err)
		}
	}
	return f, nil
}

// Changed is signalled (coalesced) when the live nodes or their health
// views change.
func (f *Fleet) Changed() <-chan struct{} { return f.changed }

// Name is this node's name.
func (f *Fleet) Name() string { return f.name }

// Nodes returns the live nodes as this node last saw them, itself
// included, in name order.
func (f *Fleet) Nodes() []Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []Node{f.self}
	for _, n := range f.peers {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// LiveZones returns the zones that have a live node.
func (f *Fleet) LiveZones() map[string]bool {
	zones := map[string]bool{}
	for _, n := range f.Nodes() {
		for _, z := range n.Zones {
			zones[z] = true
		}
	}
	return zones
}

// Lease returns the lease this node is registered with, and false while
// it is not registered (etcd unreachable, or no etcd at all). Keys
// attached to it live as long as the node does in the fleet's eyes.
func (f *Fleet) Lease() (clientv3.LeaseID, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lease, f.lease != 0
}

// Session waits until this node is registered and returns its lease as a
// concurrency session, for keys and elections that must live exactly as
// long as the node does in the fleet's eyes (L2 address ownership). Its
// Done is closed when the registration ends (lease lost, node stopping);
// call Session again for the next one. Do not Close it: the node owns the
// lease. With no etcd it waits for ctx.
func (f *Fleet) Session(ctx context.Context) (*concurrency.Session, error) {
	for {
		f.mu.Lock()
		s, next := f.session, f.registered
		f.mu.Unlock()
		if s != nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-next:
		}
	}
}

// SetState records this node's state; its key follows.
func (f *Fleet) SetState(s State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.self.State == s {
		return
	}
	f.self.State, f.self.Since = s, time.Now().UTC()
	signal(f.dirty)
}

// Publish makes r this node's health view; it is written to etcd if it
// changed, at most about once a second.
func (f *Fleet) Publish(r HealthReport) {
	enc := encodeReport(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	if maps.EqualFunc(enc, f.report, bytes.Equal) {
		return
	}
	f.report = enc
	signal(f.dirty)
}

// Health returns the fleet's health view over own, this node's verdicts:
// for each target, Merge of the verdicts of the live nodes that check it.
// With no etcd it is own.
func (f *Fleet) Health(own elb.HealthView) elb.HealthView {
	if f.cfg.Client == nil {
		return own
	}
	return mergedView{f: f, own: own}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run keeps this node registered until ctx is done, then marks it stopping
// and revokes its lease. While etcd does not answer it keeps the last view
// and registers again, with a new lease, once etcd answers.
func (f *Fleet) Run(ctx context.Context) error {
	if f.cfg.Client == nil {
		<-ctx.Done()
		return nil
	}
	lost := false
	for {
		err := f.serve(ctx, lost)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrNameInUse) {
			return err
		}
		if !lost {
			f.log.Warn("fleet: etcd lost; keeping the last view of the fleet and serving", "node", f.name, "err", err)
			lost = true
		} else {
			f.log.Debug("fleet: registration failed", "node", f.name, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryInterval):
		}
	}
}

// registration is one lease's worth of this node's keys.
type registration struct {
	lease clientv3.LeaseID
	node  []byte            // the node value written
	views map[string][]byte // health values written, by target group id
}

// serve registers with a new lease and follows the fleet until the lease is
// lost, the watch fails or ctx is done.
func (f *Fleet) serve(ctx context.Context, again bool) error {
	cli := f.cfg.Client
	if err := f.claimName(ctx); err != nil {
		return err
	}
	ttl := int64(f.cfg.LeaseTTL / time.Second)
	rctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	grant, err := cli.Grant(rctx, ttl)
	cancel()
	if err != nil {
		return fmt.Errorf("grant a lease: %w", err)
	}
	f.mu.Lock()
	f.last = grant.ID
	f.mu.Unlock()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	reg := &registration{lease: grant.ID, views: map[string][]byte{}}
	keepAlive, err := cli.KeepAlive(sctx, grant.ID)
	if err != nil {
		return fmt.Errorf("keep lease alive: %w", err)
	}
	if err := f.register(ctx, reg); err != nil {
		f.revoke(ctx, reg.lease)
		return err
	}
	rev, err := f.load(ctx)
	if err != nil {
		f.revoke(ctx, reg.lease)
		return err
	}
	wctx := clientv3.WithRequireLeader(sctx)
	nodes := cli.Watch(wctx, nodesPrefix(f.cfg.Prefix), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	views := cli.Watch(wctx, healthPrefix(f.cfg.Prefix), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	session, err := concurrency.NewSession(cli, concurrency.WithLease(reg.lease), concurrency.WithContext(sctx))
	if err != nil {
		f.revoke(ctx, reg.lease)
		return fmt.Errorf("session: %w", err)
	}
	f.mu.Lock()
	f.lease, f.session = reg.lease, session
	close(f.registered)
	f.mu.Unlock()
	f.m.registrations.Inc()
	defer func() {
		f.mu.Lock()
		f.lease, f.session = 0, nil
		f.registered = make(chan struct{})
		f.mu.Unlock()
	}()
	if again {
		f.log.Info("fleet: etcd answers again; registered anew", "node", f.name, "lease", fmt.Sprintf("%x", int64(reg.lease)))
	} else {
		f.log.Info("fleet: registered", "node", f.name, "zones", f.self.Zones, "lease", fmt.Sprintf("%x", int64(reg.lease)), "lease_ttl", f.cfg.LeaseTTL)
	}

	var retry <-chan time.Time // a pending write
	lastWrite := time.Now()
	write := func() {
		retry = nil
		lastWrite = time.Now()
		if err := f.write(ctx, reg); err != nil {
			f.log.Debug("fleet: write node state", "node", f.name, "err", err)
			retry = time.After(healthWriteInterval)
		}
	}
	for {
		select {
		case <-ctx.Done():
			f.leave(ctx, reg)
			return nil
		case _, ok := <-keepAlive:
			if !ok {
				return errors.New("lease expired: etcd did not answer its keep-alives")
			}
		case wr, ok := <-nodes:
			if !ok || wr.Err() != nil {
				return fmt.Errorf("watch nodes: %v", watchErr(wr, ok))
			}
			f.nodeEvents(wr.Events)
		case wr, ok := <-views:
			if !ok || wr.Err() != nil {
				return fmt.Errorf("watch health views: %v", watchErr(wr, ok))
			}
			f.healthEvents(wr.Events)
		case <-f.dirty:
			if retry != nil {
				continue // written when the pending write runs
			}
			if wait := healthWriteInterval - time.Since(lastWrite); wait > 0 {
				retry = time.After(wait)
				continue
			}
			write()
		case <-retry:
			write()
		}
	}
}

// ErrNameInUse is Run's error when a live node holds this node's name.
var ErrNameInUse = errors.New("node name in use")

// claimName waits until no other node holds this node's name: a node key
// under a lease that is not this node's is left by a node that was killed
// (its lease runs out within its TTL) or is held by a live node of the
// same name, which keeps renewing it. The latter is ErrNameInUse.
func (f *Fleet) claimName(ctx context.Context) error {
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	deadline := time.Now().Add(f.cfg.LeaseTTL + f.cfg.RequestTimeout)
	for {
		rctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
		resp, err := f.cfg.Client.Get(rctx, nodeKey(f.cfg.Prefix, f.name))
		cancel()
		if err != nil {
			return fmt.Errorf("read node key: %w", err)
		}
		if len(resp.Kvs) == 0 || resp.Kvs[0].Lease == 0 || clientv3.LeaseID(resp.Kvs[0].Lease) == last {
			return nil
		}
		if time.Now().After(deadline) {
			other, _ := decodeNode(string(resp.Kvs[0].Key), resp.Kvs[0].Value)
			return fmt.Errorf("%w: a live node named %q (API %s, started %s) is registered; give each kelb server of the fleet its own --node-name",
				ErrNameInUse, f.name, other.API, other.Started.Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func watchErr(wr clientv3.WatchResponse, ok bool) error {
	if !ok {
		return errors.New("watch closed")
	}
	return wr.Err()
}

// register writes this node's key and health view with reg's lease, and
// deletes health keys an earlier run of this node left under another
// lease.
func (f *Fleet) register(ctx context.Context, reg *registration) error {
	rctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	resp, err := f.cfg.Client.Get(rctx, nodeHealthPrefix(f.cfg.Prefix, f.name), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	cancel()
	if err != nil {
		return fmt.Errorf("read own health keys: %w", err)
	}
	for _, kv := range resp.Kvs {
		// Pretend they were written: write deletes those not in the view
		// and rewrites the others with this lease.
		reg.views[strings.TrimPrefix(string(kv.Key), nodeHealthPrefix(f.cfg.Prefix, f.name))] = nil
	}
	return f.write(ctx, reg)
}

// write brings this node's key and health keys in etcd to what f holds.
func (f *Fleet) write(ctx context.Context, reg *registration) error {
	f.mu.Lock()
	node, err := json.Marshal(f.self)
	report := f.report
	f.mu.Unlock()
	if err != nil {
		return err
	}
	var ops []clientv3.Op
	if !bytes.Equal(node, reg.node) {
		ops = append(ops, clientv3.OpPut(nodeKey(f.cfg.Prefix, f.name), string(node), clientv3.WithLease(reg.lease)))
	}
	prefix := nodeHealthPrefix(f.cfg.Prefix, f.name)
	for _, id := range slices.Sorted(maps.Keys(report)) {
		if old, ok := reg.views[id]; !ok || old == nil || !bytes.Equal(old, report[id]) {
			ops = append(ops, clientv3.OpPut(prefix+id, string(report[id]), clientv3.WithLease(reg.lease)))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(reg.views)) {
		if _, ok := report[id]; !ok {
			ops = append(ops, clientv3.OpDelete(prefix+id))
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		rctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
		_, err := f.cfg.Client.Txn(rctx).Then(ops[:n]...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("write node %s: %w", f.name, err)
		}
		ops = ops[n:]
	}
	reg.node = node
	reg.views = maps.Clone(report)
	if reg.views == nil {
		reg.views = map[string][]byte{}
	}
	return nil
}

// leave marks this node stopping and revokes its lease, so that the others
// see it gone at once.
func (f *Fleet) leave(ctx context.Context, reg *registration) {
	f.SetState(StateStopping)
	ctx = context.WithoutCancel(ctx)
	if err := f.write(ctx, reg); err != nil {
		f.log.Debug("fleet: write stopping state", "node", f.name, "err", err)
	}
	f.revoke(ctx, reg.lease)
}

func (f *Fleet) revoke(ctx context.Context, lease clientv3.LeaseID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.RequestTimeout)
	defer cancel()
	if _, err := f.cfg.Client.Revoke(rctx, lease); err != nil {
		f.log.Warn("fleet: revoke lease; the node stays listed until it expires", "node", f.name, "err", err)
	}
}
