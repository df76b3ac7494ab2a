package e2e

import (
	"encoding/json"
	"fmt"
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
