package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/kelb-io/kelb/internal/devcluster/proc"
)

// stopGrace is how long a component gets between SIGTERM and SIGKILL.
const stopGrace = 10 * time.Second

// Down stops every process of environment name, deletes its network
// namespace, its /etc/netns directory and its state directory. Whatever
// is already gone is skipped, so Down also cleans up after a failed up.
func Down(ctx context.Context, name string, out io.Writer) error {
	if name == "" {
		name = "default"
	}
	unlock, err := lockEnvironment(name)
	if err != nil {
		return err
	}
	defer unlock()
	if err := down(ctx, name, out); err != nil {
		return err
	}
	// Leave no trace: the lock file goes too (while still held, so no
	// other kelb up can be between its open and its lock).
	if dir, err := StateDir(name); err == nil {
		_ = os.Remove(dir + ".lock")
	}
	return nil
}

// down is Down for a caller that holds the environment's lock.
func down(ctx context.Context, name string, out io.Writer) error {
	ns := Namespace(name)
	dir, err := StateDir(name)
	if err != nil {
		return err
	}
	st, err := LoadState(name)
	if err != nil && !errors.Is(err, ErrNoEnvironment) {
		return err
	}
	rootless := os.Geteuid() != 0
	if !rootless {
		if err := checkPrivileges(); err != nil {
			return err
		}
	}
	if st == nil && (rootless || !namespaceExists(ns)) {
		if _, err := os.Stat(dir); err != nil {
			fmt.Fprintf(out, "kelb environment %q is not up; nothing to do\n", name)
			return nil
		}
	}
	var errs []error
	if st != nil {
		if err := stopAll(ctx, st, func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }); err != nil {
			errs = append(errs, err)
		}
	}
	// Anything left in the namespace was started there by this
	// environment (a component's own children, or a process whose PID was
	// not recorded because up was interrupted at that instant).
	if rootless {
		// The user namespace goes away with its last process.
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
		} else {
			fmt.Fprintf(out, "removed %s\n", dir)
		}
		return errors.Join(errs...)
	}
	// A fleet's namespaces first, the main one last. Only the recorded
	// ones: a namespace named like them belongs to no one else's state.
	var nss []string
	if st != nil && st.Namespace == ns {
		nss = fleetNamespaces(st)
	}
	for _, n := range append(nss, ns) {
		for _, pid := range namespacePIDs(ctx, n) {
			if err := proc.Stop(ctx, proc.Info{Name: "process in " + n, PID: pid}, stopGrace); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, err)
			}
		}
		if !namespaceExists(n) {
			continue
		}
		if err := deleteNamespace(ctx, n); err != nil {
			errs = append(errs, err)
		} else {
			fmt.Fprintf(out, "deleted network namespace %s\n", n)
		}
	}
	if err := os.RemoveAll(resolvDir(ns)); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", resolvDir(ns), err))
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	} else {
		fmt.Fprintf(out, "removed %s\n", dir)
	}
	return errors.Join(errs...)
}

// stopAll stops the processes recorded in st, the last started first.
func stopAll(ctx context.Context, st *State, logf func(string, ...any)) error {
	var errs []error
	for i := len(st.Processes) - 1; i >= 0; i-- {
		p := st.Processes[i]
		if !proc.Alive(p) {
			continue
		}
		logf("stopping %s (pid %d)", p.Name, p.PID)
		if err := proc.Stop(ctx, p, stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deadProcesses names the recorded processes no longer running.
func deadProcesses(st *State) []string {
	var dead []string
	for _, p := range st.Processes {
		if !proc.Alive(p) {
			dead = append(dead, p.Name)
		}
	}
	return dead
}
