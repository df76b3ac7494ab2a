package gateway

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestAttach(t *testing.T) {
	same := listener("same", 80, gatewayv1.HTTPProtocolType)
	same.AllowedRoutes = nil // Same, the default
	selector := listener("selector", 8080, gatewayv1.HTTPProtocolType)
	selector.AllowedRoutes.Namespaces = &gatewayv1.RouteNamespaces{From: ptr(gatewayv1.NamespacesFromSelector),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}}}
	hosted := listener("hosted", 8081, gatewayv1.HTTPProtocolType)
	hosted.Hostname = ptr(gatewayv1.Hostname("*.example.com"))
	grpcOnly := listener("grpc", 8082, gatewayv1.HTTPProtocolType)
	grpcOnly.AllowedRoutes.Kinds = []gatewayv1.RouteGroupKind{{Kind: KindGRPCRoute}}
	gw := gateway("c", same, selector, hosted, grpcOnly)
	listeners := judgeListeners(ControllerALB, gw, nil, nil)
	nsLabels := map[string]map[string]string{"shop": {"team": "shop"}, "other": {}}

	for _, tc := range []struct {
		name      string
		ns        string
		section   string
		port      int
		hostnames []gatewayv1.Hostname
		reason    gatewayv1.RouteConditionReason
		attached  []string
		hosts     [][]string
	}{
		{name: "same namespace", ns: "infra", section: "same", reason: gatewayv1.RouteReasonAccepted, attached: []string{"same"}, hosts: [][]string{nil}},
		{name: "other namespace on Same", ns: "shop", section: "same", reason: gatewayv1.RouteReasonNotAllowedByListeners},
		{name: "selected namespace", ns: "shop", section: "selector", reason: gatewayv1.RouteReasonAccepted, attached: []string{"selector"}, hosts: [][]string{nil}},
		{name: "unselected namespace", ns: "other", section: "selector", reason: gatewayv1.RouteReasonNotAllowedByListeners},
		{name: "no such section", ns: "infra", section: "nope", reason: gatewayv1.RouteReasonNoMatchingParent},
		{name: "port mismatch", ns: "infra", section: "same", port: 81, reason: gatewayv1.RouteReasonNoMatchingParent},
		{name: "hostname matches wildcard", ns: "infra", section: "hosted", hostnames: []gatewayv1.Hostname{"a.example.com", "b.other.com"}, reason: gatewayv1.RouteReasonAccepted, attached: []string{"hosted"}, hosts: [][]string{{"a.example.com"}}},
		{name: "route wildcard wider", ns: "infra", section: "hosted", hostnames: []gatewayv1.Hostname{"*.com"}, reason: gatewayv1.RouteReasonAccepted, attached: []string{"hosted"}, hosts: [][]string{{"*.example.com"}}},
		{name: "no hostname in common", ns: "infra", section: "hosted", hostnames: []gatewayv1.Hostname{"example.com"}, reason: gatewayv1.RouteReasonNoMatchingListenerHostname},
		{name: "kind not allowed", ns: "infra", section: "grpc", reason: gatewayv1.RouteReasonNotAllowedByListeners},
		{name: "every listener", ns: "infra", reason: gatewayv1.RouteReasonAccepted, attached: []string{"same", "hosted"}, hosts: [][]string{nil, {"*.example.com"}}},
	} {
		rt := httpRoute(tc.ns, "r", 1)
		rt.HTTP.Spec.Hostnames = tc.hostnames
		ref := parent("gw")
		if tc.section != "" {
			ref.SectionName = ptr(gatewayv1.SectionName(tc.section))
		}
		if tc.port != 0 {
			ref.Port = ptr(gatewayv1.PortNumber(tc.port))
		}
		a := attach(rt, ref, "infra", listeners, nsLabels)
		if a.Accepted.Reason != string(tc.reason) {
			t.Errorf("%s: reason %s (%s), want %s", tc.name, a.Accepted.Reason, a.Accepted.Message, tc.reason)
		}
		var names []string
		for _, l := range a.Listeners {
			names = append(names, string(l.Name))
		}
		if d := cmp.Diff(tc.attached, names); d != "" {
			t.Errorf("%s: listeners (-want +got):\n%s", tc.name, d)
		}
		if d := cmp.Diff(tc.hosts, a.Hostnames); d != "" {
			t.Errorf("%s: hostnames (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestJudgeListeners(t *testing.T) {
	https := listener("https", 443, gatewayv1.HTTPSProtocolType)
	https.TLS = &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "tls"}}}
	foreign := listener("foreign", 8443, gatewayv1.HTTPSProtocolType)
	foreign.TLS = &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "tls", Namespace: ptr(gatewayv1.Namespace("certs"))}}}
	missing := listener("missing", 9443, gatewayv1.HTTPSProtocolType)
	missing.TLS = &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "nope"}}}
	conflictA := listener("a", 9000, gatewayv1.HTTPProtocolType)
	conflictB := listener("b", 9000, gatewayv1.HTTPSProtocolType)
	conflictB.TLS = https.TLS
	gw := gateway("c", https, foreign, missing, listener("tcp", 22, gatewayv1.TCPProtocolType), conflictA, conflictB)
	secret := func(ns, name string) bool { return name == "tls" }
	got := map[string]string{}
	for _, l := range judgeListeners(ControllerALB, gw, nil, secret) {
		s := "valid"
		for _, c := range l.Conditions {
			if (c.Type == string(gatewayv1.ListenerConditionConflicted)) == (c.Status == metav1.ConditionFalse) {
				continue
			}
			s = c.Type + "/" + c.Reason
			break
		}
		got[string(l.Name)] = s
	}
	want := map[string]string{
		"https":   "valid",
		"foreign": "ResolvedRefs/RefNotPermitted",
		"missing": "ResolvedRefs/InvalidCertificateRef",
		"tcp":     "Accepted/UnsupportedProtocol",
		// Accepted False comes first; Conflicted is True too.
		"a": "Accepted/ProtocolConflict",
		"b": "Accepted/ProtocolConflict",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("listeners (-want +got):\n%s", d)
	}
}

// On a network load balancer, TLS listeners that share a port conflict
// unless they have the same mode: one NLB listener per port terminates
// TLS or passes it through.
func TestJudgeListenersTLSModes(t *testing.T) {
	tls := func(name string, port int, mode gatewayv1.TLSModeType) gatewayv1.Listener {
		l := listener(name, port, gatewayv1.TLSProtocolType)
		l.TLS = &gatewayv1.ListenerTLSConfig{Mode: ptr(mode)}
		if mode == gatewayv1.TLSModeTerminate {
			l.TLS.CertificateRefs = []gatewayv1.SecretObjectReference{{Name: "tls"}}
		}
		return l
	}
	gw := gateway("c", tls("term", 8443, gatewayv1.TLSModeTerminate), tls("pass", 8443, gatewayv1.TLSModePassthrough),
		tls("pass1", 9443, gatewayv1.TLSModePassthrough), tls("pass2", 9443, gatewayv1.TLSModePassthrough))
	got := map[string]string{}
	for _, l := range judgeListeners(ControllerNLB, gw, nil, func(string, string) bool { return true }) {
		c := listenerCondition(l.Conditions, gatewayv1.ListenerConditionAccepted)
		got[string(l.Name)] = fmt.Sprintf("%s/%s %v", c.Status, c.Reason, l.Kinds)
	}
	// A conflicted listener takes no route kind.
	want := map[string]string{"term": "False/ProtocolConflict []", "pass": "False/ProtocolConflict []", "pass1": "True/Accepted [TLSRoute]", "pass2": "True/Accepted [TLSRoute]"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("listeners' Accepted (-want +got):\n%s", d)
	}
}

func TestMergeParents(t *testing.T) {
	gw := types.NamespacedName{Namespace: "infra", Name: "gw"}
	other := gatewayv1.RouteParentStatus{ParentRef: gatewayv1.ParentReference{Name: "gw"}, ControllerName: "example.com/other",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted"}}}
	stale := gatewayv1.RouteParentStatus{ParentRef: parent("gw"), ControllerName: ControllerALB,
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: metav1.Unix(1, 0)}}}
	t0 := metav1.Unix(100, 0)
	want := gatewayv1.RouteParentStatus{ParentRef: parent("gw"), ControllerName: ControllerALB,
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted"}}}
	got := MergeParents([]gatewayv1.RouteParentStatus{other, stale}, "infra", gw, ControllerALB, []gatewayv1.RouteParentStatus{want}, t0)
	if len(got) != 2 || got[0].ControllerName != "example.com/other" {
		t.Fatalf("merged %+v", got)
	}
	if tt := got[1].Conditions[0].LastTransitionTime; !tt.Equal(&stale.Conditions[0].LastTransitionTime) {
		t.Errorf("an unchanged condition's transition time moved to %v", tt)
	}
	if got := MergeParents(got, "infra", gw, ControllerALB, nil, t0); len(got) != 1 {
		t.Errorf("a route that no longer names the Gateway keeps %d entries, want 1 (the other controller's)", len(got))
	}
}

func TestClassConditions(t *testing.T) {
	withParams := func(group, kind string, ns *gatewayv1.Namespace) *gatewayv1.GatewayClass {
		c := albClass.DeepCopy()
		c.Spec.ParametersRef = &gatewayv1.ParametersReference{Group: gatewayv1.Group(group), Kind: gatewayv1.Kind(kind), Name: "p", Namespace: ns}
		return c
	}
	ns := ptr(gatewayv1.Namespace("infra"))
	for _, tc := range []struct {
		name   string
		class  *gatewayv1.GatewayClass
		found  bool
		reason gatewayv1.GatewayClassConditionReason
	}{
		{"no parameters", albClass, false, gatewayv1.GatewayClassReasonAccepted},
		{"parameters", withParams(GroupAWS, KindLoadBalancerConfiguration, ns), true, gatewayv1.GatewayClassReasonAccepted},
		{"missing parameters", withParams(GroupAWS, KindLoadBalancerConfiguration, ns), false, gatewayv1.GatewayClassReasonInvalidParameters},
		{"wrong kind", withParams("", "ConfigMap", ns), true, gatewayv1.GatewayClassReasonInvalidParameters},
		{"no namespace", withParams(GroupAWS, KindLoadBalancerConfiguration, nil), true, gatewayv1.GatewayClassReasonInvalidParameters},
	} {
		got := ClassConditions(tc.class, tc.found)[0]
		if got.Reason != string(tc.reason) || (got.Status == metav1.ConditionTrue) != (tc.reason == gatewayv1.GatewayClassReasonAccepted) {
			t.Errorf("%s: %s/%s, want %s", tc.name, got.Status, got.Reason, tc.reason)
		}
	}
}

func TestGatewayStatus(t *testing.T) {
	gw := gateway("c", listener("http", 80, gatewayv1.HTTPProtocolType))
	res := Build(Input{Class: albClass, Gateway: gw}, opts)
	now := metav1.Unix(100, 0)
	pending := GatewayStatus(gatewayv1.GatewayStatus{}, gw, res, Deployed{}, now)
	if c := findCondition(pending.Conditions, "Programmed"); c.Status != metav1.ConditionFalse || c.Reason != "Pending" {
		t.Errorf("before the load balancer has a name: Programmed %+v", c)
	}
	done := GatewayStatus(pending, gw, res, Deployed{DNSName: "k8s-infra-gw-0123456789.elb.us-west-2.kelb.internal"}, now)
	if c := findCondition(done.Conditions, "Programmed"); c.Status != metav1.ConditionTrue {
		t.Errorf("deployed: Programmed %+v", c)
	}
	if len(done.Addresses) != 1 || *done.Addresses[0].Type != gatewayv1.HostnameAddressType || done.Addresses[0].Value == "" {
		t.Errorf("addresses %+v", done.Addresses)
	}
	if c := findCondition(done.Listeners[0].Conditions, "Programmed"); c.Status != metav1.ConditionTrue {
		t.Errorf("listener Programmed %+v", c)
	}
}

func findCondition(conds []metav1.Condition, t string) metav1.Condition {
	for _, c := range conds {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}
