package gateway

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// sortedRoutes orders routes as the specification breaks ties between
// them: oldest first, then by namespace/name; kinds keep HTTP before gRPC.
func sortedRoutes(routes []Route) []Route {
	out := slices.Clone(routes)
	slices.SortStableFunc(out, func(a, b Route) int {
		ta, tb := a.Object().GetCreationTimestamp(), b.Object().GetCreationTimestamp()
		if !ta.Equal(&tb) {
			if ta.Before(&tb) {
				return -1
			}
			return 1
		}
		ka, kb := a.Key(), b.Key()
		return cmp.Or(cmp.Compare(ka.Namespace, kb.Namespace), cmp.Compare(ka.Name, kb.Name), cmp.Compare(ka.Kind, kb.Kind))
	})
	return out
}

// binding is the TargetGroupBinding of a Gateway's target group: ip
// targets of a Service port, in the Service's namespace.
func binding(name, namespace, service string, port gatewayv1.PortNumber, resourceID string, gw *gatewayv1.Gateway) model.TargetGroupBinding {
	tt := elbv2api.TargetTypeIP
	ipType := elbv2api.TargetGroupIPAddressTypeIPv4
	return model.TargetGroupBinding{
		Name:        name,
		Namespace:   namespace,
		Labels:      map[string]string{LabelStackNamespace: gw.Namespace, LabelStackName: gw.Name},
		TargetGroup: resourceID,
		Spec: elbv2api.TargetGroupBindingSpec{
			TargetType:    &tt,
			ServiceRef:    elbv2api.ServiceReference{Name: service, Port: intstr.FromInt32(int32(port))},
			IPAddressType: &ipType,
		},
	}
}

// candidate is one ALB rule in the making: one match of one route rule
// on one hostname, with what orders it.
type candidate struct {
	rule model.Rule
	// precedence keys, most significant first.
	exactHost  bool
	hostLen    int
	pathKind   int // 0 Exact, 1 PathPrefix, 2 RegularExpression
	pathLen    int
	method     bool
	headers    int
	queries    int
	routeIndex int
	ruleIndex  int
	matchIndex int
}

// buildApplication adds an application load balancer's listeners, one per
// port of the valid listeners, with the rules of their routes.
func (b *builder) buildApplication(listeners []*listenerState, routes map[gatewayv1.SectionName][]routeOnListener) {
	ports := []gatewayv1.PortNumber{}
	byPort := map[gatewayv1.PortNumber][]*listenerState{}
	for _, l := range listeners {
		if !l.Valid {
			continue
		}
		if byPort[l.Port] == nil {
			ports = append(ports, l.Port)
		}
		byPort[l.Port] = append(byPort[l.Port], l)
	}
	slices.Sort(ports)
	// The rules of each route rule are built once per route and reused
	// on every listener (and hostname) it is attached to.
	routeIndex := map[RouteKey]int{}
	for _, rs := range routes {
		for _, r := range rs {
			if _, ok := routeIndex[r.route.Key()]; !ok {
				routeIndex[r.route.Key()] = len(routeIndex)
			}
		}
	}
	built := map[RouteKey][]candidate{}
	for _, port := range ports {
		ls := byPort[port]
		ml := model.Listener{
			Port:     int32(port),
			Protocol: string(ls[0].Protocol),
			DefaultAction: model.Action{Type: model.ActionFixedResponse,
				FixedResponse: &model.FixedResponseAction{StatusCode: "404", ContentType: "text/plain"}},
			Tags: b.tags(""),
		}
		if ml.Protocol == "HTTPS" {
			ml.SSLPolicy = b.opts.DefaultSSLPolicy
			seen := map[string]bool{}
			for _, l := range ls {
				for _, c := range l.Certificates {
					if !seen[c] {
						seen[c] = true
						ml.Certificates = append(ml.Certificates, model.Certificate{Secret: c})
					}
				}
			}
		}
		var cands []candidate
		for _, l := range ls {
			for _, rl := range routes[l.Name] {
				k := rl.route.Key()
				base, ok := built[k]
				if !ok {
					base = b.routeCandidates(rl.route, routeIndex[k])
					built[k] = base
				}
				if _, refused := b.refusals[k]; refused {
					continue
				}
				cands = append(cands, withHostnames(base, rl.hostnames)...)
			}
		}
		slices.SortStableFunc(cands, comparePrecedence)
		for i, c := range cands {
			c.rule.Priority = int32(i + 1)
			ml.Rules = append(ml.Rules, c.rule)
		}
		b.stack.Listeners = append(b.stack.Listeners, ml)
	}
}

func comparePrecedence(a, b candidate) int {
	bool2 := func(x bool) int {
		if x {
			return 1
		}
		return 0
	}
	return cmp.Or(
		-cmp.Compare(bool2(a.exactHost), bool2(b.exactHost)),
		-cmp.Compare(a.hostLen, b.hostLen),
		cmp.Compare(a.pathKind, b.pathKind),
		-cmp.Compare(a.pathLen, b.pathLen),
		-cmp.Compare(bool2(a.method), bool2(b.method)),
		-cmp.Compare(a.headers, b.headers),
		-cmp.Compare(a.queries, b.queries),
		cmp.Compare(a.routeIndex, b.routeIndex),
		cmp.Compare(a.ruleIndex, b.ruleIndex),
		cmp.Compare(a.matchIndex, b.matchIndex),
	)
}

// withHostnames copies a route's candidates once per hostname it serves on
// a listener, each with a host-header condition (none for any host).
func withHostnames(base []candidate, hostnames []string) []candidate {
	if hostnames == nil {
		return slices.Clone(base)
	}
	out := make([]candidate, 0, len(base)*len(hostnames))
	for _, h := range hostnames {
		for _, c := range base {
			c.exactHost = !strings.HasPrefix(h, "*")
			c.hostLen = len(h)
			c.rule.Conditions = append([]model.Condition{{Field: "host-header", Values: []string{h}}}, c.rule.Conditions...)
			out = append(out, c)
		}
	}
	return out
}

// routeCandidates builds the rules of an HTTPRoute or GRPCRoute, without
// host conditions; a route with something kelb cannot serve is refused.
func (b *builder) routeCandidates(r Route, routeIndex int) []candidate {
	var out []candidate
	k := r.Key()
	switch {
	case r.HTTP != nil:
		for ri, rule := range r.HTTP.Spec.Rules {
			field := fmt.Sprintf("spec.rules[%d]", ri)
			action, transforms, err := b.httpAction(r, rule, field)
			if err != nil {
				b.refuse(k, "%v", err)
				return nil
			}
			rc, err := b.ruleConfigFor(r, httpExtensionRefs(rule.Filters, field), action.Type == model.ActionRedirect)
			if err != nil {
				b.refuse(k, "%v", err)
				return nil
			}
			matches := rule.Matches
			if len(matches) == 0 {
				matches = []gatewayv1.HTTPRouteMatch{{}}
			}
			for mi, m := range matches {
				c, err := httpMatch(m, fmt.Sprintf("%s.matches[%d]", field, mi))
				if err != nil {
					b.refuse(k, "%v", err)
					return nil
				}
				c.rule.Action, c.rule.Transforms = action, transformsFor(transforms, m)
				c.rule = rc.apply(c.rule, mi)
				c.routeIndex, c.ruleIndex, c.matchIndex = routeIndex, ri, mi
				out = append(out, c)
			}
		}
	case r.GRPC != nil:
		for ri, rule := range r.GRPC.Spec.Rules {
			field := fmt.Sprintf("spec.rules[%d]", ri)
			for i, f := range rule.Filters {
				if f.Type != gatewayv1.GRPCRouteFilterExtensionRef {
					b.refuse(k, "%s.filters[%d]: %s filters are not supported by an application load balancer", field, i, f.Type)
					return nil
				}
			}
			rc, err := b.ruleConfigFor(r, grpcExtensionRefs(rule.Filters, field), false)
			if err != nil {
				b.refuse(k, "%v", err)
				return nil
			}
			var refs []gatewayv1.BackendRef
			for i, br := range rule.BackendRefs {
				if len(br.Filters) > 0 {
					b.refuse(k, "%s.backendRefs[%d].filters: backend filters are not supported by an application load balancer", field, i)
					return nil
				}
				refs = append(refs, br.BackendRef)
			}
			action, err := b.forward(r, refs, "HTTP", "GRPC", field)
			if err != nil {
				b.refuse(k, "%v", err)
				return nil
			}
			matches := rule.Matches
			if len(matches) == 0 {
				matches = []gatewayv1.GRPCRouteMatch{{}}
			}
			for mi, m := range matches {
				c, err := grpcMatch(m, fmt.Sprintf("%s.matches[%d]", field, mi))
				if err != nil {
					b.refuse(k, "%v", err)
					return nil
				}
				c.rule.Action = action
				c.rule = rc.apply(c.rule, mi)
				c.routeIndex, c.ruleIndex, c.matchIndex = routeIndex, ri, mi
				out = append(out, c)
			}
		}
	}
	return out
}

// forward is the action of a rule's backendRefs: forward to their target
// groups by weight (scaled into the ALB's 0-999), or a 500 fixed response
// when none resolves or every weight is 0, as the specification asks.
func (b *builder) forward(r Route, refs []gatewayv1.BackendRef, protocol, version, field string) (model.Action, error) {
	fail := model.Action{Type: model.ActionFixedResponse, FixedResponse: &model.FixedResponseAction{StatusCode: "500", ContentType: "text/plain"}}
	var tgs []model.WeightedTargetGroup
	var max int32
	for _, ref := range refs {
		w := int32(1)
		if ref.Weight != nil {
			w = *ref.Weight
		}
		id, ok := b.backend(r, ref.BackendObjectReference, protocol, version)
		if !ok || w == 0 {
			continue
		}
		tgs = append(tgs, model.WeightedTargetGroup{TargetGroup: id, Weight: w})
		max = maxInt32(max, w)
	}
	if len(tgs) == 0 {
		return fail, nil
	}
	if len(tgs) > 5 {
		return model.Action{}, fmt.Errorf("%s.backendRefs: an application load balancer forwards to at most 5 target groups, not %d", field, len(tgs))
	}
	if max > 999 {
		for i := range tgs {
			tgs[i].Weight = maxInt32(1, int32(int64(tgs[i].Weight)*999/int64(max)))
		}
	}
	return model.Action{Type: model.ActionForward, Forward: &model.ForwardAction{TargetGroups: tgs}}, nil
}

func maxInt32(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}

// pendingTransform is a URL rewrite waiting for the match it applies to
// (a prefix replacement depends on the matched prefix).
type pendingTransform struct {
	host        string
	fullPath    *string
	prefixMatch *string
	// Request headers to set, add and remove (kelb's header transforms:
	// Regex is the name, Replace the value).
	set, add, remove []model.Rewrite
}

// httpAction turns an HTTPRoute rule's filters and backendRefs into the
// rule's action and rewrites. What an application load balancer cannot do
// is an error naming the field.
func (b *builder) httpAction(r Route, rule gatewayv1.HTTPRouteRule, field string) (model.Action, *pendingTransform, error) {
	var redirect *gatewayv1.HTTPRequestRedirectFilter
	var redirectField string
	var pt *pendingTransform
	for i, f := range rule.Filters {
		ff := fmt.Sprintf("%s.filters[%d]", field, i)
		switch f.Type {
		case gatewayv1.HTTPRouteFilterRequestRedirect:
			redirect, redirectField = f.RequestRedirect, ff+".requestRedirect"
		case gatewayv1.HTTPRouteFilterURLRewrite:
			if f.URLRewrite == nil {
				return model.Action{}, nil, fmt.Errorf("%s.urlRewrite is required", ff)
			}
			if pt == nil {
				pt = &pendingTransform{}
			}
			if f.URLRewrite.Hostname != nil {
				pt.host = string(*f.URLRewrite.Hostname)
			}
			if p := f.URLRewrite.Path; p != nil {
				pt.fullPath, pt.prefixMatch = p.ReplaceFullPath, p.ReplacePrefixMatch
			}
		case gatewayv1.HTTPRouteFilterExtensionRef:
			// A ListenerRuleConfiguration (ruleconfig.go).
		case gatewayv1.HTTPRouteFilterRequestHeaderModifier:
			// The Host header is an ALB host-header-rewrite; other
			// headers are kelb's request header transforms.
			m := f.RequestHeaderModifier
			if m == nil {
				return model.Action{}, nil, fmt.Errorf("%s.requestHeaderModifier is required", ff)
			}
			if pt == nil {
				pt = &pendingTransform{}
			}
			for _, name := range m.Remove {
				if strings.EqualFold(name, "Host") {
					return model.Action{}, nil, fmt.Errorf("%s.requestHeaderModifier.remove: the Host header cannot be removed", ff)
				}
				pt.remove = append(pt.remove, model.Rewrite{Regex: name})
			}
			for _, op := range []struct {
				headers []gatewayv1.HTTPHeader
				into    *[]model.Rewrite
			}{{m.Set, &pt.set}, {m.Add, &pt.add}} {
				for _, h := range op.headers {
					if strings.EqualFold(string(h.Name), "Host") {
						pt.host = h.Value
						continue
					}
					*op.into = append(*op.into, model.Rewrite{Regex: string(h.Name), Replace: h.Value})
				}
			}
		default:
			return model.Action{}, nil, fmt.Errorf("%s: filter %s is not supported by an application load balancer", ff, f.Type)
		}
	}
	if redirect != nil {
		a, err := redirectAction(redirect, redirectField)
		if p := redirect.Path; err == nil && p != nil && p.ReplacePrefixMatch != nil {
			// The rule's url-rewrite replaces the matched prefix, and
			// the redirect's path (#{path}) is the rewritten one.
			if pt == nil {
				pt = &pendingTransform{}
			}
			pt.fullPath, pt.prefixMatch = nil, p.ReplacePrefixMatch
		}
		return a, pt, err
	}
	var refs []gatewayv1.BackendRef
	for i, br := range rule.BackendRefs {
		if len(br.Filters) > 0 {
			return model.Action{}, nil, fmt.Errorf("%s.backendRefs[%d].filters: backend filters are not supported by an application load balancer", field, i)
		}
		refs = append(refs, br.BackendRef)
	}
	a, err := b.forward(r, refs, "HTTP", "HTTP1", field)
	return a, pt, err
}

// redirectAction is a RequestRedirect filter as an ALB redirect: 301 or
// 302 (an ALB has no other), the scheme, host, port and full path (a
// prefix replacement is a url-rewrite transform of the rule); field
// is the filter's requestRedirect ("spec.rules[0].filters[1].requestRedirect").
func redirectAction(f *gatewayv1.HTTPRequestRedirectFilter, field string) (model.Action, error) {
	rd := &model.RedirectAction{StatusCode: "HTTP_302"}
	if f.StatusCode != nil {
		switch *f.StatusCode {
		case 301, 302:
			rd.StatusCode = "HTTP_" + strconv.Itoa(*f.StatusCode)
		default:
			return model.Action{}, fmt.Errorf("%s.statusCode: an application load balancer redirects with 301 or 302, not %d", field, *f.StatusCode)
		}
	}
	if f.Scheme != nil {
		switch s := strings.ToUpper(*f.Scheme); s {
		case "HTTP", "HTTPS":
			rd.Protocol = s
			rd.Port = map[string]string{"HTTP": "80", "HTTPS": "443"}[s]
		default:
			return model.Action{}, fmt.Errorf("%s.scheme: %q is not http or https", field, *f.Scheme)
		}
	}
	if f.Hostname != nil {
		rd.Host = string(*f.Hostname)
	}
	if f.Port != nil {
		rd.Port = strconv.Itoa(int(*f.Port))
	}
	if p := f.Path; p != nil {
		switch {
		case p.ReplaceFullPath != nil:
			rd.Path = *p.ReplaceFullPath
		case p.ReplacePrefixMatch != nil:
			// The redirect keeps the request's path (/#{path}), which
			// the rule's url-rewrite transform has changed (httpAction).
		}
	}
	return model.Action{Type: model.ActionRedirect, Redirect: rd}, nil
}

// transformsFor turns a rule's rewrite into ALB transforms for one of its
// matches: the host replaced whole, the path replaced whole or its
// matched prefix replaced (keeping the rest, and one slash), and kelb's
// request header transforms.
func transformsFor(pt *pendingTransform, m gatewayv1.HTTPRouteMatch) []model.Transform {
	if pt == nil {
		return nil
	}
	var out []model.Transform
	if pt.host != "" {
		out = append(out, model.Transform{Type: "host-header-rewrite", Rewrites: []model.Rewrite{{Regex: "^.*$", Replace: pt.host}}})
	}
	switch {
	case pt.fullPath != nil:
		out = append(out, model.Transform{Type: "url-rewrite", Rewrites: []model.Rewrite{{Regex: "^[^?]*", Replace: *pt.fullPath}}})
	case pt.prefixMatch != nil:
		prefix := "/"
		if m.Path != nil && m.Path.Value != nil {
			prefix = *m.Path.Value
		}
		prefix = strings.TrimSuffix(prefix, "/")
		repl := strings.TrimSuffix(*pt.prefixMatch, "/")
		if repl == "" {
			out = append(out, model.Transform{Type: "url-rewrite", Rewrites: []model.Rewrite{{Regex: "^" + regexp.QuoteMeta(prefix) + "/?([^?]*)", Replace: "/$1"}}})
		} else {
			out = append(out, model.Transform{Type: "url-rewrite", Rewrites: []model.Rewrite{{Regex: "^" + regexp.QuoteMeta(prefix) + "(/[^?]*)?", Replace: repl + "$1"}}})
		}
	}
	for _, h := range []struct {
		typ      string
		rewrites []model.Rewrite
	}{{model.TransformRequestHeaderSet, pt.set}, {model.TransformRequestHeaderAdd, pt.add}, {model.TransformRequestHeaderRemove, pt.remove}} {
		if len(h.rewrites) > 0 {
			out = append(out, model.Transform{Type: h.typ, Rewrites: h.rewrites})
		}
	}
	return out
}
