package kubelet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Fail modes, set with the annotation kelb.io/fail on a pod.
const (
	// FailAnnotation makes a pod misbehave on purpose.
	FailAnnotation = "kelb.io/fail"
	// FailReadiness makes every HTTP request answer 503, so HTTP readiness
	// probes and HTTP health checks fail.
	FailReadiness = "readiness"
	// FailAll closes the pod's listeners: connections are refused.
	FailAll = "all"
)

// DelayHeader delays an HTTP answer, like the query parameter delay: the value
// is a Go duration ("5s", "250ms") or a number of seconds.
const DelayHeader = "X-Kelb-Delay"

// maxDelay bounds a requested delay.
const maxDelay = 10 * time.Minute

// sniffTimeout is how long a TCP connection may stay silent on a prefix of an
// HTTP method before it is treated as a plain stream to echo.
const sniffTimeout = 2 * time.Second

// podInfo is what the echo answer says about the pod.
type podInfo struct {
	Name, Namespace, Node string
	IP, HostIP            netip.Addr
}

// portSpec is one port the pod listens on.
type portSpec struct {
	Port     int32
	Protocol corev1.Protocol
}

// podServer is the running "containers" of a simulated pod: a listener per
// endpoint its images open (see images.go), each feeding its connections
// to the endpoint's server, and UDP sockets answering datagrams.
type podServer struct {
	info      podInfo
	endpoints []endpoint
	log       *slog.Logger

	fail atomic.Value // string: "", FailReadiness or FailAll

	servers []connServer // by index in endpoints; nil for UDP
	// sniffed holds the HTTP and stream servers of kindEchoserver
	// endpoints, by index in endpoints.
	sniffed map[int]connServer

	shutdownOnce sync.Once

	mu        sync.Mutex
	stopped   bool // no listening any more (terminating)
	listening bool
	tcp       []net.Listener
	udp       []net.PacketConn
	conns     map[net.Conn]struct{} // connections not (yet) handed to a server
	wg        sync.WaitGroup        // accept loops, sniffers and UDP loops
}

// newPodServer prepares a server for endpoints and starts their servers;
// start opens the listeners.
func newPodServer(info podInfo, endpoints []endpoint, log *slog.Logger) *podServer {
	s := &podServer{
		info:      info,
		endpoints: endpoints,
		log:       log,
		servers:   make([]connServer, len(endpoints)),
		sniffed:   map[int]connServer{},
		conns:     map[net.Conn]struct{}{},
	}
	s.fail.Store("")
	failing := func() bool { return s.fail.Load() == FailReadiness }
	for i, ep := range endpoints {
		if ep.Protocol == corev1.ProtocolUDP {
			continue
		}
		addr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(info.IP, uint16(ep.Port)))
		if ep.Kind == kindEchoserver {
			httpEP := ep
			httpEP.Kind = kindHTTP
			s.servers[i] = newConnServer(httpEP, failing, log, addr)
			s.sniffed[i] = newStreamConns(echoStream, nil)
			continue
		}
		s.servers[i] = newConnServer(ep, failing, log, addr)
	}
	return s
}

// setFail switches the fail mode; FailAll closes the listeners, leaving it
// opens them again.
func (s *podServer) setFail(mode string) error {
	s.fail.Store(mode)
	s.mu.Lock()
	defer s.mu.Unlock()
	if mode == FailAll {
		s.closeListenersLocked()
		return nil
	}
	return s.listenLocked()
}

// start opens the listeners (unless the pod is told to fail all).
func (s *podServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail.Load() == FailAll {
		return nil
	}
	return s.listenLocked()
}

func (s *podServer) listenLocked() error {
	if s.listening || s.stopped {
		return nil
	}
	var lc net.ListenConfig
	for i, ep := range s.endpoints {
		addr := netip.AddrPortFrom(s.info.IP, uint16(ep.Port)).String()
		switch ep.Protocol {
		case corev1.ProtocolUDP:
			pc, err := lc.ListenPacket(context.Background(), "udp", addr)
			if err != nil {
				s.closeListenersLocked()
				return fmt.Errorf("listen udp %s: %w", addr, err)
			}
			s.udp = append(s.udp, pc)
			s.wg.Add(1)
			go s.serveUDP(pc, ep.Datagram)
		default:
			ln, err := lc.Listen(context.Background(), "tcp", addr)
			if err != nil {
				s.closeListenersLocked()
				return fmt.Errorf("listen tcp %s: %w", addr, err)
			}
			s.tcp = append(s.tcp, ln)
			s.wg.Add(1)
			go s.acceptTCP(ln, i)
		}
	}
	s.listening = true
	return nil
}

func (s *podServer) closeListenersLocked() {
	for _, ln := range s.tcp {
		ln.Close()
	}
	for _, pc := range s.udp {
		pc.Close()
	}
	s.tcp, s.udp = nil, nil
	s.listening = false
}

// stopAccepting closes the listeners for good: new connections are refused,
// open ones continue.
func (s *podServer) stopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.closeListenersLocked()
}

// shutdown stops accepting, lets open connections finish until ctx ends, then
// closes whatever is left and waits for every goroutine of the server. Later
// calls wait for the first to finish.
func (s *podServer) shutdown(ctx context.Context) {
	s.shutdownOnce.Do(func() { s.shutdownNow(ctx) })
}

func (s *podServer) shutdownNow(ctx context.Context) {
	s.stopAccepting()
	// Connections still being sniffed end with the grace period.
	own := make(chan struct{})
	go func() {
		defer close(own)
		s.wg.Wait()
	}()
	select {
	case <-own:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-own
	}
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		if srv != nil {
			wg.Go(func() { srv.shutdown(ctx) })
		}
	}
	for _, srv := range s.sniffed {
		wg.Go(func() { srv.shutdown(ctx) })
	}
	wg.Wait()
}

func (s *podServer) track(c net.Conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

func (s *podServer) acceptTCP(ln net.Listener, idx int) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("accept", "addr", ln.Addr(), "err", err)
			}
			return
		}
		if s.endpoints[idx].Kind != kindEchoserver {
			s.servers[idx].handle(c)
			continue
		}
		s.wg.Add(1)
		s.track(c, true)
		go s.sniffTCP(c, idx)
	}
}

// sniffTCP looks at the first bytes of a connection to an echoserver port:
// an HTTP request goes to the HTTP server, anything else is echoed back.
func (s *podServer) sniffTCP(c net.Conn, idx int) {
	defer s.wg.Done()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	isHTTP := sniffHTTP(br)
	c.SetReadDeadline(time.Time{})
	s.track(c, false)
	bc := &bufferedConn{Conn: c, r: br}
	if isHTTP {
		s.servers[idx].handle(bc)
		return
	}
	s.sniffed[idx].handle(bc)
}

// sniffHTTP reports whether the stream starts with an HTTP/1 request line
// (a method and a space), reading no more than needed.
func sniffHTTP(br *bufio.Reader) bool {
	for n := 1; n <= 8; n++ {
		b, err := br.Peek(n)
		switch classifyPrefix(b) {
		case prefixHTTP:
			return true
		case prefixOther:
			return false
		}
		if err != nil {
			return false
		}
	}
	return false
}

type prefixClass int

const (
	prefixUndecided prefixClass = iota
	prefixHTTP
	prefixOther
)

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// classifyPrefix decides from the first bytes of a stream whether it is an
// HTTP request, not one, or cannot tell yet.
func classifyPrefix(b []byte) prefixClass {
	undecided := false
	for _, m := range httpMethods {
		line := m + " "
		if len(b) >= len(line) {
			if string(b[:len(line)]) == line {
				return prefixHTTP
			}
			continue
		}
		if line[:len(b)] == string(b) {
			undecided = true
		}
	}
	if undecided {
		return prefixUndecided
	}
	return prefixOther
}

func (s *podServer) serveUDP(pc net.PacketConn, answer func([]byte) []byte) {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("udp read", "addr", pc.LocalAddr(), "err", err)
			}
			return
		}
		if answer == nil {
			continue
		}
		if _, err := pc.WriteTo(answer(buf[:n]), from); err != nil {
			s.log.Debug("udp write", "to", from, "err", err)
		}
	}
}

// echoDatagram answers a datagram with itself.
func echoDatagram(p []byte) []byte { return p }

// requestDelay reads the delay asked for by the query parameter delay or the
// X-Kelb-Delay header.
func requestDelay(r *http.Request) (time.Duration, bool) {
	v := r.URL.Query().Get("delay")
	if v == "" {
		v = r.Header.Get(DelayHeader)
	}
	if v == "" {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d <= 0 {
		return 0, false
	}
	return min(d, maxDelay), true
}

// bufferedConn is a connection whose first bytes were already read into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite closes the sending half of a TCP connection.
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SetLinger sets SO_LINGER of a TCP connection (0: close with a reset).
func (c *bufferedConn) SetLinger(sec int) error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.SetLinger(sec)
	}
	return nil
}

// chanListener hands sniffed connections to an http.Server.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
