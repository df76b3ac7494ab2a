package framework

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
	"github.com/kelb-io/kelb/internal/devcluster/proc"
	"github.com/kelb-io/kelb/internal/elbapi"
)

// State reads the environment's recorded state.
func (e *Env) State(t testing.TB) *devcluster.State {
	t.Helper()
	st, err := devcluster.LoadState(e.Name)
	if err != nil {
		t.Fatalf("read the environment's state: %v", err)
	}
	return st
}

// Dial opens a connection from inside the environment's namespace
// (where pods and kelb shell run), as a client there would.
func (e *Env) Dial(ctx context.Context, st *devcluster.State, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := netnstest.In(st.Namespace, func() error {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		conn = c
		return err
	})
	return conn, err
}

// ELBClient returns an aws-sdk-go-v2 ELBv2 client of endpoint (inside
// the environment) with the environment's credentials.
func (e *Env) ELBClient(t testing.TB, endpoint string) *elbv2.Client {
	t.Helper()
	st := e.State(t)
	creds, err := elbapi.ReadCredentialsFile(st.CredentialsFile())
	if err != nil || len(creds) == 0 {
		t.Fatalf("the environment's credentials: %v", err)
	}
	var id, secret string
	for k, v := range creds { // kelb up writes one key
		id, secret = k, v
	}
	cfg := aws.Config{
		Region:           devcluster.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(id, secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient: &http.Client{
			Timeout: 15 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					return e.Dial(ctx, st, network, addr)
				},
				DisableKeepAlives: true,
			},
		},
	}
	return elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// KillProcess sends SIGKILL to the recorded process name and waits until
// it is gone. It returns the process's record.
func (e *Env) KillProcess(t testing.TB, name string) proc.Info {
	t.Helper()
	p := e.process(t, name)
	if !proc.Alive(p) {
		t.Fatalf("%s (pid %d) is not running", name, p.PID)
	}
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s (pid %d): %v", name, p.PID, err)
	}
	Eventually(t, 30*time.Second, func() error {
		if proc.Alive(p) {
			return fmt.Errorf("%s (pid %d) still runs", name, p.PID)
		}
		return nil
	})
	return p
}

func (e *Env) process(t testing.TB, name string) proc.Info {
	t.Helper()
	for _, p := range e.State(t).Processes {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("the environment has no process %s", name)
	return proc.Info{}
}

// StartFleetProcess starts the fleet process name (an lb node or an etcd
// member that is not running) the way kelb up does (devcluster.FleetSpec),
// records it in the state so that kelb status and kelb down find it, and
// returns its PID.
func (e *Env) StartFleetProcess(t testing.TB, name string) int {
	t.Helper()
	st := e.State(t)
	idx := -1
	for i, p := range st.Processes {
		if p.Name == name {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatalf("the environment has no process %s", name)
	}
	if proc.Alive(st.Processes[idx]) {
		t.Fatalf("%s (pid %d) is still running", name, st.Processes[idx].PID)
	}
	// This run's kelb binary: the recorded one may be gone
	// (KELB_E2E_REUSE=1).
	run := *st
	run.Options.Kelb = e.Kelb
	spec, err := devcluster.FleetSpec(&run, name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := proc.Start(spec)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	st.Processes[idx] = p.Info
	if err := saveState(st); err != nil {
		t.Fatalf("record %s: %v", name, err)
	}
	return p.PID
}
