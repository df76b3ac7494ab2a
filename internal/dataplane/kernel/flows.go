package kernel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/ti-mo/conntrack"

	"github.com/kelb-io/kelb/internal/dataplane"
)

// listenerKey is a listener as conntrack shows it: the original direction's
// protocol and destination.
type listenerKey struct {
	proto uint8
	addr  netip.AddrPort
}

func keyOf(l dataplane.Listener) (listenerKey, bool) {
	a, err := netip.ParseAddrPort(l.Address)
	if err != nil {
		return listenerKey{}, false
	}
	proto := uint8(ipProtoTCP)
	if l.Protocol == dataplane.ProtocolUDP {
		proto = ipProtoUDP
	}
	return listenerKey{proto: proto, addr: a}, true
}

// groupTarget is a target of a target group, as flows are closed.
type groupTarget struct {
	group  string
	target netip.AddrPort
}

// closing returns the targets whose flows next must close, given the
// previous configuration prev: targets marked CloseConnections, and targets
// that left a group with connection termination on deregistration (the
// group's new setting, or its last one when the group is gone). It is pure.
func closing(prev, next dataplane.Config) map[groupTarget]bool {
	out := map[groupTarget]bool{}
	nextGroups := map[string]dataplane.TargetGroup{}
	registered := map[groupTarget]bool{}
	for _, g := range next.TargetGroups {
		nextGroups[g.ARN] = g
		for _, t := range g.Targets {
			a, err := netip.ParseAddrPort(t.Address)
			if err != nil {
				continue
			}
			registered[groupTarget{g.ARN, a}] = true
			if t.CloseConnections {
				out[groupTarget{g.ARN, a}] = true
			}
		}
	}
	for _, g := range prev.TargetGroups {
		ng, kept := nextGroups[g.ARN]
		terminate := g.TerminateOnDeregistration
		if kept {
			terminate = ng.TerminateOnDeregistration
		}
		if !terminate {
			continue
		}
		for _, t := range g.Targets {
			a, err := netip.ParseAddrPort(t.Address)
			if err == nil && !registered[groupTarget{g.ARN, a}] {
				out[groupTarget{g.ARN, a}] = true
			}
		}
	}
	return out
}

// terminate deletes the conntrack entries of the flows that next says to
// close. Called with p.mu held.
func (p *Plane) terminate(prev, next dataplane.Config) error {
	targets := closing(prev, next)
	if len(targets) == 0 {
		return nil
	}
	// The listeners of each group, before and after.
	groupOf := map[listenerKey]map[string]bool{}
	for _, cfg := range []dataplane.Config{prev, next} {
		for _, l := range cfg.Listeners {
			if k, ok := keyOf(l); ok {
				if groupOf[k] == nil {
					groupOf[k] = map[string]bool{}
				}
				groupOf[k][l.TargetGroupARN] = true
			}
		}
	}
	flows, err := p.ct.Dump(nil)
	if err != nil {
		return fmt.Errorf("dump conntrack: %w", err)
	}
	var errs []error
	closed := 0
	for _, f := range flows {
		k := listenerKey{proto: f.TupleOrig.Proto.Protocol,
			addr: netip.AddrPortFrom(f.TupleOrig.IP.DestinationAddress, f.TupleOrig.Proto.DestinationPort)}
		target := netip.AddrPortFrom(f.TupleReply.IP.SourceAddress, f.TupleReply.Proto.SourcePort)
		for g := range groupOf[k] {
			if !targets[groupTarget{g, target}] {
				continue
			}
			if err := p.ct.Delete(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("delete flow to %s: %w", target, err))
			} else {
				closed++
			}
			break
		}
	}
	if closed > 0 {
		p.log.Info("closed flows", "flows", closed, "targets", len(targets))
	}
	return errors.Join(errs...)
}

// Collect reads the table's counters and the conntrack table into the
// metrics: new flows and kelb's resets from the table's counters (read and
// reset), active flows and processed bytes from the flows conntrack holds
// with kelb's mark (bytes need net.netfilter.nf_conntrack_acct; Collect
// reads and zeroes each flow's counters, so it keeps nothing per flow; the
// bytes of a flow that ends between two reads are lost).
//
// The table and conntrack are read without holding Apply's lock, through a
// conntrack connection of Collect's own: a dump of many flows does not
// delay a change of targets.
func (p *Plane) Collect() error {
	p.collectMu.Lock()
	defer p.collectMu.Unlock()
	p.mu.Lock()
	closed, services := p.closed, p.desc.Services
	p.mu.Unlock()
	if closed {
		return nil
	}
	byName := map[string]dataplane.Listener{}
	byKey := map[listenerKey]dataplane.Listener{}
	for _, s := range services {
		byName[s.Name] = s.Listener
		byKey[listenerKey{proto: s.Proto, addr: s.Addr}] = s.Listener
	}
	var errs []error
	// A connection of its own: Apply may be using the plane's.
	objs, err := resetObjects(p.table.t)
	if err != nil {
		errs = append(errs, fmt.Errorf("read counters: %w", err))
	}
	for _, o := range objs {
		n, ok := o.(*nftables.NamedObj)
		if !ok || n.Type != nftables.ObjTypeCounter {
			continue
		}
		c, ok := n.Obj.(*expr.Counter)
		if !ok {
			continue
		}
		name, reset := strings.CutSuffix(n.Name, "_rst")
		l, ok := byName[name]
		if !ok {
			continue
		}
		if reset {
			p.metrics.Resets.WithLabelValues(l.LoadBalancer, l.TargetGroup, dataplane.ResetOriginELB).Add(float64(c.Packets))
		} else {
			p.metrics.NewFlows.WithLabelValues(l.LoadBalancer, l.TargetGroup).Add(float64(c.Packets))
		}
	}
	flows, err := p.ctCollect.DumpFilter(conntrack.NewFilter().Mark(FlowMark(p.opts.Table)).MarkMask(flowMarkMask),
		&conntrack.DumpOptions{ZeroCounters: true})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("dump conntrack: %w", err))...)
	}
	type pair struct{ lb, tg string }
	active := map[pair]int{}
	for _, l := range byKey {
		active[pair{l.LoadBalancer, l.TargetGroup}] = 0
	}
	for _, f := range flows {
		k := listenerKey{proto: f.TupleOrig.Proto.Protocol,
			addr: netip.AddrPortFrom(f.TupleOrig.IP.DestinationAddress, f.TupleOrig.Proto.DestinationPort)}
		l, ok := byKey[k]
		if !ok {
			continue
		}
		lp := pair{l.LoadBalancer, l.TargetGroup}
		if f.ProtoInfo.TCP == nil || f.ProtoInfo.TCP.State <= tcpEstablished {
			active[lp]++
		}
		if b := f.CountersOrig.Bytes + f.CountersReply.Bytes; b > 0 {
			p.metrics.ProcessedBytes.WithLabelValues(lp.lb, lp.tg).Add(float64(b))
		}
	}
	for lp, n := range active {
		p.metrics.ActiveFlows.WithLabelValues(lp.lb, lp.tg).Set(float64(n))
	}
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_count"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			p.ctStats.entries.Set(float64(n))
		}
	}
	return errors.Join(errs...)
}

// resetObjects reads and resets the objects of table t through a netlink
// connection of its own.
func resetObjects(t *nftables.Table) ([]nftables.Obj, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	ctTimeoutMu.Lock()
	defer ctTimeoutMu.Unlock()
	return c.ResetNamedObjects(t)
}

// tcpEstablished is conntrack's TCP_CONNTRACK_ESTABLISHED: states up to it
// are open flows, the ones after it closing.
const tcpEstablished = 3

// conntrackStats reports the size of the connection tracking table.
type conntrackStats struct {
	max, entries prometheus.Gauge
}

func newConntrackStats(reg prometheus.Registerer) *conntrackStats {
	s := &conntrackStats{
		max: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kelb_conntrack_max",
			Help: "Size of the kernel's connection tracking table (net.netfilter.nf_conntrack_max), which bounds the kernel data plane's flows."}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kelb_conntrack_entries",
			Help: "Entries of the kernel's connection tracking table, kelb's flows and others."}),
	}
	_ = reg.Register(s.max)
	_ = reg.Register(s.entries)
	return s
}

// minConntrackMax is the table size below which kelb tells the operator to
// grow it: room for a few hundred thousand flows.
const minConntrackMax = 262144

// report reads the conntrack table's size, sets the gauge and logs it, with
// what to set when it is small.
func (s *conntrackStats) report(log *slog.Logger) {
	b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		log.Warn("read conntrack table size", "err", err)
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	s.max.Set(float64(n))
	// Processed bytes come from conntrack's per-flow counters.
	const acctPath = "/proc/sys/net/netfilter/nf_conntrack_acct"
	acct, _ := os.ReadFile(acctPath)
	if strings.TrimSpace(string(acct)) == "0" {
		if err := os.WriteFile(acctPath, []byte("1"), 0o644); err == nil {
			log.Info("turned conntrack accounting on, for the processed bytes of kernel data plane listeners", "sysctl", "net.netfilter.nf_conntrack_acct=1")
			acct = []byte("1")
		}
	}
	log.Info("kernel data plane connection tracking", "nf_conntrack_max", n,
		"nf_conntrack_acct", strings.TrimSpace(string(acct)))
	if n < minConntrackMax {
		log.Warn("the connection tracking table is small for a load balancer: it bounds the flows the kernel data plane holds",
			"nf_conntrack_max", n, "set", fmt.Sprintf("sysctl -w net.netfilter.nf_conntrack_max=%d", minConntrackMax*4))
	}
	if strings.TrimSpace(string(acct)) != "1" {
		log.Info("processed bytes of kernel data plane listeners need conntrack accounting",
			"set", "sysctl -w net.netfilter.nf_conntrack_acct=1")
	}
}
