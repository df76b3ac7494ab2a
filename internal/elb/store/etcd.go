package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var _ Store = (*Etcd)(nil)

// DefaultEtcdPrefix is the key prefix of kelb's configuration in etcd.
const DefaultEtcdPrefix = "/kelb/"

// Defaults of EtcdConfig.
const (
	DefaultEtcdDialTimeout    = 5 * time.Second
	DefaultEtcdRequestTimeout = 3 * time.Second
	// maxUpdateAttempts bounds how often Update runs its fn again after
	// losing a race with another writer.
	maxUpdateAttempts = 20
)

// EtcdConfig configures OpenEtcd.
type EtcdConfig struct {
	// Endpoints are etcd's client URLs (http://127.0.0.1:2379, or https
	// with the TLS files below).
	Endpoints []string
	// Prefix is the key prefix under which the configuration lives; every
	// kelb server of a fleet uses the same. Default DefaultEtcdPrefix.
	Prefix string
	// CACert verifies etcd's serving certificate (PEM file); empty uses
	// the system roots for https endpoints.
	CACert string
	// Cert and Key are the client certificate and key (PEM files) for etcd
	// servers that require client certificates.
	Cert, Key string
	// DialTimeout bounds the first connection; default
	// DefaultEtcdDialTimeout.
	DialTimeout time.Duration
	// RequestTimeout bounds each etcd request, so that an unreachable etcd
	// fails an operation instead of blocking it; default
	// DefaultEtcdRequestTimeout.
	RequestTimeout time.Duration
}

// Etcd is a Store in etcd, under one key prefix:
//
//	<prefix>revision             the store revision, a decimal counter
//	<prefix>kind/<kind>/<key>    the value of kind/key
//
// Every Update reads at one etcd revision and commits in one transaction
// that rewrites <prefix>revision, guarded by a comparison of that key's
// etcd mod revision with the one read: a commit of any other writer in
// between fails the comparison, and Update runs fn again on a fresh view.
// Watchers are fed from an etcd watch on <prefix>revision, so a change made
// through any Etcd on the same prefix (any kelb server) wakes them all.
type Etcd struct {
	cli     *clientv3.Client
	name    string // "etcd at <endpoints>", for errors
	prefix  string
	timeout time.Duration
	hub     *hub
	// writing admits one Update of this process at a time: writers of one
	// kelb server queue here instead of racing each other in etcd, so
	// only other servers' commits make an Update run again.
	writing chan struct{}

	stopWatch context.CancelFunc
	watchDone chan struct{}
}

// OpenEtcd connects to etcd and checks that it answers.
func OpenEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultEtcdPrefix
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultEtcdDialTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultEtcdRequestTimeout
	}
	tlsCfg, err := etcdTLS(cfg)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		TLS:         tlsCfg,
		Logger:      zap.NewNop(),
		Context:     context.WithoutCancel(ctx),
		// Keep the connection probed, so that a dead etcd is noticed and a
		// returning one is reconnected to without waiting for a request.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: cfg.RequestTimeout,
	})
	name := "etcd at " + strings.Join(cfg.Endpoints, ",")
	if err != nil {
		return nil, &UnavailableError{Store: name, Err: err}
	}
	e := &Etcd{cli: cli, name: name, prefix: cfg.Prefix, timeout: cfg.RequestTimeout, hub: newHub(), writing: make(chan struct{}, 1)}
	resp, err := e.get(ctx, e.revisionKey())
	if err != nil {
		cli.Close()
		return nil, err
	}
	rev, err := e.counter(resp)
	if err != nil {
		cli.Close()
		return nil, err
	}
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.stopWatch, e.watchDone = stop, make(chan struct{})
	go e.watchLoop(watchCtx, rev, resp.Header.Revision+1)
	return e, nil
}

func etcdTLS(cfg EtcdConfig) (*tls.Config, error) {
	if cfg.CACert == "" && cfg.Cert == "" && cfg.Key == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("etcd CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA certificate %s: no PEM certificate in it", cfg.CACert)
		}
		tc.RootCAs = pool
	}
	if (cfg.Cert == "") != (cfg.Key == "") {
		return nil, errors.New("etcd client certificate and key go together")
	}
	if cfg.Cert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// Close stops the watch, closes every watch channel and the connection.
func (e *Etcd) Close() error {
	if !e.hub.close() {
		return nil
	}
	e.stopWatch()
	<-e.watchDone
	return e.cli.Close()
}

func (e *Etcd) revisionKey() string { return e.prefix + "revision" }
func (e *Etcd) kindsPrefix() string { return e.prefix + "kind/" }
func (e *Etcd) kindPrefix(kind string) string {
	return e.kindsPrefix() + kind + "/"
}
func (e *Etcd) key(kind, key string) string { return e.kindPrefix(kind) + key }

// wrap turns errors of unreachable etcd into UnavailableError.
func (e *Etcd) wrap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err // the caller gave up
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrNoLeader) ||
		errors.Is(err, rpctypes.ErrTimeout) || errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) || errors.Is(err, rpctypes.ErrGRPCNoLeader) {
		return &UnavailableError{Store: e.name, Err: err}
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return &UnavailableError{Store: e.name, Err: err}
	}
	return fmt.Errorf("%s: %w", e.name, err)
}

// get reads key (or a range with opts) within the request timeout.
func (e *Etcd) get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if e.hub.isClosed() {
		return nil, ErrClosed
	}
	rctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	resp, err := e.cli.Get(rctx, key, opts...)
	if err != nil {
		return nil, e.wrap(ctx, err)
	}
	return resp, nil
}

// counter returns the store revision held by a read of revisionKey.
func (e *Etcd) counter(resp *clientv3.GetResponse) (int64, error) {
	if len(resp.Kvs) == 0 {
		return 0, nil
	}
	rev, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: bad revision %q under %s: %w", e.name, resp.Kvs[0].Value, e.revisionKey(), err)
	}
	return rev, nil
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, kind, key string) ([]byte, error) {
	var v []byte
	err := e.View(ctx, func(tx ReadTx) error {
		var err error
		v, err = tx.Get(kind, key)
		return err
	})
	return v, err
}

// List implements Store.
func (e *Etcd) List(ctx context.Context, kind string) ([]KV, error) {
	var kvs []KV
	err := e.View(ctx, func(tx ReadTx) error {
		var err error
		kvs, err = tx.List(kind)
		return err
	})
	return kvs, err
}

// Revision implements Store.
func (e *Etcd) Revision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	resp, err := e.get(ctx, e.revisionKey())
	if err != nil {
		return 0, err
	}
	return e.counter(resp)
}

// begin starts a transaction: a linearizable read of the revision key,
// whose etcd revision every later read of the transaction reads at.
func (e *Etcd) begin(ctx context.Context) (*etcdTx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resp, err := e.get(ctx, e.revisionKey())
	if err != nil {
		return nil, err
	}
	rev, err := e.counter(resp)
	if err != nil {
		return nil, err
	}
	tx := &etcdTx{e: e, ctx: ctx, at: resp.Header.Revision, rev: rev}
	if len(resp.Kvs) > 0 {
		tx.revMod = resp.Kvs[0].ModRevision
	}
	return tx, nil
}

// View implements Store.
func (e *Etcd) View(ctx context.Context, fn func(tx ReadTx) error) error {
	for {
		tx, err := e.begin(ctx)
		if err != nil {
			return err
		}
		err = fn(tx)
		if errors.Is(err, rpctypes.ErrCompacted) {
			continue // compacted under the view: read again at a newer one
		}
		return err
	}
}

// Update implements Store.
func (e *Etcd) Update(ctx context.Context, fn func(tx Tx) error) error {
	select {
	case e.writing <- struct{}{}:
		defer func() { <-e.writing }()
	case <-ctx.Done():
		return ctx.Err()
	}
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		if attempt > 0 {
			// Back off a little, with jitter, so that racing writers
			// do not collide again in lockstep.
			d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		tx, err := e.begin(ctx)
		if err != nil {
			return err
		}
		tx.writes = map[string]*[]byte{}
		err = fn(tx)
		if errors.Is(err, rpctypes.ErrCompacted) {
			continue
		}
		if err != nil || !tx.wrote {
			return err
		}
		ok, err := tx.commit()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return ErrConflict
}

// Watch implements Store.
func (e *Etcd) Watch(ctx context.Context) <-chan int64 {
	return e.hub.watch(ctx)
}

// watchLoop feeds the hub from an etcd watch on the revision key, starting
// at etcd revision from, until ctx is done. When the watch ends (etcd lost
// its leader, the history was compacted) it reads the revision key again
// and watches on from there, notifying a change it missed meanwhile. While
// etcd is unreachable the client keeps retrying and watchers hear nothing:
// they keep the configuration they have.
func (e *Etcd) watchLoop(ctx context.Context, last, from int64) {
	defer close(e.watchDone)
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range e.cli.Watch(wctx, e.revisionKey(), clientv3.WithRev(from)) {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				from = ev.Kv.ModRevision + 1
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				if rev, err := strconv.ParseInt(string(ev.Kv.Value), 10, 64); err == nil && rev != last {
					last = rev
					e.hub.notify(rev)
				}
			}
		}
		cancel()
		// Start again from a fresh read, once etcd answers.
		for ctx.Err() == nil {
			resp, err := e.get(ctx, e.revisionKey())
			if err == nil {
				if rev, err := e.counter(resp); err == nil && rev != last {
					last = rev
					e.hub.notify(rev)
				}
				from = resp.Header.Revision + 1
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// etcdTx is one View or Update: reads at etcd revision at, and for an
// Update the writes it will commit (nil value: delete), which its own
// reads see.
type etcdTx struct {
	e      *Etcd
	ctx    context.Context
	at     int64 // etcd revision of every read
	rev    int64 // store revision at begin
	revMod int64 // mod revision of the revision key at begin, 0 if absent
	writes map[string]*[]byte
	wrote  bool
}

func (t *etcdTx) Revision() int64 { return t.rev }

func (t *etcdTx) Get(kind, key string) ([]byte, error) {
	k := t.e.key(kind, key)
	if v, ok := t.writes[k]; ok {
		if v == nil {
			return nil, fmt.Errorf("%s %s: %w", kind, key, ErrNotFound)
		}
		return slices.Clone(*v), nil
	}
	resp, err := t.e.get(t.ctx, k, clientv3.WithRev(t.at))
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%s %s: %w", kind, key, ErrNotFound)
	}
	return resp.Kvs[0].Value, nil
}

func (t *etcdTx) List(kind string) ([]KV, error) {
	p := t.e.kindPrefix(kind)
	resp, err := t.e.get(t.ctx, p, clientv3.WithPrefix(), clientv3.WithRev(t.at))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	var kvs []KV
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		if _, ok := t.writes[k]; ok {
			continue
		}
		kvs = append(kvs, KV{Key: strings.TrimPrefix(k, p), Value: kv.Value})
	}
	for k, v := range t.writes {
		if key, ok := strings.CutPrefix(k, p); ok && v != nil {
			kvs = append(kvs, KV{Key: key, Value: slices.Clone(*v)})
		}
	}
	slices.SortFunc(kvs, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	return kvs, nil
}

func (t *etcdTx) Kinds() ([]string, error) {
	p := t.e.kindsPrefix()
	resp, err := t.e.get(t.ctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(t.at))
	if err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	count := map[string]int{}
	for _, kv := range resp.Kvs {
		if kind, _, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), p), "/"); ok {
			count[kind]++
		}
	}
	for k, v := range t.writes {
		kind, _, ok := strings.Cut(strings.TrimPrefix(k, p), "/")
		if !ok {
			continue
		}
		existed, err := t.existsAtStart(k)
		if err != nil {
			return nil, err
		}
		switch {
		case v != nil && !existed:
			count[kind]++
		case v == nil && existed:
			count[kind]--
		}
	}
	var kinds []string
	for kind, n := range count {
		if n > 0 {
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	return kinds, nil
}

// existsAtStart reports whether etcd key k exists at the view's revision.
func (t *etcdTx) existsAtStart(k string) (bool, error) {
	resp, err := t.e.get(t.ctx, k, clientv3.WithRev(t.at), clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Count > 0, nil
}

func (t *etcdTx) Put(kind, key string, value []byte) error {
	if err := checkPut(kind, key); err != nil {
		return err
	}
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	t.writes[t.e.key(kind, key)] = &v
	t.wrote = true
	return nil
}

func (t *etcdTx) Delete(kind, key string) error {
	k := t.e.key(kind, key)
	if v, ok := t.writes[k]; ok {
		if v != nil {
			t.writes[k] = nil
		}
		return nil
	}
	exists, err := t.existsAtStart(k)
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kind, key, err)
	}
	if exists {
		t.writes[k] = nil
		t.wrote = true
	}
	return nil
}

// commit writes the transaction's changes and the next store revision if
// the revision key is unchanged since begin; ok is false when another
// writer committed first.
func (t *etcdTx) commit() (ok bool, err error) {
	ops := make([]clientv3.Op, 0, len(t.writes)+1)
	for k, v := range t.writes {
		if v == nil {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(*v)))
		}
	}
	ops = append(ops, clientv3.OpPut(t.e.revisionKey(), strconv.FormatInt(t.rev+1, 10)))
	ctx, cancel := context.WithTimeout(t.ctx, t.e.timeout)
	defer cancel()
	resp, err := t.e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(t.e.revisionKey()), "=", t.revMod)).
		Then(ops...).
		Commit()
	if err != nil {
		return false, fmt.Errorf("commit: %w", t.e.wrap(t.ctx, err))
	}
	return resp.Succeeded, nil
}

// Prefix returns the key prefix the store lives under.
func (e *Etcd) Prefix() string { return e.prefix }

// Client is the etcd client of the store, for what shares its etcd and
// connection settings (the fleet's node registry). Closing the store closes
// it.
func (e *Etcd) Client() *clientv3.Client { return e.cli }
