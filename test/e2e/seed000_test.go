package e2e

import (
	"testing"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// TestSeed000IPMode follows the walkthrough of an NLB in IP mode: the
// Service's load balancer registers each pod of the ui Deployment as a
// target, follows kubectl scale, and answers on its DNS name
// (framework.Seed000).
func TestSeed000IPMode(t *testing.T) {
	framework.Seed000(t, framework.Get(t))
}
