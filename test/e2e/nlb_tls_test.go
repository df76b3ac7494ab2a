package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// nlbTLSWebService is a Service whose port 443 is a TLS listener with the
// certificate ARN (aws-load-balancer-ssl-cert, -ssl-ports "443") and
// whose port 80 stays plain TCP, both to the web pods' port 8080.
const nlbTLSWebService = `apiVersion: v1
kind: Service
metadata:
  name: web-tls
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: external
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing
    service.beta.kubernetes.io/aws-load-balancer-ssl-cert: %s
    service.beta.kubernetes.io/aws-load-balancer-ssl-ports: "443"
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {name: https, port: 443, targetPort: 8080}
  - {name: http, port: 80, targetPort: 8080}
`

// TestNLBTLS follows what a user does for TLS on a network load balancer:
// import a certificate with aws acm import-certificate, name it in the
// Service's aws-load-balancer-ssl-cert with ssl-ports "443". curl
// trusting only that certificate gets the pods' answer over HTTPS on 443,
// the certificate served is the imported one, plain HTTP on 443 gets no
// answer, and port 80 stays plain TCP. A TLS Secret named in
// kelb-ssl-cert-secrets is served by SNI beside it. A bad ALPN policy then is a
// FailedBuildModel Warning naming it, and changes nothing: no ELBv2 write,
// HTTPS still served.
func TestNLBTLS(t *testing.T) {
	env := nlbEnv(t)
	const host = "tls.example.com"
	dir := t.TempDir()
	kp := selfSigned(t, host)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, kp.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, kp.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := env.Shell(t.Context(), "", "sh", "-c", fmt.Sprintf(
		`aws acm import-certificate --endpoint-url "$AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2" --certificate fileb://%s --private-key fileb://%s --query CertificateArn --output text`,
		certFile, keyFile))
	arn := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(arn, "arn:aws:acm:") {
		t.Fatalf("aws acm import-certificate: %q, %v", out, err)
	}
	// Registered first, so it runs last: once the namespace, and the load
	// balancer with it, is gone, the certificate is no longer in use.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for ctx.Err() == nil {
			if _, err := env.Shell(ctx, "", "sh", "-c", `aws acm delete-certificate --endpoint-url "$AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2" --certificate-arn `+arn); err == nil {
				return
			}
			time.Sleep(2 * time.Second)
		}
		t.Logf("certificate %s left in kelb's store", arn)
	})
	const ns = "nlb-tls"
	nlbNamespace(t, env, ns)
	env.Apply(t, ns, albDeployment("web", 2)+"---\n"+fmt.Sprintf(nlbTLSWebService, arn))

	lbHost := nlbHostname(t, env, ns, "web-tls")
	pods := waitReadyPods(t, env, ns, "app=web", 2)
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, kp.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 2*time.Minute, func() error {
		body, info, err := curlWrite(t, env, "https://"+host+"/", "%{http_code}", "--cacert", caFile, "--connect-to", host+":443:"+lbHost+":443")
		if err != nil {
			return err
		}
		if info != "200" {
			return fmt.Errorf("https://%s/ through %s: %s, want 200", host, lbHost, info)
		}
		for _, p := range pods {
			if strings.Contains(body, "Hostname: "+p+"\n") {
				return nil
			}
		}
		return fmt.Errorf("https://%s/ answered, but not from a pod of %q:\n%s", host, pods, body)
	})
	if got := servedCertificate(t, env, lbHost, host); !bytes.Equal(got, kp.der) {
		t.Errorf("the certificate served on %s:443 is not the imported one", lbHost)
	}
	if code, body, err := env.Curl(t.Context(), "http://"+lbHost+":443/"); err == nil {
		t.Errorf("plain HTTP on the TLS port answered %d:\n%s", code, body)
	}
	if code, _, err := env.Curl(t.Context(), "http://"+lbHost+"/"); err != nil || code != 200 {
		t.Errorf("plain HTTP on port 80 (not in ssl-ports): %d, %v", code, err)
	}

	var listeners struct {
		Listeners []struct {
			Port      int
			Protocol  string
			SslPolicy string
		}
	}
	lbARN, err := nlbLoadBalancerARN(t.Context(), env, lbHost)
	if err != nil {
		t.Fatal(err)
	}
	if err := nlbAWS(t.Context(), env, &listeners, "describe-listeners", "--load-balancer-arn", lbARN); err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, l := range listeners.Listeners {
		got[l.Port] = l.Protocol + " " + l.SslPolicy
	}
	if got[443] != "TLS ELBSecurityPolicy-2016-08" || got[80] != "TCP " {
		t.Errorf("listeners %v, want 443 TLS with the AWS Load Balancer Controller's default policy and 80 TCP", got)
	}

	// A TLS Secret named in kelb-ssl-cert-secrets is imported and served
	// to clients asking for its name (SNI), the ARN staying the default.
	const secretHost = "secret.example.com"
	secretKP := selfSigned(t, secretHost)
	withSecret := strings.Replace(fmt.Sprintf(nlbTLSWebService, arn), "  annotations:\n",
		"  annotations:\n    "+annotationPrefix+"kelb-ssl-cert-secrets: web-secret-tls\n", 1)
	env.Apply(t, ns, tlsSecret("web-secret-tls", secretKP)+"---\n"+withSecret)
	framework.Eventually(t, time.Minute, func() error {
		if !bytes.Equal(servedCertificate(t, env, lbHost, secretHost), secretKP.der) {
			return fmt.Errorf("%s:443 does not serve the Secret's certificate for %s", lbHost, secretHost)
		}
		return nil
	})
	if got := servedCertificate(t, env, lbHost, host); !bytes.Equal(got, kp.der) {
		t.Errorf("with the Secret added, %s is no longer served the imported certificate", host)
	}

	const alpn = annotationPrefix + "aws-load-balancer-alpn-policy"
	writes := nlbSettle(t, env)
	env.Apply(t, ns, strings.Replace(withSecret, "  annotations:\n", "  annotations:\n    "+alpn+": HTTP3\n", 1))
	framework.Eventually(t, time.Minute, func() error {
		for _, e := range events(t, env, ns, "web-tls") {
			if e.Type == "Warning" && e.Reason == "FailedBuildModel" && strings.Contains(e.Message, alpn) {
				t.Logf("event: %s", e.Message)
				return nil
			}
		}
		return fmt.Errorf("no FailedBuildModel Warning naming %s", alpn)
	})
	if after := nlbSettle(t, env); !cmp.Equal(writes, after) {
		t.Errorf("kelb server took writes after a bad ALPN policy: %v -> %v", writes, after)
	}
	if _, info, err := curlWrite(t, env, "https://"+host+"/", "%{http_code}", "--cacert", caFile, "--connect-to", host+":443:"+lbHost+":443"); err != nil || info != "200" {
		t.Errorf("HTTPS after a bad ALPN policy: %q, %v", info, err)
	}
}
