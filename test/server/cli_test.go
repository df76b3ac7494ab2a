package server_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// shell runs script with bash, the aws CLI and boto3 pointed at s through
// the environment alone, and returns its standard output.
func (s *kelbServer) shell(t *testing.T, script string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"AWS_CONFIG_FILE="+home+"/config",
		"AWS_SHARED_CREDENTIALS_FILE="+home+"/credentials",
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2="+s.APIURL,
		"AWS_ACCESS_KEY_ID="+keyID,
		"AWS_SECRET_ACCESS_KEY="+secretKey,
		"AWS_DEFAULT_REGION="+region,
		"AWS_PAGER=",
	)
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("script failed: %v\n--- script\n%s\n--- stdout\n%s\n--- stderr\n%s", err, script, out, stderr.String())
	}
	return string(out)
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// TestAWSCLIWalkthrough builds a load balancer with the aws CLI, runs the
// seeds' inspection commands verbatim, and sends traffic through it.
func TestAWSCLIWalkthrough(t *testing.T) {
	t.Parallel()
	requireTools(t, "aws", "jq")
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b1 := startEchoBackend(t, "deploy-echo-1", tn.backend("a", 1)+":8080")
	b2 := startEchoBackend(t, "deploy-echo-2", tn.backend("a", 2)+":8080")

	create := `
LB_ARN=$(aws elbv2 create-load-balancer --name k8s-default-demo-0123456789 --type network --scheme internal \
  --tags Key=elbv2.k8s.aws/cluster,Value=demo --query 'LoadBalancers[0].LoadBalancerArn' --output text)
TG_ARN=$(aws elbv2 create-target-group --name k8s-default-demo-tg --protocol TCP --port 8080 --target-type ip \
  --vpc-id vpc-0ce1b000000000000 --health-check-interval-seconds 5 --healthy-threshold-count 2 --unhealthy-threshold-count 2 \
  --query 'TargetGroups[0].TargetGroupArn' --output text)
aws elbv2 register-targets --target-group-arn "$TG_ARN" --targets Id=$T1,Port=8080 Id=$T2,Port=8080
aws elbv2 create-listener --load-balancer-arn "$LB_ARN" --protocol TCP --port 80 \
  --default-actions Type=forward,TargetGroupArn="$TG_ARN" >/dev/null
aws elbv2 modify-target-group-attributes --target-group-arn "$TG_ARN" \
  --attributes Key=deregistration_delay.timeout_seconds,Value=0 >/dev/null
echo "$LB_ARN"
`
	lbARN := strings.TrimSpace(s.shell(t, create, "T1="+tn.backend("a", 1), "T2="+tn.backend("a", 2)))
	if !strings.HasPrefix(lbARN, "arn:aws:elasticloadbalancing:"+region+":") {
		t.Fatalf("create-load-balancer returned %q", lbARN)
	}

	// Seed 000's commands, verbatim but for the load balancer's name.
	seed := "ALB_ARN=$(aws elbv2 describe-load-balancers --query 'LoadBalancers[?contains(LoadBalancerName, `demo`) == `true`].LoadBalancerArn' | jq -r '.[0]')\n" +
		"TARGET_GROUP_ARN=$(aws elbv2 describe-target-groups --load-balancer-arn $ALB_ARN | jq -r '.TargetGroups[0].TargetGroupArn')\n" +
		"aws elbv2 describe-target-health --target-group-arn $TARGET_GROUP_ARN\n"
	type health struct {
		TargetHealthDescriptions []struct {
			Target struct {
				Id               string
				Port             int
				AvailabilityZone string
			}
			HealthCheckPort string
			TargetHealth    struct{ State, Reason, Description string }
		}
	}
	var h health
	eventually(t, 30*time.Second, "both targets healthy in aws elbv2 describe-target-health", func() error {
		out := s.shell(t, seed)
		h = health{}
		if err := json.Unmarshal([]byte(out), &h); err != nil {
			return err
		}
		var states []string
		for _, d := range h.TargetHealthDescriptions {
			states = append(states, d.TargetHealth.State)
		}
		if !cmp.Equal(states, []string{"healthy", "healthy"}) {
			return errNotYetf("states %v", states)
		}
		return nil
	})
	for _, d := range h.TargetHealthDescriptions {
		if d.Target.Port != 8080 || d.Target.AvailabilityZone != region+"a" || d.HealthCheckPort != "8080" {
			t.Errorf("describe-target-health: %+v", d)
		}
	}

	// Seed 004's commands.
	if got := strings.TrimSpace(s.shell(t, "aws elbv2 describe-load-balancers | jq -r '.LoadBalancers[0].LoadBalancerArn'")); got != lbARN {
		t.Errorf("describe-load-balancers | jq: %q, want %q", got, lbARN)
	}
	if got := strings.TrimSpace(s.shell(t, "aws elbv2 describe-load-balancers --query 'LoadBalancers[*].State.Code' --output text")); got != "active" {
		t.Errorf("State.Code = %q, want active", got)
	}

	// Traffic through the address the CLI reports.
	addr := strings.TrimSpace(s.shell(t, `aws elbv2 describe-load-balancers --names k8s-default-demo-0123456789 \
  --query 'LoadBalancers[0].AvailabilityZones[?ZoneName==`+"`us-west-2a`"+`].LoadBalancerAddresses[0].IpAddress' --output text`))
	got := flowsTo(t, addr+":80", 40)
	t.Logf("through %s:80:\n%s", addr, histogram(got))
	if got[b1.Name] == 0 || got[b2.Name] == 0 {
		t.Errorf("flows did not reach both targets:\n%s", histogram(got))
	}

	// Clean up as a user would; the listener's address is released.
	s.shell(t, `aws elbv2 delete-load-balancer --load-balancer-arn "$LB"
out=$(aws elbv2 describe-load-balancers --names k8s-default-demo-0123456789 2>&1 || true)
grep -q LoadBalancerNotFound <<<"$out"`, "LB="+lbARN)
	eventually(t, 10*time.Second, "the deleted load balancer stops listening", func() error {
		if _, err := whoAnswers(addr + ":80"); err == nil {
			return errNotYetf("%s:80 still answers", addr)
		}
		return nil
	})
}

// TestBoto3 drives the binary with boto3: create a stack, wait for health,
// and read the tags back.
func TestBoto3(t *testing.T) {
	t.Parallel()
	requireTools(t, "python3")
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		t.Skip("boto3 not installed")
	}
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	b := startEchoBackend(t, "boto-target", tn.backend("b", 1)+":9000")
	script := `python3 - <<'PY'
import json, os, socket, time, boto3
c = boto3.client("elbv2", endpoint_url=os.environ["AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"])
lb = c.create_load_balancer(Name="boto-nlb", Type="network", Scheme="internal",
                            Tags=[{"Key": "team", "Value": "kelb"}])["LoadBalancers"][0]
tg = c.create_target_group(Name="boto-tg", Protocol="TCP", Port=9000, TargetType="ip", VpcId="vpc-0ce1b000000000000",
                           HealthCheckIntervalSeconds=5, HealthyThresholdCount=2)["TargetGroups"][0]
c.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": os.environ["TARGET"]}])
c.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=9000,
                  DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
deadline = time.time() + 30
while True:
    h = c.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"][0]
    if h["TargetHealth"]["State"] == "healthy" or time.time() > deadline:
        break
    time.sleep(0.2)
zones = {z["ZoneName"]: z["LoadBalancerAddresses"][0]["IpAddress"] for z in lb["AvailabilityZones"]}
with socket.create_connection((zones["us-west-2b"], 9000), timeout=5) as s:
    greeting = s.makefile().readline().strip()
tags = c.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
print(json.dumps({"health": h["TargetHealth"]["State"], "zone": h["Target"]["AvailabilityZone"],
                  "port": h["Target"]["Port"], "greeting": greeting, "tags": tags}))
PY`
	out := s.shell(t, script, "TARGET="+tn.backend("b", 1))
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("boto3 output %q: %v", out, err)
	}
	want := map[string]any{
		"health": "healthy", "zone": region + "b", "port": float64(9000), "greeting": b.Name,
		"tags": []any{map[string]any{"Key": "team", "Value": "kelb"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("boto3 (-want +got):\n%s", diff)
	}
}
