package nodeproxy

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Node is one node the proxy works for.
type Node struct {
	Name string
	IP   netip.Addr
}

// Frontend is one listening socket and where its traffic goes.
type Frontend struct {
	// Listen is nodeIP:nodePort, or clusterIP:port.
	Listen   netip.AddrPort
	Protocol corev1.Protocol
	Service  types.NamespacedName
	PortName string
	// Node is the node a NodePort frontend belongs to; empty for cluster IPs.
	Node string
	// Local is externalTrafficPolicy: Local: only endpoints on Node, and the
	// client's address is kept as the connection's source.
	Local bool
	// Source is the address outgoing connections are bound to when the
	// client's address is not kept: the node's IP; invalid for cluster IPs
	// (the kernel chooses).
	Source netip.Addr
	// Backends are the endpoints to forward to, in a stable order.
	Backends []netip.AddrPort
}

// HealthCheck is a healthCheckNodePort listener of a Local service.
type HealthCheck struct {
	Listen         netip.AddrPort
	Service        types.NamespacedName
	LocalEndpoints int
}

// State is everything the proxies of all nodes serve.
type State struct {
	Frontends    []Frontend
	HealthChecks []HealthCheck
}

// endpoint is a ready (or serving, terminating) endpoint of one service port.
type endpoint struct {
	addr        netip.AddrPort
	node        string
	ready       bool
	serving     bool
	terminating bool
}

// Build computes what every node serves from Services and EndpointSlices, as
// kube-proxy would: every NodePort (types NodePort and LoadBalancer) on every
// node and every cluster IP port once. externalTrafficPolicy Cluster sends to
// any ready endpoint, Local only to the node's own; when no endpoint is ready,
// serving terminating ones are used instead.
func Build(nodes []Node, services []*corev1.Service, endpointSlices []*discoveryv1.EndpointSlice) State {
	bySvc := map[types.NamespacedName][]*discoveryv1.EndpointSlice{}
	for _, s := range endpointSlices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		key := types.NamespacedName{Namespace: s.Namespace, Name: name}
		bySvc[key] = append(bySvc[key], s)
	}
	var st State
	for _, svc := range services {
		key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		for _, sp := range svc.Spec.Ports {
			proto := cmp.Or(sp.Protocol, corev1.ProtocolTCP)
			if proto != corev1.ProtocolTCP && proto != corev1.ProtocolUDP {
				continue
			}
			eps := serviceEndpoints(bySvc[key], sp.Name, proto)
			if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && sp.Port > 0 {
				st.Frontends = append(st.Frontends, Frontend{
					Listen: netip.AddrPortFrom(ip, uint16(sp.Port)), Protocol: proto,
					Service: key, PortName: sp.Name, Backends: chooseBackends(eps, ""),
				})
			}
			if sp.NodePort == 0 || (svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer) {
				continue
			}
			for _, n := range nodes {
				f := Frontend{
					Listen: netip.AddrPortFrom(n.IP, uint16(sp.NodePort)), Protocol: proto,
					Service: key, PortName: sp.Name, Node: n.Name, Local: local, Source: n.IP,
				}
				if local {
					f.Backends = chooseBackends(eps, n.Name)
				} else {
					f.Backends = chooseBackends(eps, "")
				}
				st.Frontends = append(st.Frontends, f)
			}
		}
		if local && svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.HealthCheckNodePort != 0 {
			for _, n := range nodes {
				st.HealthChecks = append(st.HealthChecks, HealthCheck{
					Listen:         netip.AddrPortFrom(n.IP, uint16(svc.Spec.HealthCheckNodePort)),
					Service:        key,
					LocalEndpoints: localReady(bySvc[key], n.Name),
				})
			}
		}
	}
	slicesSortFrontends(st.Frontends)
	slices.SortFunc(st.HealthChecks, func(a, b HealthCheck) int { return a.Listen.Compare(b.Listen) })
	return st
}

func slicesSortFrontends(fs []Frontend) {
	slices.SortFunc(fs, func(a, b Frontend) int {
		return cmp.Or(a.Listen.Compare(b.Listen), cmp.Compare(a.Protocol, b.Protocol))
	})
}

// serviceEndpoints collects the endpoints of one service port from its
// slices, matched by port name and protocol.
func serviceEndpoints(endpointSlices []*discoveryv1.EndpointSlice, portName string, proto corev1.Protocol) []endpoint {
	var eps []endpoint
	for _, s := range endpointSlices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		var port int32
		for _, p := range s.Ports {
			if p.Port != nil && derefString(p.Name) == portName && cmp.Or(derefProto(p.Protocol), corev1.ProtocolTCP) == proto {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			ip, err := netip.ParseAddr(e.Addresses[0])
			if err != nil {
				continue
			}
			ep := endpoint{
				addr:        netip.AddrPortFrom(ip, uint16(port)),
				node:        derefString(e.NodeName),
				ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
				terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
			}
			ep.serving = ep.ready || (e.Conditions.Serving != nil && *e.Conditions.Serving)
			eps = append(eps, ep)
		}
	}
	return eps
}

// chooseBackends returns the ready endpoints (on node, unless node is
// empty), or when there are none the serving terminating ones, sorted and
// without duplicates.
func chooseBackends(eps []endpoint, node string) []netip.AddrPort {
	pick := func(ok func(endpoint) bool) []netip.AddrPort {
		var out []netip.AddrPort
		for _, e := range eps {
			if (node == "" || e.node == node) && ok(e) {
				out = append(out, e.addr)
			}
		}
		slices.SortFunc(out, netip.AddrPort.Compare)
		return slices.Compact(out)
	}
	if ready := pick(func(e endpoint) bool { return e.ready }); len(ready) > 0 {
		return ready
	}
	return pick(func(e endpoint) bool { return e.serving && e.terminating })
}

// localReady counts the ready endpoints on node across all ports, by address.
func localReady(endpointSlices []*discoveryv1.EndpointSlice, node string) int {
	seen := map[string]bool{}
	for _, s := range endpointSlices {
		for _, e := range s.Endpoints {
			if derefString(e.NodeName) == node && len(e.Addresses) > 0 && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				seen[e.Addresses[0]] = true
			}
		}
	}
	return len(seen)
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefProto(p *corev1.Protocol) corev1.Protocol {
	if p == nil {
		return ""
	}
	return *p
}
