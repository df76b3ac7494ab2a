// Package fleet runs kelb's end-to-end tests of a fleet: kelb up
// --lb-nodes 3 over two zones (lb1 and lb3 serve us-west-2a, lb2 alone
// serves us-west-2b), in an environment of its own (<KELB_E2E_NAME>-fleet),
// brought up after package e2e's has gone when go test runs both. The
// tests kill lb nodes and etcd members by their recorded PIDs and start
// them again the way kelb up does; each leaves the fleet whole for the
// next. Without BIRD 2 or nft every test skips, saying how to install it.
//
// Figures (seconds from a node's death to traffic resuming, requests
// failed, propagation of an API write to every node's data plane, API
// writes per second on the fleet's etcd) are logged with t.Log, never
// asserted.
package fleet

import (
	"os"
	"testing"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

func TestMain(m *testing.M) {
	os.Exit(framework.Main(m, framework.Options{
		Nodes:       3,
		NameSuffix:  "-fleet",
		ExtraUpArgs: []string{"--lb-nodes", "3", "--zones", "us-west-2a,us-west-2b"},
		Commands:    map[string]string{"bird": "apt-get install bird2", "nft": "apt-get install nftables"},
	}))
}
