// Package maglev implements Maglev consistent hashing (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016).
//
// A Table maps a flow hash to one of N backends through a lookup table of M
// slots (M prime, much larger than N). Every backend derives a permutation of
// the slots from two hashes of its name (offset and skip); the table is filled
// round-robin, each backend in turn taking the next free slot of its own
// permutation, so each backend owns M/N slots within one. When one backend
// leaves, the others mostly keep their slots: only about 1/N of flows move,
// plus a small extra churn that shrinks as M grows.
//
// Tables are immutable once built and safe for concurrent lookups; a Lookup
// is a modulo and one slice read, with no allocation. Building is O(M log M)
// and done off the packet path, when the backend set changes. The result
// depends only on the backend names and M, so every kelb node that sees the
// same backends picks the same backend for the same flow.
package maglev

import "fmt"

// DefaultSize is the default number of slots: a prime that keeps the spread
// within about 1% for up to a few hundred backends.
const DefaultSize = 16381

// Table is a Maglev lookup table. The zero value has no backends.
type Table struct {
	slots []uint32
	n     int
}

// New builds the table for backends, identified by their names (for example
// "10.0.0.1:80"), with size slots. Size must be a prime larger than the
// number of backends; New returns an error otherwise. Names must be distinct.
// An empty backend list gives an empty table whose Lookup returns -1.
func New(backends []string, size uint64) (*Table, error) {
	if size < 2 || !isPrime(size) {
		return nil, fmt.Errorf("maglev table size %d is not a prime", size)
	}
	if uint64(len(backends)) >= size {
		return nil, fmt.Errorf("maglev table size %d is too small for %d backends", size, len(backends))
	}
	t := &Table{n: len(backends)}
	if len(backends) == 0 {
		return t, nil
	}
	const empty = ^uint32(0)
	slots := make([]uint32, size)
	for i := range slots {
		slots[i] = empty
	}
	offset := make([]uint64, len(backends))
	skip := make([]uint64, len(backends))
	next := make([]uint64, len(backends))
	for i, name := range backends {
		offset[i] = hashString(name, 0x6d61676c65763031) % size
		skip[i] = hashString(name, 0x6d61676c65763032)%(size-1) + 1
	}
	filled := uint64(0)
	for {
		for i := range backends {
			// The next free slot of backend i's permutation.
			c := (offset[i] + next[i]*skip[i]) % size
			for slots[c] != empty {
				next[i]++
				c = (offset[i] + next[i]*skip[i]) % size
			}
			slots[c] = uint32(i)
			next[i]++
			filled++
			if filled == size {
				t.slots = slots
				return t, nil
			}
		}
	}
}

// Len returns the number of backends.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return t.n
}

// Lookup returns the index (into the backends given to New) of the backend
// for hash, or -1 when the table has no backends.
func (t *Table) Lookup(hash uint64) int {
	if t == nil || t.n == 0 {
		return -1
	}
	return int(t.slots[hash%uint64(len(t.slots))])
}

// hashString is FNV-1a over s, finished with a 64-bit mixer so that close
// names ("10.0.0.1:80", "10.0.0.2:80") give unrelated offsets and skips.
func hashString(s string, seed uint64) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return Mix(h)
}

// Mix is a 64-bit finaliser (the one of SplitMix64): it spreads every input
// bit over every output bit.
func Mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint64(3); d <= n/d; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}
