package devcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/devcluster/controlplane"
	"github.com/kelb-io/kelb/internal/devcluster/proc"
	"github.com/kelb-io/kelb/internal/elb/store"
	"github.com/kelb-io/kelb/internal/fleet"
	"github.com/kelb-io/kelb/internal/server"
)

// BirdSocket is the control socket of the router's BIRD (birdc -s).
func (st *State) BirdSocket() string { return filepath.Join(st.Dir, "bird.ctl") }

func (st *State) birdConfigPath() string { return filepath.Join(st.Dir, "bird.conf") }

// FleetSpec returns how to start the fleet process recorded as name (an
// etcd member, BIRD or an lb node), from any namespace: each runs in its
// own through ip netns exec. kelb up starts them with it, and so can a
// test that restarts one.
func FleetSpec(st *State, name string) (proc.Spec, error) {
	in := func(ns, path string, args ...string) proc.Spec {
		return proc.Spec{
			Name:    name,
			Path:    "ip",
			Args:    append([]string{"netns", "exec", ns, path}, args...),
			Env:     st.Env(),
			LogPath: filepath.Join(st.Dir, "logs", name+".log"),
			Detach:  true,
		}
	}
	for m := 1; m <= FleetEtcdMembers; m++ {
		if name == FleetEtcdName(m) {
			return in(st.Namespace, st.EtcdPath, FleetEtcdArgs(st, m)...), nil
		}
	}
	for i := 1; i <= st.Options.LBNodes; i++ {
		if name == LBProcessName(i) {
			return in(LBNamespace(st.Namespace, i), st.Options.Kelb, LBServerArgs(st, i)...), nil
		}
	}
	if name == RouterProcessName && st.Options.Fleet.BGP {
		return in(RouterNamespace(st.Namespace), "bird", "-f", "-c", st.birdConfigPath(), "-s", st.BirdSocket()), nil
	}
	return proc.Spec{}, fmt.Errorf("environment %q has no fleet process %q", st.Options.Name, name)
}

// startFleet starts the fleet of st inside its main namespace: the etcd
// cluster (every member healthy), the router's BIRD, and the lb nodes
// (every API answering, and with BGP every session established).
func startFleet(ctx context.Context, st *State, logf func(string, ...any)) error {
	var members []*proc.Process
	for m := 1; m <= FleetEtcdMembers; m++ {
		if err := os.MkdirAll(filepath.Join(st.Dir, "kelb-etcd"), 0o700); err != nil {
			return fmt.Errorf("create the fleet's etcd directory: %w", err)
		}
		p, err := startRecorded(st, FleetEtcdName(m), logf)
		if err != nil {
			return err
		}
		members = append(members, p)
	}
	for m, p := range members {
		url := FleetEtcdHealthURL(m + 1)
		if err := waitHealthy(ctx, p, func(ctx context.Context) error { return httpOK(ctx, url) }); err != nil {
			return err
		}
		logf("%s is healthy (pid %d)", p.Name, p.PID)
	}

	// One key for every node, so that each reads the certificates the
	// others imported.
	key := filepath.Join(LBDataDir(st, 1), server.CertificateKeyFile)
	for i := 1; i <= st.Options.LBNodes; i++ {
		if err := os.MkdirAll(LBDataDir(st, i), 0o700); err != nil {
			return fmt.Errorf("create the data directory of lb node %d: %w", i, err)
		}
	}
	if _, err := certstore.LoadOrCreateKey(key); err != nil {
		return fmt.Errorf("the fleet's certificate key: %w", err)
	}
	for i := 2; i <= st.Options.LBNodes; i++ {
		if err := copyFile(key, filepath.Join(LBDataDir(st, i), server.CertificateKeyFile)); err != nil {
			return err
		}
	}

	if st.Options.Fleet.BGP {
		if err := os.WriteFile(st.birdConfigPath(), []byte(birdConfig(st)), 0o644); err != nil {
			return fmt.Errorf("write the router's configuration: %w", err)
		}
		p, err := startRecorded(st, RouterProcessName, logf)
		if err != nil {
			return err
		}
		if err := waitHealthy(ctx, p, func(ctx context.Context) error {
			_, err := birdc(ctx, st, "show", "status")
			return err
		}); err != nil {
			return err
		}
		logf("the router's BIRD is up (pid %d, birdc -s %s)", p.PID, st.BirdSocket())
	} else {
		logf("this kelb server has no --announce bgp: the router has static ECMP routes to the lb nodes instead of BGP (a fallback: a dead lb node is not withdrawn)")
	}

	var nodes []*proc.Process
	for i := 1; i <= st.Options.LBNodes; i++ {
		p, err := startRecorded(st, LBProcessName(i), logf)
		if err != nil {
			return err
		}
		nodes = append(nodes, p)
	}
	for i, p := range nodes {
		addr := net.JoinHostPort(LBNodeIP(i+1), strconv.Itoa(ELBAPIPort))
		if err := waitHealthy(ctx, p, func(ctx context.Context) error { return dialable(ctx, addr) }); err != nil {
			return err
		}
		logf("%s is healthy (pid %d, zone %s, API %s)", p.Name, p.PID, LBZone(st.Options.Zones, i+1), LBEndpoint(i+1))
	}
	if st.Options.Fleet.BGP {
		p := &proc.Process{Info: st.process(RouterProcessName)}
		if err := waitHealthy(ctx, p, func(ctx context.Context) error {
			sessions, err := BGPSessions(ctx, st)
			if err != nil {
				return err
			}
			var down []string
			for i := 1; i <= st.Options.LBNodes; i++ {
				if s := sessions[LBNodeName(i)]; s != "Established" {
					down = append(down, LBNodeName(i)+" "+s)
				}
			}
			if len(down) > 0 {
				return fmt.Errorf("BGP sessions not established: %s", strings.Join(down, ", "))
			}
			return nil
		}); err != nil {
			return err
		}
		logf("the router peers with every lb node")
	}
	return nil
}

// startRecorded starts the fleet process name and records it in st.
func startRecorded(st *State, name string, logf func(string, ...any)) (*proc.Process, error) {
	spec, err := FleetSpec(st, name)
	if err != nil {
		return nil, err
	}
	logf("starting %s", name)
	p, err := proc.Start(spec)
	if err != nil {
		return nil, err
	}
	st.Processes = append(st.Processes, p.Info)
	return p, st.save()
}

// process returns the recorded process name (zero if none).
func (st *State) process(name string) proc.Info {
	for _, p := range st.Processes {
		if p.Name == name {
			return p
		}
	}
	return proc.Info{}
}

// waitHealthy waits until healthy answers nil, p exits, or three minutes
// pass.
func waitHealthy(ctx context.Context, p *proc.Process, healthy func(context.Context) error) error {
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var last error
	for {
		if !proc.Alive(p.Info) {
			return fmt.Errorf("%s exited\n%s", p.Name, controlplane.LogTail(p.LogPath, 15))
		}
		if last = healthy(waitCtx); last == nil {
			return nil
		}
		select {
		case <-waitCtx.Done():
			return fmt.Errorf("%s not healthy: %w (last: %v)\n%s", p.Name, waitCtx.Err(), last, controlplane.LogTail(p.LogPath, 15))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// birdc runs birdc on the router's control socket.
func birdc(ctx context.Context, st *State, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "birdc", append([]string{"-s", st.BirdSocket()}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("birdc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// BGPSessions returns the state of the router's BGP session with each lb
// node, by node name (Established, Active, Connect, ...).
func BGPSessions(ctx context.Context, st *State) (map[string]string, error) {
	out, err := birdc(ctx, st, "show", "protocols")
	if err != nil {
		return nil, err
	}
	return parseBirdProtocols(out), nil
}

// parseBirdProtocols reads `birdc show protocols`: for each BGP protocol,
// its session state (the Info column's first word).
//
//	Name       Proto      Table      State  Since         Info
//	lb1        BGP        ---        up     12:00:01.123  Established
func parseBirdProtocols(out string) map[string]string {
	sessions := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != "BGP" {
			continue
		}
		state := f[3] // the protocol's state when Info says nothing
		for _, w := range f[4:] {
			if bgpStates[w] {
				state = w
				break
			}
		}
		sessions[f[0]] = state
	}
	return sessions
}

// bgpStates are the session states BIRD shows in its Info column.
var bgpStates = map[string]bool{"Idle": true, "Connect": true, "Active": true, "OpenSent": true, "OpenConfirm": true, "Established": true, "Close": true, "Down": true}

// registry returns what the fleet's registry in etcd says of each lb
// node, by node name: its state and lease (kelb server nodes), or "not
// registered"; or why it cannot be read.
func registry(ctx context.Context, st *State) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e, err := store.OpenEtcd(ctx, store.EtcdConfig{Endpoints: FleetEtcdEndpoints()})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	members, err := fleet.List(ctx, e.Client(), e.Prefix())
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range members {
		lease := "lease expired"
		if m.LeaseLive {
			lease = "lease live"
		}
		out[m.Name] = fmt.Sprintf("%s, %s", m.State, lease)
	}
	return out, nil
}

// checkFleet probes the fleet process name (ok false if name is not one):
// an etcd member's /health, the router's BGP sessions, an lb node's API
// (and its state in the fleet's registry, reg, read once per status).
func checkFleet(ctx context.Context, st *State, name string, reg func() (map[string]string, error)) (detail string, ok bool, err error) {
	for m := 1; m <= FleetEtcdMembers; m++ {
		if name == FleetEtcdName(m) {
			return "fleet configuration store, " + fleetEtcdClientURL(m), true, httpOK(ctx, FleetEtcdHealthURL(m))
		}
	}
	if name == RouterProcessName {
		sessions, err := BGPSessions(ctx, st)
		if err != nil {
			return "", true, err
		}
		var parts []string
		for i := 1; i <= st.Options.LBNodes; i++ {
			s := sessions[LBNodeName(i)]
			if s == "" {
				s = "no session"
			}
			parts = append(parts, LBNodeName(i)+" "+s)
		}
		return "router " + RouterNamespace(st.Namespace) + ", BGP: " + strings.Join(parts, ", "), true, nil
	}
	for i := 1; i <= st.Options.LBNodes; i++ {
		if name == LBProcessName(i) {
			detail := fmt.Sprintf("lb node %s in %s, zone %s, API %s", LBNodeName(i), LBNamespace(st.Namespace, i), LBZone(st.Options.Zones, i), LBEndpoint(i))
			if st.Options.Fleet.NodeName {
				nodes, rerr := reg()
				switch state, found := nodes[LBNodeName(i)]; {
				case rerr != nil:
					detail += "; registry unreadable: " + rerr.Error()
				case found:
					detail += "; registry: " + state
				default:
					detail += "; registry: not registered"
				}
			}
			return detail, true, dialable(ctx, net.JoinHostPort(LBNodeIP(i), strconv.Itoa(ELBAPIPort)))
		}
	}
	return "", false, nil
}
