// Package etcdtest runs a real etcd server for tests: the etcd binary on
// PATH (Debian's etcd-server) or the one kelb up builds into its cache,
// one member on loopback ports picked at random, with a data directory in
// the test's temporary directory. The process is killed by its PID when the
// test ends. A test skips, saying why, when no etcd binary is found.
package etcdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
	"github.com/kelb-io/kelb/internal/devcluster/pki"
)

// Server is one etcd member started by Start.
type Server struct {
	// Endpoint is the client URL (http://127.0.0.1:PORT, https with TLS).
	Endpoint string
	// TLS holds the client's files when the server requires TLS.
	TLS *TLSFiles

	bin, dir string
	args     []string
	logPath  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// TLSFiles are the PEM files a client needs for a TLS etcd.
type TLSFiles struct {
	CACert, Cert, Key string
}

// Options configures Start.
type Options struct {
	// TLS serves clients over TLS and requires client certificates.
	TLS bool
}

// Binary returns the etcd binary: $KELB_ETCD if set, else etcd on PATH,
// else the one kelb up built into its cache.
func Binary() (string, error) {
	if p := os.Getenv("KELB_ETCD"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("etcd")
	if err == nil {
		return p, nil
	}
	if cached, cerr := k8sbin.EtcdPath(k8sbin.Options{}); cerr == nil {
		if fi, serr := os.Stat(cached); serr == nil && fi.Mode()&0o111 != 0 {
			return cached, nil
		}
	}
	return "", err
}

// Start starts etcd and waits until it answers; t is skipped if there is
// no etcd binary.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Skipf("no etcd binary (install etcd-server, run make up once to build one, or set KELB_ETCD): %v", err)
	}
	dir := t.TempDir()
	ports := freePorts(t, 2)
	scheme := "http"
	s := &Server{bin: bin, dir: dir, logPath: filepath.Join(dir, "etcd.log")}
	if opts.TLS {
		scheme = "https"
		s.TLS = writeTLS(t, dir)
	}
	client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	s.Endpoint = client
	s.args = []string{
		"--name=test",
		"--data-dir=" + filepath.Join(dir, "data"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=test=" + peer,
		"--log-outputs=stderr",
	}
	if opts.TLS {
		s.args = append(s.args,
			"--cert-file="+filepath.Join(dir, "server.crt"),
			"--key-file="+filepath.Join(dir, "server.key"),
			"--trusted-ca-file="+s.TLS.CACert,
			"--client-cert-auth")
	}
	t.Cleanup(s.Stop)
	s.Restart(t)
	return s
}

// Restart starts the process again (after Stop) on the same ports and
// data, and waits until it answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = log, log
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	if err := s.waitHealthy(30 * time.Second); err != nil {
		s.Stop()
		out, _ := os.ReadFile(s.logPath)
		t.Fatalf("etcd did not become healthy: %v\n%s", err, out)
	}
}

// Stop kills the etcd process (by its PID) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// waitHealthy polls the client port until etcd's /health says so.
func (s *Server) waitHealthy(timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	if s.TLS != nil {
		tc, err := clientTLS(s.TLS)
		if err != nil {
			return err
		}
		hc.Transport = &http.Transport{TLSClientConfig: tc}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		s.mu.Lock()
		cmd := s.cmd
		s.mu.Unlock()
		if cmd == nil || cmd.ProcessState != nil {
			return fmt.Errorf("etcd exited")
		}
		resp, err := hc.Get(s.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/health: %s", resp.Status)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		port, _ := strconv.Atoi(p)
		ports = append(ports, port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// writeTLS writes a CA, a serving certificate for 127.0.0.1 and a client
// certificate into dir.
func writeTLS(t testing.TB, dir string) *TLSFiles {
	t.Helper()
	ca, err := pki.NewCA("kelb etcd test CA")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.Issue(pki.CertRequest{CommonName: "etcd", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(pki.CertRequest{CommonName: "kelb"})
	if err != nil {
		t.Fatal(err)
	}
	files := &TLSFiles{}
	for _, f := range []struct {
		name string
		data []byte
		path *string
	}{
		{"ca.crt", ca.CertPEM, &files.CACert},
		{"server.crt", serving.CertPEM, nil},
		{"server.key", serving.KeyPEM, nil},
		{"client.crt", client.CertPEM, &files.Cert},
		{"client.key", client.KeyPEM, &files.Key},
	} {
		p, err := pki.WriteFile(dir, f.name, f.data)
		if err != nil {
			t.Fatal(err)
		}
		if f.path != nil {
			*f.path = p
		}
	}
	return files
}

// clientTLS is the TLS configuration of a client of the test server.
func clientTLS(f *TLSFiles) (*tls.Config, error) {
	caPEM, err := os.ReadFile(f.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
