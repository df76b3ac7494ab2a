package elbapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts API requests by operation and outcome, so that an
// operator (or a test) can tell whether a client wrote anything: a
// controller at rest makes only Describe* calls.
type metrics struct {
	requests *prometheus.CounterVec
}

// newMetrics registers the API's metrics with reg; a nil reg keeps them
// unregistered (counted, never exported).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kelb_api_requests_total",
			Help: "ELBv2 API requests, by operation (Action) and result code: OK, or the error code answered.",
		}, []string{"operation", "code"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests)
	}
	return m
}

// observe counts one request. Actions the model does not know are counted
// as "unknown", so that a client cannot grow the label set at will.
func (m *metrics) observe(action, code string) {
	if !HasOperation(action) {
		action = "unknown"
	}
	m.requests.WithLabelValues(action, code).Inc()
}
