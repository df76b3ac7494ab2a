package dataplane

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/kelb-io/kelb/internal/dataplane/maglev"
)

const (
	// udpShards splits a listener's flow table so that new flows and expiry
	// in one shard do not stall datagrams of the others.
	udpShards = 16
	// maxDatagram is the largest datagram forwarded in either direction.
	maxDatagram = 65535
	// maxReplyDatagram bounds the reply buffer each flow keeps; larger
	// replies are truncated. 9 KiB covers jumbo frames, like NLB's MTU.
	maxReplyDatagram = 9216
)

// udpListener forwards the datagrams of one UDP listener socket. Each client
// address:port is a flow with its own connected socket to the target; the
// target's replies go back to the client from the listener's address.
type udpListener struct {
	p      *Plane
	closed atomic.Bool
	conn   *net.UDPConn
	route  atomic.Pointer[route]
	shards [udpShards]udpShard
	flows  flowSlots
}

type udpShard struct {
	mu    sync.RWMutex
	flows map[netip.AddrPort]*udpFlow
}

// udpFlow is one client's flow to its target.
type udpFlow struct {
	l        *udpListener
	client   netip.AddrPort
	key      targetKey
	upstream *net.UDPConn
	metrics  flowMetrics
	// lastActive is the clock's UnixNano at the last datagram either way.
	lastActive atomic.Int64
	closed     atomic.Bool
}

func (p *Plane) openUDP(addr netip.AddrPort, r *route) (*udpListener, error) {
	c, err := listenUDP(p.ctx, addr)
	if err != nil {
		return nil, err
	}
	l := &udpListener{p: p, conn: c}
	for i := range l.shards {
		l.shards[i].flows = map[netip.AddrPort]*udpFlow{}
	}
	l.route.Store(r)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		l.serve()
	}()
	return l, nil
}

func (l *udpListener) setRoute(r *route) { l.route.Store(r) }

// close closes the socket and every flow of the listener: replies could no
// longer be sent from the listener's address.
func (l *udpListener) close() {
	// closed is set before the shards are emptied: a flow being created
	// concurrently either sees it or is in its shard when it is emptied.
	l.closed.Store(true)
	_ = l.conn.Close()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, f := range sh.flows {
			delete(sh.flows, k)
			f.close()
		}
		sh.mu.Unlock()
	}
}

func (l *udpListener) shard(client netip.AddrPort) *udpShard {
	a := client.Addr().As16()
	h := maglev.Mix(uint64(client.Port()) ^ uint64(a[12])<<16 ^ uint64(a[13])<<24 ^ uint64(a[14])<<32 ^ uint64(a[15])<<40)
	return &l.shards[h%udpShards]
}

// serve reads datagrams until the socket is closed. The per-datagram path
// (known flow) does not allocate: one buffer per listener, netip values, and
// a read-locked map lookup.
func (l *udpListener) serve() {
	buf := make([]byte, maxDatagram)
	for {
		n, client, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.p.log.Debug("read UDP datagram", "listener", l.conn.LocalAddr().String(), "err", err)
			continue
		}
		client = netip.AddrPortFrom(client.Addr().Unmap(), client.Port())
		f := l.flow(client)
		if f == nil {
			continue // no target: drop
		}
		f.lastActive.Store(l.p.opts.Now().UnixNano())
		if _, err := f.upstream.Write(buf[:n]); err != nil {
			// ICMP unreachable from the target surfaces here; the
			// datagram is lost, as it would be on the wire.
			continue
		}
		f.metrics.bytes.Add(float64(n))
	}
}

// flow returns the flow of client, creating it (picking a target) when new.
func (l *udpListener) flow(client netip.AddrPort) *udpFlow {
	sh := l.shard(client)
	sh.mu.RLock()
	f := sh.flows[client]
	sh.mu.RUnlock()
	if f != nil {
		return f
	}
	r := l.route.Load()
	if !r.admits(client.Addr()) {
		return nil // outside the listener's source ranges: dropped
	}
	addr, ok := r.pick(r.flowHash(ipProtoUDP, client), 0)
	if !ok {
		return nil
	}
	// Only this listener's serve loop adds flows, so none appears for
	// client while the slot is taken (which may evict a flow of any
	// shard, so it is taken before locking one).
	if !l.p.admit(&l.flows, r.metrics) {
		return nil
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if l.closed.Load() {
		l.p.release(&l.flows)
		return nil
	}
	up, err := l.p.dialUDP(r, client, addr)
	if err != nil {
		l.p.release(&l.flows)
		r.metrics.targetDialErrors.Inc()
		l.p.log.Debug("open UDP flow", "listener", r.cfg.Address, "target", addr, "err", err)
		return nil
	}
	f = &udpFlow{
		l: l, client: client, upstream: up, metrics: r.metrics,
		key: targetKey{group: r.cfg.TargetGroupARN, target: addr},
	}
	f.lastActive.Store(l.p.opts.Now().UnixNano())
	sh.flows[client] = f
	r.metrics.newFlows.Inc()
	r.metrics.active.Inc()
	l.p.flows.add(f.key, f)
	l.p.wg.Add(1)
	go func() {
		defer l.p.wg.Done()
		f.replies()
	}()
	return f
}

// replies sends the target's datagrams back to the client until the flow's
// socket is closed.
func (f *udpFlow) replies() {
	buf := make([]byte, maxReplyDatagram)
	for {
		n, err := f.upstream.Read(buf)
		if err != nil {
			if f.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors from the target: keep the flow
		}
		f.lastActive.Store(f.l.p.opts.Now().UnixNano())
		if _, err := f.l.conn.WriteToUDPAddrPort(buf[:n], f.client); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		f.metrics.bytes.Add(float64(n))
	}
}

// close releases the flow's socket, which ends its reply goroutine, and
// its slots. It returns false if the flow was closed already.
func (f *udpFlow) close() bool {
	if f.closed.Swap(true) {
		return false
	}
	_ = f.upstream.Close()
	f.metrics.active.Dec()
	f.l.p.flows.remove(f.key, f)
	f.l.p.release(&f.l.flows)
	return true
}

// terminate ends the flow; the client's next datagram starts a new one.
func (f *udpFlow) terminate() { f.end() }

func (f *udpFlow) end() bool {
	sh := f.l.shard(f.client)
	sh.mu.Lock()
	if sh.flows[f.client] == f {
		delete(sh.flows, f.client)
	}
	sh.mu.Unlock()
	return f.close()
}

// evict ends the flow for a new one (see Plane.admit).
func (f *udpFlow) evict() bool {
	if !f.end() {
		return false
	}
	f.metrics.evicted.Inc()
	return true
}

func (f *udpFlow) activeAt() int64   { return f.lastActive.Load() }
func (f *udpFlow) slots() *flowSlots { return &f.l.flows }

// expire closes the flows idle since before cutoff (UnixNano).
func (l *udpListener) expire(cutoff int64) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for k, f := range sh.flows {
			if f.lastActive.Load() < cutoff {
				delete(sh.flows, k)
				f.close()
			}
		}
		sh.mu.Unlock()
	}
}

// dialUDP opens the flow's connected socket to target, from the client's
// address when the target group preserves client IPs (falling back to the
// listener's address, then the kernel's choice).
func (p *Plane) dialUDP(r *route, client, target netip.AddrPort) (*net.UDPConn, error) {
	d := net.Dialer{}
	nw := network("udp", target.Addr())
	if r.cfg.PreserveClientIP && sameFamily(client.Addr(), target.Addr()) {
		d.Control = transparentControl
		c, err := d.DialUDP(p.ctx, nw, netip.AddrPortFrom(client.Addr(), 0), target)
		if err == nil || !isBindError(err) {
			return c, err
		}
		r.metrics.preserveFallbacks.Inc()
	} else if r.cfg.PreserveClientIP {
		r.metrics.preserveFallbacks.Inc()
	}
	d.Control = nil
	if sameFamily(r.local.Addr(), target.Addr()) {
		c, err := d.DialUDP(p.ctx, nw, netip.AddrPortFrom(r.local.Addr(), 0), target)
		if err == nil || !isBindError(err) {
			return c, err
		}
	}
	return d.DialUDP(p.ctx, nw, netip.AddrPort{}, target)
}
