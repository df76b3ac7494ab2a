package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// mtlsIngress serves mtls.example.com over HTTPS to clients whose
// certificate the trust store e2e-mtls verifies, named by name as the
// AWS Load Balancer Controller's documentation shows.
const mtlsIngress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: mtls
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/listen-ports: '[{"HTTPS": 443}]'
    alb.ingress.kubernetes.io/mutual-authentication: '[{"port": 443, "mode": "verify", "trustStore": "e2e-mtls"}]'
spec:
  ingressClassName: alb
  tls:
  - hosts: [mtls.example.com]
    secretName: mtls-tls
  rules:
  - host: mtls.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`

// TestALBMutualTLS follows AWS's mutual TLS walkthrough in kelb up: the CA
// bundle goes to S3 with `aws s3 cp`, `aws elbv2 create-trust-store` makes
// the trust store, and an Ingress asks for verify mode by the trust store's
// name. curl without a client certificate is refused in the handshake;
// with one the CA issued, the pod answers and sees the
// X-Amzn-Mtls-Clientcert-* headers.
func TestALBMutualTLS(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	const host = "mtls.example.com"
	dir := t.TempDir()

	// The client CA and a client certificate it issues.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	clientKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clientDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(0xC11E),
		Subject: pkix.Name{CommonName: "e2e client"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientKeyDER, _ := x509.MarshalECPrivateKey(clientKey)
	server := selfSigned(t, host)
	for name, data := range map[string][]byte{
		"ca.pem":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"client.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}),
		"client.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: clientKeyDER}),
		"server.pem": server.certPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	out, err := env.Shell(t.Context(), "", "sh", "-ec", `
aws s3 mb s3://e2e-mtls >/dev/null
aws s3 cp --only-show-errors `+dir+`/ca.pem s3://e2e-mtls/ca.pem
aws elbv2 create-trust-store --name e2e-mtls --ca-certificates-bundle-s3-bucket e2e-mtls \
  --ca-certificates-bundle-s3-key ca.pem --query 'TrustStores[0].TrustStoreArn' --output text`)
	if err != nil {
		t.Fatalf("upload the CA bundle and create the trust store: %v", err)
	}
	trustStore := strings.TrimSpace(out)
	t.Cleanup(func() {
		// The trust store is in use until the controller has removed the
		// Ingress's listener: delete the Ingress, then the trust store
		// once it is free, then the bucket.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		env.Shell(ctx, "", "kubectl", "delete", "ingress", "-n", ns, "mtls", "--ignore-not-found", "--timeout=60s")
		for {
			_, err := env.Shell(ctx, "", "aws", "elbv2", "delete-trust-store", "--trust-store-arn", trustStore)
			if err == nil || ctx.Err() != nil {
				if err != nil {
					t.Errorf("delete trust store %s: %v", trustStore, err)
				}
				break
			}
			time.Sleep(2 * time.Second)
		}
		env.Shell(ctx, "", "sh", "-c", "aws s3 rm s3://e2e-mtls/ca.pem && aws s3 rb s3://e2e-mtls")
	})

	env.Apply(t, ns, tlsSecret("mtls-tls", server)+"---\n"+albDeployment("web", 1)+"---\n"+mtlsIngress)
	lbHost := ingressHostname(t, env, ns, "mtls")
	waitReadyPods(t, env, ns, "app=web", 1)
	tlsArgs := []string{"--cacert", filepath.Join(dir, "server.pem"), "--connect-to", host + ":443:" + lbHost + ":443"}
	withCert := append([]string{"--cert", filepath.Join(dir, "client.pem"), "--key", filepath.Join(dir, "client.key")}, tlsArgs...)

	var body string
	framework.Eventually(t, 2*time.Minute, func() error {
		b, info, err := curlWrite(t, env, "https://"+host+"/", "%{http_code}", withCert...)
		if err != nil {
			return err
		}
		if info != "200" {
			return fmt.Errorf("https://%s/ with a client certificate: %s, want 200", host, info)
		}
		body = b
		return nil
	})
	for _, want := range []string{
		"x-amzn-mtls-clientcert-serial-number=C11E",
		"x-amzn-mtls-clientcert-subject=CN=e2e client",
		"x-amzn-mtls-clientcert-issuer=CN=e2e client CA",
		"x-amzn-mtls-clientcert-leaf=-----BEGIN%20CERTIFICATE-----",
		"x-amzn-mtls-clientcert-validity=NotBefore=",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the pod did not see %q:\n%s", want, body)
		}
	}
	if _, info, err := curlWrite(t, env, "https://"+host+"/", "%{http_code}", tlsArgs...); err == nil {
		t.Errorf("a client without a certificate got %s, want the handshake refused", info)
	}
}
