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
	"github.com/kelb-io/kelb/internal/elb"
)

// Announcement modes (--announce).
const (
	// AnnounceNone leaves the network alone: load balancer addresses reach
	// the node by routes set up elsewhere (or --manage-addresses).
	AnnounceNone = "none"
	// AnnounceBGP announces a /32 per load balancer address of the node's
	// zones to BGP peers while the data plane serves it.
	AnnounceBGP = "bgp"
)

// AnnounceConfig configures how the node announces load balancer addresses
// to the network.
type AnnounceConfig struct {
	// Mode is AnnounceNone (or empty) or AnnounceBGP.
	Mode string
	// BGP configures the speaker in AnnounceBGP mode. A zero RouterID is
	// the first IPv4 address of the host's interfaces that is not
	// loopback.
	BGP bgp.Config
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
func newAnnouncer(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger) (announcer, error) {
	var pools []netip.Prefix
	for _, z := range announcedZones(cfg) {
		pools = append(pools, z.Pool)
	}
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
	default:
		return nil, fmt.Errorf("--announce %q: want none or bgp", cfg.Announce.Mode)
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
