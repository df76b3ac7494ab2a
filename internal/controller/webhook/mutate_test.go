package webhook

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

func binding(name, service string, tt elbv2api.TargetType) elbv2api.TargetGroupBinding {
	return elbv2api.TargetGroupBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: name},
		Spec: elbv2api.TargetGroupBindingSpec{
			TargetGroupARN: "arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/" + name + "/0123456789abcdef",
			TargetType:     &tt,
			ServiceRef:     elbv2api.ServiceReference{Name: service},
		},
	}
}

func svc(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: name}, Spec: corev1.ServiceSpec{Selector: selector}}
}

func gates(names ...string) []corev1.PodReadinessGate {
	var out []corev1.PodReadinessGate
	for _, n := range names {
		out = append(out, corev1.PodReadinessGate{ConditionType: corev1.PodConditionType("target-health.elbv2.k8s.aws/" + n)})
	}
	return out
}

func TestReadinessGates(t *testing.T) {
	deleting := binding("gone", "ui-nlb", elbv2api.TargetTypeIP)
	deleting.DeletionTimestamp = &metav1.Time{}
	services := map[string]*corev1.Service{
		"ui-nlb":   svc("ui-nlb", map[string]string{"app": "ui"}),
		"ui-admin": svc("ui-admin", map[string]string{"app": "ui", "tier": "admin"}),
		"headless": svc("headless", nil),
	}
	tests := []struct {
		name     string
		labels   map[string]string
		existing []corev1.PodReadinessGate
		bindings []elbv2api.TargetGroupBinding
		want     []corev1.PodReadinessGate
	}{
		{
			name:     "one gate per ip binding whose service selects the pod, sorted",
			labels:   map[string]string{"app": "ui", "tier": "admin"},
			bindings: []elbv2api.TargetGroupBinding{binding("k8s-b", "ui-nlb", elbv2api.TargetTypeIP), binding("k8s-a", "ui-admin", elbv2api.TargetTypeIP)},
			want:     gates("k8s-a", "k8s-b"),
		},
		{
			name:     "a service that does not select the pod",
			labels:   map[string]string{"app": "ui"},
			bindings: []elbv2api.TargetGroupBinding{binding("k8s-a", "ui-admin", elbv2api.TargetTypeIP)},
		},
		{
			name:     "instance bindings, bindings being deleted, selectorless and missing services give no gate",
			labels:   map[string]string{"app": "ui"},
			bindings: []elbv2api.TargetGroupBinding{binding("inst", "ui-nlb", elbv2api.TargetTypeInstance), deleting, binding("h", "headless", elbv2api.TargetTypeIP), binding("m", "missing", elbv2api.TargetTypeIP)},
		},
		{
			name:     "a gate the pod already has is not added twice",
			labels:   map[string]string{"app": "ui"},
			existing: gates("k8s-b"),
			bindings: []elbv2api.TargetGroupBinding{binding("k8s-b", "ui-nlb", elbv2api.TargetTypeIP)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: tt.labels}, Spec: corev1.PodSpec{ReadinessGates: tt.existing}}
			if diff := cmp.Diff(tt.want, ReadinessGates(pod, tt.bindings, services)); diff != "" {
				t.Errorf("gates (-want +got):\n%s", diff)
			}
		})
	}
}

// The handler answers real AdmissionReview requests: a JSON patch adding
// the gates in a labelled namespace, nothing elsewhere.
func TestPodMutatorHandle(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := elbv2api.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := binding("k8s-ui-uinlb-1", "ui-nlb", elbv2api.TargetTypeIP)
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ui", Labels: map[string]string{LabelInject: "enabled"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
		svc("ui-nlb", map[string]string{"app": "ui"}),
		&b,
	}
	m := NewPodMutator(fake.NewClientBuilder().WithScheme(scheme).WithRuntimeObjects(objs...).Build(), scheme)

	tests := []struct {
		name      string
		namespace string
		labels    map[string]string
		wantGates []corev1.PodReadinessGate
	}{
		{"labelled namespace", "ui", map[string]string{"app": "ui"}, gates("k8s-ui-uinlb-1")},
		{"pod opted out", "ui", map[string]string{"app": "ui", LabelInject: "disabled"}, nil},
		{"namespace not labelled", "plain", map[string]string{"app": "ui"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{GenerateName: "ui-", Labels: tt.labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "ui", Image: "echoserver"}}},
			}
			raw, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			resp := m.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				Operation: admissionv1.Create,
				Namespace: tt.namespace,
				Object:    runtime.RawExtension{Raw: raw},
			}})
			if !resp.Allowed {
				t.Fatalf("not allowed: %+v", resp.Result)
			}
			// Apply the patch operations the way the API server does, by
			// reading them back.
			var got []corev1.PodReadinessGate
			for _, op := range resp.Patches {
				if op.Path == "/spec/readinessGates" {
					b, _ := json.Marshal(op.Value)
					if err := json.Unmarshal(b, &got); err != nil {
						t.Fatal(err)
					}
				}
			}
			if diff := cmp.Diff(tt.wantGates, got); diff != "" {
				t.Errorf("patched gates (-want +got):\n%s\npatches: %+v", diff, resp.Patches)
			}
		})
	}
}
