package nodeproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// backend is a pod stand-in: HTTP answers "<name> <client address>", UDP
// datagrams come back prefixed with the name.
func backend(t *testing.T, name, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "%s %s", name, host)
	})}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(ln) }()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(name+" "), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		pc.Close()
		wg.Wait()
	})
}

// fetch GETs url from the client address src and returns status and body.
func fetch(src, url string) (int, string, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func udpRoundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("udp %s: %v", addr, err)
	}
	return string(buf[:n])
}

func TestProxyForwards(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	// One pod on node 2; node 1 has none.
	backend(t, "pod-b", "198.18.2.2:8080")
	udpPort := corev1.ServicePort{Name: "dns", Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}
	httpPort := corev1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}
	cluster := service("cluster", corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster, httpPort, udpPort)
	cluster.Spec.ClusterIP = "198.18.240.10"
	local := service("local", corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal,
		corev1.ServicePort{Name: "http", Port: 80, NodePort: 30081, Protocol: corev1.ProtocolTCP})
	local.Spec.ClusterIP = "198.18.240.11"
	local.Spec.HealthCheckNodePort = 32000
	eps := []ep{{"198.18.2.2", node2.Name, true, true, false}}
	clusterSlice := slice("cluster", "http", 8080, eps...)
	udpSlice := slice("cluster", "dns", 8080, eps...)
	udpSlice.Name = "cluster-udp"
	udpSlice.Ports[0].Protocol = &udpPort.Protocol
	slices := []*discoveryv1.EndpointSlice{clusterSlice, udpSlice, slice("local", "http", 8080, eps...)}

	p := New(Options{Log: slog.New(slog.DiscardHandler), UDPIdleTimeout: time.Second})
	t.Cleanup(p.Close)
	if err := p.Apply(Build([]Node{node1, node2}, []*corev1.Service{cluster, local}, slices)); err != nil {
		t.Fatal(err)
	}

	const client = "198.18.0.99"
	tests := []struct {
		name     string
		url      string
		wantBody string // "" means the connection must fail
	}{
		{"Cluster via a node without the pod: node address as source", "http://198.18.0.11:30080/", "pod-b 198.18.0.11"},
		{"Cluster via the pod's node", "http://198.18.0.12:30080/", "pod-b 198.18.0.12"},
		{"cluster IP", "http://198.18.240.10/", "pod-b "},
		{"Local via the pod's node keeps the client address", "http://198.18.0.12:30081/", "pod-b " + client},
		{"Local via a node without the pod is refused", "http://198.18.0.11:30081/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, err := fetch(client, tt.url)
			if tt.wantBody == "" {
				if err == nil {
					t.Errorf("GET %s = %d %q, want a failed connection", tt.url, code, body)
				}
				return
			}
			if err != nil || code != 200 || !strings.HasPrefix(body, tt.wantBody) {
				t.Errorf("GET %s = %d %q, %v; want 200 %q", tt.url, code, body, err, tt.wantBody)
			}
		})
	}

	t.Run("UDP NodePort", func(t *testing.T) {
		if got := udpRoundTrip(t, "198.18.0.11:30053", "ping"); got != "pod-b ping" {
			t.Errorf("udp answer %q", got)
		}
	})

	t.Run("healthCheckNodePort", func(t *testing.T) {
		for _, tt := range []struct {
			addr      string
			wantCode  int
			wantLocal int
		}{
			{"198.18.0.11:32000", 503, 0},
			{"198.18.0.12:32000", 200, 1},
		} {
			code, body, err := fetch(client, "http://"+tt.addr+"/healthz")
			if err != nil {
				t.Fatal(err)
			}
			var got healthResponse
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%s: %v: %q", tt.addr, err, body)
			}
			want := healthResponse{LocalEndpoints: tt.wantLocal, ServiceProxyHealthy: true}
			want.Service.Namespace, want.Service.Name = "demo", "local"
			if code != tt.wantCode {
				t.Errorf("%s: status %d, want %d", tt.addr, code, tt.wantCode)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s body (-want +got):\n%s", tt.addr, diff)
			}
		}
	})

	t.Run("endpoints leave: refused, health 503, listener gone with the service", func(t *testing.T) {
		if err := p.Apply(Build([]Node{node1, node2}, []*corev1.Service{cluster, local}, nil)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := fetch(client, "http://198.18.0.11:30080/"); err == nil {
			t.Error("Cluster service without endpoints still answered")
		}
		if code, _, _ := fetch(client, "http://198.18.0.12:32000/healthz"); code != 503 {
			t.Errorf("health without endpoints: %d, want 503", code)
		}
		if err := p.Apply(Build([]Node{node1, node2}, nil, nil)); err != nil {
			t.Fatal(err)
		}
		_, err := net.Dial("tcp", "198.18.0.11:30080")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial removed NodePort: %v, want connection refused", err)
		}
		if s := p.Stats(); s.Refused == 0 {
			t.Errorf("stats %+v: no refusal counted", s)
		}
	})
}

func TestTCPHalfClose(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	// An echo backend that answers once the client finished sending.
	ln, err := net.Listen("tcp", "198.18.1.2:9000")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		c.Write(append([]byte("got "), b...))
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })

	p := New(Options{Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(p.Close)
	p.Apply(State{Frontends: []Frontend{{
		Listen: netip.MustParseAddrPort("198.18.0.11:30900"), Protocol: corev1.ProtocolTCP, Source: node1.IP,
		Backends: []netip.AddrPort{netip.MustParseAddrPort("198.18.1.2:9000")},
	}}})
	c, err := net.Dial("tcp", "198.18.0.11:30900")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "hello")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "got hello" {
		t.Errorf("through the proxy: %q, %v; want %q", got, err, "got hello")
	}
}

func TestUDPFlowsExpire(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	// The backend answers with the address the datagram came from.
	pc, err := net.ListenPacket("udp", "198.18.1.2:5000")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(from.String()), from)
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })

	p := New(Options{Log: slog.New(slog.DiscardHandler), UDPIdleTimeout: 300 * time.Millisecond})
	t.Cleanup(p.Close)
	if err := p.Apply(State{Frontends: []Frontend{{
		Listen: netip.MustParseAddrPort("198.18.0.11:30500"), Protocol: corev1.ProtocolUDP, Source: node1.IP,
		Backends: []netip.AddrPort{netip.MustParseAddrPort("198.18.1.2:5000")},
	}}}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", "198.18.0.11:30500")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func() string {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("?")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	first := ask()
	if !strings.HasPrefix(first, "198.18.0.11:") {
		t.Fatalf("backend saw %s, want the node address as source", first)
	}
	if again := ask(); again != first {
		t.Errorf("one client flow used two upstream sockets: %s then %s", first, again)
	}
	// After the idle timeout the flow ends; the next datagram opens a new
	// upstream socket (another source port).
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(400 * time.Millisecond)
		if ask() != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the UDP flow never expired")
		}
	}
}
