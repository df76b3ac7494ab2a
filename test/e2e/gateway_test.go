package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/test/e2e/framework"
)

// conditionsJSON is the status.conditions of an object as kubectl gives
// them.
type conditionsJSON struct {
	Status struct {
		Conditions []struct {
			Type, Status, Reason, Message string
		} `json:"conditions"`
	} `json:"status"`
}

func (c conditionsJSON) get(t string) (status, reason string) {
	for _, x := range c.Status.Conditions {
		if x.Type == t {
			return x.Status, x.Reason
		}
	}
	return "", ""
}

// TestGatewayClassesAccepted: kelb up installs the Gateway API CRDs and
// creates the ALB and NLB GatewayClasses, which kelb controller accepts.
func TestGatewayClassesAccepted(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	for _, class := range []string{devcluster.GatewayClassALB, devcluster.GatewayClassNLB} {
		framework.Eventually(t, time.Minute, func() error {
			out, err := env.Shell(t.Context(), "", "kubectl", "get", "gatewayclass", class, "-o", "json")
			if err != nil {
				return err
			}
			var c conditionsJSON
			if err := json.Unmarshal([]byte(out), &c); err != nil {
				return err
			}
			if s, r := c.get("Accepted"); s != "True" || r != "Accepted" {
				return fmt.Errorf("GatewayClass %s: Accepted %s/%s", class, s, r)
			}
			return nil
		})
	}
}

// gatewayJSON is what the tests read of a Gateway.
type gatewayJSON struct {
	Status struct {
		Addresses  []struct{ Type, Value string }
		Conditions []struct{ Type, Status, Reason, Message string }
	} `json:"status"`
}

// gatewayAddress waits for Gateway ns/name to be Programmed and returns
// its address (the load balancer's DNS name).
func gatewayAddress(t *testing.T, env *framework.Env, ns, name string) string {
	t.Helper()
	var addr string
	framework.Eventually(t, 2*time.Minute, func() error {
		var gw gatewayJSON
		out, err := env.Shell(t.Context(), "", "kubectl", "get", "gateway", "-n", ns, name, "-o", "json")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), &gw); err != nil {
			return err
		}
		programmed := false
		for _, c := range gw.Status.Conditions {
			programmed = programmed || c.Type == "Programmed" && c.Status == "True"
		}
		if !programmed || len(gw.Status.Addresses) == 0 || gw.Status.Addresses[0].Type != "Hostname" {
			return fmt.Errorf("Gateway %s/%s not programmed with a hostname address: %+v", ns, name, gw.Status)
		}
		addr = gw.Status.Addresses[0].Value
		return nil
	})
	return addr
}

// routeParentCondition returns the status and reason of condition typ of
// the first parent entry of route kind ns/name.
func routeParentCondition(t *testing.T, env *framework.Env, kind, ns, name, typ string) (status, reason, message string) {
	t.Helper()
	var r struct {
		Status struct {
			Parents []struct {
				ControllerName string
				Conditions     []struct{ Type, Status, Reason, Message string }
			}
		}
	}
	out, err := env.Shell(t.Context(), "", "kubectl", "get", kind, "-n", ns, name, "-o", "json")
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", kind, ns, name, err)
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Status.Parents {
		for _, c := range p.Conditions {
			if c.Type == typ {
				return c.Status, c.Reason, c.Message
			}
		}
	}
	return "", "", ""
}

// waitRouteCondition waits until route kind ns/name has condition typ with
// status and reason.
func waitRouteCondition(t *testing.T, env *framework.Env, kind, ns, name, typ, status, reason string) string {
	t.Helper()
	var msg string
	framework.Eventually(t, time.Minute, func() error {
		s, r, m := routeParentCondition(t, env, kind, ns, name, typ)
		if s != status || r != reason {
			return fmt.Errorf("%s %s/%s: %s %s/%s (%s), want %s/%s", kind, ns, name, typ, s, r, m, status, reason)
		}
		msg = m
		return nil
	})
	return msg
}

const l4Backend = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: l4
spec:
  replicas: 1
  selector:
    matchLabels: {app: l4}
  template:
    metadata:
      labels: {app: l4}
    spec:
      containers:
      - name: echo
        image: k8s.gcr.io/e2e-test-images/echoserver:2.5
        ports:
        - {containerPort: 9000, protocol: TCP}
        - {containerPort: 9053, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata:
  name: l4
spec:
  selector: {app: l4}
  ports:
  - {name: tcp, port: 9000, targetPort: 9000, protocol: TCP}
  - {name: udp, port: 9053, targetPort: 9053, protocol: UDP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: nlb
spec:
  gatewayClassName: aws-nlb-gateway-class
  listeners:
  - {name: tcp, protocol: TCP, port: 9000}
  - {name: udp, protocol: UDP, port: 9053}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata:
  name: tcp
spec:
  parentRefs: [{name: nlb, sectionName: tcp}]
  rules:
  - backendRefs: [{name: l4, port: 9000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata:
  name: udp
spec:
  parentRefs: [{name: nlb, sectionName: udp}]
  rules:
  - backendRefs: [{name: l4, port: 9053}]
`

// TestGatewayTCPAndUDPRoutes: a Gateway of the NLB class with a TCP and a
// UDP listener gets a network load balancer; its TCPRoute and UDPRoute
// are Accepted and a TCP stream and a UDP datagram sent to the Gateway's
// address come back from the pod.
func TestGatewayTCPAndUDPRoutes(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	env.Apply(t, ns, l4Backend)
	waitReadyPods(t, env, ns, "app=l4", 1)
	host := gatewayAddress(t, env, ns, "nlb")
	waitRouteCondition(t, env, "tcproute", ns, "tcp", "Accepted", "True", "Accepted")
	waitRouteCondition(t, env, "udproute", ns, "udp", "Accepted", "True", "Accepted")
	waitRouteCondition(t, env, "udproute", ns, "udp", "ResolvedRefs", "True", "ResolvedRefs")

	for _, proto := range []string{"tcp", "udp"} {
		port := map[string]string{"tcp": "9000", "udp": "9053"}[proto]
		// bash's /dev/tcp and /dev/udp, resolved by the environment's DNS.
		script := fmt.Sprintf(`exec 3<>/dev/%s/%s/%s && printf 'ping-%s\n' >&3 && timeout 3 head -n1 <&3`, proto, host, port, proto)
		framework.Eventually(t, 2*time.Minute, func() error {
			out, err := env.Shell(t.Context(), "", "bash", "-c", script)
			if err != nil {
				return err
			}
			if strings.TrimSpace(out) != "ping-"+proto {
				return fmt.Errorf("%s %s:%s answered %q, want the echo of ping-%s", proto, host, port, out, proto)
			}
			return nil
		})
	}
}

// configuredGateway is an ALB Gateway whose LoadBalancerConfiguration sets
// an attribute and a tag, with a route to Service v1, whose
// TargetGroupConfiguration sets its health check interval.
const configuredGateway = `apiVersion: gateway.k8s.aws/v1
kind: LoadBalancerConfiguration
metadata:
  name: edge
spec:
  loadBalancerAttributes:
  - {key: idle_timeout.timeout_seconds, value: "120"}
  tags: {team: shop}
---
apiVersion: gateway.k8s.aws/v1
kind: TargetGroupConfiguration
metadata:
  name: v1
spec:
  targetReference: {name: v1}
  defaultConfiguration:
    healthCheckConfig: {healthCheckInterval: 10, healthCheckPath: /}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: configured
spec:
  gatewayClassName: aws-alb-gateway-class
  infrastructure:
    parametersRef: {group: gateway.k8s.aws, kind: LoadBalancerConfiguration, name: edge}
  listeners:
  - {name: http, protocol: HTTP, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: configured}]
  rules:
  - backendRefs: [{name: v1, port: 80}]
`

// TestGatewayConfiguration: a Gateway's LoadBalancerConfiguration and its
// backend's TargetGroupConfiguration reach kelb server (an attribute, a
// tag, a health check interval, as describe-* report them), the Gateway
// gets a managed security group admitting its listener's port, and a bad
// value (a source range that is no CIDR) makes the Gateway's parameters
// invalid, naming the field, without changing the load balancer, which
// keeps serving.
func TestGatewayConfiguration(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	env.Apply(t, ns, albDeployment("v1", 1)+"---\n"+configuredGateway)
	v1 := waitReadyPods(t, env, ns, "app=v1", 1)[0]
	host := gatewayAddress(t, env, ns, "configured")
	lb := loadBalancerByDNS(t, env, host)
	url := "http://" + host + "/"
	framework.Eventually(t, 2*time.Minute, func() error {
		if got := hostnames(t, env, url, 3); got[v1] != 3 {
			return fmt.Errorf("answered by %v, want %s", got, v1)
		}
		return nil
	})

	var attrs struct{ Attributes []struct{ Key, Value string } }
	if err := awsJSON(t, env, &attrs, "elbv2", "describe-load-balancer-attributes", "--load-balancer-arn", lb.LoadBalancerArn); err != nil {
		t.Fatal(err)
	}
	idle := ""
	for _, a := range attrs.Attributes {
		if a.Key == "idle_timeout.timeout_seconds" {
			idle = a.Value
		}
	}
	if idle != "120" {
		t.Errorf("idle_timeout.timeout_seconds %q, want 120 from the LoadBalancerConfiguration", idle)
	}
	var tags struct {
		TagDescriptions []struct{ Tags []struct{ Key, Value string } }
	}
	if err := awsJSON(t, env, &tags, "elbv2", "describe-tags", "--resource-arns", lb.LoadBalancerArn); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(tags), "{team shop}") {
		t.Errorf("load balancer tags %v lack team=shop", tags)
	}
	var tgs struct {
		TargetGroups []struct{ HealthCheckIntervalSeconds int }
	}
	if err := awsJSON(t, env, &tgs, "elbv2", "describe-target-groups", "--load-balancer-arn", lb.LoadBalancerArn); err != nil {
		t.Fatal(err)
	}
	if len(tgs.TargetGroups) != 1 || tgs.TargetGroups[0].HealthCheckIntervalSeconds != 10 {
		t.Errorf("target groups %+v, want one with a 10 s health check interval", tgs.TargetGroups)
	}
	var lbs struct {
		LoadBalancers []struct{ SecurityGroups []string }
	}
	if err := awsJSON(t, env, &lbs, "elbv2", "describe-load-balancers", "--load-balancer-arns", lb.LoadBalancerArn); err != nil {
		t.Fatal(err)
	}
	var sgs struct {
		SecurityGroups []struct {
			GroupId       string
			IpPermissions []struct {
				FromPort int
				IpRanges []struct{ CidrIp string }
			}
		}
	}
	if err := awsJSON(t, env, &sgs, "ec2", "describe-security-groups", "--filters", "Name=tag:gateway.k8s.aws.alb/stack,Values="+ns+"/configured"); err != nil {
		t.Fatal(err)
	}
	if len(sgs.SecurityGroups) != 1 || len(lbs.LoadBalancers) != 1 || fmt.Sprint(lbs.LoadBalancers[0].SecurityGroups) != fmt.Sprint([]string{sgs.SecurityGroups[0].GroupId}) ||
		fmt.Sprint(sgs.SecurityGroups[0].IpPermissions) != "[{80 [{0.0.0.0/0}]}]" {
		t.Errorf("managed security group %+v, load balancer's groups %+v; want one group admitting 0.0.0.0/0 to port 80, on the load balancer", sgs, lbs)
	}

	before := albConfig(t, env, lb.LoadBalancerArn)
	env.Apply(t, ns, `apiVersion: gateway.k8s.aws/v1
kind: LoadBalancerConfiguration
metadata:
  name: edge
spec:
  loadBalancerAttributes:
  - {key: idle_timeout.timeout_seconds, value: "30"}
  sourceRanges: [not-a-cidr]
`)
	framework.Eventually(t, time.Minute, func() error {
		var gw gatewayJSON
		out, err := env.Shell(t.Context(), "", "kubectl", "get", "gateway", "-n", ns, "configured", "-o", "json")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), &gw); err != nil {
			return err
		}
		for _, c := range gw.Status.Conditions {
			if c.Type == "Accepted" && c.Status == "False" && c.Reason == "InvalidParameters" && strings.Contains(c.Message, "spec.sourceRanges") {
				return nil
			}
		}
		return fmt.Errorf("Gateway conditions %+v, want Accepted False InvalidParameters naming spec.sourceRanges", gw.Status.Conditions)
	})
	framework.Eventually(t, time.Minute, func() error {
		if evs := ingressEvents(t, env, ns, "configured"); !strings.Contains(evs, "Warning InvalidConfiguration: spec.sourceRanges") {
			return fmt.Errorf("Gateway events %q lack an InvalidConfiguration Warning naming spec.sourceRanges", evs)
		}
		return nil
	})
	if after := albConfig(t, env, lb.LoadBalancerArn); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the invalid configuration changed the load balancer:\nbefore %v\nafter  %v", before, after)
	}
	if got := hostnames(t, env, url, 3); got[v1] != 3 {
		t.Errorf("with the invalid configuration answered by %v, want %s", got, v1)
	}
}
