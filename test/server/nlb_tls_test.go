package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/dataplane/proxyproto"
)

// startTLSProxyBackend is a target of a TLS target group with PROXY
// protocol v2: it reads the PROXY header, completes a TLS handshake with
// its own self-signed certificate, and greets with its name, the client
// address of the header and the ALPN protocol negotiated with kelb, then
// echoes.
func startTLSProxyBackend(t *testing.T, name, addr string) string {
	t.Helper()
	c, k := abuseSelfSigned(t, "target.internal")
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}
	ln := listenRetry(t, "tcp", addr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				h, err := proxyproto.Read(c)
				if err != nil {
					return // a health check
				}
				tc := tls.Server(c, conf)
				if err := tc.Handshake(); err != nil {
					return
				}
				_ = c.SetDeadline(time.Time{})
				fmt.Fprintf(tc, "%s %s alpn=%s\n", name, h.Source.Addr(), tc.ConnectionState().NegotiatedProtocol)
				_, _ = io.Copy(tc, tc)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// tlsListenerStack creates a network load balancer with a TLS listener on
// port forwarding to a target group of protocol tgProtocol holding target.
func tlsListenerStack(t *testing.T, s *kelbServer, name string, port int32, tgProtocol types.ProtocolEnum, tgAttrs map[string]string,
	target, policy, alpn string, certs ...string) stack {
	t.Helper()
	ctx := context.Background()
	lbOut, err := s.ELB.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Type: types.LoadBalancerTypeEnumNetwork})
	if err != nil {
		t.Fatal(err)
	}
	lb := lbOut.LoadBalancers[0]
	st := stack{LB: aws.ToString(lb.LoadBalancerArn), Addr: map[string]string{}}
	for _, az := range lb.AvailabilityZones {
		st.Addr[aws.ToString(az.ZoneName)] = aws.ToString(az.LoadBalancerAddresses[0].IpAddress)
	}
	tgOut, err := s.ELB.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: tgProtocol, Port: aws.Int32(443), TargetType: types.TargetTypeEnumIp, VpcId: aws.String("vpc-0ce1b000000000000"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	st.TG = aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if len(tgAttrs) > 0 {
		if _, err := s.ELB.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: &st.TG, Attributes: tgAttributes(tgAttrs)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: &st.TG, Targets: []types.TargetDescription{ipTarget(t, target)}}); err != nil {
		t.Fatal(err)
	}
	in := &elbv2.CreateListenerInput{
		LoadBalancerArn: &st.LB, Protocol: types.ProtocolEnumTls, Port: aws.Int32(port), SslPolicy: aws.String(policy),
		Certificates:   []types.Certificate{{CertificateArn: aws.String(certs[0])}},
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: &st.TG}},
	}
	if alpn != "" {
		in.AlpnPolicy = []string{alpn}
	}
	lOut, err := s.ELB.CreateListener(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	st.Listener = aws.ToString(lOut.Listeners[0].ListenerArn)
	for _, c := range certs[1:] {
		if _, err := s.ELB.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: &st.Listener,
			Certificates: []types.Certificate{{CertificateArn: aws.String(c)}}}); err != nil {
			t.Fatal(err)
		}
	}
	waitHealth(t, s, st.TG, target, "healthy", 30*time.Second)
	return st
}

// tlsGreeting opens a TLS connection from client to addr with conf and
// reads the target's greeting.
func tlsGreeting(client, addr string, conf *tls.Config) (*tls.Conn, string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}}
	conf = conf.Clone()
	conf.InsecureSkipVerify = true
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return nil, "", err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		c.Close()
		return nil, "", fmt.Errorf("greeting: %w", err)
	}
	return c, strings.TrimSpace(line), nil
}

// TestNetworkLoadBalancerTLS: certificates imported into kelb's ACM serve
// a TLS listener created through the ELBv2 API, chosen by SNI; the
// listener's security policy refuses older TLS versions, its ALPN policy
// picks the protocol, a plain TCP client never reaches the target; a TLS
// target group gets TLS from kelb, after the PROXY v2 header.
func TestNetworkLoadBalancerTLS(t *testing.T) {
	t.Parallel()
	tn := newNet()
	s := startServer(t, tn, serverOptions{})
	ctx := context.Background()
	certs := acm.New(acm.Options{Region: region, BaseEndpoint: aws.String(s.APIURL), Credentials: staticCredentials(keyID, secretKey), HTTPClient: s.httpClient()})
	importCert := func(host string) string {
		c, k := abuseSelfSigned(t, host)
		out, err := certs.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: c, PrivateKey: k})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.CertificateArn)
	}
	def, sni := importCert("default.tls.test"), importCert("sni.tls.test")

	echo := startEchoBackend(t, "plain-target", tn.backend("a", 1)+":8443")
	st := tlsListenerStack(t, s, "nlb-tls", 443, types.ProtocolEnumTcp, nil, echo.Addr, "ELBSecurityPolicy-TLS13-1-2-2021-06", "HTTP2Preferred", def, sni)
	addr := st.listenerAddr("a", 443)

	for _, tc := range []struct{ sni, want string }{{"sni.tls.test", "sni.tls.test"}, {"other.tls.test", "default.tls.test"}, {"", "default.tls.test"}} {
		var c *tls.Conn
		var greeting string
		eventually(t, 10*time.Second, "the TLS listener answers", func() error {
			var err error
			c, greeting, err = tlsGreeting(tn.client(), addr, &tls.Config{ServerName: tc.sni, NextProtos: []string{"http/1.1", "h2"}})
			return err
		})
		cs := c.ConnectionState()
		if got := cs.PeerCertificates[0].Subject.CommonName; got != tc.want {
			t.Errorf("SNI %q: certificate %q, want %q", tc.sni, got, tc.want)
		}
		if greeting != "plain-target" || cs.NegotiatedProtocol != "h2" {
			t.Errorf("SNI %q: greeting %q, ALPN %q; want plain-target, h2 (HTTP2Preferred)", tc.sni, greeting, cs.NegotiatedProtocol)
		}
		if _, err := io.WriteString(c, "ping\n"); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}

	if _, _, err := tlsGreeting(tn.client(), addr, &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 client was served by ELBSecurityPolicy-TLS13-1-2-2021-06")
	}

	plain, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = plain.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	got, err := io.ReadAll(plain)
	plain.Close()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Error("a plain TCP client's connection stayed open")
	}
	if strings.Contains(string(got), "plain-target") {
		t.Errorf("a plain TCP client reached the target: %q", got)
	}

	// TLS to the target, after the PROXY v2 header.
	target := startTLSProxyBackend(t, "tls-target", tn.backend("b", 1)+":8443")
	st2 := tlsListenerStack(t, s, "nlb-tls-backend", 8443, types.ProtocolEnumTls, map[string]string{"proxy_protocol_v2.enabled": "true"},
		target, "ELBSecurityPolicy-TLS13-1-3-2021-06", "HTTP2Optional", def)
	var c *tls.Conn
	var greeting string
	eventually(t, 10*time.Second, "the TLS listener with a TLS target group answers", func() error {
		var err error
		c, greeting, err = tlsGreeting(tn.client(), st2.listenerAddr("b", 8443), &tls.Config{NextProtos: []string{"h2", "http/1.1"}})
		return err
	})
	defer c.Close()
	if want := "tls-target " + tn.client() + " alpn=http/1.1"; greeting != want {
		t.Errorf("greeting %q, want %q (PROXY header's client, the client's ALPN protocol offered to the target)", greeting, want)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("version %s under ELBSecurityPolicy-TLS13-1-3-2021-06", tls.VersionName(v))
	}
}
