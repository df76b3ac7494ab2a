package l7

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// ALB's limits on a request head (its HTTP headers quotas, which cannot be
// raised): 16 KiB for the request line, 16 KiB for one header line, 64 KiB
// for the whole head. A request over them is answered 400 with ALB's
// error page, as ALB answers it, and goes to no target. The fast path
// hands every head over its 8 KiB buffer to net/http, so the limits are
// enforced once, on the net/http path: net/http reads at most
// maxHeadBytes of a head (its own 431 is answered as ALB's 400 by
// handoffConn), and headTooLarge checks the lines of what it read.
const (
	maxRequestLine = 16 << 10
	maxHeaderLine  = 16 << 10
	maxHeadBytes   = 64 << 10
	// netHTTPHeadSlack is what net/http reads beyond MaxHeaderBytes.
	netHTTPHeadSlack = 4096
)

// headTooLarge reports whether r's request line or one of its header
// lines is over ALB's limit.
func headTooLarge(r *http.Request) bool {
	if len(r.Method)+1+len(r.RequestURI)+1+len(r.Proto) > maxRequestLine || len("Host: ")+len(r.Host) > maxHeaderLine {
		return true
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if len(k)+2+len(v) > maxHeaderLine {
				return true
			}
		}
	}
	return false
}

// netHTTPErrorHeaders follow the status line of the answers net/http
// writes itself to a request it cannot read. A response relayed from a
// target never has them in this order: net/http writes a handler's
// headers sorted, and with a Date.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// netHTTPError recognises in p an answer net/http wrote itself to a
// request it could not read, and returns the status ALB answers instead:
// 400 for a head too large (net/http's 431) and for any code ALB has no
// page for.
func netHTTPError(p []byte) (int, bool) {
	const prefix = "HTTP/1.1 "
	if len(p) < len(prefix)+3 || len(p) > 1024 || !bytes.HasPrefix(p, []byte(prefix)) || (p[9] != '4' && p[9] != '5') {
		return 0, false
	}
	eol := bytes.IndexByte(p, '\r')
	if eol < 0 || !bytes.HasPrefix(p[eol:], []byte(netHTTPErrorHeaders)) {
		return 0, false
	}
	code, err := strconv.Atoi(string(p[9:12]))
	if err != nil {
		return 0, false
	}
	if _, ok := elbErrorBodies[code]; !ok || code == http.StatusRequestHeaderFieldsTooLarge {
		code = http.StatusBadRequest
	}
	return code, true
}

// elbErrorResponse is ALB's answer with one of its error pages, closing
// the connection.
func elbErrorResponse(code int, now time.Time, h *respHeaders) []byte {
	body := elbErrorBodies[code]
	b := make([]byte, 0, 256+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\n"...)
	if h != nil {
		b = append(b, h.serverLine()...)
		b = append(b, h.lines...)
	} else {
		b = append(b, "Server: awselb/2.0\r\n"...)
	}
	b = append(b, dateLine(now)...)
	b = append(b, "Content-Type: text/html\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nConnection: close\r\n\r\n"...)
	return append(b, body...)
}

// idleDeadlines applies the listener's idle timeout to a request on the
// net/http path as the fast path does: each read of the body and each
// write of the answer must make progress within it, which the next one
// pushes forward. The read deadline is lifted at the end of the body, so
// that a long answer is not cut by it.
func idleDeadlines(w http.ResponseWriter, r *http.Request, timeout time.Duration) (http.ResponseWriter, *http.Request) {
	if timeout <= 0 {
		return w, r
	}
	rc := http.NewResponseController(w)
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		r.Body = &idleBody{ReadCloser: r.Body, rc: rc, timeout: timeout}
	}
	return &idleWriter{ResponseWriter: w, rc: rc, timeout: timeout}, r
}

// extendDeadline moves *at timeout ahead when less than 15/16 of it is
// left, as connReader does.
func extendDeadline(at *time.Time, timeout time.Duration, set func(time.Time) error) {
	now := time.Now()
	if at.Sub(now) >= timeout-timeout/16 {
		return
	}
	*at = now.Add(timeout)
	_ = set(*at) // not supported: the server's own timeouts apply
}

type idleBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	timeout  time.Duration
	deadline time.Time
	done     bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	extendDeadline(&b.deadline, b.timeout, b.rc.SetReadDeadline)
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

type idleWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	deadline time.Time
}

func (w *idleWriter) Write(p []byte) (int, error) {
	extendDeadline(&w.deadline, w.timeout, w.rc.SetWriteDeadline)
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (flushes, deadlines) reach the
// server's ResponseWriter.
func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes the connection over for an upgrade (WebSocket), which keeps
// the idle timeout: see idleConn.
func (w *idleWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := w.rc.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return newIdleConn(c, w.timeout), brw, nil
}

// idleConn is an upgraded client connection under the load balancer's
// idle timeout, as on ALB: it is closed once no byte has moved in either
// direction for the timeout. The proxy reads the client's bytes from it
// and writes the target's to it, so it sees both directions: a read that
// times out goes on while a write was recent, and fails otherwise, which
// ends the proxying and closes both connections. Each write must also make
// progress within the timeout.
type idleConn struct {
	net.Conn
	timeout time.Duration
	last    atomic.Int64 // Unix nanoseconds of the last byte moved
	wdl     time.Time    // write deadline, extended lazily
}

func newIdleConn(c net.Conn, timeout time.Duration) *idleConn {
	ic := &idleConn{Conn: c, timeout: timeout}
	now := time.Now()
	ic.last.Store(now.UnixNano())
	_ = c.SetReadDeadline(now.Add(timeout))
	return ic
}

func (c *idleConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if n > 0 {
			c.last.Store(time.Now().UnixNano())
		}
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		until := time.Unix(0, c.last.Load()).Add(c.timeout)
		if !time.Now().Before(until) {
			return 0, err
		}
		if err := c.Conn.SetReadDeadline(until); err != nil {
			return 0, err
		}
	}
}

func (c *idleConn) Write(p []byte) (int, error) {
	extendDeadline(&c.wdl, c.timeout, c.Conn.SetWriteDeadline)
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// CloseWrite passes a target's half-close on to the client.
func (c *idleConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
