package conformance

import (
	"io/fs"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/gateway-api/conformance"
	"sigs.k8s.io/gateway-api/conformance/utils/kubernetes"
)

// TestBaseWithoutGatewayReadiness checks the nlb run's base manifests:
// every Gateway annotated, every other object as the suite wrote it.
func TestBaseWithoutGatewayReadiness(t *testing.T) {
	orig, err := fs.ReadFile(&conformance.Manifests, "base/manifests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := baseWithoutGatewayReadiness()
	if err != nil {
		t.Fatal(err)
	}
	decode := func(b []byte) []map[string]any {
		var objs []map[string]any
		d := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(b)), 4096)
		for {
			var o map[string]any
			if err := d.Decode(&o); err != nil {
				break
			}
			if o != nil {
				objs = append(objs, o)
			}
		}
		return objs
	}
	before, after := decode(orig), decode(got)
	if len(before) == 0 || len(before) != len(after) {
		t.Fatalf("%d objects before, %d after", len(before), len(after))
	}
	gateways := 0
	for i, o := range after {
		meta := o["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		if o["kind"] == "Gateway" {
			gateways++
			if ann[kubernetes.GatewayExcludedFromReadinessChecks] != "true" {
				t.Errorf("Gateway %v not annotated", meta["name"])
			}
			continue
		}
		if ann[kubernetes.GatewayExcludedFromReadinessChecks] != nil {
			t.Errorf("%v %v annotated", o["kind"], meta["name"])
		}
		if before[i]["kind"] != o["kind"] {
			t.Errorf("object %d: %v became %v", i, before[i]["kind"], o["kind"])
		}
	}
	if gateways != 4 {
		t.Errorf("%d Gateways, want the base manifests' 4", gateways)
	}
	if strings.Count(string(got), "{GATEWAY_CLASS_NAME}") != strings.Count(string(orig), "{GATEWAY_CLASS_NAME}") {
		t.Error("the GatewayClass template was lost")
	}
}
