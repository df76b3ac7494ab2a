// Package proc starts and stops the long-running processes of a local
// environment: etcd, the Kubernetes control plane, kelb server, simulated
// nodes and kelb controller.
//
// Each process writes its standard output and error to its own log file.
// A process is identified by its PID and its start time (field 22 of
// /proc/<pid>/stat), so that a PID reused by an unrelated program after a
// crash is never signalled: Alive and Stop check both before acting.
//
// Attached processes (tests) die with the program that started them (the
// kernel sends them SIGKILL when their parent dies) and are reaped by Wait.
// Detached processes (kelb up) run in a session of their own and outlive
// the command that started them; a later command finds them by the Info
// recorded in the environment's state and stops them with Stop: SIGTERM,
// then SIGKILL after a grace period.
package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec describes a process to start.
type Spec struct {
	// Name names the process in logs and errors, e.g. "kube-apiserver".
	Name string
	Path string
	Args []string
	// Env is added to the current environment.
	Env []string
	// LogPath receives standard output and standard error (appended).
	LogPath string
	// Detach starts the process in a new session that outlives the caller.
	Detach bool
}

// Info identifies a started process. It is what the environment's state
// records between commands.
type Info struct {
	Name      string `json:"name"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
	LogPath   string `json:"log"`
}

// Process is a process started by Start.
type Process struct {
	Info
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts spec. For an attached process, the caller must eventually
// call Stop or Wait so that the goroutine that reaps it ends.
func Start(spec Spec) (*Process, error) {
	logFile, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", spec.Name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if spec.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", spec.Name, spec.Path, err)
	}
	p := &Process{
		Info: Info{Name: spec.Name, PID: cmd.Process.Pid, LogPath: spec.LogPath},
		cmd:  cmd,
		done: make(chan struct{}),
	}
	p.StartTime, _ = startTime(p.PID)
	if spec.Detach {
		// Nobody waits for a detached process: once the caller exits, init
		// adopts and reaps it.
		close(p.done)
		_ = cmd.Process.Release()
		return p, nil
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether an attached process has exited.
func (p *Process) Exited() bool {
	if p.cmd.SysProcAttr.Setsid {
		return !Alive(p.Info)
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for an attached process to exit and returns its exit error.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Alive reports whether the process info describes is still running: its
// PID exists, is not a zombie, and started when the recorded one did.
func Alive(info Info) bool {
	if info.PID <= 0 {
		return false
	}
	st, state, err := stat(info.PID)
	if err != nil || state == "Z" || state == "X" {
		return false
	}
	return info.StartTime == 0 || st == info.StartTime
}

// Stop sends SIGTERM to the process info describes, waits up to grace for
// it to exit, then sends SIGKILL and waits for it to go. Stopping a process
// that is no longer running is not an error.
func Stop(ctx context.Context, info Info, grace time.Duration) error {
	if !Alive(info) {
		return nil
	}
	if err := syscall.Kill(info.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s (pid %d): %w", info.Name, info.PID, err)
	}
	if waitGone(ctx, info, grace) {
		return nil
	}
	if err := syscall.Kill(info.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", info.Name, info.PID, err)
	}
	if waitGone(ctx, info, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("stop %s (pid %d): still running after SIGKILL", info.Name, info.PID)
}

// Stop stops an attached or detached process p started.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	err := Stop(ctx, p.Info, grace)
	if !p.cmd.SysProcAttr.Setsid {
		// Reap it, so that the goroutine started by Start ends.
		if werr := p.Wait(ctx); werr != nil && errors.Is(werr, ctx.Err()) && err == nil {
			err = fmt.Errorf("stop %s: %w", p.Name, werr)
		}
	}
	return err
}

func waitGone(ctx context.Context, info Info, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if !Alive(info) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return !Alive(info)
		case <-tick.C:
		}
	}
}

func startTime(pid int) (uint64, error) {
	st, _, err := stat(pid)
	return st, err
}

// stat reads the start time and state of pid from /proc/<pid>/stat.
func stat(pid int) (start uint64, state string, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); the start time is field 22.
	if len(fields) < 20 {
		return 0, "", fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	return start, fields[0], nil
}
