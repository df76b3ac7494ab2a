// Package bgp announces load balancer addresses to routers over BGP, with an
// embedded GoBGP speaker (no gobgpd process, no gRPC port).
//
// A Speaker connects out to its configured peers (and listens for them only
// when given a listen port), and announces one /32 route per address handed
// to Announce, with the node's own address on the peering link as the next
// hop (next-hop-self): a router that hears the same address from several
// nodes installs an ECMP route across them. Announce makes the announced set
// exactly the given one, adding and withdrawing the difference; the caller
// decides what is announced (kelb server: the load balancer addresses of the
// node's zones after each successful data plane apply, nothing after a
// failed one) and nothing in this package depends on the configuration
// store, so losing the store changes nothing announced. Stop withdraws every
// route and closes the sessions with a BGP Cease notification, so routers
// drop the node at once rather than after the hold time.
//
// Failure behaviour: a peer that cannot be reached or drops its session is
// retried every ConnectRetry for as long as the speaker runs, and gets the
// whole announced set once its session is up again. Only IPv4 addresses
// are announced; IPv6 addresses handed to Announce are skipped with a log
// line. A node whose process dies leaves its routes until the peer notices
// (at once when the kernel closes the TCP connection, else after the hold
// time).
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgp "github.com/osrg/gobgp/v3/pkg/server"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/anypb"
)

// Config configures a Speaker.
type Config struct {
	// ASN is the local autonomous system number (DefaultASN when zero).
	ASN uint32
	// RouterID is the speaker's BGP identifier, an IPv4 address.
	RouterID netip.Addr
	// ListenPort is where the speaker accepts sessions; negative listens
	// nowhere (kelb connects out), zero is the BGP port.
	ListenPort int32
	// Peers are the neighbours the speaker connects to.
	Peers []Peer
	// ConnectRetry is the time between connection attempts to a peer
	// (DefaultConnectRetry when zero).
	ConnectRetry time.Duration
	Logger       *slog.Logger
	// Registerer receives the speaker's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultConnectRetry is the time between connection attempts to a peer.
const DefaultConnectRetry = 3 * time.Second

// ErrStopped is Announce's error once the speaker is stopped.
var ErrStopped = errors.New("bgp: speaker stopped")

// Speaker is an embedded BGP speaker announcing host routes.
type Speaker struct {
	srv *gobgp.BgpServer
	log *slog.Logger
	// stopWatch ends the peer state watch.
	stopWatch context.CancelFunc

	mu          sync.Mutex
	announced   map[netip.Addr]bool
	established map[string]bool
	stopped     bool
}

var ipv4Unicast = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// Start starts a speaker and configures its peers; the sessions come up in
// the background.
func Start(ctx context.Context, cfg Config) (*Speaker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	asn := cfg.ASN
	if asn == 0 {
		asn = DefaultASN
	}
	retry := cfg.ConnectRetry
	if retry <= 0 {
		retry = DefaultConnectRetry
	}
	srv := gobgp.NewBgpServer(gobgp.LoggerOption(&logger{log: log}))
	go srv.Serve()
	s := &Speaker{srv: srv, log: log, announced: map[netip.Addr]bool{}, established: map[string]bool{}}
	listen := cfg.ListenPort
	if listen == 0 {
		listen = DefaultPort
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: cfg.RouterID.String(), ListenPort: listen,
	}}); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("bgp: start speaker: %w", err)
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	s.stopWatch = stopWatch
	if err := srv.WatchEvent(watchCtx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.peerEvent); err != nil {
		stopWatch()
		srv.Stop()
		return nil, fmt.Errorf("bgp: watch peers: %w", err)
	}
	for _, p := range cfg.Peers {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p, retry)}); err != nil {
			stopWatch()
			srv.Stop()
			return nil, fmt.Errorf("bgp: peer %s: %w", p, err)
		}
	}
	if cfg.Registerer != nil {
		if err := s.register(cfg.Registerer); err != nil {
			stopWatch()
			srv.Stop()
			return nil, err
		}
	}
	log.Info("bgp speaker started", "asn", asn, "router_id", cfg.RouterID, "peers", len(cfg.Peers), "listen_port", cfg.ListenPort)
	return s, nil
}

func (cfg Config) validate() error {
	if !cfg.RouterID.Is4() {
		return fmt.Errorf("bgp: router id %q: want an IPv4 address", cfg.RouterID)
	}
	if cfg.ListenPort > 65535 {
		return fmt.Errorf("bgp: listen port %d: want at most 65535, or -1 to listen nowhere", cfg.ListenPort)
	}
	if len(cfg.Peers) == 0 && cfg.ListenPort < 0 {
		return fmt.Errorf("bgp: no peers and no listen port: give at least one peer")
	}
	seen := map[netip.Addr]bool{}
	for _, p := range cfg.Peers {
		if seen[p.Address] {
			return fmt.Errorf("bgp: peer %s given twice", p.Address)
		}
		seen[p.Address] = true
		if p.HoldTime != 0 {
			if err := checkHoldTime(p.HoldTime); err != nil {
				return fmt.Errorf("bgp: peer %s: %w", p, err)
			}
		}
	}
	return nil
}

// apiPeer is GoBGP's configuration of p.
func apiPeer(p Peer, retry time.Duration) *api.Peer {
	hold := p.HoldTime
	if hold == 0 {
		hold = DefaultHoldTime
	}
	port := p.Port
	if port == 0 {
		port = DefaultPort
	}
	retrySecs := max(uint64(retry/time.Second), 1)
	out := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AuthPassword: p.Password},
		Transport: &api.Transport{
			RemotePort: uint32(port),
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:           retrySecs,
			HoldTime:               uint64(hold / time.Second),
			KeepaliveInterval:      max(uint64(hold/time.Second)/3, 1),
			IdleHoldTimeAfterReset: retrySecs,
		}},
		AfiSafis: []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true}}},
	}
	if p.LocalAddress.IsValid() {
		out.Transport.LocalAddress = p.LocalAddress.String()
	}
	return out
}

// Announce makes the announced routes exactly one /32 per IPv4 address of
// addrs.
func (s *Speaker) Announce(ctx context.Context, addrs []netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	var want []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if !a.Is4() {
			s.log.Debug("not announcing a non-IPv4 address", "address", a)
			continue
		}
		want = append(want, a)
	}
	add, withdraw := Plan(want, s.announced)
	var errs []error
	for _, a := range add {
		if _, err := s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: hostRoute(a)}); err != nil {
			errs = append(errs, fmt.Errorf("announce %s: %w", a, err))
			continue
		}
		s.announced[a] = true
		s.log.Info("address announced", "address", a)
	}
	for _, a := range withdraw {
		if err := s.withdraw(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("bgp: %w", errors.Join(errs...))
	}
	return nil
}

func (s *Speaker) withdraw(ctx context.Context, a netip.Addr) error {
	if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast, Path: hostRoute(a)}); err != nil {
		return fmt.Errorf("withdraw %s: %w", a, err)
	}
	delete(s.announced, a)
	s.log.Info("address withdrawn", "address", a)
	return nil
}

// Announced returns the announced addresses, sorted.
func (s *Speaker) Announced() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.Addr, 0, len(s.announced))
	for a := range s.announced {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Established returns the number of peers whose session is established.
func (s *Speaker) Established() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.established)
}

// Stop withdraws every route, closes the sessions with a Cease
// notification and stops the speaker. It is safe to call more than once.
func (s *Speaker) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	var errs []error
	for _, a := range sortedKeys(s.announced) {
		if err := s.withdraw(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	s.stopped = true
	// StopBgp sends every peer a Cease and waits for the sessions to end.
	s.srv.Stop()
	s.stopWatch()
	s.established = map[string]bool{}
	s.log.Info("bgp speaker stopped")
	if len(errs) > 0 {
		return fmt.Errorf("bgp: %w", errors.Join(errs...))
	}
	return nil
}

// peerEvent tracks which sessions are established.
func (s *Speaker) peerEvent(r *api.WatchEventResponse) {
	ev := r.GetPeer()
	if ev == nil || ev.GetType() != api.WatchEventResponse_PeerEvent_STATE || ev.GetPeer() == nil {
		return
	}
	addr := ev.GetPeer().GetState().GetNeighborAddress()
	if addr == "" {
		addr = ev.GetPeer().GetConf().GetNeighborAddress()
	}
	up := ev.GetPeer().GetState().GetSessionState() == api.PeerState_ESTABLISHED
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	was := s.established[addr]
	if up {
		s.established[addr] = true
	} else {
		delete(s.established, addr)
	}
	s.mu.Unlock()
	if up != was {
		s.log.Info("bgp session", "peer", addr, "established", up)
	}
}

// hostRoute is the /32 route to a, with an unspecified next hop, which the
// speaker replaces with its own address on each session.
func hostRoute(a netip.Addr) *api.Path {
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: a.String(), PrefixLen: 32})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0}) // IGP
	nextHop, _ := anypb.New(&api.NextHopAttribute{NextHop: "0.0.0.0"})
	return &api.Path{Family: ipv4Unicast, Nlri: nlri, Pattrs: []*anypb.Any{origin, nextHop}}
}

// Plan decides which of want to announce (those not announced yet) and
// which announced addresses to withdraw (those no longer wanted). Both are
// sorted.
func Plan(want []netip.Addr, announced map[netip.Addr]bool) (add, withdraw []netip.Addr) {
	wanted := make(map[netip.Addr]bool, len(want))
	for _, a := range want {
		if !wanted[a] && !announced[a] {
			add = append(add, a)
		}
		wanted[a] = true
	}
	for a := range announced {
		if !wanted[a] {
			withdraw = append(withdraw, a)
		}
	}
	slices.SortFunc(add, netip.Addr.Compare)
	slices.SortFunc(withdraw, netip.Addr.Compare)
	return add, withdraw
}

func sortedKeys(m map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func (s *Speaker) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kelb_bgp_peers_established",
			Help: "BGP peers whose session is established.",
		}, func() float64 { return float64(s.Established()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kelb_bgp_announced_prefixes",
			Help: "Load balancer addresses announced over BGP (one /32 each).",
		}, func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			return float64(len(s.announced))
		}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("bgp: register metrics: %w", err)
		}
	}
	return nil
}
