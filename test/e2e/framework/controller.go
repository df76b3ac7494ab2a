package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/internal/devcluster/proc"
)

const controllerName = "kelb-controller"

// RestartController stops the environment's kelb controller and starts
// it again (StopController, then StartController).
func (e *Env) RestartController(t testing.TB) {
	t.Helper()
	old := e.StopController(t)
	pid := e.StartController(t)
	t.Logf("kelb controller restarted: pid %d -> %d", old.PID, pid)
}

// controllerIndex returns the environment's state and the index of kelb
// controller in its processes.
func (e *Env) controllerIndex(t testing.TB) (*devcluster.State, int) {
	t.Helper()
	st, err := devcluster.LoadState(e.Name)
	if err != nil {
		t.Fatalf("read the environment's state: %v", err)
	}
	for i, p := range st.Processes {
		if p.Name == controllerName {
			return st, i
		}
	}
	t.Fatal("the environment runs no kelb controller")
	return nil, -1
}

// StopController stops the environment's kelb controller by its recorded
// PID (SIGTERM, then SIGKILL after a grace period) and returns what
// identified it.
func (e *Env) StopController(t testing.TB) proc.Info {
	t.Helper()
	st, idx := e.controllerIndex(t)
	old := st.Processes[idx]
	if err := proc.Stop(t.Context(), old, 15*time.Second); err != nil {
		t.Fatalf("stop kelb controller: %v", err)
	}
	return old
}

// ControllerPID returns the PID of the environment's kelb controller.
func (e *Env) ControllerPID(t testing.TB) int {
	t.Helper()
	st, idx := e.controllerIndex(t)
	return st.Processes[idx].PID
}

// StartController starts kelb controller the way kelb up does: detached,
// inside the environment's namespace, with devcluster.ControllerArgs,
// appending to the same log. It records the new process in the
// environment's state, so that kelb status and kelb down find it, and
// returns its PID once its readiness endpoint answers.
func (e *Env) StartController(t testing.TB) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	st, idx := e.controllerIndex(t)
	old := st.Processes[idx]
	if proc.Alive(old) {
		t.Fatalf("kelb controller (pid %d) is still running", old.PID)
	}
	// This run's kelb binary: the one kelb up recorded is gone when the
	// environment was brought up by an earlier run (KELB_E2E_REUSE=1).
	// setsid in a background job of a non-interactive shell execs (the
	// job is not a process group leader), so $! is the controller itself.
	args := append([]string{e.Kelb}, devcluster.ControllerArgs(st)...)
	script := fmt.Sprintf("setsid %s >>%s 2>&1 </dev/null & echo $!", shellQuote(args), shellQuote([]string{old.LogPath}))
	out, err := e.Shell(ctx, "", "sh", "-c", script)
	if err != nil {
		t.Fatalf("start kelb controller: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("start kelb controller: no PID in %q", out)
	}
	info := proc.Info{Name: controllerName, PID: pid, LogPath: old.LogPath}
	if info.StartTime, err = startTime(pid); err != nil {
		t.Fatalf("kelb controller (pid %d) exited at once: %v; log in %s", pid, err, old.LogPath)
	}
	st.Processes[idx] = info
	if err := saveState(st); err != nil {
		t.Fatalf("record the new kelb controller: %v", err)
	}
	Eventually(t, 2*time.Minute, func() error {
		if !proc.Alive(info) {
			return fmt.Errorf("kelb controller (pid %d) exited; log in %s", pid, old.LogPath)
		}
		_, err := e.Shell(ctx, "", "curl", "-sf", "--max-time", "2", devcluster.ControllerHealthURL())
		return err
	})
	return pid
}

// saveState writes st where devcluster.LoadState reads it, atomically.
func saveState(st *devcluster.State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(st.Dir, "state.json")
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// startTime reads field 22 of /proc/<pid>/stat, which proc.Alive compares
// so that a reused PID is never taken for the controller.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields count from its
	// closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// Metrics returns the Prometheus text exposition at url (inside the
// environment) as sample name with labels -> value, e.g.
// `kelb_api_requests_total{code="OK",operation="RegisterTargets"}`.
func (e *Env) Metrics(ctx context.Context, url string) (map[string]float64, error) {
	out, err := e.Shell(ctx, "", "curl", "-sf", "--max-time", "5", url)
	if err != nil {
		return nil, err
	}
	samples := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		samples[line[:i]] = v
	}
	return samples, nil
}

// ServerMetricsURL is kelb server's metrics endpoint inside the
// environment.
func ServerMetricsURL() string {
	return fmt.Sprintf("http://%s:%d/metrics", devcluster.ControlPlaneIP, devcluster.MetricsPort)
}

// ControllerMetricsURL is kelb controller's metrics endpoint inside the
// environment.
func ControllerMetricsURL() string {
	return fmt.Sprintf("http://%s:%d/metrics", devcluster.ControlPlaneIP, devcluster.ControllerMetricsPort)
}
