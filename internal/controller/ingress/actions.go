package ingress

import (
	"fmt"
	"net/netip"
	"strconv"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// UseAnnotation is the backend service port name that points a path at the
// actions.<service name> annotation instead of a Service.
const UseAnnotation = "use-annotation"

// actionJSON is an actions.<name> annotation, in the AWS Load Balancer
// Controller's format.
type actionJSON struct {
	Type                string                   `json:"type"`
	TargetGroupARN      *string                  `json:"targetGroupARN,omitempty"`
	TargetGroupName     *string                  `json:"targetGroupName,omitempty"`
	FixedResponseConfig *fixedResponseConfigJSON `json:"fixedResponseConfig,omitempty"`
	RedirectConfig      *redirectConfigJSON      `json:"redirectConfig,omitempty"`
	ForwardConfig       *forwardConfigJSON       `json:"forwardConfig,omitempty"`
}

type fixedResponseConfigJSON struct {
	ContentType *string `json:"contentType,omitempty"`
	MessageBody *string `json:"messageBody,omitempty"`
	StatusCode  string  `json:"statusCode"`
}

type redirectConfigJSON struct {
	Host       *string `json:"host,omitempty"`
	Path       *string `json:"path,omitempty"`
	Port       *string `json:"port,omitempty"`
	Protocol   *string `json:"protocol,omitempty"`
	Query      *string `json:"query,omitempty"`
	StatusCode string  `json:"statusCode"`
}

type targetGroupTupleJSON struct {
	TargetGroupARN  *string             `json:"targetGroupARN,omitempty"`
	TargetGroupName *string             `json:"targetGroupName,omitempty"`
	ServiceName     *string             `json:"serviceName,omitempty"`
	ServicePort     *intstr.IntOrString `json:"servicePort,omitempty"`
	Weight          *int32              `json:"weight,omitempty"`
}

type stickinessJSON struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	DurationSeconds *int32 `json:"durationSeconds,omitempty"`
}

type forwardConfigJSON struct {
	TargetGroups                []targetGroupTupleJSON `json:"targetGroups"`
	TargetGroupStickinessConfig *stickinessJSON        `json:"targetGroupStickinessConfig,omitempty"`
}

// conditionJSON is one element of a conditions.<name> annotation.
type conditionJSON struct {
	Field                   string           `json:"field"`
	HostHeaderConfig        *valuesJSON      `json:"hostHeaderConfig,omitempty"`
	HTTPHeaderConfig        *httpHeaderJSON  `json:"httpHeaderConfig,omitempty"`
	HTTPRequestMethodConfig *valuesJSON      `json:"httpRequestMethodConfig,omitempty"`
	PathPatternConfig       *valuesJSON      `json:"pathPatternConfig,omitempty"`
	QueryStringConfig       *queryStringJSON `json:"queryStringConfig,omitempty"`
	SourceIPConfig          *valuesJSON      `json:"sourceIpConfig,omitempty"`
	Values                  []string         `json:"values,omitempty"`
}

type valuesJSON struct {
	Values      []string `json:"values"`
	RegexValues []string `json:"regexValues,omitempty"`
}

type httpHeaderJSON struct {
	HTTPHeaderName string   `json:"httpHeaderName"`
	Values         []string `json:"values"`
	RegexValues    []string `json:"regexValues,omitempty"`
}

type queryStringJSON struct {
	Values []queryPairJSON `json:"values"`
}

type queryPairJSON struct {
	Key   *string `json:"key,omitempty"`
	Value string  `json:"value"`
}

// serviceBackend is a Service port an action forwards to.
type serviceBackend struct {
	Name string
	Port intstr.IntOrString
}

// parsedAction is an action annotation with its Service backends not yet
// resolved to target groups: a forward's WeightedTargetGroup.TargetGroup is
// the index into services, as a string, until the builder resolves it.
type parsedAction struct {
	action   Action
	services []serviceBackend
}

// parseAction reads the actions.<name> annotation.
func parseAction(ann annotations, name string) (parsedAction, error) {
	key := AnnotationActionsPrefix + name
	var a actionJSON
	found, err := ann.JSON(key, &a)
	if err != nil {
		return parsedAction{}, err
	}
	if !found {
		return parsedAction{}, &AnnotationError{Key: key, Reason: fmt.Sprintf("a backend uses port %q but the annotation is missing", UseAnnotation)}
	}
	fail := func(reason string) error { return ann.Fail(key, reason) }
	switch a.Type {
	case ActionFixedResponse:
		c := a.FixedResponseConfig
		if c == nil {
			return parsedAction{}, fail("a fixed-response action needs fixedResponseConfig")
		}
		if n, err := strconv.Atoi(c.StatusCode); err != nil || n < 200 || n > 599 {
			return parsedAction{}, fail("fixedResponseConfig.statusCode must be a code from 200 to 599")
		}
		out := &FixedResponseAction{StatusCode: c.StatusCode, ContentType: deref(c.ContentType), MessageBody: deref(c.MessageBody)}
		switch out.ContentType {
		case "", "text/plain", "text/css", "text/html", "application/javascript", "application/json":
		default:
			return parsedAction{}, fail("fixedResponseConfig.contentType must be text/plain, text/css, text/html, application/javascript or application/json")
		}
		if len(out.MessageBody) > 1024 {
			return parsedAction{}, fail("fixedResponseConfig.messageBody is longer than 1024 bytes")
		}
		return parsedAction{action: Action{Type: ActionFixedResponse, FixedResponse: out}}, nil
	case ActionRedirect:
		c := a.RedirectConfig
		if c == nil {
			return parsedAction{}, fail("a redirect action needs redirectConfig")
		}
		if c.StatusCode != "HTTP_301" && c.StatusCode != "HTTP_302" {
			return parsedAction{}, fail("redirectConfig.statusCode must be HTTP_301 or HTTP_302")
		}
		out := &RedirectAction{Protocol: deref(c.Protocol), Port: deref(c.Port), Host: deref(c.Host), Path: deref(c.Path), Query: deref(c.Query), StatusCode: c.StatusCode}
		switch out.Protocol {
		case "", "HTTP", "HTTPS", "#{protocol}":
		default:
			return parsedAction{}, fail("redirectConfig.protocol must be HTTP, HTTPS or #{protocol}")
		}
		if out.Port != "" && out.Port != "#{port}" {
			if n, err := strconv.Atoi(out.Port); err != nil || n < 1 || n > 65535 {
				return parsedAction{}, fail("redirectConfig.port must be a port number or #{port}")
			}
		}
		if out.Path != "" && out.Path[0] != '/' {
			return parsedAction{}, fail(`redirectConfig.path must start with "/"`)
		}
		return parsedAction{action: Action{Type: ActionRedirect, Redirect: out}}, nil
	case ActionForward:
		var tuples []targetGroupTupleJSON
		var stickiness int32
		switch {
		case (a.TargetGroupARN != nil || a.TargetGroupName != nil) && a.ForwardConfig != nil:
			return parsedAction{}, fail("targetGroupARN or targetGroupName and forwardConfig cannot both be set")
		case a.TargetGroupARN != nil && a.TargetGroupName != nil:
			return parsedAction{}, fail("targetGroupARN and targetGroupName cannot both be set")
		case a.TargetGroupARN != nil:
			tuples = []targetGroupTupleJSON{{TargetGroupARN: a.TargetGroupARN}}
		case a.TargetGroupName != nil:
			tuples = []targetGroupTupleJSON{{TargetGroupName: a.TargetGroupName}}
		case a.ForwardConfig != nil:
			tuples = a.ForwardConfig.TargetGroups
			if s := a.ForwardConfig.TargetGroupStickinessConfig; s != nil && s.Enabled != nil && *s.Enabled {
				stickiness = 3600
				if s.DurationSeconds != nil {
					stickiness = *s.DurationSeconds
				}
				if stickiness < 1 || stickiness > 604800 {
					return parsedAction{}, fail("targetGroupStickinessConfig.durationSeconds must be from 1 to 604800")
				}
			}
		default:
			return parsedAction{}, fail("a forward action needs targetGroupARN, targetGroupName or forwardConfig")
		}
		if len(tuples) == 0 || len(tuples) > 5 {
			return parsedAction{}, fail("a forward action needs 1 to 5 target groups")
		}
		out := parsedAction{action: Action{Type: ActionForward, Forward: &ForwardAction{StickinessSeconds: stickiness}}}
		for _, t := range tuples {
			w := WeightedTargetGroup{Weight: 1}
			if t.Weight != nil {
				if *t.Weight < 0 || *t.Weight > 999 {
					return parsedAction{}, fail("target group weights must be from 0 to 999")
				}
				w.Weight = *t.Weight
			}
			switch {
			case t.TargetGroupARN != nil && t.ServiceName == nil && t.TargetGroupName == nil:
				w.ARN = *t.TargetGroupARN
			case t.ServiceName != nil && t.TargetGroupARN == nil && t.TargetGroupName == nil:
				if t.ServicePort == nil {
					return parsedAction{}, fail(fmt.Sprintf("serviceName %q needs a servicePort", *t.ServiceName))
				}
				// "80" names port 80, as in the AWS Load Balancer
				// Controller's documented examples.
				port := intstr.Parse(t.ServicePort.String())
				w.TargetGroup = strconv.Itoa(len(out.services))
				out.services = append(out.services, serviceBackend{Name: *t.ServiceName, Port: port})
			case t.TargetGroupName != nil && t.TargetGroupARN == nil && t.ServiceName == nil:
				if !validTargetGroupName(*t.TargetGroupName) {
					return parsedAction{}, fail(fmt.Sprintf("targetGroupName %q is not a target group name (1 to 32 letters, digits and hyphens)", *t.TargetGroupName))
				}
				w.Name = *t.TargetGroupName
			default:
				return parsedAction{}, fail("each target group needs exactly one of targetGroupARN, targetGroupName or serviceName and servicePort")
			}
			out.action.Forward.TargetGroups = append(out.action.Forward.TargetGroups, w)
		}
		return out, nil
	case actionAuthenticateOIDC, actionAuthenticateCognito, actionJWTValidation:
		return parsedAction{}, refuseActionType(ann, key, a.Type)
	}
	return parsedAction{}, fail("type must be forward, redirect or fixed-response")
}

// parseConditions reads the conditions.<name> annotation; absent, it is no
// condition.
func parseConditions(ann annotations, name string) ([]Condition, error) {
	key := AnnotationConditionsPrefix + name
	var cs []conditionJSON
	found, err := ann.JSON(key, &cs)
	if err != nil || !found {
		return nil, err
	}
	var out []Condition
	for i, c := range cs {
		fail := func(reason string) error {
			return ann.Fail(key, fmt.Sprintf("condition %d (%s): %s", i+1, c.Field, reason))
		}
		var values *valuesJSON
		switch c.Field {
		case "host-header":
			values = c.HostHeaderConfig
		case "path-pattern":
			values = c.PathPatternConfig
		case "http-request-method":
			values = c.HTTPRequestMethodConfig
		case "source-ip":
			values = c.SourceIPConfig
		case "http-header":
			h := c.HTTPHeaderConfig
			if h == nil || h.HTTPHeaderName == "" {
				return nil, fail("httpHeaderConfig needs httpHeaderName and values or regexValues")
			}
			if err := checkValuesOrRegex(h.Values, h.RegexValues); err != nil {
				return nil, fail("httpHeaderConfig: " + err.Error())
			}
			out = append(out, Condition{Field: c.Field, HeaderName: h.HTTPHeaderName, Values: h.Values, RegexValues: h.RegexValues})
			continue
		case "query-string":
			q := c.QueryStringConfig
			if q == nil || len(q.Values) == 0 {
				return nil, fail("queryStringConfig needs values")
			}
			cond := Condition{Field: c.Field}
			for _, kv := range q.Values {
				if kv.Value == "" {
					return nil, fail("every query string pair needs a value")
				}
				cond.QueryPairs = append(cond.QueryPairs, QueryPair{Key: deref(kv.Key), Value: kv.Value})
			}
			out = append(out, cond)
			continue
		default:
			return nil, fail("field must be host-header, path-pattern, http-header, http-request-method, query-string or source-ip")
		}
		if values == nil && len(c.Values) > 0 {
			values = &valuesJSON{Values: c.Values}
		}
		if values == nil {
			return nil, fail("needs values")
		}
		if len(values.RegexValues) > 0 && c.Field != "host-header" && c.Field != "path-pattern" {
			return nil, fail("regexValues is only for host-header, path-pattern and http-header conditions")
		}
		if err := checkValuesOrRegex(values.Values, values.RegexValues); err != nil {
			return nil, fail(err.Error())
		}
		if len(values.RegexValues) > 0 {
			out = append(out, Condition{Field: c.Field, RegexValues: values.RegexValues})
			continue
		}
		if c.Field == "source-ip" {
			for _, v := range values.Values {
				if _, err := netip.ParsePrefix(v); err != nil {
					return nil, fail(fmt.Sprintf("%q is not a CIDR", v))
				}
			}
		}
		out = append(out, Condition{Field: c.Field, Values: values.Values})
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
