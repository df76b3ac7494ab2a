package gateway

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrlbuilder "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	awsv1 "github.com/kelb-io/kelb/api/gateway/v1"
)

// loadConfig gathers the configuration resources of a Gateway: the
// LoadBalancerConfigurations its class and itself name, every
// TargetGroupConfiguration, and the ListenerRuleConfigurations its routes'
// ExtensionRef filters name. A cluster without their CRDs has none.
func (r *Reconciler) loadConfig(ctx context.Context, class *gatewayv1.GatewayClass, gw *gatewayv1.Gateway, routes []Route) (Config, error) {
	cfg := Config{TargetGroups: map[types.NamespacedName]*awsv1.TargetGroupConfiguration{}, RuleConfigs: map[types.NamespacedName]*awsv1.ListenerRuleConfiguration{}}
	get := func(name types.NamespacedName, obj client.Object) (bool, error) {
		err := r.Client.Get(ctx, name, obj)
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			return false, nil
		}
		return false, fmt.Errorf("get %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, name, err)
	}
	if name, ok := ClassParameters(class); ok {
		lb := &awsv1.LoadBalancerConfiguration{}
		found, err := get(name, lb)
		if err != nil {
			return cfg, err
		}
		if found {
			cfg.ClassLB = lb
		}
	}
	if name, ok := GatewayParameters(gw); ok {
		lb := &awsv1.LoadBalancerConfiguration{}
		found, err := get(name, lb)
		if err != nil {
			return cfg, err
		}
		if found {
			cfg.GatewayLB = lb
		}
	}
	var tgcs awsv1.TargetGroupConfigurationList
	if err := r.Client.List(ctx, &tgcs); err != nil && !meta.IsNoMatchError(err) {
		return cfg, fmt.Errorf("list TargetGroupConfigurations: %w", err)
	}
	for i := range tgcs.Items {
		t := &tgcs.Items[i]
		cfg.TargetGroups[types.NamespacedName{Namespace: t.Namespace, Name: t.Name}] = t
	}
	for _, rt := range routes {
		for _, name := range ruleConfigRefs(rt) {
			if _, ok := cfg.RuleConfigs[name]; ok {
				continue
			}
			lrc := &awsv1.ListenerRuleConfiguration{}
			found, err := get(name, lrc)
			if err != nil {
				return cfg, err
			}
			if found {
				cfg.RuleConfigs[name] = lrc
			}
		}
	}
	return cfg, nil
}

// watchConfig has b reconcile every Gateway when a LoadBalancer,
// TargetGroup or ListenerRule configuration changes, for the kinds whose
// CRDs the cluster serves.
func (r *Reconciler) watchConfig(mapper meta.RESTMapper, b *ctrlbuilder.Builder) *ctrlbuilder.Builder {
	for _, w := range []struct {
		kind string
		obj  client.Object
	}{
		{KindLoadBalancerConfiguration, &awsv1.LoadBalancerConfiguration{}},
		{KindTargetGroupConfiguration, &awsv1.TargetGroupConfiguration{}},
		{KindListenerRuleConfiguration, &awsv1.ListenerRuleConfiguration{}},
	} {
		if _, err := mapper.RESTMapping(schema.GroupKind{Group: GroupAWS, Kind: w.kind}, awsv1.GroupVersion.Version); err != nil {
			continue
		}
		b = b.Watches(w.obj, handler.EnqueueRequestsFromMapFunc(r.allGateways))
	}
	return b
}
