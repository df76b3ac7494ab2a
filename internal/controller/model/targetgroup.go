package model

// TargetGroup is a desired target group.
type TargetGroup struct {
	// ResourceID names the target group inside its stack and is the value
	// of the front-end's resource tag: "<namespace>/<name>:<port>" of a
	// Service port, "<namespace>/<ingress>-<service>:<port>" of an Ingress
	// backend.
	ResourceID string `json:"resourceID"`
	Name       string `json:"name"`
	Protocol   string `json:"protocol"`
	// ProtocolVersion is HTTP1, HTTP2 or GRPC for HTTP and HTTPS target
	// groups; empty for the others.
	ProtocolVersion string      `json:"protocolVersion,omitempty"`
	Port            int32       `json:"port"`
	TargetType      string      `json:"targetType"`
	IPAddressType   string      `json:"ipAddressType"`
	HealthCheck     HealthCheck `json:"healthCheck"`
	// Attributes hold only the attributes the Kubernetes object sets.
	Attributes map[string]string `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags"`
}

// HealthCheck is a target group's desired health check.
type HealthCheck struct {
	Protocol string `json:"protocol"`
	// Port is "traffic-port" or a port number.
	Port string `json:"port"`
	// Path of an HTTP, HTTPS or gRPC health check.
	Path string `json:"path,omitempty"`
	// HTTPCode and GRPCCode are the codes of a healthy answer (the
	// ELBv2 API's Matcher); empty keeps kelb server's default.
	HTTPCode           string `json:"httpCode,omitempty"`
	GRPCCode           string `json:"grpcCode,omitempty"`
	IntervalSeconds    int32  `json:"intervalSeconds"`
	TimeoutSeconds     int32  `json:"timeoutSeconds"`
	HealthyThreshold   int32  `json:"healthyThreshold"`
	UnhealthyThreshold int32  `json:"unhealthyThreshold"`
}
