// Package webhook is kelb controller's admission webhook server: the AWS
// Load Balancer Controller's webhooks, with its names, paths, checks and
// messages, and the serving certificate they share.
//
//   - Pods (mpod.elbv2.k8s.aws, failurePolicy Ignore): a pod created in a
//     namespace labelled elbv2.k8s.aws/pod-readiness-gate-inject=enabled,
//     not itself labelled with that label set to disabled, gets one
//     readiness gate target-health.elbv2.k8s.aws/<binding> per ip-mode
//     TargetGroupBinding of its namespace whose Service selects it. The
//     TargetGroupBinding reconciler then sets the condition True once the
//     pod's target is healthy, so a rolling update waits for the load
//     balancer. If the webhook cannot be reached, pods are created without
//     gates, as if the feature were off; if it cannot read the bindings it
//     answers with the error, which Ignore turns into the same.
//   - Services (mservice, Fail): with --enable-service-mutator-webhook, a
//     type LoadBalancer Service created without spec.loadBalancerClass gets
//     the controller's class; without it every Service passes unchanged.
//   - TargetGroupBindings (mtargetgroupbinding and vtargetgroupbinding,
//     Fail): a new binding is filled in from its target group (ARN from
//     targetGroupName, targetType, ipAddressType, vpcID,
//     targetGroupProtocol), then checked against it; an update may not
//     change the immutable fields; one target group has one binding unless
//     all of its bindings are multiCluster.
//   - Ingresses (vingress, Fail): an Ingress of ours whose IngressClass or
//     IngressClassParams is missing or does not select its namespace, or
//     whose group or conditions annotations the build would refuse, is
//     refused; Ingresses of other controllers pass unseen.
//   - IngressClassParams (vingressclassparams, Fail): inboundCIDRs must be
//     networks, subnets ids or tags (not both, no duplicates), and the
//     fields kelb reads must parse.
//
// A refusal is the API server's 403 with the check's message and changes
// nothing; a webhook that cannot reach kelb server or the API server to
// decide refuses with the error (Fail), so a create or update is retried
// rather than let through unchecked.
//
// Certificate: CertManager generates a self-signed CA and a serving
// certificate for the names and addresses the API server uses, writes them
// where the webhook server reads them (it reloads changed files), and puts
// the CA into the caBundle of every webhook of the
// MutatingWebhookConfiguration and ValidatingWebhookConfiguration (in url
// mode, outside the cluster, it writes the configurations whole). The
// bundle keeps the CAs of other replicas and earlier runs while they are
// valid, so replicas and restarts never leave a serving certificate
// untrusted. A certificate is renewed when two thirds of its life have
// passed: the new CA joins the bundles first, then the new certificate is
// written.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/targetgroupbinding"
)

const (
	// LabelInject turns readiness gate injection on for a namespace
	// (enabled) and off for a pod (disabled).
	LabelInject = "elbv2.k8s.aws/pod-readiness-gate-inject"
	// PathMutatePod is where the pod mutating webhook is served.
	PathMutatePod = "/mutate-v1-pod"
	// WebhookName names the pod webhook in the configuration.
	WebhookName = "mpod.elbv2.k8s.aws"
)

// ReadinessGates returns the readiness gates pod lacks: one per ip-mode
// binding, not being deleted, whose Service (from services, by name)
// selects the pod. Sorted by name.
func ReadinessGates(pod *corev1.Pod, bindings []elbv2api.TargetGroupBinding, services map[string]*corev1.Service) []corev1.PodReadinessGate {
	var out []corev1.PodReadinessGate
	for i := range bindings {
		b := &bindings[i]
		if b.Spec.TargetType == nil || *b.Spec.TargetType != elbv2api.TargetTypeIP || b.DeletionTimestamp != nil {
			continue
		}
		svc := services[b.Spec.ServiceRef.Name]
		if svc == nil || len(svc.Spec.Selector) == 0 {
			continue
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			continue
		}
		gate := targetgroupbinding.GateFor(b.Name)
		if targetgroupbinding.HasGate(pod, gate) || slices.ContainsFunc(out, func(g corev1.PodReadinessGate) bool { return g.ConditionType == gate }) {
			continue
		}
		out = append(out, corev1.PodReadinessGate{ConditionType: gate})
	}
	slices.SortFunc(out, func(a, b corev1.PodReadinessGate) int {
		return strings.Compare(string(a.ConditionType), string(b.ConditionType))
	})
	return out
}

// PodMutator is the admission handler that injects readiness gates.
type PodMutator struct {
	// Client reads namespaces, TargetGroupBindings and Services (the
	// manager's cache).
	Client  client.Reader
	decoder admission.Decoder
}

// NewPodMutator returns a PodMutator decoding with scheme.
func NewPodMutator(c client.Reader, scheme *runtime.Scheme) *PodMutator {
	return &PodMutator{Client: c, decoder: admission.NewDecoder(scheme)}
}

var _ admission.Handler = (*PodMutator)(nil)

// Handle answers one admission request for a pod.
func (m *PodMutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	var pod corev1.Pod
	if err := m.decoder.Decode(req, &pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err))
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	if pod.Labels[LabelInject] == "disabled" {
		return admission.Allowed("readiness gate injection disabled for the pod")
	}
	var namespace corev1.Namespace
	if err := m.Client.Get(ctx, client.ObjectKey{Name: ns}, &namespace); err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("get namespace %s: %w", ns, err))
	}
	if namespace.Labels[LabelInject] != "enabled" {
		return admission.Allowed("readiness gate injection not enabled in the namespace")
	}
	var bindings elbv2api.TargetGroupBindingList
	if err := m.Client.List(ctx, &bindings, client.InNamespace(ns)); err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("list target group bindings in %s: %w", ns, err))
	}
	services := map[string]*corev1.Service{}
	for _, b := range bindings.Items {
		name := b.Spec.ServiceRef.Name
		if _, done := services[name]; done {
			continue
		}
		var svc corev1.Service
		if err := m.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return admission.Errored(http.StatusInternalServerError, fmt.Errorf("get service %s/%s: %w", ns, name, err))
			}
			services[name] = nil
			continue
		}
		services[name] = &svc
	}
	gates := ReadinessGates(&pod, bindings.Items, services)
	if len(gates) == 0 {
		return admission.Allowed("no target group binding selects the pod")
	}
	pod.Spec.ReadinessGates = append(pod.Spec.ReadinessGates, gates...)
	raw, err := json.Marshal(&pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode pod: %w", err))
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}
