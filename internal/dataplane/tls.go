package dataplane

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kelb-io/kelb/internal/dataplane/tlspolicy"
)

// tlsHandshakeTimeout bounds a TLS handshake with a client, and one with a
// target of a TLS target group.
const tlsHandshakeTimeout = 10 * time.Second

// targetSessionCacheSize is how many TLS sessions to targets a TLS
// listener keeps for resumption.
const targetSessionCacheSize = 256

// CertificateSource gives the key pairs of certificates by ARN: kelb's
// certificate store (*certstore.Store).
type CertificateSource interface {
	TLSCertificate(arn string) (*tls.Certificate, error)
}

// listenerTLS is what a TLS listener terminates and originates TLS with.
// Apply keeps it while the listener's settings and certificates are
// unchanged, so that session tickets issued before a reconfiguration
// still resume after it.
type listenerTLS struct {
	key    string
	server *tls.Config
	// target holds the client configuration towards TLS targets per
	// protocol the client negotiated ("": none), so that the target is
	// offered the same one; nil for TCP target groups.
	target map[string]*tls.Config
}

// tlsFor returns the TLS configuration of listener l, the previous Apply's
// when nothing changed; next collects the configurations of this Apply.
func (p *Plane) tlsFor(l Listener, next map[string]*listenerTLS) (*listenerTLS, error) {
	s := l.TLS
	if s == nil {
		return nil, errors.New("TLS listener without TLS settings")
	}
	if p.opts.Certificates == nil {
		return nil, errors.New("no certificate source")
	}
	certs := make([]tls.Certificate, 0, len(s.Certificates))
	var key strings.Builder
	fmt.Fprintf(&key, "%s|%s|%t", s.SSLPolicy, s.ALPNPolicy, s.TargetTLS)
	for _, arn := range s.Certificates {
		c, err := p.opts.Certificates.TLSCertificate(arn)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", arn, err)
		}
		certs = append(certs, *c)
		fmt.Fprintf(&key, "|%p", c)
	}
	if t, ok := next[l.ListenerARN]; ok && t.key == key.String() {
		return t, nil
	}
	if t, ok := p.tlsConfs[l.ListenerARN]; ok && t.key == key.String() {
		next[l.ListenerARN] = t
		return t, nil
	}
	protos, err := tlspolicy.ALPN(s.ALPNPolicy)
	if err != nil {
		return nil, err
	}
	server, err := tlspolicy.Server{Policy: s.SSLPolicy, Certificates: certs, NextProtos: protos}.Config()
	if err != nil {
		return nil, err
	}
	t := &listenerTLS{key: key.String(), server: server}
	if s.TargetTLS {
		cache := tls.NewLRUClientSessionCache(targetSessionCacheSize)
		t.target = map[string]*tls.Config{}
		for _, proto := range append([]string{""}, protos...) {
			// NLB does not verify its targets' certificates.
			c := &tls.Config{InsecureSkipVerify: true, ClientSessionCache: cache}
			if proto != "" {
				c.NextProtos = []string{proto}
			}
			t.target[proto] = c
		}
	}
	next[l.ListenerARN] = t
	return t, nil
}

// proxyTLS forwards one accepted client connection of a TLS listener:
// complete the client's handshake, connect to a target (over TLS for a TLS
// target group), send the PROXY header if configured, then copy both ways
// until both sides are done. A client whose handshake fails (wrong
// version, no common cipher or protocol, plain text) is closed before any
// target is chosen.
func (p *Plane) proxyTLS(client *net.TCPConn, r *route, slots *flowSlots) {
	src, ok := p.admitFlow(client, r, slots)
	if !ok {
		return
	}
	var f *tcpFlow
	defer func() {
		if f == nil || !f.ended.Swap(true) {
			p.release(slots)
		}
	}()
	m := r.metrics
	tc := tls.Server(client, r.tls.server)
	_ = client.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
	if err := tc.HandshakeContext(p.ctx); err != nil {
		p.log.Debug("TLS handshake with client", "listener", r.cfg.Address, "client", src, "err", err)
		m.clientTLSErrors.Inc()
		_ = client.Close()
		return
	}
	_ = client.SetDeadline(time.Time{})

	target, addr := p.dialTarget(r, src)
	if target == nil {
		m.elbResets.Inc()
		_ = client.SetLinger(0)
		_ = client.Close()
		return
	}
	if !p.sendProxyHeader(target, client, r, src, addr) {
		return
	}
	var up net.Conn = target
	if r.tls.target != nil {
		conf, ok := r.tls.target[tc.ConnectionState().NegotiatedProtocol]
		if !ok {
			conf = r.tls.target[""]
		}
		tt := tls.Client(target, conf)
		_ = target.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
		if err := tt.HandshakeContext(p.ctx); err != nil {
			p.log.Debug("TLS handshake with target", "listener", r.cfg.Address, "target", addr, "err", err)
			m.targetTLSErrors.Inc()
			m.elbResets.Inc()
			_ = client.SetLinger(0)
			_ = client.Close()
			_ = target.Close()
			return
		}
		_ = target.SetDeadline(time.Time{})
		up = tt
	}
	f = &tcpFlow{client: client, target: target, idle: r.cfg.IdleTimeout, listener: slots, metrics: m, plane: p}
	f.lastActive.Store(p.opts.Now().UnixNano())
	toTarget, err1 := newStream(up, tc, target, &f.lastActive, p.opts.Now)
	toClient, err2 := newStream(tc, up, client, &f.lastActive, p.opts.Now)
	if err := errors.Join(err1, err2); err != nil {
		p.log.Debug("forward TLS flow", "listener", r.cfg.Address, "target", addr, "err", err)
		m.elbResets.Inc()
		f.terminate()
		return
	}
	p.forward(f, r, addr, toTarget, toClient)
}

// stream moves one direction of a TLS flow through a buffer, as Go's TLS
// needs: from a TLS connection, which holds its buffer for the flow
// (decrypted records may wait in Go's TLS state, unseen by the socket), or
// from a plain socket, which it waits on holding nothing and borrows a
// buffer from only while data moves.
type stream struct {
	src net.Conn // *tls.Conn or *net.TCPConn
	// srcRaw is src's socket when src is plain, else nil.
	srcRaw syscall.RawConn
	dst    net.Conn // *tls.Conn or *net.TCPConn
	// dstSocket is dst's TCP connection, half-closed after dst.
	dstSocket *net.TCPConn
	active    *atomic.Int64
	now       func() time.Time
	// readable is srcRaw's read callback, bound once per flow.
	readable func(fd uintptr) bool
	peek     [1]byte
	buf      *[copyBufSize]byte
}

var _ mover = (*stream)(nil)

func newStream(dst, src net.Conn, dstSocket *net.TCPConn, active *atomic.Int64, now func() time.Time) (*stream, error) {
	s := &stream{src: src, dst: dst, dstSocket: dstSocket, active: active, now: now}
	if tc, ok := src.(*net.TCPConn); ok {
		raw, err := tc.SyscallConn()
		if err != nil {
			return nil, err
		}
		s.srcRaw = raw
		s.readable = s.peekReadable
	}
	return s, nil
}

// peekReadable reports whether the socket has data or its end (or an
// error) waiting, without taking any.
func (s *stream) peekReadable(fd uintptr) bool {
	_, _, err := unix.Recvfrom(int(fd), s.peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err != unix.EAGAIN
}

func (s *stream) transfer() (int, error) {
	if s.srcRaw != nil {
		if err := s.srcRaw.Read(s.readable); err != nil {
			return 0, err
		}
	}
	if s.buf == nil {
		s.buf = copyBufs.Get().(*[copyBufSize]byte)
	}
	n, err := s.src.Read(s.buf[:])
	if n > 0 {
		s.active.Store(s.now().UnixNano())
		if _, werr := s.dst.Write(s.buf[:n]); werr != nil {
			err = werr
		}
	}
	if s.srcRaw != nil {
		s.release()
	}
	return n, err
}

func (s *stream) setReadDeadline(t time.Time) error { return s.src.SetReadDeadline(t) }

// closeWrite ends dst's stream: a TLS close_notify, then the TCP FIN.
func (s *stream) closeWrite() error {
	var err error
	if tc, ok := s.dst.(*tls.Conn); ok {
		err = tc.CloseWrite()
	}
	return errors.Join(err, s.dstSocket.CloseWrite())
}

func (s *stream) release() {
	if s.buf != nil {
		copyBufs.Put(s.buf)
		s.buf = nil
	}
}
