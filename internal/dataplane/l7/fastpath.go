package l7

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelb-io/kelb/internal/albauth"
	"github.com/kelb-io/kelb/internal/connlimit"
)

// The fast path serves HTTP/1.1 on HTTP and HTTPS listeners without
// net/http:
// one goroutine per client connection reads a request head into the
// connection's buffer, parses it with one allocation (the head as a
// string, which the reused http.Request's fields point into), routes it
// with the listener's rules, and writes the head as the target gets it
// (the client's lines minus hop-by-hop and X-Forwarded-* ones, plus kelb's
// X-Forwarded-*) to a pooled keep-alive connection to the target in one
// write. The response head is parsed in place, the client's head built
// from it (hop-by-hop headers removed, stickiness cookies added) and sent
// with as much of the body as is buffered in one write; the rest of the
// body streams through the connection buffers, framed as the target framed
// it (Content-Length or chunked passed through; a body delimited by the
// end of the connection closes the client's connection too).
//
// Whatever it does not handle it hands to net/http at a request boundary,
// with the bytes it has read: a head it cannot parse or that is too large
// (net/http answers 400 or 431), HTTP/1.0, h2c prior knowledge, upgrades,
// Expect, chunked request bodies, and requests routed to HTTP2 or GRPC
// target groups; on HTTPS listeners, clients that chose h2 in ALPN, right
// after the handshake. From then on net/http serves that connection (a TLS
// one handed over after a request has no *tls.Conn for net/http, which
// kelb's handler does not need: the listener's table knows its protocol).

// clientBufferSize is a client connection's read buffer: the largest
// request head the fast path takes.
const clientBufferSize = 8 << 10

// maxFastHeaders is the most header lines a request on the fast path has.
const maxFastHeaders = 64

// inlineBodyMax is the largest request body sent to the target in the same
// write as the head (and sent again on a new connection when a reused one
// turns out closed).
const inlineBodyMax = 16 << 10

// localBodyDiscardMax is the largest request body read and dropped after a
// response kelb makes itself; larger ones close the connection.
const localBodyDiscardMax = 256 << 10

// clientConn is one client connection on the fast path, with the reused
// state of its requests.
type clientConn struct {
	s      *server
	conn   net.Conn
	slot   *connlimit.Conn // the connection's place under the listener's cap
	in     connReader
	out    bufWriter // to the client
	client string    // the client's IP, for X-Forwarded-For
	src    netip.Addr

	req    http.Request
	url    url.URL
	header http.Header
	vals   [maxFastHeaders]string
	fwd    []byte // the request head as the target gets it, without X-Forwarded-* and the final CRLF
	send   []byte // what the target gets in the first write
	upBuf  []byte // request body streaming to the target
	// mtls are the mutual TLS header lines of the connection's client
	// certificate, sent with every request.
	mtls []byte
	clen int64 // request body length
	// closeAfter: the connection closes after this response.
	closeAfter bool
	// headers are the response header settings of the table serving the
	// current request.
	headers *respHeaders
	// tlsState is the connection's TLS state (HTTPS), read once after the
	// handshake; tlsLines are its TLS request header lines under the
	// names tlsFor names, built on first use.
	tlsState *tls.ConnectionState
	tlsLines []byte
	tlsFor   *table

	upstream atomic.Pointer[upstreamConn] // in use; closed by abort
}

var clientConnPool = sync.Pool{New: func() any {
	return &clientConn{
		in:     connReader{buf: make([]byte, clientBufferSize)},
		out:    bufWriter{b: make([]byte, 0, 8<<10), failure: errClientGone},
		header: make(http.Header, 16),
		fwd:    make([]byte, 0, 1<<10),
		send:   make([]byte, 0, 2<<10),
	}
}}

func newClientConn(s *server, c net.Conn) *clientConn {
	cc := clientConnPool.Get().(*clientConn)
	cc.s, cc.conn = s, c
	cc.in.reset(c, s.idleTimeout)
	cc.in.wholeHead = true
	cc.out.conn, cc.out.b, cc.out.err = c, cc.out.b[:0], nil
	cc.out.timeout, cc.out.deadline = s.idleTimeout, time.Time{}
	cc.slot = connlimit.Unwrap(c)
	cc.slot.SetIdle(true)
	cc.src, cc.client = netip.Addr{}, ""
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok { // also through TLS
		cc.src = ta.AddrPort().Addr().Unmap()
		cc.client = cc.src.String()
	}
	cc.req = http.Request{Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: cc.header, RemoteAddr: c.RemoteAddr().String()}
	return cc
}

// abort closes the connection and the target connection of its request in
// flight, so that its goroutine ends.
func (cc *clientConn) abort() {
	cc.conn.Close()
	if u := cc.upstream.Load(); u != nil {
		u.close()
	}
}

// outcome of one request on the fast path.
type outcome int

const (
	keepConn outcome = iota
	closeConn
	handOff
)

// serveConn serves cc's requests until the client or kelb closes the
// connection, or hands it to net/http.
func (s *server) serveConn(cc *clientConn) {
	handed := false
	defer func() {
		s.untrack(cc)
		if !handed {
			cc.conn.Close()
			s.active.Dec()
		}
		cc.s, cc.conn, cc.out.conn, cc.in.conn, cc.slot, cc.mtls = nil, nil, nil, nil, nil, nil
		cc.headers, cc.tlsState, cc.tlsLines, cc.tlsFor = nil, nil, cc.tlsLines[:0], nil
		clear(cc.vals[:])
		clear(cc.header)
		cc.req = http.Request{}
		clientConnPool.Put(cc)
	}()
	if tc, ok := cc.conn.(*tls.Conn); ok {
		// HTTPS: the handshake, bounded by the idle timeout; h2 clients
		// go to net/http as they are.
		if s.idleTimeout > 0 {
			tc.SetDeadline(time.Now().Add(s.idleTimeout))
		}
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return
		}
		tc.SetWriteDeadline(time.Time{})
		st := tc.ConnectionState()
		cc.tlsState = &st
		cc.mtls = mtlsHeaders(&st, s.table.Load())
		if st.NegotiatedProtocol == "h2" {
			tc.SetReadDeadline(time.Time{})
			s.untrack(cc)
			handed = s.handoff.handoff(tc)
			return
		}
	}
	for {
		// Waiting for a request, the connection may make room for a new
		// one at the listener's connection cap.
		idle := cc.in.buffered() == 0
		if idle {
			cc.slot.SetIdle(true)
		}
		n, err := cc.in.readHead()
		if idle {
			cc.slot.SetIdle(false)
		}
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				handed = s.handoffConn(cc)
			}
			return
		}
		t := s.table.Load()
		if t == nil || !cc.parse(string(cc.in.buf[cc.in.r:cc.in.r+n]), t) {
			handed = s.handoffConn(cc)
			return
		}
		switch cc.serve(t, n) {
		case handOff:
			handed = s.handoffConn(cc)
			return
		case closeConn:
			cc.out.flush()
			return
		}
		if cc.out.flush() != nil {
			return
		}
	}
}

// handoffConn gives the connection, with its unconsumed bytes, to the
// listener's net/http server.
func (s *server) handoffConn(cc *clientConn) bool {
	cc.conn.SetDeadline(time.Time{})
	hc := &handoffConn{Conn: cc.conn, prefix: bytes.Clone(cc.in.buf[cc.in.r:cc.in.w]), s: s}
	s.untrack(cc)
	if !s.handoff.handoff(hc) {
		return false
	}
	return true
}

// serve answers one parsed request whose head is the next n bytes.
func (cc *clientConn) serve(t *table, n int) outcome {
	cc.headers = &t.headers
	if t.flows != nil && cc.req.URL.Path == albauth.CallbackPath {
		return handOff
	}
	a := t.def
	if i := t.router.Match(&cc.req, cc.src); i >= 0 {
		a = t.actions[i]
		if a.auth != nil {
			// Authenticate actions run on the net/http path.
			return handOff
		}
		if tr := t.transforms[i]; tr != nil && tr.headers != nil {
			// Request header transforms run on the net/http path.
			return handOff
		}
		if tr := t.transforms[i]; tr != nil {
			host, url, err := tr.apply(&cc.req)
			if err != nil {
				cc.in.r += n
				cc.local(http.StatusInternalServerError, "text/html", elbErrorBodies[http.StatusInternalServerError], "", "")
				t.metrics.count(http.StatusInternalServerError, false)
				return cc.outcome()
			}
			if host || url {
				cc.rewriteHead(host, url)
			}
		}
	}
	if t.tlsVersionHeader != "" && (cc.header[t.tlsHeaderKeys[0]] != nil || cc.header[t.tlsHeaderKeys[1]] != nil) {
		// The client's own TLS headers never reach the target.
		cc.fwd = rebuildHead(nil, cc.fwd, "", "", t.tlsVersionHeader, t.tlsCipherHeader)
	}
	if a.auth != nil {
		return handOff
	}
	switch a.kind {
	case actionForward:
		wg, newCookie := a.pickGroup(&cc.req)
		if wg == nil {
			cc.in.r += n
			cc.local(http.StatusServiceUnavailable, "text/html", elbErrorBodies[http.StatusServiceUnavailable], "", "")
			t.metrics.count(http.StatusServiceUnavailable, false)
			return cc.outcome()
		}
		if !wg.group.fast {
			return handOff
		}
		cc.in.r += n
		cookie := ""
		if newCookie {
			cookie = a.groupCookie(wg).String()
		}
		return cc.forward(t, wg, cookie)
	case actionRedirect:
		cc.in.r += n
		cc.local(a.status, "", nil, redirectURL(a.redirect, &cc.req, t.protocol, t.port), "")
		t.metrics.count(a.status, false)
	case actionFixed:
		cc.in.r += n
		cc.local(a.status, a.contentType, a.body, "", "")
		t.metrics.count(a.status, false)
	default:
		cc.in.r += n
		cc.local(http.StatusServiceUnavailable, "text/html", elbErrorBodies[http.StatusServiceUnavailable], "", "")
		t.metrics.count(http.StatusServiceUnavailable, false)
	}
	return cc.outcome()
}

func (cc *clientConn) outcome() outcome {
	if cc.closeAfter || cc.out.err != nil {
		return closeConn
	}
	return keepConn
}

// discardBody drops the request body after a response kelb makes itself,
// or marks the connection to close when the body is large.
func (cc *clientConn) discardBody() {
	if cc.clen == 0 {
		return
	}
	if cc.clen > localBodyDiscardMax {
		cc.closeAfter = true
		return
	}
	for n := cc.clen; n > 0; {
		if cc.in.r == cc.in.w {
			if err := cc.in.fill(); err != nil {
				cc.closeAfter = true
				return
			}
		}
		k := min(int64(cc.in.buffered()), n)
		cc.in.r += int(k)
		n -= k
	}
	cc.clen = 0
}

// local writes a response kelb makes itself: a fixed response, a redirect
// (location) or one of ALB's error pages.
func (cc *clientConn) local(status int, contentType string, body []byte, location, cookie string) {
	cc.discardBody()
	w := &cc.out
	var num [20]byte
	w.writeString("HTTP/1.1 ")
	w.write(strconv.AppendInt(num[:0], int64(status), 10))
	w.writeString(" ")
	w.writeString(http.StatusText(status))
	w.writeString("\r\n")
	if h := cc.headers; h != nil {
		w.writeString(h.serverLine())
		w.write(h.lines)
	} else {
		w.writeString("Server: awselb/2.0\r\n")
	}
	w.write(dateLine(time.Now()))
	if location != "" {
		w.writeString("Location: ")
		w.writeString(location)
		w.writeString("\r\n")
	}
	if cookie != "" {
		w.writeString("Set-Cookie: ")
		w.writeString(cookie)
		w.writeString("\r\n")
	}
	if contentType != "" {
		w.writeString("Content-Type: ")
		w.writeString(contentType)
		w.writeString("\r\n")
	}
	w.writeString("Content-Length: ")
	w.write(strconv.AppendInt(num[:0], int64(len(body)), 10))
	if cc.closeAfter {
		w.writeString("\r\nConnection: close")
	}
	w.writeString("\r\n\r\n")
	if cc.req.Method != http.MethodHead {
		w.write(body)
	}
}

// forward sends the request to a target of wg's group and relays the
// response; cookie is a group stickiness cookie to set.
func (cc *clientConn) forward(t *table, wg *weightedGroup, cookie string) outcome {
	m := wg.metrics
	st := wg.group.state.Load()
	var tg *target
	if st != nil {
		tg = st.pick(&cc.req)
	}
	if tg == nil {
		cc.local(http.StatusServiceUnavailable, "text/html", elbErrorBodies[http.StatusServiceUnavailable], "", "")
		m.count(http.StatusServiceUnavailable, false)
		return cc.outcome()
	}
	send := append(cc.send[:0], cc.fwd...)
	send = cc.appendForwarded(send, t)
	inline := cc.clen == 0
	if cc.clen > 0 && int64(cc.in.buffered()) >= cc.clen && cc.clen <= inlineBodyMax {
		send = append(send, cc.in.buf[cc.in.r:cc.in.r+int(cc.clen)]...)
		cc.in.r += int(cc.clen)
		cc.clen = 0
		inline = true
	}
	cc.send = send

	// A target that refuses the connection (it is shutting down and its
	// deregistration has not reached kelb yet) has seen nothing of the
	// request: the request moves to another target of the group.
	var tried [maxTargetAttempts]*target
	sent := time.Now()
	var (
		u   *upstreamConn
		hn  int
		err error
	)
	for attempt := 0; ; attempt++ {
		tried[attempt] = tg
		tg.inflight.Add(1)
		u, hn, err = cc.sendTo(tg, inline, st.cfg.ResponseTimeout)
		if err == nil || attempt+1 == maxTargetAttempts || !tryAnotherTarget(err) || cc.s.ctx.Err() != nil {
			break
		}
		next := wg.group.state.Load()
		other := next.pickOther(tried[:attempt+1])
		if other == nil {
			break
		}
		tg.inflight.Add(-1)
		st, tg = next, other
		m.retries.Inc()
	}
	defer tg.inflight.Add(-1)
	defer cc.upstream.Store(nil)
	if err != nil {
		if u != nil {
			u.close()
		}
		if errors.Is(err, errClientGone) {
			m.count(statusClientClosed, false)
			return closeConn
		}
		if !inline {
			cc.closeAfter = true
		}
		return cc.targetFailed(err, m)
	}
	ttfb := time.Since(sent)

	resp, ok := cc.respond(u, hn, &st.cfg, tg, cookie)
	if !ok {
		u.close()
		return cc.targetFailed(errors.New("malformed response head"), m)
	}
	m.count(resp.status, true)
	m.responseTime.Observe(ttfb.Seconds())
	u.in.flush = &cc.out
	switch {
	case resp.chunked:
		err = relayChunked(&u.in, &cc.out)
	case resp.length >= 0:
		err = u.in.copyN(&cc.out, resp.length)
	default:
		err = u.in.copyToEOF(&cc.out)
	}
	u.in.flush = nil
	if err != nil || !resp.keepAlive || cc.out.err != nil || u.in.buffered() > 0 {
		u.close()
		if err != nil {
			return closeConn
		}
	} else {
		tg.pool.put(u, time.Now())
	}
	return cc.outcome()
}

// sendTo sends the request to tg and reads the response head, on a pooled
// connection or a new one. A pooled connection that turns out closed
// before any byte of the response, when the request went whole in one
// write, is replaced by a new one and the request sent again. An error
// that tryAnotherTarget accepts means tg saw nothing of the request.
func (cc *clientConn) sendTo(tg *target, inline bool, timeout time.Duration) (*upstreamConn, int, error) {
	u, err := tg.pool.get(cc.s.ctx, time.Now())
	if err != nil {
		return nil, 0, err
	}
	cc.upstream.Store(u)
	hn, err := cc.exchange(u, inline, timeout)
	if err != nil && u.reused && inline && retryable(err) {
		// The target closed the idle connection: once more on a new one.
		u.close()
		if u, err = tg.pool.dial(cc.s.ctx); err != nil {
			return nil, 0, err
		}
		cc.upstream.Store(u)
		hn, err = cc.exchange(u, inline, timeout)
	}
	return u, hn, err
}

// exchange sends the request on u and reads the response head, skipping
// (and relaying) informational responses. It returns the head's length.
func (cc *clientConn) exchange(u *upstreamConn, inline bool, timeout time.Duration) (int, error) {
	if _, err := u.in.conn.Write(cc.send); err != nil {
		return 0, errors.Join(errTargetGone, err)
	}
	if !inline {
		up := bufWriter{conn: u.in.conn, b: cc.upBuf[:0], failure: errTargetGone}
		if cap(up.b) == 0 {
			up.b = make([]byte, 0, 16<<10)
		}
		cc.in.flush = &up
		err := cc.in.copyN(&up, cc.clen)
		if err == nil {
			err = up.flush()
		}
		cc.in.flush = nil
		cc.upBuf = up.b
		cc.clen = 0
		switch {
		case errors.Is(err, errTargetGone) || up.err != nil:
			return 0, errors.Join(errTargetGone, err)
		case err != nil:
			return 0, errors.Join(errClientGone, err)
		}
	}
	u.in.setTimeout(timeout)
	for {
		n, err := u.in.readHead()
		if err != nil {
			if err == io.EOF {
				err = errEOFBeforeResponse
			}
			return 0, err
		}
		head := u.in.buf[u.in.r : u.in.r+n]
		// 1xx other than 101: relay it and wait for the final response.
		if len(head) > 12 && bytes.HasPrefix(head, []byte("HTTP/1.")) && head[9] == '1' && !bytes.HasPrefix(head[9:], []byte("101")) {
			cc.out.write(head)
			u.in.r += n
			if cc.out.flush() != nil {
				return 0, errClientGone
			}
			continue
		}
		return n, nil
	}
}

// targetFailed answers a request the target failed: 504 when it timed
// out, else 502.
func (cc *clientConn) targetFailed(err error, m *routeMetrics) outcome {
	code := http.StatusBadGateway
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		code = http.StatusGatewayTimeout
	}
	cc.local(code, "text/html", elbErrorBodies[code], "", "")
	m.count(code, false)
	return cc.outcome()
}

// appendForwarded appends X-Forwarded-For per the load balancer's mode,
// X-Forwarded-Proto and X-Forwarded-Port, and the head's final CRLF.
func (cc *clientConn) appendForwarded(b []byte, t *table) []byte {
	prior := cc.header["X-Forwarded-For"]
	switch t.xffMode {
	case "preserve":
		for _, v := range prior {
			b = append(b, "X-Forwarded-For: "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	case "remove":
	default:
		b = append(b, "X-Forwarded-For: "...)
		for _, v := range prior {
			b = append(b, v...)
			b = append(b, ", "...)
		}
		b = append(b, cc.client...)
		b = append(b, "\r\n"...)
	}
	b = append(b, t.forwardedHeaders...)
	if t.tlsVersionHeader != "" && cc.tlsState != nil {
		if cc.tlsFor != t {
			version, cipher := tlsHeaderValues(cc.tlsState)
			cc.tlsLines = append(cc.tlsLines[:0], t.tlsVersionHeader+": "+version+"\r\n"+t.tlsCipherHeader+": "+cipher+"\r\n"...)
			cc.tlsFor = t
		}
		b = append(b, cc.tlsLines...)
	}
	b = append(b, cc.mtls...)
	return append(b, "\r\n"...)
}

// rewriteHead makes cc.fwd carry the request target and Host header a
// transform left in cc.req.
func (cc *clientConn) rewriteHead(host, url bool) {
	line, h := "", ""
	if url {
		line = cc.req.Method + " " + cc.req.RequestURI + " HTTP/1.1"
	}
	if host {
		h = cc.req.Host
	}
	cc.fwd = rebuildHead(nil, cc.fwd, line, h)
}

// rebuildHead appends to dst the request head fwd (request line and
// header lines, CRLF-terminated) with its request line replaced by line
// and its Host header's value by host, when not empty, and without the
// header lines named in drop.
func rebuildHead(dst, fwd []byte, line, host string, drop ...string) []byte {
	first := bytes.IndexByte(fwd, '\n') + 1
	if line != "" {
		dst = append(dst, line...)
		dst = append(dst, "\r\n"...)
	} else {
		dst = append(dst, fwd[:first]...)
	}
	rest := fwd[first:]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		ln := rest[:i+1]
		rest = rest[i+1:]
		name, _, _ := bytes.Cut(ln, []byte(":"))
		switch {
		case host != "" && asciiEqualFold(name, "Host"):
			dst = append(dst, "Host: "+host+"\r\n"...)
			continue
		case dropped(name, drop):
			continue
		}
		dst = append(dst, ln...)
	}
	return dst
}

func dropped(name []byte, drop []string) bool {
	for _, d := range drop {
		if asciiEqualFold(name, d) {
			return true
		}
	}
	return false
}

// relayChunked copies a chunked body, framing and trailers included, as
// it comes.
func relayChunked(in *connReader, w *bufWriter) error {
	for {
		line, err := in.readLine()
		if err != nil {
			return err
		}
		size, ok := chunkSize(line)
		w.write(line)
		if !ok {
			return errors.New("malformed chunk size")
		}
		if size == 0 {
			for {
				line, err := in.readLine()
				if err != nil {
					return err
				}
				w.write(line)
				if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
					return w.err
				}
			}
		}
		if err := in.copyN(w, size); err != nil {
			return err
		}
		line, err = in.readLine()
		if err != nil {
			return err
		}
		if len(line) > 2 || (len(line) == 2 && line[0] != '\r') {
			return errors.New("malformed chunk end")
		}
		w.write(line)
		if w.err != nil {
			return w.failure
		}
	}
}

// chunkSize parses the hexadecimal size at the start of a chunk line.
func chunkSize(line []byte) (int64, bool) {
	var n int64
	digits := 0
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return n, digits > 0 && (c == ';' || c == '\r' || c == '\n' || c == ' ' || c == '\t')
		}
		if digits == 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
		digits++
	}
	return n, false
}

// response is what the fast path needs of a target's response head.
type response struct {
	status    int
	length    int64 // body length; -1: until the target closes
	chunked   bool
	keepAlive bool // the target keeps the connection open
}

// respond parses the response head of n bytes on u and writes the
// client's head to cc.out: the status line as HTTP/1.1, the target's
// headers less hop-by-hop ones, the stickiness cookies, and Connection:
// close when the client's connection ends after it.
func (cc *clientConn) respond(u *upstreamConn, n int, cfg *TargetGroup, tg *target, groupCookie string) (response, bool) {
	head := u.in.buf[u.in.r : u.in.r+n]
	u.in.r += n
	nl := bytes.IndexByte(head, '\n')
	status := trimCR(head[:nl])
	rest := head[nl+1:]
	if len(status) < 12 || !bytes.HasPrefix(status, []byte("HTTP/1.")) || status[8] != ' ' ||
		(len(status) > 12 && status[12] != ' ') {
		return response{}, false
	}
	code := 0
	for _, c := range status[9:12] {
		if c < '0' || c > '9' {
			return response{}, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 {
		return response{}, false
	}
	resp := response{status: code, length: -1, keepAlive: status[7] == '1'}
	http10 := status[7] == '0'

	// First pass: framing and connection management.
	setsApp := false
	for line := range headLines(rest) {
		name, value, ok := splitHeader(line)
		if !ok {
			return response{}, false
		}
		switch {
		case asciiEqualFold(name, "Connection"):
			for tok := range strings.SplitSeq(string(value), ",") {
				switch strings.ToLower(strings.TrimSpace(tok)) {
				case "close":
					resp.keepAlive = false
				case "keep-alive":
					if http10 {
						resp.keepAlive = true
					}
				}
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			v := value
			if i := bytes.LastIndexByte(v, ','); i >= 0 {
				v = bytes.TrimSpace(v[i+1:])
			}
			resp.chunked = asciiEqualFold(v, "chunked")
			if !resp.chunked {
				resp.length = -1
			}
		case asciiEqualFold(name, "Content-Length"):
			l, ok := parseLength(value)
			if !ok || (resp.length >= 0 && resp.length != l) {
				return response{}, false
			}
			resp.length = l
		case cfg.Stickiness == stickinessAppCookie && asciiEqualFold(name, "Set-Cookie"):
			if cn, _, ok := bytes.Cut(value, []byte("=")); ok && string(bytes.TrimSpace(cn)) == cfg.AppCookieName {
				setsApp = true
			}
		}
	}
	if resp.chunked {
		resp.length = -1
	}
	noBody := cc.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if noBody {
		resp.chunked, resp.length = false, 0
	} else if !resp.chunked && resp.length < 0 {
		resp.keepAlive = false
		cc.closeAfter = true
	}

	w := &cc.out
	w.writeString("HTTP/1.1")
	w.write(status[8:])
	w.writeString("\r\n")
	for line := range headLines(rest) {
		name, _, _ := splitHeader(line)
		switch {
		case asciiEqualFold(name, "Connection"), asciiEqualFold(name, "Keep-Alive"), asciiEqualFold(name, "Proxy-Connection"),
			asciiEqualFold(name, "Upgrade"), asciiEqualFold(name, "Te"), asciiEqualFold(name, "Proxy-Authenticate"):
			continue
		case resp.chunked && asciiEqualFold(name, "Content-Length"):
			continue
		case len(cc.headers.set) > 0 && cc.headers.overrides(name):
			continue
		}
		w.write(line)
		w.writeString("\r\n")
	}
	w.write(cc.headers.lines)
	switch cfg.Stickiness {
	case stickinessLBCookie:
		exp := time.Now().Add(cfg.StickinessDuration).UTC().Format(http.TimeFormat)
		w.writeString("Set-Cookie: " + cookieLB + "=" + tg.cookie + "; Expires=" + exp + "; Path=/\r\n")
		w.writeString("Set-Cookie: " + cookieLBCORS + "=" + tg.cookie + "; Expires=" + exp + "; Path=/; SameSite=None; Secure\r\n")
	case stickinessAppCookie:
		if setsApp {
			exp := time.Now().Add(cfg.StickinessDuration).UTC().Format(http.TimeFormat)
			w.writeString("Set-Cookie: " + cookieApp + "=" + tg.cookie + "; Expires=" + exp + "; Path=/\r\n")
		}
	}
	if groupCookie != "" {
		w.writeString("Set-Cookie: " + groupCookie + "\r\n")
	}
	if cc.closeAfter {
		w.writeString("Connection: close\r\n")
	}
	w.writeString("\r\n")
	return resp, true
}

// headLines yields the header lines of a head after its first line,
// without line endings, up to the empty line.
func headLines(b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				return
			}
			line := trimCR(b[:i])
			b = b[i+1:]
			if len(line) == 0 || !yield(line) {
				return
			}
		}
	}
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

// splitHeader splits "Name: value" and trims the value.
func splitHeader(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 || line[i-1] == ' ' || line[i-1] == '\t' || line[0] == ' ' || line[0] == '\t' {
		return nil, nil, false
	}
	return line[:i], bytes.TrimSpace(line[i+1:]), true
}

func asciiEqualFold[T string | []byte](a T, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lowerIf(a[i], true) != lowerIf(b[i], true) {
			return false
		}
	}
	return true
}

func parseLength[T string | []byte](v T) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parse reads the request head into cc.req and builds cc.fwd. It reports
// false for anything the fast path leaves to net/http.
func (cc *clientConn) parse(head string, t *table) bool {
	cc.clen, cc.closeAfter = 0, false
	clear(cc.header)
	nl := strings.IndexByte(head, '\n')
	if nl < 1 || head[nl-1] != '\r' {
		return false
	}
	line := head[:nl-1]
	sp1 := strings.IndexByte(line, ' ')
	sp2 := strings.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 || line[sp2+1:] != "HTTP/1.1" {
		return false
	}
	method, target := line[:sp1], line[sp1+1:sp2]
	if !validToken(method) || !validTarget(target) {
		return false
	}
	r := &cc.req
	r.Method, r.RequestURI, r.Host = method, target, ""
	if strings.IndexByte(target, '%') >= 0 {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return false
		}
		r.URL = u
	} else {
		path, query, _ := strings.Cut(target, "?")
		cc.url = url.URL{Path: path, RawQuery: query}
		r.URL = &cc.url
	}
	fwd := append(cc.fwd[:0], line...)
	fwd = append(fwd, "\r\n"...)

	rest := head[nl+1:]
	nv := 0
	hasHost, hasLength := false, false
	for {
		nl = strings.IndexByte(rest, '\n')
		if nl < 0 || (nl > 0 && rest[nl-1] != '\r') || nl == 0 {
			return false
		}
		line, rest = rest[:nl-1], rest[nl+1:]
		if line == "" {
			break
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !validToken(line[:colon]) {
			return false
		}
		value := strings.Trim(line[colon+1:], " \t")
		if !validValue(value) {
			return false
		}
		key := canonicalKey(line[:colon])
		keep := !t.stripsHeader(key)
		switch key {
		case "Host":
			if hasHost || !validHost(value) {
				return false
			}
			hasHost, r.Host = true, value
		case "Content-Length":
			n, ok := parseLength(value)
			if hasLength || !ok {
				return false
			}
			hasLength, cc.clen = true, n
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer", "Http2-Settings":
			return false
		case "Connection":
			for tok := range strings.SplitSeq(value, ",") {
				tok = strings.Trim(tok, " \t")
				switch {
				case asciiEqualFold(tok, "close"):
					cc.closeAfter = true
				case asciiEqualFold(tok, "keep-alive"), tok == "":
				default:
					return false
				}
			}
			keep = false
		case "Keep-Alive", "Proxy-Connection", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Host", "Forwarded":
			keep = false
		}
		if nv == len(cc.vals) {
			return false
		}
		cc.vals[nv] = value
		if prev, ok := cc.header[key]; ok {
			cc.header[key] = append(prev, value)
		} else {
			cc.header[key] = cc.vals[nv : nv+1 : nv+1]
		}
		nv++
		if keep {
			fwd = append(fwd, line...)
			fwd = append(fwd, "\r\n"...)
		}
	}
	cc.fwd = fwd
	return hasHost
}

// canonicalKey returns the canonical form of a valid header name, without
// allocating when it is canonical already or a common header.
func canonicalKey(name string) string {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return textproto.CanonicalMIMEHeaderKey(name)
		}
		upper = c == '-'
	}
	return name
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validTarget accepts the origin-form request targets that need no
// checks beyond their bytes.
func validTarget(s string) bool {
	if s == "" || s[0] != '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0) {
			return false
		}
	}
	return true
}

// dateLine returns the Date header line for now, formatted once a second.
func dateLine(now time.Time) []byte {
	sec := now.Unix()
	if d := cachedDate.Load(); d != nil && d.sec == sec {
		return d.line
	}
	d := &dateValue{sec: sec, line: []byte("Date: " + now.UTC().Format(http.TimeFormat) + "\r\n")}
	cachedDate.Store(d)
	return d.line
}

type dateValue struct {
	sec  int64
	line []byte
}

var cachedDate atomic.Pointer[dateValue]
