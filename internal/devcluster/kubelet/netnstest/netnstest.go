// Package netnstest runs a test inside a private network namespace where the
// whole benchmarking range 198.18.0.0/15 is routed to loopback, the way kelb up
// lays out its environment: any address of the range can be bound (as a
// listener or as a connection's source) with no further setup, and no packet
// leaves the machine.
//
// Enter works by re-execution: in the test process it creates the namespace
// (ip netns add kelbtest-<random>), runs the same test binary again under
// `ip netns exec`, limited to the calling test and marked by an environment
// variable, reports the child's output and result, and deletes the namespace
// in t.Cleanup. In the child it returns true and the test proceeds. Without
// root or without the ip command the test is skipped with that reason.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// envGuard names the namespace a re-executed test binary runs in.
const envGuard = "KELB_TEST_NETNS"

// Range is the address range that is local inside the namespace.
const Range = "198.18.0.0/15"

// Enter reports whether the caller runs inside a test namespace. When it
// returns false the test has been run (or skipped) in a child process and the
// caller must return at once.
func Enter(t *testing.T) bool {
	t.Helper()
	if ns := os.Getenv(envGuard); ns != "" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root")
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("network namespace tests need the ip command (iproute2)")
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("netnstest.Enter must be called from a top-level test, not %s", t.Name())
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random namespace name: %v", err)
	}
	ns := "kelbtest-" + hex.EncodeToString(b[:])
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(ipPath, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command(ipPath, "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("delete network namespace %s: %v: %s", ns, err, out)
		}
	})
	run("-n", ns, "link", "set", "lo", "up")
	run("-n", ns, "route", "add", "local", Range, "dev", "lo")

	args := []string{"netns", "exec", ns, os.Args[0], "-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count", "1"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	if d, ok := t.Deadline(); ok {
		// Leave the parent time to report the child's goroutine dump.
		if left := time.Until(d) - 10*time.Second; left > 0 {
			args = append(args, "-test.timeout", left.String())
		}
	}
	cmd := exec.Command(ipPath, args...)
	cmd.Env = append(os.Environ(), envGuard+"="+ns)
	out, err := cmd.CombinedOutput()
	if testing.Verbose() || err != nil {
		t.Logf("inside network namespace %s:\n%s", ns, out)
	}
	if err != nil {
		t.Errorf("test inside network namespace %s failed: %v", ns, err)
	}
	if strings.Contains(string(out), "--- SKIP") && err == nil {
		t.Skip("skipped inside the network namespace (see log)")
	}
	return false
}

// In runs fn on an OS thread switched into the named network namespace, so
// that the sockets fn creates belong to it; they keep belonging to it when
// used from other threads. The thread is switched back before it is handed
// to the scheduler again; one that cannot be switched back ends with its
// goroutine. fn never runs on the process's main thread: Go cannot end that
// thread, and the kernel reports a process's namespace by it, so a main
// thread stranded in a namespace would make the whole process count as
// being there (and `kelb down` stops every process in its namespaces).
func In(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Hold the main thread while another goroutine, which
			// cannot get it now, does the work.
			errc <- In(name, fn)
			runtime.UnlockOSThread()
			return
		}
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("network namespace %s: %w", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", name, err)
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
