package ingress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/s3store"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// The annotation is read as the AWS Load Balancer Controller reads it:
// its defaults, and every value it refuses is an *AnnotationError naming
// the annotation.
func TestParseMutualAuthentication(t *testing.T) {
	got, err := parseMutualAuthentication(annotations{AnnotationMutualAuthentication: `[{"port": 80, "mode": "passthrough"},
		{"port": 443, "mode": "verify", "trustStore": "arn:aws:elasticloadbalancing:trustStoreArn", "ignoreClientCertificateExpiry" : true},
		{"port": 8443, "mode": "verify", "trustStore": "my-store", "advertiseTrustStoreCaNames": "on"},
		{"port": 9443, "mode": "off"}]`})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]*MutualAuthentication{
		80:   {Port: 80, Mode: "passthrough"},
		443:  {Port: 443, Mode: "verify", TrustStore: "arn:aws:elasticloadbalancing:trustStoreArn", IgnoreClientCertificateExpiry: aws.Bool(true)},
		8443: {Port: 8443, Mode: "verify", TrustStore: "my-store", IgnoreClientCertificateExpiry: aws.Bool(false), AdvertiseTrustStoreCaNames: aws.String("on")},
		9443: {Port: 9443, Mode: "off"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		`{"port":443,"mode":"verify"}`,
		`[]`,
		`[{"port":443}]`,
		`[{"port":0,"mode":"off"}]`,
		`[{"port":443,"mode":"strict"}]`,
		`[{"port":443,"mode":"verify"}]`,
		`[{"port":443,"mode":"passthrough","trustStore":"ts"}]`,
		`[{"port":443,"mode":"off","ignoreClientCertificateExpiry":false}]`,
		`[{"port":443,"mode":"passthrough","advertiseTrustStoreCaNames":"on"}]`,
		`[{"port":443,"mode":"verify","trustStore":"ts","advertiseTrustStoreCaNames":"yes"}]`,
		`[{"port":443,"mode":"off"},{"port":443,"mode":"passthrough"}]`,
	} {
		_, err := parseMutualAuthentication(annotations{AnnotationMutualAuthentication: bad})
		var aerr *AnnotationError
		if !errors.As(err, &aerr) || aerr.Key != AnnotationMutualAuthentication || aerr.Value != bad {
			t.Errorf("%s: %v, want an *AnnotationError naming the annotation", bad, err)
		}
	}
}

// putTrustStore uploads a new CA to the test server's S3 and makes a
// trust store of it.
func putTrustStore(t *testing.T, client *elbv2.Client, name string) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := testObjects.CreateBucket(ctx, "trust"); err != nil && !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
		t.Fatal(err)
	}
	if _, err := testObjects.PutObject(ctx, s3store.PutObjectInput{Bucket: "trust", Key: name + ".pem",
		Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}); err != nil {
		t.Fatal(err)
	}
	out, err := client.CreateTrustStore(ctx, &elbv2.CreateTrustStoreInput{Name: aws.String(name),
		CaCertificatesBundleS3Bucket: aws.String("trust"), CaCertificatesBundleS3Key: aws.String(name + ".pem")})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.TrustStores[0].TrustStoreArn)
}

// An HTTPS listener gets the annotation's mutual TLS, its trust store
// named by name resolved to the ARN; a change of the annotation modifies
// the listener, a redeploy without change writes nothing, and a port the
// annotation no longer names keeps what it has.
func TestDeployMutualAuthentication(t *testing.T) {
	ctx := context.Background()
	client, log := elbServer(t)
	d := &deploy.Deployer{Frontend: Frontend, Client: client, ClusterName: testOptions.ClusterName}
	id := GroupID{Namespace: "secure", Name: "site"}
	cert := importCert(t, "secure.example.com")
	first := putTrustStore(t, client, "clients")
	second := putTrustStore(t, client, "partners")
	deploy := func(value string) *elbv2.DescribeListenersOutput {
		t.Helper()
		st := buildGroup(t, "testdata/https-ssl-redirect.yaml", id, func(w *world) {
			w.ingresses[0].Annotations[AnnotationCertificateARN] = cert
			if value != "" {
				w.ingresses[0].Annotations[AnnotationMutualAuthentication] = value
			}
		})
		res, err := d.Deploy(ctx, st)
		if err != nil {
			t.Fatalf("deploy %s: %v", value, err)
		}
		ls, err := client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &res.LoadBalancerARN})
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	https := func(ls *elbv2.DescribeListenersOutput) types.MutualAuthenticationAttributes {
		for _, l := range ls.Listeners {
			if l.Protocol == types.ProtocolEnumHttps {
				return *l.MutualAuthentication
			}
		}
		t.Fatal("no HTTPS listener")
		return types.MutualAuthenticationAttributes{}
	}
	ls := deploy(`[{"port":443,"mode":"verify","trustStore":"clients"}]`)
	if m := https(ls); aws.ToString(m.Mode) != "verify" || aws.ToString(m.TrustStoreArn) != first || aws.ToBool(m.IgnoreClientCertificateExpiry) {
		t.Errorf("verify by name: %+v", m)
	}
	for _, l := range ls.Listeners {
		if l.Protocol == types.ProtocolEnumHttp && l.MutualAuthentication != nil {
			t.Errorf("HTTP listener describes mutual authentication %+v", l.MutualAuthentication)
		}
	}
	log.writes()
	deploy(`[{"port":443,"mode":"verify","trustStore":"clients"}]`)
	if w := log.writes(); len(w) != 0 {
		t.Errorf("redeploy wrote %v", w)
	}
	ls = deploy(`[{"port":443,"mode":"verify","trustStore":"` + second + `","ignoreClientCertificateExpiry":true,"advertiseTrustStoreCaNames":"on"}]`)
	if m := https(ls); aws.ToString(m.TrustStoreArn) != second || !aws.ToBool(m.IgnoreClientCertificateExpiry) || m.AdvertiseTrustStoreCaNames != types.AdvertiseTrustStoreCaNamesEnumOn {
		t.Errorf("verify by ARN: %+v", m)
	}
	if w := log.writes(); !cmp.Equal(w, []string{"ModifyListener"}) {
		t.Errorf("changing the trust store wrote %v, want ModifyListener", w)
	}
	if m := https(deploy("")); aws.ToString(m.Mode) != "verify" {
		t.Errorf("without the annotation the listener keeps its mode: %+v", m)
	}
	if m := https(deploy(`[{"port":443,"mode":"passthrough"}]`)); aws.ToString(m.Mode) != "passthrough" || m.TrustStoreArn != nil {
		t.Errorf("passthrough: %+v", m)
	}
	if m := https(deploy(`[{"port":443,"mode":"off"}]`)); aws.ToString(m.Mode) != "off" {
		t.Errorf("off: %+v", m)
	}
	st := buildGroup(t, "testdata/https-ssl-redirect.yaml", id, func(w *world) {
		w.ingresses[0].Annotations[AnnotationCertificateARN] = cert
		w.ingresses[0].Annotations[AnnotationMutualAuthentication] = `[{"port":443,"mode":"verify","trustStore":"nobody"}]`
	})
	if _, err := d.Deploy(ctx, st); err == nil || !strings.Contains(err.Error(), "TrustStoreNotFound") || !strings.Contains(err.Error(), AnnotationMutualAuthentication) {
		t.Errorf("unknown trust store: %v", err)
	}
	if m := https(deploy("")); aws.ToString(m.Mode) != "off" {
		t.Errorf("a failed deploy changed the listener: %+v", m)
	}
}
