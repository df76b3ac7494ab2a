package kubelet

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// echoBasic is the Gateway API conformance suite's backend image
// (gateway-api/echo-basic), read from its source at
// sigs.k8s.io/gateway-api/conformance v1.6.3: one of four servers, chosen by
// environment variables in this order.
//
//   - GRPC_ECHO_SERVER set: the gRPC echo service (grpcecho.proto) on
//     HTTP_PORT (3000), and over TLS on HTTPS_PORT (8443) when
//     TLS_SERVER_CERT and TLS_SERVER_PRIV_KEY name files.
//   - TCP_ECHO_SERVER set: a line protocol (TEST, IS_TLS, PING) after a
//     welcome line on TCP_PORT (3000), and over TLS on TLS_PORT (8443) with
//     the same files.
//   - UDP_ECHO_SERVER set: each datagram answered with JSON on UDP_PORT
//     (8080).
//   - otherwise HTTP: JSON describing the request on HTTP_PORT (3000),
//     HTTP/2 without TLS on H2C_PORT (3001), and HTTPS on HTTPS_PORT (8443)
//     when TLS_SERVER_CERT and TLS_SERVER_PRIVKEY name files (client
//     certificates verified against TLS_CLIENT_CACERTS when set).
//
// Every answer carries the pod context from NAMESPACE, INGRESS_NAME,
// SERVICE_NAME and POD_NAME, exactly as the image reads them: a pod that
// does not set them gets empty fields.
func echoBasic(c container) ([]endpoint, error) {
	ctx := echoBasicContext{
		Namespace: c.Env["NAMESPACE"],
		Ingress:   c.Env["INGRESS_NAME"],
		Service:   c.Env["SERVICE_NAME"],
		Pod:       c.Env["POD_NAME"],
	}
	switch {
	case c.Env["GRPC_ECHO_SERVER"] != "":
		return echoBasicGRPC(c, ctx)
	case c.Env["TCP_ECHO_SERVER"] != "":
		return echoBasicTCP(c, ctx)
	case c.Env["UDP_ECHO_SERVER"] != "":
		return echoBasicUDP(c, ctx)
	}
	return echoBasicHTTP(c, ctx)
}

// echoBasicContext is the pod context of echo-basic's HTTP answer.
type echoBasicContext struct {
	Namespace string `json:"namespace"`
	Ingress   string `json:"ingress"`
	Service   string `json:"service"`
	Pod       string `json:"pod"`
}

// echoBasicAnswer is the JSON echo-basic's HTTP server answers with.
type echoBasicAnswer struct {
	Path     string              `json:"path"`
	Host     string              `json:"host"`
	Method   string              `json:"method"`
	Proto    string              `json:"proto"`
	Headers  map[string][]string `json:"headers"`
	HTTPPort string              `json:"httpPort"`

	echoBasicContext `json:",inline"`

	TLS *echoBasicTLS `json:"tls,omitempty"`
}

// echoBasicTLS describes the TLS connection of an HTTPS request.
type echoBasicTLS struct {
	Version            string   `json:"version"`
	PeerCertificates   []string `json:"peerCertificates,omitempty"`
	ServerName         string   `json:"serverName"`
	NegotiatedProtocol string   `json:"negotiatedProtocol,omitempty"`
	CipherSuite        string   `json:"cipherSuite"`
}

// envPort reads a port number from the environment, def when unset.
func envPort(env map[string]string, key string, def int32) (int32, error) {
	v := env[key]
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("non-integer value in %s %q", key, v)
	}
	return int32(n), nil
}

// tlsFiles builds a server TLS configuration from the files named by the
// environment variables certKey and keyKey, or nil when either is unset.
func tlsFiles(c container, certKey, keyKey string) (*tls.Config, error) {
	certPath, keyPath := c.Env[certKey], c.Env[keyKey]
	if certPath == "" || keyPath == "" {
		return nil, nil
	}
	certPEM, ok := c.Files[certPath]
	if !ok {
		return nil, fmt.Errorf("%s: no such file %s (mount a Secret there)", certKey, certPath)
	}
	keyPEM, ok := c.Files[keyPath]
	if !ok {
		return nil, fmt.Errorf("%s: no such file %s (mount a Secret there)", keyKey, keyPath)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key pair %s, %s: %w", certPath, keyPath, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
}

func echoBasicHTTP(c container, ctx echoBasicContext) ([]endpoint, error) {
	httpPort, err := envPort(c.Env, "HTTP_PORT", 3000)
	if err != nil {
		return nil, err
	}
	h2cPort, err := envPort(c.Env, "H2C_PORT", 3001)
	if err != nil {
		return nil, err
	}
	httpsPort, err := envPort(c.Env, "HTTPS_PORT", 8443)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsFiles(c, "TLS_SERVER_CERT", "TLS_SERVER_PRIVKEY")
	if err != nil {
		return nil, err
	}
	if ca := c.Env["TLS_CLIENT_CACERTS"]; tlsCfg != nil && ca != "" {
		pemCA, ok := c.Files[ca]
		if !ok {
			return nil, fmt.Errorf("TLS_CLIENT_CACERTS: no such file %s", ca)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCA) {
			return nil, fmt.Errorf("unable to append certificate in %q to CA pool", ca)
		}
		tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
		tlsCfg.ClientCAs = pool
	}
	// The image reports HTTP_PORT's value (or "3000") on every port.
	portValue := c.Env["HTTP_PORT"]
	if portValue == "" {
		portValue = "3000"
	}
	eb := &echoBasicHTTPServer{ctx: ctx, httpPort: portValue, attempts: map[string]int{}}
	h := eb.handler()
	eps := []endpoint{
		{Port: httpPort, Kind: kindHTTP, HTTP: h},
		{Port: h2cPort, Kind: kindH2C, HTTP: http.HandlerFunc(eb.h2c)},
	}
	if tlsCfg != nil {
		eps = append(eps, endpoint{Port: httpsPort, Kind: kindHTTPS, HTTP: h, TLS: tlsCfg})
	}
	return eps, nil
}

// echoBasicHTTPServer is the state of one echo-basic HTTP server.
type echoBasicHTTPServer struct {
	ctx      echoBasicContext
	httpPort string

	mu       sync.Mutex
	attempts map[string]int // retry simulation, by uuid
}

// handler routes as the image does: /health, /status/NNN, /retry/, /ws
// and the echo on every other path, after collapsing "//" in the path.
func (e *echoBasicHTTPServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("OK"))
	})
	mux.HandleFunc("/status/", echoBasicStatus)
	mux.HandleFunc("/retry/", e.retry)
	mux.HandleFunc("/", e.echo)
	mux.Handle("/ws", echoWebSocket())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.ReplaceAll(r.URL.Path, "//", "/")
		mux.ServeHTTP(w, r)
	})
}

// h2c answers only HTTP/2 (prior knowledge) or an h2c upgrade request.
func (e *echoBasicHTTPServer) h2c(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 && r.Header.Get("Upgrade") != "h2c" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "Expected h2c request")
		return
	}
	e.echo(w, r)
}

var statusPath = regexp.MustCompile(`^/status/(\d\d\d)$`)

// echoBasicStatus answers /status/NNN with status NNN, anything else 400.
func echoBasicStatus(w http.ResponseWriter, r *http.Request) {
	code := http.StatusBadRequest
	if m := statusPath.FindStringSubmatch(r.RequestURI); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	w.WriteHeader(code)
}

// echo answers with the request as JSON, after ?delay=DURATION.
func (e *echoBasicHTTPServer) echo(w http.ResponseWriter, r *http.Request) {
	if err := formDelay(r, "delay"); err != nil {
		echoBasicError(w, err, http.StatusInternalServerError)
		return
	}
	answer := echoBasicAnswer{
		Path:             r.RequestURI,
		Host:             r.Host,
		Method:           r.Method,
		Proto:            r.Proto,
		Headers:          r.Header,
		HTTPPort:         e.httpPort,
		echoBasicContext: e.ctx,
		TLS:              tlsAnswer(r.TLS),
	}
	js, err := json.MarshalIndent(answer, "", " ")
	if err != nil {
		echoBasicError(w, err, http.StatusInternalServerError)
		return
	}
	setEchoHeaders(w, r.Header)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(js)
}

// setEchoHeaders sets the response headers X-Echo-Set-Header asks for
// ("Name: value, Other: value"), keeping the names' case.
func setEchoHeaders(w http.ResponseWriter, h http.Header) {
	for _, list := range h["X-Echo-Set-Header"] {
		for kv := range strings.SplitSeq(list, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(kv), ":")
			if len(w.Header()[name]) == 0 {
				w.Header()[name] = []string{value}
			} else {
				w.Header()[name][0] += "," + strings.TrimSpace(value)
			}
		}
	}
}

// retry fails the first succeedAfter requests of one uuid (a reset
// connection, or ?responseCode=N), optionally after ?delayRetry=DURATION,
// then echoes.
func (e *echoBasicHTTPServer) retry(w http.ResponseWriter, r *http.Request) {
	uuid := r.URL.Query().Get("uuid")
	if uuid == "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "uuid is required")
		return
	}
	succeedAfter, err := strconv.Atoi(r.URL.Query().Get("succeedAfter"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "succeedAfter is required")
		return
	}
	fail := func(w http.ResponseWriter) error {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return fmt.Errorf("response writer does not support hijacking")
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return err
		}
		if l, ok := conn.(interface{ SetLinger(int) error }); ok {
			if err := l.SetLinger(0); err != nil {
				return err
			}
		}
		return conn.Close()
	}
	if code, err := strconv.Atoi(r.URL.Query().Get("responseCode")); err == nil {
		fail = func(w http.ResponseWriter) error {
			w.WriteHeader(code)
			return nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.attempts[uuid] < succeedAfter {
		e.attempts[uuid]++
		if err := formDelay(r, "delayRetry"); err != nil {
			echoBasicError(w, err, http.StatusInternalServerError)
			return
		}
		if err := fail(w); err != nil {
			echoBasicError(w, err, http.StatusInternalServerError)
		}
		return
	}
	e.echo(w, r)
}

// formDelay waits for the duration in form value key, if any, bounded by
// maxDelay and the request's context.
func formDelay(r *http.Request, key string) error {
	v := r.FormValue(key)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	t := time.NewTimer(min(d, maxDelay))
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	return nil
}

// echoBasicError answers {"message": err} with code.
func echoBasicError(w http.ResponseWriter, err error, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{err.Error()})
	w.WriteHeader(code)
	w.Write(body)
}

// tlsVersionName names a TLS version as echo-basic does.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1.0"
	}
	return ""
}

// peerCertificatesPEM encodes the client's certificates.
func peerCertificatesPEM(st *tls.ConnectionState) []string {
	var out []string
	for _, c := range st.PeerCertificates {
		out = append(out, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return out
}

func tlsAnswer(st *tls.ConnectionState) *echoBasicTLS {
	if st == nil {
		return nil
	}
	return &echoBasicTLS{
		Version:            tlsVersionName(st.Version),
		PeerCertificates:   peerCertificatesPEM(st),
		ServerName:         st.ServerName,
		NegotiatedProtocol: st.NegotiatedProtocol,
		CipherSuite:        tls.CipherSuiteName(st.CipherSuite),
	}
}

// echoBasicTCP is the TCP echo server: a welcome line, then answers to
// the lines TEST (the pod context as JSON), IS_TLS and PING.
func echoBasicTCP(c container, ctx echoBasicContext) ([]endpoint, error) {
	tcpPort, err := envPort(c.Env, "TCP_PORT", 3000)
	if err != nil {
		return nil, err
	}
	tlsPort, err := envPort(c.Env, "TLS_PORT", 8443)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsFiles(c, "TLS_SERVER_CERT", "TLS_SERVER_PRIV_KEY")
	if err != nil {
		return nil, err
	}
	info := tcpContext{
		echoBasicContext: ctx,
		TCPPort:          strconv.Itoa(int(tcpPort)),
		TLSPort:          strconv.Itoa(int(tlsPort)),
	}
	eps := []endpoint{{Port: tcpPort, Kind: kindStream, Stream: func(conn net.Conn) { serveTCPEcho(conn, info) }}}
	if tlsCfg != nil {
		tlsCfg.MinVersion = tls.VersionTLS12
		eps = append(eps, endpoint{Port: tlsPort, Kind: kindStream, TLS: tlsCfg, Stream: func(conn net.Conn) { serveTCPEcho(conn, info) }})
	}
	return eps, nil
}

// tcpContext is the pod context of the TCP echo server's TEST answer.
type tcpContext struct {
	echoBasicContext `json:",inline"`
	TCPPort          string `json:"tcpport"`
	TLSPort          string `json:"tlsport,omitempty,omitzero"`
}

type tcpTLS struct {
	Version            string `json:"version"`
	ServerName         string `json:"serverName"`
	NegotiatedProtocol string `json:"negotiatedProtocol,omitempty,omitzero"`
	Curves             string `json:"curves,omitempty,omitzero"`
	CipherSuite        string `json:"cipherSuite"`
}

type tcpAnswer struct {
	tcpContext `json:",inline"`
	IsTLS      bool    `json:"isTLS"`
	TLS        *tcpTLS `json:"tls,omitempty,omitzero"`
}

// tcpWelcome is the TCP echo server's first line.
const tcpWelcome = "Gateway API Test TCP Server\n"

func serveTCPEcho(conn net.Conn, info tcpContext) {
	answer := tcpAnswer{tcpContext: info}
	if tc, ok := conn.(*tls.Conn); ok {
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		conn.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		answer.IsTLS = true
		answer.TLS = &tcpTLS{
			Version:            tls.VersionName(st.Version),
			ServerName:         st.ServerName,
			NegotiatedProtocol: st.NegotiatedProtocol,
			Curves:             st.CurveID.String(),
			CipherSuite:        tls.CipherSuiteName(st.CipherSuite),
		}
	}
	io.WriteString(conn, tcpWelcome)
	payload, err := json.Marshal(answer)
	if err != nil {
		return
	}
	lines := bufio.NewScanner(conn)
	for lines.Scan() {
		switch lines.Text() {
		case "TEST":
			fmt.Fprintf(conn, "%s\n", payload)
		case "IS_TLS":
			fmt.Fprintf(conn, "%t\n", answer.IsTLS)
		case "PING":
			io.WriteString(conn, "PONG\n")
		}
	}
}

// echoBasicUDP answers each datagram (up to 1024 bytes, as the image
// reads) with {"request": ..., pod context}.
func echoBasicUDP(c container, ctx echoBasicContext) ([]endpoint, error) {
	port, err := envPort(c.Env, "UDP_PORT", 8080)
	if err != nil {
		return nil, err
	}
	return []endpoint{{Port: port, Protocol: corev1.ProtocolUDP, Datagram: func(p []byte) []byte {
		if len(p) > 1024 {
			p = p[:1024]
		}
		b, _ := json.Marshal(struct {
			Request string `json:"request"`
			echoBasicContext
		}{string(p), ctx})
		return b
	}}}, nil
}
