package blockstore

import (
	"context"

	"github.com/ipfs/go-cid"
)

// Hold keeps blocks from being collected while work that will end in a Pin
// (or in a job that reads them) is under way. A GC never deletes:
//   - a block written, or found already stored and reused, by a write call
//     made with a context from h.Context, from that call until Release;
//   - the DAGs under roots given to Keep, until Release.
//
// Every write call (AddFile, AddPath, ImportCAR, DirBuilder.Finish, Put)
// holds what it writes by itself until it returns; a Hold is for what spans
// calls: several AddFile calls and the DirBuilder.Finish that links them,
// or an import and the Pin of its root:
//
//	h := s.Hold()
//	defer h.Release()
//	e, err := s.AddFile(h.Context(ctx), r, opts)
//	...
//	err = s.Pin(ctx, e.CID, blockstore.PinInfo{Kind: blockstore.PinData})
//
// A GC runs alongside holds, never waiting for them. A Hold is safe for
// concurrent use.
type Hold struct {
	s        *Store
	pos      packPos // the append position when its first write began
	posSet   bool
	touched  map[string]struct{}
	roots    []cid.Cid
	overflow bool // touched outgrew Options.MaxHeldBlocks
	released bool
}

// holdSet is the store's open holds, guarded by Store.hmu.
type holdSet struct {
	active map[*Hold]struct{}
	held   int // entries in the touched sets of active holds and the GC
	max    int
}

type holdKey struct{}

// Hold starts a hold (see Hold). Release it when the work is pinned or
// abandoned.
func (s *Store) Hold() *Hold {
	h := &Hold{s: s, touched: map[string]struct{}{}}
	s.hmu.Lock()
	s.holds.active[h] = struct{}{}
	s.hmu.Unlock()
	return h
}

// Context returns a context whose write calls on h's store record under h.
func (h *Hold) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, holdKey{}, h)
}

// Keep protects the DAGs under roots (as far as they are stored) until
// Release: e.g. the inputs of a running job. It waits while a GC sweeps.
func (h *Hold) Keep(roots ...cid.Cid) {
	h.s.pinMu.RLock()
	defer h.s.pinMu.RUnlock()
	h.s.hmu.Lock()
	defer h.s.hmu.Unlock()
	if h.released {
		return
	}
	h.roots = append(h.roots, roots...)
	if g := h.s.gcst; g != nil {
		g.roots = append(g.roots, roots...)
	}
}

// Release ends the hold; what it protected is collectable by the next GC
// unless pinned. It is safe to call more than once.
func (h *Hold) Release() {
	s := h.s
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if h.released {
		return
	}
	h.released = true
	delete(s.holds.active, h)
	s.holds.held -= len(h.touched)
	h.touched = nil
}

// writing notes that a write call starts under h: packed blocks appended
// from now on are young while h is open (see gcState.pos).
func (h *Hold) writing() {
	h.s.hmu.Lock()
	if !h.posSet && !h.released {
		h.pos, h.posSet = h.s.packs.pos(), true
	}
	h.s.hmu.Unlock()
}

// holdFrom returns the open hold of s carried by ctx, if any.
func (s *Store) holdFrom(ctx context.Context) *Hold {
	if ctx == nil {
		return nil
	}
	h, _ := ctx.Value(holdKey{}).(*Hold)
	if h == nil || h.s != s {
		return nil
	}
	return h
}

// touch records that the hold's work uses block h (a multihash), written
// now or found stored. It must be called before the writer looks the block
// up (see gcState.protected), and is skipped for packed blocks the writer
// appends: those are protected by their position (pos).
func (h *Hold) touch(mh []byte) {
	s := h.s
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if h.released {
		return
	}
	key := string(mh)
	if !h.overflow {
		if _, ok := h.touched[key]; !ok {
			if s.holds.held >= s.holds.max {
				h.overflow = true
			} else {
				h.touched[key] = struct{}{}
				s.holds.held++
			}
		}
	}
	if g := s.gcst; g != nil {
		g.touch(key, &s.holds)
	}
}
