package l7

import (
	"net"
	"sync"
	"time"
)

// handoffListener feeds net/http the client connections the fast path
// gives up on (HTTP/2, upgrades, anything it does not parse), at a request
// boundary and with the bytes it has read but not consumed.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept returns the next connection handed over.
func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; connections handed over later are closed.
func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the listener's address.
func (l *handoffListener) Addr() net.Addr { return l.addr }

// handoff gives c to net/http, or reports false when the listener is
// closed.
func (l *handoffListener) handoff(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// handoffConn is a client connection handed to net/http: reads return the
// bytes the fast path had already read first, and the answers net/http
// writes itself to requests it cannot read are ALB's (see netHTTPError).
type handoffConn struct {
	net.Conn
	prefix []byte
	s      *server
}

func (c *handoffConn) Write(p []byte) (int, error) {
	code, ok := netHTTPError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	var h *respHeaders
	if t := c.s.table.Load(); t != nil {
		t.metrics.count(code, false)
		h = &t.headers
	}
	if _, err := c.Conn.Write(elbErrorResponse(code, time.Now(), h)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// NetConn returns the client connection, for the listener's connection
// cap.
func (c *handoffConn) NetConn() net.Conn { return c.Conn }

func (c *handoffConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection, as net/http does before closing.
func (c *handoffConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
