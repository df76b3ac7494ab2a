package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/miekg/dns"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/test/e2e/framework"
)

// The fleet as kelb up lays it out (main_test.go): zone a's address is
// shared by lb1 and lb3, zone b's is lb2's alone.
const (
	zoneA = "us-west-2a"
	zoneB = "us-west-2b"
)

// fleetLB is a network load balancer in IP mode in front of echo pods in
// both zones, made once by the controller from a Service.
type fleetLB struct {
	Hostname string
	ARN      string
	// Addr is the load balancer's address:80 in each zone.
	Addr map[string]string
}

var (
	lbOnce sync.Once
	lb     fleetLB
	lbErr  error
)

const fleetManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
spec:
  replicas: 3
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: echo
        image: registry.k8s.io/echoserver:1.10
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: external
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
`

// theLB returns the load balancer the fleet tests share, making it the
// first time: a Service of kelb controller, its targets healthy and its
// addresses answering.
func theLB(t *testing.T) (*framework.Env, fleetLB) {
	t.Helper()
	env := framework.Get(t)
	if !env.HasController(t) {
		t.Skip("kelb controller is not running in this environment")
	}
	lbOnce.Do(func() { lb, lbErr = makeLB(t, env) })
	if lbErr != nil {
		t.Fatalf("the fleet's load balancer: %v", lbErr)
	}
	return env, lb
}

func makeLB(t *testing.T, env *framework.Env) (fleetLB, error) {
	const ns = "fleet"
	manifest := "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + "}\n---\n" + fleetManifest
	if _, err := env.Shell(t.Context(), manifest, "kubectl", "apply", "-n", ns, "-f", "-"); err != nil {
		return fleetLB{}, err
	}
	var out fleetLB
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for out.Hostname == "" {
		h, _ := env.Shell(ctx, "", "kubectl", "get", "service", "-n", ns, "echo", "-o", "jsonpath={.status.loadBalancer.ingress[*].hostname}")
		out.Hostname = strings.TrimSpace(h)
		if out.Hostname != "" {
			break
		}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("service echo has no load balancer hostname")
		case <-time.After(time.Second):
		}
	}
	c := env.ELBClient(t, devcluster.LBEndpoint(1))
	desc, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		return out, err
	}
	out.Addr = map[string]string{}
	for _, l := range desc.LoadBalancers {
		if aws.ToString(l.DNSName) != out.Hostname {
			continue
		}
		out.ARN = aws.ToString(l.LoadBalancerArn)
		for _, az := range l.AvailabilityZones {
			for _, a := range az.LoadBalancerAddresses {
				out.Addr[aws.ToString(az.ZoneName)] = net.JoinHostPort(aws.ToString(a.IpAddress), "80")
			}
		}
	}
	if out.Addr[zoneA] == "" || out.Addr[zoneB] == "" {
		return out, fmt.Errorf("load balancer %s has addresses %v, want one in %s and %s", out.Hostname, out.Addr, zoneA, zoneB)
	}
	st := env.State(t)
	for _, z := range []string{zoneA, zoneB} {
		for {
			if r := request(ctx, env, st, out.Addr[z]); r.err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return out, fmt.Errorf("%s (zone %s) does not answer", out.Addr[z], z)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return out, nil
}

// result is one request of a load loop.
type result struct {
	at   time.Time
	node string // the lb node the target saw the request come from
	err  error
}

var clientAddress = regexp.MustCompile(`client_address=(\S+)`)

// nodeOf names the lb node whose address a target saw (kelb server's
// --snat-source node), or returns the address.
func nodeOf(st *devcluster.State, addr string) string {
	for i := 1; i <= st.Options.LBNodes; i++ {
		if devcluster.LBNodeIP(i) == addr {
			return devcluster.LBNodeName(i)
		}
	}
	return addr
}

// request makes one HTTP/1.0 request to addr on a new connection from the
// environment's namespace, bounded to two seconds.
func request(ctx context.Context, env *framework.Env, st *devcluster.State, addr string) result {
	r := result{at: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := env.Dial(ctx, st, "tcp", addr)
	if err != nil {
		r.err = err
		return r
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\nHost: fleet\r\n\r\n"); err != nil {
		r.err = err
		return r
	}
	body, err := io.ReadAll(conn)
	if err != nil {
		r.err = err
		return r
	}
	if !strings.HasPrefix(string(body), "HTTP/1.1 200") && !strings.HasPrefix(string(body), "HTTP/1.0 200") {
		r.err = fmt.Errorf("answer %.40q", body)
		return r
	}
	if m := clientAddress.FindSubmatch(body); m != nil {
		r.node = nodeOf(st, string(m[1]))
	}
	return r
}

// load makes requests to addr, each on a new connection, one every
// interval (or at once when the last took longer), for d: a bounded
// loadInBackground runs load (a new connection every 15 ms) to addr for d
// in a goroutine; the function it returns waits for the end and gives the
// results.
func loadInBackground(ctx context.Context, env *framework.Env, st *devcluster.State, addr string, d time.Duration) func() []result {
	var results []result
	done := make(chan struct{})
	go func() {
		defer close(done)
		results = load(ctx, env, st, addr, 15*time.Millisecond, d)
	}()
	return func() []result {
		<-done
		return results
	}
}

// steady load.
func load(ctx context.Context, env *framework.Env, st *devcluster.State, addr string, interval, d time.Duration) []result {
	var out []result
	end := time.Now().Add(d)
	next := time.Now()
	for time.Now().Before(end) && ctx.Err() == nil {
		out = append(out, request(ctx, env, st, addr))
		next = next.Add(interval)
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		} else {
			next = time.Now()
		}
	}
	return out
}

// summary counts a load loop's requests.
type summary struct {
	total, failed int
	byNode        map[string]int
	// longestFailRun is the most consecutive failed requests.
	longestFailRun int
	firstFail      time.Time
	lastFail       time.Time
}

func summarize(rs []result) summary {
	s := summary{byNode: map[string]int{}}
	run := 0
	for _, r := range rs {
		s.total++
		if r.err != nil {
			s.failed++
			run++
			s.longestFailRun = max(s.longestFailRun, run)
			if s.firstFail.IsZero() {
				s.firstFail = r.at
			}
			s.lastFail = r.at
			continue
		}
		run = 0
		s.byNode[r.node]++
	}
	return s
}

// after returns the results from t on.
func after(rs []result, t time.Time) []result {
	i := sort.Search(len(rs), func(i int) bool { return !rs[i].at.Before(t) })
	return rs[i:]
}

// longLived is one keep-alive connection that makes a request now and
// then.
type longLived struct {
	conn net.Conn
	rd   *bufio.Reader
	node string
}

// openLongLived opens keep-alive connections to addr until one goes
// through node (ECMP picks; at most 64 tries), and closes the others.
func openLongLived(t *testing.T, env *framework.Env, st *devcluster.State, addr, node string) *longLived {
	t.Helper()
	for try := 0; try < 64; try++ {
		conn, err := env.Dial(t.Context(), st, "tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		l := &longLived{conn: conn, rd: bufio.NewReader(conn)}
		if err := l.get(); err != nil {
			conn.Close()
			t.Fatalf("first request on a connection to %s: %v", addr, err)
		}
		if nodeOf(st, l.node) == node || l.node == node {
			t.Cleanup(func() { conn.Close() })
			return l
		}
		conn.Close()
	}
	t.Fatalf("no connection to %s went through %s in 64 tries", addr, node)
	return nil
}

// get makes one request on the connection and checks it went through the
// same node as before.
func (l *longLived) get() error {
	_ = l.conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(l.conn, "GET / HTTP/1.1\r\nHost: fleet\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(l.rd, nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	m := clientAddress.FindSubmatch(body)
	if m == nil {
		return fmt.Errorf("no client_address in %.80q", body)
	}
	if l.node != "" && l.node != string(m[1]) {
		return fmt.Errorf("went through %s, before through %s", m[1], l.node)
	}
	l.node = string(m[1])
	return nil
}

// lookup asks the DNS server of lb node i for name's A records.
func lookup(ctx context.Context, env *framework.Env, st *devcluster.State, i int, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := env.Dial(ctx, st, "udp", net.JoinHostPort(devcluster.LBNodeIP(i), "53"))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c := &dns.Conn{Conn: conn}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	if err := c.WriteMsg(q); err != nil {
		return nil, err
	}
	r, err := c.ReadMsg()
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
		}
	}
	sort.Strings(addrs)
	return addrs, nil
}

// sameAnswers compares what every lb node's API says about the load
// balancers, their listeners, target groups and targets' health.
func sameAnswers(ctx context.Context, clients []*elbv2.Client) error {
	var first string
	for i, c := range clients {
		got, err := describeAll(ctx, c)
		if err != nil {
			return fmt.Errorf("lb%d: %w", i+1, err)
		}
		if i == 0 {
			first = got
			continue
		}
		if got != first {
			return fmt.Errorf("lb%d answers differently from lb1:\nlb1: %s\nlb%d: %s", i+1, first, i+1, got)
		}
	}
	return nil
}

// describeAll renders the answers of the describe calls as JSON, without
// the per-request metadata.
func describeAll(ctx context.Context, c *elbv2.Client) (string, error) {
	var parts []any
	lbs, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
	if err != nil {
		return "", err
	}
	parts = append(parts, lbs.LoadBalancers)
	for _, l := range lbs.LoadBalancers {
		ls, err := c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: l.LoadBalancerArn})
		if err != nil {
			return "", err
		}
		parts = append(parts, ls.Listeners)
	}
	tgs, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		return "", err
	}
	parts = append(parts, tgs.TargetGroups)
	for _, tg := range tgs.TargetGroups {
		th, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			return "", err
		}
		sort.Slice(th.TargetHealthDescriptions, func(i, j int) bool {
			return aws.ToString(th.TargetHealthDescriptions[i].Target.Id) < aws.ToString(th.TargetHealthDescriptions[j].Target.Id)
		})
		parts = append(parts, th.TargetHealthDescriptions)
	}
	b, err := json.Marshal(parts)
	return string(b), err
}

// nodeClients returns an ELBv2 client of every lb node's API.
func nodeClients(t *testing.T, env *framework.Env) []*elbv2.Client {
	t.Helper()
	var cs []*elbv2.Client
	for i := 1; i <= env.State(t).Options.LBNodes; i++ {
		cs = append(cs, env.ELBClient(t, devcluster.LBEndpoint(i)))
	}
	return cs
}

// routerNextHops returns the next hops the router has for the /32 of
// addr (host:port), as `ip route` shows them.
func routerNextHops(ctx context.Context, st *devcluster.State, addr string) (string, error) {
	host, _, _ := net.SplitHostPort(addr)
	out, err := execOutput(ctx, "ip", "-n", devcluster.RouterNamespace(st.Namespace), "route", "show", host+"/32")
	return strings.TrimSpace(out), err
}

// restartNode starts lb node i again and waits until its API answers and,
// with BGP, the router peers with it again.
func restartNode(t *testing.T, env *framework.Env, i int) {
	t.Helper()
	name := devcluster.LBProcessName(i)
	pid := env.StartFleetProcess(t, name)
	st := env.State(t)
	framework.Eventually(t, 2*time.Minute, func() error {
		conn, err := env.Dial(t.Context(), st, "tcp", net.JoinHostPort(devcluster.LBNodeIP(i), "9400"))
		if err != nil {
			return err
		}
		conn.Close()
		if !st.Options.Fleet.BGP {
			return nil
		}
		s, err := devcluster.BGPSessions(t.Context(), st)
		if err != nil {
			return err
		}
		if s[devcluster.LBNodeName(i)] != "Established" {
			return fmt.Errorf("BGP session with %s: %s", devcluster.LBNodeName(i), s[devcluster.LBNodeName(i)])
		}
		return nil
	})
	t.Logf("%s restarted (pid %d)", name, pid)
}

func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
