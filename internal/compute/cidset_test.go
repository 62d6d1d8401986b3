package compute

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// testCID is a CIDv1 of the bytes of i.
func testCID(t *testing.T, i int) cid.Cid {
	t.Helper()
	h, err := mh.Sum(binary.BigEndian.AppendUint64(nil, uint64(i)), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

func TestCIDSetUnit(t *testing.T) {
	var s CIDSet // the zero value works
	a, b := testCID(t, 1), testCID(t, 2)
	if s.Has(a) {
		t.Fatal("an empty set has a CID")
	}
	s.Add(a)
	if !s.Has(a) || s.Has(b) {
		t.Fatalf("after adding a: has(a) %v, has(b) %v", s.Has(a), s.Has(b))
	}
	s.Add(a) // again: still one
	s.Add(b)
	if !s.Has(a) || !s.Has(b) || len(s.m) != 2 {
		t.Fatalf("after adding a twice and b: %d CIDs", len(s.m))
	}
	// The same hash as a CIDv0 is another CID.
	v0 := cid.NewCidV0(a.Hash())
	if s.Has(v0) {
		t.Fatal("the CIDv0 of a's hash counts as a")
	}
	if s.Has(cid.Undef) {
		t.Fatal("the set has cid.Undef")
	}
}

// TestCIDSetBounded: the set holds up to maxCIDSet CIDs; adding one more empties
// it first.
func TestCIDSetBounded(t *testing.T) {
	var s CIDSet
	for i := range maxCIDSet {
		s.Add(testCID(t, i))
	}
	if len(s.m) != maxCIDSet {
		t.Fatalf("%d CIDs after adding %d", len(s.m), maxCIDSet)
	}
	for _, i := range []int{0, 1, maxCIDSet / 2, maxCIDSet - 1} {
		if !s.Has(testCID(t, i)) {
			t.Fatalf("CID %d of a full set missing", i)
		}
	}
	extra := testCID(t, maxCIDSet)
	s.Add(extra)
	if !s.Has(extra) || len(s.m) != 1 {
		t.Fatalf("after adding one to a full set: has it %v, %d CIDs", s.Has(extra), len(s.m))
	}
	for _, i := range []int{0, maxCIDSet - 1} {
		if s.Has(testCID(t, i)) {
			t.Fatalf("CID %d survived the emptying", i)
		}
	}
}

func TestCIDSetConcurrent(t *testing.T) {
	var s CIDSet
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				c := testCID(t, g*1000+i)
				s.Add(c)
				if !s.Has(c) {
					// Another goroutine may have emptied a full set in between; with
					// 1600 CIDs it never fills.
					t.Errorf("CID %d lost", g*1000+i)
				}
			}
		})
	}
	wg.Wait()
	if len(s.m) != 1600 {
		t.Fatalf("%d CIDs, want 1600", len(s.m))
	}
}
