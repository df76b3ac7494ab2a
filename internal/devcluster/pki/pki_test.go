package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestServingAndClientCertificates serves TLS with an issued serving
// certificate and requires an issued client certificate, over a real
// socket: the handshake succeeds for the names in the certificate and
// reports the client's user and groups.
func TestServingAndClientCertificates(t *testing.T) {
	ca, err := NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(CertRequest{CommonName: "kube-apiserver", DNSNames: []string{"kubernetes.default"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(CertRequest{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CA PEM does not parse")
	}
	serverCert, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		t.Fatalf("serving key pair: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.TLS.PeerCertificates[0]
		_, _ = io.WriteString(w, c.Subject.CommonName+"/"+c.Subject.Organization[0])
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	clientCert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatalf("client key pair: %v", err)
	}
	tests := []struct {
		name       string
		serverName string
		cert       []tls.Certificate
		want       string
		wantErr    bool
	}{
		{name: "by IP", cert: []tls.Certificate{clientCert}, want: "kubernetes-admin/system:masters"},
		{name: "by DNS name", serverName: "kubernetes.default", cert: []tls.Certificate{clientCert}, want: "kubernetes-admin/system:masters"},
		{name: "name not in the certificate", serverName: "example.com", cert: []tls.Certificate{clientCert}, wantErr: true},
		{name: "no client certificate", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
				RootCAs: pool, ServerName: tt.serverName, Certificates: tt.cert,
			}}}
			resp, err := hc.Get(srv.URL)
			if tt.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded, want a TLS failure")
				}
				return
			}
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if string(body) != tt.want {
				t.Errorf("server saw %q, want %q", body, tt.want)
			}
		})
	}
}

func TestServiceAccountKey(t *testing.T) {
	priv, pub, err := ServiceAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := pem.Decode(priv)
	key, err := x509.ParsePKCS1PrivateKey(pb.Bytes)
	if err != nil {
		t.Fatalf("private key: %v", err)
	}
	ub, _ := pem.Decode(pub)
	pk, err := x509.ParsePKIXPublicKey(ub.Bytes)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	if !key.PublicKey.Equal(pk) {
		t.Error("public key does not match the private key")
	}
}
