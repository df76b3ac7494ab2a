package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/connlimit"
)

// Options configure a Server.
type Options struct {
	// Addr is the host:port served over both UDP and TCP. A port of 0
	// picks a free port, the same for both; Addr tells which.
	Addr string
	// Domain is the zone kelb is authoritative for, e.g. "kelb.local":
	// unknown names under it are NXDOMAIN.
	Domain string
	// Upstream servers (host:port) answer names outside Domain. None:
	// those queries are REFUSED.
	Upstream []string
	// Logger receives serving errors. Nil discards them.
	Logger *slog.Logger
	// TTL of every answer, in seconds. Zero means 60, as ELB names have.
	TTL uint32
	// MaxTCPConns caps open DNS-over-TCP connections; zero means
	// DefaultMaxTCPConns.
	MaxTCPConns int
}

// DefaultMaxTCPConns is the default cap on DNS-over-TCP connections:
// resolvers use TCP only for the rare truncated answer.
const DefaultMaxTCPConns = 256

// Deadlines of a DNS-over-TCP connection: a query must arrive whole
// (length and message) within tcpReadTimeout, its answer be written within
// tcpWriteTimeout, and a connection with no next query for tcpIdleTimeout
// closes. A connection answers at most tcpMaxQueries queries.
const (
	tcpReadTimeout  = 2 * time.Second
	tcpWriteTimeout = 2 * time.Second
	tcpIdleTimeout  = 8 * time.Second
	tcpMaxQueries   = 128
)

const (
	defaultTTL = 60
	// upstreamTimeout bounds one forwarded query to one upstream.
	upstreamTimeout = 2 * time.Second
)

// Server answers DNS queries for load balancer names.
type Server struct {
	opts   Options
	log    *slog.Logger
	domain string // lower-case FQDN, "" when none
	ttl    uint32

	zone     atomic.Pointer[zone]
	rotation atomic.Uint32

	ready chan struct{}
	addr  atomic.Value // string, set before ready closes
	ctx   atomic.Pointer[context.Context]
}

// zone is one immutable snapshot of everything the server answers.
type zone struct {
	records records
	// interior holds names that exist only as ancestors of load balancer
	// names: they answer NODATA, not NXDOMAIN.
	interior map[string]bool
	serial   uint32
}

// NewServer returns a server with no records; call Update, then Run.
func NewServer(o Options) *Server {
	s := &Server{opts: o, log: o.Logger, ttl: o.TTL, ready: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.ttl == 0 {
		s.ttl = defaultTTL
	}
	if o.Domain != "" {
		s.domain = strings.ToLower(mdns.Fqdn(o.Domain))
	}
	s.zone.Store(&zone{records: records{}, interior: map[string]bool{}})
	return s
}

// Update recomputes every record from the configuration v, the targets' health as each
// zone's live nodes see it (nil: every zone answered) and the zones that
// have a live node (nil: every zone). Call it when the configuration,
// target health or the live nodes change.
func (s *Server) Update(v *confview.View, health ZoneHealth, live LiveZones) {
	z := &zone{records: buildRecords(v, health, live), interior: map[string]bool{}, serial: uint32(v.State().Revision)}
	for name := range z.records {
		for i, end := mdns.NextLabel(name, 0); !end; i, end = mdns.NextLabel(name, i) {
			z.interior[name[i:]] = true
		}
	}
	s.zone.Store(z)
}

// Ready is closed once Run is listening on Addr.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address the server listens on (UDP and TCP), once Ready is
// closed; before that it is Options.Addr.
func (s *Server) Addr() string {
	if a, ok := s.addr.Load().(string); ok {
		return a
	}
	return s.opts.Addr
}

// Run serves DNS over UDP and TCP until ctx ends, then shuts both down and
// returns nil; it returns an error when it cannot listen or serving fails.
func (s *Server) Run(ctx context.Context) error {
	pc, ln, err := listen(s.opts.Addr)
	if err != nil {
		return err
	}
	s.ctx.Store(&ctx)
	s.addr.Store(pc.LocalAddr().String())

	udpStarted, tcpStarted := make(chan struct{}), make(chan struct{})
	maxConns := s.opts.MaxTCPConns
	if maxConns <= 0 {
		maxConns = DefaultMaxTCPConns
	}
	ln = connlimit.NewListener(ln, maxConns)
	servers := []*mdns.Server{
		{PacketConn: pc, Handler: s, NotifyStartedFunc: func() { close(udpStarted) }},
		{Listener: ln, Handler: s, NotifyStartedFunc: func() { close(tcpStarted) },
			ReadTimeout: tcpReadTimeout, WriteTimeout: tcpWriteTimeout, MaxTCPQueries: tcpMaxQueries,
			IdleTimeout: func() time.Duration { return tcpIdleTimeout }},
	}
	errs := make(chan error, len(servers))
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				errs <- err
			}
		})
	}
	serveErr := waitStarted(ctx, errs, udpStarted, tcpStarted)
	if serveErr == nil && ctx.Err() == nil {
		close(s.ready)
		select {
		case <-ctx.Done():
		case serveErr = <-errs:
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.ShutdownContext(shutdownCtx) // fails only for a server that never started
	}
	pc.Close()
	ln.Close()
	wg.Wait()
	if serveErr != nil {
		return fmt.Errorf("serve dns on %s: %w", s.Addr(), serveErr)
	}
	return nil
}

// waitStarted waits until every started channel is closed, a server
// fails, or ctx ends.
func waitStarted(ctx context.Context, errs <-chan error, started ...chan struct{}) error {
	for _, ch := range started {
		select {
		case <-ch:
		case err := <-errs:
			return err
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// listen binds UDP on addr and TCP on the same port. With port 0, the TCP
// port is whatever UDP got, retried a few times if that port is taken for
// TCP.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns address %q: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen for dns on udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || attempt == 10 {
			return nil, nil, fmt.Errorf("listen for dns on tcp %s: %w", addr, err)
		}
	}
}

// ServeDNS implements mdns.Handler.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	m := s.reply(w, r)
	if m == nil {
		return
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := mdns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		}
		m.Truncate(size)
	}
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("write dns reply", "client", w.RemoteAddr().String(), "err", err)
	}
}

// reply builds the answer to r, or nil when nothing should be sent.
func (s *Server) reply(w mdns.ResponseWriter, r *mdns.Msg) *mdns.Msg {
	m := new(mdns.Msg)
	if r.Opcode != mdns.OpcodeQuery {
		return m.SetRcode(r, mdns.RcodeNotImplemented)
	}
	if len(r.Question) != 1 {
		return m.SetRcode(r, mdns.RcodeFormatError)
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	z := s.zone.Load()
	ans, known := z.records[name]
	inDomain := s.domain != "" && mdns.IsSubDomain(s.domain, name)
	if !known && !inDomain {
		return s.forward(w, r)
	}
	m.SetReply(r)
	m.Authoritative = true
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(max(opt.UDPSize(), mdns.MinMsgSize), false)
	}
	switch {
	case known && q.Qclass == mdns.ClassINET && (q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeAAAA):
		addrs := ans.a
		if q.Qtype == mdns.TypeAAAA {
			addrs = ans.aaaa
		}
		m.Answer = s.addressRecords(q.Name, q.Qtype, addrs)
	case name == s.domain && q.Qtype == mdns.TypeSOA:
		m.Answer = []mdns.RR{s.soa(z)}
	case known, z.interior[name], name == s.domain:
		// The name exists, without records of this type.
	default:
		m.Rcode = mdns.RcodeNameError
	}
	if len(m.Answer) == 0 && s.domain != "" && inDomain {
		m.Ns = []mdns.RR{s.soa(z)}
	}
	return m
}

// addressRecords are the A or AAAA records for addrs, rotated on every
// answer so that clients which take the first address spread over zones.
func (s *Server) addressRecords(qname string, qtype uint16, addrs []netip.Addr) []mdns.RR {
	if len(addrs) == 0 {
		return nil
	}
	rrs := make([]mdns.RR, 0, len(addrs))
	start := int(s.rotation.Add(1) % uint32(len(addrs)))
	for i := range addrs {
		a := addrs[(start+i)%len(addrs)]
		hdr := mdns.RR_Header{Name: qname, Rrtype: qtype, Class: mdns.ClassINET, Ttl: s.ttl}
		if qtype == mdns.TypeA {
			rrs = append(rrs, &mdns.A{Hdr: hdr, A: a.AsSlice()})
		} else {
			rrs = append(rrs, &mdns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
		}
	}
	return rrs
}

func (s *Server) soa(z *zone) *mdns.SOA {
	return &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: s.domain, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: s.ttl},
		Ns:      "ns." + s.domain,
		Mbox:    "hostmaster." + s.domain,
		Serial:  z.serial,
		Refresh: 7200,
		Retry:   900,
		Expire:  1209600,
		Minttl:  s.ttl,
	}
}

// forward asks the upstream servers, in order, over the protocol the
// client used. An upstream that fails, or answers SERVFAIL or REFUSED, is
// skipped; when none answers better, the last such answer (or SERVFAIL) is
// returned.
func (s *Server) forward(w mdns.ResponseWriter, r *mdns.Msg) *mdns.Msg {
	if len(s.opts.Upstream) == 0 {
		return new(mdns.Msg).SetRcode(r, mdns.RcodeRefused)
	}
	ctx := context.Background()
	if p := s.ctx.Load(); p != nil {
		ctx = *p
	}
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := &mdns.Client{Net: network, Timeout: upstreamTimeout}
	last := new(mdns.Msg).SetRcode(r, mdns.RcodeServerFailure)
	for _, up := range s.opts.Upstream {
		resp, _, err := c.ExchangeContext(ctx, r, up)
		if err != nil {
			s.log.Debug("forward dns query", "name", r.Question[0].Name, "upstream", up, "err", err)
			continue
		}
		resp.Id = r.Id
		if resp.Rcode == mdns.RcodeServerFailure || resp.Rcode == mdns.RcodeRefused {
			last = resp
			continue
		}
		return resp
	}
	return last
}
