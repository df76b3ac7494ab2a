package dataplane

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of the flow bounds, for a 2-core, 24 GiB machine: 100,000 flows
// take about 2 GiB (two sockets and two goroutines per TCP flow, a socket,
// a goroutine and a 9 KiB reply buffer per UDP flow).
const (
	DefaultMaxFlows            = 100_000
	DefaultMaxFlowsPerListener = 20_000
	// DefaultDescriptorReserve is how many descriptors the flow bounds
	// leave to the rest of kelb server: the API, metrics, DNS, health
	// checks, the listening sockets and the application load balancers.
	DefaultDescriptorReserve = 2048
	// DefaultPipes bounds the splice pipe pairs open at once.
	DefaultPipes = 128

	// DescriptorsPerFlow is what a flow costs at most: a TCP flow's two
	// sockets (a UDP flow has one).
	DescriptorsPerFlow = 2
	// evictableAfter is how long a flow must have carried no data before
	// it may be evicted for a new one: flows active within it are never
	// evicted.
	evictableAfter = time.Second
	// minEvictionBatch is the fewest eviction candidates a scan keeps.
	minEvictionBatch = 256
)

// Bounds are the data plane's limits on flows and the descriptors behind
// them. A zero field takes its default.
type Bounds struct {
	// MaxFlows bounds the TCP connections and UDP flows of all listeners
	// together.
	MaxFlows int
	// MaxFlowsPerListener bounds the flows of one listening socket (a
	// listener's port on one zone address, one protocol).
	MaxFlowsPerListener int
	// Pipes bounds the splice pipe pairs open at once (two descriptors
	// each); a transfer that finds none copies through a buffer.
	Pipes int
	// Slots is the descriptor budget, in slots of DescriptorsPerFlow
	// descriptors, that the flows share with the application load
	// balancers' client connections (one slot each: the client's socket
	// and one to a target); zero: no shared budget. See
	// connlimit.Budget.
	Slots int
}

func (b Bounds) withDefaults() Bounds {
	if b.MaxFlows <= 0 {
		b.MaxFlows = DefaultMaxFlows
	}
	if b.MaxFlowsPerListener <= 0 {
		b.MaxFlowsPerListener = DefaultMaxFlowsPerListener
	}
	b.MaxFlowsPerListener = min(b.MaxFlowsPerListener, b.MaxFlows)
	if b.Pipes <= 0 {
		b.Pipes = DefaultPipes
	}
	return b
}

// DeriveBounds fits the flow bounds into the process's descriptor limit:
// reserve descriptors (at most half the limit) stay free for the rest of
// kelb server; of the others, pipes take at most one eighth, and the rest
// is the budget (Slots) that flows and the application load balancers'
// client connections share, DescriptorsPerFlow descriptors each. maxFlows and maxPerListener (zero: the
// defaults) are upper bounds that the limit may lower.
func DeriveBounds(limit uint64, reserve, maxFlows, maxPerListener int) (Bounds, error) {
	if reserve < 0 {
		return Bounds{}, fmt.Errorf("descriptor reserve %d is negative", reserve)
	}
	lim := int(min(limit, math.MaxInt32))
	budget := lim - min(reserve, lim/2)
	b := Bounds{MaxFlows: maxFlows, MaxFlowsPerListener: maxPerListener}.withDefaults()
	b.Pipes = min(DefaultPipes, budget/16)
	b.Slots = (budget - 2*b.Pipes) / DescriptorsPerFlow
	b.MaxFlows = min(b.MaxFlows, b.Slots)
	b.MaxFlowsPerListener = min(b.MaxFlowsPerListener, b.MaxFlows)
	if b.MaxFlows < 1 || b.Pipes < 1 {
		return Bounds{}, fmt.Errorf("a descriptor limit of %d leaves no room for flows: raise it (ulimit -n)", limit)
	}
	return b, nil
}

// RaiseDescriptorLimit raises the process's RLIMIT_NOFILE soft limit to its
// hard limit and returns the limit now in effect.
func RaiseDescriptorLimit() (uint64, error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read descriptor limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := unix.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
			return lim.Cur, fmt.Errorf("raise descriptor limit from %d to %d: %w", lim.Cur, lim.Max, err)
		}
		lim = raised
	}
	return lim.Cur, nil
}

// flowSlots counts the flows of one scope, a listening socket or the whole
// plane, and keeps the candidates for eviction from it.
type flowSlots struct {
	n atomic.Int64

	mu sync.Mutex // serialises evictions from this scope
	// queue holds the oldest idle flows of the last scan, the oldest last.
	queue []evictionCandidate
	// retryAt (UnixNano) is when the last scan, which found nothing
	// idle, expects a flow to have become evictable.
	retryAt int64
}

type evictionCandidate struct {
	f     flow
	since int64 // the flow's activeAt when it was scanned
}

// admit takes a slot of listener ls, of the plane and of the shared
// Budget for a new flow, evicting the oldest idle flow of the scope whose
// bound is reached (with the Budget spent: of the plane, else an idle
// connection of an application load balancer). It returns false, having
// counted a refusal, when nothing could be evicted; on true the caller
// gives the slots back with release when the flow ends, unless it was
// evicted: evicting gives them back at once.
func (p *Plane) admit(ls *flowSlots, m flowMetrics) bool {
	if ls.n.Add(1) > int64(p.opts.MaxFlowsPerListener) && !p.evict(ls, ls) {
		ls.n.Add(-1)
		m.refused.Inc()
		return false
	}
	if p.total.n.Add(1) > int64(p.opts.MaxFlows) && !p.evict(&p.total, nil) {
		p.total.n.Add(-1)
		ls.n.Add(-1)
		m.refused.Inc()
		return false
	}
	if b := p.opts.Budget; !b.TryAcquire() && !((p.evict(&p.total, nil) || b.Evict()) && b.TryAcquire()) {
		p.total.n.Add(-1)
		ls.n.Add(-1)
		m.refused.Inc()
		return false
	}
	return true
}

// release gives back the slots of a flow admitted on ls.
func (p *Plane) release(ls *flowSlots) {
	ls.n.Add(-1)
	p.total.n.Add(-1)
	p.opts.Budget.Release()
}

// evict ends the oldest flow of scope s that has been idle for at least
// evictableAfter; of restricts the choice to one listener's flows (nil: any
// listener). Candidates come from a scan of the tracked flows, kept until
// used up, so a flood of new flows costs one scan per batch of evictions;
// a candidate that carried data since the scan is skipped.
func (p *Plane) evict(s *flowSlots, of *flowSlots) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := p.opts.Now().UnixNano()
	cutoff := now - int64(evictableAfter)
	for scanned := false; ; scanned = true {
		for len(s.queue) > 0 {
			c := s.queue[len(s.queue)-1]
			s.queue[len(s.queue)-1] = evictionCandidate{}
			s.queue = s.queue[:len(s.queue)-1]
			if c.since > cutoff || c.f.activeAt() != c.since {
				continue
			}
			if c.f.evict() {
				return true
			}
		}
		if scanned || now < s.retryAt {
			return false
		}
		p.scanIdle(s, of, now)
	}
}

// scanIdle fills s.queue with the oldest flows (of one listener unless of
// is nil) idle since before now-evictableAfter, the oldest last.
func (p *Plane) scanIdle(s *flowSlots, of *flowSlots, now int64) {
	cutoff := now - int64(evictableAfter)
	oldestActive := now
	s.queue = s.queue[:0]
	p.flows.each(func(f flow) {
		if of != nil && f.slots() != of {
			return
		}
		t := f.activeAt()
		if t > cutoff {
			oldestActive = min(oldestActive, t)
			return
		}
		s.queue = append(s.queue, evictionCandidate{f: f, since: t})
	})
	if len(s.queue) == 0 {
		// Nothing idle: no flow becomes evictable before the oldest
		// active one has been quiet for evictableAfter.
		s.retryAt = oldestActive + int64(evictableAfter)
		return
	}
	slices.SortFunc(s.queue, func(a, b evictionCandidate) int { return cmp.Compare(b.since, a.since) })
	if keep := max(minEvictionBatch, len(s.queue)/64); len(s.queue) > keep {
		n := copy(s.queue, s.queue[len(s.queue)-keep:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
	}
}
