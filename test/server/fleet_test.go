package server_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
	"github.com/kelb-io/kelb/internal/elb/store/etcdtest"
)

// fleetNode starts a kelb server on srv's etcd as node name serving zones
// (the test net's zone letters, "a" and "b").
func fleetNode(t *testing.T, tn testNet, srv *etcdtest.Server, name string, zones ...string) *kelbServer {
	t.Helper()
	var full []string
	for _, z := range zones {
		full = append(full, region+z)
	}
	return startServer(t, tn, etcdStore(srv, "--node-name", name, "--node-zones", strings.Join(full, ",")))
}

// fleetRow is a line of kelb server nodes.
type fleetRow struct{ name, zones, api, state, lease string }

// serverNodes runs kelb server nodes on srv's etcd and parses its table.
func serverNodes(srv *etcdtest.Server) ([]fleetRow, error) {
	out, err := exec.Command(kelbBin, "server", "nodes", "--store", "etcd", "--etcd-endpoints", srv.Endpoint, "--etcd-prefix", "/kelb-e2e/").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kelb server nodes: %v\n%s", err, out)
	}
	lines := scanLines(out)
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "NAME ") {
		return nil, fmt.Errorf("kelb server nodes printed no table:\n%s", out)
	}
	var rows []fleetRow
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 6 {
			continue // "no node is registered"
		}
		rows = append(rows, fleetRow{name: f[0], zones: f[1], api: f[2], state: f[3], lease: strings.Join(f[5:], " ")})
	}
	return rows, nil
}

func rowNames(rows []fleetRow) []string {
	var names []string
	for _, r := range rows {
		names = append(names, r.name)
	}
	return names
}

// TestFleetNodes runs three kelb servers on one etcd as three nodes:
// kelb server nodes lists each with its zones, API address, state and live
// lease; a node killed with SIGKILL drops out once its lease runs out, one
// stopped cleanly at once.
func TestFleetNodes(t *testing.T) {
	t.Parallel()
	tn := newNet()
	srv := etcdtest.Start(t, etcdtest.Options{})
	nodes := map[string]*kelbServer{
		"fleet-a":  fleetNode(t, tn, srv, "fleet-a", "a"),
		"fleet-b":  fleetNode(t, tn, srv, "fleet-b", "b"),
		"fleet-ab": fleetNode(t, tn, srv, "fleet-ab", "a", "b"),
	}
	wantZones := map[string]string{"fleet-a": region + "a", "fleet-b": region + "b", "fleet-ab": region + "a," + region + "b"}
	var rows []fleetRow
	eventually(t, 15*time.Second, "kelb server nodes lists the three nodes", func() error {
		var err error
		if rows, err = serverNodes(srv); err != nil {
			return err
		}
		if got := rowNames(rows); !slices.Equal(got, []string{"fleet-a", "fleet-ab", "fleet-b"}) {
			return errNotYetf("nodes %v", got)
		}
		return nil
	})
	for _, r := range rows {
		s := nodes[r.name]
		if r.zones != wantZones[r.name] || "http://"+r.api != s.APIURL || r.state != "serving" || !strings.HasPrefix(r.lease, "live") {
			t.Errorf("node %s listed as %+v, want zones %s, API %s, serving, lease live", r.name, r, wantZones[r.name], s.APIURL)
		}
	}

	fleetMetrics(t, nodes["fleet-a"], 3)

	// Killed: no clean stop, so its key stays until its lease runs out.
	nodes["fleet-b"].stop(syscall.SIGKILL)
	eventually(t, 20*time.Second, "the killed node drops out of the fleet", func() error {
		rows, err := serverNodes(srv)
		if err != nil {
			return err
		}
		if got := rowNames(rows); !slices.Equal(got, []string{"fleet-a", "fleet-ab"}) {
			return errNotYetf("nodes %v", got)
		}
		return nil
	})
	fleetMetrics(t, nodes["fleet-a"], 2)
	nodes["fleet-ab"].stop(syscall.SIGTERM)
	rows, err := serverNodes(srv)
	if err != nil {
		t.Fatal(err)
	}
	if got := rowNames(rows); !slices.Equal(got, []string{"fleet-a"}) {
		t.Errorf("after a clean stop of fleet-ab, kelb server nodes lists %v, want [fleet-a]", got)
	}
}

// fleetMetrics waits until s's metrics show it registered, seeing serving
// live nodes.
func fleetMetrics(t *testing.T, s *kelbServer, serving int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("metrics show %d serving nodes", serving), func() error {
		m, err := scrape(s.Metrics + "/metrics")
		if err != nil {
			return err
		}
		if got := m.sum("kelb_fleet_nodes", `state="serving"`); got != float64(serving) {
			return errNotYetf("kelb_fleet_nodes{state=\"serving\"} %v", got)
		}
		if got := m.matching("kelb_fleet_registered "); !slices.Equal(got, []string{"kelb_fleet_registered 1"}) {
			return errNotYetf("%v", got)
		}
		return nil
	})
}

// TestFleetNodesBolt: with the bbolt store, kelb server nodes says there is
// one node and what a fleet needs.
func TestFleetNodesBolt(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(kelbBin, "server", "nodes").CombinedOutput()
	if err != nil {
		t.Fatalf("kelb server nodes: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "one node") || !strings.Contains(string(out), "--store etcd") {
		t.Errorf("kelb server nodes with the bbolt store printed %q, want one node and --store etcd", out)
	}
}

// TestFleetNodeZonesRefused: --node-zones must name zones of --zone, and
// given empty (a DaemonSet's pod on a node without a zone label) it is
// refused rather than taken for every zone.
func TestFleetNodeZonesRefused(t *testing.T) {
	t.Parallel()
	tn := newNet()
	for flag, want := range map[string]string{
		"--node-zones=" + region + "z": fmt.Sprintf("--node-zones: zone %q is not a zone of --zone", region+"z"),
		"--node-zones=":                "--node-zones is empty: name the zones (of --zone) this node serves, or leave the flag out for every zone",
	} {
		args := append([]string{"server", flag, "--data-dir", t.TempDir()}, tn.zoneFlags()...)
		out, err := exec.Command(kelbBin, args...).CombinedOutput()
		if err == nil {
			t.Fatalf("kelb server %s started; want an error:\n%s", flag, out)
		}
		if !strings.Contains(string(out), want) {
			t.Errorf("kelb server %s said %q, want %q", flag, out, want)
		}
	}
}

// fleetDescribe returns DescribeTargetHealth's description of target
// (id:port) of tg through s.
func fleetDescribe(ctx context.Context, s *kelbServer, tg, target string) (types.TargetHealth, error) {
	out, err := s.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		return types.TargetHealth{}, err
	}
	for _, d := range out.TargetHealthDescriptions {
		if fmt.Sprintf("%s:%d", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port)) == target {
			return *d.TargetHealth, nil
		}
	}
	return types.TargetHealth{}, errNotYetf("no target %s", target)
}

// waitFleetHealth waits until DescribeTargetHealth through s shows target
// in state with a description that contains desc.
func waitFleetHealth(t *testing.T, s *kelbServer, tg, target string, state types.TargetHealthStateEnum, desc string) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%s describes target %s %s, %q", s.APIURL, target, state, desc), func() error {
		h, err := fleetDescribe(context.Background(), s, tg, target)
		if err != nil {
			return err
		}
		if h.State != state || !strings.Contains(aws.ToString(h.Description), desc) {
			return errNotYetf("%s %q", h.State, aws.ToString(h.Description))
		}
		return nil
	})
}

// fleetTargetGroup creates a TCP target group checked every 5 s, with
// targets, forwarded to by a listener of lb on port.
func fleetTargetGroup(t *testing.T, s *kelbServer, name, lb string, port int32, targets ...string) string {
	t.Helper()
	ctx := context.Background()
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(port),
		TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	var descs []types.TargetDescription
	for _, target := range targets {
		descs = append(descs, ipTarget(t, target))
	}
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tg), Targets: descs}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lb), Protocol: types.ProtocolEnumTcp, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}},
	}); err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestFleetTargetHealthAndDNS runs two nodes on one etcd, fleet-a serving
// zone a and fleet-b zone b. DescribeTargetHealth through either node
// merges both nodes' views: a target of a load balancer in zone a only is
// checked by fleet-a alone, and fleet-b describes fleet-a's verdict; a dead
// target of a load balancer in both zones is unhealthy as seen from both
// nodes. DNS answers both zones' addresses while both nodes live, and only
// zone a's once fleet-b is killed and its lease has run out.
func TestFleetTargetHealthAndDNS(t *testing.T) {
	t.Parallel()
	tn := newNet()
	srv := etcdtest.Start(t, etcdtest.Options{})
	a := fleetNode(t, tn, srv, "fleet-a", "a")
	b := fleetNode(t, tn, srv, "fleet-b", "b")
	ctx := context.Background()

	both, err := a.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("both-zones"), Type: types.LoadBalancerTypeEnumNetwork})
	if err != nil {
		t.Fatal(err)
	}
	var subnetA string
	for _, az := range both.LoadBalancers[0].AvailabilityZones {
		if aws.ToString(az.ZoneName) == region+"a" {
			subnetA = aws.ToString(az.SubnetId)
		}
	}
	onlyA, err := a.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("zone-a-only"), Type: types.LoadBalancerTypeEnumNetwork, Subnets: []string{subnetA}})
	if err != nil {
		t.Fatal(err)
	}
	bothARN, onlyAARN := aws.ToString(both.LoadBalancers[0].LoadBalancerArn), aws.ToString(onlyA.LoadBalancers[0].LoadBalancerArn)

	// A healthy target in each zone and a dead one (nothing listens).
	targetA := startEchoBackend(t, "target-a", tn.backend("a", 1)+":7000").Addr
	targetB := startEchoBackend(t, "target-b", tn.backend("b", 1)+":7000").Addr
	dead := tn.backend("a", 9) + ":7000"
	tgBoth := fleetTargetGroup(t, b, "both-zones", bothARN, 7000, targetA, targetB, dead)
	tgOnlyA := fleetTargetGroup(t, b, "zone-a-only", onlyAARN, 7000, tn.backend("a", 8)+":7000")

	for _, s := range []*kelbServer{a, b} {
		waitFleetHealth(t, s, tgBoth, targetA, types.TargetHealthStateEnumHealthy, "")
		waitFleetHealth(t, s, tgBoth, targetB, types.TargetHealthStateEnumHealthy, "")
		// Both nodes check the load balancer in both zones.
		waitFleetHealth(t, s, tgBoth, dead, types.TargetHealthStateEnumUnhealthy, "(seen from nodes fleet-a, fleet-b)")
		// Only fleet-a checks the load balancer in zone a; fleet-b
		// describes fleet-a's verdict.
		waitFleetHealth(t, s, tgOnlyA, tn.backend("a", 8)+":7000", types.TargetHealthStateEnumUnhealthy, "(seen from node fleet-a)")
	}

	name := aws.ToString(both.LoadBalancers[0].DNSName)
	zoneA, zoneB := fmt.Sprintf("127.%d.1.", tn.n), fmt.Sprintf("127.%d.2.", tn.n)
	answers := func(s *kelbServer, want ...string) func() error {
		return func() error {
			addrs, err := resolveA(s.DNSAddr, name)
			if err != nil {
				return err
			}
			if len(addrs) != len(want) {
				return errNotYetf("%s answers %v", s.DNSAddr, addrs)
			}
			for i, w := range want {
				if !strings.HasPrefix(addrs[i], w) {
					return errNotYetf("%s answers %v", s.DNSAddr, addrs)
				}
			}
			return nil
		}
	}
	for _, s := range []*kelbServer{a, b} {
		eventually(t, 10*time.Second, "DNS answers both zones' addresses", answers(s, zoneA, zoneB))
	}

	// Kill fleet-b: zone b has no live node left once its lease runs out.
	b.stop(syscall.SIGKILL)
	eventually(t, 20*time.Second, "fleet-a's DNS answers zone a's address only", answers(a, zoneA))
	// The dead target is now seen failing from fleet-a alone.
	waitFleetHealth(t, a, tgBoth, dead, types.TargetHealthStateEnumUnhealthy, "(seen from node fleet-a)")
}

// TestFleetTargetFailingFromOneNode runs two nodes in network namespaces
// of their own (on one etcd in a router namespace), the first serving zone
// a and the second zone b, and a target of zone a on the first node's
// loopback, which only the first node reaches: the second node's probes
// are refused by its own loopback. DescribeTargetHealth through either
// node shows the target unhealthy, seen from the second node alone; DNS
// on either node answers zone a's address, judged by zone a's node, which
// sees the target healthy (and not zone b's, which has no target: were
// the merged view used, no target would be healthy and both zones would
// be answered). Once the second node is killed and its lease has run out,
// the target is healthy (the first node's verdict).
func TestFleetTargetFailingFromOneNode(t *testing.T) {
	t.Parallel()
	f := newBGPFleet(t, 2)
	var nodes []*kelbServer
	for i, ns := range f.nodes {
		nodes = append(nodes, startServer(t, testNet{}, serverOptions{
			netns: ns,
			zoneFlags: []string{"--zone", region + "a=198.19.1.0/24", "--zone", region + "b=198.19.2.0/24",
				"--vpc-cidr", "127.0.0.0/8", "--zone-targets", region + "a=127.0.0.0/24"},
			extraArgs: []string{"--store", "etcd", "--etcd-endpoints", f.etcd, "--etcd-prefix", "/kelb-fleet/",
				"--node-name", fmt.Sprintf("ns-node-%d", i), "--node-zones", region + string(rune('a'+i))},
		}))
	}
	var ln net.Listener
	if err := netnstest.In(f.nodes[0], func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.10:7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	target := serveEcho(t, "ns-node-0-only", ln).Addr

	lb, err := nodes[0].ELB.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{
		Name: aws.String("one-node-fails"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := fleetTargetGroup(t, nodes[0], "one-node-fails", aws.ToString(lb.LoadBalancers[0].LoadBalancerArn), 7000, target)
	for _, s := range nodes {
		waitFleetHealth(t, s, tg, target, types.TargetHealthStateEnumUnhealthy, "(seen from node ns-node-1)")
	}
	name := aws.ToString(lb.LoadBalancers[0].DNSName)
	answersZoneA := func(i int) func() error {
		return func() error {
			var addrs []string
			if err := netnstest.In(f.nodes[i], func() (err error) {
				addrs, err = resolveA(nodes[i].DNSAddr, name)
				return err
			}); err != nil {
				return err
			}
			if len(addrs) != 1 || !strings.HasPrefix(addrs[0], "198.19.1.") {
				return errNotYetf("ns-node-%d's DNS answers %v, want zone a's address alone", i, addrs)
			}
			return nil
		}
	}
	for i := range nodes {
		eventually(t, 20*time.Second, fmt.Sprintf("ns-node-%d's DNS answers zone a, whose node sees the target healthy", i), answersZoneA(i))
	}

	nodes[1].stop(syscall.SIGKILL)
	waitFleetHealth(t, nodes[0], tg, target, types.TargetHealthStateEnumHealthy, "")
	if err := answersZoneA(0)(); err != nil {
		t.Errorf("once ns-node-1 is gone: %v", err)
	}
}

// TestFleetNodeNameInUse: a second kelb server started with the name of a
// live node exits, saying so; the first keeps its place in the fleet.
func TestFleetNodeNameInUse(t *testing.T) {
	t.Parallel()
	tn := newNet()
	srv := etcdtest.Start(t, etcdtest.Options{})
	first := fleetNode(t, tn, srv, "twin", "a")
	second := fleetNode(t, tn, srv, "twin", "b")
	second.mu.Lock()
	done := second.done
	second.mu.Unlock()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a second kelb server named twin is still running")
	}
	if want := `node name in use: a live node named "twin"`; !strings.Contains(second.allLogs(), want) {
		t.Errorf("the second server's log does not say %q:\n%s", want, second.logTail(10))
	}
	rows, err := serverNodes(srv)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].name != "twin" || "http://"+rows[0].api != first.APIURL {
		t.Errorf("kelb server nodes lists %+v, want the first server (%s) as twin", rows, first.APIURL)
	}
}
