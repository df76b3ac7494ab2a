package connlimit

import (
	"sync"
	"sync/atomic"
)

// Budget is a process-wide count of slots that several servers take from:
// kelb server's one descriptor budget, which the network load balancers'
// flows and the application load balancers' client connections share so
// that together they leave the descriptor reserve alone. A slot stands for
// two descriptors (a flow's or a proxied connection's client and target
// sockets).
//
// Each server that holds slots registers an evictor, which closes one of
// its connections idle long enough to give up its slot. A server that
// finds the budget spent first evicts from its own connections, then asks
// the others (Evict); with nothing idle anywhere it refuses or waits, as
// at its own cap. A nil *Budget has no bound.
type Budget struct {
	max int64
	n   atomic.Int64

	mu       sync.Mutex
	evictors []*func() bool
	next     int // the evictor Evict asks first, in turn
}

// NewBudget returns a budget of max slots; nil when max <= 0 (no bound).
func NewBudget(max int) *Budget {
	if max <= 0 {
		return nil
	}
	return &Budget{max: int64(max)}
}

// TryAcquire takes a slot, reporting false when all are taken.
func (b *Budget) TryAcquire() bool {
	if b == nil {
		return true
	}
	if b.n.Add(1) > b.max {
		b.n.Add(-1)
		return false
	}
	return true
}

// Release gives back a slot taken by TryAcquire.
func (b *Budget) Release() {
	if b != nil {
		b.n.Add(-1)
	}
}

// Max is the number of slots, zero for no bound.
func (b *Budget) Max() int {
	if b == nil {
		return 0
	}
	return int(b.max)
}

// InUse is the number of slots taken.
func (b *Budget) InUse() int {
	if b == nil {
		return 0
	}
	return int(b.n.Load())
}

// Register adds evict, which closes one idle connection of a server and
// reports whether it did, to those Evict asks. The returned function
// removes it.
func (b *Budget) Register(evict func() bool) (unregister func()) {
	if b == nil {
		return func() {}
	}
	e := &evict
	b.mu.Lock()
	b.evictors = append(b.evictors, e)
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, x := range b.evictors {
			if x == e {
				b.evictors = append(b.evictors[:i], b.evictors[i+1:]...)
				return
			}
		}
	}
}

// Evict closes one idle connection of any registered server, asking them
// in turn so that no server alone pays for the others, and reports whether
// one was closed (its slot is then free, for whoever takes it first).
func (b *Budget) Evict() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	evictors := append([]*func() bool(nil), b.evictors...)
	start := b.next
	b.next++
	b.mu.Unlock()
	for i := range evictors {
		if (*evictors[(start+i)%len(evictors)])() {
			return true
		}
	}
	return false
}
