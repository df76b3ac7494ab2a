// Package l2 announces load balancer addresses on a shared layer 2
// network: for each address one node of the fleet is the owner, elected
// through etcd, and only the owner puts the address on its interface (as a
// /32, labelled <iface>:kelb) and answers ARP for it. A node that takes an
// address over sends gratuitous ARP, so that neighbours move their entry
// for the address to its MAC at once.
//
// A node campaigns under its lease in the fleet (Config.Session: the
// node's registration as a concurrency session, of --node-lease-ttl) and
// runs one concurrency.Election per address it wants, under
// <prefix>l2/<address>, with its node name as the value. The first
// campaigner is the owner; the others wait, and the next one takes over
// when the owner's key goes: when it resigns, or when its lease expires
// because the node died or lost etcd.
//
// Failure behaviour. An owner gives an address up when it is no longer
// wanted (the load balancer is gone, or the node's data plane failed to
// apply), and on a clean stop (Run's context ends: it resigns every
// election and removes the addresses). Losing etcd
// changes nothing at once (fail static): the owner keeps its addresses
// while its session is gone, and gives one up only once etcd answers again
// and shows another node owning it; otherwise it campaigns again with a new
// session and keeps the address. Addresses labelled for kelb that a killed
// process left on the interface are adopted the same way. Only IPv4
// addresses are announced (gratuitous ARP); IPv6 addresses are skipped.
package l2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/kelb-io/kelb/internal/ifaddr"
)

// Config configures an Announcer.
type Config struct {
	// Session returns the node's etcd session (its lease in the fleet),
	// waiting until there is one; the announcer never closes it. After a
	// session's Done, it is called again for the next one.
	Session func(ctx context.Context) (*concurrency.Session, error)
	// Prefix is the store's key prefix; elections run under <Prefix>l2/.
	Prefix string
	// Name is the node's name, the value of the elections it wins.
	Name string
	// Interface is where owned addresses go.
	Interface string
	Logger    *slog.Logger
	// Registerer receives the announcer's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Reasons a campaign ends.
var (
	errUnwanted    = errors.New("address no longer wanted")
	errStopping    = errors.New("announcer stopping")
	errSessionLost = errors.New("etcd session lost")
)

// etcdOpTimeout bounds a resignation, so a stop never waits for an etcd
// that is away.
const etcdOpTimeout = 2 * time.Second

// Announcer owns load balancer addresses for the node through etcd
// elections.
type Announcer struct {
	cfg  Config
	link netlink.Link
	log  *slog.Logger

	changed chan struct{} // wakes Run when the wanted set changes

	mu     sync.Mutex
	wanted map[netip.Addr]bool
	known  bool // Set was called at least once
	// held are the addresses on the interface that this node put there.
	held map[netip.Addr]bool
}

// New looks up the interface and adopts the addresses kelb left on it.
func New(cfg Config) (*Announcer, error) {
	switch {
	case cfg.Session == nil:
		return nil, fmt.Errorf("l2: needs the etcd store (--store etcd)")
	case cfg.Name == "":
		return nil, fmt.Errorf("l2: no node name")
	}
	link, err := netlink.LinkByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("--l2-interface %s: %w", cfg.Interface, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	a := &Announcer{cfg: cfg, link: link, log: log, changed: make(chan struct{}, 1),
		wanted: map[netip.Addr]bool{}, held: map[netip.Addr]bool{}}
	present, err := ifaddr.List(link)
	if err != nil {
		return nil, err
	}
	if label := ifaddr.Label(cfg.Interface); label != "" {
		for addr, l := range present {
			if l == label && addr.Is4() {
				a.held[addr] = true
			}
		}
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kelb_l2_owned_addresses",
			Help: "Load balancer addresses this node holds on its L2 interface.",
		}, func() float64 { return float64(len(a.Owned())) })); err != nil {
			return nil, fmt.Errorf("l2: register metrics: %w", err)
		}
	}
	return a, nil
}

// Set makes addrs the addresses the node campaigns for.
func (a *Announcer) Set(addrs []netip.Addr) {
	want := map[netip.Addr]bool{}
	for _, addr := range addrs {
		if addr = addr.Unmap(); addr.Is4() {
			want[addr] = true
		}
	}
	a.mu.Lock()
	a.wanted, a.known = want, true
	a.mu.Unlock()
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// Owned returns the addresses the node holds on its interface, sorted.
func (a *Announcer) Owned() []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]netip.Addr, 0, len(a.held))
	for addr := range a.held {
		out = append(out, addr)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func (a *Announcer) key(addr netip.Addr) string { return a.cfg.Prefix + "l2/" + addr.String() }

// Run campaigns for the wanted addresses until ctx is done, then resigns
// and gives every address up.
func (a *Announcer) Run(ctx context.Context) error {
	defer a.releaseAll()
	for ctx.Err() == nil {
		sess, err := a.newSession(ctx)
		if err == nil {
			select {
			case <-sess.Done():
				// A session that just ended, handed out before the next.
				err = errSessionLost
			default:
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("l2: no etcd session, keeping the addresses held", "held", len(a.Owned()), "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		a.serve(ctx, sess)
	}
	return nil
}

// newSession waits for the node's session, giving up addresses that stop
// being wanted meanwhile.
func (a *Announcer) newSession(ctx context.Context) (*concurrency.Session, error) {
	type result struct {
		s   *concurrency.Session
		err error
	}
	res := make(chan result, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		s, err := a.cfg.Session(sctx)
		res <- result{s, err}
	}()
	for {
		select {
		case r := <-res:
			return r.s, r.err
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-a.changed:
			for _, addr := range a.unwantedHeld() {
				a.release(addr, "no longer wanted")
			}
		}
	}
}

// campaign is one address's election under one session.
type campaign struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// serve runs the elections of one session until it is lost or ctx is
// done.
func (a *Announcer) serve(ctx context.Context, sess *concurrency.Session) {
	campaigns := map[netip.Addr]*campaign{}
	end := func(addr netip.Addr, c *campaign, why error) {
		c.cancel(why)
		<-c.done
		delete(campaigns, addr)
	}
	defer func() {
		why := errSessionLost
		if ctx.Err() != nil {
			why = errStopping
		}
		for addr, c := range campaigns {
			end(addr, c, why)
		}
	}()
	a.log.Info("l2: etcd session", "lease", fmt.Sprintf("%x", sess.Lease()))
	for {
		a.mu.Lock()
		known := a.known
		wanted := make([]netip.Addr, 0, len(a.wanted))
		for addr := range a.wanted {
			wanted = append(wanted, addr)
		}
		a.mu.Unlock()
		if known {
			for addr, c := range campaigns {
				if !slices.Contains(wanted, addr) {
					end(addr, c, errUnwanted)
				}
			}
			for _, addr := range a.unwantedHeld() {
				a.release(addr, "no longer wanted")
			}
			for _, addr := range wanted {
				if _, ok := campaigns[addr]; !ok {
					cctx, cancel := context.WithCancelCause(ctx)
					c := &campaign{cancel: cancel, done: make(chan struct{})}
					campaigns[addr] = c
					go func() {
						defer close(c.done)
						a.own(cctx, sess, addr)
					}()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-sess.Done():
			a.log.Warn("l2: etcd session lost, keeping the addresses held until etcd shows another owner", "held", len(a.Owned()))
			return
		case <-a.changed:
		}
	}
}

// unwantedHeld returns the held addresses that are not wanted, once the
// wanted set is known.
func (a *Announcer) unwantedHeld() []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.known {
		return nil
	}
	var out []netip.Addr
	for addr := range a.held {
		if !a.wanted[addr] {
			out = append(out, addr)
		}
	}
	return out
}

func (a *Announcer) isHeld(addr netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held[addr]
}

// own campaigns for addr until ctx ends, holding the address while it is
// the owner.
func (a *Announcer) own(ctx context.Context, sess *concurrency.Session, addr netip.Addr) {
	e := concurrency.NewElection(sess, a.key(addr))
	won := make(chan bool, 1)
	go func() {
		for {
			err := e.Campaign(ctx, a.cfg.Name)
			if err == nil {
				if ctx.Err() != nil {
					rctx, cancel := context.WithTimeout(context.Background(), etcdOpTimeout)
					_ = e.Resign(rctx)
					cancel()
					won <- false
					return
				}
				won <- true
				return
			}
			if ctx.Err() != nil {
				won <- false
				return
			}
			a.log.Warn("l2: campaign", "address", addr, "err", err)
			select {
			case <-ctx.Done():
				won <- false
				return
			case <-time.After(time.Second):
			}
		}
	}()
	if a.isHeld(addr) {
		// Held from a lost session or a process before: kept unless
		// another node owns it now.
		go a.yieldToOther(ctx, e, sess, addr)
	}
	leader := false
	select {
	case leader = <-won:
	case <-ctx.Done():
	}
	if leader {
		a.take(addr)
	}
	<-ctx.Done()
	why := context.Cause(ctx)
	switch why {
	case errSessionLost:
		return // fail static: kept until etcd shows another owner
	case context.Canceled:
		why = errStopping
	}
	if leader {
		rctx, cancel := context.WithTimeout(context.Background(), etcdOpTimeout)
		if err := e.Resign(rctx); err != nil {
			a.log.Warn("l2: resign", "address", addr, "err", err)
		}
		cancel()
	}
	a.release(addr, why.Error())
}

// yieldToOther gives addr up as soon as the election shows another
// session as its owner.
func (a *Announcer) yieldToOther(ctx context.Context, e *concurrency.Election, sess *concurrency.Session, addr netip.Addr) {
	for resp := range e.Observe(ctx) {
		if len(resp.Kvs) == 0 {
			continue
		}
		if clientv3.LeaseID(resp.Kvs[0].Lease) == sess.Lease() {
			return
		}
		a.release(addr, "owned by "+string(resp.Kvs[0].Value))
		return
	}
}

// take puts addr on the interface and tells the neighbours.
func (a *Announcer) take(addr netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := ifaddr.Add(a.link, addr); err != nil {
		a.log.Error("l2: take address", "address", addr, "err", err)
		return
	}
	a.held[addr] = true
	if err := gratuitousARP(a.cfg.Interface, addr); err != nil {
		a.log.Warn("l2: gratuitous ARP", "address", addr, "interface", a.cfg.Interface, "err", err)
	}
	a.log.Info("l2: address owned", "address", addr, "interface", a.cfg.Interface)
}

// release takes addr off the interface.
func (a *Announcer) release(addr netip.Addr, why string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.held[addr] {
		return
	}
	if err := ifaddr.Remove(a.link, addr); err != nil {
		a.log.Error("l2: give address up", "address", addr, "err", err)
		return
	}
	delete(a.held, addr)
	a.log.Info("l2: address given up", "address", addr, "interface", a.cfg.Interface, "reason", why)
}

func (a *Announcer) releaseAll() {
	for _, addr := range a.Owned() {
		a.release(addr, errStopping.Error())
	}
}

// gratuitousARP announces that addr is at the interface's MAC: an ARP
// request and an ARP reply for addr from addr, to the broadcast address.
func gratuitousARP(iface string, addr netip.Addr) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		p, err := arp.NewPacket(op, ifi.HardwareAddr, addr, ethernet.Broadcast, addr)
		if err != nil {
			return err
		}
		if err := c.WriteTo(p, ethernet.Broadcast); err != nil {
			return err
		}
	}
	return nil
}
