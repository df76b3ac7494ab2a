package kubelet

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// leaseDuration is the node lease's duration, as the kubelet's default.
const leaseDuration = 40

// nodeObject is the Node a simulated node registers.
func nodeObject(n NodeSpec, version string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name,
			Labels: map[string]string{
				"kubernetes.io/hostname":           n.Name,
				"kubernetes.io/os":                 "linux",
				"kubernetes.io/arch":               "amd64",
				"topology.kubernetes.io/zone":      n.Zone,
				"topology.kubernetes.io/region":    n.Region,
				"node.kubernetes.io/instance-type": "m5.large",
				"beta.kubernetes.io/os":            "linux",
				"beta.kubernetes.io/arch":          "amd64",
			},
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: corev1.NodeSpec{
			PodCIDR:    n.PodCIDR.String(),
			PodCIDRs:   []string{n.PodCIDR.String()},
			ProviderID: n.ProviderID(),
		},
		Status: nodeStatus(n, version, nil, metav1.Now()),
	}
}

// nodeStatus is a healthy node's status; conditions keep their
// lastTransitionTime from prev when their status is unchanged.
func nodeStatus(n NodeSpec, version string, prev *corev1.NodeStatus, now metav1.Time) corev1.NodeStatus {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("16Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("80Gi"),
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: message, LastHeartbeatTime: now, LastTransitionTime: now}
		if prev != nil {
			for _, old := range prev.Conditions {
				if old.Type == t && old.Status == s && !old.LastTransitionTime.IsZero() {
					c.LastTransitionTime = old.LastTransitionTime
				}
			}
		}
		return c
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kelb simulated kubelet is posting ready status"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.IP.String()},
			{Type: corev1.NodeHostName, Address: n.Name},
			{Type: corev1.NodeInternalDNS, Address: n.Name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               fmt.Sprintf("%032x", n.Index),
			SystemUUID:              fmt.Sprintf("ec2%029x", n.Index),
			BootID:                  fmt.Sprintf("%032x", n.Index),
			KernelVersion:           "6.1.0-kelb",
			OSImage:                 "kelb simulated node",
			ContainerRuntimeVersion: "kelb://1.0.0",
			KubeletVersion:          version,
			KubeProxyVersion:        version,
			OperatingSystem:         "linux",
			Architecture:            "amd64",
		},
	}
}

// runNode registers a node and keeps it alive: every interval its Lease in
// kube-node-lease is renewed and its conditions' heartbeats refreshed. Errors
// (an apiserver restarting) are logged and retried on the next beat; the
// objects are left in place when ctx ends.
func (k *kubelet) runNode(ctx context.Context, n NodeSpec) {
	log := k.log.With("node", n.Name)
	t := time.NewTicker(k.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		if err := k.heartbeat(ctx, n); err != nil && ctx.Err() == nil {
			log.Error("node heartbeat", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *kubelet) heartbeat(ctx context.Context, n NodeSpec) error {
	nodes := k.cfg.Client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, n.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(ctx, nodeObject(n, k.cfg.KubeletVersion), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("register node %s: %w", n.Name, err)
		}
		k.log.Info("registered node", "node", n.Name, "ip", n.IP, "zone", n.Zone)
	} else if err != nil {
		return fmt.Errorf("get node %s: %w", n.Name, err)
	}
	node.Status = nodeStatus(n, k.cfg.KubeletVersion, &node.Status, metav1.Now())
	if node, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of node %s: %w", n.Name, err)
	}
	return k.renewLease(ctx, node)
}

func (k *kubelet) renewLease(ctx context.Context, node *corev1.Node) error {
	leases := k.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, node.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name:      node.Name,
				Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
				}},
			},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(node.Name),
				LeaseDurationSeconds: ptr.To[int32](leaseDuration),
				RenewTime:            &now,
			},
		}
		if _, err := leases.Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create lease of node %s: %w", node.Name, err)
		}
		return nil
	} else if err != nil {
		return fmt.Errorf("get lease of node %s: %w", node.Name, err)
	}
	lease.Spec.HolderIdentity = ptr.To(node.Name)
	lease.Spec.LeaseDurationSeconds = ptr.To[int32](leaseDuration)
	lease.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renew lease of node %s: %w", node.Name, err)
	}
	return nil
}
