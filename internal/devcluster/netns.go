package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// netnsPath is where `ip netns add` keeps a namespace.
func netnsPath(ns string) string { return filepath.Join("/run/netns", ns) }

// resolvDir is the directory `ip netns exec` bind-mounts files from.
func resolvDir(ns string) string { return filepath.Join("/etc/netns", ns) }

// namespaceExists reports whether the named network namespace exists.
func namespaceExists(ns string) bool {
	_, err := os.Stat(netnsPath(ns))
	return err == nil
}

// checkPrivileges returns a clear error when kelb cannot create network
// namespaces.
func checkPrivileges() error {
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("ip"); err != nil {
			return errors.New("kelb up needs the ip command (Debian/Ubuntu: apt-get install iproute2)")
		}
		return nil
	}
	return errors.New("kelb up needs root to create its network namespace (ip netns add); run it with sudo, as root, or in a container with CAP_SYS_ADMIN and CAP_NET_ADMIN")
}

// createNamespace creates ns with its loopback up and localCIDR (the
// whole plan, or a fleet's plan less its load balancer pools) routed to
// it, and points its name resolution at nameservers (kelb's DNS).
func createNamespace(ctx context.Context, ns, localCIDR string, nameservers []string) error {
	if err := ip(ctx, "netns", "add", ns); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		// A local route makes every address of the range bindable and
		// reachable inside the namespace: pods, nodes and load balancers
		// need no per-address setup.
		{"-n", ns, "route", "add", "local", localCIDR, "dev", "lo"},
	}
	for _, args := range steps {
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(resolvDir(ns), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", resolvDir(ns), err)
	}
	if err := os.WriteFile(filepath.Join(resolvDir(ns), "resolv.conf"), []byte(resolvConf(ns, nameservers)), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf of %s: %w", ns, err)
	}
	return nil
}

// resolvConf points name resolution at kelb server's DNS: one kelb
// server, or several lb nodes, tried in turn with a short timeout so that
// a dead node delays a lookup by a second only.
func resolvConf(ns string, nameservers []string) string {
	if len(nameservers) == 1 {
		return "# written by kelb up: name resolution inside " + ns + " goes to kelb server's DNS\nnameserver " + nameservers[0] + "\noptions ndots:1\n"
	}
	var b strings.Builder
	b.WriteString("# written by kelb up: name resolution inside " + ns + " goes to the DNS of kelb's lb nodes\n")
	for _, n := range nameservers {
		b.WriteString("nameserver " + n + "\n")
	}
	b.WriteString("options ndots:1 timeout:1 attempts:2\n")
	return b.String()
}

// deleteNamespace removes ns and its /etc/netns directory. Missing ones
// are not an error.
func deleteNamespace(ctx context.Context, ns string) error {
	var errs []error
	if namespaceExists(ns) {
		if err := ip(ctx, "netns", "delete", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(resolvDir(ns)); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", resolvDir(ns), err))
	}
	return errors.Join(errs...)
}

// namespacePIDs lists the processes running in ns.
func namespacePIDs(ctx context.Context, ns string) []int {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// inNamespace returns a command that runs name with args inside ns.
func inNamespace(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func ip(ctx context.Context, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
