package gateway

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func listenerSet(ns, name string, created int, listeners ...gatewayv1.Listener) gatewayv1.ListenerSet {
	ls := gatewayv1.ListenerSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 3, CreationTimestamp: metav1.NewTime(time.Unix(int64(created), 0))},
		Spec:       gatewayv1.ListenerSetSpec{ParentRef: gatewayv1.ParentGatewayReference{Namespace: ptr(gatewayv1.Namespace("infra")), Name: "gw"}},
	}
	for _, l := range listeners {
		ls.Spec.Listeners = append(ls.Spec.Listeners, gatewayv1.ListenerEntry{Name: l.Name, Hostname: l.Hostname, Port: l.Port, Protocol: l.Protocol, TLS: l.TLS, AllowedRoutes: l.AllowedRoutes})
	}
	return ls
}

func setParent(ns, name, section string) gatewayv1.ParentReference {
	p := gatewayv1.ParentReference{Group: ptr(gatewayv1.Group(Group)), Kind: ptr(gatewayv1.Kind(KindListenerSet)), Namespace: ptr(gatewayv1.Namespace(ns)), Name: gatewayv1.ObjectName(name)}
	if section != "" {
		p.SectionName = ptr(gatewayv1.SectionName(section))
	}
	return p
}

func allowListeners(gw *gatewayv1.Gateway, from gatewayv1.FromNamespaces) *gatewayv1.Gateway {
	gw.Spec.AllowedListeners = &gatewayv1.AllowedListeners{Namespaces: &gatewayv1.ListenerNamespaces{From: ptr(from)}}
	return gw
}

func setListenerCondition(t *testing.T, ls []gatewayv1.ListenerStatus, name string, typ gatewayv1.ListenerConditionType) metav1.Condition {
	t.Helper()
	for _, l := range ls {
		if string(l.Name) == name {
			if c := meta.FindStatusCondition(l.Conditions, string(typ)); c != nil {
				return *c
			}
		}
	}
	t.Fatalf("no listener %s with a %s condition in %+v", name, typ, ls)
	return metav1.Condition{}
}

// TestBuildListenerSetAddsListener: an allowed set's listener on a new
// port becomes a listener of the Gateway's load balancer, serving the
// route whose parentRef names the set and its listener; a route naming
// the Gateway does not attach to the set's listener.
func TestBuildListenerSetAddsListener(t *testing.T) {
	gw := allowListeners(gateway("aws-alb-gateway-class", listener("http", 80, gatewayv1.HTTPProtocolType)), gatewayv1.NamespacesFromSame)
	// The set's listener has the Gateway listener's name: names are
	// scoped to their Gateway or set.
	ls := listenerSet("infra", "extra", 5, listener("http", 8080, gatewayv1.HTTPProtocolType))
	toSet := httpRoute("shop", "on-set", 1, gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "v1", 80, 1)}})
	toSet.HTTP.Spec.ParentRefs = []gatewayv1.ParentReference{setParent("infra", "extra", "http")}
	toGW := httpRoute("shop", "on-gateway", 2, gatewayv1.HTTPRouteRule{BackendRefs: []gatewayv1.HTTPBackendRef{backend("", "v2", 80, 1)}})
	res := Build(Input{Class: albClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{ls},
		Routes: []Route{toSet, toGW}, Services: services(service("shop", "v1", 80, 8080), service("shop", "v2", 80, 8080))}, opts)

	if res.Stack == nil || len(res.Stack.Listeners) != 2 {
		t.Fatalf("stack %+v, want two listeners", res.Stack)
	}
	byPort := map[int32][]string{}
	for _, l := range res.Stack.Listeners {
		for _, r := range l.Rules {
			byPort[l.Port] = append(byPort[l.Port], r.Action.Forward.TargetGroups[0].TargetGroup)
		}
	}
	if got := byPort[8080]; len(got) != 1 || got[0] != "shop/v1:80" {
		t.Errorf("port 8080 forwards to %v, want shop/v1:80 only", got)
	}
	if got := byPort[80]; len(got) != 1 || got[0] != "shop/v2:80" {
		t.Errorf("port 80 forwards to %v, want shop/v2:80 only", got)
	}
	if len(res.Listeners) != 1 || res.Listeners[0].Name != "http" || res.Listeners[0].AttachedRoutes != 1 {
		t.Errorf("Gateway listeners %+v, want its own http with 1 route", res.Listeners)
	}
	if res.AttachedListenerSets != 1 {
		t.Errorf("attachedListenerSets %d, want 1", res.AttachedListenerSets)
	}
	sr := res.ListenerSets[types.NamespacedName{Namespace: "infra", Name: "extra"}]
	if sr.Accepted.Status != metav1.ConditionTrue || sr.Accepted.Reason != string(gatewayv1.ListenerSetReasonAccepted) {
		t.Errorf("set Accepted %+v", sr.Accepted)
	}
	if len(sr.Listeners) != 1 || sr.Listeners[0].Name != "http" || sr.Listeners[0].AttachedRoutes != 1 {
		t.Errorf("set listeners %+v, want http with 1 route", sr.Listeners)
	}
	if c := condition(t, res, toSet.Key(), gatewayv1.RouteConditionAccepted); c.Status != metav1.ConditionTrue {
		t.Errorf("route on the set: %+v", c)
	}
	if p := res.Parents[toSet.Key()][0].ParentRef; p.Kind == nil || *p.Kind != KindListenerSet {
		t.Errorf("route on the set: parent entry %+v", p)
	}

	// A sectionName the set does not have is NoMatchingParent.
	toSet.HTTP.Spec.ParentRefs[0].SectionName = ptr(gatewayv1.SectionName("nope"))
	res = Build(Input{Class: albClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{ls},
		Routes: []Route{toSet}, Services: services(service("shop", "v1", 80, 8080))}, opts)
	if c := condition(t, res, toSet.Key(), gatewayv1.RouteConditionAccepted); c.Reason != string(gatewayv1.RouteReasonNoMatchingParent) {
		t.Errorf("route naming a missing section: %+v", c)
	}
}

// TestBuildListenerSetNotAllowed: by default a Gateway takes no
// ListenerSet; Same takes only its namespace's; Selector those of
// namespaces its selector matches.
func TestBuildListenerSetNotAllowed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    *gatewayv1.FromNamespaces
		setNS   string
		labels  map[string]string
		allowed bool
	}{
		{name: "default", setNS: "infra"},
		{name: "none", from: ptr(gatewayv1.FromNamespaces("None")), setNS: "infra"},
		{name: "same", from: ptr(gatewayv1.NamespacesFromSame), setNS: "infra", allowed: true},
		{name: "same other namespace", from: ptr(gatewayv1.NamespacesFromSame), setNS: "team"},
		{name: "all", from: ptr(gatewayv1.NamespacesFromAll), setNS: "team", allowed: true},
		{name: "selector match", from: ptr(gatewayv1.NamespacesFromSelector), setNS: "team", labels: map[string]string{"listeners": "ok"}, allowed: true},
		{name: "selector miss", from: ptr(gatewayv1.NamespacesFromSelector), setNS: "team"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := gateway("aws-alb-gateway-class", listener("http", 80, gatewayv1.HTTPProtocolType))
			if tc.from != nil {
				gw.Spec.AllowedListeners = &gatewayv1.AllowedListeners{Namespaces: &gatewayv1.ListenerNamespaces{From: tc.from,
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"listeners": "ok"}}}}
			}
			ls := listenerSet(tc.setNS, "extra", 1, listener("more", 8080, gatewayv1.HTTPProtocolType))
			res := Build(Input{Class: albClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{ls},
				Namespaces: map[string]map[string]string{tc.setNS: tc.labels}}, opts)
			sr := res.ListenerSets[types.NamespacedName{Namespace: tc.setNS, Name: "extra"}]
			if got := sr.Accepted.Status == metav1.ConditionTrue; got != tc.allowed {
				t.Fatalf("set Accepted %+v, want allowed %v", sr.Accepted, tc.allowed)
			}
			wantListeners, wantAttached := 1, int32(0)
			if tc.allowed {
				wantListeners, wantAttached = 2, 1
			} else if sr.Accepted.Reason != string(gatewayv1.ListenerSetReasonNotAllowed) {
				t.Errorf("reason %s, want NotAllowed", sr.Accepted.Reason)
			}
			if len(res.Stack.Listeners) != wantListeners || res.AttachedListenerSets != wantAttached {
				t.Errorf("%d load balancer listeners, %d attached sets; want %d, %d", len(res.Stack.Listeners), res.AttachedListenerSets, wantListeners, wantAttached)
			}
		})
	}
}

// TestBuildListenerSetConflicts: the Gateway's listeners come first, then
// the sets oldest first; a later listener on a port taken with another
// protocol, or with the same protocol and hostname, is Conflicted and not
// accepted, and a set left without a valid listener is not accepted.
func TestBuildListenerSetConflicts(t *testing.T) {
	gw := allowListeners(gateway("aws-alb-gateway-class", listener("http", 80, gatewayv1.HTTPProtocolType)), gatewayv1.NamespacesFromAll)
	tcp := listener("tcp-on-80", 80, gatewayv1.TCPProtocolType)
	sameHost := listener("same-host", 80, gatewayv1.HTTPProtocolType)
	otherHost := listener("other-host", 80, gatewayv1.HTTPProtocolType)
	otherHost.Hostname = ptr(gatewayv1.Hostname("b.example.com"))
	older := listenerSet("infra", "older", 1, otherHost, listener("own", 9000, gatewayv1.HTTPProtocolType))
	dupHost := otherHost
	dupHost.Name = "dup"
	newer := listenerSet("infra", "newer", 2, sameHost, dupHost)
	proto := listenerSet("infra", "proto", 3, tcp)
	proto.Spec.Listeners[0].Protocol = gatewayv1.HTTPSProtocolType
	res := Build(Input{Class: albClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{proto, newer, older}}, opts)

	setRes := func(name string) ListenerSetResult {
		return res.ListenerSets[types.NamespacedName{Namespace: "infra", Name: name}]
	}
	if c := setRes("older"); c.Accepted.Status != metav1.ConditionTrue {
		t.Errorf("older set %+v, want accepted", c.Accepted)
	}
	for _, l := range []string{"other-host", "own"} {
		if c := setListenerCondition(t, setRes("older").Listeners, l, gatewayv1.ListenerConditionConflicted); c.Status != metav1.ConditionFalse {
			t.Errorf("older set's %s: %+v", l, c)
		}
	}
	n := setRes("newer")
	if n.Accepted.Status != metav1.ConditionFalse || n.Accepted.Reason != string(gatewayv1.ListenerSetReasonListenersNotValid) {
		t.Errorf("newer set %+v, want ListenersNotValid", n.Accepted)
	}
	for _, l := range []string{"same-host", "dup"} {
		c := setListenerCondition(t, n.Listeners, l, gatewayv1.ListenerConditionConflicted)
		a := setListenerCondition(t, n.Listeners, l, gatewayv1.ListenerConditionAccepted)
		if c.Status != metav1.ConditionTrue || c.Reason != string(gatewayv1.ListenerReasonHostnameConflict) || a.Status != metav1.ConditionFalse {
			t.Errorf("newer set's %s: Conflicted %+v, Accepted %+v", l, c, a)
		}
	}
	if c := setListenerCondition(t, setRes("proto").Listeners, "tcp-on-80", gatewayv1.ListenerConditionConflicted); c.Reason != string(gatewayv1.ListenerReasonProtocolConflict) {
		t.Errorf("proto set's listener: %+v", c)
	}
	if l := setRes("proto").Listeners; len(l) != 1 || len(l[0].SupportedKinds) != 0 {
		t.Errorf("proto set's conflicted listener %+v, want no supported kinds", l)
	}
	if c := setListenerCondition(t, res.Listeners, "http", gatewayv1.ListenerConditionConflicted); c.Status != metav1.ConditionFalse {
		t.Errorf("Gateway's listener: %+v", c)
	}
	if res.AttachedListenerSets != 1 {
		t.Errorf("attachedListenerSets %d, want 1", res.AttachedListenerSets)
	}
	// Port 80 (the Gateway's and older's other-host) and 9000.
	if len(res.Stack.Listeners) != 2 {
		t.Errorf("%d load balancer listeners, want 2: %+v", len(res.Stack.Listeners), res.Stack.Listeners)
	}
}

// TestListenerSetStatus: Programmed follows the Gateway's when the set is
// accepted, Accepted's reason when not; a conflicted listener is not
// programmed, with the conflict's reason.
func TestListenerSetStatus(t *testing.T) {
	gw := allowListeners(gateway("aws-alb-gateway-class", listener("http", 80, gatewayv1.HTTPProtocolType)), gatewayv1.NamespacesFromSame)
	good := listenerSet("infra", "good", 1, listener("more", 8080, gatewayv1.HTTPProtocolType), listener("clash", 80, gatewayv1.HTTPSProtocolType))
	res := Build(Input{Class: albClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{good}}, opts)
	now := metav1.Now()
	gs := GatewayStatus(gatewayv1.GatewayStatus{}, gw, res, Deployed{DNSName: "lb.example"}, now)
	st := ListenerSetStatus(gatewayv1.ListenerSetStatus{}, &good, res.ListenerSets[types.NamespacedName{Namespace: "infra", Name: "good"}], gs, now)
	if c := meta.FindStatusCondition(st.Conditions, string(gatewayv1.ListenerSetConditionProgrammed)); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != 3 {
		t.Errorf("Programmed %+v, want True at generation 3", c)
	}
	progOf := func(name string) *metav1.Condition {
		for _, l := range st.Listeners {
			if l.Name == gatewayv1.SectionName(name) {
				return meta.FindStatusCondition(l.Conditions, string(gatewayv1.ListenerEntryConditionProgrammed))
			}
		}
		return nil
	}
	if c := progOf("more"); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("listener more Programmed %+v", c)
	}
	if c := progOf("clash"); c == nil || c.Status != metav1.ConditionFalse || c.Reason != string(gatewayv1.ListenerReasonProtocolConflict) {
		t.Errorf("listener clash Programmed %+v", c)
	}

	// Pending while the Gateway's load balancer has no DNS name.
	gs = GatewayStatus(gatewayv1.GatewayStatus{}, gw, res, Deployed{}, now)
	st = ListenerSetStatus(st, &good, res.ListenerSets[types.NamespacedName{Namespace: "infra", Name: "good"}], gs, now)
	if c := meta.FindStatusCondition(st.Conditions, string(gatewayv1.ListenerSetConditionProgrammed)); c.Status != metav1.ConditionFalse || c.Reason != string(gatewayv1.GatewayReasonPending) {
		t.Errorf("Programmed %+v, want Pending", c)
	}

	gw.Spec.AllowedListeners = nil
	res = Build(Input{Class: albClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{good}}, opts)
	st = ListenerSetStatus(st, &good, res.ListenerSets[types.NamespacedName{Namespace: "infra", Name: "good"}], gs, now)
	if c := meta.FindStatusCondition(st.Conditions, string(gatewayv1.ListenerSetConditionProgrammed)); c.Status != metav1.ConditionFalse || c.Reason != string(gatewayv1.ListenerSetReasonNotAllowed) {
		t.Errorf("Programmed %+v, want NotAllowed", c)
	}
	if len(st.Listeners) != 0 {
		t.Errorf("a set not allowed lists listeners %+v", st.Listeners)
	}
}

// TestBuildListenerSetReferenceGrant: a set's certificate in another
// namespace needs a ReferenceGrant from ListenerSets; one from Gateways
// does not admit it.
func TestBuildListenerSetReferenceGrant(t *testing.T) {
	gw := allowListeners(gateway("aws-alb-gateway-class", listener("http", 80, gatewayv1.HTTPProtocolType)), gatewayv1.NamespacesFromAll)
	https := listener("https", 443, gatewayv1.HTTPSProtocolType)
	https.TLS = &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "cert", Namespace: ptr(gatewayv1.Namespace("certs"))}}}
	ls := listenerSet("team", "tls", 1, https)
	secret := func(ns, name string) bool { return ns == "certs" && name == "cert" }
	grant := func(kind string) gatewayv1.ReferenceGrant {
		return gatewayv1.ReferenceGrant{ObjectMeta: metav1.ObjectMeta{Namespace: "certs", Name: "g"}, Spec: gatewayv1.ReferenceGrantSpec{
			From: []gatewayv1.ReferenceGrantFrom{{Group: Group, Kind: gatewayv1.Kind(kind), Namespace: "team"}},
			To:   []gatewayv1.ReferenceGrantTo{{Group: "", Kind: "Secret"}}}}
	}
	for kind, want := range map[string]string{KindListenerSet: string(gatewayv1.ListenerReasonResolvedRefs), "Gateway": string(gatewayv1.ListenerReasonRefNotPermitted)} {
		res := Build(Input{Class: albClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{ls}, Secret: secret, Grants: []gatewayv1.ReferenceGrant{grant(kind)}}, opts)
		sr := res.ListenerSets[types.NamespacedName{Namespace: "team", Name: "tls"}]
		if c := setListenerCondition(t, sr.Listeners, "https", gatewayv1.ListenerConditionResolvedRefs); c.Reason != want {
			t.Errorf("grant from %s: ResolvedRefs %+v, want %s", kind, c, want)
		}
	}
}

// TestBuildListenerSetNLB: on a network load balancer a set's TCP
// listener on a new port serves the TCPRoute attached to it; its TLS passthrough listener on the
// port of the Gateway's TLS terminating one conflicts.
func TestBuildListenerSetNLB(t *testing.T) {
	term := listener("tls", 8443, gatewayv1.TLSProtocolType)
	term.TLS = &gatewayv1.ListenerTLSConfig{CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "tls"}}}
	gw := allowListeners(gateway("aws-nlb-gateway-class", term), gatewayv1.NamespacesFromSame)
	pass := listener("pass", 8443, gatewayv1.TLSProtocolType)
	pass.TLS = &gatewayv1.ListenerTLSConfig{Mode: ptr(gatewayv1.TLSModePassthrough)}
	ls := listenerSet("infra", "l4", 1, listener("tcp", 9000, gatewayv1.TCPProtocolType), pass)
	tcp := Route{Kind: KindTCPRoute, TCP: &gatewayv1.TCPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "db", CreationTimestamp: metav1.NewTime(time.Unix(1, 0))},
		Spec: gatewayv1.TCPRouteSpec{CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{setParent("infra", "l4", "tcp")}},
			Rules: []gatewayv1.TCPRouteRule{{BackendRefs: []gatewayv1.BackendRef{backend("", "db", 5432, 1).BackendRef}}}},
	}}
	res := Build(Input{Class: nlbClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{ls}, Routes: []Route{tcp},
		Services: services(service("infra", "db", 5432, 5432)), Secret: func(string, string) bool { return true }}, opts)
	sr := res.ListenerSets[types.NamespacedName{Namespace: "infra", Name: "l4"}]
	if c := setListenerCondition(t, sr.Listeners, "pass", gatewayv1.ListenerConditionConflicted); c.Status != metav1.ConditionTrue || c.Reason != string(gatewayv1.ListenerReasonProtocolConflict) {
		t.Errorf("passthrough listener on the terminating port: %+v", c)
	}
	if c := setListenerCondition(t, sr.Listeners, "tcp", gatewayv1.ListenerConditionAccepted); c.Status != metav1.ConditionTrue {
		t.Errorf("tcp listener: %+v", c)
	}
	ports := map[int32]string{}
	for _, l := range res.Stack.Listeners {
		ports[l.Port] = l.Protocol
	}
	if len(ports) != 1 || ports[9000] != "TCP" {
		t.Errorf("load balancer listeners %v, want TCP 9000 (the only one with a route)", ports)
	}
	if c := condition(t, res, tcp.Key(), gatewayv1.RouteConditionAccepted); c.Status != metav1.ConditionTrue {
		t.Errorf("TCPRoute on the set's listener: %+v", c)
	}
}

// TestBuildListenerSetConflictWithinSet: the conformance suite's case: a
// set's TCP listener (unsupported on an application load balancer) on
// the port of an earlier HTTP listener is ProtocolConflict; the set's
// HTTP listeners on that port, before and after it, are accepted, and so
// is the set.
func TestBuildListenerSetConflictWithinSet(t *testing.T) {
	host := func(l gatewayv1.Listener, h string) gatewayv1.Listener {
		l.Hostname = ptr(gatewayv1.Hostname(h))
		return l
	}
	gw := allowListeners(gateway("aws-alb-gateway-class", host(listener("gw", 80, gatewayv1.HTTPProtocolType), "gw.example")), gatewayv1.NamespacesFromSame)
	ls := listenerSet("infra", "mixed", 1, host(listener("first", 80, gatewayv1.HTTPProtocolType), "first.example"),
		listener("tcp", 80, gatewayv1.TCPProtocolType), host(listener("last", 80, gatewayv1.HTTPProtocolType), "last.example"))
	res := Build(Input{Class: albClass, Gateway: gw, ListenerSets: []gatewayv1.ListenerSet{ls}}, opts)
	sr := res.ListenerSets[types.NamespacedName{Namespace: "infra", Name: "mixed"}]
	if sr.Accepted.Status != metav1.ConditionTrue || res.AttachedListenerSets != 1 {
		t.Fatalf("set Accepted %+v, %d attached; want accepted", sr.Accepted, res.AttachedListenerSets)
	}
	for name, want := range map[string]string{"first": "True/Accepted", "tcp": "False/ProtocolConflict", "last": "True/Accepted"} {
		c := setListenerCondition(t, sr.Listeners, name, gatewayv1.ListenerConditionAccepted)
		if got := string(c.Status) + "/" + c.Reason; got != want {
			t.Errorf("listener %s Accepted %s, want %s", name, got, want)
		}
	}
}
