package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/announce/bgp"
	"github.com/kelb-io/kelb/internal/announce/l2"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/fleet"
)

// Announcement modes (--announce).
const (
	// AnnounceNone leaves the network alone: load balancer addresses reach
	// the node by routes set up elsewhere (or --manage-addresses).
	AnnounceNone = "none"
	// AnnounceBGP announces a /32 per load balancer address of the node's
	// zones to BGP peers while the data plane serves it.
	AnnounceBGP = "bgp"
	// AnnounceL2 has one node per address, elected through etcd, put it
	// on an interface and answer ARP for it.
	AnnounceL2 = "l2"
)

// AnnounceConfig configures how the node announces load balancer addresses
// to the network.
type AnnounceConfig struct {
	// Mode is AnnounceNone (or empty), AnnounceBGP or AnnounceL2.
	Mode string
	// BGP configures the speaker in AnnounceBGP mode. A zero RouterID is
	// the first IPv4 address of the host's interfaces that is not
	// loopback.
	BGP bgp.Config
	// L2Interface is the interface owned addresses go on in AnnounceL2
	// mode.
	L2Interface string
}

// announceStopTimeout bounds the withdrawal of everything announced on a
// clean stop.
const announceStopTimeout = 5 * time.Second

// announcer tells the network which load balancer addresses this node
// serves.
type announcer interface {
	// update is called after every apply of st to the data planes; ok is
	// false when an apply failed, and then nothing is announced.
	update(st elb.State, ok bool)
	// run keeps the announcements until ctx is done, then stops.
	run(ctx context.Context) error
	// stop withdraws everything and ends the announcements.
	stop()
}

// announcedZones are the zones whose load balancer addresses this node
// announces: its --node-zones.
func announcedZones(cfg Config) []elb.Zone {
	return servedZones(cfg)
}

// newAnnouncer starts what cfg.Announce asks for; nil when nothing is
// announced.
func newAnnouncer(ctx context.Context, cfg Config, st store.Store, members *fleet.Fleet, reg prometheus.Registerer, log *slog.Logger) (announcer, error) {
	pools := zonePools(announcedZones(cfg))
	switch cfg.Announce.Mode {
	case "", AnnounceNone:
		return nil, nil
	case AnnounceBGP:
		bc := cfg.Announce.BGP
		if !bc.RouterID.IsValid() {
			addrs, err := bgp.InterfaceAddrs()
			if err != nil {
				return nil, fmt.Errorf("--bgp-router-id: %w", err)
			}
			id, ok := bgp.DefaultRouterID(addrs)
			if !ok {
				return nil, fmt.Errorf("--bgp-router-id is required: the host has no IPv4 address other than loopback")
			}
			bc.RouterID = id
		}
		bc.Logger = log
		bc.Registerer = reg
		sp, err := bgp.Start(ctx, bc)
		if err != nil {
			return nil, err
		}
		return &bgpAnnouncer{speaker: sp, pools: pools, log: log}, nil
	case AnnounceL2:
		e, ok := st.(*store.Etcd)
		if !ok {
			return nil, fmt.Errorf("--announce l2 needs --store etcd: the owner of each address is elected through etcd")
		}
		if cfg.ManageAddresses != "" {
			return nil, fmt.Errorf("--announce l2 puts the addresses this node owns on --l2-interface itself: drop --manage-addresses")
		}
		name := cfg.Node.Name
		if name == "" {
			name = DefaultNodeName()
		}
		// Ownerships live on the node's lease in the fleet.
		a, err := l2.New(l2.Config{Session: members.Session, Prefix: e.Prefix(), Name: name,
			Interface: cfg.Announce.L2Interface, Logger: log, Registerer: reg})
		if err != nil {
			return nil, err
		}
		return &l2Announcer{owner: a, pools: pools}, nil
	default:
		return nil, fmt.Errorf("--announce %q: want none, bgp or l2", cfg.Announce.Mode)
	}
}

// bgpAnnouncer announces the addresses of the node's zones over BGP.
type bgpAnnouncer struct {
	speaker *bgp.Speaker
	pools   []netip.Prefix
	log     *slog.Logger
}

func (b *bgpAnnouncer) update(st elb.State, ok bool) {
	var want []netip.Addr
	if ok {
		want = lbAddresses(st, b.pools)
	}
	ctx, cancel := context.WithTimeout(context.Background(), announceStopTimeout)
	defer cancel()
	if err := b.speaker.Announce(ctx, want); err != nil && !errors.Is(err, bgp.ErrStopped) {
		b.log.Error("announce load balancer addresses", "revision", st.Revision, "err", err)
	}
}

func (b *bgpAnnouncer) run(ctx context.Context) error {
	<-ctx.Done()
	b.stop()
	return nil
}

func (b *bgpAnnouncer) stop() {
	stopCtx, cancel := context.WithTimeout(context.Background(), announceStopTimeout)
	defer cancel()
	if err := b.speaker.Stop(stopCtx); err != nil {
		b.log.Error("withdraw load balancer addresses", "err", err)
	}
}

// l2Announcer campaigns for the addresses of the node's zones and holds
// those it wins on its L2 interface.
type l2Announcer struct {
	owner *l2.Announcer
	pools []netip.Prefix
}

func (a *l2Announcer) update(st elb.State, ok bool) {
	var want []netip.Addr
	if ok {
		want = lbAddresses(st, a.pools)
	}
	a.owner.Set(want)
}

func (a *l2Announcer) run(ctx context.Context) error { return a.owner.Run(ctx) }

// stop has nothing to undo before run: no election was entered.
func (a *l2Announcer) stop() {}
