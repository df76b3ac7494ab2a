// Package targetgroupbinding keeps the targets of a target group equal to the
// members of a Kubernetes Service, as the AWS Load Balancer Controller's
// TargetGroupBinding reconciler does.
//
// For each TargetGroupBinding the reconciler computes the desired targets
// with pure functions: for ip targets, the endpoints of the Service's
// EndpointSlices on the bound port that are ready, or whose pod has every
// container ready and is only held back by a readiness gate (so the load
// balancer can turn it healthy and open the gate); for instance targets, the
// Ready, schedulable nodes that are not excluded from external load
// balancers and match spec.nodeSelector, by InternalIP, on the Service
// port's NodePort. It diffs them against DescribeTargetHealth and registers
// or deregisters only the difference. A terminating endpoint is no longer
// desired, so it is deregistered at once and drains on kelb server.
//
// Bindings are reconciled MaxConcurrentReconciles at a time (kelb
// controller's --targetgroupbinding-max-concurrent-reconciles, default
// DefaultMaxConcurrentReconciles), each binding by one worker at a time;
// a reconcile reads only its own Service's EndpointSlices and the pods
// they name from the cache, so its cost does not grow with the namespace.
//
// A binding names its target group by spec.targetGroupARN or, as in the AWS
// Load Balancer Controller, by spec.targetGroupName, which each reconcile
// resolves to the ARN with DescribeTargetGroups (so a reconcile of a binding
// by name makes that one call even when nothing changed); the ARN stays in
// memory and is never written into the spec.
//
// A checkpoint annotation holds a hash of the target group and the desired
// targets once they are registered and every readiness gate they carry is
// settled; while it matches, a reconcile makes no ELBv2 call at all. While a
// gated pod waits for its target to turn healthy the binding is requeued
// every two seconds, and each pass copies the target's health into the pod
// condition target-health.elbv2.k8s.aws/<binding> (True when healthy, the
// health reason and description otherwise).
//
// The finalizer elbv2.k8s.aws/resources holds a deleted binding until its
// targets are deregistered; a target group that is already gone counts as
// done, as does a name that names no target group. Any failure (API error,
// missing Service, a targetGroupName that names no target group) is reported
// as a Warning event on the binding and as its status condition Ready=False
// with the same reason (BackendNotFound, TargetGroupNotFound,
// FailedReconcile) and message, and retried with controller-runtime's
// backoff (a missing Service waits for its watch instead); the targets
// already registered are left as they are meanwhile. A successful reconcile
// sets Ready=True (SuccessfullyReconciled) and status.observedGeneration.
package targetgroupbinding
