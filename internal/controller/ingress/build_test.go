package ingress

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testOptions = BuildOptions{
	ClusterName: "kelb",
	DefaultTags: map[string]string{"owner": "platform"},
}

// world is the objects of a testdata manifest.
type world struct {
	ingresses  []networkingv1.Ingress
	services   map[types.NamespacedName]*corev1.Service
	classes    Classes
	namespaces map[string]map[string]string
}

// loadWorld reads a multi-document manifest, keeping the kinds the
// builder reads and filling in what the API server would on creation:
// default namespaces, UIDs, protocols, target ports and node ports.
func loadWorld(t *testing.T, path string) *world {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{services: map[types.NamespacedName]*corev1.Service{}, namespaces: map[string]map[string]string{}}
	nodePort := int32(30080)
	for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		strict := func(v any) {
			t.Helper()
			if err := yaml.UnmarshalStrict(doc, v); err != nil {
				t.Fatalf("%s document %d: %v", path, i, err)
			}
		}
		switch meta.Kind {
		case "Ingress":
			var ing networkingv1.Ingress
			strict(&ing)
			if ing.Namespace == "" {
				ing.Namespace = "default"
			}
			w.ingresses = append(w.ingresses, ing)
		case "Service":
			var svc corev1.Service
			strict(&svc)
			if svc.Namespace == "" {
				svc.Namespace = "default"
			}
			svc.UID = types.UID("uid-" + svc.Namespace + "-" + svc.Name)
			for j := range svc.Spec.Ports {
				p := &svc.Spec.Ports[j]
				if p.Protocol == "" {
					p.Protocol = corev1.ProtocolTCP
				}
				if p.TargetPort == (intstr.IntOrString{}) {
					p.TargetPort = intstr.FromInt32(p.Port)
				}
				if (svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer) && p.NodePort == 0 {
					p.NodePort = nodePort
					nodePort++
				}
			}
			w.services[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}] = &svc
		case "IngressClass":
			var c networkingv1.IngressClass
			strict(&c)
			w.classes.Classes = append(w.classes.Classes, c)
		case "IngressClassParams":
			var p elbv2api.IngressClassParams
			strict(&p)
			w.classes.Params = append(w.classes.Params, p)
		case "Namespace":
			var ns corev1.Namespace
			strict(&ns)
			w.namespaces[ns.Name] = ns.Labels
		}
	}
	return w
}

// buildAll builds every group of the world: group ID to stack, or to the
// build error.
func (w *world) buildAll(opts BuildOptions) map[string]any {
	out := map[string]any{}
	g := GroupIngresses(w.ingresses, w.classes)
	for id, members := range g.Groups {
		st, err := Build(BuildInput{Group: id, Members: members, Services: w.services, NamespaceLabels: w.namespaces}, opts)
		if err != nil {
			out[id.String()] = map[string]string{"error": err.Error()}
			continue
		}
		out[id.String()] = st
	}
	for name, err := range g.Errors {
		out["ingress "+name.String()] = map[string]string{"error": err.Error()}
	}
	return out
}

func TestBuildGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no test cases in testdata")
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			w := loadWorld(t, path)
			got, err := json.MarshalIndent(w.buildAll(testOptions), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(path, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("stack differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// Building twice, or from members in another order, gives the same stack.
func TestBuildDeterministic(t *testing.T) {
	w := loadWorld(t, "testdata/group-host-path.yaml")
	g := GroupIngresses(w.ingresses, w.classes)
	for id, members := range g.Groups {
		first, err := Build(BuildInput{Group: id, Members: members, Services: w.services}, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		reversed := make([]Member, len(members))
		for i, m := range members {
			reversed[len(members)-1-i] = m
		}
		second, err := Build(BuildInput{Group: id, Members: reversed, Services: w.services}, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("group %s: stack depends on member order:\n%s", id, diff)
		}
	}
}

// rulesByPort returns "<host> <paths> -> <target>" of every rule by
// priority, per listener port.
func rulesByPort(st *Stack) map[int32][]string {
	out := map[int32][]string{}
	for _, l := range st.Listeners {
		for _, r := range l.Rules {
			var parts []string
			for _, c := range r.Conditions {
				parts = append(parts, c.Field+"="+strings.Join(c.Values, "|"))
			}
			target := r.Action.Type
			if r.Action.Forward != nil {
				target = r.Action.Forward.TargetGroups[0].TargetGroup
			}
			out[l.Port] = append(out[l.Port], strings.Join(parts, " ")+" -> "+target)
		}
	}
	return out
}

// Rule priorities follow group.order, then namespace/name: a member added
// with a higher order appends rules and leaves the others' priorities.
func TestRulePrioritiesStable(t *testing.T) {
	w := loadWorld(t, "testdata/group-host-path.yaml")
	g := GroupIngresses(w.ingresses, w.classes)
	id := GroupID{Name: "shop"}
	before, err := Build(BuildInput{Group: id, Members: g.Groups[id], Services: w.services}, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	extra := w.ingresses[0].DeepCopy()
	extra.Name = "zz-late"
	extra.Annotations[AnnotationGroupOrder] = "100"
	after, err := Build(BuildInput{Group: id, Members: append(g.Groups[id], Member{Ingress: extra, Order: 100}), Services: w.services}, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	b, a := rulesByPort(before)[80], rulesByPort(after)[80]
	if len(a) <= len(b) {
		t.Fatalf("the added member added no rule: %d before, %d after", len(b), len(a))
	}
	if diff := cmp.Diff(b, a[:len(b)]); diff != "" {
		t.Errorf("existing rules moved when a later member was added (-before +after):\n%s", diff)
	}

	// The same member with the lowest order comes first.
	extra.Annotations[AnnotationGroupOrder] = "-5"
	first, err := Build(BuildInput{Group: id, Members: append(g.Groups[id], Member{Ingress: extra, Order: -5}), Services: w.services}, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	f := rulesByPort(first)[80]
	if diff := cmp.Diff(b, f[len(f)-len(b):]); diff != "" {
		t.Errorf("existing rules changed order behind an earlier member:\n%s", diff)
	}
}

func TestPathPatterns(t *testing.T) {
	exact, prefix, impl := networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific
	for _, tc := range []struct {
		path    string
		typ     *networkingv1.PathType
		want    []string
		wantErr bool
	}{
		{"/", &prefix, []string{"/*"}, false},
		{"/api", &prefix, []string{"/api", "/api/*"}, false},
		{"/api/", &prefix, []string{"/api", "/api/*"}, false},
		{"/api/*", &prefix, nil, true},
		{"/exact", &exact, []string{"/exact"}, false},
		{"/ex?ct", &exact, nil, true},
		{"/img/*", &impl, []string{"/img/*"}, false},
		{"/img/*", nil, []string{"/img/*"}, false},
		{"", &impl, nil, false},
	} {
		got, err := pathPatterns(networkingv1.HTTPIngressPath{Path: tc.path, PathType: tc.typ})
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error = %v, want error %v", tc.path, err, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q: patterns (-want +got):\n%s", tc.path, diff)
		}
	}
}

func TestSortPaths(t *testing.T) {
	exact, prefix := networkingv1.PathTypeExact, networkingv1.PathTypePrefix
	paths := []networkingv1.HTTPIngressPath{
		{Path: "/a", PathType: &prefix},
		{Path: "/impl/*"},
		{Path: "/a/long", PathType: &prefix},
		{Path: "/x", PathType: &exact},
	}
	var got []string
	for _, p := range sortPaths(paths) {
		got = append(got, p.Path)
	}
	if diff := cmp.Diff([]string{"/x", "/a/long", "/a", "/impl/*"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// seedIngress is a minimal Ingress of ours with one Service backend.
func seedIngress(ann map[string]string) (*networkingv1.Ingress, map[types.NamespacedName]*corev1.Service) {
	prefix := networkingv1.PathTypePrefix
	class := "alb"
	ing := &networkingv1.Ingress{}
	ing.Namespace, ing.Name, ing.Annotations = "web", "site", ann
	ing.Spec.IngressClassName = &class
	ing.Spec.Rules = []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
		Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
		}}},
	}}}}
	svc := &corev1.Service{}
	svc.Namespace, svc.Name, svc.UID = "web", "web", "u1"
	svc.Spec.Type = corev1.ServiceTypeNodePort
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP}}
	return ing, map[types.NamespacedName]*corev1.Service{{Namespace: "web", Name: "web"}: svc}
}

// Every malformed annotation fails the build with an *AnnotationError that
// names it and its value.
func TestMalformedAnnotations(t *testing.T) {
	cases := []struct{ key, value string }{
		{AnnotationScheme, "public"},
		{AnnotationIPAddressType, "ipv5"},
		{AnnotationLoadBalancerName, "-bad-"},
		{AnnotationLoadBalancerName, "a-name-that-is-far-too-long-for-elb"},
		{AnnotationSubnets, "subnet-a,,subnet-b"},
		{AnnotationLoadBalancerAttributes, "idle_timeout.timeout_seconds"},
		{AnnotationTags, "Team=a,Team=b"},
		{AnnotationListenPorts, `[{"HTTP": "80"}]`},
		{AnnotationListenPorts, `[{"TCP": 80}]`},
		{AnnotationListenPorts, `[{"HTTP": 70000}]`},
		{AnnotationListenPorts, `[]`},
		{AnnotationListenPorts, `[{"HTTP": 80}, {"HTTP": 80}]`},
		{AnnotationListenPorts, `not json`},
		{AnnotationSSLRedirect, "yes"},
		{AnnotationSSLRedirect, "443"},
		{AnnotationCertificateARN, "not-an-arn"},
		{AnnotationInboundCIDRs, "10.0.0.0/33"},
		{AnnotationTargetType, "pod"},
		{AnnotationBackendProtocol, "TCP"},
		{AnnotationBackendProtocolVersion, "HTTP3"},
		{AnnotationTargetGroupAttributes, "stickiness.enabled"},
		{AnnotationTargetGroupAttributes, "deregistration_delay.timeout_seconds=soon"},
		{AnnotationTargetGroupAttributes, "deregistration_delay.timeout_seconds=3601"},
		{AnnotationTargetGroupAttributes, "slow_start.duration_seconds=10"},
		{AnnotationTargetGroupAttributes, "stickiness.enabled=yes"},
		{AnnotationTargetGroupAttributes, "stickiness.type=source_ip"},
		{AnnotationTargetGroupAttributes, "load_balancing.algorithm.type=random"},
		{AnnotationTargetGroupAttributes, "target_group_health.dns_failover.minimum_healthy_targets.percentage=101"},
		{AnnotationLoadBalancerAttributes, "idle_timeout.timeout_seconds=0"},
		{AnnotationLoadBalancerAttributes, "routing.http2.enabled=on"},
		{AnnotationLoadBalancerAttributes, "routing.http.xff_header_processing.mode=drop"},
		{AnnotationTargetNodeLabels, "=x"},
		{AnnotationHCPort, "http-alt"},
		{AnnotationHCPort, "0"},
		{AnnotationHCProtocol, "TCP"},
		{AnnotationHCPath, "healthz"},
		{AnnotationHCInterval, "often"},
		{AnnotationHCTimeout, "-1"},
		{AnnotationHealthyThreshold, "0"},
		{AnnotationUnhealthyThreshold, "x"},
		{AnnotationSuccessCodes, "200-"},
		{AnnotationSuccessCodes, "600"},
		{AnnotationGroupName, "Has Spaces"},
		{AnnotationGroupOrder, "1001"},
		{AnnotationGroupOrder, "first"},
		{AnnotationConditionsPrefix + "web", `[{"field":"host-header"}]`},
		{AnnotationConditionsPrefix + "web", `[{"field":"cookie","hostHeaderConfig":{"values":["a"]}}]`},
		{AnnotationConditionsPrefix + "web", `[{"field":"source-ip","sourceIpConfig":{"values":["nowhere"]}}]`},
		{AnnotationConditionsPrefix + "web", `[{"field":"http-header","httpHeaderConfig":{"values":["a"]}}]`},
		{AnnotationConditionsPrefix + "web", `[{"field":"query-string","queryStringConfig":{"values":[{"key":"a"}]}}]`},
		{AnnotationConditionsPrefix + "web", `{"field":"host-header"}`},
		{AnnotationAuthType, "basic"},
		{AnnotationMutualAuthentication, `{"port":443}`},
		{AnnotationMutualAuthentication, `[{"port":443,"mode":"strict"}]`},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			ing, svcs := seedIngress(map[string]string{tc.key: tc.value})
			classes := Classes{Classes: []networkingv1.IngressClass{{Spec: networkingv1.IngressClassSpec{Controller: Controller}}}}
			classes.Classes[0].Name = "alb"
			g := GroupIngresses([]networkingv1.Ingress{*ing}, classes)
			var err error
			for _, e := range g.Errors {
				err = e
			}
			for id, members := range g.Groups {
				_, err = Build(BuildInput{Group: id, Members: members, Services: svcs}, testOptions)
			}
			var aerr *AnnotationError
			if !errors.As(err, &aerr) {
				t.Fatalf("error = %v, want an *AnnotationError", err)
			}
			if aerr.Key != tc.key || aerr.Value != tc.value {
				t.Errorf("error names %s=%q, want %s=%q", aerr.Key, aerr.Value, tc.key, tc.value)
			}
			if !strings.Contains(err.Error(), "web/site") {
				t.Errorf("error %q does not name the Ingress", err)
			}
		})
	}
}

// Attribute values of the forms ELBv2 documents, and keys kelb controller
// does not know (kelb server judges those), build.
func TestWellFormedAttributes(t *testing.T) {
	for _, tc := range []struct{ key, value string }{
		{AnnotationTargetGroupAttributes, "deregistration_delay.timeout_seconds=0,slow_start.duration_seconds=30"},
		{AnnotationTargetGroupAttributes, "slow_start.duration_seconds=0,stickiness.enabled=true,stickiness.type=app_cookie,stickiness.app_cookie.cookie_name=SESSION"},
		{AnnotationTargetGroupAttributes, "load_balancing.algorithm.type=least_outstanding_requests,load_balancing.cross_zone.enabled=use_load_balancer_configuration"},
		{AnnotationTargetGroupAttributes, "target_group_health.dns_failover.minimum_healthy_targets.count=off,target_group_health.dns_failover.minimum_healthy_targets.percentage=50"},
		{AnnotationTargetGroupAttributes, "some.future.attribute=anything"},
		{AnnotationLoadBalancerAttributes, "idle_timeout.timeout_seconds=4000,routing.http2.enabled=false,routing.http.xff_header_processing.mode=preserve"},
		{AnnotationLoadBalancerAttributes, "access_logs.s3.enabled=false,access_logs.s3.bucket=logs"},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			ing, svcs := seedIngress(map[string]string{tc.key: tc.value})
			if _, err := Build(BuildInput{Group: GroupID{Namespace: "web", Name: "site"}, Members: []Member{{Ingress: ing}}, Services: svcs}, testOptions); err != nil {
				t.Errorf("Build: %v", err)
			}
		})
	}
}

// Malformed actions annotations, on a use-annotation backend.
func TestMalformedActions(t *testing.T) {
	for _, value := range []string{
		`{"type":"forward"}`,
		`{"type":"forward","forwardConfig":{"targetGroups":[]}}`,
		`{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web"}]}}`,
		`{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"web","servicePort":80,"weight":1000}]}}`,
		`{"type":"forward","targetGroupARN":"arn:x","forwardConfig":{"targetGroups":[]}}`,
		`{"type":"redirect","redirectConfig":{"statusCode":"HTTP_307"}}`,
		`{"type":"redirect","redirectConfig":{"statusCode":"HTTP_301","port":"http"}}`,
		`{"type":"redirect"}`,
		`{"type":"fixed-response","fixedResponseConfig":{"statusCode":"99"}}`,
		`{"type":"fixed-response","fixedResponseConfig":{"statusCode":"503","contentType":"image/png"}}`,
		`{"type":"authenticate-oidc"}`,
		`{"type":"teleport"}`,
		`{"type":"forward","targetGroupArn2":"x"}`,
		`[`,
	} {
		t.Run(value, func(t *testing.T) {
			ing, svcs := seedIngress(map[string]string{AnnotationActionsPrefix + "custom": value})
			ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service = &networkingv1.IngressServiceBackend{Name: "custom", Port: networkingv1.ServiceBackendPort{Name: UseAnnotation}}
			_, err := Build(BuildInput{Group: GroupID{Namespace: "web", Name: "site"}, Members: []Member{{Ingress: ing}}, Services: svcs}, testOptions)
			var aerr *AnnotationError
			if !errors.As(err, &aerr) || aerr.Key != AnnotationActionsPrefix+"custom" || aerr.Value != value {
				t.Fatalf("error = %v, want an *AnnotationError naming the actions annotation and its value", err)
			}
		})
	}
	// A use-annotation backend with no annotation at all.
	ing, svcs := seedIngress(nil)
	ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service = &networkingv1.IngressServiceBackend{Name: "missing", Port: networkingv1.ServiceBackendPort{Name: UseAnnotation}}
	_, err := Build(BuildInput{Group: GroupID{Namespace: "web", Name: "site"}, Members: []Member{{Ingress: ing}}, Services: svcs}, testOptions)
	var aerr *AnnotationError
	if !errors.As(err, &aerr) || aerr.Key != AnnotationActionsPrefix+"missing" {
		t.Fatalf("error = %v, want an *AnnotationError naming the missing actions annotation", err)
	}
}

// An exclusive annotation set differently by two members fails the group
// with a *ConflictError naming both.
func TestGroupConflicts(t *testing.T) {
	for _, tc := range []struct {
		key     string
		a, b    string
		setting string
	}{
		{AnnotationScheme, "internal", "internet-facing", "annotation " + AnnotationScheme},
		{AnnotationLoadBalancerName, "one", "two", "annotation " + AnnotationLoadBalancerName},
		{AnnotationIPAddressType, "ipv4", "dualstack", "annotation " + AnnotationIPAddressType},
		{AnnotationSSLPolicy, "ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS-1-2-2017-01", "annotation " + AnnotationSSLPolicy + " on listen port 443"},
		{AnnotationListenPorts, `[{"HTTP": 8080}]`, `[{"HTTPS": 8080}]`, "protocol of listen port 8080"},
		{AnnotationTags, "Team=a", "Team=b", "annotation " + AnnotationTags + " key Team"},
		{AnnotationLoadBalancerAttributes, "idle_timeout.timeout_seconds=60", "idle_timeout.timeout_seconds=30", "annotation " + AnnotationLoadBalancerAttributes + " key idle_timeout.timeout_seconds"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			common := map[string]string{AnnotationGroupName: "shared", AnnotationCertificateARN: "arn:aws:acm:us-west-2:000000000000:certificate/1"}
			annA, annB := map[string]string{tc.key: tc.a}, map[string]string{tc.key: tc.b}
			for k, v := range common {
				annA[k], annB[k] = v, v
			}
			a, svcs := seedIngress(annA)
			b, _ := seedIngress(annB)
			b.Name = "other"
			_, err := Build(BuildInput{Group: GroupID{Name: "shared"}, Members: []Member{{Ingress: a}, {Ingress: b}}, Services: svcs}, testOptions)
			var cerr *ConflictError
			if !errors.As(err, &cerr) {
				t.Fatalf("error = %v, want a *ConflictError", err)
			}
			if cerr.Setting != tc.setting {
				t.Errorf("setting = %q, want %q", cerr.Setting, tc.setting)
			}
			names := make([]string, 0, len(cerr.Values))
			for k := range cerr.Values {
				names = append(names, k)
			}
			sort.Strings(names)
			if diff := cmp.Diff([]string{"web/other", "web/site"}, names); diff != "" {
				t.Errorf("conflict names (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassesOf(t *testing.T) {
	apiGroup := paramsAPIGroup
	classes := Classes{
		Classes: []networkingv1.IngressClass{
			{Spec: networkingv1.IngressClassSpec{Controller: Controller}},
			{Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
			{Spec: networkingv1.IngressClassSpec{Controller: Controller, Parameters: &networkingv1.IngressClassParametersReference{APIGroup: &apiGroup, Kind: paramsKind, Name: "p"}}},
			{Spec: networkingv1.IngressClassSpec{Controller: Controller, Parameters: &networkingv1.IngressClassParametersReference{APIGroup: &apiGroup, Kind: paramsKind, Name: "gone"}}},
		},
		Params: []elbv2api.IngressClassParams{{}},
	}
	classes.Classes[0].Name, classes.Classes[1].Name, classes.Classes[2].Name, classes.Classes[3].Name = "alb", "nginx", "alb-params", "alb-broken"
	classes.Params[0].Name = "p"
	withDefault := classes
	withDefault.Classes = append([]networkingv1.IngressClass(nil), classes.Classes...)
	withDefault.Classes[0].Annotations = map[string]string{AnnotationDefaultClass: "true"}
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name      string
		classes   Classes
		className *string
		ann       map[string]string
		ours      bool
		params    bool
		err       bool
	}{
		{"class alb", classes, str("alb"), nil, true, false, false},
		{"class nginx", classes, str("nginx"), nil, false, false, false},
		{"missing class", classes, str("none"), nil, false, false, false},
		{"class with params", classes, str("alb-params"), nil, true, true, false},
		{"class with missing params", classes, str("alb-broken"), nil, true, false, true},
		{"legacy annotation", classes, nil, map[string]string{AnnotationIngressClass: "alb"}, true, false, false},
		{"legacy other", withDefault, nil, map[string]string{AnnotationIngressClass: "nginx"}, false, false, false},
		{"class name wins over annotation", classes, str("nginx"), map[string]string{AnnotationIngressClass: "alb"}, false, false, false},
		{"no class, no default", classes, nil, nil, false, false, false},
		{"no class, default ours", withDefault, nil, nil, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ing := &networkingv1.Ingress{}
			ing.Spec.IngressClassName, ing.Annotations = tc.className, tc.ann
			res, ours := tc.classes.Of(ing)
			if ours != tc.ours || (res.Params != nil) != tc.params || (res.Err != nil) != tc.err {
				t.Errorf("Of = %+v, %v; want ours %v, params %v, error %v", res, ours, tc.ours, tc.params, tc.err)
			}
		})
	}
}

// An Ingress in a namespace its class parameters do not select fails its
// group.
func TestNamespaceSelector(t *testing.T) {
	w := loadWorld(t, "testdata/tls-secret-params.yaml")
	outsider := w.ingresses[0].DeepCopy()
	outsider.Namespace, outsider.Name = "other", "outsider"
	g := GroupIngresses(append(w.ingresses, *outsider), w.classes)
	id := GroupID{Name: "payments"}
	if len(g.Groups[id]) != 2 {
		t.Fatalf("group payments has %d members, want 2", len(g.Groups[id]))
	}
	_, err := Build(BuildInput{Group: id, Members: g.Groups[id], Services: w.services, NamespaceLabels: w.namespaces}, testOptions)
	if err == nil || !strings.Contains(err.Error(), "other/outsider") || !strings.Contains(err.Error(), "namespaceSelector") {
		t.Errorf("error = %v, want the outsider refused by the namespace selector", err)
	}
}

// The ip-address-type annotation takes the AWS Load Balancer Controller's
// three values; both dualstack types give IPv6-first Services ipv6 target
// groups, and ipv4 load balancers never do.
func TestIPAddressTypes(t *testing.T) {
	for _, tc := range []struct {
		value, wantLB string
		v6, wantTG    string
	}{
		{"", "ipv4", "", "ipv4"},
		{"ipv4", "ipv4", "", "ipv4"},
		{"dualstack", "dualstack", "", "ipv4"},
		{"dualstack", "dualstack", "v6", "ipv6"},
		{"dualstack-without-public-ipv4", "dualstack-without-public-ipv4", "v6", "ipv6"},
		{"ipv4", "ipv4", "v6", "ipv4"},
	} {
		t.Run(tc.value+tc.v6, func(t *testing.T) {
			ann := map[string]string{AnnotationTargetType: "ip"}
			if tc.value != "" {
				ann[AnnotationIPAddressType] = tc.value
			}
			ing, svcs := seedIngress(ann)
			if tc.v6 != "" {
				for _, s := range svcs {
					s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
				}
			}
			classes := Classes{Classes: []networkingv1.IngressClass{{Spec: networkingv1.IngressClassSpec{Controller: Controller}}}}
			classes.Classes[0].Name = "alb"
			g := GroupIngresses([]networkingv1.Ingress{*ing}, classes)
			if len(g.Errors) > 0 || len(g.Groups) != 1 {
				t.Fatalf("groups %v, errors %v", g.Groups, g.Errors)
			}
			for id, members := range g.Groups {
				st, err := Build(BuildInput{Group: id, Members: members, Services: svcs}, testOptions)
				if err != nil {
					t.Fatal(err)
				}
				if st.LoadBalancer.IPAddressType != tc.wantLB {
					t.Errorf("load balancer IP address type %q, want %q", st.LoadBalancer.IPAddressType, tc.wantLB)
				}
				if len(st.TargetGroups) == 0 {
					t.Fatal("no target groups")
				}
				for _, tg := range st.TargetGroups {
					if tg.IPAddressType != tc.wantTG {
						t.Errorf("target group IP address type %q, want %q", tg.IPAddressType, tc.wantTG)
					}
				}
			}
		})
	}
}
