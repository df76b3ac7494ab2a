package gateway

import (
	"fmt"
	"regexp"
	"strings"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// wildcards are the characters ALB condition values treat as wildcards.
const wildcards = "*?"

// httpMatch turns one HTTPRoute match into a rule's conditions.
func httpMatch(m gatewayv1.HTTPRouteMatch, field string) (candidate, error) {
	// No path matches every path: PathPrefix /, the CRD's default.
	c := candidate{pathKind: 1, pathLen: 1}
	var conds []model.Condition
	if p := m.Path; p != nil {
		value := "/"
		if p.Value != nil {
			value = *p.Value
		}
		typ := gatewayv1.PathMatchPathPrefix
		if p.Type != nil {
			typ = *p.Type
		}
		c.pathLen = len(value)
		switch typ {
		case gatewayv1.PathMatchExact:
			c.pathKind = 0
			if strings.ContainsAny(value, wildcards) {
				conds = append(conds, model.Condition{Field: "path-pattern", RegexValues: []string{"^" + regexp.QuoteMeta(value) + "$"}})
			} else {
				conds = append(conds, model.Condition{Field: "path-pattern", Values: []string{value}})
			}
		case gatewayv1.PathMatchPathPrefix:
			c.pathKind = 1
			prefix := strings.TrimSuffix(value, "/")
			switch {
			case prefix == "":
				// Every path: a condition only when there is no other.
			case strings.ContainsAny(prefix, wildcards):
				conds = append(conds, model.Condition{Field: "path-pattern", RegexValues: []string{"^" + regexp.QuoteMeta(prefix) + "(/.*)?$"}})
			default:
				conds = append(conds, model.Condition{Field: "path-pattern", Values: []string{prefix, prefix + "/*"}})
			}
		case gatewayv1.PathMatchRegularExpression:
			c.pathKind = 2
			if _, err := regexp.Compile(value); err != nil {
				return c, fmt.Errorf("%s.path.value: %v", field, err)
			}
			conds = append(conds, model.Condition{Field: "path-pattern", RegexValues: []string{value}})
		default:
			return c, fmt.Errorf("%s.path.type: %s is not supported", field, typ)
		}
	}
	if m.Method != nil {
		c.method = true
		conds = append(conds, model.Condition{Field: "http-request-method", Values: []string{string(*m.Method)}})
	}
	for i, h := range m.Headers {
		hc, err := headerCondition(string(h.Name), h.Value, h.Type != nil && *h.Type == gatewayv1.HeaderMatchRegularExpression, fmt.Sprintf("%s.headers[%d]", field, i))
		if err != nil {
			return c, err
		}
		conds = append(conds, hc)
	}
	c.headers = len(m.Headers)
	for i, q := range m.QueryParams {
		if q.Type != nil && *q.Type != gatewayv1.QueryParamMatchExact {
			return c, fmt.Errorf("%s.queryParams[%d].type: an application load balancer matches query parameters exactly, not by %s", field, i, *q.Type)
		}
		if strings.ContainsAny(string(q.Name)+q.Value, wildcards) {
			return c, fmt.Errorf("%s.queryParams[%d]: an application load balancer treats * and ? in query parameters as wildcards", field, i)
		}
		conds = append(conds, model.Condition{Field: "query-string", QueryPairs: []model.QueryPair{{Key: string(q.Name), Value: q.Value}}})
	}
	c.queries = len(m.QueryParams)
	if len(conds) == 0 {
		conds = append(conds, model.Condition{Field: "path-pattern", Values: []string{"/*"}})
	}
	c.rule.Conditions = conds
	return c, nil
}

// headerCondition is an http-header condition matching a value exactly
// (by regular expression when it holds ALB wildcards) or by regular
// expression.
func headerCondition(name, value string, regex bool, field string) (model.Condition, error) {
	switch {
	case regex:
		if _, err := regexp.Compile(value); err != nil {
			return model.Condition{}, fmt.Errorf("%s.value: %v", field, err)
		}
		return model.Condition{Field: "http-header", HeaderName: name, RegexValues: []string{value}}, nil
	case strings.ContainsAny(value, wildcards):
		return model.Condition{Field: "http-header", HeaderName: name, RegexValues: []string{"^" + regexp.QuoteMeta(value) + "$"}}, nil
	}
	return model.Condition{Field: "http-header", HeaderName: name, Values: []string{value}}, nil
}

// grpcMatch turns one GRPCRoute match into a rule's conditions: the method
// is the request path /<service>/<method>.
func grpcMatch(m gatewayv1.GRPCRouteMatch, field string) (candidate, error) {
	c := candidate{pathKind: 1, pathLen: 1}
	var conds []model.Condition
	if mm := m.Method; mm != nil {
		svc, method := "", ""
		if mm.Service != nil {
			svc = *mm.Service
		}
		if mm.Method != nil {
			method = *mm.Method
		}
		regex := mm.Type != nil && *mm.Type == gatewayv1.GRPCMethodMatchRegularExpression
		switch {
		case regex:
			s, me := svc, method
			if s == "" {
				s = "[^/]+"
			}
			if me == "" {
				me = "[^/]+"
			}
			expr := "^/" + s + "/" + me + "$"
			if _, err := regexp.Compile(expr); err != nil {
				return c, fmt.Errorf("%s.method: %v", field, err)
			}
			c.pathKind, c.pathLen = 2, len(expr)
			conds = append(conds, model.Condition{Field: "path-pattern", RegexValues: []string{expr}})
		case svc != "" && method != "":
			c.pathKind, c.pathLen = 0, len(svc)+len(method)+2
			conds = append(conds, model.Condition{Field: "path-pattern", Values: []string{"/" + svc + "/" + method}})
		case svc != "":
			c.pathKind, c.pathLen = 1, len(svc)+1
			conds = append(conds, model.Condition{Field: "path-pattern", Values: []string{"/" + svc + "/*"}})
		case method != "":
			c.pathKind, c.pathLen = 2, len(method)
			conds = append(conds, model.Condition{Field: "path-pattern", RegexValues: []string{"^/[^/]+/" + regexp.QuoteMeta(method) + "$"}})
		}
	}
	for i, h := range m.Headers {
		hc, err := headerCondition(string(h.Name), h.Value, h.Type != nil && *h.Type == gatewayv1.GRPCHeaderMatchRegularExpression, fmt.Sprintf("%s.headers[%d]", field, i))
		if err != nil {
			return c, err
		}
		conds = append(conds, hc)
	}
	c.headers = len(m.Headers)
	if len(conds) == 0 {
		conds = append(conds, model.Condition{Field: "path-pattern", Values: []string{"/*"}})
	}
	c.rule.Conditions = conds
	return c, nil
}
