package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// secureIngress serves secure.example.com over HTTPS with the certificate
// of Secret secure-tls, and redirects HTTP to HTTPS.
const secureIngress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: secure
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/listen-ports: '[{"HTTP": 80}, {"HTTPS": 443}]'
    alb.ingress.kubernetes.io/ssl-redirect: '443'
spec:
  ingressClassName: alb
  tls:
  - hosts: [secure.example.com]
    secretName: secure-tls
  rules:
  - host: secure.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`

// TestALBHTTPSFromTLSSecret checks that the TLS Secret named in an
// Ingress's spec.tls becomes the certificate of its HTTPS listener: curl
// trusting only that certificate gets the pods' answer over HTTP/2, the
// certificate served for the host is the Secret's, HTTP redirects to
// HTTPS, a renewed Secret is served in its place, and the certificate
// leaves kelb's store with the Ingress.
func TestALBHTTPSFromTLSSecret(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	const host = "secure.example.com"
	dir := t.TempDir()
	first := selfSigned(t, host)
	env.Apply(t, ns, tlsSecret("secure-tls", first)+"---\n"+albDeployment("web", 2)+"---\n"+secureIngress)

	lbHost := ingressHostname(t, env, ns, "secure")
	pods := waitReadyPods(t, env, ns, "app=web", 2)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, first.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	connectTo := []string{"--connect-to", host + ":443:" + lbHost + ":443", "--connect-to", host + ":80:" + lbHost + ":80"}

	framework.Eventually(t, 2*time.Minute, func() error {
		body, info, err := curlWrite(t, env, "https://"+host+"/cart", "%{http_code} HTTP/%{http_version}", append([]string{"--cacert", caFile}, connectTo...)...)
		if err != nil {
			return err
		}
		if info != "200 HTTP/2" {
			return fmt.Errorf("https://%s/cart: %s, want 200 HTTP/2", host, info)
		}
		for _, p := range pods {
			if strings.Contains(body, "Hostname: "+p+"\n") {
				return nil
			}
		}
		return fmt.Errorf("https://%s/cart answered, but not from a pod of %q:\n%s", host, pods, body)
	})
	if got := servedCertificate(t, env, lbHost, host); !bytes.Equal(got, first.der) {
		t.Errorf("certificate served for %s is not the Secret's", host)
	}

	_, info, err := curlWrite(t, env, "http://"+host+"/cart?item=1", "%{http_code} %{redirect_url}", connectTo...)
	// The default port may be written out or left out; both lead to the
	// HTTPS listener.
	if want := "301 https://" + host + "/cart?item=1"; err != nil || strings.Replace(info, ":443/", "/", 1) != want {
		t.Errorf("http://%s/cart?item=1: %q, err %v; want the ssl-redirect's %q", host, info, err, want)
	}

	var listeners struct {
		Listeners []struct {
			Port         int
			Protocol     string
			Certificates []struct{ CertificateArn string }
		}
	}
	lb := loadBalancerByDNS(t, env, lbHost)
	if err := awsJSON(t, env, &listeners, "elbv2", "describe-listeners", "--load-balancer-arn", lb.LoadBalancerArn); err != nil {
		t.Fatal(err)
	}
	var certARN string
	for _, l := range listeners.Listeners {
		if l.Protocol != "HTTPS" {
			continue
		}
		if l.Port != 443 || len(l.Certificates) != 1 || !strings.HasPrefix(l.Certificates[0].CertificateArn, "arn:aws:acm:") {
			t.Fatalf("HTTPS listener %+v: want port 443 with one certificate from kelb's certificate store (arn:aws:acm:...)", l)
		}
		certARN = l.Certificates[0].CertificateArn
	}
	if !slices.Contains(certificates(t, env), certARN) {
		t.Errorf("aws acm list-certificates does not list the listener's certificate %s", certARN)
	}

	// Renewing the Secret (as cert-manager does) changes what is served.
	second := selfSigned(t, host)
	env.Apply(t, ns, tlsSecret("secure-tls", second))
	framework.Eventually(t, 2*time.Minute, func() error {
		if !bytes.Equal(servedCertificate(t, env, lbHost, host), second.der) {
			return fmt.Errorf("the load balancer still serves the certificate the Secret had before")
		}
		return nil
	})

	// With the Ingress gone, the certificate and its key leave kelb's
	// store.
	env.Kubectl(t, "delete", "ingress", "-n", ns, "secure", "--timeout=60s")
	framework.Eventually(t, time.Minute, func() error {
		if slices.Contains(certificates(t, env), certARN) {
			return fmt.Errorf("certificate %s is still in the store after its Ingress was deleted", certARN)
		}
		return nil
	})
}

// certificates returns the ARNs aws acm list-certificates reports, of
// every key type (without --includes ACM lists RSA certificates only);
// kelb server serves the ACM API on its ELBv2 endpoint.
func certificates(t *testing.T, env *framework.Env) []string {
	t.Helper()
	out, err := env.Shell(t.Context(), "", "sh", "-c", `aws acm list-certificates --endpoint-url "$AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2" --includes keyTypes=RSA_2048,RSA_3072,RSA_4096,EC_prime256v1,EC_secp384r1 --query 'CertificateSummaryList[].CertificateArn' --output text`)
	if err != nil {
		t.Fatalf("aws acm list-certificates: %v", err)
	}
	return strings.Fields(out)
}

// curlWrite runs curl on url inside the environment and returns the body
// and what curl's --write-out format w printed after it.
func curlWrite(t *testing.T, env *framework.Env, url, w string, extra ...string) (body, info string, err error) {
	t.Helper()
	args := append(append([]string{"curl", "-sS", "--max-time", "10", "-w", "\n" + w}, extra...), url)
	out, err := env.Shell(t.Context(), "", args...)
	if err != nil {
		return "", "", err
	}
	i := strings.LastIndexByte(out, '\n')
	return out[:i], out[i+1:], nil
}

// keyPair is a certificate and its private key.
type keyPair struct {
	der     []byte
	certPEM []byte
	keyPEM  []byte
}

// selfSigned returns a new self-signed certificate for host, valid for a
// day.
func selfSigned(t *testing.T, host string) keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{
		der:     der,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// tlsSecret is a kubernetes.io/tls Secret holding kp.
func tlsSecret(name string, kp keyPair) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
type: kubernetes.io/tls
data:
  tls.crt: %s
  tls.key: %s
`, name, base64.StdEncoding.EncodeToString(kp.certPEM), base64.StdEncoding.EncodeToString(kp.keyPEM))
}

// servedCertificate returns the DER of the certificate the load balancer
// at lbHost:443 presents for server name sni, as openssl s_client sees it.
func servedCertificate(t *testing.T, env *framework.Env, lbHost, sni string) []byte {
	t.Helper()
	out, err := env.Shell(t.Context(), "", "openssl", "s_client", "-connect", lbHost+":443", "-servername", sni)
	if err != nil && !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Fatalf("openssl s_client -connect %s:443 -servername %s: %v", lbHost, sni, err)
	}
	var block *pem.Block
	if i := strings.Index(out, "-----BEGIN CERTIFICATE"); i >= 0 {
		block, _ = pem.Decode([]byte(out[i:]))
	}
	if block == nil {
		t.Fatalf("openssl s_client -connect %s:443 -servername %s: no certificate in\n%s", lbHost, sni, out)
	}
	return block.Bytes
}
