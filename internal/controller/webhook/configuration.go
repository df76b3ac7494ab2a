package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Webhooks says which webhooks kelb controller serves besides the pod
// readiness gate mutator, which it always serves.
type Webhooks struct {
	// Service is the Service mutator (mservice).
	Service bool
	// TargetGroupBinding is the TargetGroupBinding mutator and validator.
	TargetGroupBinding bool
	// Ingress is the Ingress validator.
	Ingress bool
	// IngressClassParams is the IngressClassParams validator.
	IngressClassParams bool
}

// AllWebhooks is every webhook but the Service mutator, which changes
// which Services are the controller's and is asked for on its own.
var AllWebhooks = Webhooks{TargetGroupBinding: true, Ingress: true, IngressClassParams: true}

func rule(group, version, resource string, ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: ops,
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{version}, Resources: []string{resource}},
	}}
}

// notTheController leaves kelb controller's own objects alone, as the AWS
// Load Balancer Controller's chart does.
func notTheController(more ...metav1.LabelSelectorRequirement) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchExpressions: append([]metav1.LabelSelectorRequirement{{
		Key: LabelControllerName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{ControllerName},
	}}, more...)}
}

// Configurations returns the mutating and validating configurations of
// the webhooks of w (and the pod mutator) served at baseURL
// (https://host:port), with the AWS Load Balancer Controller's names,
// paths, rules and failure policies: Ignore for the pod mutator (pods are
// never blocked), Fail for the others. Every field the API server would
// default is set, so that a configuration read back compares equal.
func Configurations(name, baseURL string, w Webhooks) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	ignore := admissionregistrationv1.Ignore
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	equivalent := admissionregistrationv1.Equivalent
	never := admissionregistrationv1.NeverReinvocationPolicy
	timeout := int32(10)
	create := admissionregistrationv1.Create
	update := admissionregistrationv1.Update
	url := func(path string) admissionregistrationv1.WebhookClientConfig {
		u := baseURL + path
		return admissionregistrationv1.WebhookClientConfig{URL: &u}
	}
	mutating := func(name, path string, policy *admissionregistrationv1.FailurePolicyType, rules []admissionregistrationv1.RuleWithOperations, ns, obj *metav1.LabelSelector) admissionregistrationv1.MutatingWebhook {
		if ns == nil {
			ns = &metav1.LabelSelector{}
		}
		if obj == nil {
			obj = &metav1.LabelSelector{}
		}
		return admissionregistrationv1.MutatingWebhook{
			Name: name, ClientConfig: url(path), Rules: rules, FailurePolicy: policy,
			MatchPolicy: &equivalent, NamespaceSelector: ns, ObjectSelector: obj, SideEffects: &none,
			TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"}, ReinvocationPolicy: &never,
		}
	}
	validating := func(name, path string, rules []admissionregistrationv1.RuleWithOperations, obj *metav1.LabelSelector) admissionregistrationv1.ValidatingWebhook {
		if obj == nil {
			obj = &metav1.LabelSelector{}
		}
		return admissionregistrationv1.ValidatingWebhook{
			Name: name, ClientConfig: url(path), Rules: rules, FailurePolicy: &fail,
			MatchPolicy: &equivalent, NamespaceSelector: &metav1.LabelSelector{}, ObjectSelector: obj, SideEffects: &none,
			TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}
	}

	m := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	m.Webhooks = append(m.Webhooks, mutating(WebhookName, PathMutatePod, &ignore, rule("", "v1", "pods", create),
		&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: LabelInject, Operator: metav1.LabelSelectorOpIn, Values: []string{"enabled"},
		}}},
		&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: LabelInject, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"disabled"},
		}}}))
	if w.Service {
		m.Webhooks = append(m.Webhooks, mutating(ServiceWebhookName, PathMutateService, &fail, rule("", "v1", "services", create), nil, notTheController()))
	}
	if w.TargetGroupBinding {
		m.Webhooks = append(m.Webhooks, mutating(MutateTargetGroupBindingWebhookName, PathMutateTargetGroupBinding, &fail, rule("elbv2.k8s.aws", "v1beta1", "targetgroupbindings", create, update), nil, nil))
	}

	v := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if w.IngressClassParams {
		v.Webhooks = append(v.Webhooks, validating(ValidateIngressClassParamsWebhookName, PathValidateIngressClassParams, rule("elbv2.k8s.aws", "v1beta1", "ingressclassparams", create, update), notTheController()))
	}
	if w.TargetGroupBinding {
		v.Webhooks = append(v.Webhooks, validating(ValidateTargetGroupBindingWebhookName, PathValidateTargetGroupBinding, rule("elbv2.k8s.aws", "v1beta1", "targetgroupbindings", create, update), nil))
	}
	if w.Ingress {
		v.Webhooks = append(v.Webhooks, validating(ValidateIngressWebhookName, PathValidateIngress, rule("networking.k8s.io", "v1", "ingresses", create, update), nil))
	}
	return m, v
}
