// Package birdtest runs a real BIRD 2 routing daemon in a network namespace
// for tests of kelb's BGP announcements: BIRD peers with the given
// neighbours (eBGP, importing everything, exporting nothing) and installs
// what it learns into the namespace's kernel table, merging equal routes of
// several neighbours into one ECMP route.
//
// Start skips the test when bird is not installed (Debian package bird2).
// BIRD runs in the foreground as a child of the test and is killed by its
// PID when the test ends.
package birdtest

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Neighbor is a BGP neighbour of the router.
type Neighbor struct {
	Address netip.Addr
	ASN     uint32
}

// Config describes the router.
type Config struct {
	// Namespace is the network namespace BIRD runs in (it must exist).
	Namespace string
	// RouterID is BIRD's router id and the local address of its sessions.
	RouterID netip.Addr
	// ASN is the router's autonomous system number.
	ASN       uint32
	Neighbors []Neighbor
}

// Router is a running BIRD.
type Router struct {
	cfg    Config
	socket string
}

// Conf renders BIRD's configuration for cfg.
func Conf(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, `router id %s;
log stderr all;
protocol device { scan time 1; }
protocol kernel {
	merge paths on;
	ipv4 { export all; };
}
`, cfg.RouterID)
	for i, n := range cfg.Neighbors {
		fmt.Fprintf(&b, `protocol bgp kelb%d {
	local %s as %d;
	neighbor %s as %d;
	hold time 9;
	connect retry time 1;
	ipv4 { import all; export none; };
}
`, i+1, cfg.RouterID, cfg.ASN, n.Address, n.ASN)
	}
	return b.String()
}

// Start runs BIRD with cfg in cfg.Namespace until t ends.
func Start(t testing.TB, cfg Config) *Router {
	t.Helper()
	bird, err := exec.LookPath("bird")
	if err != nil {
		t.Skip("bird (Debian package bird2) is not installed: BGP tests need a real router")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(Conf(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Router{cfg: cfg, socket: filepath.Join(dir, "bird.ctl")}
	log, err := os.Create(filepath.Join(dir, "bird.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", cfg.Namespace, bird, "-c", conf, "-s", r.socket, "-f")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bird: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("bird log:\n%s", out)
		}
	})
	return r
}

// Birdc runs a birdc command against the router.
func (r *Router) Birdc(args ...string) (string, error) {
	out, err := exec.Command("birdc", append([]string{"-s", r.socket}, args...)...).CombinedOutput()
	return string(out), err
}

// NextHops returns the next hops of the kernel route to prefix (an address
// is taken as its host route) in the router's namespace, sorted; none when
// there is no such route.
func (r *Router) NextHops(prefix string) ([]string, error) {
	out, err := exec.Command("ip", "-n", r.cfg.Namespace, "-4", "route", "show", "exact", prefix).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ip route show %s: %v: %s", prefix, err, out)
	}
	return ParseNextHops(string(out)), nil
}

// WaitNextHops waits until the router's kernel route to prefix has exactly
// the next hops want (none: no route), and fails the test when it does not
// within a minute.
func (r *Router) WaitNextHops(t testing.TB, prefix string, want ...string) {
	t.Helper()
	slices.Sort(want)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var got []string
	for {
		var err error
		got, err = r.NextHops(prefix)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, want) {
			return
		}
		select {
		case <-ctx.Done():
			proto, _ := r.Birdc("show", "protocols", "all")
			routes, _ := r.Birdc("show", "route", "all")
			t.Fatalf("route %s in namespace %s: next hops %v, want %v\nbirdc show protocols all:\n%s\nbirdc show route all:\n%s",
				prefix, r.cfg.Namespace, got, want, proto, routes)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var viaRE = regexp.MustCompile(`\bvia (?:inet6? )?(\S+)`)

// ParseNextHops extracts the next hops of `ip route show` output, sorted.
func ParseNextHops(out string) []string {
	var hops []string
	for _, m := range viaRE.FindAllStringSubmatch(out, -1) {
		hops = append(hops, m[1])
	}
	slices.Sort(hops)
	return hops
}
