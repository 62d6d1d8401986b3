package blockstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
)

// GCOptions tune a GC. The zero value is a routine collection.
type GCOptions struct {
	// Roots are kept besides the pins (e.g. modules and inputs of running
	// jobs), with every stored block under them.
	Roots []cid.Cid
	// Now is the time pins' expiry is compared with (zero: time.Now()).
	Now time.Time
	// MinDeadFraction: a pack file is compacted (its live blocks copied to
	// the current pack, the file deleted) when at least this fraction of it
	// is dead bytes. 0 means defaultMinDeadFraction; a value above 1 turns
	// compaction off.
	MinDeadFraction float64
}

// defaultMinDeadFraction: rewriting a pack costs its live bytes, so a
// routine GC compacts only packs at least a quarter dead.
const defaultMinDeadFraction = 0.25

// GCResult reports what a GC did. Byte counts are file sizes.
type GCResult struct {
	Marked         int   // blocks kept because pins or roots reach them
	PinsExpired    int   // pins past their expiry, removed
	BlocksFreed    int   // blocks deleted (pebble blocks and pack index entries)
	BytesFreed     int64 // their sizes
	PacksCompacted int   // pack files rewritten and deleted
	PackBytesFreed int64 // pack bytes given back to the disk
	Unreadable     int   // reachable blocks whose links could not be read (kept, not followed)
	DiskBefore     int64 // repository bytes on disk before
	DiskAfter      int64 // and after
	// Deferred is set when the sweep was skipped because holds had written
	// more blocks than Options.MaxHeldBlocks lets GC track.
	Deferred bool
	Duration time.Duration
}

// gcState is what a running GC keeps besides the blocks it marked: blocks
// touched by holds (open when it started, or since), roots pinned or kept
// since it started, and the pack position before which a packed block is
// old enough to collect. Guarded by Store.hmu.
type gcState struct {
	touched  map[string]struct{}
	roots    []cid.Cid
	pos      packPos
	overflow bool
}

func (g *gcState) touch(key string, hs *holdSet) {
	if g.overflow {
		return
	}
	if _, ok := g.touched[key]; ok {
		return
	}
	if hs.held >= hs.max {
		g.overflow = true
		return
	}
	g.touched[key] = struct{}{}
	hs.held++
}

// GC deletes every block that no pin (past its expiry or not), opts.Roots
// or open Hold keeps, then compacts pack files that became mostly dead and
// lets pebble reclaim the deleted keys. It runs alongside reads and writes:
// blocks being written are held (see Hold), a read racing a compaction
// reads the block where it was or where it moved. One GC runs at a time;
// a second call waits for the first.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCResult, error) {
	if err := s.lockGC(ctx); err != nil {
		return GCResult{}, err
	}
	defer s.unlockGC()
	return s.runGC(ctx, opts)
}

// lockGC waits for the GC slot. Close takes the slot for good.
func (s *Store) lockGC(ctx context.Context) error {
	select {
	case <-s.closing.Done():
		return ErrClosed
	default:
	}
	select {
	case s.gcSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing.Done():
		return ErrClosed
	}
	if s.closing.Err() != nil {
		<-s.gcSem
		return ErrClosed
	}
	return nil
}

func (s *Store) unlockGC() { <-s.gcSem }

// sweepBatch is how many deletions a sweep commits at once (holding hmu,
// so writers that touch blocks wait for at most one batch).
const sweepBatch = 1024

func (s *Store) runGC(ctx context.Context, opts GCOptions) (res GCResult, err error) {
	if s.packs.isClosed() {
		return res, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()
	start := time.Now()
	defer func() {
		s.gcRuns.Add(1)
		res.Duration = time.Since(start)
		if err != nil {
			err = fmt.Errorf("blockstore: gc: %w", mapErr(err))
		}
	}()
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if u, err := s.diskUsage(); err == nil {
		res.DiskBefore = u.total()
	}
	g := s.beginGC()
	defer s.endGC(g)

	roots, expired, err := s.livePins(ctx, now)
	if err != nil {
		return res, err
	}
	roots = append(roots, opts.Roots...)
	s.hmu.Lock()
	roots = append(roots, g.roots...)
	g.roots = nil
	s.hmu.Unlock()
	marked := map[string]struct{}{}
	if err := s.mark(ctx, roots, marked, &res); err != nil {
		return res, err
	}
	if testHookMarked != nil {
		testHookMarked()
	}
	live, err := s.sweep(ctx, g, marked, expired, now, &res)
	if err != nil {
		return res, err
	}
	res.Marked = len(marked)
	s.endGC(g)
	if res.BlocksFreed > 0 || res.PinsExpired > 0 {
		if err := s.syncWAL(); err != nil {
			return res, err
		}
	}

	frac := opts.MinDeadFraction
	if frac == 0 {
		frac = defaultMinDeadFraction
	}
	if frac <= 1 {
		if err := s.compact(ctx, live, frac, &res); err != nil {
			return res, err
		}
	}
	if res.BlocksFreed > 0 {
		for _, p := range [][]byte{blocksPrefix, packKeyPrefix} {
			if err := s.db.Compact(ctx, p, prefixEnd(p), false); err != nil {
				return res, err
			}
		}
		s.waitPebbleCleanup(ctx)
	}
	if u, err := s.diskUsage(); err == nil {
		res.DiskAfter = u.total()
	}
	s.size.reset()
	return res, nil
}

// pebbleCleanupWait bounds how long a GC waits for pebble to delete the
// files its compaction made obsolete (pebble deletes them in the
// background; DiskAfter and a write waiting for room should see it).
const pebbleCleanupWait = 5 * time.Second

func (s *Store) waitPebbleCleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, pebbleCleanupWait)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		m := s.db.Metrics()
		if m.Table.ObsoleteCount == 0 && m.BlobFiles.ObsoleteCount == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// beginGC registers a GC's state: from now on every touch is recorded in it
// too, and what open holds touched so far is copied into it.
func (s *Store) beginGC() *gcState {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	g := &gcState{touched: map[string]struct{}{}, pos: s.packs.pos()}
	for h := range s.holds.active {
		if h.posSet && h.pos.before(g.pos) {
			g.pos = h.pos
		}
		if h.overflow {
			g.overflow = true
		}
		for k := range h.touched {
			g.touch(k, &s.holds)
		}
		g.roots = append(g.roots, h.roots...)
	}
	s.gcst = g
	return g
}

// endGC drops the GC's state once its sweep is over (idempotent).
func (s *Store) endGC(g *gcState) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.gcst == g {
		s.gcst = nil
		s.holds.held -= len(g.touched)
		g.touched = nil
	}
}

// livePins returns the roots of unexpired pins and the keys of expired ones.
func (s *Store) livePins(ctx context.Context, now time.Time) (roots []cid.Cid, expired [][]byte, err error) {
	for p, err := range s.Pins(ctx) {
		if errors.Is(err, errBadPin) {
			continue // cannot name a root: protects nothing, and is kept for a look
		}
		if err != nil {
			return nil, nil, err
		}
		if !p.Expires.IsZero() && !now.Before(p.Expires) {
			expired = append(expired, pinKey(p.Root, p.Kind, p.Label))
			continue
		}
		roots = append(roots, p.Root)
	}
	return roots, expired, nil
}

// mark adds to marked the multihash of every block reachable from roots.
// Blocks that are not stored are marked and not followed; raw blocks are
// marked without being read.
func (s *Store) mark(ctx context.Context, roots []cid.Cid, marked map[string]struct{}, res *GCResult) error {
	stack := append([]cid.Cid(nil), roots...)
	g := localGetter{s}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !c.Defined() || c.Prefix().MhType == 0 {
			continue
		}
		key := string(c.Hash())
		if _, ok := marked[key]; ok {
			continue
		}
		marked[key] = struct{}{}
		if c.Type() == rawCodec {
			continue
		}
		if len(marked)%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var links []cid.Cid
		err := g.viewBlock(ctx, c, func(data []byte) error {
			var err error
			links, err = blockLinks(c, data)
			return err
		})
		switch {
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrBadDAG):
			res.Unreadable++
		case err != nil:
			return err
		default:
			stack = append(stack, links...)
		}
	}
	return nil
}

// testHookMarked, if set, runs between a GC's mark and its sweep.
var testHookMarked func()

var blocksPrefix = []byte(bstore.BlockPrefix.String() + "/")

// sweep deletes expired pins and every block neither marked nor protected
// by the GC's state. It returns the live bytes of each pack.
func (s *Store) sweep(ctx context.Context, g *gcState, marked map[string]struct{}, expired [][]byte, now time.Time, res *GCResult) (map[uint32]int64, error) {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	// Pins and Keeps made since the mark: none can start now.
	s.hmu.Lock()
	late := g.roots
	g.roots = nil
	s.hmu.Unlock()
	if err := s.mark(ctx, late, marked, res); err != nil {
		return nil, err
	}
	if err := s.dropExpired(expired, now, res); err != nil {
		return nil, err
	}
	live := map[uint32]int64{}
	s.hmu.Lock()
	deferred := g.overflow
	s.hmu.Unlock()
	if deferred {
		res.Deferred = true
		// Nothing is deleted, so every indexed block is live.
		return live, s.scanPacked(ctx, func(_ []byte, l packLoc) error { live[l.id] += l.n; return nil })
	}
	if err := s.sweepBlocks(ctx, g, marked, res); err != nil {
		return nil, err
	}
	return live, s.sweepPacked(ctx, g, marked, live, res)
}

func (s *Store) dropExpired(keys [][]byte, now time.Time, res *GCResult) error {
	if len(keys) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, k := range keys {
		v, closer, err := s.db.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		p, err := decodePin(k, v)
		closer.Close()
		if err != nil || p.Expires.IsZero() || now.Before(p.Expires) {
			continue // renewed since it was read
		}
		if err := b.Delete(k, nil); err != nil {
			return err
		}
		res.PinsExpired++
	}
	return b.Commit(pebble.NoSync)
}

// candidate is a block the sweep may delete.
type candidate struct {
	key []byte
	h   string
	n   int64
	loc packLoc // packed blocks
}

// deleteBatch deletes the candidates nobody touched, holding hmu so that a
// writer's touch comes either before the check (the block stays) or after
// the commit (the writer then finds it gone and writes it again). keep, if
// set, says whether a packed block was stored again since it was scanned;
// kept, if set, hears of every candidate left in place. It returns false if
// the GC's touched set overflowed: the sweep must stop.
func (s *Store) deleteBatch(g *gcState, cs []candidate, keep, kept func(candidate) bool, res *GCResult) (bool, error) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if g.overflow {
		return false, nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	freed, bytes := 0, int64(0)
	for _, c := range cs {
		if _, ok := g.touched[c.h]; ok || (keep != nil && keep(c)) {
			if kept != nil {
				kept(c)
			}
			continue
		}
		if err := b.Delete(c.key, nil); err != nil {
			return false, err
		}
		freed++
		bytes += c.n
	}
	if freed == 0 {
		return true, nil
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return false, err
	}
	s.packs.cache.invalidate()
	res.BlocksFreed += freed
	res.BytesFreed += bytes
	return true, nil
}

// sweeper batches candidates for deleteBatch.
type sweeper struct {
	s          *Store
	g          *gcState
	res        *GCResult
	keep, kept func(candidate) bool
	cs         []candidate
}

func (w *sweeper) add(c candidate) error {
	w.cs = append(w.cs, c)
	if len(w.cs) < sweepBatch {
		return nil
	}
	return w.flush()
}

func (w *sweeper) flush() error {
	if len(w.cs) == 0 || w.res.Deferred {
		return nil
	}
	ok, err := w.s.deleteBatch(w.g, w.cs, w.keep, w.kept, w.res)
	if err == nil && !ok {
		w.res.Deferred = true
	}
	w.cs = w.cs[:0]
	return err
}

func (s *Store) sweepBlocks(ctx context.Context, g *gcState, marked map[string]struct{}, res *GCResult) error {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: blocksPrefix, UpperBound: prefixEnd(blocksPrefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	w := &sweeper{s: s, g: g, res: res}
	for ok := it.First(); ok && !res.Deferred; ok = it.Next() {
		k := it.Key()
		h, err := dshelp.DsKeyToMultihash(ds.RawKey("/" + string(k[len(blocksPrefix):])))
		if err != nil {
			continue // not a block key boxo would write: leave it
		}
		if _, ok := marked[string(h)]; ok {
			continue
		}
		lv := it.LazyValue()
		c := candidate{key: append([]byte(nil), k...), h: string(h), n: int64(lv.Len())}
		if err := w.add(c); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	return w.flush()
}

func (s *Store) sweepPacked(ctx context.Context, g *gcState, marked map[string]struct{}, live map[uint32]int64, res *GCResult) error {
	w := &sweeper{s: s, g: g, res: res}
	// A candidate is kept if its entry changed since the scan (a writer
	// stored the block again: the new location is young).
	w.keep = func(c candidate) bool {
		v, closer, err := s.db.Get(c.key)
		if err != nil {
			return !errors.Is(err, pebble.ErrNotFound)
		}
		l, err := decodePackLoc(v)
		closer.Close()
		return err != nil || l != c.loc
	}
	w.kept = func(c candidate) bool {
		live[c.loc.id] += c.loc.n
		return true
	}
	err := s.scanPacked(ctx, func(h []byte, l packLoc) error {
		if _, ok := marked[string(h)]; ok || !l.before(g.pos) || res.Deferred {
			live[l.id] += l.n
			return nil
		}
		return w.add(candidate{key: packKey(h), h: string(h), n: l.n, loc: l})
	})
	if err != nil {
		return err
	}
	return w.flush()
}

// scanPacked calls fn for every pack index entry (h is only valid during
// the call), stopping at fn's first error. Entries that do not decode are
// skipped.
func (s *Store) scanPacked(ctx context.Context, fn func(h []byte, l packLoc) error) error {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: packKeyPrefix, UpperBound: prefixEnd(packKeyPrefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		l, derr := decodePackLoc(it.Value())
		if derr != nil {
			continue
		}
		if err := fn(it.Key()[len(packKeyPrefix):], l); err != nil {
			return err
		}
	}
	return it.Error()
}
