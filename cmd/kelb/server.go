package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/dataplane/kernel"
	"github.com/kelb-io/kelb/internal/dataplane/l7"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/fleet"
	"github.com/kelb-io/kelb/internal/server"
)

func newServerCmd() *cobra.Command {
	var (
		cfg             server.Config
		zones           []string
		zoneTargets     []string
		instances       []string
		vpcCIDRs        []string
		credentialsFile string
		accessKeyID     string
		secretKey       string
		logLevel        string
		maxFlows        int
		maxPerListener  int
		fdReserve       int
		announce        *announceFlags
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run kelb server: the ELBv2 API, the load balancers' data plane, health checks and DNS",
		Long: `kelb server is the load balancer service: it answers the ELBv2 API (the aws CLI,
boto3 and the AWS SDKs work against it with an endpoint override), keeps its
configuration in a store under --data-dir, and runs every load balancer's
listeners, forwarding to the healthy targets of their target groups.

Zones are given with --zone NAME=CIDR (repeatable): each load balancer gets
one address per zone from that zone's pool. With no --zone, one zone
<region>a with the pool 127.0.1.0/24 is used, which needs no network setup.
Targets are addresses of the VPC, given with --vpc-cidr CIDR (repeatable,
default 127.0.0.0/8), or private addresses outside it (10.0.0.0/8,
100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16) registered with an
Availability Zone, as in AWS; link-local, multicast, broadcast and public
addresses outside the VPC are refused (InvalidTarget).
The VPC (--vpc-id, --vpc-cidr), the zones as its subnets and security
groups are served by the EC2 API on the same address (aws ec2
describe-subnets, create-security-group, authorize-security-group-ingress,
...). A load balancer's listeners admit only the clients the ingress rules
of its security groups allow for their protocol and port.
Listeners bind their addresses with IP_FREEBIND; to have traffic to them
delivered, route the pools to this host, or give --manage-addresses IFACE
and kelb adds each load balancer's addresses to IFACE (as /32) and removes
them when the load balancer is deleted.

With --announce bgp, kelb runs a BGP speaker that connects to each
--bgp-peer ADDR,asn=N[,port=P][,hold=D][,password=S] and announces a /32
route for every load balancer address of its zones, next hop its own
address on the peering link, while its data plane serves it: a failed
apply withdraws them all, a clean stop withdraws everything and closes the
sessions before exit, and losing etcd changes nothing announced. With
--announce l2 --l2-interface IFACE (and --store etcd), one node per load
balancer address, elected through etcd, adds it to IFACE as a /32 and sends
gratuitous ARP; it gives the address up when the load balancer is gone, on
a clean stop, and after losing etcd only once etcd shows another owner.

The configuration store is kelb.db under --data-dir. With --store etcd it
is kept in etcd instead (--etcd-endpoints, --etcd-prefix, TLS with
--etcd-cacert, --etcd-cert and --etcd-key), shared by every kelb server on
the same etcd and prefix: a change through any server's API reaches every
server's data plane, health checks and DNS. While etcd cannot be reached,
API writes fail with ServiceUnavailable and nothing is half-written; the
load balancers keep serving their last configuration. "kelb store migrate"
copies a bbolt store into etcd.

The kelb servers on one etcd and prefix form a fleet. Each is a node named
--node-name (unique in the fleet) serving --node-zones, registered under
<prefix>nodes/ with a lease of --node-lease-ttl that it keeps alive; a node
whose lease runs out (killed, cut off from etcd) is gone for the others,
and "kelb server nodes" lists the nodes. Every node health-checks the
targets of the load balancers with an address in its zones and publishes
its verdicts. DescribeTargetHealth on any node merges the live nodes'
verdicts: the worst state wins (unhealthy over initial over healthy), and an
unhealthy target's description names the nodes that see it fail. DNS on
every node answers, for a load balancer name, the addresses of the zones
that have a live node and a healthy target, as that zone's own nodes see
it (a node failing another zone's targets does not take that zone out;
all zones when none has). A
node that loses etcd keeps its last view of the fleet and keeps serving; it
registers anew when etcd answers again. With the bbolt store the fleet is
this one server.

Every API request must be signed (SigV4) with a known access key: from
--credentials-file (AWS credentials file format), from --access-key-id and
--secret-access-key, or else a key pair generated on first start and kept
in <data-dir>/credentials (mode 0600, an AWS credentials file with a [kelb]
profile); only its path is printed. Private keys of imported certificates
are encrypted in the store with a key kept in <data-dir>/kelb.db.key (mode
0600, created at first start). Certificates requested through the ACM API
(aws acm request-certificate) are issued at once by kelb's certificate
authority, one per store, whose certificate kelb writes to
<data-dir>/kelb-ca.pem (and kelb server ca prints); they are renewed 60
days before they expire.

Network load balancer flows are bounded: --max-flows TCP connections and
UDP flows in all, --max-flows-per-listener on one listening socket (a
listener's port on one zone address). At a bound, kelb ends the flow idle
(no data either way for a second or more) the longest to make room; with
none idle, a new TCP connection is reset and a new UDP flow's datagram
dropped (kelb_nlb_evicted_flows_total, kelb_nlb_refused_flows_total).
kelb raises its descriptor soft limit to the hard limit at start and
lowers the bounds so that --fd-reserve descriptors stay free for the API,
metrics, DNS, health checks and application load balancers: a TCP flow
takes two descriptors, a UDP flow one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if len(zones) == 0 {
				zones = []string{cfg.Region + "a=127.0.1.0/24"}
			}
			for _, z := range zones {
				zone, err := server.ParseZone(z)
				if err != nil {
					return fmt.Errorf("--zone: %w", err)
				}
				cfg.Zones = append(cfg.Zones, zone)
			}
			if !strings.HasPrefix(cfg.VpcID, "vpc-") {
				return fmt.Errorf("--vpc-id %q must start with vpc-", cfg.VpcID)
			}
			for _, c := range vpcCIDRs {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					return fmt.Errorf("--vpc-cidr: %w", err)
				}
				cfg.VPCCIDRs = append(cfg.VPCCIDRs, p.Masked())
			}
			for _, in := range instances {
				inst, err := server.ParseInstance(in)
				if err != nil {
					return fmt.Errorf("--instance: %w", err)
				}
				cfg.Instances = append(cfg.Instances, inst)
			}
			for _, zt := range zoneTargets {
				if err := server.ParseZoneTargets(cfg.Zones, zt); err != nil {
					return fmt.Errorf("--zone-targets: %w", err)
				}
			}
			if err := server.ValidateZones(cfg.Zones); err != nil {
				return fmt.Errorf("--zone: %w", err)
			}
			if err := kernel.CheckSNATSource(cfg.SNATSource); err != nil {
				return fmt.Errorf("--snat-source: %w", err)
			}
			if err := checkStoreFlags(cmd, cfg.Store); err != nil {
				return err
			}
			announceCfg, err := announce.config(cmd)
			if err != nil {
				return err
			}
			cfg.Announce = announceCfg
			if err := checkNodeZones(cmd.Flags(), cfg.Zones); err != nil {
				return err
			}
			if err := fleet.ValidateName(cfg.Node.Name); err != nil {
				return fmt.Errorf("--node-name: %w", err)
			}
			if cfg.Node.LeaseTTL < time.Second || cfg.Node.LeaseTTL%time.Second != 0 {
				return fmt.Errorf("--node-lease-ttl must be whole seconds, at least 1s, not %v", cfg.Node.LeaseTTL)
			}
			creds, err := serverCredentials(cmd, cfg.DataDir, credentialsFile, accessKeyID, secretKey)
			if err != nil {
				return err
			}
			cfg.Credentials = creds
			if cfg.FlowBounds, err = flowBounds(cfg.Logger, fdReserve, maxFlows, maxPerListener); err != nil {
				return err
			}
			return server.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:9400", "address of the ELBv2 API (HTTP)")
	f.StringVar(&cfg.DNSAddr, "dns-addr", "127.0.0.1:5353", "address of the DNS server for load balancer names (UDP and TCP); empty disables it")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1:9401", "address of the Prometheus metrics endpoint; empty disables it")
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "directory of the configuration store and generated credentials")
	f.StringVar(&cfg.Region, "region", elb.DefaultRegion, "region of ARNs and DNS names")
	f.StringVar(&cfg.DNSDomain, "dns-domain", elb.DefaultDNSDomain, "domain of load balancer DNS names (<name>-<id>.elb.<region>.<domain>)")
	f.StringArrayVar(&zones, "zone", nil, "zone NAME=CIDR[,subnet=SUBNET_ID][,ipv6=CIDR6]: a zone and the pool of its load balancer addresses, with ipv6= the zone's IPv6 network, from which dualstack load balancers get their IPv6 address (repeatable; without ipv6= the zone takes ipv4 load balancers only)")
	f.StringArrayVar(&zoneTargets, "zone-targets", nil, "NAME=CIDR: targets in this network are in zone NAME (repeatable); the network must lie in the VPC")
	f.StringArrayVar(&instances, "instance", nil, "ID=ADDRESS[,prefix=CIDR...]: an instance (node) of the VPC: instance targets may name it by id (i-...), DescribeInstances answers it with the VPC's default security group and the prefixes (its pods' networks) on its network interface (repeatable)")
	f.StringVar(&cfg.VpcID, "vpc-id", elb.DefaultVpcID, "id of the VPC load balancers and security groups are in, as the ELBv2 and EC2 APIs report it")
	f.StringArrayVar(&vpcCIDRs, "vpc-cidr", []string{elb.DefaultVPCCIDRs[0].String()}, "a network of the VPC (repeatable): targets are its addresses, or private addresses outside it registered with an Availability Zone")
	f.StringVar(&cfg.ManageAddresses, "manage-addresses", "", "network interface to add load balancer addresses to (as /32) while their load balancer exists; empty binds them with IP_FREEBIND only")
	f.StringVar(&credentialsFile, "credentials-file", "", "AWS credentials file whose access keys the API accepts")
	f.StringVar(&accessKeyID, "access-key-id", "", "access key id the API accepts (with --secret-access-key)")
	f.StringVar(&secretKey, "secret-access-key", "", "secret access key of --access-key-id")
	f.IntVar(&cfg.APILimits.MaxConns, "api-max-connections", server.DefaultAPILimits.MaxConns, "most open connections to the API; at the cap the one idle longest is closed for a new one")
	f.DurationVar(&cfg.APILimits.ReadTimeout, "api-read-timeout", server.DefaultAPILimits.ReadTimeout, "time a request to the API or metrics may take to arrive whole, head and body")
	f.DurationVar(&cfg.APILimits.IdleTimeout, "api-idle-timeout", server.DefaultAPILimits.IdleTimeout, "time a keep-alive connection to the API or metrics may wait for its next request")
	f.IntVar(&cfg.MaxLoadBalancersPerType, "max-load-balancers-per-type", elb.MaxLoadBalancersPerType, "quota of network load balancers, and of application load balancers: CreateLoadBalancer beyond it is TooManyLoadBalancers (AWS's default quota per region, which AWS raises on request)")
	f.IntVar(&cfg.ALBMaxConns, "alb-max-connections", l7.DefaultMaxConns, "most open client connections per ALB listener; at the cap the one idle longest is closed for a new one. All ALB connections and NLB flows also share one descriptor budget: the descriptor limit less --fd-reserve, two descriptors each")
	f.DurationVar(&cfg.CertificateRenewalInterval, "certificate-renewal-interval", time.Hour, "how often the certificates kelb issued (RequestCertificate) are checked for renewal; those expiring within 60 days are issued again under the same ARN")
	f.StringVar(&cfg.AuthCAFile, "auth-ca-file", "", "PEM file of CA certificates trusted, besides the system's, for the identity provider endpoints of ALB authenticate-oidc, authenticate-cognito and jwt-validation actions; empty trusts the system's only")
	f.StringVar(&cfg.CognitoEndpoint, "cognito-endpoint", "", "base URL that replaces every Cognito user pool's hosted domain and issuer for authenticate-cognito actions (<url>/oauth2/authorize, /oauth2/token, /oauth2/userInfo; issuer <url>), for an OpenID provider standing in for Cognito; empty uses https://<domain>.auth.<region>.amazoncognito.com and https://cognito-idp.<region>.amazonaws.com/<pool-id>")
	f.StringVar(&cfg.DataPlane, "dataplane", kernel.ModeAuto, "where NLB listeners run: auto (the kernel plane where kelb has CAP_NET_ADMIN and nftables, else userspace), kernel (nftables NAT and conntrack, required; flows outlive kelb), or userspace (a TCP/UDP proxy; flows end with kelb); PROXY protocol v2 and IPv6 listeners always run in userspace")
	f.StringVar(&cfg.SNATSource, "snat-source", kernel.SNATLoadBalancer, "source address of kernel plane flows to targets without preserve_client_ip (and of hairpin flows): load-balancer (the load balancer's address, as AWS) or node (the outgoing interface's address, which a fleet of servers behind ECMP routes needs so that replies come back to the server holding the flow)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.IntVar(&maxFlows, "max-flows", dataplane.DefaultMaxFlows, "most TCP connections and UDP flows of all network load balancer listeners together (lowered to fit the descriptor limit less --fd-reserve)")
	f.IntVar(&maxPerListener, "max-flows-per-listener", dataplane.DefaultMaxFlowsPerListener, "most TCP connections or UDP flows of one listening socket (a listener's port on one zone address)")
	f.IntVar(&fdReserve, "fd-reserve", dataplane.DefaultDescriptorReserve, "descriptors kept free for the API, metrics, DNS and health checks (at most half the limit); the rest is the budget NLB flows and ALB client connections share, two descriptors each (a new one at the budget evicts the flow or connection idle longest, else waits or is refused)")
	f.StringVar(&cfg.Node.Name, "node-name", server.DefaultNodeName(), "name of this kelb server in the fleet sharing its etcd store (unique in the fleet)")
	f.StringSliceVar(&cfg.Node.Zones, "node-zones", nil, "zones (of --zone, comma-separated) whose load balancer addresses this node serves, announces and health-checks for; absent: every zone (given empty, as --node-zones=, it is refused)")
	f.DurationVar(&cfg.Node.LeaseTTL, "node-lease-ttl", fleet.DefaultLeaseTTL, "lifetime of this node's etcd lease: a node not heard from for this long is gone for the fleet (whole seconds, at least 1s)")
	addStoreFlags(cmd, &cfg.Store)
	announce = addAnnounceFlags(cmd)
	cmd.AddCommand(newServerNodesCmd(), newServerCACmd())
	addFlagsFile(cmd)
	return cmd
}

// flowBounds raises the descriptor limit and fits the flow bounds and the
// descriptor budget NLB flows and ALB connections share into it, and logs
// what is in effect.
func flowBounds(log *slog.Logger, reserve, maxFlows, maxPerListener int) (dataplane.Bounds, error) {
	switch {
	case maxFlows < 1:
		return dataplane.Bounds{}, fmt.Errorf("--max-flows must be at least 1, not %d", maxFlows)
	case maxPerListener < 1:
		return dataplane.Bounds{}, fmt.Errorf("--max-flows-per-listener must be at least 1, not %d", maxPerListener)
	case reserve < 0:
		return dataplane.Bounds{}, fmt.Errorf("--fd-reserve must not be negative, not %d", reserve)
	}
	limit, err := dataplane.RaiseDescriptorLimit()
	if err != nil {
		if limit == 0 {
			return dataplane.Bounds{}, err
		}
		log.Warn("descriptor limit not raised", "err", err)
	}
	b, err := dataplane.DeriveBounds(limit, reserve, maxFlows, maxPerListener)
	if err != nil {
		return dataplane.Bounds{}, fmt.Errorf("--fd-reserve: %w", err)
	}
	log.Info("flow bounds", "descriptor_limit", limit, "fd_reserve", min(reserve, int(limit/2)),
		"budget_slots", b.Slots, "descriptors_per_slot", dataplane.DescriptorsPerFlow,
		"max_flows", b.MaxFlows, "max_flows_per_listener", b.MaxFlowsPerListener, "splice_pipes", b.Pipes)
	return b, nil
}

// serverCredentials picks the access keys the API accepts, generating a key
// pair in the data dir on first start when none is configured.
func serverCredentials(cmd *cobra.Command, dataDir, file, id, secret string) (elbapi.Credentials, error) {
	switch {
	case (id == "") != (secret == ""):
		return nil, fmt.Errorf("--access-key-id and --secret-access-key go together")
	case id != "" && file != "":
		return nil, fmt.Errorf("give --credentials-file or --access-key-id, not both")
	case id != "":
		return elbapi.StaticCredentials{id: secret}, nil
	case file != "":
		creds, err := elbapi.ReadCredentialsFile(file)
		if err != nil {
			return nil, fmt.Errorf("--credentials-file: %w", err)
		}
		if len(creds) == 0 {
			return nil, fmt.Errorf("--credentials-file %s holds no access key", file)
		}
		return creds, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	id, secret, created, err := elbapi.LoadOrCreateCredentials(dataDir)
	if err != nil {
		return nil, err
	}
	if created {
		// The path, never the secret: stderr ends up in logs.
		fmt.Fprintf(cmd.ErrOrStderr(), `kelb server: generated an access key, kept in %[1]s (mode 0600).
Sign requests with it:
  export AWS_SHARED_CREDENTIALS_FILE=%[1]s AWS_PROFILE=%[2]s
`, filepath.Join(dataDir, "credentials"), elbapi.CredentialsProfile)
	}
	return elbapi.StaticCredentials{id: secret}, nil
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "kelb", "server")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "kelb", "server")
	}
	return "kelb-data"
}
