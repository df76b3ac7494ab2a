package devcluster

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// The GatewayClasses kelb up creates, named as the AWS Load Balancer
// Controller's Gateway API guides name them: Gateways of the first get an
// application load balancer (HTTPRoute, GRPCRoute), of the second a network
// load balancer (TCPRoute, UDPRoute, TLSRoute).
const (
	GatewayClassALB = "aws-alb-gateway-class"
	GatewayClassNLB = "aws-nlb-gateway-class"
)

// gatewayClasses maps kelb up's GatewayClasses to their controllerName.
var gatewayClasses = []struct{ name, controller string }{
	{GatewayClassALB, "gateway.k8s.aws/alb"},
	{GatewayClassNLB, "gateway.k8s.aws/nlb"},
}

var gatewayClassResource = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gatewayclasses"}

// createGatewayClasses creates kelb up's GatewayClasses unless they exist.
// It does nothing when the cluster has no Gateway API CRDs (kelb up
// --gateway-api-channel none, or --crds without them), and waits (up to a
// minute) for a just-applied GatewayClass CRD to be served.
func createGatewayClasses(ctx context.Context, cfg *rest.Config, logf func(string, ...any)) error {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, c := range gatewayClasses {
		class := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1",
			"kind":       "GatewayClass",
			"metadata": map[string]any{
				"name":   c.name,
				"labels": map[string]any{"app.kubernetes.io/name": "kelb-controller"},
			},
			"spec": map[string]any{"controllerName": c.controller},
		}}
		for {
			_, err = client.Resource(gatewayClassResource).Create(ctx, class, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				break
			}
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				if !crdsMention(ctx, cfg) {
					logf("the cluster has no Gateway API CRDs: no GatewayClasses")
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("create GatewayClass %s: %w", c.name, err)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return nil
}

// crdsMention reports whether the cluster has the GatewayClass CRD (being
// established or not).
func crdsMention(ctx context.Context, cfg *rest.Config) bool {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return false
	}
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	_, err = client.Resource(crds).Get(ctx, "gatewayclasses.gateway.networking.k8s.io", metav1.GetOptions{})
	return err == nil
}
