package ingress

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// listenerCertificates returns the ARNs of every certificate of the
// listener on port, sorted.
func listenerCertificates(t *testing.T, c *elbv2.Client, lbARN string, port int32) []string {
	t.Helper()
	ctx := context.Background()
	ls, err := c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &lbARN})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls.Listeners {
		if aws.ToInt32(l.Port) != port {
			continue
		}
		out, err := c.DescribeListenerCertificates(ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: l.ListenerArn})
		if err != nil {
			t.Fatal(err)
		}
		var arns []string
		for _, c := range out.Certificates {
			if !slices.Contains(arns, aws.ToString(c.CertificateArn)) {
				arns = append(arns, aws.ToString(c.CertificateArn))
			}
		}
		slices.Sort(arns)
		return arns
	}
	t.Fatalf("no listener on port %d", port)
	return nil
}

// requestedFor returns the certificates in the store tagged with resource.
func requestedFor(t *testing.T, resource string) []string {
	t.Helper()
	ctx := context.Background()
	list, err := testACM.ListCertificates(ctx, allKeyTypes)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list.CertificateSummaryList {
		tags, err := testACM.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: c.CertificateArn})
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range tags.Tags {
			if aws.ToString(tag.Key) == TagResource && aws.ToString(tag.Value) == resource {
				out = append(out, aws.ToString(c.CertificateArn))
			}
		}
	}
	return out
}

// TestDeployCertificateDiscoveryAndRequest deploys a group whose members
// use certificate discovery, create-acm-cert and certificate-arn against
// kelb server's ACM API: a host no certificate covers fails the deploy
// before anything is made; once covered, every covering certificate is on
// the listener (an imported one and a requested wildcard), the requested
// certificate is made once and reused, replaced when its Ingress's hosts
// change, and deleted when its Ingress leaves.
func TestDeployCertificateDiscoveryAndRequest(t *testing.T) {
	ctx := context.Background()
	client, log := elbServer(t)
	d := &deploy.Deployer{Frontend: Frontend, Client: client, ClusterName: testOptions.ClusterName, ACM: testACM}
	id := GroupID{Name: "web"}
	admin := importCert(t, "admin.example.test")
	const path = "testdata/tls-discovery-create.yaml"
	setAdmin := func(w *world) {
		for _, ing := range w.ingresses {
			if ing.Name == "admin" {
				ing.Annotations[AnnotationCertificateARN] = admin
			}
		}
	}

	_, err := d.Deploy(ctx, buildGroup(t, path, id, setAdmin))
	if err == nil || !strings.Contains(err.Error(), "no certificate found for host: cart.example.test") {
		t.Fatalf("deploy without covering certificates: %v, want no certificate found for host: cart.example.test", err)
	}
	if lbs, err := client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err != nil || len(lbs.LoadBalancers) != 0 {
		t.Fatalf("a failed certificate discovery left load balancers %v, %v", lbs, err)
	}

	wild, err := testACM.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("*.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	shop := importCert(t, "shop.example.test")
	importCert(t, "elsewhere.test")
	// A wildcard covers one label only: *.example.test does not cover
	// a.b.example.test, so this one stays out.
	if _, err := testACM.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("deep.shop.example.test")}); err != nil {
		t.Fatal(err)
	}
	st := buildGroup(t, path, id, setAdmin)
	res, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	const blogID = "amazon_issued/wildcard.blog.example.test-ab51e726"
	blog := requestedFor(t, blogID)
	if len(blog) != 1 {
		t.Fatalf("certificates requested for blog: %v, want one", blog)
	}
	want := []string{admin, blog[0], aws.ToString(wild.CertificateArn), shop}
	slices.Sort(want)
	if got := listenerCertificates(t, client, res.LoadBalancerARN, 443); !slices.Equal(got, want) {
		t.Errorf("listener certificates %v, want %v", got, want)
	}
	desc, err := testACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(blog[0])})
	if err != nil {
		t.Fatal(err)
	}
	if names := desc.Certificate.SubjectAlternativeNames; !slices.Equal(names, []string{"*.blog.example.test", "blog.example.test"}) {
		t.Errorf("requested certificate names %v", names)
	}

	log.writes()
	if _, err := d.Deploy(ctx, st); err != nil {
		t.Fatal(err)
	}
	if w := log.writes(); len(w) != 0 {
		t.Errorf("redeploy wrote %v", w)
	}
	if again := requestedFor(t, blogID); !slices.Equal(again, blog) {
		t.Errorf("redeploy requested %v, want %v kept", again, blog)
	}

	// New hosts: a new certificate, and the old one goes once the
	// listener no longer uses it.
	addHost := func(w *world) {
		setAdmin(w)
		for i := range w.ingresses {
			if ing := &w.ingresses[i]; ing.Name == "blog" {
				ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: "news.blog.example.test", IngressRuleValue: ing.Spec.Rules[0].IngressRuleValue})
			}
		}
	}
	if _, err := d.Deploy(ctx, buildGroup(t, path, id, addHost)); err != nil {
		t.Fatal(err)
	}
	renamed := requestedFor(t, blogID)
	if len(renamed) != 1 || renamed[0] == blog[0] {
		t.Fatalf("after a host was added: requested %v, want one other than %s", renamed, blog[0])
	}
	if got := listenerCertificates(t, client, res.LoadBalancerARN, 443); !slices.Contains(got, renamed[0]) || slices.Contains(got, blog[0]) {
		t.Errorf("listener certificates %v, want %s instead of %s", got, renamed[0], blog[0])
	}

	// The blog Ingress leaves the group: its certificate is deleted.
	dropBlog := func(w *world) {
		setAdmin(w)
		w.ingresses = slices.DeleteFunc(w.ingresses, func(ing networkingv1.Ingress) bool { return ing.Name == "blog" })
	}
	if _, err := d.Deploy(ctx, buildGroup(t, path, id, dropBlog)); err != nil {
		t.Fatal(err)
	}
	if left := requestedFor(t, blogID); len(left) != 0 {
		t.Errorf("certificates of a departed Ingress still in the store: %v", left)
	}
	if err := d.Delete(ctx, "web"); err != nil {
		t.Fatal(err)
	}
}

func TestNameCoversHostInBuild(t *testing.T) {
	ing := &networkingv1.Ingress{Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{Host: "b.test"}, {Host: ""}, {Host: "a.test"}},
		TLS:   []networkingv1.IngressTLS{{Hosts: []string{"a.test", "c.test"}}},
	}}
	if got := ingressHosts(ing); !slices.Equal(got, []string{"a.test", "b.test", "c.test"}) {
		t.Errorf("ingressHosts = %v", got)
	}
}
