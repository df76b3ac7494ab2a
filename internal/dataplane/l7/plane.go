package l7

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/albauth"
	"github.com/kelb-io/kelb/internal/connlimit"
	"github.com/kelb-io/kelb/internal/dataplane/tlspolicy"
	"github.com/kelb-io/kelb/internal/elb"
)

// DefaultDialTimeout bounds connecting to a target, as ALB's 10 seconds.
const DefaultDialTimeout = 10 * time.Second

// DefaultMaxConns is the default cap on a listener's open client
// connections: each costs a descriptor, a goroutine and a read buffer of
// 8 KiB, so ten thousand take well under a GiB.
const DefaultMaxConns = 10000

// CertificateSource resolves certificate ARNs to key pairs.
type CertificateSource interface {
	TLSCertificate(arn string) (*tls.Certificate, error)
}

// Options configure a Plane. The zero value works for HTTP listeners.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Certificates resolves the certificates of HTTPS listeners; nil
	// fails every HTTPS listener.
	Certificates CertificateSource
	// DialTimeout bounds connecting to a target; zero means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxIdleConnsPerTarget is the size of each target's pool of idle
	// keep-alive connections; zero means 256.
	MaxIdleConnsPerTarget int
	// MaxConns caps each listener's open client connections; zero means
	// DefaultMaxConns. At the cap a new connection takes the place of the
	// one idle longest (waiting for a request, or for the rest of a request
	// head); with none idle it waits in the accept queue.
	MaxConns int
	// Budget is kelb server's descriptor budget, which every listener's
	// client connections take a slot of (their socket and one to a
	// target), shared with the network load balancers' flows. With it
	// spent a new connection evicts as at MaxConns, the longest idle
	// connection of its listener first, then an idle one of another
	// listener or flow, else it waits. Nil: MaxConns alone bounds them.
	Budget *connlimit.Budget
	// Auth serves the authenticate actions: Auth.Keys seal sessions and
	// sign user claims (nil: listeners with authenticate-oidc or
	// authenticate-cognito actions fail to apply), Auth.Client reaches
	// the identity providers, Auth.CognitoEndpoint replaces Cognito's
	// hosted domains.
	Auth albauth.Options
}

// Plane runs the listeners of a Config. Its methods are safe for
// concurrent use.
type Plane struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	closed  bool
	servers map[string]*server // by address
	groups  map[string]*group  // by target group ARN
	// jwks caches the key sets of jwt-validation actions across Applies.
	jwks *albauth.JWKS
	wg   sync.WaitGroup // serving goroutines
}

// New returns a Plane that serves nothing until Apply.
func New(opts Options) *Plane {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.MaxIdleConnsPerTarget <= 0 {
		opts.MaxIdleConnsPerTarget = 256
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Plane{
		opts:    opts,
		log:     opts.Logger,
		metrics: newMetrics(reg),
		servers: map[string]*server{},
		groups:  map[string]*group{},
		jwks:    albauth.NewJWKS(opts.Auth.Client, opts.Auth.Now),
	}
}

// Apply makes cfg run: target groups get their new target sets, listeners
// that are gone or whose socket settings changed (protocol, idle timeout,
// HTTP/2) are closed, new ones are bound, and every listener's routing
// table and certificates are swapped atomically. Requests in flight finish
// on the targets they started with. Listeners that cannot be bound or whose
// certificates cannot be loaded are reported in the error; the rest of cfg
// applies.
func (p *Plane) Apply(cfg Config) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("l7: plane closed")
	}
	now := time.Now()
	groups := make(map[string]*group, len(cfg.TargetGroups))
	for _, tg := range cfg.TargetGroups {
		g := p.groups[tg.ARN]
		if g == nil || g.transportKey != transportKey(tg) {
			g = newGroup(tg, p.opts)
		}
		g.update(tg, now)
		groups[tg.ARN] = g
	}
	for arn, g := range p.groups {
		if groups[arn] != g {
			g.close()
		}
	}
	p.groups = groups

	var errs []error
	want := make(map[string]Listener, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		want[l.Address] = l
	}
	for addr, s := range p.servers {
		if l, ok := want[addr]; !ok || s.key != serverKey(l) {
			s.close()
			delete(p.servers, addr)
		}
	}
	for _, l := range cfg.Listeners {
		tbl, err := p.buildTable(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("listener %s on %s: %w", l.ListenerARN, l.Address, err))
			continue
		}
		var tlsConf *tls.Config
		if l.Protocol == ProtocolHTTPS {
			if tlsConf, err = p.tlsConfig(l); err != nil {
				errs = append(errs, fmt.Errorf("listener %s on %s: %w", l.ListenerARN, l.Address, err))
				continue
			}
		}
		s := p.servers[l.Address]
		if s == nil {
			if s, err = p.bind(l, tbl); err != nil {
				errs = append(errs, fmt.Errorf("listener %s: %w", l.ListenerARN, err))
				continue
			}
			p.servers[l.Address] = s
		}
		s.tlsConf.Store(tlsConf)
		s.table.Store(tbl)
	}
	return errors.Join(errs...)
}

// Close closes every listener and its connections, and waits for the
// serving goroutines.
func (p *Plane) Close() error {
	p.mu.Lock()
	p.closed = true
	for addr, s := range p.servers {
		s.close()
		delete(p.servers, addr)
	}
	for _, g := range p.groups {
		g.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// Addresses returns the addresses being listened on (for tests and logs).
func (p *Plane) Addresses() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.servers))
	for a := range p.servers {
		out = append(out, a)
	}
	return out
}

func (p *Plane) tlsConfig(l Listener) (*tls.Config, error) {
	if p.opts.Certificates == nil {
		return nil, errors.New("no certificate source")
	}
	certs := make([]tls.Certificate, 0, len(l.Certificates))
	for _, arn := range l.Certificates {
		c, err := p.opts.Certificates.TLSCertificate(arn)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", arn, err)
		}
		certs = append(certs, *c)
	}
	protos := []string{"http/1.1"}
	if l.HTTP2 {
		protos = []string{"h2", "http/1.1"}
	}
	conf, err := tlspolicy.Server{Policy: l.SSLPolicy, Certificates: certs, NextProtos: protos}.Config()
	if err != nil {
		return nil, err
	}
	if err := applyMutualAuth(conf, l.MutualAuth, time.Now); err != nil {
		return nil, err
	}
	return conf, nil
}

// buildTable compiles a listener's rules and actions against the current
// target groups.
func (p *Plane) buildTable(l Listener) (*table, error) {
	rt, err := newRouter(l.Rules)
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(l.Address)
	proto := "http"
	if l.Protocol == ProtocolHTTPS {
		proto = "https"
	}
	t := &table{
		router:           rt,
		protocol:         l.Protocol,
		port:             port,
		xffMode:          l.XFFMode,
		forwardedHeaders: []byte("X-Forwarded-Proto: " + proto + "\r\nX-Forwarded-Port: " + port + "\r\n"),
		metrics:          p.metrics.forRoute(l.LoadBalancer, ""),
		allSources:       !l.SourcesLimited && len(l.SourceRanges) == 0,
		headers:          newRespHeaders(l.ResponseHeaders, l.NoServerHeader),
		tlsVersionHeader: l.TLSVersionHeader,
		tlsCipherHeader:  l.TLSCipherHeader,
		tlsHeaderKeys:    [2]string{textproto.CanonicalMIMEHeaderKey(l.TLSVersionHeader), textproto.CanonicalMIMEHeaderKey(l.TLSCipherHeader)},
		mtlsNames:        l.MTLSHeaderNames,
	}
	if l.MutualAuth != nil {
		t.mtlsMode = l.MutualAuth.Mode
	}
	for _, c := range l.SourceRanges {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("source range: %w", err)
		}
		t.sources = append(t.sources, pfx.Masked())
	}
	compile := func(actions []elb.Action) (*action, error) {
		a, err := p.compileAction(l, actions)
		if err == nil && a.flow != nil {
			if t.flows == nil {
				t.flows = map[string]*albauth.Flow{}
			}
			t.flows[a.flow.ID()] = a.flow
			t.authKeys = p.opts.Auth.Keys
		}
		return a, err
	}
	for _, r := range l.Rules {
		a, err := compile(r.Actions)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ARN, err)
		}
		t.actions = append(t.actions, a)
		tr, err := compileTransforms(r.Transforms)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ARN, err)
		}
		t.transforms = append(t.transforms, tr)
	}
	if t.def, err = compile(l.DefaultActions); err != nil {
		return nil, fmt.Errorf("default actions: %w", err)
	}
	return t, nil
}

// compileAction compiles a rule's or listener's actions: its authenticate
// action (auth.go), if any, and the terminal action.
func (p *Plane) compileAction(l Listener, actions []elb.Action) (*action, error) {
	var auth *elb.Action
	rest := make([]elb.Action, 0, len(actions))
	for i := range actions {
		if elb.IsAuthenticate(actions[i].Type) {
			auth = &actions[i]
		} else {
			rest = append(rest, actions[i])
		}
	}
	a, err := p.compileTerminal(l, rest)
	if err != nil || auth == nil {
		return a, err
	}
	if a.auth, a.flow, err = p.compileAuth(l, *auth); err != nil {
		return nil, err
	}
	return a, nil
}

func (p *Plane) compileTerminal(l Listener, actions []elb.Action) (*action, error) {
	if len(actions) == 0 {
		return &action{kind: actionNone}, nil
	}
	a := actions[0]
	for _, b := range actions[1:] {
		if b.Order < a.Order {
			a = b
		}
	}
	switch a.Type {
	case elb.ActionRedirect:
		if a.Redirect == nil {
			return nil, errors.New("redirect action without configuration")
		}
		code := http.StatusMovedPermanently
		if a.Redirect.StatusCode == "HTTP_302" {
			code = http.StatusFound
		}
		return &action{kind: actionRedirect, redirect: *a.Redirect, status: code}, nil
	case elb.ActionFixedResponse:
		if a.FixedResponse == nil {
			return nil, errors.New("fixed-response action without configuration")
		}
		code, err := strconv.Atoi(a.FixedResponse.StatusCode)
		if err != nil || code < 200 || code > 599 {
			return nil, fmt.Errorf("fixed-response status code %q", a.FixedResponse.StatusCode)
		}
		return &action{kind: actionFixed, status: code, contentType: a.FixedResponse.ContentType, body: []byte(a.FixedResponse.MessageBody)}, nil
	case elb.ActionForward:
		out := &action{kind: actionForward}
		tuples := a.ForwardTargetGroups()
		if a.Forward != nil {
			out.stickyGroups = a.Forward.StickinessEnabled
			out.stickyDuration = time.Duration(a.Forward.StickinessDurationSeconds) * time.Second
		}
		for _, wt := range tuples {
			g := p.groups[wt.TargetGroupARN]
			if g == nil {
				// The group is gone (deleted between the listener and
				// the groups being read): it takes no requests.
				continue
			}
			w := int(wt.Weight)
			if len(tuples) == 1 {
				w = max(w, 1)
			}
			out.groups = append(out.groups, weightedGroup{group: g, weight: w, metrics: p.metrics.forRoute(l.LoadBalancer, g.label)})
			out.totalWeight += w
		}
		return out, nil
	}
	return nil, fmt.Errorf("action type %q", a.Type)
}

// serverKey is what a listener's socket and http.Server are built from:
// a change rebinds.
func serverKey(l Listener) string {
	return fmt.Sprintf("%s/%s/%v", l.Protocol, l.IdleTimeout, l.HTTP2)
}

// server is one listening socket. The fast path (fastpath.go) serves its
// connections and hands net/http (srv, through the handoff listener) the
// ones it leaves.
type server struct {
	key     string
	srv     *http.Server
	table   atomic.Pointer[table]
	tlsConf atomic.Pointer[tls.Config]

	ln net.Listener // TLS for HTTPS listeners
	// limit caps the listener's connections (under TLS).
	limit *connlimit.Listener

	handoff     *handoffListener
	idleTimeout time.Duration
	active      prometheus.Gauge
	accepted    prometheus.Counter
	ctx         context.Context // ends when the listener closes
	cancel      context.CancelFunc
	// idleWorkers hands accepted connections to idle connection
	// goroutines.
	idleWorkers chan *clientConn
	mu          sync.Mutex
	closed      bool
	conns       map[*clientConn]struct{}
}

// bind opens l's socket and serves it with tbl, which is in place before
// the first connection is accepted.
func (p *Plane) bind(l Listener, tbl *table) (*server, error) {
	// No TCP keep-alive probes on client connections: the idle timeout
	// closes dead ones, and each accepted connection is spared the
	// setsockopt calls.
	lc := net.ListenConfig{Control: freebind, KeepAlive: -1}
	tcpLn, err := lc.Listen(context.Background(), "tcp", l.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", l.Address, err)
	}
	ln := connlimit.NewListener(tcpLn, p.opts.MaxConns)
	ln.Share(p.opts.Budget)
	ln.OnEvict(p.metrics.evicted.WithLabelValues(l.LoadBalancer).Inc)
	s := &server{
		key:         serverKey(l),
		limit:       ln,
		idleTimeout: l.IdleTimeout,
		active:      p.metrics.activeConns.WithLabelValues(l.LoadBalancer),
		accepted:    p.metrics.newConns.WithLabelValues(l.LoadBalancer),
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if l.HTTP2 {
		protocols.SetHTTP2(true)
		if l.Protocol == ProtocolHTTP {
			protocols.SetUnencryptedHTTP2(true)
		}
	}
	s.srv = &http.Server{
		Handler:           s,
		Protocols:         protocols,
		IdleTimeout:       l.IdleTimeout,
		ReadHeaderTimeout: l.IdleTimeout,
		MaxHeaderBytes:    maxHeadBytes - netHTTPHeadSlack,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return connTLSContext(ctx, c) },
		ConnState: func(c net.Conn, st http.ConnState) {
			ln.ConnState(c, st)
			// Every connection comes from the fast path, which counted it
			// when it was accepted.
			if st == http.StateClosed || st == http.StateHijacked {
				s.active.Dec()
			}
		},
	}
	var clientLn net.Listener = ln
	if l.Protocol == ProtocolHTTPS {
		clientLn = tls.NewListener(ln, &tls.Config{
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				c := s.tlsConf.Load()
				if c == nil {
					return nil, errors.New("listener has no certificate")
				}
				return c, nil
			},
		})
	}
	s.ln = clientLn
	s.table.Store(tbl)
	s.handoff = newHandoffListener(ln.Addr())
	s.conns = map[*clientConn]struct{}{}
	s.idleWorkers = make(chan *clientConn)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	serveLn := s.handoff
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		s.acceptLoop(p)
	}()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := s.srv.Serve(serveLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("ALB listener stopped", "address", l.Address, "err", err)
		}
	}()
	p.log.Info("ALB listener open", "address", l.Address, "protocol", l.Protocol, "listener", l.ListenerARN)
	return s, nil
}

// acceptLoop accepts the fast path's connections until the listener
// closes, each served by a goroutine p.wg waits for. Accept errors other
// than a closed listener (out of descriptors) back off up to a second.
func (s *server) acceptLoop(p *Plane) {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.log.Warn("ALB listener accept", "address", s.ln.Addr().String(), "err", err, "retry_in", delay)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		if t := s.table.Load(); t == nil || !t.admits(c.RemoteAddr()) {
			// Outside the listener's security group rules: closed before
			// a byte is read, with a reset where the socket allows.
			refuse(c)
			continue
		}
		s.accepted.Inc()
		s.active.Inc()
		cc := newClientConn(s, c)
		if !s.track(cc) {
			c.Close()
			s.active.Dec()
			continue
		}
		select {
		case s.idleWorkers <- cc:
		default:
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				s.worker(cc)
			}()
		}
	}
}

// refuse closes a connection the listener does not admit, with a TCP
// reset when the connection (or the one under TLS) can set SO_LINGER.
func refuse(c net.Conn) {
	nc := c
	if tc, ok := c.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if l, ok := nc.(interface{ SetLinger(int) error }); ok {
		l.SetLinger(0)
	}
	c.Close()
}

// workerIdleTimeout ends a connection goroutine that has had no new
// connection to serve for this long.
const workerIdleTimeout = 10 * time.Second

// worker serves cc, then the connections the accept loop hands it, until
// none comes for workerIdleTimeout or the listener closes. Reusing
// goroutines spares a new connection a goroutine start and the growth of
// its stack.
func (s *server) worker(cc *clientConn) {
	idle := time.NewTimer(workerIdleTimeout)
	defer idle.Stop()
	for {
		s.serveConn(cc)
		idle.Reset(workerIdleTimeout)
		select {
		case cc = <-s.idleWorkers:
		case <-idle.C:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *server) track(cc *clientConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[cc] = struct{}{}
	return true
}

func (s *server) untrack(cc *clientConn) {
	s.mu.Lock()
	delete(s.conns, cc)
	s.mu.Unlock()
}

// close closes the listener and every connection, requests in flight
// included.
func (s *server) close() {
	s.srv.Close()
	s.handoff.Close()
	s.ln.Close()
	s.cancel()
	s.mu.Lock()
	s.closed = true
	for cc := range s.conns {
		cc.abort()
	}
	s.mu.Unlock()
}

// deferAcceptSeconds is how long the kernel holds a connection that has
// sent nothing before handing it to accept anyway.
const deferAcceptSeconds = 5

// freebind lets listeners bind load balancer addresses that are not
// configured yet, as the L4 plane does, and defers accepting a connection
// until the client has sent something (TCP_DEFER_ACCEPT).
func freebind(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		}
		if serr == nil {
			// Clients speak first: accept a connection once its first
			// bytes are in, so the first read does not wait.
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, deferAcceptSeconds)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// remoteAddr parses the client's address of r.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
