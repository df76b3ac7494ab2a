// Package e2e runs kelb's end-to-end tests in a local environment brought
// up once per run by kelb up (see package framework).
package e2e

import (
	"os"
	"testing"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

func TestMain(m *testing.M) {
	os.Exit(framework.Main(m, framework.Options{Nodes: 3}))
}
