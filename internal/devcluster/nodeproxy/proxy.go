package nodeproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Options configure a Proxy. The zero value works.
type Options struct {
	// UDPIdleTimeout ends a UDP flow after this long without a datagram;
	// default 30s.
	UDPIdleTimeout time.Duration
	// DialTimeout bounds a connection to a backend; default 5s.
	DialTimeout time.Duration
	// Log receives listener and forwarding errors; default slog.Default().
	Log *slog.Logger
}

// Stats counts what the proxy did.
type Stats struct {
	// Refused counts connections and datagrams dropped for want of a backend.
	Refused uint64
	// SourceBindFallbacks counts Local connections whose client address
	// could not be kept (the node's address was used instead).
	SourceBindFallbacks uint64
	// DialErrors counts failed connections to backends.
	DialErrors uint64
}

// Proxy runs the listeners of a State and forwards their traffic. Apply
// changes what it serves; Close stops it.
type Proxy struct {
	opts Options
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu        sync.Mutex
	frontends map[frontendKey]*frontend
	health    map[netip.AddrPort]*healthServer

	refused, bindFallbacks, dialErrors atomic.Uint64
}

type frontendKey struct {
	listen netip.AddrPort
	proto  corev1.Protocol
}

// New returns a proxy serving nothing yet.
func New(opts Options) *Proxy {
	if opts.UDPIdleTimeout <= 0 {
		opts.UDPIdleTimeout = 30 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Proxy{opts: opts, ctx: ctx, stop: stop, frontends: map[frontendKey]*frontend{}, health: map[netip.AddrPort]*healthServer{}}
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{Refused: p.refused.Load(), SourceBindFallbacks: p.bindFallbacks.Load(), DialErrors: p.dialErrors.Load()}
}

// Apply makes the proxy serve st: new listeners open, removed ones close
// (their open connections continue), others switch to the new backends for
// new connections. It returns the listeners that could not open (they are
// retried by the next Apply).
func (p *Proxy) Apply(st State) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	want := map[frontendKey]bool{}
	for _, f := range st.Frontends {
		key := frontendKey{f.Listen, f.Protocol}
		want[key] = true
		if fe := p.frontends[key]; fe != nil {
			fe.cfg.Store(&f)
			continue
		}
		fe, err := p.listen(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.frontends[key] = fe
	}
	for key, fe := range p.frontends {
		if !want[key] {
			fe.close()
			delete(p.frontends, key)
		}
	}
	wantHealth := map[netip.AddrPort]bool{}
	for _, h := range st.HealthChecks {
		wantHealth[h.Listen] = true
		if hs := p.health[h.Listen]; hs != nil {
			hs.cfg.Store(&h)
			continue
		}
		hs, err := p.serveHealth(h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.health[h.Listen] = hs
	}
	for addr, hs := range p.health {
		if !wantHealth[addr] {
			hs.srv.Close()
			delete(p.health, addr)
		}
	}
	return errors.Join(errs...)
}

// Close stops every listener and connection and waits for them.
func (p *Proxy) Close() {
	p.mu.Lock()
	for key, fe := range p.frontends {
		fe.close()
		delete(p.frontends, key)
	}
	for addr, hs := range p.health {
		hs.srv.Close()
		delete(p.health, addr)
	}
	p.mu.Unlock()
	p.stop()
	p.wg.Wait()
}

// frontend is one listening socket.
type frontend struct {
	cfg   atomic.Pointer[Frontend]
	next  atomic.Uint64 // round robin
	ln    net.Listener
	pc    net.PacketConn
	close func()
}

func (p *Proxy) listen(f Frontend) (*frontend, error) {
	fe := &frontend{}
	fe.cfg.Store(&f)
	addr := f.Listen.String()
	var lc net.ListenConfig
	switch f.Protocol {
	case corev1.ProtocolUDP:
		pc, err := lc.ListenPacket(p.ctx, "udp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen udp %s for %s: %w", addr, f.Service, err)
		}
		fe.pc = pc
		fe.close = func() { pc.Close() }
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serveUDP(fe, pc.(*net.UDPConn))
		}()
	default:
		ln, err := lc.Listen(p.ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen tcp %s for %s: %w", addr, f.Service, err)
		}
		fe.ln = ln
		fe.close = func() { ln.Close() }
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serveTCP(fe, ln.(*net.TCPListener))
		}()
	}
	return fe, nil
}

// pick returns the backends to try, round robin, starting with the next one.
func (fe *frontend) pick() (*Frontend, []netip.AddrPort) {
	f := fe.cfg.Load()
	n := len(f.Backends)
	if n == 0 {
		return f, nil
	}
	start := int(fe.next.Add(1)-1) % n
	out := make([]netip.AddrPort, 0, min(n, 3))
	for i := 0; i < n && i < 3; i++ {
		out = append(out, f.Backends[(start+i)%n])
	}
	return f, out
}

// source is the address a connection to a backend comes from: the client's
// for Local frontends, else the node's (or the kernel's choice).
func source(f *Frontend, client netip.Addr) netip.Addr {
	if f.Local {
		return client
	}
	return f.Source
}

func (p *Proxy) serveTCP(fe *frontend, ln *net.TCPListener) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.opts.Log.Error("accept", "addr", ln.Addr(), "err", err)
			}
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forwardTCP(fe, c)
		}()
	}
}

func (p *Proxy) forwardTCP(fe *frontend, client *net.TCPConn) {
	defer client.Close()
	f, backends := fe.pick()
	if len(backends) == 0 {
		p.refused.Add(1)
		client.SetLinger(0) // reset: no endpoint here
		return
	}
	clientAddr := client.RemoteAddr().(*net.TCPAddr).AddrPort()
	clientAddr = netip.AddrPortFrom(clientAddr.Addr().Unmap(), clientAddr.Port())
	var upstream *net.TCPConn
	for _, b := range backends {
		c, err := p.dialTCP(f, clientAddr.Addr(), b)
		if err != nil {
			p.dialErrors.Add(1)
			p.opts.Log.Debug("dial backend", "service", f.Service, "backend", b, "err", err)
			continue
		}
		upstream = c
		break
	}
	if upstream == nil {
		p.refused.Add(1)
		client.SetLinger(0)
		return
	}
	defer upstream.Close()
	stop := context.AfterFunc(p.ctx, func() {
		client.Close()
		upstream.Close()
	})
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(upstream, client) // splice
		upstream.CloseWrite()
	}()
	io.Copy(client, upstream)
	client.CloseWrite()
	<-done
}

func (p *Proxy) dialTCP(f *Frontend, client netip.Addr, backend netip.AddrPort) (*net.TCPConn, error) {
	src := source(f, client)
	d := net.Dialer{Timeout: p.opts.DialTimeout}
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	c, err := d.DialContext(p.ctx, "tcp", backend.String())
	if err != nil && f.Local && isBindError(err) {
		if p.bindFallbacks.Add(1) == 1 {
			p.opts.Log.Warn("cannot keep client addresses, using the node's", "service", f.Service, "client", client, "err", err)
		}
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(f.Source, 0))
		c, err = d.DialContext(p.ctx, "tcp", backend.String())
	}
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// isBindError reports whether a dial failed because its source address
// could not be bound (the client's address is not local here).
func isBindError(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EADDRINUSE)
}

// udpFlow is one client's conversation through a UDP frontend.
type udpFlow struct {
	upstream *net.UDPConn
	last     atomic.Int64 // unix nanoseconds of the last datagram
}

func (p *Proxy) serveUDP(fe *frontend, pc *net.UDPConn) {
	var mu sync.Mutex
	flows := map[netip.AddrPort]*udpFlow{}
	var wg sync.WaitGroup
	defer func() {
		mu.Lock()
		for _, fl := range flows {
			fl.upstream.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.opts.Log.Error("udp read", "addr", pc.LocalAddr(), "err", err)
			}
			return
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		mu.Lock()
		fl := flows[from]
		mu.Unlock()
		if fl == nil {
			fl = p.newUDPFlow(fe, from)
			if fl == nil {
				continue
			}
			mu.Lock()
			flows[from] = fl
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.udpReplies(pc, from, fl)
				mu.Lock()
				if flows[from] == fl {
					delete(flows, from)
				}
				mu.Unlock()
			}()
		}
		fl.last.Store(time.Now().UnixNano())
		if _, err := fl.upstream.Write(buf[:n]); err != nil {
			p.opts.Log.Debug("udp forward", "from", from, "err", err)
		}
	}
}

func (p *Proxy) newUDPFlow(fe *frontend, client netip.AddrPort) *udpFlow {
	f, backends := fe.pick()
	if len(backends) == 0 {
		p.refused.Add(1)
		return nil
	}
	b := backends[0]
	dial := func(src netip.Addr) (*net.UDPConn, error) {
		var laddr *net.UDPAddr
		if src.IsValid() {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
		}
		return net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(b))
	}
	c, err := dial(source(f, client.Addr()))
	if err != nil && f.Local {
		p.bindFallbacks.Add(1)
		c, err = dial(f.Source)
	}
	if err != nil {
		p.dialErrors.Add(1)
		p.opts.Log.Debug("udp dial backend", "service", f.Service, "backend", b, "err", err)
		return nil
	}
	return &udpFlow{upstream: c}
}

// udpReplies copies a backend's answers back to the client until the flow is
// idle for UDPIdleTimeout or the proxy stops.
func (p *Proxy) udpReplies(pc *net.UDPConn, client netip.AddrPort, fl *udpFlow) {
	defer fl.upstream.Close()
	buf := make([]byte, 64<<10)
	for {
		fl.upstream.SetReadDeadline(time.Now().Add(p.opts.UDPIdleTimeout))
		n, err := fl.upstream.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, fl.last.Load())) < p.opts.UDPIdleTimeout {
				continue
			}
			return
		}
		fl.last.Store(time.Now().UnixNano())
		if _, err := pc.WriteToUDPAddrPort(buf[:n], client); err != nil {
			return
		}
	}
}

// healthServer answers kube-proxy's health checks for one Local service.
type healthServer struct {
	cfg atomic.Pointer[HealthCheck]
	srv *http.Server
}

// healthResponse is kube-proxy's healthCheckNodePort body.
type healthResponse struct {
	Service struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"service"`
	LocalEndpoints      int  `json:"localEndpoints"`
	ServiceProxyHealthy bool `json:"serviceProxyHealthy"`
}

func (p *Proxy) serveHealth(h HealthCheck) (*healthServer, error) {
	hs := &healthServer{}
	hs.cfg.Store(&h)
	var lc net.ListenConfig
	ln, err := lc.Listen(p.ctx, "tcp", h.Listen.String())
	if err != nil {
		return nil, fmt.Errorf("listen %s for health checks of %s: %w", h.Listen, h.Service, err)
	}
	hs.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cur := hs.cfg.Load()
			var body healthResponse
			body.Service.Namespace, body.Service.Name = cur.Service.Namespace, cur.Service.Name
			body.LocalEndpoints = cur.LocalEndpoints
			body.ServiceProxyHealthy = true
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("X-Load-Balancing-Endpoint-Weight", fmt.Sprint(cur.LocalEndpoints))
			if cur.LocalEndpoints == 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			json.NewEncoder(w).Encode(body)
		}),
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := hs.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.opts.Log.Error("health check server", "addr", h.Listen, "err", err)
		}
	}()
	return hs, nil
}
