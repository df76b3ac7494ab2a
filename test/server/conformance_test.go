package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// The conformance suite: requests taken from the ELBv2 API Reference and
// the botocore model, each with what AWS answers (success, or the error
// code), sent to a real kelb server by aws-sdk-go-v2 and, for a subset, by
// boto3 and the aws CLI. Every operation of the model has cases; the test
// logs how many per operation and client.

// modelPath is the ELBv2 model kelb server validates requests against.
const modelPath = "../../internal/elbapi/model/elbv2-2015-12-01.service.json"

// confCase is one request and AWS's answer: code is the error code, or ""
// for success. call returns the API error, or an error of its own when a
// successful answer is not what AWS would answer.
type confCase struct {
	op   string
	name string
	code string
	call func(ctx context.Context, c *elbv2.Client, f *confFixture) error
}

// confFixture is what the cases work on: load balancers, target groups,
// listeners, a rule and certificates, made before the first case.
type confFixture struct {
	subnetA, subnetB         string
	nlb, nlbBare, alb        string
	tgTCP, tgHTTP, tgTLS     string
	tcpListener, httpListen  string
	httpsListener, tlsListen string
	rule                     string
	cert, cert2              string
	target                   string // a registered target of tgTCP
	// groups are security groups made through the EC2 API: load
	// balancers take only groups kelb holds.
	groups []string
}

func modelOperations(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Operations map[string]json.RawMessage `json:"operations"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for op := range m.Operations {
		out = append(out, op)
	}
	slices.Sort(out)
	return out
}

func newConfFixture(t *testing.T, s *kelbServer, tn testNet) *confFixture {
	t.Helper()
	ctx := context.Background()
	c := s.ELB
	f := &confFixture{}
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"conf-a", "conf-b", "conf-c", "conf-d", "conf-e"} {
		sg, err := s.ec2Client().CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name)})
		check(err)
		f.groups = append(f.groups, aws.ToString(sg.GroupId))
	}
	nlb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-nlb"), Type: types.LoadBalancerTypeEnumNetwork,
		Scheme: types.LoadBalancerSchemeEnumInternal, SecurityGroups: []string{f.groups[0]}})
	check(err)
	f.nlb = aws.ToString(nlb.LoadBalancers[0].LoadBalancerArn)
	for _, az := range nlb.LoadBalancers[0].AvailabilityZones {
		switch aws.ToString(az.ZoneName) {
		case region + "a":
			f.subnetA = aws.ToString(az.SubnetId)
		case region + "b":
			f.subnetB = aws.ToString(az.SubnetId)
		}
	}
	bare, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-bare"), Type: types.LoadBalancerTypeEnumNetwork, Subnets: []string{f.subnetA}})
	check(err)
	f.nlbBare = aws.ToString(bare.LoadBalancers[0].LoadBalancerArn)
	alb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("conf-alb"), SecurityGroups: []string{f.groups[1]}})
	check(err)
	f.alb = aws.ToString(alb.LoadBalancers[0].LoadBalancerArn)

	tg := func(name string, p types.ProtocolEnum) string {
		out, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: p, Port: aws.Int32(8080),
			TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000")})
		check(err)
		return aws.ToString(out.TargetGroups[0].TargetGroupArn)
	}
	f.tgTCP, f.tgHTTP, f.tgTLS = tg("conf-tcp", types.ProtocolEnumTcp), tg("conf-http", types.ProtocolEnumHttp), tg("conf-tls", types.ProtocolEnumTls)
	f.target = tn.backend("a", 1)
	_, err = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: &f.tgTCP, Targets: []types.TargetDescription{{Id: &f.target}}})
	check(err)

	certs := acm.New(acm.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), Credentials: staticCredentials(keyID, secretKey), HTTPClient: s.httpClient()})
	for i, host := range []string{"conf.example.com", "conf2.example.com"} {
		certPEM, keyPEM := abuseSelfSigned(t, host)
		imp, err := certs.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM})
		check(err)
		if i == 0 {
			f.cert = aws.ToString(imp.CertificateArn)
		} else {
			f.cert2 = aws.ToString(imp.CertificateArn)
		}
	}

	listener := func(lb string, p types.ProtocolEnum, port int32, tg string, cert string) string {
		in := &elbv2.CreateListenerInput{LoadBalancerArn: &lb, Protocol: p, Port: aws.Int32(port),
			DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: &tg}}}
		if cert != "" {
			in.Certificates = []types.Certificate{{CertificateArn: &cert}}
		}
		out, err := c.CreateListener(ctx, in)
		check(err)
		return aws.ToString(out.Listeners[0].ListenerArn)
	}
	f.tcpListener = listener(f.nlb, types.ProtocolEnumTcp, 80, f.tgTCP, "")
	f.tlsListen = listener(f.nlb, types.ProtocolEnumTls, 443, f.tgTLS, f.cert)
	f.httpListen = listener(f.alb, types.ProtocolEnumHttp, 80, f.tgHTTP, "")
	f.httpsListener = listener(f.alb, types.ProtocolEnumHttps, 443, f.tgHTTP, f.cert)
	rule, err := c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: &f.httpListen, Priority: aws.Int32(10),
		Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &types.PathPatternConditionConfig{Values: []string{"/conf/*"}}}},
		Actions:    []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: &f.tgHTTP}}})
	check(err)
	f.rule = aws.ToString(rule.Rules[0].RuleArn)
	return f
}

// errCode is the API error code of err, "" for nil.
func errCode(err error) string { return abuseCode(err) }

// TestConformance runs every case against one kelb server, in order (some
// cases build on earlier ones), and reports the cases per operation.
func TestConformance(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	f := newConfFixture(t, s, tn)
	ctx := context.Background()
	cases := conformanceCases()
	counts := map[string]int{}
	for _, cc := range cases {
		counts[cc.op]++
		t.Run(cc.op+"/"+cc.name, func(t *testing.T) {
			err := cc.call(ctx, s.ELB, f)
			got := errCode(err)
			switch {
			case cc.code == "" && err != nil:
				t.Errorf("%s: %v, want success", cc.op, err)
			case cc.code != "" && got != cc.code:
				t.Errorf("%s: %q (%v), want %s", cc.op, got, err, cc.code)
			}
		})
	}

	cli := conformanceCLI(t, s, f)
	var missing []string
	var report strings.Builder
	total := 0
	for _, op := range modelOperations(t) {
		if counts[op] == 0 {
			missing = append(missing, op)
		}
		total += counts[op]
		fmt.Fprintf(&report, "\n  %-36s sdk %2d  cli %d  boto3 %d", op, counts[op], cli.aws[op], cli.boto3[op])
	}
	t.Logf("conformance cases by operation (%d aws-sdk-go-v2 cases, %d aws CLI, %d boto3):%s", total, cli.total(cli.aws), cli.total(cli.boto3), report.String())
	if len(missing) > 0 {
		t.Errorf("operations of the model without a conformance case: %v", missing)
	}
	if len(cases) != total {
		t.Errorf("%d cases name an operation the model does not have", len(cases)-total)
	}
}
