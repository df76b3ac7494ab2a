// Package nodeproxy is the node proxy of kelb up's simulated nodes: a
// userspace kube-proxy with its NodePort semantics, serving every node of
// one kelb nodes process.
//
// Build turns Services and EndpointSlices into a State (a pure function):
// every port of a NodePort or LoadBalancer Service listens on nodeIP:nodePort
// of every node, TCP and UDP, and every cluster IP port listens once on
// clusterIP:port (the service range is local in kelb up's namespace).
// externalTrafficPolicy Cluster forwards to any ready endpoint of the cluster
// from the node's own address, so the client's address is lost, as with
// kube-proxy's SNAT; Local forwards only to ready endpoints on that node,
// keeping the client's address as the connection's source (every address of
// 198.18.0.0/15 can be bound in the namespace; if binding fails the node's
// address is used and Stats.SourceBindFallbacks counts it). A Local node
// without endpoints resets connections and drops datagrams, and its
// healthCheckNodePort answers /healthz (any path) with 503 and
// localEndpoints 0; with local endpoints, 200 and their number, in
// kube-proxy's JSON. When no endpoint is ready, serving terminating endpoints
// are used, as kube-proxy does.
//
// Proxy applies a State: listeners open and close, backends switch for new
// connections while open ones continue. Connections are spread round robin;
// a backend that refuses is skipped for the next (up to three tries). TCP is
// copied with io.Copy between TCP connections (splice on Linux), with
// half-close; UDP gets one upstream socket per client flow, closed after
// Options.UDPIdleTimeout without traffic. A listener that cannot open is
// reported and retried on the next change or every 10 seconds. Run feeds a
// Proxy from informers, which reconnect by themselves when the apiserver
// restarts; everything stops with its context.
package nodeproxy
