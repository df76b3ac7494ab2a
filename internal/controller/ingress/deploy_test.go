package ingress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/acmapi"
	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/ec2api"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/s3store"
	"github.com/kelb-io/kelb/internal/secgroup"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// opLog records the ELBv2 operations a client made.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

// writes returns the write operations since the last call, and forgets
// them.
func (l *opLog) writes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, op := range l.ops {
		if !strings.HasPrefix(op, "Describe") {
			out = append(out, op)
		}
	}
	l.ops = nil
	return out
}

// elbServer starts the kelb server ELBv2 API in process, on a bolt store,
// and returns an aws-sdk-go-v2 client for it that logs its operations.
func elbServer(t *testing.T) (*elbv2.Client, *opLog) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "kelb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := elb.New(elb.Config{
		Store:    st,
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")},
		Zones: []elb.Zone{
			{Name: "us-west-2a", SubnetID: "subnet-a", Pool: netip.MustParsePrefix("198.19.1.0/24")},
			{Name: "us-west-2b", SubnetID: "subnet-b", Pool: netip.MustParsePrefix("198.19.2.0/24")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const keyID, secret = "AKIDKELBTEST", "kelb-test-secret"
	ops := elbapi.Ops(svc)
	maps.Copy(ops, elbapi.ListenerCertificateOps(svc))
	elbHandler := elbapi.NewHandler(elbapi.HandlerConfig{
		Ops:         ops,
		Credentials: elbapi.StaticCredentials{keyID: secret},
		Region:      svc.Region(),
	})
	testObjects = s3store.New(s3store.Config{Store: st, Region: svc.Region()})
	certs := certstore.New(certstore.Config{Store: st, Region: svc.Region(), InUse: elb.CertificateUsers})
	acmHandler := acmapi.NewHandler(acmapi.Config{Certificates: certs, Credentials: elbapi.StaticCredentials{keyID: secret}, Region: svc.Region()})
	groups := secgroup.New(secgroup.Config{Store: st, VpcID: svc.VpcID(), AccountID: svc.AccountID(), InUse: elb.SecurityGroupUsers})
	ec2Handler := ec2api.NewHandler(ec2api.Config{ELB: svc, Groups: groups, Credentials: elbapi.StaticCredentials{keyID: secret}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if acmapi.IsACMRequest(r) {
			acmHandler.ServeHTTP(w, r)
			return
		}
		if ec2api.IsEC2Request(r) {
			ec2Handler.ServeHTTP(w, r)
			return
		}
		elbHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	testACM = acm.New(acm.Options{Region: svc.Region(), BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")})
	testEC2 = ec2.New(ec2.Options{Region: svc.Region(), BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider(keyID, secret, "")})
	log := &opLog{}
	client := elbv2.New(elbv2.Options{
		Region:       svc.Region(),
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		APIOptions: []func(*middleware.Stack) error{func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("logOps", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				log.add(middleware.GetOperationName(ctx))
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		}},
	})
	return client, log
}

// testACM and testEC2 are the ACM and EC2 clients of the last elbServer.
var (
	testACM *acm.Client
	testEC2 *ec2.Client
)

// testObjects is the S3 object store of the last elbServer.
var testObjects *s3store.Store

// selfSigned returns a new self-signed certificate and key for host, PEM.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// importCert imports a new self-signed certificate through the ACM API.
func importCert(t *testing.T, host string) string {
	t.Helper()
	c, k := selfSigned(t, host)
	out, err := testACM.ImportCertificate(context.Background(), &acm.ImportCertificateInput{Certificate: c, PrivateKey: k})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.CertificateArn)
}

// buildGroup builds group id of a testdata manifest, with changes applied
// to its Ingresses first.
func buildGroup(t *testing.T, path string, id GroupID, mutate func(w *world)) *Stack {
	t.Helper()
	w := loadWorld(t, path)
	if mutate != nil {
		mutate(w)
	}
	g := GroupIngresses(w.ingresses, w.classes)
	st, err := Build(BuildInput{Group: id, Members: g.Groups[id], Services: w.services, NamespaceLabels: w.namespaces}, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// describeRules returns "<priority> <conditions> -> <target group ARNs>"
// of every rule of the listener on port.
func describeRules(t *testing.T, c *elbv2.Client, lbARN string, port int32) []string {
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
		rs, err := c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs.Rules {
			a := r.Actions[0]
			var s []string
			for _, c := range r.Conditions {
				values := c.Values
				switch {
				case c.HostHeaderConfig != nil:
					values = c.HostHeaderConfig.Values
				case c.PathPatternConfig != nil:
					values = c.PathPatternConfig.Values
				}
				s = append(s, aws.ToString(c.Field)+"="+strings.Join(values, "|"))
			}
			target := string(a.Type)
			switch {
			case a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0:
				target = aws.ToString(a.ForwardConfig.TargetGroups[0].TargetGroupArn)
			case a.TargetGroupArn != nil:
				target = aws.ToString(a.TargetGroupArn)
			}
			out = append(out, aws.ToString(r.Priority)+" "+strings.Join(s, " ")+" -> "+target)
		}
		return out
	}
	t.Fatalf("no listener on port %d", port)
	return nil
}

// Seed 004's Ingress is deployed, found again with nothing to write, and
// deleted.
func TestDeploySeed004(t *testing.T) {
	ctx := context.Background()
	client, log := elbServer(t)
	d := &deploy.Deployer{Frontend: Frontend, Client: client, ClusterName: testOptions.ClusterName}
	id := GroupID{Namespace: "game-2048", Name: "ingress-2048"}
	st := buildGroup(t, "testdata/seed004-game-2048.yaml", id, nil)

	first, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if !first.Changed || first.DNSName == "" || len(first.TargetGroupARNs) != 1 {
		t.Fatalf("deploy result = %+v", first)
	}
	log.writes()
	lbs, err := client.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{first.LoadBalancerARN}})
	if err != nil {
		t.Fatal(err)
	}
	if lb := lbs.LoadBalancers[0]; lb.Type != "application" || lb.Scheme != "internet-facing" || !strings.HasPrefix(aws.ToString(lb.LoadBalancerName), "k8s-game2048-ingress2-") {
		t.Errorf("load balancer = %s %s %s", aws.ToString(lb.LoadBalancerName), lb.Type, lb.Scheme)
	}
	tgARN := first.TargetGroupARNs["game-2048/ingress-2048-service-2048:80"]
	if diff := cmp.Diff([]string{"1 path-pattern=/* -> " + tgARN, "default  -> fixed-response"}, describeRules(t, client, first.LoadBalancerARN, 80)); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}

	again, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if w := log.writes(); again.Changed || len(w) != 0 {
		t.Errorf("second deploy of the same stack wrote %v (Changed=%v)", w, again.Changed)
	}
	if again.LoadBalancerARN != first.LoadBalancerARN || again.DNSName != first.DNSName {
		t.Errorf("second deploy found %s, want %s", again.LoadBalancerARN, first.LoadBalancerARN)
	}

	if err := d.Delete(ctx, st.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	a, err := d.Find(ctx, st.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.LoadBalancer != nil || len(a.TargetGroups) != 0 {
		t.Errorf("left after delete: %+v", a)
	}
}

// A group's rules follow its members: reordering members moves rules with
// SetRulePriorities (no rule created or deleted); in-place changes keep
// the load balancer; a removed path deletes its rule; every deploy ends
// with nothing left to do.
func TestDeployGroupRules(t *testing.T) {
	ctx := context.Background()
	client, log := elbServer(t)
	d := &deploy.Deployer{Frontend: Frontend, Client: client, ClusterName: testOptions.ClusterName}
	id := GroupID{Name: "shop"}
	path := "testdata/group-host-path.yaml"
	st := buildGroup(t, path, id, nil)
	first, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	before := describeRules(t, client, first.LoadBalancerARN, 80)
	if len(before) != 7 {
		t.Fatalf("rules = %v, want 6 and the default", before)
	}
	log.writes()

	// "hosts" moves behind "paths".
	reordered := buildGroup(t, path, id, func(w *world) {
		for i := range w.ingresses {
			if w.ingresses[i].Name == "hosts" {
				w.ingresses[i].Annotations[AnnotationGroupOrder] = "20"
			}
		}
	})
	res, err := d.Deploy(ctx, reordered)
	if err != nil {
		t.Fatalf("deploy reordered: %v", err)
	}
	if diff := cmp.Diff([]string{"SetRulePriorities"}, log.writes()); diff != "" {
		t.Errorf("reorder writes (-want +got):\n%s", diff)
	}
	after := describeRules(t, client, res.LoadBalancerARN, 80)
	// The two host rules were 1 and 2; now they are 5 and 6.
	strip := func(s string) string { _, rest, _ := strings.Cut(s, " "); return rest }
	if strip(after[4]) != strip(before[0]) || strip(after[5]) != strip(before[1]) || strip(after[0]) != strip(before[2]) {
		t.Errorf("rules after reorder:\n%s\nbefore:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}

	// In place: a tag, a health check path, an attribute, a dropped path.
	changed := buildGroup(t, path, id, func(w *world) {
		for i := range w.ingresses {
			ing := &w.ingresses[i]
			if ing.Name == "hosts" {
				ing.Annotations[AnnotationGroupOrder] = "20"
				ing.Annotations[AnnotationTags] = "Team=checkout"
				ing.Annotations[AnnotationHCPath] = "/ready"
				ing.Annotations[AnnotationLoadBalancerAttributes] = "idle_timeout.timeout_seconds=30"
				ing.Annotations[AnnotationInboundCIDRs] = "10.0.0.0/8"
			}
			if ing.Name == "paths" {
				ing.Annotations[AnnotationInboundCIDRs] = "192.168.0.0/16"
				ing.Spec.Rules[0].HTTP.Paths = ing.Spec.Rules[0].HTTP.Paths[:3]
			}
		}
	})
	res, err = d.Deploy(ctx, changed)
	if err != nil {
		t.Fatalf("deploy changed: %v", err)
	}
	if res.LoadBalancerARN != first.LoadBalancerARN {
		t.Errorf("in-place change replaced the load balancer")
	}
	for _, w := range log.writes() {
		if strings.HasPrefix(w, "Create") {
			t.Errorf("in-place change called %s", w)
		}
	}
	if n := len(describeRules(t, client, res.LoadBalancerARN, 80)); n != 6 {
		t.Errorf("%d rules after dropping a path, want 5 and the default", n)
	}
	a, err := d.Find(ctx, changed.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Listeners[0].Attributes[ListenerAttributeSourceRanges]; got != "192.168.0.0/16,10.0.0.0/8" {
		t.Errorf("source ranges = %q", got)
	}
	if a.LoadBalancer.Attributes["idle_timeout.timeout_seconds"] != "30" || a.LoadBalancer.Tags["Team"] != "checkout" {
		t.Errorf("load balancer attributes %v, tags %v", a.LoadBalancer.Attributes, a.LoadBalancer.Tags)
	}
	if _, err := d.Deploy(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if w := log.writes(); len(w) != 0 {
		t.Errorf("redeploy wrote %v", w)
	}
}

// HTTPS with certificate-arn and ssl-redirect: the HTTP listener
// redirects, the HTTPS one has the certificate, the policy and the rules.
func TestDeployHTTPS(t *testing.T) {
	ctx := context.Background()
	client, log := elbServer(t)
	d := &deploy.Deployer{Frontend: Frontend, Client: client, ClusterName: testOptions.ClusterName}
	id := GroupID{Namespace: "secure", Name: "site"}
	cert := importCert(t, "secure.example.com")
	st := buildGroup(t, "testdata/https-ssl-redirect.yaml", id, func(w *world) {
		w.ingresses[0].Annotations[AnnotationCertificateARN] = cert
	})
	res, err := d.Deploy(ctx, st)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	ls, err := client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &res.LoadBalancerARN})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls.Listeners {
		s := string(l.Protocol) + " " + aws.ToString(l.SslPolicy)
		for _, c := range l.Certificates {
			s += " " + aws.ToString(c.CertificateArn)
		}
		if r := l.DefaultActions[0].RedirectConfig; r != nil {
			s += " redirect " + aws.ToString(r.Protocol) + ":" + aws.ToString(r.Port)
		}
		got = append(got, s)
	}
	want := []string{"HTTP  redirect HTTPS:443", "HTTPS ELBSecurityPolicy-TLS13-1-2-2021-06 " + cert}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listeners (-want +got):\n%s", diff)
	}
	if n := len(describeRules(t, client, res.LoadBalancerARN, 443)); n != 3 {
		t.Errorf("HTTPS listener has %d rules, want 2 and the default", n)
	}
	log.writes()
	if _, err := d.Deploy(ctx, st); err != nil {
		t.Fatal(err)
	}
	if w := log.writes(); len(w) != 0 {
		t.Errorf("redeploy wrote %v", w)
	}
}
