package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	pb "sigs.k8s.io/gateway-api/conformance/echo-basic/grpcechoserver"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/test/e2e/framework"
)

// grpcGateway is an echo-basic gRPC backend (as the conformance suite's
// grpc-infra-backend), an ALB Gateway with an HTTPS listener whose
// certificate is the TLS Secret gw-tls, and a GRPCRoute sending the
// GrpcEcho service to the backend.
const grpcGateway = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: grpc
spec:
  replicas: 1
  selector:
    matchLabels: {app: grpc}
  template:
    metadata:
      labels: {app: grpc}
    spec:
      containers:
      - name: echo
        image: registry.k8s.io/gateway-api/echo-basic:v1.5.1
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        - name: NAMESPACE
          valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
        - {name: GRPC_ECHO_SERVER, value: "1"}
---
apiVersion: v1
kind: Service
metadata:
  name: grpc
spec:
  selector: {app: grpc}
  ports:
  - {protocol: TCP, port: 8080, targetPort: 3000, appProtocol: kubernetes.io/h2c}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: grpc
spec:
  gatewayClassName: aws-alb-gateway-class
  listeners:
  - name: https
    protocol: HTTPS
    port: 443
    tls:
      certificateRefs: [{name: gw-tls}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: echo
spec:
  parentRefs: [{name: grpc}]
  rules:
  - matches:
    - method: {service: gateway_api_conformance.echo_basic.grpcecho.GrpcEcho}
    backendRefs: [{name: grpc, port: 8080}]
`

// tlsGateway is an NLB Gateway whose TLS listener terminates with the TLS
// Secret gw-tls, and a TLSRoute to the l4 echo backend: a network load
// balancer does not route by SNI, so the route forwards every decrypted
// stream, as the AWS Load Balancer Controller's NLB class does.
const tlsGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: nlb-tls
spec:
  gatewayClassName: aws-nlb-gateway-class
  listeners:
  - name: tls
    protocol: TLS
    port: 8443
    tls:
      mode: Terminate
      certificateRefs: [{name: gw-tls}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata:
  name: tls
spec:
  parentRefs: [{name: nlb-tls, sectionName: tls}]
  hostnames: [grpc.gateway.example]
  rules:
  - backendRefs: [{name: l4, port: 9000}]
`

// TestGatewayGRPCAndTLS: a GRPCRoute on an ALB Gateway's HTTPS listener
// serves a real gRPC client over TLS, which verifies the certificate the
// listener presents, the one of the Kubernetes TLS Secret its
// certificateRefs name; and a TLSRoute on an NLB Gateway's TLS listener
// (the same Secret) carries a verified TLS stream to a TCP echo pod.
func TestGatewayGRPCAndTLS(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	const host = "grpc.gateway.example"
	kp := selfSigned(t, host)
	// The l4 backend's Deployment and Service, without its Gateway.
	l4 := l4Backend[:strings.Index(l4Backend, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway")]
	env.Apply(t, ns, tlsSecret("gw-tls", kp)+"---\n"+grpcGateway+"---\n"+l4+"---\n"+tlsGateway)
	grpcPod := waitReadyPods(t, env, ns, "app=grpc", 1)[0]
	waitReadyPods(t, env, ns, "app=l4", 1)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(kp.certPEM) {
		t.Fatal("the test's certificate does not parse")
	}
	wantCert := kp.der
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return env.DialContext(ctx, network, net.JoinHostPort(devcluster.ControlPlaneIP, "53"))
	}}
	// dial reaches the load balancer lbHost:port from inside the
	// environment, whatever address the client asked for.
	dial := func(ctx context.Context, lbHost, port string) (net.Conn, error) {
		ips, err := resolver.LookupHost(ctx, lbHost)
		if err != nil {
			return nil, err
		}
		return env.DialContext(ctx, "tcp", net.JoinHostPort(ips[0], port))
	}
	tlsConfig := &tls.Config{RootCAs: roots, ServerName: host}

	t.Run("GRPCRoute over HTTPS", func(t *testing.T) {
		lbHost := gatewayAddress(t, env, ns, "grpc")
		waitRouteCondition(t, env, "grpcroute", ns, "echo", "Accepted", "True", "Accepted")
		conn, err := grpc.NewClient("passthrough:///"+host+":443",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dial(ctx, lbHost, "443") }),
			grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		client := pb.NewGrpcEchoClient(conn)
		framework.Eventually(t, 2*time.Minute, func() error {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			resp, err := client.Echo(ctx, &pb.EchoRequest{})
			if err != nil {
				return err
			}
			if a := resp.GetAssertions(); a.GetContext().GetPod() != grpcPod || a.GetFullyQualifiedMethod() != "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo" {
				return fmt.Errorf("Echo answered %v, want pod %s and the Echo method", a, grpcPod)
			}
			return nil
		})
		// The TLS client verified the chain; the leaf is the Secret's.
		c, err := dial(t.Context(), lbHost, "443")
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, tlsConfig)
		defer tc.Close()
		if err := tc.HandshakeContext(t.Context()); err != nil {
			t.Fatalf("TLS handshake with the HTTPS listener: %v", err)
		}
		if got := tc.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, wantCert) {
			t.Error("the HTTPS listener presents another certificate than the Secret's")
		}
	})

	t.Run("TLSRoute on an NLB", func(t *testing.T) {
		lbHost := gatewayAddress(t, env, ns, "nlb-tls")
		waitRouteCondition(t, env, "tlsroute", ns, "tls", "Accepted", "True", "Accepted")
		arn := loadBalancerByDNS(t, env, lbHost).LoadBalancerArn
		framework.Eventually(t, time.Minute, func() error {
			var listeners struct{ Listeners []struct{ Protocol string } }
			if err := awsJSON(t, env, &listeners, "elbv2", "describe-listeners", "--load-balancer-arn", arn); err != nil {
				return err
			}
			if len(listeners.Listeners) != 1 || listeners.Listeners[0].Protocol != "TLS" {
				gw, _ := env.Shell(t.Context(), "", "kubectl", "get", "gateway", "-n", ns, "nlb-tls", "-o", "jsonpath={.status}")
				rt, _ := env.Shell(t.Context(), "", "kubectl", "get", "tlsroute", "-n", ns, "tls", "-o", "jsonpath={.status}")
				return fmt.Errorf("listeners %+v, want one TLS listener; Gateway status %s; TLSRoute status %s; events %s", listeners.Listeners, gw, rt, ingressEvents(t, env, ns, "nlb-tls"))
			}
			return nil
		})
		framework.Eventually(t, 2*time.Minute, func() error {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			c, err := dial(ctx, lbHost, "8443")
			if err != nil {
				return err
			}
			tc := tls.Client(c, tlsConfig)
			defer tc.Close()
			_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("TLS handshake: %w", err)
			}
			if !bytes.Equal(tc.ConnectionState().PeerCertificates[0].Raw, wantCert) {
				return fmt.Errorf("the TLS listener presents another certificate than the Secret's")
			}
			if _, err := tc.Write([]byte("ping-tls\n")); err != nil {
				return err
			}
			line, err := bufio.NewReader(tc).ReadString('\n')
			if err != nil {
				return fmt.Errorf("read the echo: %w", err)
			}
			if strings.TrimSpace(line) != "ping-tls" {
				return fmt.Errorf("answered %q, want the echo of ping-tls", line)
			}
			return nil
		})
	})
}
