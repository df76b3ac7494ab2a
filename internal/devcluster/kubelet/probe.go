package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeTracker turns single probe results into a probe's state the way the
// kubelet does: the state flips to success after successThreshold consecutive
// successes and to failure after failureThreshold consecutive failures.
type probeTracker struct {
	successThreshold, failureThreshold int
	ok                                 bool
	successes, failures                int
}

func newProbeTracker(p *corev1.Probe, initial bool) *probeTracker {
	t := &probeTracker{successThreshold: 1, failureThreshold: 3, ok: initial}
	if p.SuccessThreshold > 0 {
		t.successThreshold = int(p.SuccessThreshold)
	}
	if p.FailureThreshold > 0 {
		t.failureThreshold = int(p.FailureThreshold)
	}
	return t
}

// observe records one probe result and reports the state and whether it
// changed.
func (t *probeTracker) observe(success bool) (ok, changed bool) {
	if success {
		t.successes++
		t.failures = 0
		if !t.ok && t.successes >= t.successThreshold {
			t.ok = true
			return true, true
		}
	} else {
		t.failures++
		t.successes = 0
		if t.ok && t.failures >= t.failureThreshold {
			t.ok = false
			return false, true
		}
	}
	return t.ok, false
}

// probeTiming returns a probe's initial delay, period and timeout with the
// Kubernetes defaults filled in.
func probeTiming(p *corev1.Probe) (initial, period, timeout time.Duration) {
	initial = time.Duration(p.InitialDelaySeconds) * time.Second
	period = 10 * time.Second
	if p.PeriodSeconds > 0 {
		period = time.Duration(p.PeriodSeconds) * time.Second
	}
	timeout = time.Second
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	return initial, period, timeout
}

// resolvePort turns a probe's port (a number or the name of a container port)
// into a number.
func resolvePort(port intstr.IntOrString, c *corev1.Container) (int32, error) {
	if port.Type == intstr.Int {
		if port.IntVal < 1 || port.IntVal > 65535 {
			return 0, fmt.Errorf("port %d out of range", port.IntVal)
		}
		return port.IntVal, nil
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return resolvePort(intstr.FromInt32(int32(n)), c)
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, port.StrVal)
}

// probeOnce runs one probe against the pod's own listeners. exec probes
// cannot run anything in a simulated container and succeed; gRPC probes check
// that the port accepts connections.
func probeOnce(ctx context.Context, p *corev1.Probe, c *corev1.Container, podIP netip.Addr) error {
	_, _, timeout := probeTiming(p)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		port, err := resolvePort(p.HTTPGet.Port, c)
		if err != nil {
			return err
		}
		host := podIP.String()
		if p.HTTPGet.Host != "" {
			host = p.HTTPGet.Host
		}
		path := p.HTTPGet.Path
		if path == "" || path[0] != '/' {
			path = "/" + path
		}
		url := "http://" + net.JoinHostPort(host, strconv.Itoa(int(port))) + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("probe %s: %w", url, err)
		}
		req.Header.Set("User-Agent", "kube-probe/1.36")
		for _, h := range p.HTTPGet.HTTPHeaders {
			if h.Name == "Host" {
				req.Host = h.Value
				continue
			}
			req.Header.Add(h.Name, h.Value)
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return fmt.Errorf("probe %s: %w", url, err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("probe %s: HTTP %d", url, resp.StatusCode)
		}
		return nil
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return err
		}
		return dialProbe(ctx, podIP, port)
	case p.GRPC != nil:
		return dialProbe(ctx, podIP, p.GRPC.Port)
	default:
		return nil
	}
}

func dialProbe(ctx context.Context, ip netip.Addr, port int32) error {
	var d net.Dialer
	addr := netip.AddrPortFrom(ip, uint16(port)).String()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("probe tcp %s: %w", addr, err)
	}
	return conn.Close()
}

// probeClient never reuses connections, like the kubelet's prober, so that
// every probe sees whether the pod still accepts.
var probeClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// containerPorts lists every port a simulated container listens on unless
// its image says otherwise: the declared ports (TCP and UDP; SCTP is not
// simulated) and the ports its probes use (TCP).
func containerPorts(c *corev1.Container) []portSpec {
	var ports []portSpec
	seen := map[portSpec]bool{}
	add := func(ps portSpec) {
		if ps.Protocol == corev1.ProtocolSCTP || seen[ps] {
			return
		}
		seen[ps] = true
		ports = append(ports, ps)
	}
	for _, p := range c.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		add(portSpec{p.ContainerPort, proto})
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		var port intstr.IntOrString
		switch {
		case p.HTTPGet != nil:
			port = p.HTTPGet.Port
		case p.TCPSocket != nil:
			port = p.TCPSocket.Port
		case p.GRPC != nil:
			port = intstr.FromInt32(p.GRPC.Port)
		default:
			continue
		}
		if n, err := resolvePort(port, c); err == nil {
			add(portSpec{n, corev1.ProtocolTCP})
		}
	}
	return ports
}
