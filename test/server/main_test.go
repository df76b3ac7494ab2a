// Package server_test drives the real kelb binary end to end: each test
// starts its own `kelb server` process on free loopback ports, with zones
// whose address pools are loopback networks of their own, talks to it with
// the clients users have (aws-sdk-go-v2, the aws CLI, boto3, a DNS client,
// a Prometheus scrape) and sends real TCP and UDP traffic through its load
// balancers to backends on distinct 127.x.y.z addresses.
//
// Every address a test uses lies in 127.0.0.0/8, which Linux routes to the
// loopback interface as a whole, so no network setup is needed; the one test
// that manages interface addresses does so in a network namespace of its
// own. Each test takes a /16 of loopback (see newNet) so that tests run in
// parallel without sharing a load balancer address or a backend.
package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/kelb-io/kelb/internal/certstore"
	"github.com/kelb-io/kelb/internal/dataplane/kernel"
	"github.com/kelb-io/kelb/internal/server"
)

const (
	region    = "us-west-2"
	dnsDomain = "kelb.test"
	keyID     = "AKIAKELBE2ETEST00001"
	secretKey = "kelb-e2e-secret-access-key-0000000000000"
)

// kelbBin is the kelb binary TestMain builds.
var kelbBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Tests spend most of their time waiting for health checks of their
	// own servers, not on the CPU: run more of them at once than there are
	// cores, unless -parallel says otherwise.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "6")
	}
	dir, err := os.MkdirTemp("", "kelb-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	kelbBin = filepath.Join(dir, "kelb")
	// KELB_E2E_RACE=1 builds kelb with the race detector: a data race in
	// the server then fails the test that ran into it (see stop).
	buildArgs := []string{"build", "-o", kelbBin}
	if os.Getenv("KELB_E2E_RACE") == "1" {
		buildArgs = append(buildArgs, "-race")
	}
	build := exec.Command("go", append(buildArgs, "github.com/kelb-io/kelb/cmd/kelb")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build kelb:", err)
		return 1
	}
	return m.Run()
}

// netCounter hands out second octets of 127.0.0.0/8 to tests.
var netCounter atomic.Int32

// fleetKey is the certificate key file every etcd-backed kelb server of
// the tests shares, made at first use next to kelbBin.
var fleetKey struct {
	once sync.Once
	data []byte
	err  error
}

// sharesStore reports whether args run kelb server on an etcd store.
func sharesStore(args []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--store" && args[i+1] == "etcd" {
			return true
		}
	}
	return false
}

// copyFleetKey writes the tests' fleet certificate key into dataDir.
func copyFleetKey(dataDir string) error {
	fleetKey.once.Do(func() {
		path := filepath.Join(filepath.Dir(kelbBin), server.CertificateKeyFile)
		if _, fleetKey.err = certstore.LoadOrCreateKey(path); fleetKey.err == nil {
			fleetKey.data, fleetKey.err = os.ReadFile(path)
		}
	})
	if fleetKey.err != nil {
		return fleetKey.err
	}
	return os.WriteFile(filepath.Join(dataDir, server.CertificateKeyFile), fleetKey.data, 0o600)
}

// testNet is the /16 of loopback a test owns: backends in 127.N.0.0/24
// (zone a below .128, zone b from .128), load balancer addresses of zone a
// in 127.N.1.0/24 and of zone b in 127.N.2.0/24.
type testNet struct{ n int }

func newNet() testNet {
	// 127.0.x.x and 127.1.x.x are what other kelb tests and the server's
	// default zone use; stay clear of them.
	// Wrap around (with -count=N) long after the test that had a /16 is
	// over: at most -parallel tests hold one at a time.
	return testNet{n: 201 + int(netCounter.Add(1)-1)%50}
}

// backend is the address of backend i of zone a ("a") or b ("b").
func (tn testNet) backend(zone string, i int) string {
	if zone == "b" {
		return fmt.Sprintf("127.%d.0.%d", tn.n, 128+10+i)
	}
	return fmt.Sprintf("127.%d.0.%d", tn.n, 10+i)
}

// client is an address clients of the test may bind to.
func (tn testNet) client() string { return fmt.Sprintf("127.%d.0.100", tn.n) }

func (tn testNet) zoneFlags() []string {
	return []string{
		"--zone", fmt.Sprintf("%sa=127.%d.1.0/24", region, tn.n),
		"--zone", fmt.Sprintf("%sb=127.%d.2.0/24", region, tn.n),
		"--zone-targets", fmt.Sprintf("%sa=127.%d.0.0/25", region, tn.n),
		"--zone-targets", fmt.Sprintf("%sb=127.%d.0.128/25", region, tn.n),
		// The VPC is loopback: backends and the netns tests' targets.
		"--vpc-cidr", "127.0.0.0/8",
	}
}

// kelbServer is one running kelb server process.
type kelbServer struct {
	t       testing.TB
	dataDir string
	args    []string // all flags, reused by restart
	APIURL  string
	DNSAddr string
	Metrics string // base URL of the metrics endpoint
	ELB     *elbv2.Client

	// wrap runs kelb through another command; dial reaches the process's
	// network namespace (nil: this one).
	wrap []string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
	log     *bytes.Buffer
	Started time.Time // when the current process was started
	// kernel: the current process runs NLB listeners on the kernel data
	// plane (kelb server --dataplane auto, the default, where it has
	// CAP_NET_ADMIN).
	kernel bool
	// kernelTable: some process of s ran the kernel plane, whose table
	// outlives it.
	kernelTable bool
}

// kernelReadyLog is what kelb server logs at start when its kernel data
// plane runs.
const kernelReadyLog = "kernel data plane ready"

// kernelPlane reports whether the current kelb server process runs its
// network load balancer listeners on the kernel data plane.
func (s *kelbServer) kernelPlane() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kernel
}

type serverOptions struct {
	// extraArgs are appended to the generated flags.
	extraArgs []string
	// zoneFlags replace tn.zoneFlags().
	zoneFlags []string
	// netns runs kelb in this network namespace ("ip netns exec NAME").
	netns string
	// credentialsFile replaces --access-key-id and --secret-access-key.
	credentialsFile string
	// wrap runs kelb through this command, e.g. prlimit (inside netns
	// when both are given).
	wrap []string
	// fleetKey gives a bbolt-backed server the certificate key of the
	// tests' etcd-backed ones (which always share it), as a store later
	// migrated to etcd needs.
	fleetKey bool
}

// startServer starts kelb server for t and stops it when t ends.
func startServer(t testing.TB, tn testNet, o serverOptions) *kelbServer {
	t.Helper()
	zones := o.zoneFlags
	if zones == nil {
		zones = tn.zoneFlags()
	}
	s := &kelbServer{t: t, dataDir: t.TempDir()}
	if o.fleetKey || sharesStore(o.extraArgs) {
		// Servers on one etcd store are one fleet: like every fleet, they
		// need the same certificate key (kelb.db.key), or the second
		// cannot open the store's certificate authority and exits.
		if err := copyFleetKey(s.dataDir); err != nil {
			t.Fatalf("fleet certificate key: %v", err)
		}
	}
	if o.netns != "" {
		s.wrap = []string{"ip", "netns", "exec", o.netns}
		s.dial = nsDialer(o.netns)
	}
	s.wrap = append(s.wrap, o.wrap...)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		api, dnsPort, metrics := freePort(t), freeUDPAndTCPPort(t), freePort(t)
		s.APIURL = "http://" + api
		s.DNSAddr = dnsPort
		s.Metrics = "http://" + metrics
		s.args = append([]string{"server",
			"--api-addr", api, "--dns-addr", dnsPort, "--metrics-addr", metrics,
			"--data-dir", s.dataDir, "--region", region, "--dns-domain", dnsDomain,
			"--log-level", "info",
		}, zones...)
		if o.credentialsFile != "" {
			s.args = append(s.args, "--credentials-file", o.credentialsFile)
		} else {
			s.args = append(s.args, "--access-key-id", keyID, "--secret-access-key", secretKey)
		}
		// KELB_TEST_DATAPLANE runs the servers on another data plane than
		// the default (auto), e.g. userspace: the behaviour tests then
		// check that plane. A test's own --dataplane comes after, and wins.
		if p := os.Getenv("KELB_TEST_DATAPLANE"); p != "" {
			s.args = append(s.args, "--dataplane", p)
		}
		s.args = append(s.args, o.extraArgs...)
		lastErr = s.start()
		if lastErr == nil {
			break
		}
		t.Logf("start kelb server (attempt %d): %v", attempt+1, lastErr)
	}
	if lastErr != nil {
		t.Fatalf("start kelb server: %v", lastErr)
	}
	s.ELB = elbv2.New(elbv2.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.APIURL),
		Credentials:  staticCredentials(keyID, secretKey),
		HTTPClient:   s.httpClient(),
	})
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM)
		// A clean stop leaves the kernel plane's table empty, for
		// established flows; the test's server is gone for good. A server
		// in a namespace of its own takes its table with the namespace.
		s.mu.Lock()
		removeTable := s.kernelTable && o.netns == ""
		s.mu.Unlock()
		if removeTable {
			if err := kernel.RemoveTable(kernel.TableFor(s.dataDir)); err != nil {
				t.Errorf("remove the kernel plane's table: %v", err)
			}
		}
		if strings.Contains(s.allLogs(), "WARNING: DATA RACE") {
			t.Errorf("kelb server ran into a data race:\n%s", s.allLogs())
		}
		if t.Failed() {
			t.Logf("kelb server log:\n%s", s.logTail(80))
		}
	})
	return s
}

func staticCredentials(id, secret string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, Source: "kelb-e2e"}, nil
	})
}

// httpClient reaches the server's network namespace.
func (s *kelbServer) httpClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.dial != nil {
		tr.DialContext = s.dial
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// start runs the process with s.args and waits until its API answers.
func (s *kelbServer) start() error {
	bin, args := kelbBin, s.args
	if len(s.wrap) > 0 {
		bin, args = s.wrap[0], append(append(append([]string(nil), s.wrap[1:]...), kelbBin), s.args...)
	}
	cmd := exec.Command(bin, args...)
	logBuf := &bytes.Buffer{}
	cmd.Stdout = &lockedWriter{mu: &s.mu, w: logBuf}
	cmd.Stderr = cmd.Stdout
	s.mu.Lock()
	s.log = logBuf
	s.mu.Unlock()
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done, s.Started = cmd, done, started
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		// Any HTTP answer (an unsigned request is refused with 403) means
		// the API is serving.
		resp, err := s.httpClient().Get(s.APIURL + "/")
		if err == nil {
			resp.Body.Close()
			// The planes start before the API listens.
			s.mu.Lock()
			s.kernel = strings.Contains(logBuf.String(), kernelReadyLog)
			s.kernelTable = s.kernelTable || s.kernel
			s.mu.Unlock()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("kelb server exited: %s\n%s", cmd.ProcessState, s.logTail(20))
		case <-ctx.Done():
			s.stop(syscall.SIGKILL)
			return fmt.Errorf("kelb server API at %s not answering: %v", s.APIURL, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop signals the process and waits for it to exit, killing it if it does
// not within 10 s.
func (s *kelbServer) stop(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("kelb server (pid %d) did not exit on %v; killing it", cmd.Process.Pid, sig)
		_ = cmd.Process.Kill()
		<-done
	}
}

// restart starts the process again with the same flags and data dir,
// stopping it first (SIGTERM) if it still runs: a second process would find
// the first one's API answering and leave it running past the test.
func (s *kelbServer) restart() {
	s.t.Helper()
	s.stop(syscall.SIGTERM)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("restart kelb server: %v", err)
}

// allLogs is everything the current process wrote.
func (s *kelbServer) allLogs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

func (s *kelbServer) logTail(lines int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(s.log.String(), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// freePort returns a loopback TCP address that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// freeUDPAndTCPPort returns a loopback address whose port was free for both
// UDP and TCP a moment ago (DNS serves both).
func freeUDPAndTCPPort(t testing.TB) string {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		pc.Close()
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return ""
}

// eventually polls cond every interval until it returns nil or timeout
// passes, then fails t with the last error.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scanLines returns the lines of b.
func scanLines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

var errNotYet = errors.New("not yet")

// errNotYetf is a condition of eventually that does not hold yet.
func errNotYetf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNotYet, fmt.Sprintf(format, args...))
}
