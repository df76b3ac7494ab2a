package l7

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelb-io/kelb/internal/albauth"
	"github.com/kelb-io/kelb/internal/mtls"
)

// Stickiness cookies, named as ALB names them.
const (
	cookieLB      = "AWSALB"
	cookieLBCORS  = "AWSALBCORS"
	cookieApp     = "AWSALBAPP-0"
	cookieTGGroup = "AWSALBTG"
	// statusClientClosed is ALB's 460: the client closed the connection
	// before the load balancer could answer.
	statusClientClosed = 460
)

// Action kinds of a compiled action.
const (
	actionNone = iota
	actionForward
	actionRedirect
	actionFixed
)

// table is a listener's compiled routing: swapped whole by Apply.
type table struct {
	router   *router
	actions  []*action // parallel to router.rules
	def      *action
	protocol string // HTTP or HTTPS
	port     string
	xffMode  string
	// forwardedHeaders are the X-Forwarded-Proto and X-Forwarded-Port
	// lines the fast path adds.
	forwardedHeaders []byte
	metrics          *routeMetrics // responses without a target group
	// allSources admits every client; else only those in sources.
	allSources bool
	sources    []netip.Prefix
	// transforms are the rules' transforms, parallel to actions; nil
	// for a rule without.
	transforms []*transform
	headers    respHeaders
	// tlsVersionHeader and tlsCipherHeader name the TLS request headers
	// added on HTTPS; empty, none.
	tlsVersionHeader, tlsCipherHeader string
	// tlsHeaderKeys are their canonical forms, as a request's header map
	// keys them.
	tlsHeaderKeys [2]string
	// flows are the listener's OIDC and Cognito flows by id, for
	// albauth.CallbackPath; nil when it has none.
	flows    map[string]*albauth.Flow
	authKeys *albauth.Keys
	// mtlsMode is the listener's mutual TLS mode ("" when off) and
	// mtlsNames the names its attributes give the headers.
	mtlsMode  string
	mtlsNames mtls.HeaderNames
}

// admits reports whether the listener accepts a connection from addr (a
// net.Addr's "ip:port").
func (t *table) admits(addr net.Addr) bool {
	if t.allSources {
		return true
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return false
	}
	client := ap.Addr().Unmap()
	for _, p := range t.sources {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

type action struct {
	kind int
	// auth is the rule's authenticate action, run before the others; nil
	// for none. flow is the same when it is an OIDC or Cognito flow.
	auth           authStep
	flow           *albauth.Flow
	groups         []weightedGroup
	totalWeight    int
	stickyGroups   bool
	stickyDuration time.Duration
	redirect       redirectConfig
	status         int
	contentType    string
	body           []byte
}

type weightedGroup struct {
	group   *group
	weight  int
	metrics *routeMetrics
}

// ServeHTTP routes one request: rules first, then the chosen action.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := s.table.Load()
	if t == nil {
		writeELBError(w, http.StatusServiceUnavailable)
		return
	}
	if headTooLarge(r) {
		if r.ProtoMajor == 1 {
			w.Header().Set("Connection", "close")
		}
		writeELBError(w, http.StatusBadRequest)
		t.metrics.count(http.StatusBadRequest, false)
		return
	}
	w, r = idleDeadlines(w, r, s.idleTimeout)
	t.headers.prepare(w)
	if t.flows != nil && r.URL.Path == albauth.CallbackPath {
		t.metrics.count(albauth.Callback(w, r, t.authKeys, t.flows, time.Now()), false)
		return
	}
	a := t.def
	i := t.router.Match(r, remoteAddr(r))
	if i >= 0 {
		a = t.actions[i]
	}
	if a.auth != nil {
		// Authentication comes first, on the request as the client sent
		// it; the rule's transforms apply to what goes on.
		if status := a.auth.Authenticate(w, r); status != 0 {
			t.metrics.count(status, false)
			return
		}
	}
	if i >= 0 {
		if tr := t.transforms[i]; tr != nil {
			if _, _, err := tr.apply(r); err != nil {
				writeELBError(w, http.StatusInternalServerError)
				t.metrics.count(http.StatusInternalServerError, false)
				return
			}
		}
	}
	switch a.kind {
	case actionRedirect:
		w.Header().Set("Location", redirectURL(a.redirect, r, t.protocol, t.port))
		setServer(w.Header())
		w.WriteHeader(a.status)
		t.metrics.count(a.status, false)
	case actionFixed:
		h := w.Header()
		if a.contentType != "" {
			h.Set("Content-Type", a.contentType)
		}
		h.Set("Content-Length", strconv.Itoa(len(a.body)))
		setServer(h)
		w.WriteHeader(a.status)
		w.Write(a.body)
		t.metrics.count(a.status, false)
	case actionForward:
		wg, newCookie := a.pickGroup(r)
		if newCookie {
			http.SetCookie(w, a.groupCookie(wg))
		}
		if wg == nil {
			writeELBError(w, http.StatusServiceUnavailable)
			t.metrics.count(http.StatusServiceUnavailable, false)
			return
		}
		wg.group.serve(w, r, t, wg.metrics)
	default:
		writeELBError(w, http.StatusServiceUnavailable)
		t.metrics.count(http.StatusServiceUnavailable, false)
	}
}

// pickGroup chooses the target group of a forward action: the one named by
// the client's group stickiness cookie when it still belongs to the action,
// else one at random by weight. newCookie reports that the client must get
// the chosen group's stickiness cookie (groupCookie).
func (a *action) pickGroup(r *http.Request) (wg *weightedGroup, newCookie bool) {
	switch {
	case len(a.groups) == 0 || a.totalWeight == 0:
		return nil, false
	case len(a.groups) == 1:
		return &a.groups[0], false
	}
	if a.stickyGroups {
		if c, err := r.Cookie(cookieTGGroup); err == nil {
			for i := range a.groups {
				if a.groups[i].group.cookie == c.Value && a.groups[i].weight > 0 {
					return &a.groups[i], false
				}
			}
		}
	}
	n := rand.IntN(a.totalWeight)
	for i := range a.groups {
		if n < a.groups[i].weight {
			return &a.groups[i], a.stickyGroups
		}
		n -= a.groups[i].weight
	}
	return &a.groups[len(a.groups)-1], a.stickyGroups
}

// groupCookie is the group stickiness cookie naming wg's group.
func (a *action) groupCookie(wg *weightedGroup) *http.Cookie {
	return &http.Cookie{Name: cookieTGGroup, Value: wg.group.cookie, Path: "/", Expires: time.Now().Add(a.stickyDuration)}
}

// group is a target group at run time: its connection pool (one
// http.Transport, shared by its targets) and its current target set.
type group struct {
	arn          string
	label        string
	cookie       string // group stickiness cookie value
	transportKey string
	transport    *http.Transport
	state        atomic.Pointer[groupState]
	targets      map[string]*target // by address; guarded by Plane.mu
	opts         Options
	// fast: HTTP/1.1 to the targets, so the fast path forwards the
	// group's requests through each target's upstreamPool.
	fast bool
}

// groupState is what requests read: swapped whole by update.
type groupState struct {
	cfg     TargetGroup
	targets []*target
	byAddr  map[string]*target
	next    atomic.Uint64
}

// target is one target with its reverse proxy and in-flight count. It
// outlives Apply as long as the target stays in its group, so counts and
// slow start carry over.
type target struct {
	addr     string
	cookie   string
	proxy    *httputil.ReverseProxy
	inflight atomic.Int64
	// pool holds the fast path's connections to the target (fast groups).
	pool *upstreamPool
	// slowUntil is the end of the target's slow start, zero when none.
	slowStart time.Time
}

func transportKey(tg TargetGroup) string {
	return tg.Protocol + "/" + tg.ProtocolVersion + "/" + tg.ResponseTimeout.String()
}

func newGroup(tg TargetGroup, opts Options) *group {
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &connectError{addr: addr, err: err}
			}
			return c, nil
		},
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerTarget,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: tg.ResponseTimeout,
		// ALB does not verify targets' certificates.
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
		DisableCompression: true,
	}
	protocols := new(http.Protocols)
	switch {
	case tg.ProtocolVersion == "HTTP2" || tg.ProtocolVersion == "GRPC":
		if tg.Protocol == ProtocolHTTPS {
			protocols.SetHTTP2(true)
		} else {
			protocols.SetUnencryptedHTTP2(true)
		}
	default:
		protocols.SetHTTP1(true)
	}
	tr.Protocols = protocols
	return &group{
		arn:          tg.ARN,
		label:        tg.Label,
		cookie:       base64.RawURLEncoding.EncodeToString([]byte(tg.Label)),
		transportKey: transportKey(tg),
		transport:    tr,
		targets:      map[string]*target{},
		opts:         opts,
		fast:         tg.ProtocolVersion != "HTTP2" && tg.ProtocolVersion != "GRPC",
	}
}

// close closes the group's idle connections and stops its pools keeping
// connections: the group is no longer in the configuration.
func (g *group) close() {
	g.transport.CloseIdleConnections()
	for _, t := range g.targets {
		if t.pool != nil {
			t.pool.close()
		}
	}
}

// update installs a new target set. A target new to a group that already
// had targets to route to enters slow start, if the group has one.
func (g *group) update(tg TargetGroup, now time.Time) {
	prev := g.state.Load()
	hadTargets := prev != nil && len(prev.targets) > 0
	st := &groupState{cfg: tg, byAddr: make(map[string]*target, len(tg.Targets))}
	seen := make(map[string]bool, len(tg.Targets))
	for _, addr := range tg.Targets {
		seen[addr] = true
		t := g.targets[addr]
		if t == nil {
			t = g.newTarget(addr, tg)
			g.targets[addr] = t
		}
		if prev != nil && prev.byAddr[addr] == nil && hadTargets && tg.SlowStart > 0 {
			t.slowStart = now.Add(tg.SlowStart)
		}
		st.targets = append(st.targets, t)
		st.byAddr[addr] = t
	}
	removed := false
	for addr, t := range g.targets {
		if !seen[addr] {
			delete(g.targets, addr)
			if t.pool != nil {
				t.pool.close()
			}
			removed = true
		}
	}
	if removed {
		// Connections busy with in-flight requests are not idle and
		// finish; the idle ones of every target are dialed again.
		g.transport.CloseIdleConnections()
	}
	g.state.Store(st)
}

var bufferPool = &bytePool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

type bytePool struct{ pool sync.Pool }

func (p *bytePool) Get() []byte  { return *p.pool.Get().(*[]byte) }
func (p *bytePool) Put(b []byte) { p.pool.Put(&b) }

var discardLog = log.New(io.Discard, "", 0)

func (g *group) newTarget(addr string, tg TargetGroup) *target {
	t := &target{addr: addr, cookie: base64.RawURLEncoding.EncodeToString([]byte(addr))}
	if g.fast {
		t.pool = newUpstreamPool(addr, tg.Protocol == ProtocolHTTPS, g.opts)
	}
	scheme := "http"
	if tg.Protocol == ProtocolHTTPS {
		scheme = "https"
	}
	t.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = scheme
			pr.Out.URL.Host = addr
			pr.Out.Host = pr.In.Host
			ex, _ := pr.In.Context().Value(exchangeKey{}).(*exchange)
			if ex != nil {
				setForwarded(pr, ex.table)
			}
		},
		Transport:      retryTransport{g: g},
		BufferPool:     bufferPool,
		ErrorLog:       discardLog,
		ModifyResponse: modifyResponse,
		ErrorHandler:   proxyError,
	}
	if tg.ProtocolVersion == "GRPC" {
		t.proxy.FlushInterval = -1
	}
	return t
}

// setForwarded sets X-Forwarded-For per the load balancer's mode, and
// X-Forwarded-Proto and X-Forwarded-Port. ReverseProxy has removed the
// client's X-Forwarded-* from the outbound request already.
func setForwarded(pr *httputil.ProxyRequest, t *table) {
	h := pr.Out.Header
	prior := pr.In.Header["X-Forwarded-For"]
	switch t.xffMode {
	case "preserve":
		if len(prior) > 0 {
			h["X-Forwarded-For"] = prior
		}
	case "remove":
	default:
		client := remoteAddr(pr.In).String()
		if len(prior) > 0 {
			client = strings.Join(prior, ", ") + ", " + client
		}
		h["X-Forwarded-For"] = []string{client}
	}
	if t.protocol == ProtocolHTTPS {
		h["X-Forwarded-Proto"] = protoHTTPS
	} else {
		h["X-Forwarded-Proto"] = protoHTTP
	}
	h["X-Forwarded-Port"] = []string{t.port}
	if t.tlsVersionHeader != "" {
		if st := requestTLS(pr.In); st != nil {
			version, cipher := tlsHeaderValues(st)
			h.Set(t.tlsVersionHeader, version)
			h.Set(t.tlsCipherHeader, cipher)
		}
	}
	setMTLSHeaders(pr.In, h, t)
}

var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// pick chooses the target of a request: the sticky one when the client's
// cookie names a target still in the set, else by the group's algorithm,
// skipping targets in slow start in proportion to their remaining ramp.
func (st *groupState) pick(r *http.Request) *target {
	n := len(st.targets)
	if n == 0 {
		return nil
	}
	switch st.cfg.Stickiness {
	case stickinessLBCookie:
		if c, err := r.Cookie(cookieLB); err == nil {
			if t := st.byCookie(c.Value); t != nil {
				return t
			}
		}
	case stickinessAppCookie:
		if c, err := r.Cookie(cookieApp); err == nil {
			if t := st.byCookie(c.Value); t != nil {
				return t
			}
		}
	}
	if n == 1 {
		return st.targets[0]
	}
	start := int(st.next.Add(1) % uint64(n))
	var now time.Time
	for i := range n {
		t := st.targets[(start+i)%n]
		if st.cfg.Algorithm == algorithmLeastRequests {
			t = st.leastOutstanding(start + i)
		}
		if t.slowStart.IsZero() {
			return t
		}
		if now.IsZero() {
			now = time.Now()
		}
		left := t.slowStart.Sub(now)
		if left <= 0 || rand.Float64() >= float64(left)/float64(st.cfg.SlowStart) {
			return t
		}
	}
	return st.targets[start]
}

// pickOther chooses a target for a request that could not connect to any
// of tried: the next one in round robin order, or the one with the least
// outstanding requests, that is not in tried. Stickiness and slow start do
// not apply: the sticky target, or the one a ramp would have preferred, is
// the one that refused. It returns nil when every target has been tried.
func (st *groupState) pickOther(tried []*target) *target {
	n := len(st.targets)
	if n == 0 {
		return nil
	}
	start := int(st.next.Add(1) % uint64(n))
	var best *target
	for i := range n {
		t := st.targets[(start+i)%n]
		if slices.Contains(tried, t) {
			continue
		}
		if st.cfg.Algorithm != algorithmLeastRequests {
			return t
		}
		if best == nil || t.inflight.Load() < best.inflight.Load() {
			best = t
		}
	}
	return best
}

func (st *groupState) leastOutstanding(start int) *target {
	n := len(st.targets)
	best := st.targets[start%n]
	for i := 1; i < n; i++ {
		t := st.targets[(start+i)%n]
		if t.inflight.Load() < best.inflight.Load() {
			best = t
		}
	}
	return best
}

func (st *groupState) byCookie(v string) *target {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	return st.byAddr[string(b)]
}

type exchangeKey struct{}

// exchange is one forwarded request's bookkeeping, shared with the
// reverse proxy's hooks through the request's context.
type exchange struct {
	table    *table
	group    *groupState
	target   *target // the target the request went to, after retries
	metrics  *routeMetrics
	sent     time.Time
	status   int
	elb      bool
	ttfb     time.Duration
	answered bool
}

// serve forwards r to a target of g, or answers 503 when g has none.
func (g *group) serve(w http.ResponseWriter, r *http.Request, t *table, m *routeMetrics) {
	st := g.state.Load()
	var tg *target
	if st != nil {
		tg = st.pick(r)
	}
	if tg == nil {
		writeELBError(w, http.StatusServiceUnavailable)
		m.count(http.StatusServiceUnavailable, false)
		return
	}
	ex := &exchange{table: t, group: st, target: tg, metrics: m, sent: time.Now()}
	tg.inflight.Add(1)
	defer func() {
		ex.target.inflight.Add(-1)
		if ex.answered {
			m.count(ex.status, !ex.elb)
			if !ex.elb {
				m.responseTime.Observe(ex.ttfb.Seconds())
			}
		}
	}()
	tg.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex)))
}

// retryTransport carries the reverse proxy's requests over a group's
// http.Transport, and sends a request again when it could not reach its
// target and its body, if any, can be sent whole again (at most
// inlineBodyMax bytes of it were read):
//   - connecting failed (tryAnotherTarget): to another target of the
//     group, up to maxTargetAttempts targets in all;
//   - a pooled connection turned out closed or reset before any byte of
//     the response (the target closed it while idle): once more to the
//     same target, at most deadConnRetries times, as the fast path does.
//
// The target that answers is recorded in the request's exchange, so
// stickiness cookies name it.
type retryTransport struct{ g *group }

// deadConnRetries bounds the attempts of one request on pooled
// connections that turn out closed.
const deadConnRetries = 2

func (rt retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return rt.g.transport.RoundTrip(req)
	}
	ctx := req.Context()
	var reused bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	}))
	var body *retainedBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &retainedBody{rc: req.Body}
		req.Body = body.attempt()
		// http.Transport itself sends an idempotent request again on a
		// new connection when a pooled one turns out closed, if it can
		// have its body again.
		req.GetBody = body.again
	}
	tried := []*target{ex.target}
	dead := 0
	for {
		reused = false
		resp, err := rt.g.transport.RoundTrip(req)
		if err == nil || ctx.Err() != nil || (body != nil && !body.replayable()) {
			if body != nil {
				body.settle(err == nil)
			}
			return resp, err
		}
		next := req.WithContext(req.Context())
		switch {
		case reused && dead < deadConnRetries && (retryable(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			dead++
		case tryAnotherTarget(err) && len(tried) < maxTargetAttempts:
			other := rt.g.state.Load().pickOther(tried)
			if other == nil {
				if body != nil {
					body.settle(false)
				}
				return resp, err
			}
			tried = append(tried, other)
			other.inflight.Add(1)
			ex.target.inflight.Add(-1)
			ex.target = other
			ex.metrics.retries.Inc()
			u := *req.URL
			u.Host = other.addr
			next.URL = &u
		default:
			if body != nil {
				body.settle(false)
			}
			return resp, err
		}
		if body != nil {
			next.Body = body.attempt()
		}
		req = next
	}
}

// retainedBody is a request body that can be sent again: it keeps the
// bytes read from the client, up to inlineBodyMax, and gives each attempt
// a reader of its own that replays them and then reads on. Once more was
// read, the body cannot be sent again. The client's body is closed by the
// attempt that got a response (its transport may stream the body on after
// the response head, as gRPC does), or when the request failed.
type retainedBody struct {
	rc     io.ReadCloser
	readMu sync.Mutex // serializes reads of rc

	mu       sync.Mutex
	kept     []byte
	total    int64        // bytes read from rc
	err      error        // rc's error, once met
	overflow bool         // more than inlineBodyMax read: no replay
	latest   *bodyAttempt // the attempt made last, by kelb or http.Transport
	owner    *bodyAttempt
	settled  bool
	closed   bool
}

// attempt returns a reader of the whole body for one attempt, the latest.
func (b *retainedBody) attempt() *bodyAttempt {
	a := &bodyAttempt{b: b}
	b.mu.Lock()
	b.latest = a
	b.mu.Unlock()
	return a
}

// again returns the body for another attempt, when it can be sent again.
func (b *retainedBody) again() (io.ReadCloser, error) {
	if !b.replayable() {
		return nil, errBodyConsumed
	}
	return b.attempt(), nil
}

func (b *retainedBody) replayable() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.overflow
}

// settle ends the attempts: when the request got a response, the latest
// attempt closes the client's body when its transport is done with it;
// when it failed, the body is closed now.
func (b *retainedBody) settle(answered bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var owner *bodyAttempt
	if answered {
		owner = b.latest
	}
	b.settled, b.owner = true, owner
	if (owner == nil || owner.closed) && !b.closed {
		b.closed = true
		b.rc.Close()
	}
}

var errBodyConsumed = errors.New("request body too large to send to another target")

// bodyAttempt is one attempt's reader of a retainedBody.
type bodyAttempt struct {
	b      *retainedBody
	off    int64 // guarded by b.readMu
	closed bool  // guarded by b.mu
}

func (a *bodyAttempt) Read(p []byte) (int, error) {
	b := a.b
	b.readMu.Lock()
	defer b.readMu.Unlock()
	b.mu.Lock()
	if a.off < b.total {
		defer b.mu.Unlock()
		if b.overflow {
			return 0, errBodyConsumed
		}
		n := copy(p, b.kept[a.off:])
		a.off += int64(n)
		return n, nil
	}
	if err := b.err; err != nil {
		b.mu.Unlock()
		return 0, err
	}
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > 0 {
		if !b.overflow && b.total+int64(n) <= inlineBodyMax {
			b.kept = append(b.kept, p[:n]...)
		} else {
			b.overflow, b.kept = true, nil
		}
		b.total += int64(n)
		a.off += int64(n)
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// Close closes the client's body when this attempt got the response;
// other attempts' closes are dropped.
func (a *bodyAttempt) Close() error {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	a.closed = true
	if b.settled && b.owner == a && !b.closed {
		b.closed = true
		return b.rc.Close()
	}
	return nil
}

// modifyResponse records a target's response and sets stickiness cookies.
func modifyResponse(resp *http.Response) error {
	ex, _ := resp.Request.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return nil
	}
	ex.status, ex.answered, ex.ttfb = resp.StatusCode, true, time.Since(ex.sent)
	ex.table.headers.dropOverridden(resp)
	cfg := &ex.group.cfg
	switch cfg.Stickiness {
	case stickinessLBCookie:
		exp := time.Now().Add(cfg.StickinessDuration).UTC().Format(http.TimeFormat)
		resp.Header.Add("Set-Cookie", cookieLB+"="+ex.target.cookie+"; Expires="+exp+"; Path=/")
		resp.Header.Add("Set-Cookie", cookieLBCORS+"="+ex.target.cookie+"; Expires="+exp+"; Path=/; SameSite=None; Secure")
	case stickinessAppCookie:
		for _, c := range resp.Cookies() {
			if c.Name == cfg.AppCookieName {
				exp := time.Now().Add(cfg.StickinessDuration).UTC().Format(http.TimeFormat)
				resp.Header.Add("Set-Cookie", cookieApp+"="+ex.target.cookie+"; Expires="+exp+"; Path=/")
				break
			}
		}
	}
	return nil
}

// proxyError answers a request the target failed: 460 when the client went
// away first, 504 when the target did not answer in time, else 502.
func proxyError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	var ne net.Error
	switch {
	case r.Context().Err() != nil:
		code = statusClientClosed
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	if ex, _ := r.Context().Value(exchangeKey{}).(*exchange); ex != nil {
		ex.status, ex.elb, ex.answered = code, true, true
	}
	if code != statusClientClosed {
		writeELBError(w, code)
	}
}

// elbErrorBodies are the pages ALB answers its own errors with.
var elbErrorBodies = map[int][]byte{}

func init() {
	for _, code := range []int{400, 403, 404, 405, 408, 413, 414, 460, 463, 500, 501, 502, 503, 504} {
		text := http.StatusText(code)
		if code == statusClientClosed {
			text = "Client Closed Request"
		}
		if code == http.StatusServiceUnavailable {
			text = "Service Temporarily Unavailable"
		}
		line := strconv.Itoa(code) + " " + text
		elbErrorBodies[code] = []byte("<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" + line +
			"</h1></center>\r\n</body>\r\n</html>\r\n")
	}
}

func writeELBError(w http.ResponseWriter, code int) {
	body := elbErrorBodies[code]
	h := w.Header()
	setServer(h)
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	w.Write(body)
}
