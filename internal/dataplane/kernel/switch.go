package kernel

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/dataplane"
)

// Modes of kelb server --dataplane.
const (
	// ModeAuto runs listeners on the kernel plane when it can run here
	// (CAP_NET_ADMIN, nftables), else on the userspace plane.
	ModeAuto = "auto"
	// ModeKernel requires the kernel plane.
	ModeKernel = "kernel"
	// ModeUserspace runs every listener on the userspace plane.
	ModeUserspace = "userspace"
)

// Switch runs each listener of a Config on the plane Choose gives it: the
// kernel plane when there is one, the userspace plane for the rest.
type Switch struct {
	user *dataplane.Plane
	kern *Plane // nil: userspace only
	log  *slog.Logger
	// noKernel is why there is no kernel plane, as the log gives it.
	noKernel string

	planeGauge *prometheus.GaugeVec

	mu     sync.Mutex
	planes map[string]string // listener key -> plane, as last logged
}

// NewSwitch starts the planes of mode. In ModeAuto a kernel plane that cannot
// run is logged and left out; in ModeKernel it is an error.
func NewSwitch(mode string, user dataplane.Options, kern Options) (*Switch, error) {
	if user.Logger == nil {
		user.Logger = slog.New(slog.DiscardHandler)
	}
	if user.Registerer == nil {
		user.Registerer = prometheus.NewRegistry()
	}
	if kern.Logger == nil {
		kern.Logger = user.Logger
	}
	if kern.Registerer == nil {
		kern.Registerer = user.Registerer
	}
	if kern.UDPFlowTimeout == 0 {
		kern.UDPFlowTimeout = user.UDPFlowTimeout
	}
	if err := CheckSNATSource(kern.SNATSource); err != nil {
		return nil, err
	}
	s := &Switch{log: user.Logger, planes: map[string]string{}}
	switch mode {
	case ModeUserspace:
		s.noKernel = "--dataplane " + ModeUserspace
	case ModeAuto, ModeKernel:
		err := Probe()
		if err == nil {
			s.kern, err = New(kern)
		}
		if err != nil {
			if mode == ModeKernel {
				return nil, fmt.Errorf("kernel data plane: %w", err)
			}
			s.noKernel = "kernel plane unavailable: " + err.Error()
			s.log.Warn("kernel data plane unavailable, every listener runs on the userspace plane", "err", err)
		}
	default:
		return nil, fmt.Errorf("data plane %q: want %s, %s or %s", mode, ModeAuto, ModeKernel, ModeUserspace)
	}
	s.user = dataplane.New(user)
	s.planeGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kelb_nlb_listener_plane",
		Help: "1 for the data plane (kernel or userspace) each network load balancer listener address runs on.",
	}, []string{"load_balancer", "target_group", "protocol", "address", "plane"})
	if err := user.Registerer.Register(s.planeGauge); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			s.planeGauge = are.ExistingCollector.(*prometheus.GaugeVec)
		}
	}
	if s.kern != nil {
		s.log.Info("kernel data plane ready", "table", "ip "+s.kern.opts.Table)
	}
	return s, nil
}

// Kernel reports whether the kernel plane runs.
func (s *Switch) Kernel() bool { return s.kern != nil }

// Apply applies each plane's share of cfg (see Split).
func (s *Switch) Apply(cfg dataplane.Config) error {
	kcfg, ucfg := Split(cfg, s.kern != nil)
	var errs []error
	if s.kern != nil {
		if err := s.kern.Apply(kcfg); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.user.Apply(ucfg); err != nil {
		errs = append(errs, err)
	}
	s.report(kcfg, ucfg)
	return errors.Join(errs...)
}

// report logs the plane of each new listener, or of one that moved, and sets
// the plane metric.
func (s *Switch) report(kcfg, ucfg dataplane.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[string]string{}
	s.planeGauge.Reset()
	for _, side := range []struct {
		plane string
		cfg   dataplane.Config
	}{{PlaneKernel, kcfg}, {PlaneUserspace, ucfg}} {
		for _, l := range side.cfg.Listeners {
			key := l.Protocol + " " + l.Address
			next[key] = side.plane
			s.planeGauge.WithLabelValues(l.LoadBalancer, l.TargetGroup, l.Protocol, l.Address, side.plane).Set(1)
			if s.planes[key] != side.plane {
				_, why := Choose(l)
				switch {
				case side.plane == PlaneUserspace && s.kern == nil:
					why = s.noKernel
				case side.plane == PlaneKernel:
					why = "IPv4 TCP or UDP without PROXY protocol v2, and kelb may program nftables"
				}
				s.log.Info("listener data plane", "protocol", l.Protocol, "address", l.Address,
					"load_balancer", l.LoadBalancer, "plane", side.plane, "reason", why)
			}
		}
	}
	s.planes = next
}

// Run runs both planes until ctx ends.
func (s *Switch) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	var kerr error
	if s.kern != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kerr = s.kern.Run(ctx)
		}()
	}
	err := s.user.Run(ctx)
	wg.Wait()
	return errors.Join(err, kerr)
}

// Close stops both planes. The kernel plane's table is left with no
// listener (see Plane.Stop): established flows go on, and the next start
// reconciles it. A kelb that is killed leaves the table as it was, flows and
// listeners, for the next start.
func (s *Switch) Close() {
	s.user.Close()
	if s.kern != nil {
		s.kern.Stop()
	}
}

// Remove stops both planes and deletes the kernel plane's table.
func (s *Switch) Remove() error {
	s.user.Close()
	if s.kern != nil {
		return s.kern.Remove()
	}
	return nil
}

// TableFor names the nftables table of the kelb server whose data directory
// is dataDir: the same across restarts of that server, so that a restart
// reconciles its table, and distinct between servers that share a network
// namespace.
func TableFor(dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(dataDir))
	return fmt.Sprintf("%s_%x", TableName, sum[:4])
}
