package servertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
)

// selfSigned returns a PEM certificate and key for host.
func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
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

// A Service with the TLS annotations gets a TLS listener with its
// certificates (an ACM ARN and a TLS Secret kelb controller imports), its
// policies and a TLS target group; changes apply in place; a bad value is
// a Warning naming the annotation that changes nothing; a Secret no longer
// named has its certificate deleted; without ssl-cert the port is TCP again.
func TestReconcileTLSService(t *testing.T) {
	ctx := context.Background()
	elbClient, writes, acmClient := serverWithACM(t)
	c, k := selfSigned(t, "shop.example")
	imported, err := acmClient.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: c, PrivateKey: k})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(imported.CertificateArn)
	sc, sk := selfSigned(t, "api.shop.example")
	tlsSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "api-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: sc, corev1.TLSPrivateKeyKey: sk}}

	svc := testService(func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), NodePort: 30443, Protocol: corev1.ProtocolTCP})
		s.Annotations[service.AnnotationSSLCert] = arn
		s.Annotations[service.AnnotationSSLCertSecrets] = "api-tls"
		s.Annotations[service.AnnotationSSLPorts] = "https"
		s.Annotations[service.AnnotationBackendProtocol] = "ssl"
		s.Annotations[service.AnnotationALPNPolicy] = "HTTP2Preferred"
		s.Annotations[service.AnnotationSSLNegotiationPolicy] = "ELBSecurityPolicy-TLS13-1-2-2021-06"
	})
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := elbv2api.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(svc, tlsSecret).WithStatusSubresource(&corev1.Service{}).Build()
	recorder := record.NewFakeRecorder(100)
	r := &service.Reconciler{
		Client:   kube,
		Recorder: recorder,
		Deployer: &deploy.Deployer{Client: elbClient, ClusterName: opts.ClusterName,
			Certificates: &certificates.SecretCertificates{Kube: kube, ACM: acmClient, ClusterName: opts.ClusterName}, Frontend: service.Frontend},
		Options: opts,
	}
	key := ktypes.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	reconcile := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
	}
	update := func(mutate func(*corev1.Service)) {
		t.Helper()
		var got corev1.Service
		if err := kube.Get(ctx, key, &got); err != nil {
			t.Fatal(err)
		}
		mutate(&got)
		if err := kube.Update(ctx, &got); err != nil {
			t.Fatal(err)
		}
	}
	// listener443 returns the port 443 listener, its certificates (the
	// default first) and its target group's protocol.
	listener443 := func() (types.Listener, []string, string) {
		t.Helper()
		actual, err := r.Deployer.Find(ctx, "ui/ui-nlb", nil)
		if err != nil || actual.LoadBalancer == nil {
			t.Fatalf("find: %v, %+v", err, actual)
		}
		out, err := elbClient.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: &actual.LoadBalancer.ARN})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range out.Listeners {
			if aws.ToInt32(l.Port) != 443 {
				continue
			}
			var certs []string
			if l.Protocol == types.ProtocolEnumTls {
				cs, err := elbClient.DescribeListenerCertificates(ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: l.ListenerArn})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cs.Certificates {
					if aws.ToBool(c.IsDefault) {
						certs = append([]string{aws.ToString(c.CertificateArn)}, certs...)
					} else if aws.ToString(c.CertificateArn) != aws.ToString(l.Certificates[0].CertificateArn) {
						certs = append(certs, aws.ToString(c.CertificateArn))
					}
				}
			}
			tg, err := elbClient.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{aws.ToString(l.DefaultActions[0].TargetGroupArn)}})
			if err != nil {
				t.Fatal(err)
			}
			return l, certs, string(tg.TargetGroups[0].Protocol)
		}
		t.Fatal("no listener on port 443")
		return types.Listener{}, nil, ""
	}
	reconcile()
	l, certs, tgProtocol := listener443()
	if l.Protocol != types.ProtocolEnumTls || aws.ToString(l.SslPolicy) != "ELBSecurityPolicy-TLS13-1-2-2021-06" ||
		!slices.Equal(l.AlpnPolicy, []string{"HTTP2Preferred"}) || tgProtocol != "TLS" {
		t.Errorf("listener %s %s %v, target group %s", l.Protocol, aws.ToString(l.SslPolicy), l.AlpnPolicy, tgProtocol)
	}
	if len(certs) != 2 || certs[0] != arn {
		t.Fatalf("certificates %v, want %s and the Secret's", certs, arn)
	}
	secretARN := certs[1]
	if got, err := acmClient.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: &secretARN}); err != nil || aws.ToString(got.Certificate) != strings.TrimSpace(string(sc)) && aws.ToString(got.Certificate) != string(sc) {
		t.Errorf("the Secret's certificate in the store: %v", err)
	}

	// Nothing changed: nothing written.
	before := writes.Load()
	reconcile()
	if n := writes.Load() - before; n != 0 {
		t.Errorf("reconcile of an unchanged TLS Service made %d API writes", n)
	}

	// A bad ALPN policy: a Warning naming it, nothing written.
	drain(recorder.Events)
	update(func(s *corev1.Service) { s.Annotations[service.AnnotationALPNPolicy] = "HTTP3" })
	reconcile()
	if ev := drain(recorder.Events); !hasEvent(ev, "Warning "+service.ReasonFailedBuildModel) || !strings.Contains(strings.Join(ev, "\n"), service.AnnotationALPNPolicy) {
		t.Errorf("events %v, want a FailedBuildModel warning naming %s", ev, service.AnnotationALPNPolicy)
	}
	if n := writes.Load() - before; n != 0 {
		t.Errorf("a bad ALPN policy made %d API writes", n)
	}

	// The Secret goes, the policies change: in place, and the Secret's
	// certificate leaves kelb's store.
	update(func(s *corev1.Service) {
		delete(s.Annotations, service.AnnotationSSLCertSecrets)
		s.Annotations[service.AnnotationALPNPolicy] = "HTTP1Only"
		s.Annotations[service.AnnotationSSLNegotiationPolicy] = "ELBSecurityPolicy-TLS13-1-3-2021-06"
	})
	reconcile()
	l2, certs, _ := listener443()
	if aws.ToString(l2.ListenerArn) != aws.ToString(l.ListenerArn) {
		t.Error("listener replaced, want it changed in place")
	}
	if diff := cmp.Diff([]string{arn}, certs); diff != "" || aws.ToString(l2.SslPolicy) != "ELBSecurityPolicy-TLS13-1-3-2021-06" || !slices.Equal(l2.AlpnPolicy, []string{"HTTP1Only"}) {
		t.Errorf("after the change: %s %v, certificates (-want +got):\n%s", aws.ToString(l2.SslPolicy), l2.AlpnPolicy, diff)
	}
	if _, err := acmClient.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: &secretARN}); err == nil {
		t.Errorf("certificate %s of a Secret no Service names is still in the store", secretARN)
	}

	// Without a certificate the port is plain TCP again.
	update(func(s *corev1.Service) { delete(s.Annotations, service.AnnotationSSLCert) })
	reconcile()
	if l3, _, _ := listener443(); l3.Protocol != types.ProtocolEnumTcp {
		t.Errorf("listener %s after ssl-cert is removed, want TCP", l3.Protocol)
	}
}
