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
