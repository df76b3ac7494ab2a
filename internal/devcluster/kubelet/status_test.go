package kubelet

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDesiredStatusReadiness(t *testing.T) {
	gate := corev1.PodConditionType("target-health.elbv2.k8s.aws/k8s-demo-echo-abc")
	ready := []containerState{{Name: "app", Ready: true, Started: true}}
	notReady := []containerState{{Name: "app", Started: true}, {Name: "sidecar", Ready: true, Started: true}}
	withGate := func(conds ...corev1.PodCondition) *corev1.Pod {
		return &corev1.Pod{
			Spec:   corev1.PodSpec{ReadinessGates: []corev1.PodReadinessGate{{ConditionType: gate}}},
			Status: corev1.PodStatus{Conditions: conds},
		}
	}
	type want struct {
		ContainersReady, Ready corev1.ConditionStatus
		Reason                 string
	}
	tests := []struct {
		name        string
		pod         *corev1.Pod
		containers  []containerState
		terminating bool
		want        want
	}{
		{"all ready, no gates", &corev1.Pod{}, ready, false, want{"True", "True", ""}},
		{"container not ready", &corev1.Pod{}, notReady, false, want{"False", "False", "ContainersNotReady"}},
		{"gate missing", withGate(), ready, false, want{"True", "False", "ReadinessGatesNotReady"}},
		{"gate false", withGate(corev1.PodCondition{Type: gate, Status: "False"}), ready, false, want{"True", "False", "ReadinessGatesNotReady"}},
		{"gate true", withGate(corev1.PodCondition{Type: gate, Status: "True"}), ready, false, want{"True", "True", ""}},
		{"terminating", &corev1.Pod{}, ready, true, want{"False", "False", "ContainersNotReady"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := statusInput{PodIP: netip.MustParseAddr("198.18.1.2"), HostIP: netip.MustParseAddr("198.18.0.11"), Containers: tt.containers, Terminating: tt.terminating}
			st := desiredStatus(tt.pod, in, metav1.Now())
			got := want{
				ContainersReady: findCondition(st.Conditions, corev1.ContainersReady).Status,
				Ready:           findCondition(st.Conditions, corev1.PodReady).Status,
				Reason:          findCondition(st.Conditions, corev1.PodReady).Reason,
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if st.Phase != corev1.PodRunning || st.PodIP != "198.18.1.2" || st.HostIP != "198.18.0.11" {
				t.Errorf("phase %s podIP %s hostIP %s", st.Phase, st.PodIP, st.HostIP)
			}
		})
	}
}

func TestDesiredStatusKeepsTransitionTimes(t *testing.T) {
	earlier := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := metav1.NewTime(earlier.Add(time.Hour))
	pod := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodInitialized, Status: "True", LastTransitionTime: earlier},
		{Type: corev1.PodReady, Status: "False", LastTransitionTime: earlier},
	}}}
	in := statusInput{PodIP: netip.MustParseAddr("198.18.1.2"), HostIP: netip.MustParseAddr("198.18.0.11"), Containers: []containerState{{Name: "app", Ready: true}}}
	st := desiredStatus(pod, in, now)
	if got := findCondition(st.Conditions, corev1.PodInitialized).LastTransitionTime; !got.Equal(&earlier) {
		t.Errorf("unchanged Initialized moved its transition time to %v", got)
	}
	if got := findCondition(st.Conditions, corev1.PodReady).LastTransitionTime; !got.Equal(&now) {
		t.Errorf("Ready False->True kept transition time %v, want %v", got, now)
	}
	if statusDiffers(&st, &st) {
		t.Error("a status differs from itself")
	}
	pod.Status = st
	if statusDiffers(&pod.Status, &st) {
		t.Error("written status still differs")
	}
	in.Containers[0].Ready = false
	next := desiredStatus(pod, in, now)
	if !statusDiffers(&pod.Status, &next) {
		t.Error("readiness change not seen as a difference")
	}
}

func TestPreStopSleep(t *testing.T) {
	tests := []struct {
		name string
		h    corev1.LifecycleHandler
		want time.Duration
	}{
		{"sleep action", corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 15}}, 15 * time.Second},
		{"exec sleep", corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}, 5 * time.Second},
		{"exec /bin/sleep", corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sleep", "2.5"}}}, 2500 * time.Millisecond},
		{"shell sleep", corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "echo bye; sleep 20"}}}, 20 * time.Second},
		{"other command", corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"nginx", "-s", "quit"}}}, 0},
		{"http", corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/shutdown"}}, 0},
	}
	for _, tt := range tests {
		if got := preStopSleep(&tt.h); got != tt.want {
			t.Errorf("%s: preStopSleep = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPodIPsStable(t *testing.T) {
	p := newPodIPs(netip.MustParsePrefix("198.18.2.0/24"))
	p.reserve("default/b", "uid-b", netip.MustParseAddr("198.18.2.2"))
	a, _ := p.allocate("default/a", "uid-a")
	b, _ := p.allocate("default/b", "uid-b")
	if a.String() != "198.18.2.3" || b.String() != "198.18.2.2" {
		t.Fatalf("allocate a=%v b=%v; want the reserved .2 for b and .3 for a", a, b)
	}
	p.release("default/b", "uid-other")
	if again, _ := p.allocate("default/c", "uid-c"); again.String() != "198.18.2.4" {
		t.Errorf("release with another uid freed b's address: c got %v", again)
	}
	p.release("default/b", "uid-b")
	if again, _ := p.allocate("default/d", "uid-d"); again.String() != "198.18.2.2" {
		t.Errorf("after release: d got %v, want the lowest free 198.18.2.2", again)
	}
	if again, _ := p.allocate("default/a", "uid-a2"); again.String() != "198.18.2.3" {
		t.Errorf("a recreated with a new uid got %v, want the lowest free 198.18.2.3", again)
	}
}
