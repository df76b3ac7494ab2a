package confview

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/kelb-io/kelb/internal/elb"
)

// View indexes one configuration snapshot. The zero View is empty.
type View struct {
	state         elb.State
	loadBalancers map[string]*elb.LoadBalancer
	targetGroups  map[string]*elb.TargetGroup
	// listeners are by load balancer ARN, in the snapshot's order (by
	// port); rules by listener ARN, by priority.
	listeners map[string][]*elb.Listener
	rules     map[string][]*elb.Rule
	// loadBalancersOf and targetGroupsOf are the forwarding edges, both
	// ways, each sorted by ARN.
	loadBalancersOf map[string][]*elb.LoadBalancer
	targetGroupsOf  map[string][]*elb.TargetGroup
}

// New indexes st. The View points into st's slices, which the caller must
// not change afterwards.
func New(st elb.State) *View {
	v := &View{
		state:           st,
		loadBalancers:   make(map[string]*elb.LoadBalancer, len(st.LoadBalancers)),
		targetGroups:    make(map[string]*elb.TargetGroup, len(st.TargetGroups)),
		listeners:       make(map[string][]*elb.Listener, len(st.LoadBalancers)),
		rules:           make(map[string][]*elb.Rule, len(st.Listeners)),
		loadBalancersOf: make(map[string][]*elb.LoadBalancer, len(st.TargetGroups)),
		targetGroupsOf:  make(map[string][]*elb.TargetGroup, len(st.LoadBalancers)),
	}
	for i := range st.LoadBalancers {
		v.loadBalancers[st.LoadBalancers[i].ARN] = &st.LoadBalancers[i]
	}
	for i := range st.TargetGroups {
		v.targetGroups[st.TargetGroups[i].ARN] = &st.TargetGroups[i]
	}
	listenerLB := make(map[string]*elb.LoadBalancer, len(st.Listeners))
	type edge struct {
		lb *elb.LoadBalancer
		tg *elb.TargetGroup
	}
	seen := make(map[edge]bool, len(st.Rules)+len(st.Listeners))
	forward := func(lb *elb.LoadBalancer, actions []elb.Action) {
		for _, a := range actions {
			for _, w := range a.ForwardTargetGroups() {
				tg, ok := v.targetGroups[w.TargetGroupARN]
				if !ok || seen[edge{lb, tg}] {
					continue
				}
				seen[edge{lb, tg}] = true
				v.loadBalancersOf[tg.ARN] = append(v.loadBalancersOf[tg.ARN], lb)
				v.targetGroupsOf[lb.ARN] = append(v.targetGroupsOf[lb.ARN], tg)
			}
		}
	}
	for i := range st.Listeners {
		l := &st.Listeners[i]
		lb, ok := v.loadBalancers[l.LoadBalancerARN]
		if !ok {
			continue
		}
		listenerLB[l.ARN] = lb
		v.listeners[lb.ARN] = append(v.listeners[lb.ARN], l)
		forward(lb, l.DefaultActions)
	}
	for i := range st.Rules {
		r := &st.Rules[i]
		lb, ok := listenerLB[r.ListenerARN]
		if !ok {
			continue
		}
		v.rules[r.ListenerARN] = append(v.rules[r.ListenerARN], r)
		forward(lb, r.Actions)
	}
	for _, rules := range v.rules {
		slices.SortStableFunc(rules, func(a, b *elb.Rule) int { return cmp.Compare(priority(a), priority(b)) })
	}
	for _, lbs := range v.loadBalancersOf {
		slices.SortFunc(lbs, func(a, b *elb.LoadBalancer) int { return cmp.Compare(a.ARN, b.ARN) })
	}
	for _, tgs := range v.targetGroupsOf {
		slices.SortFunc(tgs, func(a, b *elb.TargetGroup) int { return cmp.Compare(a.ARN, b.ARN) })
	}
	return v
}

// State is the snapshot the View indexes.
func (v *View) State() elb.State { return v.state }

// LoadBalancer returns the load balancer arn, or nil.
func (v *View) LoadBalancer(arn string) *elb.LoadBalancer { return v.loadBalancers[arn] }

// TargetGroup returns the target group arn, or nil.
func (v *View) TargetGroup(arn string) *elb.TargetGroup { return v.targetGroups[arn] }

// ListenersOf returns the listeners of load balancer lb, by port.
func (v *View) ListenersOf(lb string) []*elb.Listener { return v.listeners[lb] }

// RulesOf returns the rules of listener l in the order they are evaluated:
// by priority, the default rule last.
func (v *View) RulesOf(l string) []*elb.Rule { return v.rules[l] }

// LoadBalancersOf returns the load balancers whose listeners' default
// actions or rules forward to target group tg, by ARN.
func (v *View) LoadBalancersOf(tg string) []*elb.LoadBalancer { return v.loadBalancersOf[tg] }

// TargetGroupsOf returns the target groups that load balancer lb's
// listeners' default actions and rules forward to, by ARN.
func (v *View) TargetGroupsOf(lb string) []*elb.TargetGroup { return v.targetGroupsOf[lb] }

// priority orders rules: by their number, the default rule (and anything
// that is not a number) last.
func priority(r *elb.Rule) int {
	n, err := strconv.Atoi(r.Priority)
	if err != nil {
		return 1 << 30
	}
	return n
}
