package fleet

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the fleet's Prometheus metrics, read from the node's view at
// scrape time.
type metrics struct {
	f             *Fleet
	nodes         *prometheus.Desc
	registered    *prometheus.Desc
	registrations prometheus.Counter
}

func newMetrics(f *Fleet) *metrics {
	return &metrics{
		f: f,
		nodes: prometheus.NewDesc("kelb_fleet_nodes",
			"Live kelb server nodes of the fleet as this node last saw them (itself included), by state.",
			[]string{"state"}, nil),
		registered: prometheus.NewDesc("kelb_fleet_registered",
			"1 while this node is registered in etcd under a live lease, 0 while it serves on its last view without etcd.",
			nil, nil),
		registrations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kelb_fleet_registrations_total",
			Help: "Registrations of this node in etcd, each with a new lease: one at start, one more each time etcd answers again after the lease was lost.",
		}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	if err := r.Register(m); err != nil {
		return err
	}
	return r.Register(m.registrations)
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.nodes
	ch <- m.registered
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	byState := map[State]int{StateServing: 0, StateDataPlaneFailing: 0, StateStopping: 0}
	for _, n := range m.f.Nodes() {
		byState[n.State]++
	}
	for s, n := range byState {
		ch <- prometheus.MustNewConstMetric(m.nodes, prometheus.GaugeValue, float64(n), string(s))
	}
	registered := 0.0
	if _, ok := m.f.Lease(); ok || m.f.cfg.Client == nil {
		registered = 1
	}
	ch <- prometheus.MustNewConstMetric(m.registered, prometheus.GaugeValue, registered)
}
