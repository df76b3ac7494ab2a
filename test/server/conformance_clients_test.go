package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// unsupportedFeatureCases cover the AWS features kelb answers for without
// having them (capacity reservations, IPAM pools, resource policies), and
// the trust store operations' errors for a bundle and trust stores that do
// not exist (mtls_test.go covers the rest).
func unsupportedFeatureCases() []confCase {
	trustStore := "arn:aws:elasticloadbalancing:" + region + ":123456789012:truststore/conf/0123456789abcdef"
	return []confCase{
		{"DescribeCapacityReservation", "no reservation", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeCapacityReservation(ctx, &elbv2.DescribeCapacityReservationInput{LoadBalancerArn: &f.alb})
			if err == nil && (aws.ToInt32(out.DecreaseRequestsRemaining) != 2 || out.MinimumLoadBalancerCapacity != nil || len(out.CapacityReservationState) != 0) {
				return fmt.Errorf("reservation %+v", out)
			}
			return err
		}},
		{"DescribeCapacityReservation", "missing load balancer", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeCapacityReservation(ctx, &elbv2.DescribeCapacityReservationInput{LoadBalancerArn: missing(f.alb)})
			return err
		}},
		{"ModifyCapacityReservation", "neither capacity nor reset", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyCapacityReservation(ctx, &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: &f.alb})
			return err
		}},
		{"ModifyCapacityReservation", "capacity kelb cannot reserve", "InsufficientCapacity", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyCapacityReservation(ctx, &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: &f.alb,
				MinimumLoadBalancerCapacity: &types.MinimumLoadBalancerCapacity{CapacityUnits: aws.Int32(100)}})
			return err
		}},
		{"ModifyCapacityReservation", "an NLB with a TLS listener", "OperationNotPermitted", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyCapacityReservation(ctx, &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: &f.nlb,
				MinimumLoadBalancerCapacity: &types.MinimumLoadBalancerCapacity{CapacityUnits: aws.Int32(100)}})
			return err
		}},
		{"ModifyCapacityReservation", "reset", "", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyCapacityReservation(ctx, &elbv2.ModifyCapacityReservationInput{LoadBalancerArn: &f.alb, ResetCapacityReservation: aws.Bool(true)})
			return err
		}},
		{"ModifyIpPools", "removing the IPv4 pool", "", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: &f.alb, RemoveIpamPools: []types.RemoveIpamPoolEnum{types.RemoveIpamPoolEnumIpv4}})
			return err
		}},
		{"ModifyIpPools", "an NLB", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: &f.nlb, RemoveIpamPools: []types.RemoveIpamPoolEnum{types.RemoveIpamPoolEnumIpv4}})
			return err
		}},
		{"ModifyIpPools", "missing load balancer", "LoadBalancerNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyIpPools(ctx, &elbv2.ModifyIpPoolsInput{LoadBalancerArn: missing(f.alb)})
			return err
		}},
		{"GetResourcePolicy", "a load balancer", "ResourceNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.GetResourcePolicy(ctx, &elbv2.GetResourcePolicyInput{ResourceArn: &f.alb})
			return err
		}},
		{"CreateTrustStore", "an S3 bundle", "CaCertificatesBundleNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTrustStore(ctx, &elbv2.CreateTrustStoreInput{Name: aws.String("conf"), CaCertificatesBundleS3Bucket: aws.String("b"), CaCertificatesBundleS3Key: aws.String("ca.pem")})
			return err
		}},
		{"CreateTrustStore", "name with --", "ValidationError", func(ctx cx, c cl, f fx) error {
			_, err := c.CreateTrustStore(ctx, &elbv2.CreateTrustStoreInput{Name: aws.String("conf--x"), CaCertificatesBundleS3Bucket: aws.String("b"), CaCertificatesBundleS3Key: aws.String("ca.pem")})
			return err
		}},
		{"DescribeTrustStores", "none", "", func(ctx cx, c cl, f fx) error {
			out, err := c.DescribeTrustStores(ctx, &elbv2.DescribeTrustStoresInput{})
			if err == nil && len(out.TrustStores) != 0 {
				return fmt.Errorf("trust stores %+v", out.TrustStores)
			}
			return err
		}},
		{"DescribeTrustStores", "by name", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeTrustStores(ctx, &elbv2.DescribeTrustStoresInput{Names: []string{"conf"}})
			return err
		}},
		{"ModifyTrustStore", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.ModifyTrustStore(ctx, &elbv2.ModifyTrustStoreInput{TrustStoreArn: &trustStore, CaCertificatesBundleS3Bucket: aws.String("b"), CaCertificatesBundleS3Key: aws.String("k")})
			return err
		}},
		{"DeleteTrustStore", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DeleteTrustStore(ctx, &elbv2.DeleteTrustStoreInput{TrustStoreArn: &trustStore})
			return err
		}},
		{"AddTrustStoreRevocations", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.AddTrustStoreRevocations(ctx, &elbv2.AddTrustStoreRevocationsInput{TrustStoreArn: &trustStore})
			return err
		}},
		{"RemoveTrustStoreRevocations", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.RemoveTrustStoreRevocations(ctx, &elbv2.RemoveTrustStoreRevocationsInput{TrustStoreArn: &trustStore, RevocationIds: []int64{1}})
			return err
		}},
		{"DescribeTrustStoreRevocations", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeTrustStoreRevocations(ctx, &elbv2.DescribeTrustStoreRevocationsInput{TrustStoreArn: &trustStore})
			return err
		}},
		{"DescribeTrustStoreAssociations", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DescribeTrustStoreAssociations(ctx, &elbv2.DescribeTrustStoreAssociationsInput{TrustStoreArn: &trustStore})
			return err
		}},
		{"DeleteSharedTrustStoreAssociation", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.DeleteSharedTrustStoreAssociation(ctx, &elbv2.DeleteSharedTrustStoreAssociationInput{TrustStoreArn: &trustStore, ResourceArn: &f.alb})
			return err
		}},
		{"GetTrustStoreCaCertificatesBundle", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.GetTrustStoreCaCertificatesBundle(ctx, &elbv2.GetTrustStoreCaCertificatesBundleInput{TrustStoreArn: &trustStore})
			return err
		}},
		{"GetTrustStoreRevocationContent", "missing", "TrustStoreNotFound", func(ctx cx, c cl, f fx) error {
			_, err := c.GetTrustStoreRevocationContent(ctx, &elbv2.GetTrustStoreRevocationContentInput{TrustStoreArn: &trustStore, RevocationId: aws.Int64(1)})
			return err
		}},
	}
}

// confCLICounts are the cases run by the aws CLI and by boto3, by
// operation.
type confCLICounts struct {
	aws, boto3 map[string]int
}

func (confCLICounts) total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// conformanceCLI runs a subset of the cases with the aws CLI and with
// boto3: each line is an operation, its arguments, and AWS's answer (an
// error code, or "ok" and a JMESPath-like check done here on the JSON).
func conformanceCLI(t *testing.T, s *kelbServer, f *confFixture) confCLICounts {
	t.Helper()
	counts := confCLICounts{aws: map[string]int{}, boto3: map[string]int{}}
	requireTools(t, "aws", "python3", "jq")
	type cliCase struct {
		op    string
		args  []string       // aws elbv2 <command> args
		boto  map[string]any // boto3 parameters
		code  string
		check func(out map[string]any) error
	}
	nlbAttrs := func(out map[string]any) error {
		lbs, _ := out["LoadBalancers"].([]any)
		if len(lbs) != 1 {
			return fmt.Errorf("load balancers %v", out)
		}
		lb := lbs[0].(map[string]any)
		if lb["EnablePrefixForIpv6SourceNat"] != "off" || lb["IpAddressType"] != "ipv4" {
			return fmt.Errorf("load balancer %v", lb)
		}
		return nil
	}
	cases := []cliCase{
		{"DescribeLoadBalancers", []string{"describe-load-balancers", "--load-balancer-arns", f.nlb},
			map[string]any{"LoadBalancerArns": []string{f.nlb}}, "", nlbAttrs},
		{"SetIpAddressType", []string{"set-ip-address-type", "--load-balancer-arn", f.alb, "--ip-address-type", "dualstack"},
			map[string]any{"LoadBalancerArn": f.alb, "IpAddressType": "dualstack"}, "InvalidSubnet", nil},
		{"SetSubnets", []string{"set-subnets", "--load-balancer-arn", f.nlbBare, "--subnets", f.subnetA, f.subnetB},
			map[string]any{"LoadBalancerArn": f.nlbBare, "Subnets": []string{f.subnetA, f.subnetB}}, "", func(out map[string]any) error {
				if zones, _ := out["AvailabilityZones"].([]any); len(zones) != 2 {
					return fmt.Errorf("zones %v", out["AvailabilityZones"])
				}
				return nil
			}},
		{"SetSecurityGroups", []string{"set-security-groups", "--load-balancer-arn", f.nlbBare, "--security-groups", f.groups[4]},
			map[string]any{"LoadBalancerArn": f.nlbBare, "SecurityGroups": []string{f.groups[4]}}, "InvalidConfigurationRequest", nil},
		{"DescribeTargetHealth", []string{"describe-target-health", "--target-group-arn", f.tgTCP, "--targets", "Id=i-0123456789abcdef0"},
			map[string]any{"TargetGroupArn": f.tgTCP, "Targets": []map[string]any{{"Id": "i-0123456789abcdef0"}}}, "", func(out map[string]any) error {
				d := out["TargetHealthDescriptions"].([]any)[0].(map[string]any)["TargetHealth"].(map[string]any)
				if d["State"] != "unused" || d["Reason"] != "Target.NotRegistered" {
					return fmt.Errorf("health %v", d)
				}
				return nil
			}},
		{"DeregisterTargets", []string{"deregister-targets", "--target-group-arn", f.tgTCP, "--targets", "Id=127.0.0.98,Port=9"},
			map[string]any{"TargetGroupArn": f.tgTCP, "Targets": []map[string]any{{"Id": "127.0.0.98", "Port": 9}}}, "", nil},
		{"CreateTargetGroup", []string{"create-target-group", "--name", "conf-cli", "--protocol", "TCP", "--vpc-id", "vpc-0ce1b000000000000"},
			map[string]any{"Name": "conf-cli", "Protocol": "TCP", "VpcId": "vpc-0ce1b000000000000"}, "ValidationError", nil},
		{"CreateTargetGroup", []string{"create-target-group", "--name", "conf-cli", "--protocol", "TCP", "--port", "80"},
			map[string]any{"Name": "conf-cli", "Protocol": "TCP", "Port": 80}, "ValidationError", nil},
		{"ModifyTargetGroupAttributes", []string{"modify-target-group-attributes", "--target-group-arn", f.tgTLS, "--attributes", "Key=stickiness.enabled,Value=true"},
			map[string]any{"TargetGroupArn": f.tgTLS, "Attributes": []map[string]any{{"Key": "stickiness.enabled", "Value": "true"}}}, "InvalidConfigurationRequest", nil},
		{"DescribeCapacityReservation", []string{"describe-capacity-reservation", "--load-balancer-arn", f.alb},
			map[string]any{"LoadBalancerArn": f.alb}, "", nil},
		{"ModifyCapacityReservation", []string{"modify-capacity-reservation", "--load-balancer-arn", f.alb, "--minimum-load-balancer-capacity", "CapacityUnits=100"},
			map[string]any{"LoadBalancerArn": f.alb, "MinimumLoadBalancerCapacity": map[string]any{"CapacityUnits": 100}}, "InsufficientCapacity", nil},
		{"GetResourcePolicy", []string{"get-resource-policy", "--resource-arn", f.alb},
			map[string]any{"ResourceArn": f.alb}, "ResourceNotFound", nil},
		{"DescribeTrustStores", []string{"describe-trust-stores"}, map[string]any{}, "", nil},
		{"ModifyLoadBalancerAttributes", []string{"modify-load-balancer-attributes", "--load-balancer-arn", f.nlb, "--attributes", "Key=secondary_ips.auto_assigned.per_subnet,Value=8"},
			map[string]any{"LoadBalancerArn": f.nlb, "Attributes": []map[string]any{{"Key": "secondary_ips.auto_assigned.per_subnet", "Value": "8"}}}, "ValidationError", nil},
	}
	// One script per client runs every case and prints one JSON line per
	// case: the output, or the error code.
	var awsScript, pyCases strings.Builder
	awsScript.WriteString("set +e\n")
	for _, cc := range cases {
		awsScript.WriteString("out=$(aws elbv2 --output json")
		for _, a := range cc.args {
			awsScript.WriteString(" " + shellQuote(a))
		}
		awsScript.WriteString(` 2>&1); rc=$?; if [ $rc -eq 0 ]; then printf '%s\n' "${out:-{\}}" | jq -c .; else printf '{"Error":%s}\n' "$(printf '%s' "$out" | grep -o '(.*) when calling' | head -1 | cut -d'(' -f2 | cut -d')' -f1 | jq -R .)"; fi` + "\n")
		b, err := json.Marshal(map[string]any{"op": cc.op, "params": cc.boto})
		if err != nil {
			t.Fatal(err)
		}
		pyCases.Write(b)
		pyCases.WriteString("\n")
	}
	pyScript := `
import json, sys, boto3, botocore
c = boto3.client("elbv2")
for line in sys.stdin.read().splitlines():
    case = json.loads(line)
    name = botocore.xform_name(case["op"])
    try:
        out = getattr(c, name)(**case["params"])
        out.pop("ResponseMetadata", None)
        print(json.dumps(out, default=str))
    except botocore.exceptions.ClientError as e:
        print(json.dumps({"Error": e.response["Error"]["Code"]}))
`
	run := func(client, script string, stdin string) []map[string]any {
		env := []string{"AWS_MAX_ATTEMPTS=1"}
		var out string
		if client == "boto3" {
			out = s.shell(t, "python3 -c "+shellQuote(pyScript)+" <<'EOF'\n"+stdin+"EOF\n", env...)
		} else {
			out = s.shell(t, script, env...)
		}
		var res []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%s printed %q: %v", client, line, err)
			}
			res = append(res, m)
		}
		if len(res) != len(cases) {
			t.Fatalf("%s answered %d cases of %d:\n%s", client, len(res), len(cases), out)
		}
		return res
	}
	for _, client := range []string{"aws", "boto3"} {
		res := run(client, awsScript.String(), pyCases.String())
		for i, cc := range cases {
			got, _ := res[i]["Error"].(string)
			t.Run(client+"/"+cc.op, func(t *testing.T) {
				switch {
				case got != cc.code:
					t.Errorf("%s %s: error %q, want %q (%v)", client, cc.op, got, cc.code, res[i])
				case cc.check != nil:
					if err := cc.check(res[i]); err != nil {
						t.Errorf("%s %s: %v", client, cc.op, err)
					}
				}
			})
			if client == "aws" {
				counts.aws[cc.op]++
			} else {
				counts.boto3[cc.op]++
			}
		}
	}
	return counts
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
