package dataplane

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kelb-io/kelb/internal/dataplane/proxyproto"
)

// tcpListener accepts the connections of one TCP or TLS listener socket.
type tcpListener struct {
	p     *Plane
	ln    *net.TCPListener
	route atomic.Pointer[route]
	flows flowSlots
}

func (p *Plane) openTCP(addr netip.AddrPort, r *route) (*tcpListener, error) {
	ln, err := listenTCP(p.ctx, addr)
	if err != nil {
		return nil, err
	}
	l := &tcpListener{p: p, ln: ln}
	l.route.Store(r)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		l.serve()
	}()
	return l, nil
}

func (l *tcpListener) setRoute(r *route) { l.route.Store(r) }

func (l *tcpListener) close() { _ = l.ln.Close() }

// serve accepts until the listener is closed.
func (l *tcpListener) serve() {
	var backoff time.Duration
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or similar: wait, and say so.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.p.log.Warn("accept TCP connection", "listener", l.ln.Addr().String(), "err", err, "retry_in", backoff)
			select {
			case <-l.p.ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		r := l.route.Load()
		l.p.wg.Add(1)
		go func() {
			defer l.p.wg.Done()
			if r.tls != nil {
				l.p.proxyTLS(c, r, &l.flows)
			} else {
				l.p.proxyTCP(c, r, &l.flows)
			}
		}()
	}
}

// tcpFlow is a client connection forwarded to a target connection.
type tcpFlow struct {
	client, target *net.TCPConn
	idle           time.Duration
	listener       *flowSlots
	metrics        flowMetrics
	// lastActive is the clock's UnixNano when data last arrived either way.
	lastActive atomic.Int64
	// ended is set when the flow is over or evicted, by whichever gives
	// back its slots (see Plane.admit), so they are given back once.
	ended atomic.Bool
	plane *Plane
	// reset is set once the flow was reset by kelb (terminate, idle
	// timeout), so the copy loops stop classifying errors.
	reset     atomic.Bool
	closeOnce sync.Once
	// origin is who reset the flow, recorded by the first direction that
	// failed, before it closes both sockets.
	originOnce sync.Once
	origin     string
}

// fail records who reset the flow, then resets the other side too.
func (f *tcpFlow) fail() {
	f.originOnce.Do(func() {
		if f.reset.Load() {
			f.origin = originELB
			return
		}
		f.origin = f.resetOrigin()
	})
	f.abort()
}

// terminate resets both connections.
func (f *tcpFlow) terminate() {
	f.reset.Store(true)
	f.abort()
}

// abort closes both connections with a reset (SO_LINGER 0).
func (f *tcpFlow) abort() {
	f.closeOnce.Do(func() {
		_ = f.client.SetLinger(0)
		_ = f.target.SetLinger(0)
		_ = f.client.Close()
		_ = f.target.Close()
	})
}

func (f *tcpFlow) activeAt() int64   { return f.lastActive.Load() }
func (f *tcpFlow) slots() *flowSlots { return f.listener }

// evict resets the flow for a new one (see Plane.admit).
func (f *tcpFlow) evict() bool {
	if f.ended.Swap(true) {
		return false
	}
	// The slots are free at once, not when the flow's goroutines are
	// done, so that flows admitted meanwhile evict no more.
	f.plane.release(f.listener)
	f.metrics.evicted.Inc()
	f.terminate()
	return true
}

func (f *tcpFlow) close() {
	f.closeOnce.Do(func() {
		_ = f.client.Close()
		_ = f.target.Close()
	})
}

// proxyTCP forwards one accepted client connection: pick a target, connect
// (trying the next targets of the set when a connect fails), send the PROXY
// header if configured, then copy both ways until both sides are done. A
// connection that finds the flow bounds reached and no idle flow to evict
// is reset (see Plane.admit).
func (p *Plane) proxyTCP(client *net.TCPConn, r *route, slots *flowSlots) {
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

	target, addr := p.dialTarget(r, src)
	if target == nil {
		// No target to take the connection: reset it, as NLB does.
		m.elbResets.Inc()
		_ = client.SetLinger(0)
		_ = client.Close()
		return
	}
	if !p.sendProxyHeader(target, client, r, src, addr) {
		return
	}

	f = &tcpFlow{client: client, target: target, idle: r.cfg.IdleTimeout, listener: slots, metrics: m, plane: p}
	f.lastActive.Store(p.opts.Now().UnixNano())
	toTarget, err1 := newDirection(target, client, p.pipes, &f.lastActive, p.opts.Now)
	toClient, err2 := newDirection(client, target, p.pipes, &f.lastActive, p.opts.Now)
	if err := errors.Join(err1, err2); err != nil {
		p.log.Debug("forward TCP flow", "listener", r.cfg.Address, "target", addr, "err", err)
		m.elbResets.Inc()
		f.terminate()
		return
	}
	p.forward(f, r, addr, toTarget, toClient)
}

// admitFlow admits a new client connection of r: it resets a client
// outside the listener's source ranges, and one that finds the flow bounds
// reached. On true the caller owns the flow's slots (see Plane.admit).
func (p *Plane) admitFlow(client *net.TCPConn, r *route, slots *flowSlots) (netip.AddrPort, bool) {
	src := client.RemoteAddr().(*net.TCPAddr).AddrPort()
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if !r.admits(src.Addr()) {
		// Outside the listener's source ranges: not a flow at all.
		_ = client.SetLinger(0)
		_ = client.Close()
		return src, false
	}
	m := r.metrics
	if !p.admit(slots, m) {
		m.elbResets.Inc()
		_ = client.SetLinger(0)
		_ = client.Close()
		return src, false
	}
	m.newFlows.Inc()
	return src, true
}

// sendProxyHeader sends the PROXY protocol v2 header of a flow from src to
// the target when the listener's target group asks for it. On failure it
// resets the client, closes the target and returns false.
func (p *Plane) sendProxyHeader(target, client *net.TCPConn, r *route, src, addr netip.AddrPort) bool {
	if !r.cfg.ProxyProtocolV2 {
		return true
	}
	var buf [proxyproto.MaxHeaderLen]byte
	if _, err := target.Write(proxyproto.Append(buf[:0], proxyproto.Stream, src, r.local)); err != nil {
		p.log.Debug("send PROXY header", "target", addr, "err", err)
		r.metrics.targetResets.Inc()
		_ = client.SetLinger(0)
		_ = client.Close()
		_ = target.Close()
		return false
	}
	return true
}

// mover moves one direction of a flow's bytes: spliced between sockets
// (direction) or through a buffer for TLS (stream).
type mover interface {
	// transfer waits until the source is readable, then moves what it
	// holds to the destination. It returns the bytes moved, and io.EOF at
	// the source's end of stream; a read deadline on the source ends the
	// wait with os.ErrDeadlineExceeded.
	transfer() (int, error)
	setReadDeadline(time.Time) error
	// closeWrite half-closes the destination.
	closeWrite() error
	// release gives back what the mover borrowed.
	release()
}

// forward tracks the flow f to addr and copies both ways until both sides
// are done, then counts how it ended.
func (p *Plane) forward(f *tcpFlow, r *route, addr netip.AddrPort, toTarget, toClient mover) {
	m := r.metrics
	key := targetKey{group: r.cfg.TargetGroupARN, target: addr}
	p.flows.add(key, f)
	m.active.Inc()
	defer func() {
		m.active.Dec()
		p.flows.remove(key, f)
	}()
	if p.ctx.Err() != nil {
		// Close ran while this flow was connecting: it cancels the context
		// before it resets the tracked flows, so either it saw this flow
		// or this check sees the cancellation.
		f.terminate()
	}

	var wg sync.WaitGroup
	var up copyResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		up = f.pipe(toTarget, m.bytes)
	}()
	down := f.pipe(toClient, m.bytes)
	wg.Wait()
	if up.err == nil && down.err == nil {
		f.close()
		return
	}
	f.fail()
	switch f.origin {
	case originClient:
		m.clientResets.Inc()
	case originTarget:
		m.targetResets.Inc()
	case originELB:
		m.elbResets.Inc()
	}
}

// dialTarget connects to the flow's target, trying up to dialAttempts
// targets of the set. It returns nil when none could be reached.
func (p *Plane) dialTarget(r *route, src netip.AddrPort) (*net.TCPConn, netip.AddrPort) {
	hash := r.flowHash(ipProtoTCP, src)
	for attempt := range min(dialAttempts, len(r.targets)) {
		addr, ok := r.pick(hash, attempt)
		if !ok {
			break
		}
		c, err := p.dialTCP(r, src, addr)
		if err == nil {
			return c, addr
		}
		r.metrics.targetDialErrors.Inc()
		p.log.Debug("connect to target", "listener", r.cfg.Address, "target", addr, "attempt", attempt+1, "err", err)
		if p.ctx.Err() != nil {
			break
		}
	}
	return nil, netip.AddrPort{}
}

// dialTCP connects to target, from the client's address when the target
// group preserves client IPs, falling back to the load balancer's address
// (then to the kernel's choice) when that address cannot be used.
func (p *Plane) dialTCP(r *route, src, target netip.AddrPort) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: p.opts.DialTimeout, KeepAlive: -1}
	nw := network("tcp", target.Addr())
	if r.cfg.PreserveClientIP && sameFamily(src.Addr(), target.Addr()) {
		d.Control = transparentControl
		c, err := d.DialTCP(p.ctx, nw, netip.AddrPortFrom(src.Addr(), 0), target)
		if err == nil || !isBindError(err) {
			return c, err
		}
		r.metrics.preserveFallbacks.Inc()
	} else if r.cfg.PreserveClientIP {
		r.metrics.preserveFallbacks.Inc() // an IPv4 client cannot be the source towards an IPv6 target
	}
	d.Control = bindControl
	if sameFamily(r.local.Addr(), target.Addr()) {
		c, err := d.DialTCP(p.ctx, nw, netip.AddrPortFrom(r.local.Addr(), 0), target)
		if err == nil || !isBindError(err) {
			return c, err
		}
	}
	d.Control = nil
	return d.DialTCP(p.ctx, nw, netip.AddrPort{}, target)
}

type copyResult struct {
	err error
}

// errIdle ends a direction whose flow was idle for the idle timeout.
var errIdle = errors.New("idle timeout")

// pipe moves d's bytes until its source's EOF (then half-closes the
// destination) or an error, adding them to the flow's metric and activity
// time as they go. A read deadline wakes it once per idle timeout: the
// kernel's time since data last arrived on either connection (TCP_INFO)
// then decides whether the flow has been idle in both directions for the
// idle timeout, or how much longer to wait.
func (f *tcpFlow) pipe(d mover, bytes prometheus.Counter) copyResult {
	var res copyResult
	defer d.release()
	wait := f.idle
	for {
		if wait > 0 {
			_ = d.setReadDeadline(time.Now().Add(wait))
		}
		var err error
		for err == nil {
			var n int
			n, err = d.transfer()
			if n > 0 {
				bytes.Add(float64(n))
			}
		}
		if err == io.EOF {
			_ = d.closeWrite()
			return res
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && !f.reset.Load() {
			idleFor, ok := f.idleFor()
			if !ok || idleFor < f.idle {
				wait = f.idle - idleFor
				continue
			}
			f.reset.Store(true)
			res.err = errIdle
			f.fail()
			return res
		}
		res.err = err
		f.fail() // unblocks the other direction
		return res
	}
}

// idleFor returns how long the flow has carried no data in either direction.
func (f *tcpFlow) idleFor() (time.Duration, bool) {
	_, c, err1 := tcpStats(f.client)
	_, t, err2 := tcpStats(f.target)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(min(c, t)) * time.Millisecond, true
}

// resetOrigin tells which side reset a flow that ended in error: the side
// whose socket the kernel already moved to CLOSE.
func (f *tcpFlow) resetOrigin() string {
	if s, _, err := tcpStats(f.client); err == nil && s == tcpStateClose {
		return originClient
	}
	if s, _, err := tcpStats(f.target); err == nil && s == tcpStateClose {
		return originTarget
	}
	return ""
}
