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
	"syscall"

	"github.com/kelb-io/kelb/internal/devcluster/proc"
)

// Without root, the environment lives in an unprivileged user namespace
// (where kelb is root) with its own network and mount namespaces, like
// `unshare -Urnm`. Such a namespace has no name under /run/netns: it lasts
// as long as a process is in it, so the inner half starts a holder process
// first (and Down stops it last), and other commands enter the namespaces
// of that holder with nsenter. Name resolution is pointed at kelb's DNS by
// bind-mounting the environment's resolv.conf over /etc/resolv.conf in the
// private mount namespace.

// privileges returns whether kelb must run rootless, or an error when it
// can create no network namespace at all.
func privileges(ctx context.Context) (rootless bool, err error) {
	if os.Geteuid() == 0 {
		return false, checkPrivileges()
	}
	for _, tool := range []string{"unshare", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false, fmt.Errorf("kelb up without root needs %s (util-linux, iproute2); or run it as root", tool)
		}
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "unshare", "--user", "--map-root-user", "--net", "--mount", "true")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("kelb up needs root, or unprivileged user namespaces to create its network namespace, and this system allows neither (unshare --user --net: %s); run it with sudo, or enable user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0)",
			strings.TrimSpace(stderr.String()))
	}
	return true, nil
}

// environmentExists reports whether st's network namespace is still there.
func environmentExists(st *State) bool {
	if st.Rootless {
		return proc.Alive(st.Holder)
	}
	return namespaceExists(st.Namespace)
}

// enter returns a command that runs name with args inside st's namespace.
func enter(ctx context.Context, st *State, name string, args ...string) *exec.Cmd {
	if st.Rootless {
		return exec.CommandContext(ctx, "nsenter", append([]string{
			"--target", strconv.Itoa(st.Holder.PID), "--user", "--net", "--mount", "--preserve-credentials", "--", name}, args...)...)
	}
	return inNamespace(ctx, st.Namespace, name, args...)
}

// rootlessInner prepares the namespaces the inner half runs in without
// root: loopback up, the plan routed to it, resolv.conf pointed at kelb's
// DNS, and a holder process that keeps the namespaces alive.
func rootlessInner(ctx context.Context, st *State) error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"route", "add", "local", PlanCIDR, "dev", "lo"},
		{"-6", "route", "add", "local", PlanCIDR6, "dev", "lo"},
	} {
		if err := ip(ctx, args...); err != nil {
			return err
		}
	}
	resolv := filepath.Join(st.Dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte(resolvConf(st.Namespace, st.nameservers())), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", resolv, err)
	}
	if err := syscall.Mount(resolv, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s over /etc/resolv.conf: %w", resolv, err)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		return errors.New("sleep not found on PATH")
	}
	holder, err := proc.Start(proc.Spec{
		Name: "namespace", Path: sleep, Args: []string{"infinity"},
		LogPath: filepath.Join(st.Dir, "logs", "namespace.log"), Detach: true,
	})
	if err != nil {
		return err
	}
	st.Holder = holder.Info
	st.Processes = append(st.Processes, holder.Info)
	return st.save()
}
