package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/connlimit"
	"github.com/kelb-io/kelb/internal/dataplane/maglev"
)

// Options configure a Plane. The zero value is usable.
type Options struct {
	// Logger receives listener and flow errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the data plane's metrics; nil keeps them
	// unregistered.
	Registerer prometheus.Registerer
	// Now is the clock of UDP flow expiry; nil is time.Now.
	Now func() time.Time
	// DialTimeout bounds each attempt to connect to a TCP target; zero is
	// 10 seconds.
	DialTimeout time.Duration
	// UDPFlowTimeout ends a UDP flow that has carried no datagram in either
	// direction for this long; zero is 120 seconds, as on NLB.
	UDPFlowTimeout time.Duration
	// TableSize is the number of Maglev slots per target set, a prime; zero
	// is maglev.DefaultSize.
	TableSize uint64
	// Bounds limit the flows and splice pipes; DeriveBounds fits them into
	// the process's descriptor limit.
	Bounds
	// Budget is the descriptor budget the flows share with the
	// application load balancers' connections (one slot a flow), built
	// from Bounds.Slots; nil: the flows are bounded by Bounds alone.
	Budget *connlimit.Budget
	// Certificates gives TLS listeners their certificates; without it a
	// TLS listener fails to apply.
	Certificates CertificateSource
}

const (
	defaultDialTimeout    = 10 * time.Second
	defaultUDPFlowTimeout = 120 * time.Second
	// dialAttempts is how many targets a new TCP connection tries before
	// kelb resets the client.
	dialAttempts = 3
)

// Plane runs the listeners of a Config. Apply reconfigures it in place; Run
// does its background work; Close stops it. All methods are safe for
// concurrent use.
type Plane struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	// ctx ends with Close: it cancels target dials and stops listeners.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts every goroutine the plane starts; Close waits for them.
	wg sync.WaitGroup

	mu      sync.Mutex // serialises Apply and Close; guards the fields below
	closed  bool
	sockets map[socketKey]socket
	tables  map[string]*maglev.Table // by targetsKey
	// tlsConfs are the TLS listeners' configurations, by listener ARN.
	tlsConfs map[string]*listenerTLS
	groups   map[string]TargetGroup // of the last applied Config, by ARN
	labels   map[[2]string]bool     // metric label pairs of the last Config
	// unopened are the listeners of the last Config whose sockets could
	// not be opened (an address or port in use); Run retries them.
	unopened map[socketKey]*route

	flows flowTable
	// total counts the flows of every listener (see admit).
	total flowSlots
	// pipes are the splice pipes TCP flows borrow while data moves.
	pipes *pipePool
	// unregister withdraws the plane's flows from the Budget's evictions.
	unregister func()
}

// socketKey identifies a listening socket.
type socketKey struct {
	protocol string
	addr     netip.AddrPort
}

// socket is a TCP or UDP listener.
type socket interface {
	setRoute(*route)
	// close stops the socket; it does not wait for its goroutines.
	close()
}

// route is what a listener forwards with: replaced whole (atomically) by
// Apply, read without locks on every new flow.
type route struct {
	cfg     Listener
	local   netip.AddrPort
	sources []netip.Prefix // with cfg.AllSources(): every client
	targets []netip.AddrPort
	table   *maglev.Table
	metrics flowMetrics
	// tls is set for a TLS listener.
	tls *listenerTLS
}

// pick returns the target for hash; attempt > 0 gives the following targets
// of the set, for retries after a failed connection.
func (r *route) pick(hash uint64, attempt int) (netip.AddrPort, bool) {
	i := r.table.Lookup(hash)
	if i < 0 {
		return netip.AddrPort{}, false
	}
	return r.targets[(i+attempt)%len(r.targets)], true
}

// admits reports whether the listener accepts flows from client.
func (r *route) admits(client netip.Addr) bool {
	if r.cfg.AllSources() {
		return true
	}
	for _, p := range r.sources {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// flowHash returns the hash that picks a new flow's target.
func (r *route) flowHash(proto uint8, src netip.AddrPort) uint64 {
	if r.cfg.SourceIPAffinity {
		return sourceHash(src.Addr())
	}
	return flowHash(proto, src, r.local)
}

// New returns a Plane with no listeners.
func New(opts Options) *Plane {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = defaultDialTimeout
	}
	if opts.UDPFlowTimeout <= 0 {
		opts.UDPFlowTimeout = defaultUDPFlowTimeout
	}
	if opts.TableSize == 0 {
		opts.TableSize = maglev.DefaultSize
	}
	opts.Bounds = opts.Bounds.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Plane{
		opts:     opts,
		log:      opts.Logger,
		metrics:  newMetrics(opts.Registerer),
		ctx:      ctx,
		cancel:   cancel,
		sockets:  map[socketKey]socket{},
		tables:   map[string]*maglev.Table{},
		tlsConfs: map[string]*listenerTLS{},
		groups:   map[string]TargetGroup{},
		labels:   map[[2]string]bool{},
		unopened: map[socketKey]*route{},
		flows:    flowTable{byTarget: map[targetKey]map[flow]struct{}{}},
		pipes:    &pipePool{max: opts.Pipes},
	}
	p.unregister = opts.Budget.Register(func() bool { return p.evict(&p.total, nil) })
	return p
}

// Apply makes cfg the running configuration: it opens the sockets of new
// listeners, closes those of removed ones, and swaps the target sets of the
// others; established flows are kept, except those Config says to close
// (see TargetGroup and TargetState). Maglev tables are rebuilt only for
// target sets that changed. A listener that cannot be opened (or is
// invalid) is reported in the returned error; the rest of cfg still applies,
// and Run keeps trying to open it.
func (p *Plane) Apply(cfg Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("apply data plane config: plane is closed")
	}
	var errs []error
	tables := make(map[string]*maglev.Table, len(p.tables))
	tlsConfs := make(map[string]*listenerTLS, len(p.tlsConfs))
	wanted := make(map[socketKey]*route, len(cfg.Listeners))
	// kept are open sockets whose new configuration is invalid (a TLS
	// listener's certificate that cannot be loaded): they go on serving
	// their previous one.
	kept := map[socketKey]bool{}
	for _, l := range cfg.Listeners {
		r, err := p.newRoute(l, tables, tlsConfs)
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %s %s of %s: %w", l.Protocol, l.Address, l.ListenerARN, err))
			if a, perr := netip.ParseAddrPort(l.Address); perr == nil {
				kept[socketKey{protocol: l.Protocol, addr: a}] = true
			}
			continue
		}
		key := socketKey{protocol: l.Protocol, addr: r.local}
		if _, dup := wanted[key]; dup {
			errs = append(errs, fmt.Errorf("listener %s %s of %s: address already used by another listener", l.Protocol, l.Address, l.ListenerARN))
			continue
		}
		wanted[key] = r
	}
	p.tables = tables
	p.tlsConfs = tlsConfs

	for key, s := range p.sockets {
		if _, ok := wanted[key]; !ok && !kept[key] {
			s.close()
			delete(p.sockets, key)
			p.log.Info("listener closed", "protocol", key.protocol, "address", key.addr.String())
		}
	}
	clear(p.unopened)
	for key, r := range wanted {
		if s, ok := p.sockets[key]; ok {
			s.setRoute(r)
			continue
		}
		if err := p.openSocket(key, r); err != nil {
			errs = append(errs, err)
			p.unopened[key] = r
		}
	}

	groups := make(map[string]TargetGroup, len(cfg.TargetGroups))
	for _, g := range cfg.TargetGroups {
		groups[g.ARN] = g
	}
	p.terminateFlows(groups)
	p.groups = groups

	labels := make(map[[2]string]bool, len(wanted))
	for _, r := range wanted {
		labels[[2]string{r.cfg.LoadBalancer, r.cfg.TargetGroup}] = true
	}
	for l := range p.labels {
		if !labels[l] {
			p.metrics.forget(l[0], l[1])
		}
	}
	p.labels = labels
	return errors.Join(errs...)
}

// newRoute parses l and finds or builds its Maglev table, reusing the
// previous Apply's table for an unchanged target set.
func (p *Plane) newRoute(l Listener, tables map[string]*maglev.Table, tlsConfs map[string]*listenerTLS) (*route, error) {
	if l.Protocol != ProtocolTCP && l.Protocol != ProtocolUDP && l.Protocol != ProtocolTLS {
		return nil, fmt.Errorf("unsupported protocol %q", l.Protocol)
	}
	local, err := netip.ParseAddrPort(l.Address)
	if err != nil {
		return nil, fmt.Errorf("parse address: %w", err)
	}
	r := &route{cfg: l, local: local, metrics: p.metrics.forListener(l)}
	if l.Protocol == ProtocolTLS {
		if r.tls, err = p.tlsFor(l, tlsConfs); err != nil {
			return nil, err
		}
	}
	for _, c := range l.SourceRanges {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("parse source range: %w", err)
		}
		r.sources = append(r.sources, pfx.Masked())
	}
	for _, t := range l.Targets {
		a, err := netip.ParseAddrPort(t)
		if err != nil {
			return nil, fmt.Errorf("parse target: %w", err)
		}
		r.targets = append(r.targets, a)
	}
	key := strings.Join(l.Targets, ",")
	table, ok := tables[key]
	if !ok {
		if table, ok = p.tables[key]; !ok {
			if table, err = maglev.New(l.Targets, p.opts.TableSize); err != nil {
				return nil, fmt.Errorf("build target table: %w", err)
			}
		}
		tables[key] = table
	}
	r.table = table
	return r, nil
}

// openSocket opens the socket of key and adds it to p.sockets. Called with
// p.mu held.
func (p *Plane) openSocket(key socketKey, r *route) error {
	var s socket
	var err error
	switch key.protocol {
	case ProtocolTCP, ProtocolTLS:
		s, err = p.openTCP(key.addr, r)
	default:
		s, err = p.openUDP(key.addr, r)
	}
	if err != nil {
		return fmt.Errorf("listener %s %s of %s: %w", key.protocol, key.addr, r.cfg.ListenerARN, err)
	}
	p.sockets[key] = s
	p.log.Info("listener opened", "protocol", key.protocol, "address", key.addr.String(),
		"load_balancer", r.cfg.LoadBalancer, "target_group", r.cfg.TargetGroup)
	return nil
}

// retryUnopened tries again to open the sockets Apply could not.
func (p *Plane) retryUnopened() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	for key, r := range p.unopened {
		if err := p.openSocket(key, r); err != nil {
			p.log.Debug("listener still unopened", "err", err)
			continue
		}
		delete(p.unopened, key)
	}
}

// terminateFlows closes the flows that groups (the new configuration) says
// to close: those of unhealthy targets marked CloseConnections, and those of
// targets that left a group with TerminateOnDeregistration (the group's new
// setting, or its last one when the group itself is gone). Called with p.mu
// held.
func (p *Plane) terminateFlows(groups map[string]TargetGroup) {
	tracked := p.flows.targets()
	if len(tracked) == 0 {
		return
	}
	states := map[targetKey]TargetState{}
	for _, g := range groups {
		for _, t := range g.Targets {
			if a, err := netip.ParseAddrPort(t.Address); err == nil {
				states[targetKey{group: g.ARN, target: a}] = t
			}
		}
	}
	for _, key := range tracked {
		state, registered := states[key]
		g, groupKept := groups[key.group]
		switch {
		case registered && state.CloseConnections:
		case !registered && groupKept && g.TerminateOnDeregistration:
		case !registered && !groupKept && p.groups[key.group].TerminateOnDeregistration:
		default:
			continue
		}
		for _, f := range p.flows.of(key) {
			f.terminate()
		}
	}
}

// Run does the plane's background work until ctx ends, then closes the
// plane and returns nil: it expires idle UDP flows, and retries opening the
// listeners that Apply could not open (their error was returned by Apply;
// they open as soon as their address and port are free).
func (p *Plane) Run(ctx context.Context) error {
	tick := min(max(p.opts.UDPFlowTimeout/8, 10*time.Millisecond), 5*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Close()
			return nil
		case <-p.ctx.Done():
			return nil
		case <-t.C:
			p.expireUDPFlows()
			p.retryUnopened()
		}
	}
}

func (p *Plane) expireUDPFlows() {
	p.mu.Lock()
	var udp []*udpListener
	for _, s := range p.sockets {
		if u, ok := s.(*udpListener); ok {
			udp = append(udp, u)
		}
	}
	p.mu.Unlock()
	cutoff := p.opts.Now().Add(-p.opts.UDPFlowTimeout).UnixNano()
	for _, u := range udp {
		u.expire(cutoff)
	}
}

// Close closes every listener and every flow, and waits for the plane's
// goroutines. It is idempotent.
func (p *Plane) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.cancel()
		for key, s := range p.sockets {
			s.close()
			delete(p.sockets, key)
		}
		for _, f := range p.flows.all() {
			f.terminate()
		}
	}
	p.mu.Unlock()
	p.unregister()
	p.wg.Wait()
	p.pipes.close()
}

// flow is an established TCP connection or UDP flow to a target.
type flow interface {
	// terminate ends the flow: a TCP connection is reset on both sides.
	terminate()
	// evict ends the flow to make room for a new one and counts it; it
	// returns false when the flow had ended already.
	evict() bool
	// activeAt is the clock's UnixNano when the flow last carried data
	// (or started).
	activeAt() int64
	// slots are the flow counts of the flow's listener.
	slots() *flowSlots
}

// targetKey names a target of a target group, as flows are tracked.
type targetKey struct {
	group  string
	target netip.AddrPort
}

// flowTable tracks established flows per target, so that Apply can close
// the flows of a target that turned unhealthy or left. It is touched once
// when a flow starts and once when it ends.
type flowTable struct {
	mu       sync.Mutex
	byTarget map[targetKey]map[flow]struct{}
}

func (t *flowTable) add(k targetKey, f flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.byTarget[k]
	if set == nil {
		set = map[flow]struct{}{}
		t.byTarget[k] = set
	}
	set[f] = struct{}{}
}

func (t *flowTable) remove(k targetKey, f flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.byTarget[k]
	delete(set, f)
	if len(set) == 0 {
		delete(t.byTarget, k)
	}
}

func (t *flowTable) targets() []targetKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]targetKey, 0, len(t.byTarget))
	for k := range t.byTarget {
		keys = append(keys, k)
	}
	return keys
}

func (t *flowTable) of(k targetKey) []flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	fs := make([]flow, 0, len(t.byTarget[k]))
	for f := range t.byTarget[k] {
		fs = append(fs, f)
	}
	return fs
}

// each calls fn for every tracked flow, with the table locked.
func (t *flowTable) each(fn func(flow)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, set := range t.byTarget {
		for f := range set {
			fn(f)
		}
	}
}

func (t *flowTable) all() []flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	var fs []flow
	for _, set := range t.byTarget {
		for f := range set {
			fs = append(fs, f)
		}
	}
	return fs
}
