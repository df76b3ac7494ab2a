package deploy

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/controller/model"
)

func TestManagedSecurityGroupName(t *testing.T) {
	// Namespace and name, 8 alphanumerics each; a group name, 17.
	svc := ManagedSecurityGroupName([]string{"kube-system", "my_dns.svc"}, "kelb", "my_dns.svc", "kube-system", "uid-1")
	if !strings.HasPrefix(svc, "k8s-kubesyst-mydnssvc-") || len(svc) != len("k8s-kubesyst-mydnssvc-")+10 {
		t.Errorf("service group name %q", svc)
	}
	grp := ManagedSecurityGroupName([]string{"a-very-long-ingress-group-name"}, "kelb", "a-very-long-ingress-group-name")
	if !strings.HasPrefix(grp, "k8s-averylongingressg-") || len(grp) != len("k8s-averylongingressg-")+10 {
		t.Errorf("group name %q", grp)
	}
	// The hash is of every hashed part: another UID is another name.
	if again := ManagedSecurityGroupName([]string{"kube-system", "my_dns.svc"}, "kelb", "my_dns.svc", "kube-system", "uid-2"); again == svc {
		t.Errorf("another UID gives the same name %q", again)
	}
}

func TestSourceCIDRs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ranges    []string
		dualstack bool
		want      []string
		err       string
	}{
		{name: "default", want: []string{"0.0.0.0/0"}},
		{name: "default dualstack", dualstack: true, want: []string{"0.0.0.0/0", "::/0"}},
		{name: "masked, IPv4 first, each once", dualstack: true, ranges: []string{"2001:db8::1/64", "10.1.2.3/8", " 10.0.0.0/8", "192.168.1.0/24"},
			want: []string{"10.0.0.0/8", "192.168.1.0/24", "2001:db8::/64"}},
		{name: "IPv6 on an IPv4 load balancer", ranges: []string{"10.0.0.0/8", "::/0"}, err: "IPv6 range ::/0 needs a dualstack load balancer"},
		{name: "not a CIDR", ranges: []string{"10.0.0.0"}, err: `"10.0.0.0" is not a CIDR`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SourceCIDRs(tc.ranges, tc.dualstack)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("SourceCIDRs = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestIngressRulesAndAttribute(t *testing.T) {
	g := &ManagedSecurityGroup{}
	g.Ingress = append(g.Ingress, model.IngressRules("TCP_UDP", 53, []string{"10.0.0.0/8"})...)
	g.Ingress = append(g.Ingress, model.IngressRules("TLS", 443, []string{"0.0.0.0/0"})...)
	g.Ingress = append(g.Ingress, model.IngressRules("HTTP", 80, []string{"0.0.0.0/0", "::/0"})...)
	want := []IngressRule{
		{Protocol: "tcp", Port: 53, CIDR: "10.0.0.0/8"}, {Protocol: "udp", Port: 53, CIDR: "10.0.0.0/8"}, {Protocol: "tcp", Port: 443, CIDR: "0.0.0.0/0"},
		{Protocol: "tcp", Port: 80, CIDR: "0.0.0.0/0"}, {Protocol: "tcp", Port: 80, CIDR: "::/0"},
	}
	if diff := cmp.Diff(want, g.Ingress); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		port   int32
		ipType string
		want   string
	}{
		{53, "ipv4", "10.0.0.0/8"},
		{443, "ipv4", ""},
		{443, "dualstack", "0.0.0.0/0"}, // IPv6 clients are not admitted
		{80, "dualstack", ""},
	} {
		if got := g.SourceRangesAttribute(tc.port, tc.ipType); got != tc.want {
			t.Errorf("SourceRangesAttribute(%d, %s) = %q, want %q", tc.port, tc.ipType, got, tc.want)
		}
	}
	if got := (*ManagedSecurityGroup)(nil).SourceRangesAttribute(80, "ipv4"); got != "" {
		t.Errorf("nil group: %q", got)
	}
}

func TestCarriesGroups(t *testing.T) {
	for _, tc := range []struct {
		lb   *ActualLoadBalancer
		want bool
	}{
		{nil, true},
		{&ActualLoadBalancer{Type: "network"}, false},
		{&ActualLoadBalancer{Type: "network", SecurityGroups: []string{"sg-1"}}, true},
		{&ActualLoadBalancer{Type: "application"}, true},
	} {
		if got := CarriesGroups(tc.lb); got != tc.want {
			t.Errorf("CarriesGroups(%+v) = %v", tc.lb, got)
		}
	}
}

func TestDiffIngress(t *testing.T) {
	perm := func(proto string, port int32, cidrs ...string) ec2types.IpPermission {
		p := ec2types.IpPermission{IpProtocol: aws.String(proto), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
		for _, c := range cidrs {
			if strings.Contains(c, ":") {
				p.Ipv6Ranges = append(p.Ipv6Ranges, ec2types.Ipv6Range{CidrIpv6: aws.String(c)})
			} else {
				p.IpRanges = append(p.IpRanges, ec2types.IpRange{CidrIp: aws.String(c)})
			}
		}
		return p
	}
	want := []IngressRule{{Protocol: "tcp", Port: 80, CIDR: "10.0.0.0/8"}, {Protocol: "tcp", Port: 80, CIDR: "::/0"}, {Protocol: "udp", Port: 53, CIDR: "10.0.0.0/8"}}
	have := []ec2types.IpPermission{
		perm("tcp", 80, "10.0.0.0/8", "192.168.0.0/16"), // one kept, one revoked
		perm("udp", 54, "10.0.0.0/8"),                   // another port: revoked
		{IpProtocol: aws.String("-1"), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String("sg-1")}}},
	}
	authorize, revoke := diffIngress(want, have)
	wantAuth := []ec2types.IpPermission{perm("tcp", 80, "::/0"), perm("udp", 53, "10.0.0.0/8")}
	wantRevoke := []ec2types.IpPermission{
		perm("tcp", 80, "192.168.0.0/16"), perm("udp", 54, "10.0.0.0/8"),
		{IpProtocol: aws.String("-1"), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String("sg-1")}}},
	}
	opt := cmp.Comparer(func(a, b ec2types.IpPermission) bool { return cmp.Equal(flat(a), flat(b)) })
	if diff := cmp.Diff(wantAuth, authorize, opt); diff != "" {
		t.Errorf("authorize (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantRevoke, revoke, opt); diff != "" {
		t.Errorf("revoke (-want +got):\n%s", diff)
	}
	if a, r := diffIngress(want, []ec2types.IpPermission{perm("tcp", 80, "10.0.0.0/8", "::/0"), perm("udp", 53, "10.0.0.0/8")}); a != nil || r != nil {
		t.Errorf("in step: authorize %v, revoke %v", a, r)
	}
}

// flat renders a permission for comparison.
func flat(p ec2types.IpPermission) []string {
	out := []string{aws.ToString(p.IpProtocol)}
	if p.FromPort != nil {
		out = append(out, strconv.Itoa(int(*p.FromPort)))
	}
	for _, r := range p.IpRanges {
		out = append(out, aws.ToString(r.CidrIp))
	}
	for _, r := range p.Ipv6Ranges {
		out = append(out, aws.ToString(r.CidrIpv6))
	}
	for _, g := range p.UserIdGroupPairs {
		out = append(out, aws.ToString(g.GroupId))
	}
	return out
}
