package server_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// stackSpec is a network load balancer with one listener forwarding to one
// target group.
type stackSpec struct {
	name     string
	protocol types.ProtocolEnum // of the listener and the target group; TCP if empty
	port     int32              // listener port
	tgPort   int32              // target group port
	targets  []types.TargetDescription
	tgAttrs  map[string]string
	lbAttrs  map[string]string
	tags     map[string]string
	// healthCheckPort is the target group's health check port; empty means
	// traffic-port.
	healthCheckPort string
}

// stack is what createStack made.
type stack struct {
	LB, TG, Listener string
	DNSName          string
	// Addr holds the load balancer's address in each zone, by zone name.
	Addr map[string]string
}

// listenerAddr is host:port of the listener on the zone's address.
func (st stack) listenerAddr(zone string, port int32) string {
	return net.JoinHostPort(st.Addr[region+zone], strconv.Itoa(int(port)))
}

// createStack creates spec through the API and returns its ARNs and
// addresses.
func createStack(t *testing.T, s *kelbServer, spec stackSpec) stack {
	t.Helper()
	ctx := context.Background()
	proto := spec.protocol
	if proto == "" {
		proto = types.ProtocolEnumTcp
	}
	var tags []types.Tag
	for k, v := range spec.tags {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	sort.Slice(tags, func(i, j int) bool { return *tags[i].Key < *tags[j].Key })
	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:   aws.String(spec.name),
		Type:   types.LoadBalancerTypeEnumNetwork,
		Scheme: types.LoadBalancerSchemeEnumInternal,
		Tags:   tags,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer %s: %v", spec.name, err)
	}
	lb := lbOut.LoadBalancers[0]
	st := stack{LB: aws.ToString(lb.LoadBalancerArn), DNSName: aws.ToString(lb.DNSName), Addr: map[string]string{}}
	for _, az := range lb.AvailabilityZones {
		for _, a := range az.LoadBalancerAddresses {
			st.Addr[aws.ToString(az.ZoneName)] = aws.ToString(a.IpAddress)
		}
	}
	hcPort := spec.healthCheckPort
	if hcPort == "" {
		hcPort = "traffic-port"
	}
	hcProto := types.ProtocolEnumTcp
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name:                       aws.String(spec.name),
		Protocol:                   proto,
		Port:                       aws.Int32(spec.tgPort),
		TargetType:                 types.TargetTypeEnumIp,
		VpcId:                      aws.String("vpc-0ce1b000000000000"),
		HealthCheckProtocol:        hcProto,
		HealthCheckPort:            aws.String(hcPort),
		HealthCheckIntervalSeconds: aws.Int32(5),
		HealthyThresholdCount:      aws.Int32(2),
		UnhealthyThresholdCount:    aws.Int32(2),
		Tags:                       tags,
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup %s: %v", spec.name, err)
	}
	st.TG = aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if len(spec.tgAttrs) > 0 {
		if _, err := s.ELB.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{
			TargetGroupArn: aws.String(st.TG),
			Attributes:     tgAttributes(spec.tgAttrs),
		}); err != nil {
			t.Fatalf("ModifyTargetGroupAttributes %v: %v", spec.tgAttrs, err)
		}
	}
	if len(spec.lbAttrs) > 0 {
		var attrs []types.LoadBalancerAttribute
		for k, v := range spec.lbAttrs {
			attrs = append(attrs, types.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(v)})
		}
		if _, err := s.ELB.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{
			LoadBalancerArn: aws.String(st.LB),
			Attributes:      attrs,
		}); err != nil {
			t.Fatalf("ModifyLoadBalancerAttributes %v: %v", spec.lbAttrs, err)
		}
	}
	if len(spec.targets) > 0 {
		if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(st.TG), Targets: spec.targets}); err != nil {
			t.Fatalf("RegisterTargets: %v", err)
		}
	}
	lOut, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(st.LB),
		Protocol:        proto,
		Port:            aws.Int32(spec.port),
		DefaultActions: []types.Action{{
			Type:           types.ActionTypeEnumForward,
			TargetGroupArn: aws.String(st.TG),
		}},
		Tags: tags,
	})
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	st.Listener = aws.ToString(lOut.Listeners[0].ListenerArn)
	return st
}

func tgAttributes(m map[string]string) []types.TargetGroupAttribute {
	var attrs []types.TargetGroupAttribute
	for k, v := range m {
		attrs = append(attrs, types.TargetGroupAttribute{Key: aws.String(k), Value: aws.String(v)})
	}
	return attrs
}

// ipTarget is a target description for host:port.
func ipTarget(t *testing.T, hostport string) types.TargetDescription {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return types.TargetDescription{Id: aws.String(host), Port: aws.Int32(int32(p))}
}

// targetHealth returns the health of every target of tg, keyed by
// "id:port", as "state reason".
func targetHealth(ctx context.Context, s *kelbServer, tg string) (map[string]string, error) {
	out, err := s.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg)})
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, d := range out.TargetHealthDescriptions {
		key := net.JoinHostPort(aws.ToString(d.Target.Id), strconv.Itoa(int(aws.ToInt32(d.Target.Port))))
		m[key] = strings.TrimSpace(string(d.TargetHealth.State) + " " + string(d.TargetHealth.Reason))
	}
	return m, nil
}

// waitHealth polls DescribeTargetHealth until target (id:port) reports
// want ("healthy", "unhealthy Target.FailedHealthChecks", ...; "" means
// absent), and returns how long that took.
func waitHealth(t *testing.T, s *kelbServer, tg, target, want string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	eventually(t, timeout, fmt.Sprintf("target %s is %q", target, want), func() error {
		m, err := targetHealth(context.Background(), s, tg)
		if err != nil {
			return err
		}
		got, ok := m[target]
		if want == "" && !ok {
			return nil
		}
		if got != last {
			t.Logf("target %s: %q", target, got)
			last = got
		}
		if ok && got == want {
			return nil
		}
		return fmt.Errorf("%s is %q", target, got)
	})
	return time.Since(start)
}

// histogram renders counts like `sort | uniq -c | sort -nr`.
func histogram(counts map[string]int) string {
	type row struct {
		k string
		n int
	}
	var rows []row
	for k, n := range counts {
		rows = append(rows, row{k, n})
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].n != rows[j].n {
			return rows[i].n > rows[j].n
		}
		return rows[i].k < rows[j].k
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%7d %s\n", r.n, r.k)
	}
	return b.String()
}
