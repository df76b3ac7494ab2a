package devcluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kelb-io/kelb/internal/controller/webhook"
	"github.com/kelb-io/kelb/internal/devcluster/proc"
	"github.com/kelb-io/kelb/internal/elb"
)

// LBCName is the process name of the AWS Load Balancer Controller when
// kelb up runs it in place of kelb controller (Options.LBC).
const LBCName = "aws-load-balancer-controller"

// LBCWebhookPort is the port of the AWS Load Balancer Controller's
// webhook server. It cannot be bound to one address (the controller has
// no flag for it), so it takes this port on every address of the
// namespace: a port no pod of the walkthroughs serves.
const LBCWebhookPort = 19443

// LBCArgs returns the arguments of the AWS Load Balancer Controller in
// environment st: kelb server as the endpoint of every AWS API it calls
// (ELBv2, EC2, ACM), its WAF and Shield add-ons off (kelb has neither), the
// region, VPC and cluster name given so that it never asks the instance
// metadata service, its health and metrics
// endpoints where kelb controller has them, no leader election (one
// replica). kube-apiserver reaches its webhooks by URL
// (registerLBCWebhooks).
func LBCArgs(st *State) []string {
	endpoint := st.APIEndpoint()
	return []string{
		"--kubeconfig", st.Kubeconfig,
		"--cluster-name", "kelb-" + st.Options.Name,
		"--aws-region", Region,
		// kelb server's VPC: ServerArgs gives no --vpc-id.
		"--aws-vpc-id", elb.DefaultVpcID,
		"--aws-api-endpoints", strings.Join([]string{
			"Elastic Load Balancing v2=" + endpoint,
			"EC2=" + endpoint,
			"ACM=" + endpoint,
		}, ","),
		// kelb answers no WAF nor Shield: without these the controller
		// asks AWS's Shield endpoint on every ALB reconcile.
		"--enable-shield=false", "--enable-waf=false", "--enable-wafv2=false",
		"--enable-leader-election=false",
		"--health-probe-bind-addr", net.JoinHostPort(ControlPlaneIP, strconv.Itoa(ControllerHealthPort)),
		"--metrics-bind-addr", net.JoinHostPort(ControlPlaneIP, strconv.Itoa(ControllerMetricsPort)),
		"--webhook-bind-port", strconv.Itoa(LBCWebhookPort),
		"--webhook-cert-dir", lbcCertDir(st),
	}
}

func lbcCertDir(st *State) string { return filepath.Join(st.Dir, LBCName, "webhook-certs") }

// startLBC starts the AWS Load Balancer Controller binary st.Options.LBC
// with LBCArgs, waits for its readiness endpoint and registers its
// mutating webhooks. Its webhook server needs a serving certificate: a
// self-signed one for the control-plane address is written first.
func startLBC(ctx context.Context, st *State, client kubernetes.Interface, logf func(string, ...any)) error {
	certs, err := webhook.GenerateCerts([]string{ControlPlaneIP}, time.Now(), webhook.DefaultValidity)
	if err != nil {
		return fmt.Errorf("%s webhook certificate: %w", LBCName, err)
	}
	if err := certs.Write(lbcCertDir(st)); err != nil {
		return fmt.Errorf("%s webhook certificate: %w", LBCName, err)
	}
	logf("starting %s (%s)", LBCName, st.Options.LBC)
	// The SDK would ask the instance metadata service for credentials or
	// the region when it lacks them: it never may here.
	env := append(st.Env(), "AWS_EC2_METADATA_DISABLED=true")
	p, err := proc.Start(proc.Spec{
		Name:    LBCName,
		Path:    st.Options.LBC,
		Args:    LBCArgs(st),
		Env:     env,
		LogPath: filepath.Join(st.Dir, "logs", LBCName+".log"),
		Detach:  true,
	})
	if err != nil {
		return err
	}
	st.Processes = append(st.Processes, p.Info)
	if err := st.save(); err != nil {
		return err
	}
	if err := waitHealthy(ctx, p, func(ctx context.Context) error { return httpOK(ctx, ControllerHealthURL()) }); err != nil {
		return err
	}
	logf("%s is healthy (pid %d)", LBCName, p.PID)
	return registerLBCWebhooks(ctx, client, certs.CAPEM)
}

// LBCWebhookConfig is the MutatingWebhookConfiguration of the AWS Load
// Balancer Controller, named as its Helm chart names it.
const LBCWebhookConfig = "aws-load-balancer-webhook"

// registerLBCWebhooks registers the controller's webhooks as its Helm
// chart does, reached by URL (webhook.Configurations has its names, paths,
// rules and failure policies): the pod readiness gate injector (pods of
// namespaces labelled elbv2.k8s.aws/pod-readiness-gate-inject=enabled),
// the Service mutator that gives a new Service of type LoadBalancer
// without a class the class service.k8s.aws/nlb, so that the controller
// serves it (the chart's enableServiceMutatorWebhook, on by default), the
// TargetGroupBinding mutator and validator, and the Ingress and
// IngressClassParams validators.
func registerLBCWebhooks(ctx context.Context, client kubernetes.Interface, caBundle []byte) error {
	all := webhook.AllWebhooks
	all.Service = true
	mutating, validating := webhook.Configurations(LBCWebhookConfig, fmt.Sprintf("https://%s:%d", ControlPlaneIP, LBCWebhookPort), all)
	for i := range mutating.Webhooks {
		mutating.Webhooks[i].ClientConfig.CABundle = caBundle
	}
	for i := range validating.Webhooks {
		validating.Webhooks[i].ClientConfig.CABundle = caBundle
	}
	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("register the mutating webhooks of %s: %w", LBCName, err)
	}
	if _, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("register the validating webhooks of %s: %w", LBCName, err)
	}
	return nil
}
