package server_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// The L2 failover load: a new connection per request, l2LoadRequests of
// them paced at one per l2LoadInterval (50/s, 25 s), the owner killed after
// l2LoadKillAfter; the last l2LoadLastOK must all succeed.
const (
	l2LoadRequests  = 1250
	l2LoadInterval  = 20 * time.Millisecond
	l2LoadKillAfter = 250
	l2LoadLastOK    = 250
	l2LoadClient    = "198.18.0.100"
)

// l2Request is one request of the load: when it started and how it ended.
type l2Request struct {
	at  time.Time
	err error
}

// failureRun returns the first and last failed request of results (-1, -1
// when none failed) and whether the failures are one run.
func failureRun(results []l2Request) (first, last int, oneRun bool) {
	first, last = -1, -1
	n := 0
	for i, r := range results {
		if r.err != nil {
			if first < 0 {
				first = i
			}
			last = i
			n++
		}
	}
	return first, last, n == 0 || last-first+1 == n
}

// TestL2FailoverUnderLoad runs the two L2 nodes of TestL2Announce and a
// client in a namespace of its own on their bridge, which opens a new TCP
// connection per request, 50 a second, to a network load balancer's address
// (forwarding to an echo target in the router namespace). The address's
// owner is killed with SIGKILL mid-load: the requests that fail are one run
// after the kill, the other node takes the address over and the last
// requests all succeed through it (the client's neighbour entry has its
// MAC). Restarted, the killed node rejoins: the address stays with the
// other node alone and both nodes describe the load balancer as before.
// It logs the FIGURE lines of the README's fleet section.
func TestL2FailoverUnderLoad(t *testing.T) {
	t.Parallel()
	f := newL2Fleet(t, "/kelb-l2load/")
	client := f.attach(t, "c0", l2LoadClient)
	if out, err := exec.Command("ip", "-n", client, "route", "add", "198.19.1.0/24", "dev", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("ip route add: %v\n%s", err, out)
	}
	var ln net.Listener
	if err := netnstest.In(f.rtr, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(fleetRouter, "7000"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	backend := serveEcho(t, "l2-target", ln)
	st := createStack(t, f.servers[0], stackSpec{
		name: "l2-load", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, backend.Addr)},
	})
	addr := st.Addr[region+"a"]
	target := st.listenerAddr("a", 7000)
	owner := f.waitOwner(t, addr)
	other := 1 - owner
	for _, s := range f.servers {
		waitFleetHealth(t, s, st.TG, backend.Addr, types.TargetHealthStateEnumHealthy, "")
	}
	before := describeAll(t, f.servers[0], st)
	if d := cmp.Diff(before, describeAll(t, f.servers[1], st)); d != "" {
		t.Fatalf("the nodes describe the load balancer differently (-lb1 +lb2):\n%s", d)
	}

	dial := nsDialer(client)
	request := func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := dialEchoWith(ctx, dial, target)
		if err != nil {
			return err
		}
		defer c.Close()
		if c.Target != backend.Name {
			return fmt.Errorf("greeting %q, want %q", c.Target, backend.Name)
		}
		return c.roundTrip(fmt.Sprintf("request %d", i))
	}
	eventually(t, 30*time.Second, "the client reaches the target", func() error { return request(-1) })

	results := make([]l2Request, l2LoadRequests)
	var started atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		begin := time.Now()
		for i := range results {
			if d := time.Until(begin.Add(time.Duration(i) * l2LoadInterval)); d > 0 {
				time.Sleep(d)
			}
			started.Store(int64(i + 1))
			results[i] = l2Request{at: time.Now(), err: request(i)}
		}
	}()
	for started.Load() < l2LoadKillAfter {
		select {
		case <-done:
			t.Fatal("the load ended before the kill")
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Requests from index inFlight on start after the kill; the one
	// before may be cut by it.
	inFlight := int(started.Load()) - 1
	killedAt := time.Now()
	f.servers[owner].stop(syscall.SIGKILL)
	<-done

	first, last, oneRun := failureRun(results)
	failed := 0
	for i, r := range results {
		if r.err != nil {
			failed++
			if failed <= 5 || i == last {
				t.Logf("request %d failed: %v", i, r.err)
			}
		}
	}
	if !oneRun {
		t.Errorf("the %d failed requests are not one run (first %d, last %d)", failed, first, last)
	}
	if failed > 0 && first < inFlight {
		t.Errorf("request %d failed before the kill (request %d was the first started after it)", first, inFlight+1)
	}
	if last >= len(results)-l2LoadLastOK {
		t.Errorf("request %d of %d failed: the last %d did not all succeed", last, len(results), l2LoadLastOK)
	}
	resume := 0.0
	if failed > 0 && last+1 < len(results) {
		resume = results[last+1].at.Sub(killedAt).Seconds()
	}
	plane := "userspace"
	if f.servers[other].kernelPlane() {
		plane = "kernel"
	}
	t.Logf("FIGURE L2, %s plane: owner killed (kill -9) to the first successful request after the failures: %.2f s", plane, resume)
	t.Logf("FIGURE L2, %s plane: requests failed per node lost: %d", plane, failed)
	t.Logf("FIGURE L2, %s plane: requests total: %d (a new connection each, one per %v)", plane, len(results), l2LoadInterval)

	// The last requests went through the other node: it holds the address
	// alone and the client sends to its MAC.
	if h := f.holders(t, addr); !slices.Contains(h, other) {
		t.Errorf("holders %v after the load, want node %d among them", h, other)
	}
	if got, want := neighMAC(t, client, addr, false), linkMAC(t, f.nodes[other], "eth0"); got != want {
		t.Errorf("the client sends %s to %q, want node %d's %s", addr, got, other, want)
	}

	// Restarted, the killed node rejoins: the address stays with the
	// other node alone, both nodes serve and describe what they did.
	f.servers[owner].restart()
	eventually(t, 30*time.Second, "the restarted node gives the address up", func() error {
		if h := f.holders(t, addr); !slices.Equal(h, []int{other}) {
			return fmt.Errorf("holders %v, want [%d]", h, other)
		}
		return nil
	})
	eventually(t, 30*time.Second, "both nodes serving, one owning the address", func() error {
		owned := 0.0
		for i, s := range f.servers {
			m, err := scrapeWith(s.httpClient(), s.Metrics+"/metrics")
			if err != nil {
				return err
			}
			if got := m.sum("kelb_fleet_nodes", `state="serving"`); got != 2 {
				return errNotYetf("node %d sees %v serving nodes", i, got)
			}
			for _, l := range m.matching("kelb_l2_owned_addresses ") {
				v, err := strconv.ParseFloat(strings.TrimPrefix(l, "kelb_l2_owned_addresses "), 64)
				if err != nil {
					return fmt.Errorf("node %d: %q: %w", i, l, err)
				}
				owned += v
			}
		}
		if owned != 1 {
			return errNotYetf("the nodes own %v addresses together, want 1", owned)
		}
		return nil
	})
	for i, s := range f.servers {
		if d := cmp.Diff(before, describeAll(t, s, st)); d != "" {
			t.Errorf("node %d describes the load balancer differently after the kill and restart (-before +after):\n%s", i, d)
		}
	}
	if h := f.holders(t, addr); !slices.Equal(h, []int{other}) {
		t.Errorf("holders %v after the restart, want [%d]", h, other)
	}
	if err := request(-2); err != nil {
		t.Errorf("request after the restart: %v", err)
	}
}
