package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// buildNetwork adds a network load balancer's listeners: one per valid
// Gateway listener that has a route (whose backend, when it does not
// resolve, is a target group without targets: connections are reset). A network
// load balancer's listener forwards to one target group, so the oldest
// route attached to a listener serves it with its one backendRef; later
// routes, and a route with more backends, are refused (UnsupportedValue).
// TLS listeners terminate TLS (TLS listener with the certificates) or pass
// it through (TCP listener).
func (b *builder) buildNetwork(listeners []*listenerState, routes map[gatewayv1.SectionName][]routeOnListener) {
	for _, l := range listeners {
		if !l.Valid {
			continue
		}
		ml := model.Listener{Port: int32(l.Port), Protocol: string(l.Protocol), Tags: b.tags("")}
		tgProtocol := "TCP"
		switch l.Protocol {
		case gatewayv1.UDPProtocolType:
			tgProtocol = "UDP"
		case gatewayv1.TLSProtocolType:
			if len(l.Certificates) == 0 {
				ml.Protocol = "TCP" // Passthrough
			} else {
				ml.SSLPolicy = b.opts.DefaultSSLPolicy
				for _, c := range l.Certificates {
					ml.Certificates = append(ml.Certificates, model.Certificate{Secret: c})
				}
			}
		}
		var tg string
		served := false
		for _, rl := range routes[l.Name] {
			k := rl.route.Key()
			if _, refused := b.refusals[k]; refused {
				continue
			}
			refs := l4BackendRefs(rl.route)
			if served {
				b.refuse(k, "listener %s already forwards to another route's backend: a network load balancer listener forwards to one target group", l.Name)
				continue
			}
			if len(refs) != 1 {
				b.refuse(k, "spec.rules: a network load balancer listener forwards to one target group: give the route one rule with one backendRef, not %d", len(refs))
				continue
			}
			served = true
			if id, ok := b.backend(rl.route, refs[0].BackendObjectReference, tgProtocol, ""); ok {
				tg = id
			}
		}
		if !served {
			continue
		}
		if tg == "" {
			// The route's backend does not resolve: the listener
			// forwards to a target group without targets, which resets
			// every connection, as the specification asks.
			tg = b.emptyTargetGroup(l.Port, tgProtocol)
		}
		ml.DefaultAction = model.NetworkForward(tg)
		b.stack.Listeners = append(b.stack.Listeners, ml)
	}
}

// emptyTargetGroup adds (once per port and protocol) a target group that
// never has targets, for a listener whose route's backend does not
// resolve, and returns its ResourceID.
func (b *builder) emptyTargetGroup(port gatewayv1.PortNumber, protocol string) string {
	id := fmt.Sprintf("unresolved:%d/%s", port, protocol)
	if b.stack.TargetGroup(id) != nil {
		return id
	}
	h := sha256.New()
	for _, s := range []string{b.opts.ClusterName, string(b.in.Gateway.UID), id} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	b.stack.TargetGroups = append(b.stack.TargetGroups, model.TargetGroup{
		ResourceID:    id,
		Name:          model.GeneratedName(b.in.Gateway.Namespace, "unresolved", hex.EncodeToString(h.Sum(nil))),
		Protocol:      protocol,
		Port:          int32(port),
		TargetType:    "ip",
		IPAddressType: "ipv4",
		HealthCheck:   healthCheck(protocol, ""),
		Tags:          b.tags(id),
	})
	return id
}

// l4BackendRefs are the backendRefs of every rule of a TCP, UDP or TLS
// route.
func l4BackendRefs(r Route) []gatewayv1.BackendRef {
	var out []gatewayv1.BackendRef
	switch {
	case r.TCP != nil:
		for _, rule := range r.TCP.Spec.Rules {
			out = append(out, rule.BackendRefs...)
		}
	case r.UDP != nil:
		for _, rule := range r.UDP.Spec.Rules {
			out = append(out, rule.BackendRefs...)
		}
	case r.TLS != nil:
		for _, rule := range r.TLS.Spec.Rules {
			out = append(out, rule.BackendRefs...)
		}
	}
	return out
}
