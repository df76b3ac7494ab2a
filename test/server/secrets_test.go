package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// TestPrivateKeyEncryptedAtRest imports a certificate through the ACM API
// and serves it on an HTTPS listener, across a restart: the store file
// never holds the private key (PEM, DER or the private scalar), the key
// file beside it is 0600, and once the certificate is deleted nothing of
// its key is left in the file either.
func TestPrivateKeyEncryptedAtRest(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	certs := acm.New(acm.Options{Region: region, BaseEndpoint: aws.String(s.APIURL),
		Credentials: staticCredentials(keyID, secretKey), HTTPClient: s.httpClient()})

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "secret.example.test"},
		DNSNames: []string{"secret.example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	scalar, err := key.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{"PEM": bytes.TrimSpace(keyPEM), "DER": keyDER, "private scalar": scalar}
	for i, line := range bytes.Split(keyPEM, []byte("\n")) {
		if len(line) >= 16 && !bytes.HasPrefix(line, []byte("-----")) {
			needles[fmt.Sprintf("PEM line %d", i)] = line
		}
	}
	db := filepath.Join(s.dataDir, "kelb.db")
	leaks := func(when string) {
		t.Helper()
		raw, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		for name, n := range needles {
			if bytes.Contains(raw, n) {
				t.Errorf("%s: the store file holds the private key's %s", when, name)
			}
		}
	}

	imp, err := certs.ImportCertificate(ctx, &acm.ImportCertificateInput{
		Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), PrivateKey: keyPEM})
	if err != nil {
		t.Fatal(err)
	}
	leaks("after ImportCertificate")
	if fi, err := os.Stat(db + ".key"); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Errorf("key file %s.key: %v, %v; want 32 bytes, mode 0600", db, fi, err)
	}

	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("secret"), Type: types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	lOut, err := s.ELB.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancerArn, Protocol: types.ProtocolEnumHttps, Port: aws.Int32(443),
		Certificates: []types.Certificate{{CertificateArn: imp.CertificateArn}},
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
			StatusCode: aws.String("200"), ContentType: aws.String("text/plain"), MessageBody: aws.String("ok"),
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(aws.ToString(lb.AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress), "443")
	served := func(when string) {
		t.Helper()
		eventually(t, 10*time.Second, "the imported certificate on "+addr+" "+when, func() error {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{ServerName: "secret.example.test", InsecureSkipVerify: true})
			if err != nil {
				return err
			}
			defer c.Close()
			if got := c.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, der) {
				return errors.New("the listener serves another certificate")
			}
			return nil
		})
	}
	served("after import")
	s.restart()
	served("after a restart, with the key opened from the key file")
	leaks("after a restart")

	if _, err := s.ELB.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: lOut.Listeners[0].ListenerArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: imp.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	leaks("after DeleteCertificate")
}
