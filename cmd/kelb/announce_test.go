package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kelb-io/kelb/internal/server"
)

func TestAnnounceFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
		check   func(t *testing.T, cfg server.AnnounceConfig)
	}{
		{args: nil, check: func(t *testing.T, cfg server.AnnounceConfig) {
			if cfg.Mode != server.AnnounceNone {
				t.Errorf("mode %q, want none", cfg.Mode)
			}
		}},
		{args: []string{"--announce", "bgp", "--bgp-peer", "198.18.0.1,asn=64513", "--bgp-peer", "198.18.0.2,asn=64514,port=1179"},
			check: func(t *testing.T, cfg server.AnnounceConfig) {
				if cfg.BGP.ASN != 64512 || cfg.BGP.ListenPort != -1 || cfg.BGP.RouterID.IsValid() || len(cfg.BGP.Peers) != 2 || cfg.BGP.Peers[1].Port != 1179 {
					t.Errorf("bgp config %+v", cfg.BGP)
				}
			}},
		{args: []string{"--announce", "bgp", "--bgp-asn", "65001", "--bgp-router-id", "198.18.0.11", "--bgp-listen-port", "1179"},
			check: func(t *testing.T, cfg server.AnnounceConfig) {
				if cfg.BGP.ASN != 65001 || cfg.BGP.RouterID.String() != "198.18.0.11" || cfg.BGP.ListenPort != 1179 || len(cfg.BGP.Peers) != 0 {
					t.Errorf("bgp config %+v", cfg.BGP)
				}
			}},
		{args: []string{"--announce", "ospf"}, wantErr: `--announce "ospf": want none, bgp or l2`},
		{args: []string{"--bgp-peer", "198.18.0.1,asn=1"}, wantErr: "--bgp-peer needs --announce bgp"},
		{args: []string{"--l2-interface", "eth0"}, wantErr: "--l2-interface needs --announce l2"},
		{args: []string{"--announce", "l2"}, wantErr: "--announce l2 needs --l2-interface"},
		{args: []string{"--announce", "l2", "--l2-interface", "eth0", "--bgp-asn", "65000"}, wantErr: "--bgp-asn needs --announce bgp, not l2"},
		{args: []string{"--announce", "bgp", "--bgp-peer", "198.18.0.1,asn=1", "--l2-interface", "eth0"}, wantErr: "--l2-interface needs --announce l2, not bgp"},
		{args: []string{"--announce", "l2", "--l2-interface", "eth0"}, check: func(t *testing.T, cfg server.AnnounceConfig) {
			if cfg.Mode != server.AnnounceL2 || cfg.L2Interface != "eth0" {
				t.Errorf("l2 config %+v", cfg)
			}
		}},
		{args: []string{"--announce", "bgp"}, wantErr: "--announce bgp needs at least one --bgp-peer"},
		{args: []string{"--announce", "bgp", "--bgp-peer", "198.18.0.1"}, wantErr: "--bgp-peer: peer \"198.18.0.1\": asn=N is required"},
		{args: []string{"--announce", "bgp", "--bgp-peer", "198.18.0.1,asn=1", "--bgp-asn", "0"}, wantErr: "--bgp-asn must be from 1 to 4294967295"},
		{args: []string{"--announce", "bgp", "--bgp-peer", "198.18.0.1,asn=1", "--bgp-router-id", "2001:db8::1"}, wantErr: `--bgp-router-id "2001:db8::1": want an IPv4 address`},
		{args: []string{"--announce", "bgp", "--bgp-peer", "198.18.0.1,asn=1", "--bgp-listen-port", "0"}, wantErr: "--bgp-listen-port 0: want a port from 1 to 65535, or -1"},
	} {
		cmd := &cobra.Command{Use: "server"}
		flags := addAnnounceFlags(cmd)
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		cfg, err := flags.config(cmd)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		tc.check(t, cfg)
	}
}
