package kernel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/ti-mo/conntrack"

	"github.com/kelb-io/kelb/internal/dataplane"
)

// Options configure a Plane. The zero value is usable.
type Options struct {
	// Logger receives listener and flow errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the plane's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// UDPFlowTimeout ends a UDP flow that has carried no datagram in either
	// direction for this long; zero is 120 seconds, as on NLB.
	UDPFlowTimeout time.Duration
	// Table names the nftables table (family ip) the plane owns; empty is
	// TableName. Two kelb servers in one network namespace need two tables.
	Table string
	// MetricsInterval is how often Run reads the kernel's counters and
	// connection tracking table into the metrics; zero is 10 seconds.
	MetricsInterval time.Duration
	// SNATSource is the source address of flows of listeners without
	// preserve_client_ip, and of hairpin flows: SNATLoadBalancer (empty,
	// as AWS) or SNATNode.
	SNATSource string
}

// Sources of the flows kelb SNATs (kelb server --snat-source).
const (
	// SNATLoadBalancer SNATs to the load balancer's address, as AWS does.
	SNATLoadBalancer = "load-balancer"
	// SNATNode masquerades to the address of the interface a flow leaves
	// by: the targets' replies come back to the node that holds the flow,
	// which a fleet of nodes behind ECMP routes needs.
	SNATNode = "node"
)

// CheckSNATSource reports whether s is a valid Options.SNATSource.
func CheckSNATSource(s string) error {
	switch s {
	case "", SNATLoadBalancer, SNATNode:
		return nil
	}
	return fmt.Errorf("SNAT source %q: want %s or %s", s, SNATLoadBalancer, SNATNode)
}

// Plane runs listeners in kelb's nftables table. All methods are safe for
// concurrent use.
type Plane struct {
	opts    Options
	log     *slog.Logger
	metrics dataplane.FlowCollectors
	ctStats *conntrackStats

	mu     sync.Mutex // serialises Apply, collect and Close; guards below
	closed bool
	table  *table
	ct     *conntrack.Conn
	cache  map[string][]netip.AddrPort // Maglev slots by target list
	desc   Description
	cfg    dataplane.Config
	// collectMu serialises Collect, which owns ctCollect.
	collectMu sync.Mutex
	ctCollect *conntrack.Conn
}

// New opens the netlink connections of a kernel plane. It fails without
// CAP_NET_ADMIN or without nftables and conntrack in the kernel; it does not
// touch the table until Apply.
func New(opts Options) (*Plane, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.UDPFlowTimeout <= 0 {
		opts.UDPFlowTimeout = 120 * time.Second
	}
	if opts.MetricsInterval <= 0 {
		opts.MetricsInterval = 10 * time.Second
	}
	if opts.Table == "" {
		opts.Table = TableName
	}
	if err := CheckSNATSource(opts.SNATSource); err != nil {
		return nil, err
	}
	t, err := openTable(opts.Table)
	if err != nil {
		return nil, err
	}
	if _, _, _, err := t.existing(); err != nil {
		t.close()
		return nil, fmt.Errorf("nftables: %w", err)
	}
	ct, err := conntrack.Dial(nil)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("open conntrack netlink connection: %w", err)
	}
	ctCollect, err := conntrack.Dial(nil)
	if err != nil {
		t.close()
		_ = ct.Close()
		return nil, fmt.Errorf("open conntrack netlink connection: %w", err)
	}
	return &Plane{
		ctCollect: ctCollect,
		opts:      opts,
		log:       opts.Logger,
		metrics:   dataplane.NewFlowCollectors(opts.Registerer),
		ctStats:   newConntrackStats(opts.Registerer),
		table:     t,
		ct:        ct,
		cache:     map[string][]netip.AddrPort{},
	}, nil
}

// Probe reports whether a kernel plane can run here: CAP_NET_ADMIN, and
// nftables with NAT, jhash, maps and ct timeouts. It creates and deletes a
// scratch table (kelb_probe).
func Probe() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables netlink: %w", err)
	}
	t := &nftables.Table{Name: TableName + "_probe", Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	ch := c.AddChain(&nftables.Chain{Name: "p", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest})
	d := Description{Services: []Service{{Name: "probe", Proto: ipProtoTCP, AllSources: true,
		Addr: netip.MustParseAddrPort("198.18.255.254:9"), Slots: []netip.AddrPort{netip.MustParseAddrPort("198.18.255.253:9")}, Timeout: 1}}}
	tab := &table{conn: c, t: t}
	m := tab.mapOf("probe")
	if err := c.AddSet(m, nil); err != nil {
		return err
	}
	if err := addElements(c, m, mapElements(d.Services[0])); err != nil {
		return err
	}
	c.AddObj(&nftables.NamedObj{Table: t, Name: "probe", Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}})
	c.AddObj(&nftables.NamedObj{Table: t, Name: TimeoutName(ipProtoTCP, 1), Type: nftables.ObjTypeCtTimeout,
		Obj: &expr.CtTimeout{L3Proto: 2, L4Proto: ipProtoTCP, Policy: tcpPolicy(1)}})
	for _, r := range forwarding(d.Services[0], FlowMark(t.Name))[1:] {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
	}
	c.DelTable(t)
	ctTimeoutMu.Lock()
	defer ctTimeoutMu.Unlock()
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	ct, err := conntrack.Dial(nil)
	if err != nil {
		return fmt.Errorf("conntrack netlink: %w", err)
	}
	defer ct.Close()
	if _, err := ct.StatsGlobal(); err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	return nil
}

// Apply makes cfg the table's configuration in one transaction (see
// table.program) and deletes from conntrack the flows cfg says to close.
// Established flows of other targets are untouched. An invalid listener is
// reported and left out; the others apply.
func (p *Plane) Apply(cfg dataplane.Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("apply kernel data plane config: plane is closed")
	}
	cache := map[string][]netip.AddrPort{}
	for k, v := range p.cache {
		cache[k] = v
	}
	d, describeErr := Describe(cfg, p.opts.UDPFlowTimeout, cache)
	d.FlowMark = FlowMark(p.opts.Table)
	d.Masquerade = p.opts.SNATSource == SNATNode
	// Keep only the tables in use.
	p.cache = map[string][]netip.AddrPort{}
	for _, l := range cfg.Listeners {
		if v, ok := cache[targetsKey(l.Targets)]; ok {
			p.cache[targetsKey(l.Targets)] = v
		}
	}
	if err := p.table.program(d); err != nil {
		return errors.Join(describeErr, fmt.Errorf("program nftables table %s: %w", p.opts.Table, err))
	}
	prev := p.cfg
	p.desc, p.cfg = d, cfg
	if err := p.terminate(prev, cfg); err != nil {
		p.log.Warn("close flows of unhealthy or deregistered targets", "err", err)
	}
	return describeErr
}

// Run reads the kernel's counters into the metrics every MetricsInterval
// until ctx ends, then returns nil. It leaves the table and the plane as
// they are: the owner chooses Stop, Close or Remove.
func (p *Plane) Run(ctx context.Context) error {
	p.ctStats.report(p.log)
	t := time.NewTicker(p.opts.MetricsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.Collect(); err != nil {
				p.log.Warn("read kernel data plane counters", "err", err)
			}
		}
	}
}

// Close closes the plane's netlink connections. The table stays: its flows
// keep forwarding, and the next Plane reconciles it. It is idempotent.
func (p *Plane) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.table.close()
	_ = p.ct.Close()
	_ = p.ctCollect.Close()
}

// Stop is a clean stop: the table keeps its hooks but no listener, so new
// flows are no longer forwarded while established ones go on (their NAT
// bindings live in conntrack, and NAT needs a nat hook in the namespace to
// apply them), and a restart reconciles the table. Then it closes the plane.
func (p *Plane) Stop() {
	p.mu.Lock()
	if !p.closed {
		if err := p.table.program(Description{}); err != nil {
			p.log.Warn("empty the kernel data plane table", "table", p.opts.Table, "err", err)
		}
	}
	p.mu.Unlock()
	p.Close()
}

// Remove deletes the plane's table and closes the plane. Established flows
// end with it, unless another nat table keeps NAT hooked in the namespace.
func (p *Plane) Remove() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return RemoveTable(p.opts.Table)
	}
	err := p.table.remove()
	p.mu.Unlock()
	p.Close()
	return err
}

// RemoveTable deletes the nftables table name if it exists.
func RemoveTable(name string) error {
	t, err := openTable(name)
	if err != nil {
		return err
	}
	defer t.close()
	return t.remove()
}
