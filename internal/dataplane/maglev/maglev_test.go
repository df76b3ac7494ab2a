package maglev

import (
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func backendNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1)
	}
	return names
}

func mustNew(t testing.TB, backends []string, size uint64) *Table {
	t.Helper()
	tab, err := New(backends, size)
	if err != nil {
		t.Fatalf("New(%d backends, %d): %v", len(backends), size, err)
	}
	return tab
}

func TestNewRejectsBadSizes(t *testing.T) {
	tests := []struct {
		name     string
		backends int
		size     uint64
	}{
		{"not prime", 3, 16380},
		{"zero", 0, 0},
		{"too small", 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(backendNames(tt.backends), tt.size); err == nil {
				t.Errorf("New(%d backends, %d) = nil error, want an error", tt.backends, tt.size)
			}
		})
	}
}

func TestEmptyTable(t *testing.T) {
	tab := mustNew(t, nil, DefaultSize)
	if got := tab.Lookup(12345); got != -1 {
		t.Errorf("Lookup on empty table = %d, want -1", got)
	}
	var nilTable *Table
	if got := nilTable.Lookup(1); got != -1 {
		t.Errorf("Lookup on nil table = %d, want -1", got)
	}
}

// TestEvenSpread checks that every backend owns close to M/N slots.
func TestEvenSpread(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 10, 33, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			const size = DefaultSize
			tab := mustNew(t, backendNames(n), size)
			counts := make([]int, n)
			for _, b := range tab.slots {
				counts[b]++
			}
			want := float64(size) / float64(n)
			for i, c := range counts {
				if dev := math.Abs(float64(c)-want) / want; dev > 0.03 {
					t.Errorf("backend %d owns %d slots, want %.0f ±3%% (off by %.1f%%)", i, c, want, dev*100)
				}
			}
		})
	}
}

// TestMinimalDisruption removes one backend and checks that only the flows of
// that backend, plus a small churn, move.
func TestMinimalDisruption(t *testing.T) {
	for _, n := range []int{3, 10, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			names := backendNames(n)
			before := mustNew(t, names, DefaultSize)
			removed := n / 2
			rest := append(append([]string(nil), names[:removed]...), names[removed+1:]...)
			after := mustNew(t, rest, DefaultSize)
			moved := 0
			for slot := range before.slots {
				old := names[before.slots[slot]]
				now := rest[after.slots[slot]]
				if old != now {
					moved++
				}
			}
			frac := float64(moved) / DefaultSize
			ideal := 1 / float64(n)
			// The removed backend's share has to move; allow 2% extra churn.
			if frac > ideal+0.02 {
				t.Errorf("%.2f%% of slots moved when 1 of %d backends left, want at most %.2f%%", frac*100, n, (ideal+0.02)*100)
			}
			if frac < ideal*0.9 {
				t.Errorf("%.2f%% of slots moved, less than the removed backend's share %.2f%%", frac*100, ideal*100)
			}
		})
	}
}

// TestGolden pins the output for a fixed input, so that a change of hash or
// fill order (which would move every flow on upgrade) is a visible decision.
func TestGolden(t *testing.T) {
	tab := mustNew(t, []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"}, 13)
	want := []uint32{2, 0, 0, 2, 1, 2, 0, 0, 1, 1, 0, 2, 1}
	if diff := cmp.Diff(want, tab.slots); diff != "" {
		t.Errorf("slots (-want +got):\n%s", diff)
	}
}

func FuzzLookup(f *testing.F) {
	f.Add(uint8(3), uint64(0))
	f.Add(uint8(1), uint64(math.MaxUint64))
	f.Add(uint8(200), uint64(42))
	f.Fuzz(func(t *testing.T, n uint8, hash uint64) {
		names := backendNames(int(n))
		tab, err := New(names, 1021)
		if err != nil {
			t.Fatal(err)
		}
		got := tab.Lookup(hash)
		if n == 0 {
			if got != -1 {
				t.Fatalf("Lookup with no backends = %d, want -1", got)
			}
			return
		}
		if got < 0 || got >= int(n) {
			t.Fatalf("Lookup(%d) = %d, want an index in [0,%d)", hash, got, n)
		}
		// Deterministic: a second table from the same names agrees.
		again, _ := New(names, 1021)
		if again.Lookup(hash) != got {
			t.Fatalf("two tables from the same backends disagree for hash %d", hash)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	tab := mustNew(b, backendNames(10), DefaultSize)
	b.ReportAllocs()
	var sink int
	h := uint64(0x9e3779b97f4a7c15)
	for b.Loop() {
		h = Mix(h)
		sink += tab.Lookup(h)
	}
	_ = sink
}

func BenchmarkNew(b *testing.B) {
	names := backendNames(10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(names, DefaultSize); err != nil {
			b.Fatal(err)
		}
	}
}
