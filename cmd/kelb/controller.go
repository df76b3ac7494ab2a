package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	rgt "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	gatewayawsapi "github.com/kelb-io/kelb/api/gateway/v1"
	"github.com/kelb-io/kelb/internal/controller/awsmetrics"
	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/endpoints"
	"github.com/kelb-io/kelb/internal/controller/gateway"
	"github.com/kelb-io/kelb/internal/controller/ingress"
	"github.com/kelb-io/kelb/internal/controller/service"
	"github.com/kelb-io/kelb/internal/controller/targetgroupbinding"
	"github.com/kelb-io/kelb/internal/controller/webhook"
	"github.com/kelb-io/kelb/internal/elb"
)

// controllerFlags are kelb controller's flags, named as the AWS Load
// Balancer Controller's.
type controllerFlags struct {
	kubeconfig              string
	clusterName             string
	loadBalancerClass       string
	defaultTargetType       string
	defaultScheme           string
	defaultLoadBalancer     bool
	defaultTags             string
	defaultSSLPolicy        string
	elbEndpoint             string
	leaderElect             bool
	leaderElectionID        string
	leaderElectionNamespace string
	healthProbeAddr         string
	metricsAddr             string
	logLevel                string
	webhookBindAddr         string
	webhookHost             string
	webhookConfigName       string
	webhookCertDir          string
	webhookService          string
	ingressClass            string
	enableServiceMutator    bool
	vpcID                   string
	disableIngressClassAnn  bool
	disableIngressGroupAnn  bool
	tgbMaxConcurrent        int
	svcMaxConcurrent        int
	ingMaxConcurrent        int
}

func newControllerCmd() *cobra.Command {
	var f controllerFlags
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Turn Kubernetes Services into kelb network load balancers",
		Long: `kelb controller watches the Services of a Kubernetes cluster and gives each
Service that is its own a network load balancer on kelb server, through the
ELBv2 API, as the AWS Load Balancer Controller does on EKS.

The region and credentials come from the usual AWS environment (AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...); the kelb server
address from --elb-endpoint or AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2,
where the controller also calls kelb server's EC2, ACM and Resource Groups
Tagging APIs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runController(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file; empty: $KUBECONFIG, then the in-cluster configuration")
	fl.StringVar(&f.clusterName, "cluster-name", "", "name of the cluster, tagged on every resource the controller makes (required)")
	fl.StringVar(&f.loadBalancerClass, "load-balancer-class", service.DefaultLoadBalancerClass, "the spec.loadBalancerClass of Services that are the controller's")
	fl.StringVar(&f.defaultTargetType, "default-target-type", "instance", "target type of a Service of our class with no target type annotation: instance or ip")
	fl.StringVar(&f.defaultScheme, "default-load-balancer-scheme", service.SchemeInternal, "scheme of a load balancer with no scheme annotation: internal or internet-facing")
	fl.BoolVar(&f.defaultLoadBalancer, "default-load-balancer", false, "also take every type LoadBalancer Service with no class and no aws-load-balancer-type annotation (instance mode)")
	fl.StringVar(&f.defaultTags, "default-tags", "", "tags added to every resource, as k1=v1,k2=v2")
	fl.StringVar(&f.defaultSSLPolicy, "default-ssl-policy", service.DefaultSSLPolicy, "security policy of TLS (Service) and HTTPS (Ingress) listeners with no policy annotation")
	fl.StringVar(&f.elbEndpoint, "elb-endpoint", "", "URL of the kelb server ELBv2 API; empty: the AWS SDK's endpoint resolution")
	fl.BoolVar(&f.leaderElect, "leader-elect", true, "elect one active controller among replicas")
	fl.StringVar(&f.leaderElectionID, "leader-election-id", "kelb-controller-leader", "name of the leader election lease")
	fl.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease; empty: the controller's namespace")
	fl.StringVar(&f.healthProbeAddr, "health-probe-bind-address", ":61779", "address of the /healthz and /readyz endpoints")
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint; 0 disables it")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.webhookBindAddr, "webhook-bind-address", ":9443", "address of the admission webhooks (pod readiness gates, Service, TargetGroupBinding, Ingress, IngressClassParams) (host:port); empty disables them")
	fl.StringVar(&f.webhookHost, "webhook-host", "", "host or IP the API server reaches the webhook on, outside the cluster: the controller then writes the webhook configuration with a url clientConfig; empty: the configuration from the manifests (a Service)")
	fl.StringVar(&f.webhookConfigName, "webhook-config-name", "kelb-webhook", "name of the MutatingWebhookConfiguration and ValidatingWebhookConfiguration whose caBundles the controller keeps")
	fl.StringVar(&f.webhookCertDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs"), "directory of the webhook's generated serving certificate")
	fl.StringVar(&f.webhookService, "webhook-service", "kelb-system/kelb-webhook-service", "namespace/name of the webhook's Service, named in its certificate, when --webhook-host is empty")
	fl.StringVar(&f.ingressClass, "ingress-class", ingress.DefaultIngressClass, "the legacy kubernetes.io/ingress.class annotation value of Ingresses that are the controller's")
	fl.BoolVar(&f.enableServiceMutator, "enable-service-mutator-webhook", false, "the Service webhook sets spec.loadBalancerClass to --load-balancer-class on every type LoadBalancer Service created without one, making it the controller's (the AWS Load Balancer Controller's chart default); off: such Services are judged by their annotations and --default-load-balancer")
	fl.StringVar(&f.vpcID, "aws-vpc-id", elb.DefaultVpcID, "the cluster's VPC, kelb server's: a TargetGroupBinding update may set an unset spec.vpcID only to it")
	fl.BoolVar(&f.disableIngressClassAnn, "disable-ingress-class-annotation", false, "refuse new uses of the kubernetes.io/ingress.class annotation naming the controller's class (Ingress webhook)")
	fl.BoolVar(&f.disableIngressGroupAnn, "disable-ingress-group-name-annotation", false, "refuse new uses of the alb.ingress.kubernetes.io/group.name annotation (Ingress webhook)")
	fl.IntVar(&f.tgbMaxConcurrent, "targetgroupbinding-max-concurrent-reconciles", targetgroupbinding.DefaultMaxConcurrentReconciles,
		"TargetGroupBindings reconciled at once; a reconcile mostly waits for kube-apiserver and kelb server, so more workers than cores shorten a cold start of many Services (the AWS Load Balancer Controller's default is 3)")
	fl.IntVar(&f.svcMaxConcurrent, "service-max-concurrent-reconciles", service.DefaultMaxConcurrentReconciles,
		"Services reconciled at once; a reconcile mostly waits for kube-apiserver and kelb server, so more workers than cores shorten a cold start of many Services (the AWS Load Balancer Controller's default is 3)")
	fl.IntVar(&f.ingMaxConcurrent, "ingress-max-concurrent-reconciles", ingress.DefaultMaxConcurrentReconciles,
		"IngressGroups reconciled at once (one group is never reconciled by two workers at once)")
	return cmd
}

func runController(cmd *cobra.Command, f controllerFlags) error {
	ctx := cmd.Context()
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	if f.clusterName == "" {
		return fmt.Errorf("--cluster-name is required")
	}
	if f.defaultTargetType != "instance" && f.defaultTargetType != "ip" {
		return fmt.Errorf("--default-target-type %q: must be instance or ip", f.defaultTargetType)
	}
	if f.defaultScheme != service.SchemeInternal && f.defaultScheme != service.SchemeInternetFacing {
		return fmt.Errorf("--default-load-balancer-scheme %q: must be internal or internet-facing", f.defaultScheme)
	}
	if f.tgbMaxConcurrent < 1 {
		return fmt.Errorf("--targetgroupbinding-max-concurrent-reconciles %d: must be at least 1", f.tgbMaxConcurrent)
	}
	if f.svcMaxConcurrent < 1 {
		return fmt.Errorf("--service-max-concurrent-reconciles %d: must be at least 1", f.svcMaxConcurrent)
	}
	if f.ingMaxConcurrent < 1 {
		return fmt.Errorf("--ingress-max-concurrent-reconciles %d: must be at least 1", f.ingMaxConcurrent)
	}
	tags, err := parseTags(f.defaultTags)
	if err != nil {
		return fmt.Errorf("--default-tags: %w", err)
	}

	restConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: f.kubeconfig, Precedence: kubeconfigPrecedence()},
		&clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubernetes client configuration: %w", err)
	}
	// client-go's default of 5 requests a second, shared by every
	// reconciler, would queue a cold start's finalizers, status writes and
	// bindings behind each other; kube-apiserver's priority and fairness
	// limits the controller instead, as the AWS Load Balancer Controller
	// leaves it to.
	restConfig.QPS, restConfig.Burst = 1e6, 1e6
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	// Every client made from awsCfg counts its calls (aws_api_calls_total
	// on the metrics endpoint).
	awsCfg.APIOptions = append(awsCfg.APIOptions, awsmetrics.New(ctrlmetrics.Registry).APIOption)
	elbClient := elbv2.NewFromConfig(awsCfg, func(o *elbv2.Options) {
		if f.elbEndpoint != "" {
			o.BaseEndpoint = &f.elbEndpoint
		}
	})

	// kelb server serves the EC2 API (security groups) on the ELBv2
	// endpoint too.
	ec2Client := ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
		if ep := elbClient.Options().BaseEndpoint; ep != nil {
			o.BaseEndpoint = ep
		}
	})

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := elbv2api.AddToScheme(scheme); err != nil {
		return err
	}
	if err := gatewayv1.Install(scheme); err != nil {
		return err
	}
	if err := gatewayawsapi.AddToScheme(scheme); err != nil {
		return err
	}
	hook, err := webhookSetup(f, restConfig, scheme)
	if err != nil {
		return err
	}
	// kelb serves metrics and health probes itself (endpoints), with its
	// deadlines and connection caps: controller-runtime's servers are off.
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		WebhookServer:           hook.server,
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		LeaderElection:          f.leaderElect,
		LeaderElectionID:        f.leaderElectionID,
		LeaderElectionNamespace: f.leaderElectionNamespace,
	})
	if err != nil {
		return fmt.Errorf("controller manager: %w", err)
	}
	if f.metricsAddr != "0" && f.metricsAddr != "" {
		if err := mgr.Add(&endpoints.Server{Addr: f.metricsAddr, Handler: endpoints.Metrics()}); err != nil {
			return err
		}
	}
	if f.healthProbeAddr != "" {
		if err := mgr.Add(&endpoints.Server{Addr: f.healthProbeAddr, Handler: endpoints.Health()}); err != nil {
			return err
		}
	}
	// kelb server serves its certificate store's ACM API on the ELBv2 endpoint.
	acmClient := acm.NewFromConfig(awsCfg, func(o *acm.Options) {
		if ep := elbClient.Options().BaseEndpoint; ep != nil {
			o.BaseEndpoint = ep
		}
	})
	// kelb server serves the Resource Groups Tagging API (GetResources,
	// how a deploy finds a stack's resources by their tags) on the ELBv2
	// endpoint too.
	taggingClient := rgt.NewFromConfig(awsCfg, func(o *rgt.Options) {
		if ep := elbClient.Options().BaseEndpoint; ep != nil {
			o.BaseEndpoint = ep
		}
	})
	rec := &service.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("service"),
		Deployer: &deploy.Deployer{Client: elbClient, Tagging: taggingClient, EC2: ec2Client, ClusterName: f.clusterName,
			Certificates: &certificates.SecretCertificates{Kube: mgr.GetClient(), ACM: acmClient, ClusterName: f.clusterName}, Frontend: service.Frontend},
		Selection: service.Selection{
			LoadBalancerClass:   f.loadBalancerClass,
			DefaultLoadBalancer: f.defaultLoadBalancer,
		},
		Options: service.BuildOptions{
			ClusterName:       f.clusterName,
			DefaultTargetType: f.defaultTargetType,
			DefaultScheme:     f.defaultScheme,
			DefaultTags:       tags,
			DefaultSSLPolicy:  f.defaultSSLPolicy,
		},
		MaxConcurrentReconciles: f.svcMaxConcurrent,
	}
	if err := rec.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("service controller: %w", err)
	}
	if err := ingress.SetupWithManager(mgr, ingress.Options{
		ELB:          elbClient,
		ACM:          acmClient,
		EC2:          ec2Client,
		Tagging:      taggingClient,
		IngressClass: f.ingressClass,

		MaxConcurrentReconciles: f.ingMaxConcurrent,
		Build: ingress.BuildOptions{ClusterName: f.clusterName, DefaultTargetType: f.defaultTargetType, DefaultScheme: f.defaultScheme, DefaultTags: tags,
			DefaultSSLPolicy: f.defaultSSLPolicy},
	}); err != nil {
		return fmt.Errorf("ingress controller: %w", err)
	}
	gatewayDeployers := gateway.Deployers(deploy.Deployer{Client: elbClient, Tagging: taggingClient, EC2: ec2Client, ClusterName: f.clusterName,
		Certificates: &certificates.SecretCertificates{Kube: mgr.GetClient(), ACM: acmClient, ClusterName: f.clusterName}})
	if _, err := gateway.Setup(mgr, gatewayDeployers, gateway.Options{ClusterName: f.clusterName, DefaultScheme: f.defaultScheme,
		DefaultTags: tags, DefaultSSLPolicy: f.defaultSSLPolicy}); err != nil {
		return fmt.Errorf("gateway controller: %w", err)
	}
	bindings := &targetgroupbinding.Reconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorderFor("targetgroupbinding"),
		ELB:      elbClient,

		MaxConcurrentReconciles: f.tgbMaxConcurrent,
	}
	if err := bindings.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("target group binding controller: %w", err)
	}
	if hook.certs != nil {
		hook.certs.Log = mgr.GetLogger().WithName("webhook-certs")
		if err := hook.certs.Setup(time.Now()); err != nil {
			return fmt.Errorf("webhook certificate: %w", err)
		}
		if err := mgr.Add(hook.certs); err != nil {
			return err
		}
		webhook.Register(mgr.GetWebhookServer(), mgr.GetClient(), scheme, webhook.Options{
			Webhooks:                          hook.certs.Webhooks,
			LoadBalancerClass:                 f.loadBalancerClass,
			ELB:                               elbClient,
			VpcID:                             f.vpcID,
			IngressClass:                      f.ingressClass,
			DisableIngressClassAnnotation:     f.disableIngressClassAnn,
			DisableIngressGroupNameAnnotation: f.disableIngressGroupAnn,
		})
	}
	return mgr.Start(ctx)
}

// webhookParts are the webhook server and its certificate manager; both
// nil when the webhook is disabled.
type webhookParts struct {
	server ctrlwebhook.Server
	certs  *webhook.CertManager
}

// webhookSetup builds the webhook server and certificate manager from the
// flags.
func webhookSetup(f controllerFlags, restConfig *rest.Config, scheme *runtime.Scheme) (webhookParts, error) {
	if f.webhookBindAddr == "" {
		return webhookParts{}, nil
	}
	_, portStr, err := net.SplitHostPort(f.webhookBindAddr)
	if err != nil {
		return webhookParts{}, fmt.Errorf("--webhook-bind-address: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return webhookParts{}, fmt.Errorf("--webhook-bind-address: bad port %q", portStr)
	}
	direct, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return webhookParts{}, fmt.Errorf("webhook client: %w", err)
	}
	certs := &webhook.CertManager{Client: direct, ConfigName: f.webhookConfigName, CertDir: f.webhookCertDir, Webhooks: webhook.AllWebhooks}
	certs.Webhooks.Service = f.enableServiceMutator
	if f.webhookHost != "" {
		certs.Hosts = []string{f.webhookHost}
		certs.URL = "https://" + net.JoinHostPort(f.webhookHost, portStr)
	} else {
		ns, name, ok := strings.Cut(f.webhookService, "/")
		if !ok || ns == "" || name == "" {
			return webhookParts{}, fmt.Errorf("--webhook-service %q: want namespace/name", f.webhookService)
		}
		certs.Hosts = []string{name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local"}
	}
	server := &webhook.Server{Addr: f.webhookBindAddr, CertDir: f.webhookCertDir}
	return webhookParts{server: server, certs: certs}, nil
}

func kubeconfigPrecedence() []string {
	if v := os.Getenv("KUBECONFIG"); v != "" {
		return strings.Split(v, string(os.PathListSeparator))
	}
	return nil
}

// parseTags parses k1=v1,k2=v2.
func parseTags(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", item)
		}
		out[k] = v
	}
	return out, nil
}
