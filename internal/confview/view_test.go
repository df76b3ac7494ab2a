package confview

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/elb"
)

func forward(tgs ...string) elb.Action {
	a := elb.Action{Type: elb.ActionForward, Order: 1, Forward: &elb.ForwardConfig{}}
	for _, tg := range tgs {
		a.Forward.TargetGroups = append(a.Forward.TargetGroups, elb.WeightedTargetGroup{TargetGroupARN: tg, Weight: 1})
	}
	if len(tgs) == 1 {
		a.TargetGroupARN = tgs[0]
	}
	return a
}

// testState is a configuration with every kind of edge, and references to
// resources it does not hold.
func testState() elb.State {
	fixed := elb.Action{Type: elb.ActionFixedResponse, Order: 1, TargetGroupARN: "tg-fixed", FixedResponse: &elb.FixedResponseConfig{StatusCode: "200"}}
	return elb.State{
		LoadBalancers: []elb.LoadBalancer{
			{ARN: "lb-app", Type: elb.TypeApplication},
			{ARN: "lb-net", Type: elb.TypeNetwork},
			{ARN: "lb-idle", Type: elb.TypeNetwork},
		},
		Listeners: []elb.Listener{
			{ARN: "l-app-80", LoadBalancerARN: "lb-app", Port: 80, DefaultActions: []elb.Action{forward("tg-web")}},
			{ARN: "l-app-443", LoadBalancerARN: "lb-app", Port: 443, DefaultActions: []elb.Action{fixed}},
			{ARN: "l-net-53", LoadBalancerARN: "lb-net", Port: 53, DefaultActions: []elb.Action{{Type: elb.ActionForward, Order: 1, TargetGroupARN: "tg-dns"}}},
			{ARN: "l-net-80", LoadBalancerARN: "lb-net", Port: 80, DefaultActions: []elb.Action{forward("tg-gone")}},
			{ARN: "l-orphan", LoadBalancerARN: "lb-gone", Port: 80, DefaultActions: []elb.Action{forward("tg-orphan")}},
		},
		Rules: []elb.Rule{
			{ARN: "r-a", ListenerARN: "l-app-443", Priority: "10", Actions: []elb.Action{forward("tg-api", "tg-web")}},
			{ARN: "r-b", ListenerARN: "l-app-443", Priority: "2", Actions: []elb.Action{forward("tg-shared")}},
			{ARN: "r-c", ListenerARN: "l-app-443", Priority: "default", Actions: []elb.Action{fixed}},
			{ARN: "r-d", ListenerARN: "l-app-80", Priority: "1", Actions: []elb.Action{forward("tg-web")}},
			{ARN: "r-e", ListenerARN: "l-orphan", Priority: "1", Actions: []elb.Action{forward("tg-shared")}},
			{ARN: "r-f", ListenerARN: "l-net-53", Priority: "1", Actions: []elb.Action{forward("tg-shared")}},
		},
		TargetGroups: []elb.TargetGroup{
			{ARN: "tg-web"}, {ARN: "tg-api"}, {ARN: "tg-dns"}, {ARN: "tg-shared"},
			{ARN: "tg-orphan"}, {ARN: "tg-unused"}, {ARN: "tg-fixed"},
		},
	}
}

func arns[T any](items []*T, arn func(*T) string) []string {
	var out []string
	for _, it := range items {
		out = append(out, arn(it))
	}
	return out
}

func TestView(t *testing.T) {
	v := New(testState())
	lbARN := func(lb *elb.LoadBalancer) string { return lb.ARN }
	tgARN := func(tg *elb.TargetGroup) string { return tg.ARN }
	for _, tc := range []struct {
		query string
		got   []string
		want  []string
	}{
		{"ListenersOf(lb-app)", arns(v.ListenersOf("lb-app"), func(l *elb.Listener) string { return l.ARN }), []string{"l-app-80", "l-app-443"}},
		{"ListenersOf(lb-net)", arns(v.ListenersOf("lb-net"), func(l *elb.Listener) string { return l.ARN }), []string{"l-net-53", "l-net-80"}},
		{"ListenersOf(lb-idle)", arns(v.ListenersOf("lb-idle"), func(l *elb.Listener) string { return l.ARN }), nil},
		{"ListenersOf(lb-gone)", arns(v.ListenersOf("lb-gone"), func(l *elb.Listener) string { return l.ARN }), nil},
		{"RulesOf(l-app-443)", arns(v.RulesOf("l-app-443"), func(r *elb.Rule) string { return r.ARN }), []string{"r-b", "r-a", "r-c"}},
		{"RulesOf(l-app-80)", arns(v.RulesOf("l-app-80"), func(r *elb.Rule) string { return r.ARN }), []string{"r-d"}},
		{"RulesOf(l-orphan)", arns(v.RulesOf("l-orphan"), func(r *elb.Rule) string { return r.ARN }), nil},
		{"TargetGroupsOf(lb-app)", arns(v.TargetGroupsOf("lb-app"), tgARN), []string{"tg-api", "tg-shared", "tg-web"}},
		{"TargetGroupsOf(lb-net)", arns(v.TargetGroupsOf("lb-net"), tgARN), []string{"tg-dns", "tg-shared"}},
		{"TargetGroupsOf(lb-idle)", arns(v.TargetGroupsOf("lb-idle"), tgARN), nil},
		{"TargetGroupsOf(lb-gone)", arns(v.TargetGroupsOf("lb-gone"), tgARN), nil},
		{"LoadBalancersOf(tg-web)", arns(v.LoadBalancersOf("tg-web"), lbARN), []string{"lb-app"}},
		{"LoadBalancersOf(tg-shared)", arns(v.LoadBalancersOf("tg-shared"), lbARN), []string{"lb-app", "lb-net"}},
		{"LoadBalancersOf(tg-orphan)", arns(v.LoadBalancersOf("tg-orphan"), lbARN), nil},
		{"LoadBalancersOf(tg-unused)", arns(v.LoadBalancersOf("tg-unused"), lbARN), nil},
		{"LoadBalancersOf(tg-fixed)", arns(v.LoadBalancersOf("tg-fixed"), lbARN), nil},
		{"LoadBalancersOf(tg-gone)", arns(v.LoadBalancersOf("tg-gone"), lbARN), nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.query, diff)
			}
		})
	}
	if lb := v.LoadBalancer("lb-net"); lb == nil || lb.ARN != "lb-net" {
		t.Errorf("LoadBalancer(lb-net) = %v", lb)
	}
	if tg := v.TargetGroup("tg-gone"); tg != nil {
		t.Errorf("TargetGroup(tg-gone) = %v, want nil", tg)
	}
	if got := len(v.State().Rules); got != 6 {
		t.Errorf("State has %d rules, want 6", got)
	}
}

// TestViewPointsIntoState checks that the View answers with the snapshot's
// own resources rather than copies.
func TestViewPointsIntoState(t *testing.T) {
	st := testState()
	v := New(st)
	if v.TargetGroup("tg-web") != &st.TargetGroups[0] || v.ListenersOf("lb-app")[0] != &st.Listeners[0] {
		t.Error("View does not point into the State it indexes")
	}
}

func TestEmptyView(t *testing.T) {
	for _, v := range []*View{New(elb.State{}), {}} {
		if v.LoadBalancer("lb") != nil || v.TargetGroup("tg") != nil || v.ListenersOf("lb") != nil ||
			v.RulesOf("l") != nil || v.LoadBalancersOf("tg") != nil || v.TargetGroupsOf("lb") != nil {
			t.Error("an empty View answers with resources")
		}
	}
}

func TestCrossZone(t *testing.T) {
	attrs := func(v string) map[string]string {
		if v == "" {
			return nil
		}
		return map[string]string{attrCrossZone: v}
	}
	for _, tc := range []struct {
		lbType, lbAttr, tgAttr string
		noGroup                bool
		want                   bool
	}{
		{lbType: elb.TypeApplication, lbAttr: "", tgAttr: "false", want: true},
		{lbType: elb.TypeApplication, noGroup: true, want: true},
		{lbType: elb.TypeNetwork, want: false},
		{lbType: elb.TypeNetwork, noGroup: true, lbAttr: "true", want: true},
		{lbType: elb.TypeNetwork, noGroup: true, lbAttr: "false", want: false},
		{lbType: elb.TypeNetwork, lbAttr: "true", tgAttr: "use_load_balancer_configuration", want: true},
		{lbType: elb.TypeNetwork, lbAttr: "false", tgAttr: "use_load_balancer_configuration", want: false},
		{lbType: elb.TypeNetwork, lbAttr: "true", tgAttr: "false", want: false},
		{lbType: elb.TypeNetwork, lbAttr: "false", tgAttr: "true", want: true},
		{lbType: elb.TypeNetwork, lbAttr: "", tgAttr: "true", want: true},
	} {
		lb := &elb.LoadBalancer{Type: tc.lbType, Attributes: attrs(tc.lbAttr)}
		var tg *elb.TargetGroup
		if !tc.noGroup {
			tg = &elb.TargetGroup{Attributes: attrs(tc.tgAttr)}
		}
		if got := CrossZone(lb, tg); got != tc.want {
			t.Errorf("CrossZone(%s lb %q, group %q, no group %v) = %v, want %v", tc.lbType, tc.lbAttr, tc.tgAttr, tc.noGroup, got, tc.want)
		}
	}
}
