package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
)

// describeAll renders everything the API says about st as JSON documents,
// by operation: what a restart must not change. Target health is reduced
// to the targets' identities, since health starts over after a restart.
func describeAll(t *testing.T, s *kelbServer, st stack) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	put := func(op string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		out[op] = string(b)
	}
	lbs, err := s.ELB.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{st.LB}})
	put("DescribeLoadBalancers", lbs.LoadBalancers, err)
	lbAttrs, err := s.ELB.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(st.LB)})
	put("DescribeLoadBalancerAttributes", lbAttrs.Attributes, err)
	ls, err := s.ELB.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(st.LB)})
	put("DescribeListeners", ls.Listeners, err)
	tgs, err := s.ELB.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(st.LB)})
	put("DescribeTargetGroups", tgs.TargetGroups, err)
	tgAttrs, err := s.ELB.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(st.TG)})
	put("DescribeTargetGroupAttributes", tgAttrs.Attributes, err)
	tags, err := s.ELB.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{st.LB, st.TG, st.Listener}})
	put("DescribeTags", tags.TagDescriptions, err)
	th, err := s.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(st.TG)})
	var targets []string
	if err == nil {
		for _, d := range th.TargetHealthDescriptions {
			targets = append(targets, fmt.Sprintf("%s:%d %s", aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port), aws.ToString(d.Target.AvailabilityZone)))
		}
		sort.Strings(targets)
	}
	put("DescribeTargetHealth targets", targets, err)
	return out
}

// TestRestartPersistence kills kelb server with SIGKILL and starts it again
// on the same data dir: every resource is described as before and traffic
// flows again. On the userspace plane the listener dies with the process;
// on the kernel plane its table outlives it: an established flow goes on
// and new connections are forwarded while kelb is down, and the restarted
// server takes the table over (a target deregistered after the restart gets
// no new flow).
func TestRestartPersistence(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
	st := createStack(t, s, stackSpec{
		name: "persist", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
		tgAttrs: map[string]string{"deregistration_delay.timeout_seconds": "30", "proxy_protocol_v2.enabled": "false"},
		lbAttrs: map[string]string{"load_balancing.cross_zone.enabled": "true"},
		tags:    map[string]string{"elbv2.k8s.aws/cluster": "demo", "service.k8s.aws/stack": "default/persist"},
	})
	waitHealth(t, s, st.TG, b1.Addr, "healthy", 30*time.Second)
	addr := st.listenerAddr("a", 7000)
	if _, err := whoAnswers(addr); err != nil {
		t.Fatalf("before the restart: %v", err)
	}
	before := describeAll(t, s, st)
	kernelPlane := s.kernelPlane()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	established, err := dialEcho(ctx, addr)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer established.Close()

	s.stop(syscall.SIGKILL)
	if kernelPlane {
		if err := established.roundTrip("while-killed"); err != nil {
			t.Errorf("established flow with kelb server killed, kernel plane: %v", err)
		}
		if _, err := whoAnswers(addr); err != nil {
			t.Errorf("new connection with kelb server killed, kernel plane: %v", err)
		}
	} else {
		if err := established.roundTrip("while-killed"); err == nil {
			t.Errorf("a flow through %s outlived kelb server on the userspace plane", addr)
		}
		if _, err := whoAnswers(addr); err == nil {
			t.Fatalf("%s still answers with kelb server killed", addr)
		}
	}
	s.restart()
	// The first pass restores the data plane before the API serves, so
	// traffic should flow by the time the API answers; poll regardless.
	var first time.Duration
	eventually(t, 10*time.Second, "traffic flows after the restart", func() error {
		if _, err := whoAnswers(addr); err != nil {
			return err
		}
		first = time.Since(s.Started)
		return nil
	})
	t.Logf("first request through the load balancer succeeded %v after the process started", first.Round(time.Millisecond))
	after := describeAll(t, s, st)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("described after the restart (-before +after):\n%s", diff)
	}
	got := flowsTo(t, addr, 20)
	if got[b1.Name]+got[b2.Name] != 20 {
		t.Errorf("after the restart flows went:\n%s", histogram(got))
	}
	if kernelPlane {
		if !s.kernelPlane() {
			t.Fatalf("the restarted kelb server did not take the kernel plane:\n%s", s.logTail(30))
		}
		if err := established.roundTrip("after-restart"); err != nil {
			t.Errorf("established flow after the restart, kernel plane: %v", err)
		}
	}
	// The restarted server governs the listener: a target it deregisters
	// gets no new flow (it drains for 30 s, so no flow is closed).
	if _, err := s.ELB.DeregisterTargets(context.Background(), &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(st.TG), Targets: []types.TargetDescription{ipTarget(t, b2.Addr)},
	}); err != nil {
		t.Fatal(err)
	}
	if got := flowsTo(t, addr, 20); got[b1.Name] != 20 {
		t.Errorf("after deregistering %s flows went:\n%s", b2.Name, histogram(got))
	}
}

// TestAuthentication checks that the binary refuses unsigned and wrongly
// signed requests with AWS's codes.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})

	t.Run("unsigned", func(t *testing.T) {
		form := url.Values{"Action": {"DescribeLoadBalancers"}, "Version": {"2015-12-01"}}
		resp, err := http.PostForm(s.APIURL+"/", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>MissingAuthenticationToken</Code>") {
			t.Errorf("unsigned request: %s\n%s", resp.Status, body)
		}
	})
	for _, tt := range []struct {
		name, id, secret, wantCode string
	}{
		{"wrong secret", keyID, "not-the-secret-access-key-000000000000000", "SignatureDoesNotMatch"},
		{"unknown key", "AKIAKELBE2EUNKNOWN01", secretKey, "InvalidClientTokenId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := elbv2.New(elbv2.Options{
				Region:           region,
				BaseEndpoint:     aws.String(s.APIURL),
				Credentials:      staticCredentials(tt.id, tt.secret),
				RetryMaxAttempts: 1,
			})
			_, err := c.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode {
				t.Fatalf("DescribeLoadBalancers error = %v, want code %s", err, tt.wantCode)
			}
		})
	}
	t.Run("signed", func(t *testing.T) {
		if _, err := s.ELB.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{}); err != nil {
			t.Fatalf("signed request: %v", err)
		}
	})
}

// TestDNSAndMetrics resolves a load balancer's name through kelb's DNS
// server, sends traffic to the addresses it answers, and reads the flow,
// byte and host-count figures from /metrics.
func TestDNSAndMetrics(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ba := startEchoBackend(t, "target-a", tn.backend("a", 1)+":7000")
	bb := startEchoBackend(t, "target-b", tn.backend("b", 1)+":7000")
	st := createStack(t, s, stackSpec{
		name: "dns-metrics", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, ba.Addr), ipTarget(t, bb.Addr)},
	})
	waitHealth(t, s, st.TG, ba.Addr, "healthy", 30*time.Second)
	waitHealth(t, s, st.TG, bb.Addr, "healthy", 30*time.Second)

	want := []string{st.Addr[region+"a"], st.Addr[region+"b"]}
	sort.Strings(want)
	var got []string
	eventually(t, 10*time.Second, "DNS answers both zones", func() error {
		var err error
		got, err = resolveA(s.DNSAddr, st.DNSName)
		if err != nil {
			return err
		}
		if !cmp.Equal(got, want) {
			return fmt.Errorf("%s resolves to %v, want %v", st.DNSName, got, want)
		}
		return nil
	})
	t.Logf("%s A %v", st.DNSName, got)
	if !strings.HasSuffix(st.DNSName, ".elb."+region+"."+dnsDomain) {
		t.Errorf("DNSName %s is not under .elb.%s.%s", st.DNSName, region, dnsDomain)
	}
	if _, err := resolveA(s.DNSAddr, "no-such-lb-0123456789.elb."+region+"."+dnsDomain); err == nil || !strings.Contains(err.Error(), "NXDOMAIN") {
		t.Errorf("unknown name: err = %v, want NXDOMAIN", err)
	}

	// Without cross-zone load balancing each zone's address reaches its
	// own zone's target. DescribeTargetHealth shows the checker's verdict
	// a moment before the data plane applies it, and DNS answers every
	// zone while no target is healthy (fail-open): a zone whose target
	// is not yet healthy in the plane fails over to the other zone's, so
	// wait for the plane to route zone-locally, then count every flow.
	const perZone = 10
	for _, a := range got {
		want := ba.Name
		if a == st.Addr[region+"b"] {
			want = bb.Name
		}
		eventually(t, 5*time.Second, "a flow through "+a+" reaches "+want, func() error {
			if got, err := whoAnswers(a + ":7000"); err != nil || got != want {
				return errNotYetf("answered by %q, %v", got, err)
			}
			return nil
		})
		counts := flowsTo(t, a+":7000", perZone)
		t.Logf("through %s:\n%s", a, histogram(counts))
		if counts[want] != perZone {
			t.Errorf("flows through %s went elsewhere than %s:\n%s", a, want, histogram(counts))
		}
	}

	lbLabel := st.LB[strings.Index(st.LB, ":loadbalancer/")+len(":loadbalancer/"):]
	tgLabel := st.TG[strings.Index(st.TG, ":targetgroup/")+1:]
	eventually(t, 10*time.Second, "metrics count the flows", func() error {
		m, err := scrape(s.Metrics + "/metrics")
		if err != nil {
			return err
		}
		sel := fmt.Sprintf(`load_balancer="%s",target_group="%s"`, lbLabel, tgLabel)
		if v := m.sum("kelb_nlb_new_flows_total", sel); v < 2*perZone {
			return fmt.Errorf("kelb_nlb_new_flows_total{%s} = %v, want >= %d", sel, v, 2*perZone)
		}
		// Every flow carried at least the target's greeting.
		if v := m.sum("kelb_nlb_processed_bytes_total", sel); v < float64(2*perZone*len("target-a\n")) {
			return fmt.Errorf("kelb_nlb_processed_bytes_total{%s} = %v", sel, v)
		}
		for _, z := range []string{"a", "b"} {
			hsel := fmt.Sprintf(`availability_zone="%s%s"`, region, z)
			if v := m.sum("kelb_target_group_healthy_hosts", hsel, `load_balancer="`+lbLabel+`"`, `target_group="`+tgLabel+`"`); v != 1 {
				return fmt.Errorf("kelb_target_group_healthy_hosts{%s} = %v, want 1", hsel, v)
			}
			if v := m.sum("kelb_target_group_unhealthy_hosts", hsel, `load_balancer="`+lbLabel+`"`); v != 0 {
				return fmt.Errorf("kelb_target_group_unhealthy_hosts{%s} = %v, want 0", hsel, v)
			}
		}
		return nil
	})
	m, err := scrape(s.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("metrics of %s:\n%s", lbLabel, strings.Join(m.matching(lbLabel), "\n"))
}

// resolveA asks the DNS server at server for name's A records, sorted.
func resolveA(server, name string) ([]string, error) {
	msg := new(dns.Msg)
	msg.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := &dns.Client{Timeout: 2 * time.Second}
	in, _, err := c.Exchange(msg, server)
	if err != nil {
		return nil, fmt.Errorf("query %s at %s: %w", name, server, err)
	}
	if in.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("query %s: %s", name, dns.RcodeToString[in.Rcode])
	}
	var addrs []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
		}
	}
	sort.Strings(addrs)
	return addrs, nil
}

// metricLines are the sample lines of a Prometheus text exposition.
type metricLines []string

func scrape(u string) (metricLines, error) {
	return scrapeWith(http.DefaultClient, u)
}

// scrapeWith scrapes u with c (which may reach another network namespace).
func scrapeWith(c *http.Client, u string) (metricLines, error) {
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var lines metricLines
	for _, l := range scanLines(b) {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// sum adds the values of the samples of metric whose labels contain every
// one of sel ("name=\"value\"" fragments).
func (m metricLines) sum(metric string, sel ...string) float64 {
	var total float64
	for _, l := range m {
		name, rest, ok := strings.Cut(l, "{")
		if !ok || name != metric {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for _, s := range sel {
			match = match && strings.Contains(labels, s)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err == nil {
			total += v
		}
	}
	return total
}

func (m metricLines) matching(s string) []string {
	var out []string
	for _, l := range m {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// TestCredentialsFile starts kelb server with an AWS credentials file of
// two profiles: both keys are accepted, others are not.
func TestCredentialsFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "credentials")
	const content = `[default]
aws_access_key_id = AKIAKELBFILEKEY00001
aws_secret_access_key = file-secret-one-0000000000000000000000000

[ci]
aws_access_key_id=AKIAKELBFILEKEY00002
aws_secret_access_key=file-secret-two-0000000000000000000000000
`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, newNet(), serverOptions{credentialsFile: file})
	for _, tt := range []struct {
		id, secret, wantCode string
	}{
		{"AKIAKELBFILEKEY00001", "file-secret-one-0000000000000000000000000", ""},
		{"AKIAKELBFILEKEY00002", "file-secret-two-0000000000000000000000000", ""},
		{"AKIAKELBFILEKEY00002", "file-secret-one-0000000000000000000000000", "SignatureDoesNotMatch"},
		{keyID, secretKey, "InvalidClientTokenId"},
	} {
		c := elbv2.New(elbv2.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), Credentials: staticCredentials(tt.id, tt.secret), RetryMaxAttempts: 1})
		_, err := c.DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{})
		var apiErr smithy.APIError
		switch {
		case tt.wantCode == "" && err != nil:
			t.Errorf("key %s: %v", tt.id, err)
		case tt.wantCode != "" && (!errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode):
			t.Errorf("key %s: error %v, want %s", tt.id, err, tt.wantCode)
		}
	}
}

// TestRestartWhileDraining kills kelb server while a target drains: after
// the restart the target is still draining, gets no new flows, and leaves
// when its delay ends.
func TestRestartWhileDraining(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "target-1", tn.backend("a", 1)+":7000")
	b2 := startEchoBackend(t, "target-2", tn.backend("a", 2)+":7000")
	st := createStack(t, s, stackSpec{
		name: "restart-drain", port: 7000, tgPort: 7000,
		targets: []types.TargetDescription{ipTarget(t, b1.Addr), ipTarget(t, b2.Addr)},
		tgAttrs: map[string]string{"deregistration_delay.timeout_seconds": "8"},
	})
	waitHealth(t, s, st.TG, b2.Addr, "healthy", 30*time.Second)
	deregistered := time.Now()
	if _, err := s.ELB.DeregisterTargets(context.Background(), &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(st.TG), Targets: []types.TargetDescription{ipTarget(t, b2.Addr)},
	}); err != nil {
		t.Fatal(err)
	}
	s.stop(syscall.SIGKILL)
	s.restart()
	m, err := targetHealth(context.Background(), s, st.TG)
	if err != nil {
		t.Fatal(err)
	}
	if got := m[b2.Addr]; got != "draining Target.DeregistrationInProgress" {
		t.Errorf("after the restart %s is %q, want draining", b2.Addr, got)
	}
	var got map[string]int
	eventually(t, 10*time.Second, "traffic after the restart", func() error {
		if _, err := whoAnswers(st.listenerAddr("a", 7000)); err != nil {
			return err
		}
		got = flowsTo(t, st.listenerAddr("a", 7000), 20)
		return nil
	})
	if got[b2.Name] != 0 {
		t.Errorf("the draining target got new flows after the restart:\n%s", histogram(got))
	}
	waitHealth(t, s, st.TG, b2.Addr, "", 30*time.Second)
	if gone := time.Since(deregistered); gone < 7*time.Second {
		t.Errorf("the target left %v after deregistration, before its delay of 8 s", gone)
	}
}
