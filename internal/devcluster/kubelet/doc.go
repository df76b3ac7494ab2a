// Package kubelet simulates the nodes of kelb up: one process plays N
// kubelets. Each node registers a Node object (Ready, InternalIP
// 198.18.0.(10+N), pod range 198.18.N.0/24, EKS-style name and zone labels),
// renews its Lease in kube-node-lease and refreshes its conditions every
// heartbeat (10 s). On shutdown the objects are left as they are.
//
// Pods bound to one of these nodes (spec.nodeName) are "run": the pod gets the
// lowest free address of its node's range (.2 upwards; addresses found in the
// status of existing pods are kept, so restarting kelb nodes does not renumber
// pods; hostNetwork pods use the node IP). Its containers then answer the way
// their images do, looked up by image repository in one table (images.go):
//
//   - registry.k8s.io/gateway-api/echo-basic (the Gateway API conformance
//     backend): its HTTP, h2c, HTTPS, gRPC, TCP and UDP echo servers on the
//     ports its environment variables choose, answering the same JSON
//     (path, host, method, proto, headers, namespace, pod, tls...) with the
//     pod context it reads from POD_NAME, NAMESPACE, SERVICE_NAME and
//     INGRESS_NAME, and its certificates from the mounted Secret files.
//   - any other image answers like the echoserver image on every declared
//     container port and every probe port: an HTTP request gets Hostname,
//     pod information, client_address, request line and headers
//     (keep-alive honoured); any other TCP stream is echoed back, and UDP
//     datagrams too.
//
// Before the containers start, the kubelet's part is done: the environment
// (value, fieldRef, secretKeyRef, configMapKeyRef, envFrom, $(VAR)) and the
// files of Secret and ConfigMap volumes are resolved. While an object they
// need is missing (or an image's configuration is invalid, say a
// non-numeric HTTP_PORT) the pod stays Pending, a Warning event says why,
// and the kubelet retries at each resync. The
// status is written through the status subresource with a strategic merge
// patch, so conditions owned by others (readiness gates) survive.
//
// Readiness is the kubelet's: startup, readiness and liveness probes (httpGet
// incl. named ports, tcpSocket; gRPC probes only connect, exec probes always
// pass) run against the pod's own listeners with their delays, periods and
// thresholds. Ready is True only when every container is ready and every
// spec.readinessGates condition is True. A liveness failure restarts the
// container: listeners close and reopen, restartCount grows.
//
// Deletion: once the pod has a deletionTimestamp, Ready turns False, preStop
// hooks run (sleep, exec "sleep N" waits N seconds, httpGet is sent), then the
// listeners close (new connections are refused) while open connections
// continue until the grace period ends; then everything closes and the pod
// object is deleted with grace period 0.
//
// The kubelet's usual pod events are recorded (Pulled, Created, Started,
// Unhealthy on each failed probe, Killing), so kubectl describe tells what
// happened.
//
// Making a pod misbehave:
//
//	kubectl annotate pod NAME kelb.io/fail=readiness  # every HTTP answer is 503 (gRPC: Unavailable), readiness fails
//	kubectl annotate pod NAME kelb.io/fail=all        # listeners close: connections refused
//	kubectl annotate pod NAME kelb.io/fail-           # recover
//
// A slow answer: an HTTP request with the query parameter delay=5s is
// answered after that delay, bounded to 10 minutes (echoserver pods also
// honour the header X-Kelb-Delay: 5s; echo-basic pods, like the image,
// answer 500 to a delay that is not a Go duration).
//
// Failure behaviour: apiserver errors are logged and retried (heartbeats on
// the next beat, pod status on the next resync, 10 s); informers reconnect by
// themselves. A port that cannot be bound is logged and retried at the next
// resync; the pod stays not ready meanwhile.
package kubelet
