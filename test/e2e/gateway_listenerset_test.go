package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// listenerSetGateway is an ALB Gateway on port 80 that admits the
// ListenerSets of its namespace, a ListenerSet adding a listener on port
// 8080, and a route to Service v1 attached to that listener only.
const listenerSetGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: shared
spec:
  gatewayClassName: aws-alb-gateway-class
  allowedListeners:
    namespaces: {from: Same}
  listeners:
  - {name: http, protocol: HTTP, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata:
  name: team
spec:
  parentRef: {name: shared}
  listeners:
  - {name: extra, protocol: HTTP, port: 8080}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: on-set
spec:
  parentRefs: [{group: gateway.networking.k8s.io, kind: ListenerSet, name: team, sectionName: extra}]
  rules:
  - backendRefs: [{name: v1, port: 80}]
`

// TestGatewayListenerSet: a ListenerSet's listener on a new port becomes
// a listener of its Gateway's load balancer, serving the route attached
// to it; the set is Accepted and Programmed, its listener counts the
// route, and the Gateway counts the set in status.attachedListenerSets.
func TestGatewayListenerSet(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	env.Apply(t, ns, albDeployment("v1", 1)+"---\n"+listenerSetGateway)
	v1 := waitReadyPods(t, env, ns, "app=v1", 1)[0]
	host := gatewayAddress(t, env, ns, "shared")
	waitRouteCondition(t, env, "httproute", ns, "on-set", "Accepted", "True", "Accepted")
	url := "http://" + host + ":8080/"
	framework.Eventually(t, 2*time.Minute, func() error {
		if got := hostnames(t, env, url, 3); got[v1] != 3 {
			return fmt.Errorf("%s answered by %v, want %s", url, got, v1)
		}
		return nil
	})

	framework.Eventually(t, time.Minute, func() error {
		var ls struct {
			Status struct {
				Conditions []struct{ Type, Status, Reason string }
				Listeners  []struct {
					Name           string
					AttachedRoutes int
				}
			}
		}
		out, err := env.Shell(t.Context(), "", "kubectl", "get", "listenerset", "-n", ns, "team", "-o", "json")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), &ls); err != nil {
			return err
		}
		if fmt.Sprint(ls.Status.Conditions) != "[{Accepted True Accepted} {Programmed True Programmed}]" ||
			fmt.Sprint(ls.Status.Listeners) != "[{extra 1}]" {
			return fmt.Errorf("ListenerSet status %+v, want Accepted and Programmed, listener extra with 1 route", ls.Status)
		}
		var gw struct {
			Status struct{ AttachedListenerSets *int }
		}
		out, err = env.Shell(t.Context(), "", "kubectl", "get", "gateway", "-n", ns, "shared", "-o", "json")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), &gw); err != nil {
			return err
		}
		if gw.Status.AttachedListenerSets == nil || *gw.Status.AttachedListenerSets != 1 {
			return fmt.Errorf("Gateway status.attachedListenerSets %v, want 1", gw.Status.AttachedListenerSets)
		}
		return nil
	})
}
