package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func countCerts(bundle []byte) int {
	n := 0
	for {
		var b *pem.Block
		b, bundle = pem.Decode(bundle)
		if b == nil {
			return n
		}
		n++
	}
}

// A generated certificate serves a real TLS server that a client trusting
// only the CA can reach, by IP and by service name.
func TestGeneratedCertServesTLS(t *testing.T) {
	hosts := []string{"127.0.0.1", "kelb-webhook-service.kelb-system.svc"}
	certs, err := GenerateCerts(hosts, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certs.CertPEM, certs.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certs.CAPEM)
	for _, name := range []string{"", "kelb-webhook-service.kelb-system.svc"} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: name}}}
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatalf("GET with server name %q: %v", name, err)
		}
		resp.Body.Close()
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "other.example"}}}
	if resp, err := c.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Error("a name the certificate does not have was accepted")
	}
}

func TestLoadCertsReusesOnlyValidMatching(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	certs, err := GenerateCerts([]string{"198.18.0.1"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.Write(dir); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		hosts []string
		at    time.Time
		want  bool
	}{
		{"same host, valid", []string{"198.18.0.1"}, now, true},
		{"another host", []string{"198.18.0.2"}, now, false},
		{"expired", []string{"198.18.0.1"}, now.Add(2 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LoadCerts(dir, tt.hosts, tt.at) != nil; got != tt.want {
				t.Errorf("LoadCerts = %v, want %v", got, tt.want)
			}
		})
	}
	if got := LoadCerts(t.TempDir(), []string{"198.18.0.1"}, now); got != nil {
		t.Error("LoadCerts of an empty dir returned certificates")
	}
}

func TestMergeCABundle(t *testing.T) {
	now := time.Now()
	gen := func(validity time.Duration) []byte {
		t.Helper()
		c, err := GenerateCerts([]string{"127.0.0.1"}, now, validity)
		if err != nil {
			t.Fatal(err)
		}
		return c.CAPEM
	}
	a, b, c := gen(10*time.Hour), gen(10*time.Hour), gen(10*time.Hour)
	expiring := gen(time.Minute)
	tests := []struct {
		name     string
		existing []byte
		ca       []byte
		at       time.Time
		want     int
	}{
		{"empty", nil, a, now, 1},
		{"keeps other replicas' CAs", append(append([]byte{}, b...), c...), a, now, 3},
		{"no duplicates", append(append([]byte{}, a...), b...), a, now, 2},
		{"drops expired CAs", append(append([]byte{}, expiring...), b...), a, now.Add(90 * time.Minute), 2},
		{"drops garbage", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"), a, now, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MergeCABundle(tt.existing, tt.ca, tt.at)
			if n := countCerts(got); n != tt.want {
				t.Errorf("bundle has %d certificates, want %d", n, tt.want)
			}
			if first, _ := pem.Decode(got); first == nil || string(pem.EncodeToMemory(first)) != string(tt.ca) {
				t.Error("the new CA is not first")
			}
		})
	}
	var many []byte
	for range maxBundleCAs + 3 {
		many = append(many, gen(time.Hour)...)
	}
	if n := countCerts(MergeCABundle(many, a, now)); n != maxBundleCAs {
		t.Errorf("bundle of many has %d certificates, want %d", n, maxBundleCAs)
	}
}

// In url mode the manager creates the configuration, then on rotation
// trusts the new CA alongside the old one and rewrites the files.
func TestCertManagerPublishAndRotate(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientBuilder().WithScheme(scheme).Build()
	dir := t.TempDir()
	m := &CertManager{
		Client:     kube,
		ConfigName: "kelb-webhook",
		URL:        "https://198.18.0.1:9443",
		Webhooks:   AllWebhooks,
		Hosts:      []string{"198.18.0.1"},
		CertDir:    dir,
		Validity:   time.Hour,
		Log:        testr.New(t),
	}
	ctx := context.Background()
	if err := m.Setup(time.Now()); err != nil {
		t.Fatal(err)
	}
	first := m.certs
	if err := m.Publish(ctx, first.CAPEM); err != nil {
		t.Fatal(err)
	}
	get := func() *admissionregistrationv1.MutatingWebhookConfiguration {
		t.Helper()
		var cfg admissionregistrationv1.MutatingWebhookConfiguration
		if err := kube.Get(ctx, client.ObjectKey{Name: "kelb-webhook"}, &cfg); err != nil {
			t.Fatal(err)
		}
		return &cfg
	}
	cfg := get()
	want, wantValidating := Configurations("kelb-webhook", m.URL, m.Webhooks)
	for i := range want.Webhooks {
		want.Webhooks[i].ClientConfig.CABundle = first.CAPEM
	}
	for i := range wantValidating.Webhooks {
		wantValidating.Webhooks[i].ClientConfig.CABundle = first.CAPEM
	}
	if diff := cmp.Diff(want.Webhooks, cfg.Webhooks); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	var vcfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := kube.Get(ctx, client.ObjectKey{Name: "kelb-webhook"}, &vcfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantValidating.Webhooks, vcfg.Webhooks); diff != "" {
		t.Errorf("validating webhooks (-want +got):\n%s", diff)
	}
	rv := cfg.ResourceVersion
	if err := m.Publish(ctx, first.CAPEM); err != nil {
		t.Fatal(err)
	}
	if got := get().ResourceVersion; got != rv {
		t.Errorf("publishing the same CA again wrote the configuration (%s -> %s)", rv, got)
	}

	// A restart reuses the certificate on disk.
	again := &CertManager{Hosts: m.Hosts, CertDir: dir, Validity: time.Hour, Log: m.Log}
	if err := again.Setup(time.Now()); err != nil {
		t.Fatal(err)
	}
	if string(again.certs.CertPEM) != string(first.CertPEM) {
		t.Error("Setup replaced a valid certificate")
	}

	if err := m.rotate(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	bundle := get().Webhooks[0].ClientConfig.CABundle
	if n := countCerts(bundle); n != 2 {
		t.Errorf("after rotation the bundle has %d CAs, want the new and the old", n)
	}
	onDisk := LoadCerts(dir, m.Hosts, time.Now())
	if onDisk == nil || string(onDisk.CertPEM) == string(first.CertPEM) || string(onDisk.CAPEM) != string(m.certs.CAPEM) {
		t.Error("rotation did not write the new certificate")
	}
}
