package service

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// planService is an ip-mode Service with two ports.
func planService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u1", Annotations: map[string]string{
			AnnotationLoadBalancerType: "external",
			AnnotationTargetType:       "ip",
			AnnotationAttributes:       "load_balancing.cross_zone.enabled=true",
		}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP},
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), NodePort: 30443, Protocol: corev1.ProtocolTCP},
			},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func mustBuild(t *testing.T, svc *corev1.Service) *Stack {
	t.Helper()
	st, err := Build(svc, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// deployed is what kelb server holds after deploying st: every resource
// as desired, with ARNs named after the resource and every attribute the
// server fills in with its default.
func deployed(st *Stack) *deploy.Actual {
	lbAttrs := map[string]string{"deletion_protection.enabled": "false", "load_balancing.cross_zone.enabled": "false"}
	maps.Copy(lbAttrs, st.LoadBalancer.Attributes)
	a := &deploy.Actual{LoadBalancer: &deploy.ActualLoadBalancer{
		ARN: "arn:lb", Name: st.LoadBalancer.Name, Type: st.LoadBalancer.Type, Scheme: st.LoadBalancer.Scheme,
		IPAddressType: st.LoadBalancer.IPAddressType, Subnets: []string{"subnet-a", "subnet-b"}, Zones: []string{"zone-a", "zone-b"},
		Attributes: lbAttrs, Tags: maps.Clone(st.LoadBalancer.Tags),
	}}
	for _, tg := range st.TargetGroups {
		attrs := map[string]string{"deregistration_delay.timeout_seconds": "300"}
		maps.Copy(attrs, tg.Attributes)
		hc := tg.HealthCheck
		if hc.Protocol == "TCP" {
			hc.HTTPCode = "200-399" // reported by the server, meaningless for TCP
		}
		a.TargetGroups = append(a.TargetGroups, deploy.ActualTargetGroup{ResourceID: tg.ResourceID,
			ARN: "arn:tg:" + tg.ResourceID, Name: tg.Name, Protocol: tg.Protocol, Port: tg.Port, TargetType: tg.TargetType,
			IPAddressType: tg.IPAddressType, HealthCheck: hc, Attributes: attrs, Tags: maps.Clone(tg.Tags),
		})
	}
	for _, l := range st.Listeners {
		attrs := map[string]string{"tcp.idle_timeout.seconds": "350"}
		maps.Copy(attrs, l.Attributes)
		al := deploy.ActualListener{
			ARN: "arn:listener:" + forwardedGroupOf(l), Port: l.Port, Protocol: l.Protocol, DefaultAction: forwardTo("arn:tg:" + forwardedGroupOf(l)),
			Attributes: attrs, Tags: maps.Clone(l.Tags),
		}
		if l.Protocol == "TLS" {
			al.SSLPolicy, al.ALPNPolicy = l.SSLPolicy, alpnPolicyOf(l.ALPNPolicy)
			certs := certificateARNsOf(l)
			slices.Sort(certs[1:])
			al.Certificates = certs
		}
		a.Listeners = append(a.Listeners, al)
	}
	return a
}

func TestDiff(t *testing.T) {
	base := mustBuild(t, planService(nil))
	kept := map[string]string{"shop/web:80": "arn:tg:shop/web:80", "shop/web:443": "arn:tg:shop/web:443"}
	tests := []struct {
		name    string
		desired *Stack
		actual  *deploy.Actual
		want    *deploy.Plan
	}{
		{
			name:    "nothing exists",
			desired: base,
			actual:  &deploy.Actual{},
			want: &deploy.Plan{
				CreateLoadBalancer: true, CreateTargetGroups: []string{"shop/web:80", "shop/web:443"},
				CreateListeners: []int32{80, 443}, TargetGroupARNs: map[string]string{},
			},
		},
		{
			name:    "up to date",
			desired: base,
			actual:  deployed(base),
			want:    &deploy.Plan{LoadBalancerARN: "arn:lb", TargetGroupARNs: kept},
		},
		{
			name: "subnets named by zone are up to date",
			desired: mustBuild(t, planService(func(s *corev1.Service) {
				s.Annotations[AnnotationSubnets] = "zone-b, subnet-a"
			})),
			actual: deployed(base),
			want:   &deploy.Plan{LoadBalancerARN: "arn:lb", TargetGroupARNs: kept},
		},
		{
			name: "subnets change in place",
			desired: mustBuild(t, planService(func(s *corev1.Service) {
				s.Annotations[AnnotationSubnets] = "subnet-a"
			})),
			actual: deployed(base),
			want:   &deploy.Plan{LoadBalancerARN: "arn:lb", SetSubnets: []string{"subnet-a"}, TargetGroupARNs: kept},
		},
		{
			name: "health check interval changes in place",
			desired: mustBuild(t, planService(func(s *corev1.Service) {
				s.Annotations[AnnotationHCInterval] = "1"
			})),
			actual: deployed(base),
			want: &deploy.Plan{
				LoadBalancerARN: "arn:lb", TargetGroupARNs: kept,
				ModifyTargetGroups: []deploy.TargetGroupChange{
					{ARN: "arn:tg:shop/web:80", HealthCheck: &HealthCheck{Protocol: "TCP", Port: "traffic-port", IntervalSeconds: 1, TimeoutSeconds: 1, HealthyThreshold: 3, UnhealthyThreshold: 3}},
					{ARN: "arn:tg:shop/web:443", HealthCheck: &HealthCheck{Protocol: "TCP", Port: "traffic-port", IntervalSeconds: 1, TimeoutSeconds: 1, HealthyThreshold: 3, UnhealthyThreshold: 3}},
				},
			},
		},
		{
			name: "proxy protocol on",
			desired: mustBuild(t, planService(func(s *corev1.Service) {
				s.Annotations[AnnotationProxyProtocol] = "*"
			})),
			actual: deployed(base),
			want: &deploy.Plan{
				LoadBalancerARN: "arn:lb", TargetGroupARNs: kept,
				ModifyTargetGroups: []deploy.TargetGroupChange{
					{ARN: "arn:tg:shop/web:80", Attributes: map[string]string{"proxy_protocol_v2.enabled": "true"}},
					{ARN: "arn:tg:shop/web:443", Attributes: map[string]string{"proxy_protocol_v2.enabled": "true"}},
				},
			},
		},
		{
			name: "load balancer attribute and tags",
			desired: mustBuild(t, planService(func(s *corev1.Service) {
				s.Annotations[AnnotationAttributes] = "load_balancing.cross_zone.enabled=false"
			})),
			actual: func() *deploy.Actual {
				a := deployed(base)
				a.LoadBalancer.Tags["stale"] = "x"
				a.LoadBalancer.Tags["owner"] = "someone"
				return a
			}(),
			want: &deploy.Plan{
				LoadBalancerARN: "arn:lb", TargetGroupARNs: kept,
				SetLBAttributes: map[string]string{"load_balancing.cross_zone.enabled": "false"},
				LBTags:          deploy.TagChange{Set: map[string]string{"owner": "platform"}, Remove: []string{"stale"}},
			},
		},
		{
			name: "scheme change replaces the load balancer and keeps the target groups",
			desired: mustBuild(t, planService(func(s *corev1.Service) {
				s.Annotations[AnnotationScheme] = "internet-facing"
			})),
			actual: deployed(base),
			want: &deploy.Plan{
				DeleteLoadBalancers: []string{"arn:lb"}, CreateLoadBalancer: true,
				CreateListeners: []int32{80, 443}, TargetGroupARNs: kept,
			},
		},
		{
			name: "target type change replaces the target groups and repoints the listeners",
			desired: mustBuild(t, planService(func(s *corev1.Service) {
				s.Annotations[AnnotationTargetType] = "instance"
			})),
			actual: deployed(base),
			want: &deploy.Plan{
				LoadBalancerARN: "arn:lb", TargetGroupARNs: map[string]string{},
				CreateTargetGroups: []string{"shop/web:80", "shop/web:443"},
				ModifyListeners: []deploy.ListenerChange{
					{ARN: "arn:listener:shop/web:80", Port: 80, Protocol: "TCP", DefaultAction: ptr(model.NetworkForward("shop/web:80"))},
					{ARN: "arn:listener:shop/web:443", Port: 443, Protocol: "TCP", DefaultAction: ptr(model.NetworkForward("shop/web:443"))},
				},
				DeleteTargetGroups: []string{"arn:tg:shop/web:80", "arn:tg:shop/web:443"},
			},
		},
		{
			name: "a removed port deletes its listener and target group",
			desired: mustBuild(t, planService(func(s *corev1.Service) {
				s.Spec.Ports = s.Spec.Ports[:1]
			})),
			actual: deployed(base),
			want: &deploy.Plan{
				LoadBalancerARN: "arn:lb", TargetGroupARNs: map[string]string{"shop/web:80": "arn:tg:shop/web:80"},
				DeleteListeners:    []string{"arn:listener:shop/web:443"},
				DeleteTargetGroups: []string{"arn:tg:shop/web:443"},
			},
		},
		{
			// An older kelb controller wrote the source ranges on the
			// listeners; they are the managed group's rules now.
			name:    "source ranges attribute of an older kelb controller removed",
			desired: base,
			actual: deployed(deploy.WithSourceRanges(mustBuild(t, planService(func(s *corev1.Service) {
				s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
			})))),
			want: &deploy.Plan{
				LoadBalancerARN: "arn:lb", TargetGroupARNs: kept,
				ModifyListeners: []deploy.ListenerChange{
					{ARN: "arn:listener:shop/web:80", Port: 80, Attributes: map[string]string{ListenerAttributeSourceRanges: ""}},
					{ARN: "arn:listener:shop/web:443", Port: 443, Attributes: map[string]string{ListenerAttributeSourceRanges: ""}},
				},
			},
		},
		{
			// A load balancer that cannot carry the managed group keeps
			// the source ranges on its listeners.
			name:    "source ranges on the listeners of a load balancer without groups",
			desired: deploy.WithSourceRanges(mustBuild(t, planService(func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} }))),
			actual:  deployed(base),
			want: &deploy.Plan{
				LoadBalancerARN: "arn:lb", TargetGroupARNs: kept,
				ModifyListeners: []deploy.ListenerChange{
					{ARN: "arn:listener:shop/web:80", Port: 80, Attributes: map[string]string{ListenerAttributeSourceRanges: "10.0.0.0/8"}},
					{ARN: "arn:listener:shop/web:443", Port: 443, Attributes: map[string]string{ListenerAttributeSourceRanges: "10.0.0.0/8"}},
				},
			},
		},
		{
			name:    "leftover load balancer of an interrupted replacement",
			desired: base,
			actual: func() *deploy.Actual {
				a := deployed(base)
				a.OtherLoadBalancers = []string{"arn:lb-old"}
				return a
			}(),
			want: &deploy.Plan{DeleteLoadBalancers: []string{"arn:lb-old"}, LoadBalancerARN: "arn:lb", TargetGroupARNs: kept},
		},
		{
			name:    "stack removed",
			desired: nil,
			actual:  deployed(base),
			want: &deploy.Plan{
				DeleteListeners:     []string{"arn:listener:shop/web:80", "arn:listener:shop/web:443"},
				DeleteLoadBalancers: []string{"arn:lb"},
				DeleteTargetGroups:  []string{"arn:tg:shop/web:80", "arn:tg:shop/web:443"},
				TargetGroupARNs:     map[string]string{},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deploy.Diff(tt.desired, tt.actual)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("deploy.Diff (-want +got):\n%s", diff)
			}
			wantEmpty := tt.name == "up to date" || tt.name == "subnets named by zone are up to date"
			if got.Empty() != wantEmpty {
				t.Errorf("Empty() = %v, want %v", got.Empty(), wantEmpty)
			}
		})
	}
}

// forwardedGroupOf is the ResourceID of the target group l forwards to.
func forwardedGroupOf(l Listener) string {
	tg, _ := l.DefaultAction.SingleTargetGroup()
	return tg
}

// alpnPolicyOf is the ALPN policy kelb server reports for p: None for none.
func alpnPolicyOf(p string) string {
	if p == "" {
		return "None"
	}
	return p
}

// certificateARNsOf are the ARNs of l's certificates, the default first.
func certificateARNsOf(l Listener) []string {
	var out []string
	for _, c := range l.Certificates {
		if c.ARN != "" && !slices.Contains(out, c.ARN) {
			out = append(out, c.ARN)
		}
	}
	return out
}

// forwardTo is a forward action to target group arn, as kelb server
// describes a network listener's.
func forwardTo(arn string) model.Action {
	return model.Action{Type: model.ActionForward, Forward: &model.ForwardAction{TargetGroups: []model.WeightedTargetGroup{{ARN: arn, Weight: 1}}}}
}

func ptr[T any](v T) *T { return &v }
