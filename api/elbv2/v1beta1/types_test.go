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

// The generated CRDs carry the AWS Load Balancer Controller's versions,
// printer columns and scopes, which kubectl get shows: TargetGroupBinding
// serves v1alpha1 too, stored as v1beta1, with no conversion webhook.
func TestCRDs(t *testing.T) {
	type version struct {
		name            string
		storage         bool
		columns         []string
		specFields      []string
		forbiddenFields []string
	}
	tests := []struct {
		file     string
		scope    apiextensionsv1.ResourceScope
		versions []version
	}{
		{"elbv2.k8s.aws_targetgroupbindings.yaml", apiextensionsv1.NamespaceScoped, []version{
			{"v1alpha1", false, []string{"SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "ARN", "NAME", "AGE"},
				[]string{"targetGroupARN", "targetGroupName", "targetType", "serviceRef", "networking", "iamRoleArnToAssume", "assumeRoleExternalId", "registerTargetsWithPodAvailabilityZone", "multiClusterTargetGroup"},
				[]string{"nodeSelector", "ipAddressType", "vpcID", "targetGroupProtocol"}},
			{"v1beta1", true, []string{"SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "NAME", "ARN", "AGE"},
				[]string{"targetGroupARN", "targetGroupName", "targetType", "targetGroupProtocol", "serviceRef", "networking", "nodeSelector", "ipAddressType", "vpcID", "iamRoleArnToAssume", "assumeRoleExternalId", "registerTargetsWithPodAvailabilityZone", "multiClusterTargetGroup"}, nil},
		}},
		{"elbv2.k8s.aws_ingressclassparams.yaml", apiextensionsv1.ClusterScoped, []version{
			{"v1beta1", true, []string{"GROUP-NAME", "SCHEME", "IP-ADDRESS-TYPE", "AGE"},
				[]string{"loadBalancerName", "certificateArn", "namespaceSelector", "group", "scheme", "inboundCIDRs", "sslPolicy", "sslRedirectPort", "subnets", "ipAddressType", "tags", "targetType", "loadBalancerAttributes", "listeners", "minimumLoadBalancerCapacity", "ipamConfiguration", "PrefixListsIDs", "prefixListsIDs", "wafv2AclArn", "wafv2AclName"}, nil},
		}},
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
			if c := crd.Spec.Conversion; c != nil && c.Strategy != apiextensionsv1.NoneConverter {
				t.Errorf("conversion = %s, want None", c.Strategy)
			}
			if len(crd.Spec.Versions) != len(tt.versions) {
				t.Fatalf("%d versions, want %d", len(crd.Spec.Versions), len(tt.versions))
			}
			for i, want := range tt.versions {
				v := crd.Spec.Versions[i]
				if v.Name != want.name || v.Storage != want.storage || !v.Served {
					t.Errorf("version %d = %s storage %v served %v, want %s storage %v served", i, v.Name, v.Storage, v.Served, want.name, want.storage)
				}
				var got []string
				for _, c := range v.AdditionalPrinterColumns {
					got = append(got, c.Name)
				}
				if diff := cmp.Diff(want.columns, got); diff != "" {
					t.Errorf("%s printer columns (-want +got):\n%s", v.Name, diff)
				}
				spec := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties
				for _, f := range want.specFields {
					if _, ok := spec[f]; !ok {
						t.Errorf("%s spec lacks %s", v.Name, f)
					}
				}
				for _, f := range want.forbiddenFields {
					if _, ok := spec[f]; ok {
						t.Errorf("%s spec has %s, which the AWS Load Balancer Controller's does not", v.Name, f)
					}
				}
			}
		})
	}
}
