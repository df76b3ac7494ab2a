package service

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestManages(t *testing.T) {
	ours, other := DefaultLoadBalancerClass, "example.com/other"
	tests := []struct {
		name        string
		class       *string
		svcType     corev1.ServiceType
		annotations map[string]string
		sel         Selection
		want        bool
	}{
		{name: "our class", class: &ours, svcType: corev1.ServiceTypeLoadBalancer, want: true},
		{name: "our class wins over in-tree annotation", class: &ours, annotations: map[string]string{AnnotationLoadBalancerType: "nlb"}, svcType: corev1.ServiceTypeLoadBalancer, want: true},
		{name: "other class", class: &other, svcType: corev1.ServiceTypeLoadBalancer, want: false},
		{name: "other class wins over external annotation", class: &other, svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationLoadBalancerType: "external", AnnotationTargetType: "ip"}, want: false},
		{name: "other class with default load balancer", class: &other, svcType: corev1.ServiceTypeLoadBalancer, sel: Selection{DefaultLoadBalancer: true}, want: false},
		{name: "custom class", class: &other, svcType: corev1.ServiceTypeLoadBalancer, sel: Selection{LoadBalancerClass: other}, want: true},
		{name: "default class not ours under a custom class", class: &ours, svcType: corev1.ServiceTypeLoadBalancer, sel: Selection{LoadBalancerClass: other}, want: false},
		{name: "external ip", svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationLoadBalancerType: "external", AnnotationTargetType: "ip"}, want: true},
		{name: "external instance", svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationLoadBalancerType: "external", AnnotationTargetType: "instance"}, want: true},
		{name: "external on a NodePort Service", svcType: corev1.ServiceTypeNodePort, annotations: map[string]string{AnnotationLoadBalancerType: "external", AnnotationTargetType: "instance"}, want: true},
		{name: "external without target type", svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationLoadBalancerType: "external"}, want: false},
		{name: "external with bad target type", svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationLoadBalancerType: "external", AnnotationTargetType: "IP"}, want: false},
		{name: "external without target type is not taken by default load balancer", svcType: corev1.ServiceTypeLoadBalancer, sel: Selection{DefaultLoadBalancer: true}, annotations: map[string]string{AnnotationLoadBalancerType: "external"}, want: false},
		{name: "legacy nlb-ip", svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationLoadBalancerType: "nlb-ip"}, want: true},
		{name: "target type alone", svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationTargetType: "ip"}, want: false},
		{name: "in-tree nlb", svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationLoadBalancerType: "nlb"}, want: true},
		{name: "in-tree nlb on a ClusterIP Service", svcType: corev1.ServiceTypeClusterIP, annotations: map[string]string{AnnotationLoadBalancerType: "nlb"}, want: false},
		{name: "other type annotation", svcType: corev1.ServiceTypeLoadBalancer, annotations: map[string]string{AnnotationLoadBalancerType: "clb"}, sel: Selection{DefaultLoadBalancer: true}, want: false},
		{name: "plain LoadBalancer", svcType: corev1.ServiceTypeLoadBalancer, want: false},
		{name: "plain LoadBalancer with default load balancer", svcType: corev1.ServiceTypeLoadBalancer, sel: Selection{DefaultLoadBalancer: true}, want: true},
		{name: "plain ClusterIP with default load balancer", svcType: corev1.ServiceTypeClusterIP, sel: Selection{DefaultLoadBalancer: true}, want: false},
		{name: "plain NodePort with default load balancer", svcType: corev1.ServiceTypeNodePort, sel: Selection{DefaultLoadBalancer: true}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc", Annotations: tt.annotations},
				Spec:       corev1.ServiceSpec{Type: tt.svcType, LoadBalancerClass: tt.class},
			}
			if got := tt.sel.Manages(svc); got != tt.want {
				t.Errorf("Manages() = %v, want %v", got, tt.want)
			}
		})
	}
}
