package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kelb-io/kelb/internal/devcluster/controlplane"
	"github.com/kelb-io/kelb/internal/devcluster/proc"
)

// ComponentStatus is the health of one process of an environment.
type ComponentStatus struct {
	Name    string
	PID     int
	Alive   bool
	Healthy bool
	Detail  string
}

// Status prints the state of every component of environment name. Run
// outside the namespace it runs itself inside it (the health endpoints
// listen only there). It returns an error when a component is not healthy.
func Status(ctx context.Context, name string, inNetns bool, out io.Writer) error {
	if name == "" {
		name = "default"
	}
	st, err := LoadState(name)
	if err != nil {
		return err
	}
	if !inNetns {
		if !st.Rootless {
			if err := checkPrivileges(); err != nil {
				return err
			}
		}
		if !environmentExists(st) {
			return fmt.Errorf("environment %q: network namespace %s is gone; run kelb down --name %s", name, st.Namespace, name)
		}
		// This kelb, not the one recorded: that one may have been rebuilt
		// or removed since.
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the kelb executable: %w", err)
		}
		cmd := enter(ctx, st, self, "status", "--name", name, "--"+InNetnsFlag)
		cmd.Stdout = out
		cmd.Stderr = out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("environment %q is not healthy", name)
		}
		return nil
	}
	statuses := Check(ctx, st)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tALIVE\tHEALTHY\tDETAIL")
	healthy := true
	for _, s := range statuses {
		pid := "-"
		if s.PID > 0 {
			pid = strconv.Itoa(s.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, pid, yesNo(s.Alive), yesNo(s.Healthy), s.Detail)
		healthy = healthy && s.Healthy
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !healthy {
		return errors.New("not every component is healthy")
	}
	return nil
}

// Check returns the status of every recorded component, probing its
// health endpoint. It must run inside the environment's namespace.
func Check(ctx context.Context, st *State) []ComponentStatus {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	restCfg, cfgErr := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	var out []ComponentStatus
	var (
		regOnce  sync.Once
		regNodes map[string]string
		regErr   error
	)
	reg := func() (map[string]string, error) {
		regOnce.Do(func() { regNodes, regErr = registry(ctx, st) })
		return regNodes, regErr
	}
	for _, p := range st.Processes {
		s := ComponentStatus{Name: p.Name, PID: p.PID, Alive: proc.Alive(p)}
		if !s.Alive {
			s.Detail = "not running; log: " + p.LogPath
			out = append(out, s)
			continue
		}
		if detail, ok, err := checkFleet(ctx, st, p.Name, reg); ok {
			s.Healthy = err == nil
			s.Detail = detail
			if err != nil {
				s.Detail = err.Error()
			}
			out = append(out, s)
			continue
		}
		var err error
		switch p.Name {
		case "etcd":
			err = probe(ctx, restCfg, cfgErr, "http://127.0.0.1:2379/health")
		case "kube-apiserver":
			err = probe(ctx, restCfg, cfgErr, fmt.Sprintf("https://%s:%d/readyz", ControlPlaneIP, APIServerPort))
		case "kube-controller-manager":
			err = probe(ctx, restCfg, cfgErr, fmt.Sprintf("https://%s:10257/healthz", ControlPlaneIP))
		case "kube-scheduler":
			err = probe(ctx, restCfg, cfgErr, fmt.Sprintf("https://%s:10259/healthz", ControlPlaneIP))
		case "kelb-server":
			err = dialable(ctx, net.JoinHostPort(ControlPlaneIP, strconv.Itoa(ELBAPIPort)))
			if err == nil {
				s.Detail = "ELBv2 API at " + ELBEndpoint()
			}
		case "namespace":
			s.Detail = "holds the environment's user and network namespaces"
		case "kelb-controller", LBCName:
			err = httpOK(ctx, ControllerHealthURL())
		case "kelb-nodes":
			err = cfgErr
			if err == nil {
				var client *kubernetes.Clientset
				if client, err = kubernetes.NewForConfig(restCfg); err == nil {
					var ready int
					if ready, err = readyNodes(ctx, client); err == nil {
						s.Detail = fmt.Sprintf("%d/%d nodes Ready", ready, st.Options.Nodes)
						if ready < st.Options.Nodes {
							err = errors.New(s.Detail)
						}
					}
				}
			}
		}
		s.Healthy = err == nil
		if err != nil {
			s.Detail = err.Error()
		}
		out = append(out, s)
	}
	return out
}

func probe(ctx context.Context, restCfg *rest.Config, cfgErr error, url string) error {
	if cfgErr != nil {
		return cfgErr
	}
	client, err := controlplane.HealthClient(restCfg)
	if err != nil {
		return err
	}
	return controlplane.Probe(ctx, client, url)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
