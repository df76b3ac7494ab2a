package l7

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// upstreamIdleTimeout closes keep-alive connections to a target that have
// been idle this long, as http.Transport's IdleConnTimeout did.
const upstreamIdleTimeout = 90 * time.Second

// upstreamBufferSize is the read buffer of a target connection: the
// largest response head kelb forwards on the fast path.
const upstreamBufferSize = 16 << 10

// upstreamConn is one HTTP/1.1 connection to a target.
type upstreamConn struct {
	in     connReader
	idleAt time.Time
	reused bool
}

func (u *upstreamConn) close() { u.in.conn.Close() }

// upstreamPool is a target's pool of idle keep-alive connections, used
// last in first out so that the connections in use stay warm and the
// surplus ages out.
type upstreamPool struct {
	addr    string
	tls     *tls.Config // nil: plain HTTP
	dialer  *net.Dialer
	maxIdle int

	mu     sync.Mutex
	idle   []*upstreamConn
	closed bool
}

func newUpstreamPool(addr string, https bool, opts Options) *upstreamPool {
	p := &upstreamPool{
		addr:    addr,
		dialer:  &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		maxIdle: opts.MaxIdleConnsPerTarget,
	}
	if https {
		// ALB does not verify targets' certificates.
		p.tls = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	}
	return p
}

// get returns an idle connection, or dials a new one.
func (p *upstreamPool) get(ctx context.Context, now time.Time) (*upstreamConn, error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		u := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(u.idleAt) < upstreamIdleTimeout {
			p.mu.Unlock()
			u.reused = true
			return u, nil
		}
		u.close()
	}
	p.mu.Unlock()
	return p.dial(ctx)
}

func (p *upstreamPool) dial(ctx context.Context) (*upstreamConn, error) {
	c, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, &connectError{addr: p.addr, err: err}
	}
	if p.tls != nil {
		tc := tls.Client(c, p.tls)
		hctx, cancel := context.WithTimeout(ctx, p.dialer.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, &connectError{addr: p.addr, err: fmt.Errorf("TLS handshake: %w", err)}
		}
		c = tc
	}
	u := &upstreamConn{}
	u.in.buf = make([]byte, upstreamBufferSize)
	u.in.reset(c, 0)
	return u, nil
}

// put returns a connection whose last response was read whole.
func (p *upstreamPool) put(u *upstreamConn, now time.Time) {
	u.in.flush = nil
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		u.close()
		return
	}
	u.idleAt = now
	p.idle = append(p.idle, u)
	p.mu.Unlock()
}

// close closes the idle connections; connections in use are closed when
// they come back.
func (p *upstreamPool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, u := range idle {
		u.close()
	}
}

// closeIdle closes the idle connections and keeps the pool open.
func (p *upstreamPool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, u := range idle {
		u.close()
	}
}

// retryable reports whether err, met on a reused connection before any
// byte of the response, means the target had closed the idle connection:
// the request can go again on a new one.
func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, errTargetGone) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, errEOFBeforeResponse)
}

var errEOFBeforeResponse = errors.New("target closed the connection before responding")

// connectError is a failure to open a connection to a target (the TCP
// connect, or the TLS handshake of an HTTPS target): nothing of the
// request has been sent.
type connectError struct {
	addr string
	err  error
}

func (e *connectError) Error() string { return "connect to target " + e.addr + ": " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// maxTargetAttempts is how many targets of its group a request tries when
// connecting fails: the chosen one and up to two others.
const maxTargetAttempts = 3

// tryAnotherTarget reports whether err is a connect failure after which a
// request may move to another target: the connection was refused, reset
// or unroutable (a target that is shutting down, or gone), so the target
// saw no byte of the request. A connect that timed out is not retried: the
// client has waited DialTimeout already, and gets 504; nor is one whose
// request was cancelled.
func tryAnotherTarget(err error) bool {
	var ce *connectError
	if !errors.As(err, &ce) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true
}
