package ingress

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// targetGroup returns the ResourceID of the target group of one Ingress's
// backend Service port, building it (and its TargetGroupBinding) the first
// time. Target group settings come from the Service's annotations, then
// the Ingress's.
func (b *builder) targetGroup(m Member, svcName string, port intstr.IntOrString) (string, error) {
	ing := m.Ingress
	resourceID := fmt.Sprintf("%s/%s-%s:%s", ing.Namespace, ing.Name, svcName, port.String())
	if _, ok := b.tgs[resourceID]; ok {
		return resourceID, nil
	}
	svc := b.in.Services[types.NamespacedName{Namespace: ing.Namespace, Name: svcName}]
	if svc == nil {
		return "", fmt.Errorf("backend Service %s/%s not found", ing.Namespace, svcName)
	}
	var svcPort *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if (port.Type == intstr.Int && p.Port == port.IntVal) || (port.Type == intstr.String && p.Name == port.StrVal) {
			svcPort = &svc.Spec.Ports[i]
			break
		}
	}
	if svcPort == nil {
		return "", fmt.Errorf("backend Service %s/%s has no port %s", ing.Namespace, svcName, port.String())
	}
	ann := layered{annotations(svc.Annotations), annotations(ing.Annotations)}
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("backend Service %s/%s port %s: %w", ing.Namespace, svcName, port.String(), err)
	}
	// Authentication may be asked for on the Service too, as in the AWS
	// Load Balancer Controller.
	if err := refuseUnprotected(annotations(svc.Annotations)); err != nil {
		return fail(err)
	}

	targetType := b.opts.DefaultTargetType
	if targetType == "" {
		targetType = "instance"
	}
	if v, ok, err := ann.source(AnnotationTargetType).OneOf(AnnotationTargetType, "ip", "instance"); err != nil {
		return fail(err)
	} else if ok {
		targetType = v
	}
	if v := classTargetType(m); v != "" {
		targetType = v
	}
	protocol := "HTTP"
	if v, ok, err := ann.source(AnnotationBackendProtocol).OneOf(AnnotationBackendProtocol, "HTTP", "HTTPS"); err != nil {
		return fail(err)
	} else if ok {
		protocol = v
	}
	version := "HTTP1"
	if v, ok, err := ann.source(AnnotationBackendProtocolVersion).OneOf(AnnotationBackendProtocolVersion, "HTTP1", "HTTP2", "GRPC"); err != nil {
		return fail(err)
	} else if ok {
		version = v
	}

	var tgPort int32
	switch {
	case targetType == "instance":
		if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			return fail(fmt.Errorf("instance targets need a NodePort or LoadBalancer Service, not %s (or set %s: ip)", svc.Spec.Type, AnnotationTargetType))
		}
		if svcPort.NodePort == 0 {
			return fail(fmt.Errorf("instance targets need a nodePort"))
		}
		tgPort = svcPort.NodePort
	case svcPort.TargetPort.Type == intstr.Int && svcPort.TargetPort.IntVal != 0:
		tgPort = svcPort.TargetPort.IntVal
	case svcPort.TargetPort.Type == intstr.Int:
		tgPort = svcPort.Port
	default:
		// A named target port can differ between pods; targets are
		// registered with their own port, so the group's is nominal.
		tgPort = 1
	}

	hc, err := b.healthCheck(ann, svc, protocol, version, targetType)
	if err != nil {
		return fail(err)
	}
	attrs, err := attributes(ann.source(AnnotationTargetGroupAttributes), AnnotationTargetGroupAttributes, targetGroupAttributes)
	if err != nil {
		return fail(err)
	}
	ipType := "ipv4"
	if ipv6Capable(b.ipType) && len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		ipType = "ipv6"
	}

	h := sha256.New()
	h.Write([]byte(b.opts.ClusterName))
	h.Write([]byte(b.stackID))
	h.Write([]byte(ing.Namespace))
	h.Write([]byte(ing.Name))
	h.Write([]byte(svc.UID))
	h.Write([]byte(port.String()))
	h.Write([]byte(strconv.Itoa(int(tgPort))))
	h.Write([]byte(targetType))
	h.Write([]byte(protocol))
	h.Write([]byte(version))
	name := model.GeneratedName(svc.Namespace, svc.Name, hex.EncodeToString(h.Sum(nil)))

	tg := &TargetGroup{
		ResourceID:      resourceID,
		Name:            name,
		Protocol:        protocol,
		ProtocolVersion: version,
		Port:            tgPort,
		TargetType:      targetType,
		IPAddressType:   ipType,
		HealthCheck:     hc,
		Attributes:      attrs,
		Tags:            b.tags(resourceID),
	}

	tt := elbv2api.TargetType(targetType)
	tgIPType := elbv2api.TargetGroupIPAddressType(ipType)
	spec := elbv2api.TargetGroupBindingSpec{
		TargetType:    &tt,
		ServiceRef:    elbv2api.ServiceReference{Name: svc.Name, Port: port},
		IPAddressType: &tgIPType,
	}
	if targetType == "instance" {
		nodeLabels, err := ann.source(AnnotationTargetNodeLabels).StringMap(AnnotationTargetNodeLabels)
		if err != nil {
			return fail(err)
		}
		if len(nodeLabels) > 0 {
			spec.NodeSelector = &metav1.LabelSelector{MatchLabels: nodeLabels}
		}
	}
	b.tgs[resourceID] = tg
	b.tgOrder = append(b.tgOrder, resourceID)
	b.bindings[resourceID] = TargetGroupBinding{
		Name:        name,
		Namespace:   svc.Namespace,
		Labels:      b.stackLabels(),
		TargetGroup: resourceID,
		Spec:        spec,
	}
	return resourceID, nil
}

// stackLabels are the labels of the group's TargetGroupBindings.
func (b *builder) stackLabels() map[string]string {
	return StackLabels(b.in.Group)
}

// StackLabels are the labels of the TargetGroupBindings of group g.
func StackLabels(g GroupID) map[string]string {
	if g.Explicit() {
		return map[string]string{LabelStack: g.Name}
	}
	return map[string]string{LabelStackNamespace: g.Namespace, LabelStackName: g.Name}
}

// healthCheck builds a target group's health check with the AWS Load
// Balancer Controller's Ingress defaults: the backend protocol on the
// traffic port, path "/" ("/AWS.ALB/healthcheck" for gRPC), every 15 s,
// timeout 5 s, thresholds 2/2, success code 200 (gRPC 12).
func (b *builder) healthCheck(ann layered, svc *corev1.Service, protocol, version, targetType string) (HealthCheck, error) {
	hc := HealthCheck{
		Protocol:           protocol,
		Port:               healthCheckPortTrafficPort,
		Path:               "/",
		HTTPCode:           "200",
		IntervalSeconds:    15,
		TimeoutSeconds:     5,
		HealthyThreshold:   2,
		UnhealthyThreshold: 2,
	}
	if version == "GRPC" {
		hc.Path, hc.HTTPCode, hc.GRPCCode = grpcHealthCheckPath, "", "12"
	}
	if v, ok, err := ann.source(AnnotationHCProtocol).OneOf(AnnotationHCProtocol, "HTTP", "HTTPS"); err != nil {
		return HealthCheck{}, err
	} else if ok {
		hc.Protocol = v
	}
	if a := ann.source(AnnotationHCPort); len(a) > 0 {
		raw, _ := a.Str(AnnotationHCPort)
		p, err := healthCheckPort(a, raw, svc, targetType)
		if err != nil {
			return HealthCheck{}, err
		}
		hc.Port = p
	}
	if a := ann.source(AnnotationHCPath); len(a) > 0 {
		raw, _ := a.Str(AnnotationHCPath)
		if !strings.HasPrefix(raw, "/") {
			return HealthCheck{}, a.Fail(AnnotationHCPath, `must start with "/"`)
		}
		hc.Path = raw
	}
	if a := ann.source(AnnotationSuccessCodes); len(a) > 0 {
		raw, _ := a.Str(AnnotationSuccessCodes)
		if version == "GRPC" {
			if !validCodes(raw, 0, 99) {
				return HealthCheck{}, a.Fail(AnnotationSuccessCodes, `must be gRPC codes 0-99 as "12", "0,12" or "0-99"`)
			}
			hc.GRPCCode = raw
		} else {
			if !validCodes(raw, 200, 499) {
				return HealthCheck{}, a.Fail(AnnotationSuccessCodes, `must be HTTP codes 200-499 as "200", "200,202" or "200-299"`)
			}
			hc.HTTPCode = raw
		}
	}
	var err error
	for _, f := range []struct {
		key string
		v   *int32
	}{
		{AnnotationHCInterval, &hc.IntervalSeconds},
		{AnnotationHCTimeout, &hc.TimeoutSeconds},
		{AnnotationHealthyThreshold, &hc.HealthyThreshold},
		{AnnotationUnhealthyThreshold, &hc.UnhealthyThreshold},
	} {
		if *f.v, err = ann.source(f.key).Positive(f.key, *f.v); err != nil {
			return HealthCheck{}, err
		}
	}
	return hc, nil
}

// healthCheckPort resolves healthcheck-port: traffic-port, a number, or the
// name of a Service port (its node port for instance targets, its numeric
// target port for ip targets).
func healthCheckPort(ann annotations, raw string, svc *corev1.Service, targetType string) (string, error) {
	if raw == healthCheckPortTrafficPort {
		return raw, nil
	}
	if n, err := strconv.Atoi(raw); err == nil {
		if n < 1 || n > 65535 {
			return "", ann.Fail(AnnotationHCPort, "port out of range 1-65535")
		}
		return strconv.Itoa(n), nil
	}
	for _, p := range svc.Spec.Ports {
		if p.Name != raw {
			continue
		}
		if targetType == "instance" {
			if p.NodePort == 0 {
				return "", ann.Fail(AnnotationHCPort, "the named Service port has no nodePort")
			}
			return strconv.Itoa(int(p.NodePort)), nil
		}
		if p.TargetPort.Type == intstr.Int {
			if p.TargetPort.IntVal == 0 {
				return strconv.Itoa(int(p.Port)), nil
			}
			return strconv.Itoa(int(p.TargetPort.IntVal)), nil
		}
		return "", ann.Fail(AnnotationHCPort, "a named port cannot be the health check port of ip targets when its targetPort is a name")
	}
	return "", ann.Fail(AnnotationHCPort, "not traffic-port, a port number or the name of a Service port")
}

// validCodes accepts "c", "c1,c2,..." and "lo-hi" with codes in [min, max].
func validCodes(s string, lo, hi int) bool {
	code := func(c string) (int, bool) {
		n, err := strconv.Atoi(c)
		return n, err == nil && n >= lo && n <= hi
	}
	if a, z, ok := strings.Cut(s, "-"); ok {
		l, ok1 := code(a)
		h, ok2 := code(z)
		return ok1 && ok2 && l <= h
	}
	for _, c := range strings.Split(s, ",") {
		if _, ok := code(c); !ok {
			return false
		}
	}
	return true
}

// warnings lists the annotations of the group's members (and their
// backend Services) that have no effect in kelb.
func (b *builder) warnings() []string {
	var out []string
	for _, m := range b.members {
		for k, v := range m.Ingress.Annotations {
			suffix, ok := strings.CutPrefix(k, AnnotationPrefix)
			if !ok {
				continue
			}
			why, ignored := ignoredAnnotations[suffix]
			if at := m.Ingress.Annotations[AnnotationAuthType]; strings.HasPrefix(suffix, "auth-") && (at == "oidc" || at == "cognito") {
				// Read by the authenticate action (auth.go).
				ignored = false
			}
			if ignored {
				out = append(out, fmt.Sprintf("ingress %s: annotation %s=%q is ignored: %s", key(m.Ingress), k, v, why))
			}
		}
		out = append(out, paramsWarnings(m.Class.Params)...)
		out = append(out, unusedAnnotations(m.Ingress)...)
		if p := m.Class.Params; p != nil && p.Spec.Subnets != nil && len(p.Spec.Subnets.Tags) > 0 {
			out = append(out, fmt.Sprintf("IngressClassParams %s: subnets.tags is ignored: kelb selects zones by subnet id", p.Name))
		}
	}
	out = append(out, b.backendServiceWarnings()...)
	sort.Strings(out)
	return slices.Compact(out)
}
