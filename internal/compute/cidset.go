package compute

import (
	"sync"

	"github.com/ipfs/go-cid"
)

// maxCIDSet bounds a CIDSet.
const maxCIDSet = 4096

// CIDSet is a set of CIDs of bounded size: it is emptied when full.
type CIDSet struct {
	mu sync.Mutex
	m  map[cid.Cid]struct{}
}

// Has reports whether c is in the set.
func (s *CIDSet) Has(c cid.Cid) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[c]
	return ok
}

// Add adds c, emptying the set first when it is full.
func (s *CIDSet) Add(c cid.Cid) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= maxCIDSet {
		s.m = map[cid.Cid]struct{}{}
	}
	s.m[c] = struct{}{}
}
