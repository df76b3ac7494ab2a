package elb

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Limits of listeners and actions.
const (
	MaxListenersPerLoadBalancer = 50
)

// DefaultSSLPolicy is the security policy of TLS and HTTPS listeners
// created without one.
const DefaultSSLPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"

// ALPN policies of TLS listeners.
var alpnPolicies = []string{"HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred", "None"}

// listenerProtocols are the listener protocols of each load balancer type.
var listenerProtocols = map[string][]string{
	TypeNetwork:     {"TCP", "UDP", "TCP_UDP", "TLS"},
	TypeApplication: {"HTTP", "HTTPS"},
}

// forwardProtocols are the target group protocols a listener protocol can
// forward to.
var forwardProtocols = map[string][]string{
	"TCP":     {"TCP", "TCP_UDP"},
	"TLS":     {"TCP", "TLS"},
	"UDP":     {"UDP", "TCP_UDP"},
	"TCP_UDP": {"TCP_UDP"},
	"HTTP":    {"HTTP", "HTTPS"},
	"HTTPS":   {"HTTP", "HTTPS"},
}

// CreateListenerInput is the input of CreateListener.
type CreateListenerInput struct {
	LoadBalancerARN string
	Protocol        string
	Port            int32
	SslPolicy       string
	Certificates    []Certificate
	DefaultActions  []Action
	AlpnPolicy      []string
	Tags            []Tag
	// MutualAuthentication is nil when the request has none (mode off).
	MutualAuthentication *MutualAuthenticationInput
}

// ModifyListenerInput is the input of ModifyListener; empty fields keep
// their value.
type ModifyListenerInput struct {
	ListenerARN    string
	Protocol       string
	Port           int32
	SslPolicy      string
	Certificates   []Certificate
	DefaultActions []Action
	AlpnPolicy     []string
	// MutualAuthentication replaces the listener's when not nil.
	MutualAuthentication *MutualAuthenticationInput
}

// checkListener validates l (its protocol, port, TLS settings and default
// actions) against its load balancer and the other resources, normalising
// its actions in place.
func (s *Service) checkListener(w *world, lb *LoadBalancer, l *Listener) error {
	if !slices.Contains(listenerProtocols[lb.Type], l.Protocol) {
		return errorf(CodeUnsupportedProtocol, "Protocol '%s' is not supported by %s load balancers", l.Protocol, lb.Type)
	}
	if l.Port < 1 || l.Port > 65535 {
		return validationf("Listener port must be between 1 and 65535")
	}
	secure := l.Protocol == "TLS" || l.Protocol == "HTTPS"
	switch {
	case secure && len(l.Certificates) == 0:
		return validationf("A certificate must be specified for %s listeners", l.Protocol)
	case !secure && len(l.Certificates) > 0:
		return errorf(CodeInvalidConfigurationRequest, "Certificates cannot be specified for %s listeners", l.Protocol)
	case !secure && l.SslPolicy != "":
		return errorf(CodeInvalidConfigurationRequest, "An SSL policy cannot be specified for %s listeners", l.Protocol)
	}
	if secure {
		if l.SslPolicy == "" {
			l.SslPolicy = DefaultSSLPolicy
		}
		if !slices.ContainsFunc(SSLPolicies, func(p SSLPolicy) bool { return p.Name == l.SslPolicy }) {
			return errorf(CodeSSLPolicyNotFound, "SSL policy '%s' not found", l.SslPolicy)
		}
		for i, c := range l.Certificates {
			if c.ARN == "" {
				return errorf(CodeCertificateNotFound, "Certificate ARN cannot be empty")
			}
			l.Certificates[i].IsDefault = i == 0
		}
	}
	if len(l.AlpnPolicy) > 0 {
		if l.Protocol != "TLS" {
			return errorf(CodeInvalidConfigurationRequest, "An ALPN policy can only be specified for TLS listeners")
		}
		if len(l.AlpnPolicy) > 1 || !slices.Contains(alpnPolicies, l.AlpnPolicy[0]) {
			return errorf("ALPNPolicyNotFound", "ALPN policy '%v' not found", l.AlpnPolicy)
		}
	}
	for _, other := range w.listeners {
		if other.LoadBalancerARN == lb.ARN && other.ARN != l.ARN && other.Port == l.Port {
			return errorf(CodeDuplicateListener, "A listener already exists on port %d of load balancer '%s'", l.Port, lb.ARN)
		}
	}
	actions, err := s.checkActions(w, lb, l.Protocol, l.DefaultActions)
	if err != nil {
		return err
	}
	l.DefaultActions = actions
	return nil
}

// CreateListener creates a listener on every address of its load balancer.
// Creating a listener on a port that has one with the same protocol and
// default actions returns that listener; with another protocol or other
// actions it fails with DuplicateListener.
func (s *Service) CreateListener(ctx context.Context, in CreateListenerInput) (Listener, error) {
	if err := checkNewTags(in.Tags); err != nil {
		return Listener{}, err
	}
	var out Listener
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		// Shared: read only, before this transaction writes.
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		lb, ok := w.lbs[in.LoadBalancerARN]
		if !ok {
			return errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerARN)
		}
		// Application and network load balancers' listeners need both
		// (only a Gateway Load Balancer's have neither).
		if in.Protocol == "" {
			return validationf("A listener protocol must be specified")
		}
		if in.Port == 0 {
			return validationf("A listener port must be specified")
		}
		n := 0
		for _, l := range w.listeners {
			if l.LoadBalancerARN != lb.ARN {
				continue
			}
			n++
			if l.Port == in.Port && l.Protocol == in.Protocol {
				// As on AWS, only a request with the same settings gets
				// the existing listener back.
				actions, err := s.checkActions(w, lb, in.Protocol, cloneActions(in.DefaultActions))
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(actions, l.DefaultActions) {
					return errorf(CodeDuplicateListener, "A listener already exists on port %d of load balancer '%s' with other actions", l.Port, lb.ARN)
				}
				out, err = detach[Listener](w, l.ARN)
				return err
			}
		}
		if n >= MaxListenersPerLoadBalancer {
			return errorf("TooManyListeners", "Load balancer '%s' has %d listeners already", lb.ARN, n)
		}
		lbType, lbName, lbID := splitLoadBalancerARN(lb.ARN)
		l := &Listener{
			ARN:             s.arn("listener/" + lbType + "/" + lbName + "/" + lbID + "/" + newID()),
			LoadBalancerARN: lb.ARN,
			Protocol:        in.Protocol,
			Port:            in.Port,
			DefaultActions:  cloneActions(in.DefaultActions),
			Certificates:    append([]Certificate(nil), in.Certificates...),
			SslPolicy:       in.SslPolicy,
			AlpnPolicy:      in.AlpnPolicy,
			Attributes:      defaultAttrs(listenerAttrSpecs(in.Protocol)),
			Tags:            in.Tags,
		}
		if err := s.checkListener(w, lb, l); err != nil {
			return err
		}
		if l.MutualAuthentication, err = checkMutualAuthentication(tx, l.Protocol, in.MutualAuthentication); err != nil {
			return err
		}
		if err := checkCertificatesExist(tx, l.Certificates); err != nil {
			return err
		}
		out = *l
		if err := putJSON(tx, kindListener, l.ARN, l); err != nil {
			return err
		}
		return w.withListener(l).checkQuotas([]string{lb.ARN})
	})
	if err != nil {
		return Listener{}, fmt.Errorf("create listener on %s: %w", in.LoadBalancerARN, err)
	}
	return out, nil
}

// splitLoadBalancerARN returns the type ("net" or "app"), name and id parts
// of a load balancer ARN.
func splitLoadBalancerARN(arn string) (typ, name, id string) {
	res := arn[strings.LastIndex(arn, ":")+1:]
	parts := strings.Split(res, "/")
	if len(parts) != 4 {
		return "", "", ""
	}
	return parts[1], parts[2], parts[3]
}

// ModifyListener changes a listener; the result is validated as a whole.
func (s *Service) ModifyListener(ctx context.Context, in ModifyListenerInput) (Listener, error) {
	var out Listener
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		cur, ok := w.listeners[in.ListenerARN]
		if !ok {
			return errorf(CodeListenerNotFound, "Listener '%s' not found", in.ListenerARN)
		}
		lb, ok := w.lbs[cur.LoadBalancerARN]
		if !ok {
			return errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", cur.LoadBalancerARN)
		}
		l := *cur
		l.DefaultActions = cloneActions(cur.DefaultActions)
		if in.Protocol != "" && in.Protocol != l.Protocol {
			wasSecure := l.Protocol == "TLS" || l.Protocol == "HTTPS"
			l.Protocol = in.Protocol
			if wasSecure && in.Protocol != "TLS" && in.Protocol != "HTTPS" {
				l.Certificates, l.SslPolicy, l.AlpnPolicy = nil, "", nil
			}
			specs := listenerAttrSpecs(l.Protocol)
			attrs := defaultAttrs(specs)
			for k, v := range cur.Attributes {
				if _, ok := specs[k]; ok {
					attrs[k] = v
				}
			}
			l.Attributes = attrs
		}
		if in.Port != 0 {
			l.Port = in.Port
		}
		if in.SslPolicy != "" {
			l.SslPolicy = in.SslPolicy
		}
		if len(in.Certificates) > 0 {
			// Certificates sets the default certificate; the others,
			// added with AddListenerCertificates, stay.
			certs := []Certificate{{ARN: in.Certificates[0].ARN, IsDefault: true}}
			for _, c := range l.Certificates {
				if !c.IsDefault && c.ARN != certs[0].ARN {
					certs = append(certs, c)
				}
			}
			l.Certificates = certs
		}
		if len(in.DefaultActions) > 0 {
			l.DefaultActions = cloneActions(in.DefaultActions)
			if err := keepClientSecrets(l.DefaultActions, cur.DefaultActions); err != nil {
				return err
			}
		}
		if len(in.AlpnPolicy) > 0 {
			l.AlpnPolicy = in.AlpnPolicy
		}
		if in.MutualAuthentication != nil {
			if l.MutualAuthentication, err = checkMutualAuthentication(tx, l.Protocol, in.MutualAuthentication); err != nil {
				return err
			}
		} else if l.Protocol != "HTTPS" {
			l.MutualAuthentication = nil
		}
		// The listener's own forward targets do not count as another
		// load balancer's; drop it from the world while checking.
		delete(w.listeners, l.ARN)
		if err := s.checkListener(w, lb, &l); err != nil {
			return err
		}
		if err := checkCertificatesExist(tx, l.Certificates); err != nil {
			return err
		}
		out = l
		if err := putJSON(tx, kindListener, l.ARN, l); err != nil {
			return err
		}
		return checkLoadBalancerQuotas(tx, lb.ARN)
	})
	if err != nil {
		return Listener{}, fmt.Errorf("modify listener %s: %w", in.ListenerARN, err)
	}
	return out, nil
}

// DescribeListenersInput selects listeners by load balancer or by ARN.
type DescribeListenersInput struct {
	LoadBalancerARN string
	ListenerARNs    []string
}

// DescribeListeners returns the selected listeners sorted by load balancer
// and port.
func (s *Service) DescribeListeners(ctx context.Context, in DescribeListenersInput) ([]Listener, error) {
	if (in.LoadBalancerARN == "") == (len(in.ListenerARNs) == 0) {
		return nil, validationf("You must specify either a load balancer ARN or listener ARNs")
	}
	var out []Listener
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		var sel []string
		if in.LoadBalancerARN != "" {
			if _, ok := w.lbs[in.LoadBalancerARN]; !ok {
				return errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerARN)
			}
			for _, l := range w.sortedListeners() {
				if l.LoadBalancerARN == in.LoadBalancerARN {
					sel = append(sel, l.ARN)
				}
			}
		} else {
			seen := map[string]bool{}
			for _, arn := range in.ListenerARNs {
				if _, ok := w.listeners[arn]; !ok {
					return errorf(CodeListenerNotFound, "Listener '%s' not found", arn)
				}
				if !seen[arn] {
					seen[arn] = true
					sel = append(sel, arn)
				}
			}
		}
		for _, arn := range sel {
			l, err := detach[Listener](w, arn)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe listeners: %w", err)
	}
	return out, nil
}

// DeleteListener deletes a listener and its rules.
func (s *Service) DeleteListener(ctx context.Context, arn string) error {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := getListener(tx, arn); err != nil {
			return err
		}
		rules, err := listJSON[Rule](tx, kindRule)
		if err != nil {
			return err
		}
		for _, r := range rules {
			if r.ListenerARN == arn {
				if err := tx.Delete(kindRule, r.ARN); err != nil {
					return err
				}
			}
		}
		return tx.Delete(kindListener, arn)
	})
	if err != nil {
		return fmt.Errorf("delete listener %s: %w", arn, err)
	}
	return nil
}

// DescribeListenerAttributes returns every attribute of a listener, sorted
// by key.
func (s *Service) DescribeListenerAttributes(ctx context.Context, arn string) ([]Attribute, error) {
	var out []Attribute
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		l, err := getListener(tx, arn)
		if err != nil {
			return err
		}
		// A listener stored before kelb knew an attribute has its default.
		all := defaultAttrs(listenerAttrSpecs(l.Protocol))
		for k, v := range l.Attributes {
			all[k] = v
		}
		out = sortedAttrs(all)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe listener attributes %s: %w", arn, err)
	}
	return out, nil
}

// ModifyListenerAttributes changes attributes of a listener and returns all
// of them.
func (s *Service) ModifyListenerAttributes(ctx context.Context, arn string, attrs []Attribute) ([]Attribute, error) {
	var out []Attribute
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		l, err := getListener(tx, arn)
		if err != nil {
			return err
		}
		next, err := applyAttrs("Listener", listenerAttrSpecs(l.Protocol), l.Attributes, attrs)
		if err != nil {
			return err
		}
		l.Attributes = next
		out = sortedAttrs(next)
		return putJSON(tx, kindListener, arn, l)
	})
	if err != nil {
		return nil, fmt.Errorf("modify listener attributes %s: %w", arn, err)
	}
	return out, nil
}

func getListener(tx store.ReadTx, arn string) (*Listener, error) {
	return getJSON[Listener](tx, kindListener, arn,
		errorf(CodeListenerNotFound, "Listener '%s' not found", arn))
}
