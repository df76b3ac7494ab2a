package proc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartStop(t *testing.T) {
	tests := []struct {
		name   string
		script string
		detach bool
	}{
		{name: "attached, stops on SIGTERM", script: "echo started; exec sleep 60"},
		{name: "detached, stops on SIGTERM", script: "echo started; exec sleep 60", detach: true},
		{name: "ignores SIGTERM, gets SIGKILL", script: "trap '' TERM; echo started; while :; do sleep 1; done", detach: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "p.log")
			p, err := Start(Spec{Name: "sh", Path: "/bin/sh", Args: []string{"-c", tt.script}, LogPath: log, Detach: tt.detach})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			t.Cleanup(func() { _ = p.Stop(context.Background(), 0) })
			waitFor(t, func() bool {
				b, _ := os.ReadFile(log)
				return strings.Contains(string(b), "started")
			})
			if !Alive(p.Info) || p.Exited() {
				t.Fatalf("process %d not alive after start", p.PID)
			}
			if p.StartTime == 0 {
				t.Errorf("start time not recorded")
			}
			if err := Stop(t.Context(), p.Info, 500*time.Millisecond); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if Alive(p.Info) {
				t.Errorf("process %d alive after Stop", p.PID)
			}
			if !tt.detach {
				if err := p.Wait(t.Context()); err == nil {
					t.Errorf("Wait after SIGTERM: want an exit error")
				}
			}
		})
	}
}

func TestAliveChecksStartTime(t *testing.T) {
	p, err := Start(Spec{Name: "sleep", Path: "/bin/sleep", Args: []string{"60"}, LogPath: filepath.Join(t.TempDir(), "log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), time.Second) })
	// The same PID with another start time is another process (the PID was
	// reused): never alive, never signalled.
	other := p.Info
	other.StartTime++
	if Alive(other) {
		t.Errorf("Alive with a different start time = true")
	}
	if err := Stop(t.Context(), other, time.Second); err != nil {
		t.Errorf("Stop of a reused PID: %v", err)
	}
	if !Alive(p.Info) {
		t.Errorf("Stop of a reused PID signalled the running process")
	}
	if Alive(Info{PID: 0}) || Alive(Info{PID: -5}) {
		t.Errorf("Alive of an invalid PID = true")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
