package elb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/secgroup"
)

// Defaults of Config.
const (
	// DefaultRegion is the region of ARNs and DNS names when none is set.
	DefaultRegion = "us-west-2"
	// DefaultAccountID is the account of ARNs when none is set: the
	// 12-digit example account of the AWS documentation, so ARNs look
	// familiar and never collide with a real account by accident.
	DefaultAccountID = "123456789012"
	// DefaultDNSDomain is the suffix of load balancer DNS names:
	// <name>-<16 hex>.elb.<region>.kelb.local.
	DefaultDNSDomain = "kelb.local"
	// DefaultVpcID is the VPC id reported for load balancers and target
	// groups created without one: in AWS's form (vpc- and 17 hex digits;
	// "ce1b" reads kelb), which clients such as the AWS Load Balancer
	// Controller check.
	DefaultVpcID = "vpc-0ce1b000000000000"
	// DefaultReconcileInterval is how often Run applies time-driven changes.
	DefaultReconcileInterval = time.Second
)

// Store kinds.
const (
	kindLoadBalancer = "loadbalancer"
	kindListener     = "listener"
	kindRule         = "rule"
	kindTargetGroup  = "targetgroup"
)

// Config configures a Service. Only Store is required.
type Config struct {
	Store store.Store
	// Zones are the availability zones load balancers get addresses in.
	Zones []Zone
	// Region defaults to DefaultRegion, AccountID to DefaultAccountID,
	// DNSDomain to DefaultDNSDomain, VpcID to DefaultVpcID.
	Region    string
	AccountID string
	DNSDomain string
	VpcID     string
	// VPCCIDRs are the networks of the VPC: targets are addresses in them,
	// or private addresses outside them given with an Availability Zone
	// (targetaddr.go). Empty means DefaultVPCCIDRs. Zones' TargetCIDRs
	// must lie in them.
	VPCCIDRs []netip.Prefix
	// Instances are the VPC's instances (nodes) that instance targets may
	// name by id (instances.go); their addresses must lie in the VPC.
	Instances []Instance
	// Health answers DescribeTargetHealth; nil reports every target in use
	// as initial (Elb.RegistrationInProgress).
	Health HealthView
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxLoadBalancersPerType is the quota of network and of application
	// load balancers (each); zero means MaxLoadBalancersPerType, AWS's
	// default quota, which AWS raises on request.
	MaxLoadBalancersPerType int
	// ProvisioningDelay is how long a new load balancer stays
	// provisioning before it becomes active; zero makes it active at once
	// (CreateLoadBalancer still answers provisioning, as AWS does).
	ProvisioningDelay time.Duration
	// ReconcileInterval is Run's period; zero means
	// DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// Logger receives Run's failures; nil discards them.
	Logger *slog.Logger
}

// Service implements the ELBv2 operations on a store.
type Service struct {
	cfg    Config
	worlds worldCache
	// snapshots is Snapshot's own: its States share unchanged resources'
	// maps and slices with earlier States, never with the API's answers.
	snapshots worldCache
}

// New returns a Service for cfg with defaults filled in.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("elb: config has no store")
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.DNSDomain == "" {
		cfg.DNSDomain = DefaultDNSDomain
	}
	if cfg.MaxLoadBalancersPerType <= 0 {
		cfg.MaxLoadBalancersPerType = MaxLoadBalancersPerType
	}
	if cfg.VpcID == "" {
		cfg.VpcID = DefaultVpcID
	}
	vpc := cfg.VPCCIDRs
	if len(vpc) == 0 {
		vpc = DefaultVPCCIDRs
	}
	cfg.VPCCIDRs = nil
	for _, p := range vpc {
		cfg.VPCCIDRs = append(cfg.VPCCIDRs, p.Masked())
	}
	if err := checkVPC(cfg.VPCCIDRs, cfg.Zones); err != nil {
		return nil, fmt.Errorf("elb: %s", err.Message)
	}
	if !vpcIDPattern.MatchString(cfg.VpcID) {
		return nil, fmt.Errorf("elb: VPC id %q: want vpc- and 8 or 17 lower-case hex digits", cfg.VpcID)
	}
	if err := checkInstances(cfg.Instances, cfg.VPCCIDRs); err != nil {
		return nil, fmt.Errorf("elb: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = DefaultReconcileInterval
	}
	seen := map[string]bool{}
	for _, z := range cfg.Zones {
		if z.Name == "" || z.SubnetID == "" || !z.Pool.IsValid() {
			return nil, fmt.Errorf("elb: zone %q needs a name, a subnet id and a pool", z.Name)
		}
		if seen[z.Name] || seen[z.SubnetID] {
			return nil, fmt.Errorf("elb: zone %q or subnet %q configured twice", z.Name, z.SubnetID)
		}
		seen[z.Name], seen[z.SubnetID] = true, true
	}
	return &Service{cfg: cfg, snapshots: worldCache{groups: true}}, nil
}

// Region returns the service's region.
func (s *Service) Region() string { return s.cfg.Region }

// VpcID returns the VPC id reported for load balancers.
func (s *Service) VpcID() string { return s.cfg.VpcID }

// VPCCIDRs returns the networks of the VPC.
func (s *Service) VPCCIDRs() []netip.Prefix { return append([]netip.Prefix(nil), s.cfg.VPCCIDRs...) }

// AccountID returns the account of ARNs.
func (s *Service) AccountID() string { return s.cfg.AccountID }

// Zones returns the configured zones.
func (s *Service) Zones() []Zone { return append([]Zone(nil), s.cfg.Zones...) }

// CanonicalHostedZoneID returns the hosted zone id reported for load
// balancers of type lbType: a fixed id per type, as AWS has one per type and
// region.
func (s *Service) CanonicalHostedZoneID(lbType string) string {
	if lbType == TypeApplication {
		return "Z0KELBAPPLICATION"
	}
	return "Z0KELBNETWORK"
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

func (s *Service) arn(resource string) string {
	return "arn:aws:elasticloadbalancing:" + s.cfg.Region + ":" + s.cfg.AccountID + ":" + resource
}

// newID returns 16 random hex digits.
func newID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("elb: read random id: %v", err))
	}
	return hex.EncodeToString(b[:])
}

// Snapshot returns every resource at one revision. The State is read
// only (as package confview reads it): the maps and slices of a resource
// that did not change since an earlier Snapshot are that Snapshot's, since
// only the records whose stored bytes changed are decoded again.
func (s *Service) Snapshot(ctx context.Context) (State, error) {
	var st State
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		w, err := s.snapshots.read(tx)
		if err != nil {
			return err
		}
		st = w.state()
		st.Revision = tx.Revision()
		// Sorted by id, as secgroup.List returns them.
		st.SecurityGroups = make([]secgroup.SecurityGroup, 0, len(w.groups))
		for _, g := range sortedValues(w.groups, func(g *secgroup.SecurityGroup) string { return g.ID }) {
			st.SecurityGroups = append(st.SecurityGroups, *g)
		}
		st.TrustStores, err = TrustStoreMaterials(tx)
		return err
	})
	if err != nil {
		return State{}, fmt.Errorf("snapshot: %w", err)
	}
	return st, nil
}

// Run applies time-driven changes every ReconcileInterval until ctx is done.
// A failed pass is logged and retried at the next tick: a store that is
// briefly unavailable delays draining targets' removal, nothing more.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("elb reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Reconcile applies time-driven changes now: load balancers whose
// provisioning delay has passed become active, and deregistered targets
// whose deregistration delay has passed are removed from their group.
func (s *Service) Reconcile(ctx context.Context) error {
	now := s.now()
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		for _, lb := range w.lbs {
			if lb.State == StateProvisioning && !now.Before(lb.CreatedTime.Add(s.cfg.ProvisioningDelay)) {
				lb.State = StateActive
				if err := putJSON(tx, kindLoadBalancer, lb.ARN, lb); err != nil {
					return err
				}
			}
		}
		for _, tg := range w.tgs {
			delay := time.Duration(AttrInt(tg.Attributes, attrDeregistrationDelay, 300)) * time.Second
			kept := tg.Targets[:0:0]
			for _, t := range tg.Targets {
				if t.Draining() && !now.Before(t.DeregisteredAt.Add(delay)) {
					continue
				}
				kept = append(kept, t)
			}
			if len(kept) != len(tg.Targets) {
				tg.Targets = kept
				if err := putJSON(tx, kindTargetGroup, tg.ARN, tg); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	return nil
}

// world is every resource, read inside one transaction.
type world struct {
	lbs       map[string]*LoadBalancer
	listeners map[string]*Listener
	rules     map[string]*Rule
	tgs       map[string]*TargetGroup
	// raw holds the stored bytes of every resource by ARN (security
	// group by id) in a shared world (readWorld), from which detach
	// decodes copies; nil in a transaction's own world.
	raw map[string][]byte
	// groups are the security groups by id, in Snapshot's shared worlds
	// only.
	groups map[string]*secgroup.SecurityGroup
}

// loadWorld decodes every resource tx reads, for a caller that changes
// them (an Update) or gives them away (Snapshot).
func loadWorld(tx store.ReadTx) (*world, error) {
	w := &world{}
	var err error
	if w.lbs, err = listJSON[LoadBalancer](tx, kindLoadBalancer); err != nil {
		return nil, err
	}
	if w.listeners, err = listJSON[Listener](tx, kindListener); err != nil {
		return nil, err
	}
	if w.rules, err = listJSON[Rule](tx, kindRule); err != nil {
		return nil, err
	}
	if w.tgs, err = listJSON[TargetGroup](tx, kindTargetGroup); err != nil {
		return nil, err
	}
	return w, nil
}

// listJSON decodes every value of kind by key.
func listJSON[T any](tx store.ReadTx, kind string) (map[string]*T, error) {
	kvs, err := tx.List(kind)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*T, len(kvs))
	for _, kv := range kvs {
		v := new(T)
		if err := json.Unmarshal(kv.Value, v); err != nil {
			return nil, fmt.Errorf("decode %s %s: %w", kind, kv.Key, err)
		}
		m[kv.Key] = v
	}
	return m, nil
}

func putJSON(tx store.Tx, kind, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", kind, key, err)
	}
	return tx.Put(kind, key, b)
}

// state returns the world's resources in a stable order.
func (w *world) state() State {
	var st State
	for _, lb := range sortedValues(w.lbs, func(v *LoadBalancer) string { return v.Name }) {
		st.LoadBalancers = append(st.LoadBalancers, *lb)
	}
	for _, l := range w.sortedListeners() {
		st.Listeners = append(st.Listeners, *l)
	}
	for _, r := range sortedValues(w.rules, func(v *Rule) string { return v.ARN }) {
		st.Rules = append(st.Rules, *r)
	}
	for _, tg := range sortedValues(w.tgs, func(v *TargetGroup) string { return v.Name }) {
		st.TargetGroups = append(st.TargetGroups, *tg)
	}
	return st
}

func sortedValues[T any](m map[string]*T, key func(*T) string) []*T {
	out := make([]*T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

func (w *world) sortedListeners() []*Listener {
	out := make([]*Listener, 0, len(w.listeners))
	for _, l := range w.listeners {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].LoadBalancerARN != out[j].LoadBalancerARN {
			return out[i].LoadBalancerARN < out[j].LoadBalancerARN
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// loadBalancersOf returns the ARNs of the load balancers whose listeners or
// rules forward to target group tg, sorted (never nil).
func (w *world) loadBalancersOf(tg string) []string {
	return usersOf(w.targetGroupUsers(), tg)
}

// targetGroupUsers returns, by target group ARN, the ARNs of the load
// balancers whose listeners or rules forward to it, sorted: one pass over
// the world, for a caller that asks about many target groups. (kelb
// server's consumers ask package confview, which indexes a snapshot; the
// service asks its transaction's world, which it changes as it goes.)
func (w *world) targetGroupUsers() map[string][]string {
	users := map[string][]string{}
	add := func(lb string, actions []Action) {
		for _, tg := range TargetGroupARNs(actions) {
			if !slices.Contains(users[tg], lb) {
				users[tg] = append(users[tg], lb)
			}
		}
	}
	for _, l := range w.listeners {
		add(l.LoadBalancerARN, l.DefaultActions)
	}
	for _, r := range w.rules {
		if l, ok := w.listeners[r.ListenerARN]; ok {
			add(l.LoadBalancerARN, r.Actions)
		}
	}
	for _, lbs := range users {
		sort.Strings(lbs)
	}
	return users
}

// usersOf returns users' load balancers of target group tg, never nil.
func usersOf(users map[string][]string, tg string) []string {
	if lbs, ok := users[tg]; ok {
		return lbs
	}
	return []string{}
}

// getJSON reads one resource, returning notFound when it does not exist.
func getJSON[T any](tx store.ReadTx, kind, key string, notFound error) (*T, error) {
	b, err := tx.Get(kind, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", kind, key, err)
	}
	return v, nil
}

// kindOfARN returns the store kind an ARN names, or "" for a string that is
// not an ELBv2 ARN.
func kindOfARN(arn string) string {
	const prefix = "arn:aws:elasticloadbalancing:"
	if !strings.HasPrefix(arn, prefix) {
		return ""
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return ""
	}
	res := parts[5]
	switch {
	case strings.HasPrefix(res, "loadbalancer/"):
		return kindLoadBalancer
	case strings.HasPrefix(res, "targetgroup/"):
		return kindTargetGroup
	case strings.HasPrefix(res, "listener/"):
		return kindListener
	case strings.HasPrefix(res, "listener-rule/"):
		return kindRule
	case strings.HasPrefix(res, "truststore/"):
		return kindTrustStore
	}
	return ""
}
