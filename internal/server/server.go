// Package server assembles kelb server: the ELBv2 API, the ACM API (for
// listener certificates) and the EC2 API (the VPC, subnets and security
// groups) over the store, the health checker, the L4 and L7
// data planes, DNS for load balancer names and Prometheus metrics.
//
// One loop keeps the moving parts in step. It wakes on every committed store
// revision and on every target health transition, takes a snapshot of the
// whole configuration, and hands it to the health checker (what to probe),
// the data plane (what to listen on and forward to) and DNS (which addresses
// answer for a name). Health results never write the store: they flow from
// the checker's view straight into the data plane and DNS. With
// --manage-addresses the same pass adds new load balancer addresses to an
// interface and removes those of deleted load balancers, and with
// --announce it tells the network which addresses this node serves
// (announce.go: BGP routes while the last apply succeeded, withdrawn when
// it failed and on a clean stop; nothing announced changes when the store
// cannot be read). An API call
// answers only once the revision its writes reached has been through this pass
// (or after two seconds at most), so a change is in effect when its call
// returns: no new flow reaches a target after DeregisterTargets, a new
// listener's port accepts connections after CreateListener. A call that
// wrote nothing answers at once on a bbolt store; on etcd (a fleet) it waits
// for the store's revision, which may hold other nodes' writes. After a restart
// the first pass runs before the API serves, so every load balancer is back
// as soon as its sockets are bound; targets whose health is not known yet
// are served fail-open until the first probes decide.
//
// The store is bbolt in the data dir, or etcd shared by several kelb
// servers (store.go); with etcd the same loop runs on every server, woken
// by any server's writes. When etcd cannot be reached, API calls fail with
// ServiceUnavailable and write nothing, while the loop keeps the last
// snapshot applied: load balancers, health checks and DNS carry on as they
// were until etcd answers again.
//
// Each server is a node of the fleet on its store (fleet.go, package
// fleet; with bbolt a fleet of one): it health-checks only the load
// balancers with an address in its zones, publishes its verdicts, and the
// same pass hands DNS each zone's health, as the live nodes serving the
// zone see it, and the zones that have a live node: a zone's address is
// answered while one of its own nodes sees a target it forwards to
// healthy, whatever nodes of other zones see. DescribeTargetHealth
// describes the merged health (the worst state over every live node).
//
// Network load balancer listeners run on the kernel data plane (package
// dataplane/kernel: nftables NAT and conntrack, flows that outlive the
// process) wherever kelb may program nftables, and on the userspace plane
// otherwise or when Config.DataPlane says userspace; the kernel plane's
// table is named for the data dir, so a restart on the same data dir takes
// over the table a killed server left.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/kelb-io/kelb/internal/acmapi"
	"github.com/kelb-io/kelb/internal/albauth"
	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/confview"
	"github.com/kelb-io/kelb/internal/connlimit"
	"github.com/kelb-io/kelb/internal/dataplane"
	"github.com/kelb-io/kelb/internal/dataplane/kernel"
	"github.com/kelb-io/kelb/internal/dataplane/l7"
	"github.com/kelb-io/kelb/internal/dns"
	"github.com/kelb-io/kelb/internal/ec2api"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/fleet"
	"github.com/kelb-io/kelb/internal/health"
	"github.com/kelb-io/kelb/internal/s3api"
	"github.com/kelb-io/kelb/internal/s3store"
	"github.com/kelb-io/kelb/internal/secgroup"
	"github.com/kelb-io/kelb/internal/taggingapi"
)

// Config configures kelb server.
type Config struct {
	// APIAddr is where the ELBv2 API listens (HTTP).
	APIAddr string
	// DNSAddr is where DNS for load balancer names listens (UDP and TCP);
	// empty disables it.
	DNSAddr string
	// MetricsAddr is where Prometheus metrics are served; empty disables
	// them.
	MetricsAddr string
	// DataDir holds the bbolt store and generated credentials.
	DataDir string
	// Store selects the configuration store (bbolt in DataDir by default).
	Store StoreConfig
	// Node is this server as a node of the fleet sharing the etcd store.
	Node      NodeConfig
	Region    string
	DNSDomain string
	Zones     []elb.Zone
	// VPCCIDRs are the networks of the VPC targets are in (elb.Config);
	// empty means elb.DefaultVPCCIDRs.
	VPCCIDRs []netip.Prefix
	// Instances are the VPC's instances, named by id in instance targets
	// and answered by DescribeInstances (elb.Config).
	Instances []elb.Instance
	// VpcID is the id of that VPC, as the ELBv2 and EC2 APIs report it;
	// empty means elb.DefaultVpcID.
	VpcID string
	// ManageAddresses is a network interface that load balancer addresses
	// are added to while their load balancer exists; empty leaves
	// interfaces alone (listeners bind with IP_FREEBIND either way).
	ManageAddresses string
	// Announce configures how load balancer addresses are announced to the
	// network (announce.go).
	Announce AnnounceConfig
	// Credentials are the access keys whose signatures the API accepts.
	Credentials elbapi.Credentials
	// APILimits bound the API's connections and requests, and the
	// metrics endpoint's requests; zero fields take DefaultAPILimits'.
	APILimits HTTPLimits
	// DataPlane is where network load balancer listeners run:
	// kernel.ModeAuto (the kernel plane where kelb may program nftables),
	// kernel.ModeKernel or kernel.ModeUserspace; empty is kernel.ModeAuto.
	DataPlane string
	// SNATSource is where kernel plane flows of target groups without
	// preserve_client_ip come from: kernel.SNATLoadBalancer (empty, as
	// AWS) or kernel.SNATNode (the outgoing interface's address).
	SNATSource string
	// MaxLoadBalancersPerType is the quota of network and of application
	// load balancers; zero means elb.MaxLoadBalancersPerType (AWS's
	// default, 50).
	MaxLoadBalancersPerType int
	// ALBMaxConns caps the open client connections of each ALB listener;
	// zero means l7.DefaultMaxConns.
	ALBMaxConns int
	// CertificateRenewalInterval is how often the certificates kelb issued
	// (RequestCertificate) are checked for renewal: those expiring within
	// 60 days are issued again under the same ARN. Zero: every hour.
	CertificateRenewalInterval time.Duration
	// AuthCAFile is a PEM file of CA certificates trusted, besides the
	// system's, for the identity provider endpoints of authenticate
	// actions (token, user info, JWKS); empty trusts the system's only.
	AuthCAFile string
	// CognitoEndpoint replaces every Cognito user pool's hosted domain
	// and issuer (albauth.Options); empty uses Amazon Cognito's.
	CognitoEndpoint string
	Logger          *slog.Logger

	// FlowBounds limit the network load balancers' flows, and their Slots
	// the descriptor budget those share with the ALB connections (zero fields:
	// the data plane's defaults); see dataplane.DeriveBounds.
	FlowBounds dataplane.Bounds
}

// Run serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	st, storeDesc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	openedStore := st
	st, certKey, err := sealCertificateKeys(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	members, err := joinFleet(cfg, st, reg, log)
	if err != nil {
		return err
	}

	checker := health.NewChecker(health.Options{Logger: log.With("component", "health"), Registerer: reg})
	applied := newAppliedHealth(checker)
	svc, err := elb.New(elb.Config{
		Store:     recordingStore{st},
		Zones:     cfg.Zones,
		VPCCIDRs:  cfg.VPCCIDRs,
		Instances: cfg.Instances,
		VpcID:     cfg.VpcID,
		Region:    cfg.Region,
		DNSDomain: cfg.DNSDomain,
		Health:    members.Health(applied),

		MaxLoadBalancersPerType: cfg.MaxLoadBalancersPerType,
	})
	if err != nil {
		return err
	}
	mode := cfg.DataPlane
	if mode == "" {
		mode = kernel.ModeAuto
	}
	// One descriptor budget for the NLB flows and the ALB connections.
	budget := connlimit.NewBudget(cfg.FlowBounds.Slots)
	// The certificate store gives HTTPS (ALB) and TLS (NLB) listeners
	// their certificates.
	certs := certstore.New(certstore.Config{Store: recordingStore{st}, Region: svc.Region(), InUse: elb.CertificateUsers, Key: certKey})
	plane, err := kernel.NewSwitch(mode, dataplane.Options{Logger: log.With("component", "dataplane"), Registerer: reg, Bounds: cfg.FlowBounds, Budget: budget, Certificates: certs},
		kernel.Options{Table: kernel.TableFor(cfg.DataDir), SNATSource: cfg.SNATSource})
	if err != nil {
		return err
	}
	defer plane.Close()
	if err := writeAuthority(ctx, cfg, certs); err != nil {
		return err
	}
	auth, err := authOptions(cfg, certKey, log.With("component", "auth"))
	if err != nil {
		return err
	}
	appPlane := l7.New(l7.Options{Logger: log.With("component", "l7"), Registerer: reg, Certificates: certs, MaxConns: cfg.ALBMaxConns, Budget: budget,
		Auth: auth})
	defer appPlane.Close()

	var names *dns.Server
	if cfg.DNSAddr != "" {
		names = dns.NewServer(dns.Options{Addr: cfg.DNSAddr, Domain: cfg.DNSDomain, Logger: log.With("component", "dns")})
	}

	// Bind the API and metrics ports before anything runs, so a port in use
	// is reported at once.
	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	ops := elbapi.Ops(svc)
	maps.Copy(ops, elbapi.ListenerCertificateOps(svc))
	elbHandler := elbapi.NewHandler(elbapi.HandlerConfig{
		Ops:         ops,
		Credentials: cfg.Credentials,
		Region:      svc.Region(),
		Logger:      log.With("component", "api"),
		Registerer:  reg,
	})
	// ACM requests (certificates for HTTPS and TLS listeners) share the
	// API address; X-Amz-Target tells them apart.
	acmHandler := acmapi.NewHandler(acmapi.Config{Certificates: certs, Credentials: cfg.Credentials, Region: svc.Region(),
		Logger: log.With("component", "acm")})
	// EC2 requests (the VPC, subnets, security groups) share it too; their
	// signature's scope tells them apart.
	groups := secgroup.New(secgroup.Config{Store: recordingStore{st}, VpcID: svc.VpcID(), AccountID: svc.AccountID(), InUse: elb.SecurityGroupUsers})
	// The VPC's default group: instances (--instance) carry it.
	if _, err := groups.EnsureDefault(ctx); err != nil {
		apiLn.Close()
		return fmt.Errorf("default security group: %w", err)
	}
	ec2Handler := ec2api.NewHandler(ec2api.Config{ELB: svc, Groups: groups, Credentials: cfg.Credentials,
		Logger: log.With("component", "ec2")})
	// Resource Groups Tagging API requests (find resources by their tags)
	// share it too; X-Amz-Target tells them apart.
	taggingHandler := taggingapi.NewHandler(taggingapi.Config{
		Index:       taggingapi.NewIndex(st, taggingapi.Sources(svc.Region(), svc.AccountID())),
		Credentials: cfg.Credentials, Region: svc.Region(), Registerer: reg, Logger: log.With("component", "tagging")})
	// S3 requests (the objects trust stores read their CA bundles and
	// revocation lists from) share it too: path-style, signed for s3.
	s3Handler := s3api.NewHandler(s3api.Config{Objects: s3store.New(s3store.Config{Store: recordingStore{st}, Region: svc.Region()}),
		Credentials: cfg.Credentials, Region: svc.Region(), Documents: svc.TrustStoreDocument, Logger: log.With("component", "s3")})
	gate := newRevisionGate()
	api, apiLn := limitedServer("api", answerWhenApplied(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The public keys of ALB authentication are unsigned GETs of
		// /public-keys/<kid>: before S3, which takes every other path.
		if albauth.IsPublicKeyRequest(r) {
			auth.Keys.ServePublicKey(w, r)
			return
		}
		// Tagging requests in Smithy RPC v2 CBOR name their operation in
		// the path (/service/...): before S3 too.
		if taggingapi.IsTaggingRequest(r) {
			taggingHandler.ServeHTTP(w, r)
			return
		}
		if s3api.IsS3Request(r) {
			s3Handler.ServeHTTP(w, r)
			return
		}
		if acmapi.IsACMRequest(r) {
			acmHandler.ServeHTTP(w, r)
			return
		}
		if ec2api.IsEC2Request(r) {
			ec2Handler.ServeHTTP(w, r)
			return
		}
		elbHandler.ServeHTTP(w, r)
	}), st, gate, cfg.Store.Backend == StoreEtcd, log.With("component", "api")), apiLn, cfg.APILimits.WithDefaults(DefaultAPILimits), reg, log.With("component", "api"))
	var metricsLn net.Listener
	var metrics *http.Server
	if cfg.MetricsAddr != "" {
		metricsLn, err = net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			apiLn.Close()
			return fmt.Errorf("metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		metricsLim := cfg.APILimits.WithDefaults(DefaultAPILimits)
		metricsLim.MaxConns = metricsMaxConns
		metrics, metricsLn = limitedServer("metrics", mux, metricsLn, metricsLim, reg, log.With("component", "metrics"))
	}

	s := &syncer{svc: svc, store: st, checker: checker, applied: applied, plane: plane, appPlane: appPlane, dns: names, gate: gate, log: log,
		fleet: members, zones: nodeZones(cfg), config: confview.New(elb.State{})}
	if cfg.ManageAddresses != "" {
		s.addrs, err = newAddressManager(cfg.ManageAddresses, servedZones(cfg), log.With("component", "addresses"))
		if err != nil {
			apiLn.Close()
			if metricsLn != nil {
				metricsLn.Close()
			}
			return err
		}
	}
	if s.announcer, err = newAnnouncer(ctx, cfg, openedStore, members, reg, log.With("component", "announce")); err != nil {
		apiLn.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return err
	}
	// Subscribe before the first pass reads the store, so that no change
	// committed after that read (by the API, or by svc.Run ending a
	// deregistration delay that ran out while kelb was down) goes unseen.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	revisions := st.Watch(watchCtx)
	// The first pass restores every load balancer before the API answers.
	if err := s.sync(ctx); err != nil {
		if s.announcer != nil {
			s.announcer.stop()
		}
		apiLn.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.run(ctx, revisions) })
	if s.announcer != nil {
		g.Go(func() error { return s.announcer.run(ctx) })
	}
	g.Go(func() error { checker.Run(ctx); return nil })
	g.Go(func() error { return plane.Run(ctx) })
	g.Go(func() error { return svc.Run(ctx) })
	g.Go(func() error {
		certs.RunRenewal(ctx, cmp.Or(cfg.CertificateRenewalInterval, time.Hour), log.With("component", "acm"))
		return nil
	})
	g.Go(func() error { return members.Run(ctx) })
	if names != nil {
		g.Go(func() error { return names.Run(ctx) })
	}
	g.Go(func() error { return serveHTTP(ctx, api, apiLn) })
	if metrics != nil {
		g.Go(func() error { return serveHTTP(ctx, metrics, metricsLn) })
	}
	log.Info("kelb server ready", "api", apiLn.Addr().String(), "dns", cfg.DNSAddr, "metrics", cfg.MetricsAddr, "zones", len(cfg.Zones), "store", storeDesc)
	return g.Wait()
}

// serveHTTP serves srv on ln until ctx is done, then shuts it down.
func serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// syncer hands every new configuration and health view to the checker, the
// data plane and DNS.
type syncer struct {
	svc     *elb.Service
	store   store.Store
	checker *health.Checker
	// applied is the health view the API describes, published by apply.
	applied *appliedHealth
	plane   *kernel.Switch
	// appPlane serves application load balancers' listeners.
	appPlane *l7.Plane
	dns      *dns.Server
	addrs    *addressManager // nil unless addresses are managed
	// announcer tells the network which addresses this node serves; nil
	// unless --announce.
	announcer announcer
	// gate tells API answers which revision is in effect.
	gate *revisionGate
	log  *slog.Logger
	// fleet is this node's fleet; zones are the zones it serves and
	// health-checks for.
	fleet *fleet.Fleet
	zones []string

	// config is the configuration snapshot in effect, indexed once per
	// store revision.
	config *confview.View
}

// run re-syncs on every store revision and health change until ctx is done.
func (s *syncer) run(ctx context.Context, revisions <-chan int64) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-revisions:
			if !ok {
				return nil
			}
			if err := s.sync(ctx); err != nil {
				s.log.Error("apply configuration", "err", err)
			}
		case <-s.checker.Changed():
			s.apply()
		case <-s.fleet.Changed():
			s.apply()
		}
	}
}

// sync takes a new snapshot and applies it.
func (s *syncer) sync(ctx context.Context) error {
	st, err := s.svc.Snapshot(ctx)
	if err != nil {
		return err
	}
	s.config = confview.New(st)
	if s.addrs != nil {
		if err := s.addrs.sync(st); err != nil {
			s.log.Error("load balancer addresses", "revision", st.Revision, "err", err)
		}
	}
	s.checker.Update(checkedState(s.config, s.zones))
	s.apply()
	s.gate.set(st.Revision)
	return nil
}

// apply hands the current snapshot and health view to the data plane and DNS.
// The API describes target health as of the last apply (see appliedHealth).
func (s *syncer) apply() {
	view := s.applied.pass()
	ok := true
	if err := s.plane.Apply(dataplane.Build(s.config, view)); err != nil {
		s.log.Error("data plane", "revision", s.config.State().Revision, "err", err)
		ok = false
	}
	if s.appPlane != nil {
		if err := s.appPlane.Apply(l7.Build(s.config, view)); err != nil {
			s.log.Error("L7 data plane", "revision", s.config.State().Revision, "err", err)
			ok = false
		}
	}
	if s.announcer != nil {
		s.announcer.update(s.config.State(), ok)
	}
	if s.dns != nil {
		s.dns.Update(s.config, s.fleet.ZoneHealth(view), s.fleet.LiveZones())
	}
	s.applied.publish(view)
	state := fleet.StateServing
	if !ok {
		state = fleet.StateDataPlaneFailing
	}
	s.fleet.SetState(state)
	s.fleet.Publish(healthReport(s.config.State(), view))
}
