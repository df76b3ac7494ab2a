package service

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

func (b *builder) targetGroup(stackID string, g servicePortGroup, targetType, lbIPType string, perPortAttrs map[string]string) (TargetGroup, error) {
	port := g.port
	var tgPort int32
	if targetType == "instance" {
		if port.NodePort == 0 {
			return TargetGroup{}, fmt.Errorf("service port %d has no nodePort, which instance targets need (is spec.allocateLoadBalancerNodePorts false?)", port.Port)
		}
		tgPort = port.NodePort
	} else if port.TargetPort.Type == intstr.Int && port.TargetPort.IntVal != 0 {
		tgPort = port.TargetPort.IntVal
	} else if port.TargetPort.Type == intstr.Int {
		tgPort = port.Port // an unset targetPort defaults to the port
	} else {
		// A named target port can differ between pods; targets are always
		// registered with their own port, so the group's port is nominal.
		tgPort = 1
	}
	hc, err := b.healthCheck(targetType)
	if err != nil {
		return TargetGroup{}, err
	}
	attrs, err := b.targetGroupAttributes(perPortAttrs)
	if err != nil {
		return TargetGroup{}, err
	}
	ipType := "ipv4"
	if lbIPType == "dualstack" && len(b.svc.Spec.IPFamilies) > 0 && b.svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		ipType = "ipv6"
	}
	resourceID := fmt.Sprintf("%s:%d", stackID, port.Port)
	tags, err := b.resourceTags(stackID, resourceID)
	if err != nil {
		return TargetGroup{}, err
	}
	return TargetGroup{
		ResourceID:    resourceID,
		Name:          b.targetGroupName(port.Port, tgPort, targetType, g.tgProtocol()),
		Protocol:      g.tgProtocol(),
		Port:          tgPort,
		TargetType:    targetType,
		IPAddressType: ipType,
		HealthCheck:   hc,
		Attributes:    attrs,
		Tags:          tags,
	}, nil
}

// targetGroupName is k8s-<namespace>-<name>-<hash> like the AWS Load
// Balancer Controller's, hashing what a target group cannot change in place
// (cluster, Service UID, ports, target type, protocol). The AWS controller
// also hashes the health check protocol and interval because NLB could not
// modify them; kelb server can, so a health check change keeps the group
// and its registered targets.
func (b *builder) targetGroupName(svcPort, tgPort int32, targetType, protocol string) string {
	h := sha256.New()
	h.Write([]byte(b.opts.ClusterName))
	h.Write([]byte(b.svc.UID))
	h.Write([]byte(strconv.Itoa(int(tgPort))))
	h.Write([]byte(strconv.Itoa(int(svcPort))))
	h.Write([]byte(targetType))
	h.Write([]byte(protocol))
	return model.GeneratedName(b.svc.Namespace, b.svc.Name, hex.EncodeToString(h.Sum(nil)))
}

// healthCheck builds the health check. Its defaults are the AWS Load
// Balancer Controller's: TCP on the traffic port every 10 s, timeout 10 s,
// thresholds 3/3; and for instance targets of a type LoadBalancer Service
// with externalTrafficPolicy Local, HTTP GET /healthz on the Service's
// healthCheckNodePort (which answers 200 only on nodes with a local
// endpoint), timeout 6 s, thresholds 2/2.
func (b *builder) healthCheck(targetType string) (HealthCheck, error) {
	hc := HealthCheck{
		Protocol:           "TCP",
		Port:               healthCheckPortTrafficPort,
		IntervalSeconds:    10,
		TimeoutSeconds:     10,
		HealthyThreshold:   3,
		UnhealthyThreshold: 3,
	}
	defaultPath := "/"
	if targetType == "instance" && b.svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		b.svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		hc.Protocol = "HTTP"
		if b.svc.Spec.HealthCheckNodePort != 0 {
			hc.Port = strconv.Itoa(int(b.svc.Spec.HealthCheckNodePort))
		}
		defaultPath = "/healthz"
		hc.TimeoutSeconds = 6
		hc.HealthyThreshold = 2
		hc.UnhealthyThreshold = 2
	}
	if raw, ok := b.ann.Str(AnnotationHCProtocol); ok {
		switch p := strings.ToUpper(raw); p {
		case "TCP", "HTTP", "HTTPS":
			hc.Protocol = p
		default:
			return HealthCheck{}, &AnnotationError{Key: AnnotationHCProtocol, Value: b.ann[AnnotationHCProtocol], Reason: "must be TCP, HTTP or HTTPS"}
		}
	}
	if raw, ok := b.ann.Str(AnnotationHCPort); ok {
		port, err := b.healthCheckPort(raw, targetType)
		if err != nil {
			return HealthCheck{}, err
		}
		hc.Port = port
	}
	if hc.Protocol != "TCP" {
		hc.Path = defaultPath
		if raw, ok := b.ann.Str(AnnotationHCPath); ok {
			if !strings.HasPrefix(raw, "/") {
				return HealthCheck{}, &AnnotationError{Key: AnnotationHCPath, Value: b.ann[AnnotationHCPath], Reason: `must start with "/"`}
			}
			hc.Path = raw
		}
		hc.HTTPCode = "200-399"
		if raw, ok := b.ann.Str(AnnotationHCSuccessCodes); ok {
			if !validSuccessCodes(raw) {
				return HealthCheck{}, &AnnotationError{Key: AnnotationHCSuccessCodes, Value: b.ann[AnnotationHCSuccessCodes], Reason: `must be codes 200-599 as "200", "200,202" or "200-299"`}
			}
			hc.HTTPCode = raw
		}
	}
	var err error
	if hc.IntervalSeconds, err = b.ann.Positive(AnnotationHCInterval, hc.IntervalSeconds); err != nil {
		return HealthCheck{}, err
	}
	// A default timeout longer than a shorter configured interval is cut
	// to the interval: a 1 s interval gets a 1 s timeout.
	hc.TimeoutSeconds = min(hc.TimeoutSeconds, hc.IntervalSeconds)
	if hc.TimeoutSeconds, err = b.ann.Positive(AnnotationHCTimeout, hc.TimeoutSeconds); err != nil {
		return HealthCheck{}, err
	}
	if hc.HealthyThreshold, err = b.ann.Positive(AnnotationHCHealthyThreshold, hc.HealthyThreshold); err != nil {
		return HealthCheck{}, err
	}
	if hc.UnhealthyThreshold, err = b.ann.Positive(AnnotationHCUnhealthyThreshold, hc.UnhealthyThreshold); err != nil {
		return HealthCheck{}, err
	}
	return hc, nil
}

// healthCheckPort resolves the health check port annotation: traffic-port,
// a number, or the name of a Service port (its node port for instance
// targets, its numeric target port for ip targets).
func (b *builder) healthCheckPort(raw, targetType string) (string, error) {
	if raw == healthCheckPortTrafficPort {
		return raw, nil
	}
	if n, err := strconv.Atoi(raw); err == nil {
		if n < 1 || n > 65535 {
			return "", &AnnotationError{Key: AnnotationHCPort, Value: b.ann[AnnotationHCPort], Reason: "port out of range 1-65535"}
		}
		return strconv.Itoa(n), nil
	}
	for _, p := range b.svc.Spec.Ports {
		if p.Name != raw {
			continue
		}
		if targetType == "instance" {
			if p.NodePort == 0 {
				return "", &AnnotationError{Key: AnnotationHCPort, Value: b.ann[AnnotationHCPort], Reason: "the named Service port has no nodePort"}
			}
			return strconv.Itoa(int(p.NodePort)), nil
		}
		if p.TargetPort.Type == intstr.Int {
			if p.TargetPort.IntVal == 0 {
				return strconv.Itoa(int(p.Port)), nil
			}
			return strconv.Itoa(int(p.TargetPort.IntVal)), nil
		}
		return "", &AnnotationError{Key: AnnotationHCPort, Value: b.ann[AnnotationHCPort], Reason: "a named port cannot be the health check port of ip targets when its targetPort is a name"}
	}
	return "", &AnnotationError{Key: AnnotationHCPort, Value: b.ann[AnnotationHCPort], Reason: "not traffic-port, a port number or the name of a Service port"}
}

func validSuccessCodes(s string) bool {
	code := func(c string) (int, bool) {
		n, err := strconv.Atoi(c)
		return n, err == nil && n >= 200 && n <= 599
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		l, ok1 := code(lo)
		h, ok2 := code(hi)
		return ok1 && ok2 && l <= h
	}
	for _, c := range strings.Split(s, ",") {
		if _, ok := code(c); !ok {
			return false
		}
	}
	return true
}

// targetGroupAttributes are the Service-wide target group attributes,
// overridden key by key by aws-load-balancer-target-group-attributes.<port>
// (or kelb's alias .<PROTOCOL>-<port>),
// with proxy_protocol_v2.enabled always present: false by default, true
// with aws-load-balancer-proxy-protocol "*", which wins over both.
func (b *builder) targetGroupAttributes(perPort map[string]string) (map[string]string, error) {
	attrs, err := b.ann.StringMap(AnnotationTargetGroupAttrs)
	if err != nil {
		return nil, err
	}
	if attrs == nil {
		attrs = map[string]string{}
	}
	for k, v := range perPort {
		attrs[k] = v
	}
	if _, ok := attrs[attrProxyProtocolV2]; !ok {
		attrs[attrProxyProtocolV2] = "false"
	}
	if raw, ok := b.ann.Str(AnnotationProxyProtocol); ok {
		if raw != "*" {
			return nil, &AnnotationError{Key: AnnotationProxyProtocol, Value: b.ann[AnnotationProxyProtocol], Reason: `the only valid value is "*"`}
		}
		attrs[attrProxyProtocolV2] = "true"
	}
	for _, k := range []string{attrProxyProtocolV2, attrPreserveClientIP} {
		if v, ok := attrs[k]; ok {
			if _, err := strconv.ParseBool(v); err != nil {
				return nil, &AnnotationError{Key: AnnotationTargetGroupAttrs, Value: b.ann[AnnotationTargetGroupAttrs], Reason: fmt.Sprintf("%s=%s is not a boolean", k, v)}
			}
		}
	}
	return attrs, nil
}

func (b *builder) targetGroupBinding(tg TargetGroup, g servicePortGroup) (TargetGroupBinding, error) {
	targetType := elbv2api.TargetType(tg.TargetType)
	ipType := elbv2api.TargetGroupIPAddressType(tg.IPAddressType)
	spec := elbv2api.TargetGroupBindingSpec{
		TargetType:    &targetType,
		ServiceRef:    elbv2api.ServiceReference{Name: b.svc.Name, Port: intstr.FromInt32(g.port.Port)},
		IPAddressType: &ipType,
	}
	if tg.TargetType == "instance" {
		labels, err := b.ann.StringMap(AnnotationTargetNodeLabels)
		if err != nil {
			return TargetGroupBinding{}, err
		}
		if len(labels) > 0 {
			spec.NodeSelector = &metav1.LabelSelector{MatchLabels: labels}
		}
	}
	return TargetGroupBinding{
		Name:      tg.Name,
		Namespace: b.svc.Namespace,
		Labels: map[string]string{
			LabelStackNamespace: b.svc.Namespace,
			LabelStackName:      b.svc.Name,
		},
		TargetGroup: tg.ResourceID,
		Spec:        spec,
	}, nil
}
