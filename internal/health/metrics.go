package health

import (
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/elb"
)

// metrics are the checker's Prometheus metrics. The host counts are
// computed from the checker's state at scrape time, so they never go stale
// when targets or groups go away.
type metrics struct {
	c         *Checker
	healthy   *prometheus.Desc
	unhealthy *prometheus.Desc
	probes    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

func newMetrics(c *Checker) *metrics {
	hostLabels := []string{"target_group", "load_balancer", "availability_zone"}
	return &metrics{
		c: c,
		healthy: prometheus.NewDesc("kelb_target_group_healthy_hosts",
			"Healthy targets of a target group in an availability zone, per load balancer that uses the group (CloudWatch HealthyHostCount).",
			hostLabels, nil),
		unhealthy: prometheus.NewDesc("kelb_target_group_unhealthy_hosts",
			"Unhealthy targets of a target group in an availability zone, per load balancer that uses the group (CloudWatch UnHealthyHostCount).",
			hostLabels, nil),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kelb_health_probes_total",
			Help: "Health check probes sent, by target group, protocol and result (success, timeout, response_code_mismatch, failed).",
		}, []string{"target_group", "protocol", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kelb_health_probe_duration_seconds",
			Help:    "Time a health check probe took, by protocol and result.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"protocol", "result"}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	return errors.Join(r.Register(m), r.Register(m.probes), r.Register(m.latency))
}

func (m *metrics) observeProbe(tg, protocol string, o outcome, took time.Duration) {
	m.probes.WithLabelValues(resourceLabel(tg), protocol, o.String()).Inc()
	m.latency.WithLabelValues(protocol, o.String()).Observe(took.Seconds())
}

// Describe implements prometheus.Collector for the host counts.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.healthy
	ch <- m.unhealthy
}

// Collect implements prometheus.Collector for the host counts: for every
// load balancer that uses a target group, and every zone of the load
// balancer or of a target, the healthy and unhealthy targets in that zone.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	type key struct{ tg, zone string }
	type counts struct{ healthy, unhealthy int }
	m.c.mu.Lock()
	byZone := map[key]*counts{}
	zonesOf := map[string][]string{}
	addZone := func(tg, zone string) *counts {
		k := key{tg, zone}
		if byZone[k] == nil {
			byZone[k] = &counts{}
			zonesOf[tg] = append(zonesOf[tg], zone)
		}
		return byZone[k]
	}
	for tg, users := range m.c.users {
		for _, u := range users {
			for _, z := range u.zones {
				addZone(tg, z)
			}
		}
	}
	for ref, t := range m.c.targets {
		n := addZone(ref.tg, t.spec.zone)
		switch t.state.health.State {
		case elb.HealthHealthy:
			n.healthy++
		case elb.HealthUnhealthy:
			n.unhealthy++
		}
	}
	users := m.c.users
	m.c.mu.Unlock()

	for tg, zones := range zonesOf {
		for _, u := range users[tg] {
			for _, z := range zones {
				n := byZone[key{tg, z}]
				labels := []string{resourceLabel(tg), resourceLabel(u.arn), z}
				ch <- prometheus.MustNewConstMetric(m.healthy, prometheus.GaugeValue, float64(n.healthy), labels...)
				ch <- prometheus.MustNewConstMetric(m.unhealthy, prometheus.GaugeValue, float64(n.unhealthy), labels...)
			}
		}
	}
}

// resourceLabel is the part of an ARN that CloudWatch uses as a dimension:
// "net/my-nlb/50dc6c495c0c9188" for a load balancer,
// "targetgroup/my-tg/73e2d6bc24d8a067" for a target group.
func resourceLabel(arn string) string {
	if i := strings.Index(arn, ":loadbalancer/"); i >= 0 {
		return arn[i+len(":loadbalancer/"):]
	}
	if i := strings.Index(arn, ":targetgroup/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}
