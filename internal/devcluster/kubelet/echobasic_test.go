package kubelet

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/gateway-api/conformance/echo-basic/grpcechoserver"
)

// The tests here run the real echo-basic (built from the Gateway API
// module kelb depends on) and kelb's simulation of it side by side on
// loopback, send both the same requests and compare the answers field by
// field. The only differences allowed are the port numbers each was told
// to listen on, which the answers report.

var (
	echoBasicOnce sync.Once
	echoBasicBin  string
	echoBasicErr  error
)

// referenceEchoBasic builds sigs.k8s.io/gateway-api/conformance/echo-basic
// once per test binary, or skips t when go cannot build it here.
func referenceEchoBasic(t *testing.T) string {
	t.Helper()
	echoBasicOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			echoBasicErr = fmt.Errorf("go is not on PATH: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "kelb-echo-basic-")
		if err != nil {
			echoBasicErr = err
			return
		}
		echoBasicBin = filepath.Join(dir, "echo-basic")
		out, err := exec.Command(gobin, "build", "-o", echoBasicBin, "sigs.k8s.io/gateway-api/conformance/echo-basic").CombinedOutput()
		if err != nil {
			echoBasicErr = fmt.Errorf("build echo-basic: %v\n%s", err, out)
		}
	})
	if echoBasicErr != nil {
		t.Skipf("reference echo-basic unavailable: %v", echoBasicErr)
	}
	return echoBasicBin
}

// freePort returns a TCP (or UDP) port free on every address right now:
// the reference echo-basic listens on all of them.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pair is the reference and kelb's simulation, each with its environment.
type pair struct {
	ref, sim map[string]string
}

// startPair starts the reference with env plus refPorts, and kelb's
// echoBasic with env plus simPorts, both on loopback; files are written to
// disk for the reference and handed to kelb as mounted files.
func startPair(t *testing.T, env map[string]string, portKeys []string, files map[string][]byte) pair {
	t.Helper()
	bin := referenceEchoBasic(t)
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A port found free can be taken before the reference binds it, and
	// the reference then exits: start it again on other ports.
	for attempt := 1; ; attempt++ {
		p, ok := tryStartPair(t, bin, env, portKeys, files)
		if ok {
			return p
		}
		if attempt == 3 {
			t.Fatal("the reference echo-basic exited before listening, three times")
		}
	}
}

func tryStartPair(t *testing.T, bin string, env map[string]string, portKeys []string, files map[string][]byte) (pair, bool) {
	t.Helper()
	p := pair{ref: map[string]string{}, sim: map[string]string{}}
	for k, v := range env {
		p.ref[k], p.sim[k] = v, v
	}
	used := map[int]bool{}
	port := func(network string) string {
		for {
			if n := freePort(t, network); !used[n] {
				used[n] = true
				return strconv.Itoa(n)
			}
		}
	}
	for _, k := range portKeys {
		network := "tcp"
		if k == "UDP_PORT" {
			network = "udp"
		}
		p.ref[k] = port(network)
		p.sim[k] = port(network)
	}

	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range p.ref {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	for _, k := range portKeys {
		if k == "UDP_PORT" {
			continue
		}
		if !waitListening(t, "127.0.0.1:"+p.ref[k], exited) {
			return p, false
		}
	}

	info := podInfo{Name: env["POD_NAME"], Namespace: env["NAMESPACE"], IP: netip.MustParseAddr("127.0.0.1")}
	eps, err := echoBasic(container{Pod: info, Env: p.sim, Files: files})
	if err != nil {
		t.Fatalf("kelb's echo-basic: %v", err)
	}
	s := newPodServer(info, eps, slog.New(slog.DiscardHandler))
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.shutdown(ctx)
	})
	return p, true
}

// waitListening waits for addr to accept a connection; it answers false
// when the process listening there exits first.
func waitListening(t *testing.T, addr string, exited <-chan struct{}) bool {
	t.Helper()
	ok := true
	waitFor(t, 20*time.Second, func() bool {
		select {
		case <-exited:
			ok = false
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return ok
}

// answer is what a request got: status, the headers that are not about
// timing or length, and the body decoded when it is JSON.
type answer struct {
	Status  int
	Proto   string
	Headers http.Header
	JSON    map[string]any
	Text    string
	Err     string
}

func doRequest(c *http.Client, req *http.Request) answer {
	resp, err := c.Do(req)
	if err != nil {
		// Compare the kind of failure, not the addresses in it.
		msg := err.Error()
		switch {
		case strings.Contains(msg, "EOF"), strings.Contains(msg, "reset"):
			return answer{Err: "connection closed"}
		}
		return answer{Err: msg}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, Proto: resp.Proto, Headers: resp.Header.Clone()}
	a.Headers.Del("Date")
	a.Headers.Del("Content-Length")
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(b, &a.JSON); err != nil {
			a.Text = string(b)
		}
	} else {
		a.Text = string(b)
	}
	return a
}

// normalise replaces the values that report the port each server was
// told to use by the name of its environment variable.
func normalise(a answer, env map[string]string) answer {
	if a.JSON == nil {
		return a
	}
	for _, field := range []struct{ json, env string }{{"httpPort", "HTTP_PORT"}, {"tcpport", "TCP_PORT"}, {"tlsport", "TLS_PORT"}} {
		if v, ok := a.JSON[field.json]; ok && v == env[field.env] {
			a.JSON[field.json] = "$" + field.env
		}
	}
	return a
}

func selfSignedCert(t *testing.T, dir string, names ...string) (certPath, keyPath string, files map[string][]byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "crt"), filepath.Join(dir, "key")
	files = map[string][]byte{
		certPath: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPath:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}),
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, files, pool
}

func TestEchoBasicHTTPMatchesReference(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, files, pool := selfSignedCert(t, dir, "abc.example.com")
	caPath := filepath.Join(dir, "ca")
	files[caPath] = files[certPath]
	p := startPair(t, map[string]string{
		"POD_NAME":           "infra-backend-v1-7d4f8-x2x9q",
		"NAMESPACE":          "gateway-conformance-infra",
		"TLS_SERVER_CERT":    certPath,
		"TLS_SERVER_PRIVKEY": keyPath,
		"TLS_CLIENT_CACERTS": caPath,
	}, []string{"HTTP_PORT", "H2C_PORT", "HTTPS_PORT"}, files)

	clientCert, err := tls.X509KeyPair(files[certPath], files[keyPath])
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DisableKeepAlives: true}}
	h2cProtocols := new(http.Protocols)
	h2cProtocols.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: h2cProtocols}}
	httpsClient := func(withCert bool, h2 bool) *http.Client {
		cfg := &tls.Config{RootCAs: pool, ServerName: "abc.example.com"}
		if withCert {
			cfg.Certificates = []tls.Certificate{clientCert}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2, DisableKeepAlives: true}}
	}

	type request struct {
		name    string
		client  *http.Client
		scheme  string
		portKey string
		method  string
		path    string
		body    string
		headers map[string]string
	}
	requests := []request{
		{name: "get", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/path/to?x=1&y=2"},
		{name: "double slashes", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "//a//b"},
		{name: "post with headers", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "POST", path: "/post", body: "k=v",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Multi": "a", "x-lower": "b"}},
		{name: "echo set header", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/",
			headers: map[string]string{"X-Echo-Set-Header": "X-Foo: bar, x-lower-case: v, X-Foo: again"}},
		{name: "health", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/health"},
		{name: "status", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/status/418"},
		{name: "status bad", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/status/41"},
		{name: "status redirect", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/status"},
		{name: "bad delay", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/?delay=xyz"},
		{name: "delay", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/?delay=10ms"},
		{name: "retry without uuid", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/retry/x"},
		{name: "retry 503 first", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/retry/x?uuid=u1&succeedAfter=1&responseCode=503"},
		{name: "retry then echo", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/retry/x?uuid=u1&succeedAfter=1&responseCode=503"},
		{name: "retry reset first", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/retry/y?uuid=u2&succeedAfter=1"},
		{name: "retry reset then echo", client: plain, scheme: "http", portKey: "HTTP_PORT", method: "GET", path: "/retry/y?uuid=u2&succeedAfter=1"},
		{name: "h2c on http/1.1", client: plain, scheme: "http", portKey: "H2C_PORT", method: "GET", path: "/h2c"},
		{name: "h2c prior knowledge", client: h2c, scheme: "http", portKey: "H2C_PORT", method: "GET", path: "/h2c"},
		{name: "https http/1.1", client: httpsClient(false, false), scheme: "https", portKey: "HTTPS_PORT", method: "GET", path: "/tls"},
		{name: "https h2 with client certificate", client: httpsClient(true, true), scheme: "https", portKey: "HTTPS_PORT", method: "GET", path: "/tls"},
	}
	for _, r := range requests {
		t.Run(r.name, func(t *testing.T) {
			send := func(env map[string]string) answer {
				var body io.Reader
				if r.body != "" {
					body = strings.NewReader(r.body)
				}
				req, err := http.NewRequest(r.method, r.scheme+"://127.0.0.1:"+env[r.portKey]+r.path, body)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = "echo.example.com"
				req.Header.Set("User-Agent", "kelb-test")
				for k, v := range r.headers {
					req.Header.Set(k, v)
				}
				return normalise(doRequest(r.client, req), env)
			}
			want, got := send(p.ref), send(p.sim)
			if want.Err == "" && want.Status == 0 {
				t.Fatal("the reference did not answer")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("kelb differs from echo-basic (-echo-basic +kelb):\n%s", diff)
			}
		})
	}
}

func TestEchoBasicGRPCMatchesReference(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, files, pool := selfSignedCert(t, dir, "grpc.example.com")
	p := startPair(t, map[string]string{
		"POD_NAME":            "grpc-infra-backend-v1-5c9-abcde",
		"NAMESPACE":           "gateway-conformance-infra",
		"SERVICE_NAME":        "grpc-infra-backend-v1",
		"GRPC_ECHO_SERVER":    "1",
		"TLS_SERVER_CERT":     certPath,
		"TLS_SERVER_PRIV_KEY": keyPath,
	}, []string{"HTTP_PORT", "HTTPS_PORT"}, files)

	type result struct {
		Code       codes.Code
		Method     string
		Authority  string
		Headers    []string
		Context    string
		TLSVersion string
		ServerName string
		ALPN       string
		Cipher     string
	}
	call := func(env map[string]string, portKey, method string, creds credentials.TransportCredentials) result {
		conn, err := grpc.NewClient("127.0.0.1:"+env[portKey], grpc.WithTransportCredentials(creds), grpc.WithAuthority("grpc.example.com"), grpc.WithUserAgent("kelb-test"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := pb.NewGrpcEchoClient(conn)
		var resp *pb.EchoResponse
		switch method {
		case "Echo":
			resp, err = c.Echo(ctx, &pb.EchoRequest{})
		case "EchoTwo":
			resp, err = c.EchoTwo(ctx, &pb.EchoRequest{})
		default:
			resp, err = c.EchoThree(ctx, &pb.EchoRequest{})
		}
		if err != nil {
			return result{Code: status.Code(err)}
		}
		a := resp.GetAssertions()
		r := result{Method: a.GetFullyQualifiedMethod(), Authority: a.GetAuthority(), Context: a.GetContext().String()}
		for _, h := range a.GetHeaders() {
			r.Headers = append(r.Headers, h.GetKey()+"="+h.GetValue())
		}
		sort.Strings(r.Headers)
		if ta := a.GetTlsAssertions(); ta != nil {
			r.TLSVersion, r.ServerName, r.ALPN, r.Cipher = ta.GetVersion(), ta.GetServerName(), ta.GetNegotiatedProtocol(), ta.GetCipherSuite()
		}
		return r
	}
	tlsCreds := credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "grpc.example.com"})
	for _, tc := range []struct {
		portKey, method string
		creds           credentials.TransportCredentials
	}{
		{"HTTP_PORT", "Echo", insecure.NewCredentials()},
		{"HTTP_PORT", "EchoTwo", insecure.NewCredentials()},
		{"HTTP_PORT", "EchoThree", insecure.NewCredentials()},
		{"HTTPS_PORT", "Echo", tlsCreds},
	} {
		t.Run(tc.portKey+"/"+tc.method, func(t *testing.T) {
			want := call(p.ref, tc.portKey, tc.method, tc.creds)
			got := call(p.sim, tc.portKey, tc.method, tc.creds)
			if want.Code == codes.OK && want.Method == "" {
				t.Fatal("the reference did not answer")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("kelb differs from echo-basic (-echo-basic +kelb):\n%s", diff)
			}
		})
	}
}

func TestEchoBasicTCPMatchesReference(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, files, pool := selfSignedCert(t, dir, "abc.example.com")
	p := startPair(t, map[string]string{
		"POD_NAME":            "tcp-backend-6b7-qwert",
		"NAMESPACE":           "gateway-conformance-infra",
		"TCP_ECHO_SERVER":     "1",
		"TLS_SERVER_CERT":     certPath,
		"TLS_SERVER_PRIV_KEY": keyPath,
	}, []string{"TCP_PORT", "TLS_PORT"}, files)

	talk := func(env map[string]string, withTLS bool) []string {
		var (
			c   net.Conn
			err error
		)
		addr := "127.0.0.1:"
		if withTLS {
			c, err = tls.Dial("tcp", addr+env["TLS_PORT"], &tls.Config{RootCAs: pool, ServerName: "abc.example.com"})
		} else {
			c, err = net.Dial("tcp", addr+env["TCP_PORT"])
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		var lines []string
		read := func() {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			l = strings.ReplaceAll(l, `"tcpport":"`+env["TCP_PORT"]+`"`, `"tcpport":"$TCP_PORT"`)
			l = strings.ReplaceAll(l, `"tlsport":"`+env["TLS_PORT"]+`"`, `"tlsport":"$TLS_PORT"`)
			lines = append(lines, l)
		}
		read()
		for _, cmd := range []string{"TEST", "IS_TLS", "PING"} {
			fmt.Fprintf(c, "%s\n", cmd)
			read()
		}
		return lines
	}
	for _, withTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%t", withTLS), func(t *testing.T) {
			if diff := cmp.Diff(talk(p.ref, withTLS), talk(p.sim, withTLS)); diff != "" {
				t.Errorf("kelb differs from echo-basic (-echo-basic +kelb):\n%s", diff)
			}
		})
	}
}

func TestEchoBasicUDPMatchesReference(t *testing.T) {
	p := startPair(t, map[string]string{
		"POD_NAME":        "udp-backend-1",
		"NAMESPACE":       "gateway-conformance-infra",
		"UDP_ECHO_SERVER": "1",
	}, []string{"UDP_PORT"}, nil)
	ask := func(env map[string]string) string {
		c, err := net.Dial("udp", "127.0.0.1:"+env["UDP_PORT"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 4096)
		// The reference may not be listening yet: ask until it answers.
		for range 50 {
			c.Write([]byte("hello kelb"))
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Read(buf)
			if err == nil {
				return string(buf[:n])
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal("no UDP answer")
		return ""
	}
	if diff := cmp.Diff(ask(p.ref), ask(p.sim)); diff != "" {
		t.Errorf("kelb differs from echo-basic (-echo-basic +kelb):\n%s", diff)
	}
}
