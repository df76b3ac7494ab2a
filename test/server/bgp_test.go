package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/announce/bgp/birdtest"
	"github.com/kelb-io/kelb/internal/elb/store/etcdtest"
)

// bgpFleet is a router namespace (BIRD and etcd on 198.18.0.1, a bridge)
// and one namespace per kelb node, linked to the bridge by its eth0 as
// 198.18.0.1N.
type bgpFleet struct {
	rtr    string
	nodes  []string
	router *birdtest.Router
	etcd   string // client URL, reachable from the node namespaces
	// stopEtcd kills etcd.
	stopEtcd func()
}

const (
	fleetRouter = "198.18.0.1"
	fleetASN    = 64513
)

func fleetNodeAddr(i int) string { return fmt.Sprintf("198.18.0.%d", 11+i) }

// newBGPFleet makes the namespaces and starts etcd and BIRD.
func newBGPFleet(t *testing.T, nodes int) *bgpFleet {
	t.Helper()
	return newFleetNets(t, nodes, true)
}

// newFleetNets makes the namespaces, starts etcd and, with bird, BIRD.
func newFleetNets(t *testing.T, nodes int, bird bool) *bgpFleet {
	t.Helper()
	if _, err := exec.LookPath("bird"); err != nil && bird {
		t.Skip("bird (Debian package bird2) is not installed: BGP tests need a real router")
	}
	etcdBin, err := etcdtest.Binary()
	if err != nil {
		t.Skipf("no etcd binary: %v", err)
	}
	f := &bgpFleet{rtr: newNetns(t, "dummy0")}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("-n", f.rtr, "link", "add", "br0", "type", "bridge")
	ip("-n", f.rtr, "link", "set", "br0", "up")
	ip("-n", f.rtr, "addr", "add", fleetRouter+"/24", "dev", "br0")
	var neighbors []birdtest.Neighbor
	for i := range nodes {
		f.nodes = append(f.nodes, f.attach(t, fmt.Sprintf("n%d", i), fleetNodeAddr(i)))
		neighbors = append(neighbors, birdtest.Neighbor{Address: netip.MustParseAddr(fleetNodeAddr(i)), ASN: 64512})
	}
	if bird {
		f.router = birdtest.Start(t, birdtest.Config{Namespace: f.rtr, RouterID: netip.MustParseAddr(fleetRouter), ASN: fleetASN, Neighbors: neighbors})
	}

	// etcd in the router namespace, where every node reaches it.
	dir := t.TempDir()
	f.etcd = "http://" + fleetRouter + ":2379"
	peer := "http://127.0.0.1:2380"
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	etcd := exec.Command("ip", "netns", "exec", f.rtr, etcdBin, "--name=fleet", "--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+f.etcd, "--advertise-client-urls="+f.etcd,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=fleet="+peer)
	etcd.Stdout, etcd.Stderr = log, log
	if err := etcd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	var stopped bool
	f.stopEtcd = func() {
		if !stopped {
			stopped = true
			_ = etcd.Process.Kill()
			_ = etcd.Wait()
		}
	}
	t.Cleanup(func() {
		f.stopEtcd()
		log.Close()
	})
	hc := &http.Client{Transport: &http.Transport{DialContext: nsDialer(f.rtr)}, Timeout: time.Second}
	eventually(t, 30*time.Second, "etcd healthy", func() error {
		resp, err := hc.Get(f.etcd + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/health: %s", resp.Status)
		}
		return nil
	})
	return f
}

// attach makes a namespace whose eth0, addressed addr/24, is linked to the
// router's bridge by its port port, and returns its name.
func (f *bgpFleet) attach(t *testing.T, port, addr string) string {
	t.Helper()
	ns := newNetns(t, "dummy0")
	for _, args := range [][]string{
		{"-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", f.rtr},
		{"-n", ns, "addr", "add", addr + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", f.rtr, "link", "set", port, "master", "br0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return ns
}

// startNode runs kelb server in node i's namespace, announcing over BGP
// the addresses of zones a and b, or of nodeZones only.
func (f *bgpFleet) startNode(t *testing.T, i int, nodeZones ...string) *kelbServer {
	args := []string{
		"--store", "etcd", "--etcd-endpoints", f.etcd, "--etcd-prefix", "/kelb-bgp/",
		"--announce", "bgp", "--bgp-peer", fmt.Sprintf("%s,asn=%d,hold=3s", fleetRouter, fleetASN),
		"--node-name", fmt.Sprintf("lb%d", i+1),
	}
	if len(nodeZones) > 0 {
		args = append(args, "--node-zones", strings.Join(nodeZones, ","))
	}
	return startServer(t, testNet{}, serverOptions{
		netns:     f.nodes[i],
		zoneFlags: []string{"--zone", region + "a=198.19.1.0/24", "--zone", region + "b=198.19.2.0/24"},
		extraArgs: args,
	})
}

// createNLB creates a network load balancer and returns its ARN and its
// address in each zone.
func createNLB(t *testing.T, s *kelbServer, name string) (arn string, addrs map[string]string) {
	t.Helper()
	out, err := s.ELB.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{
		Name: aws.String(name), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer %s: %v", name, err)
	}
	lb := out.LoadBalancers[0]
	addrs = map[string]string{}
	for _, az := range lb.AvailabilityZones {
		for _, a := range az.LoadBalancerAddresses {
			addrs[aws.ToString(az.ZoneName)] = aws.ToString(a.IpAddress)
		}
	}
	if len(addrs) == 0 {
		t.Fatalf("load balancer %s has no address", name)
	}
	return aws.ToString(lb.LoadBalancerArn), addrs
}

func deleteLB(t *testing.T, s *kelbServer, arn string) {
	t.Helper()
	if _, err := s.ELB.DeleteLoadBalancer(context.Background(), &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)}); err != nil {
		t.Fatalf("DeleteLoadBalancer: %v", err)
	}
}

// TestBGPAnnounce runs two kelb server processes with --announce bgp on one
// etcd, peering with a real BIRD: the router's kernel table gets an ECMP
// route over both nodes for a load balancer's address (and a route to the
// one node serving the other zone: --node-zones), a new load
// balancer's address appears, a deleted one's disappears, losing etcd
// changes nothing, a killed node's next hop leaves, and a node stopped
// cleanly withdraws its routes.
func TestBGPAnnounce(t *testing.T) {
	t.Parallel()
	f := newBGPFleet(t, 2)
	// Node 1 serves zone a only, node 2 both zones.
	a, b := f.startNode(t, 0, region+"a"), f.startNode(t, 1)
	hosts := func(addr string) string { return addr + "/32" }
	both := []string{fleetNodeAddr(0), fleetNodeAddr(1)}

	arn1, one := createNLB(t, a, "bgp-one")
	f.router.WaitNextHops(t, hosts(one[region+"a"]), both...)
	f.router.WaitNextHops(t, hosts(one[region+"b"]), fleetNodeAddr(1))
	_, two := createNLB(t, b, "bgp-two")
	addr2 := two[region+"a"]
	f.router.WaitNextHops(t, hosts(addr2), both...)

	deleteLB(t, a, arn1)
	f.router.WaitNextHops(t, hosts(one[region+"a"]))
	f.router.WaitNextHops(t, hosts(one[region+"b"]))
	f.router.WaitNextHops(t, hosts(addr2), both...)

	var m metricLines
	eventually(t, 10*time.Second, "bgp metrics", func() error {
		var err error
		m, err = scrapeWith(b.httpClient(), b.Metrics+"/metrics")
		if err != nil {
			return err
		}
		for _, want := range []string{"kelb_bgp_peers_established 1", "kelb_bgp_announced_prefixes 2"} {
			if !slices.Contains(m, want) {
				return fmt.Errorf("no %q in %q", want, m.matching("kelb_bgp"))
			}
		}
		return nil
	})

	// Fail static: without etcd both nodes keep announcing what they
	// serve, past the sessions' hold time.
	f.stopEtcd()
	time.Sleep(5 * time.Second)
	f.router.WaitNextHops(t, hosts(addr2), both...)

	// A killed node's sessions end with its process: the router keeps
	// only the other next hop.
	killed := time.Now()
	b.stop(syscall.SIGKILL)
	f.router.WaitNextHops(t, hosts(addr2), fleetNodeAddr(0))
	t.Logf("killed node's next hop gone from the router %v after the kill", time.Since(killed).Round(10*time.Millisecond))
	// A node stopped cleanly withdraws what it announced.
	a.stop(syscall.SIGTERM)
	f.router.WaitNextHops(t, hosts(addr2))
	if log := a.allLogs(); !strings.Contains(log, `msg="address withdrawn" component=announce address=`+addr2) || !strings.Contains(log, "bgp speaker stopped") {
		t.Errorf("no withdrawal of %s and clean BGP stop in the log:\n%s", addr2, a.logTail(30))
	}
}
