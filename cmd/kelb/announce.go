package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/kelb-io/kelb/internal/announce/bgp"
	"github.com/kelb-io/kelb/internal/server"
)

// announceFlags are kelb server's --announce, --bgp-* and --l2-* flags.
type announceFlags struct {
	mode        string
	asn         uint32
	routerID    string
	peers       []string
	listenPort  int32
	l2Interface string
}

func addAnnounceFlags(cmd *cobra.Command) *announceFlags {
	a := &announceFlags{}
	f := cmd.Flags()
	f.StringVar(&a.mode, "announce", server.AnnounceNone, "how load balancer addresses of this node's zones are announced to the network: none, bgp (a /32 route per address to the --bgp-peer routers, next hop this node, while its data plane serves it) or l2 (one owner node per address, elected through etcd, puts it on --l2-interface and sends gratuitous ARP; needs --store etcd)")
	f.Uint32Var(&a.asn, "bgp-asn", bgp.DefaultASN, "local autonomous system number of the BGP speaker (--announce bgp)")
	f.StringVar(&a.routerID, "bgp-router-id", "", "BGP router id, an IPv4 address (default: the first IPv4 address of the host's interfaces that is not loopback)")
	f.StringArrayVar(&a.peers, "bgp-peer", nil, "BGP peer ADDR,asn=N[,port=P][,hold=D][,password=S] that kelb connects to (repeatable; port 179, hold 9s by default; password enables TCP MD5)")
	f.Int32Var(&a.listenPort, "bgp-listen-port", -1, "port the BGP speaker accepts sessions on; -1 listens nowhere (kelb connects out to its peers)")
	f.StringVar(&a.l2Interface, "l2-interface", "", "interface the addresses this node owns go on (as /32), and where it sends gratuitous ARP when it takes one over (--announce l2)")
	return a
}

// config checks the flags and builds the server's announce configuration.
func (a *announceFlags) config(cmd *cobra.Command) (server.AnnounceConfig, error) {
	cfg := server.AnnounceConfig{Mode: a.mode}
	changed := func(names ...string) string {
		for _, n := range names {
			if cmd.Flags().Changed(n) {
				return n
			}
		}
		return ""
	}
	switch a.mode {
	case server.AnnounceNone:
		if n := changed("bgp-asn", "bgp-router-id", "bgp-peer", "bgp-listen-port"); n != "" {
			return cfg, fmt.Errorf("--%s needs --announce bgp", n)
		}
		if changed("l2-interface") != "" {
			return cfg, fmt.Errorf("--l2-interface needs --announce l2")
		}
		return cfg, nil
	case server.AnnounceBGP:
		if changed("l2-interface") != "" {
			return cfg, fmt.Errorf("--l2-interface needs --announce l2, not bgp")
		}
		if a.asn == 0 {
			return cfg, fmt.Errorf("--bgp-asn must be from 1 to 4294967295")
		}
		cfg.BGP.ASN = a.asn
		if a.routerID != "" {
			id, err := netip.ParseAddr(a.routerID)
			if err != nil || !id.Is4() {
				return cfg, fmt.Errorf("--bgp-router-id %q: want an IPv4 address", a.routerID)
			}
			cfg.BGP.RouterID = id
		}
		for _, s := range a.peers {
			p, err := bgp.ParsePeer(s)
			if err != nil {
				return cfg, fmt.Errorf("--bgp-peer: %w", err)
			}
			cfg.BGP.Peers = append(cfg.BGP.Peers, p)
		}
		if a.listenPort < -1 || a.listenPort == 0 || a.listenPort > 65535 {
			return cfg, fmt.Errorf("--bgp-listen-port %d: want a port from 1 to 65535, or -1 to listen nowhere", a.listenPort)
		}
		cfg.BGP.ListenPort = a.listenPort
		if len(cfg.BGP.Peers) == 0 && a.listenPort < 0 {
			return cfg, fmt.Errorf("--announce bgp needs at least one --bgp-peer (or a --bgp-listen-port for peers to connect to)")
		}
		return cfg, nil
	case server.AnnounceL2:
		if n := changed("bgp-asn", "bgp-router-id", "bgp-peer", "bgp-listen-port"); n != "" {
			return cfg, fmt.Errorf("--%s needs --announce bgp, not l2", n)
		}
		if a.l2Interface == "" {
			return cfg, fmt.Errorf("--announce l2 needs --l2-interface")
		}
		cfg.L2Interface = a.l2Interface
		return cfg, nil
	default:
		return cfg, fmt.Errorf("--announce %q: want none, bgp or l2", a.mode)
	}
}
