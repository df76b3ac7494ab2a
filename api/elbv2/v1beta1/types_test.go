package v1beta1

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// A TargetGroupBinding as the AWS Load Balancer Controller writes it decodes
// into these types and survives a deep copy and a round trip.
func TestTargetGroupBindingDecode(t *testing.T) {
	const manifest = `
apiVersion: elbv2.k8s.aws/v1beta1
kind: TargetGroupBinding
metadata:
  name: k8s-game2048-service2-85c505d625
  namespace: game-2048
spec:
  targetGroupARN: arn:aws:elasticloadbalancing:us-west-2:000000000000:targetgroup/k8s-game2048-service2-85c505d625/0123456789abcdef
  targetType: ip
  ipAddressType: ipv4
  serviceRef:
    name: service-2048
    port: 80
  networking:
    ingress:
    - from:
      - securityGroup:
          groupID: sg-0123
      ports:
      - protocol: TCP
        port: http
  nodeSelector:
    matchLabels:
      pool: a
status:
  observedGeneration: 2
`
	var tgb TargetGroupBinding
	if err := yaml.UnmarshalStrict([]byte(manifest), &tgb); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got, want := tgb.Spec.ServiceRef.Port, intstr.FromInt32(80); got != want {
		t.Errorf("serviceRef.port = %v, want %v", got, want)
	}
	if got := *tgb.Spec.Networking.Ingress[0].Ports[0].Port; got != intstr.FromString("http") {
		t.Errorf("networking port = %v, want the name http", got)
	}
	cp := tgb.DeepCopy()
	cp.Spec.NodeSelector.MatchLabels["pool"] = "b"
	if tgb.Spec.NodeSelector.MatchLabels["pool"] != "a" {
		t.Error("DeepCopy shares the node selector with the original")
	}
	raw, err := json.Marshal(&tgb)
	if err != nil {
		t.Fatal(err)
	}
	var back TargetGroupBinding
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tgb, back); diff != "" {
		t.Errorf("round trip (-before +after):\n%s", diff)
	}
}

func TestSchemeRegistersKinds(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"TargetGroupBinding", "TargetGroupBindingList", "IngressClassParams", "IngressClassParamsList"} {
		if !s.Recognizes(GroupVersion.WithKind(kind)) {
			t.Errorf("scheme does not know %s", kind)
		}
	}
}

// The generated CRDs carry the AWS Load Balancer Controller's printer
// columns and scopes, which kubectl get shows.
func TestCRDs(t *testing.T) {
	tests := []struct {
		file    string
		scope   apiextensionsv1.ResourceScope
		columns []string
	}{
		{"elbv2.k8s.aws_targetgroupbindings.yaml", apiextensionsv1.NamespaceScoped, []string{"SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "NAME", "ARN", "AGE"}},
		{"elbv2.k8s.aws_ingressclassparams.yaml", apiextensionsv1.ClusterScoped, []string{"GROUP-NAME", "SCHEME", "IP-ADDRESS-TYPE", "AGE"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile("../../../config/crd/bases/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.Unmarshal(raw, &crd); err != nil {
				t.Fatal(err)
			}
			if crd.Spec.Scope != tt.scope {
				t.Errorf("scope = %s, want %s", crd.Spec.Scope, tt.scope)
			}
			if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1beta1" || !crd.Spec.Versions[0].Storage {
				t.Fatalf("versions = %+v, want v1beta1 as storage", crd.Spec.Versions)
			}
			var got []string
			for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
				got = append(got, c.Name)
			}
			if diff := cmp.Diff(tt.columns, got); diff != "" {
				t.Errorf("printer columns (-want +got):\n%s", diff)
			}
		})
	}
}
