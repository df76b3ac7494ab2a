package kubelet

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// containerState is what the simulated runtime knows of one container.
type containerState struct {
	Name, Image    string
	Started, Ready bool
	RestartCount   int32
	StartedAt      metav1.Time
	// LastTermination is set after a liveness restart.
	LastTermination *corev1.ContainerStateTerminated
}

// statusInput is everything the kubelet decides about a pod's status.
type statusInput struct {
	PodIP, HostIP netip.Addr
	StartTime     metav1.Time
	Containers    []containerState
	Terminating   bool
}

// ownedConditions are the pod conditions the kubelet sets; any other
// condition (readiness gates) belongs to someone else and is left alone.
var ownedConditions = []corev1.PodConditionType{
	corev1.PodReadyToStartContainers,
	corev1.PodInitialized,
	corev1.PodScheduled,
	corev1.ContainersReady,
	corev1.PodReady,
}

// desiredStatus computes the status fields the kubelet owns. Ready is True
// only when every container is ready, every readiness gate's condition is
// True in pod's current status, and the pod is not terminating. A condition
// keeps its lastTransitionTime while its status does not change.
func desiredStatus(pod *corev1.Pod, in statusInput, now metav1.Time) corev1.PodStatus {
	var notReady []string
	for _, c := range in.Containers {
		if !c.Ready || in.Terminating {
			notReady = append(notReady, c.Name)
		}
	}
	containersReady := len(notReady) == 0
	ready, reason, message := containersReady, "", ""
	if !containersReady {
		reason, message = "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	} else {
		for _, g := range pod.Spec.ReadinessGates {
			c := findCondition(pod.Status.Conditions, g.ConditionType)
			if c == nil {
				ready, reason = false, "ReadinessGatesNotReady"
				message = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType)
				break
			}
			if c.Status != corev1.ConditionTrue {
				ready, reason = false, "ReadinessGatesNotReady"
				message = fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %s", g.ConditionType, c.Status)
				break
			}
		}
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
		status := corev1.ConditionFalse
		if ok {
			status = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: now}
		if old := findCondition(pod.Status.Conditions, t); old != nil && old.Status == status && !old.LastTransitionTime.IsZero() {
			c.LastTransitionTime = old.LastTransitionTime
		}
		return c
	}
	containersReadyReason, containersReadyMessage := "", ""
	if !containersReady {
		containersReadyReason, containersReadyMessage = "ContainersNotReady", message
	}
	st := corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodReadyToStartContainers, true, "", ""),
			cond(corev1.PodInitialized, true, "", ""),
			cond(corev1.ContainersReady, containersReady, containersReadyReason, containersReadyMessage),
			cond(corev1.PodReady, ready, reason, message),
			cond(corev1.PodScheduled, true, "", ""),
		},
		HostIP:    in.HostIP.String(),
		HostIPs:   []corev1.HostIP{{IP: in.HostIP.String()}},
		PodIP:     in.PodIP.String(),
		PodIPs:    []corev1.PodIP{{IP: in.PodIP.String()}},
		StartTime: &in.StartTime,
		QOSClass:  pod.Status.QOSClass,
	}
	for _, c := range in.Containers {
		cs := corev1.ContainerStatus{
			Name:         c.Name,
			Ready:        c.Ready && !in.Terminating,
			Started:      &c.Started,
			RestartCount: c.RestartCount,
			Image:        c.Image,
			ImageID:      imageID(c.Image),
			ContainerID:  containerID(pod.UID, c.Name, c.RestartCount),
			State:        corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: c.StartedAt}},
		}
		if c.LastTermination != nil {
			cs.LastTerminationState = corev1.ContainerState{Terminated: c.LastTermination}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	return st
}

// statusDiffers reports whether the owned parts of two statuses differ,
// ignoring timestamps that do not change meaning.
func statusDiffers(cur, want *corev1.PodStatus) bool {
	if cur.Phase != want.Phase || cur.PodIP != want.PodIP || cur.HostIP != want.HostIP || cur.StartTime == nil {
		return true
	}
	for _, w := range want.Conditions {
		c := findCondition(cur.Conditions, w.Type)
		if c == nil || c.Status != w.Status || c.Reason != w.Reason || c.Message != w.Message {
			return true
		}
	}
	if len(cur.ContainerStatuses) != len(want.ContainerStatuses) {
		return true
	}
	for i, w := range want.ContainerStatuses {
		c := cur.ContainerStatuses[i]
		if c.Name != w.Name || c.Ready != w.Ready || c.RestartCount != w.RestartCount || c.ContainerID != w.ContainerID ||
			c.Started == nil || *c.Started != *w.Started || c.State.Running == nil {
			return true
		}
	}
	return false
}

// statusPatch is the strategic merge patch that writes want: conditions merge
// by type, so conditions owned by others survive.
func statusPatch(want *corev1.PodStatus) map[string]any {
	return map[string]any{"status": map[string]any{
		"phase":             want.Phase,
		"conditions":        want.Conditions,
		"hostIP":            want.HostIP,
		"hostIPs":           want.HostIPs,
		"podIP":             want.PodIP,
		"podIPs":            want.PodIPs,
		"startTime":         want.StartTime,
		"containerStatuses": want.ContainerStatuses,
	}}
}

func findCondition(conds []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func containerID(uid types.UID, name string, restarts int32) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", uid, name, restarts))
	return "kelb://" + hex.EncodeToString(sum[:])
}

func imageID(image string) string {
	sum := sha256.Sum256([]byte(image))
	ref := image
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref + "@sha256:" + hex.EncodeToString(sum[:])
}
