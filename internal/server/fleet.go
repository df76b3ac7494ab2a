package server

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/fleet"
)

// NodeConfig is this kelb server as a node of the fleet (package fleet).
type NodeConfig struct {
	// Name names the node in the fleet; empty is the host name.
	Name string
	// Zones are the zones whose load balancers this node serves and
	// health-checks; empty is every zone.
	Zones []string
	// LeaseTTL is the lifetime of the node's etcd lease; zero is
	// fleet.DefaultLeaseTTL.
	LeaseTTL time.Duration
}

// DefaultNodeName is the host name, the default --node-name.
func DefaultNodeName() string {
	name, err := os.Hostname()
	if err != nil || name == "" {
		return "kelb"
	}
	return name
}

// ValidateNodeZones checks that every node zone is a zone of the server.
func ValidateNodeZones(zones []elb.Zone, nodeZones []string) error {
	var names []string
	for _, z := range zones {
		names = append(names, z.Name)
	}
	for i, z := range nodeZones {
		if z == "" {
			return fmt.Errorf("an empty zone name in %q", strings.Join(nodeZones, ","))
		}
		if !slices.Contains(names, z) {
			return fmt.Errorf("zone %q is not a zone of --zone (%s)", z, strings.Join(names, ", "))
		}
		if slices.Contains(nodeZones[:i], z) {
			return fmt.Errorf("zone %q given twice", z)
		}
	}
	return nil
}

// joinFleet prepares this node's membership: of the fleet on the store's
// etcd, or a fleet of one with bbolt.
func joinFleet(cfg Config, st store.Store, reg prometheus.Registerer, log *slog.Logger) (*fleet.Fleet, error) {
	fc := fleet.Config{
		Node:       fleet.Node{Name: cfg.Node.Name, Zones: nodeZones(cfg), API: cfg.APIAddr, Version: version()},
		LeaseTTL:   cfg.Node.LeaseTTL,
		Logger:     log.With("component", "fleet"),
		Registerer: reg,
	}
	if fc.Node.Name == "" {
		fc.Node.Name = DefaultNodeName()
	}
	if e, ok := st.(*store.Etcd); ok {
		fc.Client, fc.Prefix, fc.RequestTimeout = e.Client(), e.Prefix(), cfg.Store.Etcd.RequestTimeout
	}
	f, err := fleet.New(fc)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return f, nil
}

// nodeZones are the zones this node serves: --node-zones, or every zone.
func nodeZones(cfg Config) []string {
	if len(cfg.Node.Zones) > 0 {
		return cfg.Node.Zones
	}
	var all []string
	for _, z := range cfg.Zones {
		all = append(all, z.Name)
	}
	return all
}

// servedZones are the zones of cfg this node serves: their load balancer
// addresses are the ones it announces and adds with --manage-addresses.
func servedZones(cfg Config) []elb.Zone {
	mine := nodeZones(cfg)
	var out []elb.Zone
	for _, z := range cfg.Zones {
		if slices.Contains(mine, z.Name) {
			out = append(out, z)
		}
	}
	return out
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}

// checkedState is the part of v this node health-checks: the load
// balancers with an address in one of zones, and their listeners and
// rules. Target groups stay; those no kept load balancer forwards to are
// not probed.
func checkedState(v *confview.View, zones []string) *confview.View {
	st := v.State()
	var kept []elb.LoadBalancer
	for _, lb := range st.LoadBalancers {
		if slices.ContainsFunc(lb.Zones, func(z elb.ZoneAddress) bool { return slices.Contains(zones, z.Zone) }) {
			kept = append(kept, lb)
		}
	}
	if len(kept) == len(st.LoadBalancers) {
		return v
	}
	out := elb.State{Revision: st.Revision, LoadBalancers: kept, TargetGroups: st.TargetGroups}
	for _, lb := range kept {
		for _, l := range v.ListenersOf(lb.ARN) {
			out.Listeners = append(out.Listeners, *l)
			for _, r := range v.RulesOf(l.ARN) {
				out.Rules = append(out.Rules, *r)
			}
		}
	}
	return confview.New(out)
}

// healthReport is this node's verdicts, from view, on the targets of st's
// target groups that it has one for (the checker has none for targets it
// does not check).
func healthReport(st elb.State, view elb.HealthView) fleet.HealthReport {
	r := fleet.HealthReport{}
	for _, tg := range st.TargetGroups {
		for _, t := range tg.Targets {
			k := elb.TargetKey{ID: t.ID, Port: t.Port}
			if h, ok := view.TargetHealth(tg.ARN, k); ok {
				if r[tg.ARN] == nil {
					r[tg.ARN] = map[elb.TargetKey]elb.TargetHealth{}
				}
				r[tg.ARN][k] = h
			}
		}
	}
	return r
}
