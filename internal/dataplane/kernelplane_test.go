package dataplane_test

import (
	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/dataplane/kernel"
)

// The behaviour suite of plane_test.go runs against the kernel plane too.
func init() {
	dataplane.KernelPlaneForTest = func(opts dataplane.Options) (dataplane.TestPlane, error) {
		return kernel.NewSwitch(kernel.ModeKernel, opts, kernel.Options{})
	}
}
