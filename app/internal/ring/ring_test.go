package ring

import (
	"slices"
	"testing"
)

func TestRingKeepsTheNewest(t *testing.T) {
	r := New[int](3)
	if _, ok := r.Last(); ok || r.Len() != 0 || len(r.All()) != 0 {
		t.Fatalf("a new ring is not empty: %v", r.All())
	}
	for v, want := range [][]int{{0}, {0, 1}, {0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 5}, {4, 5, 6}} {
		r.Add(v)
		if got := r.All(); !slices.Equal(got, want) {
			t.Errorf("after adding %d: %v, want %v", v, got, want)
		}
		if last, ok := r.Last(); !ok || last != v || r.Len() != len(want) {
			t.Errorf("after adding %d: last %d %v, len %d", v, last, ok, r.Len())
		}
	}
	// All is a copy: the caller may keep it while the ring moves on.
	got := r.All()
	r.Add(7)
	if !slices.Equal(got, []int{4, 5, 6}) {
		t.Errorf("an earlier All changed under a later Add: %v", got)
	}
	if cap(r.buf) != 3 {
		t.Errorf("the ring grew to %d", cap(r.buf))
	}
}

func TestRingOfNoSizeKeepsOne(t *testing.T) {
	r := New[string](0)
	r.Add("a")
	r.Add("b")
	if got := r.All(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("got %v", got)
	}
}
