package blockstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// packPos is a position in the sequence of pack appends: packs are
// append-only and new packs get higher ids, so every byte appended after a
// position is at or after it.
type packPos struct {
	id  uint32
	off int64
}

func (a packPos) before(b packPos) bool { return a.id < b.id || a.id == b.id && a.off < b.off }

// before reports whether the block at l was appended before position a.
func (l packLoc) before(a packPos) bool { return packPos{l.id, l.off}.before(a) }

// pos is where the next append will go (or a position before it).
func (p *packSet) pos() packPos {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == 0 || p.sealed || p.files[p.cur] == nil {
		return packPos{id: p.cur + 1}
	}
	return packPos{id: p.cur, off: p.size}
}

// fileSizes returns the size of every pack file but the one being appended
// to (unless it is sealed).
func (p *packSet) fileSizes() (map[uint32]int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[uint32]int64, len(p.files))
	for id, pf := range p.files {
		fi, err := pf.f.Stat()
		if err != nil {
			return nil, mapFileErr(err)
		}
		out[id] = fi.Size()
	}
	return out, nil
}

// seal makes the next append go to a new pack if id is the current one.
func (p *packSet) seal(id uint32) {
	p.mu.Lock()
	if p.cur == id {
		p.sealed = true
	}
	p.mu.Unlock()
}

// waitIdle waits until no reservation is in flight in pack id. Callers
// seal it first, so none can start.
func (p *packSet) waitIdle(id uint32) {
	p.mu.Lock()
	for p.inflight[id] > 0 && !p.closed {
		p.idle.Wait()
	}
	p.mu.Unlock()
}

// retire removes pack id: reads that found it finish on the open file,
// later ones get errPackGone. Its index entries must be gone or moved.
func (p *packSet) retire(id uint32) error {
	p.mu.Lock()
	pf := p.files[id]
	if pf == nil {
		p.mu.Unlock()
		return nil
	}
	delete(p.files, id)
	p.mu.Unlock()
	pf.retired.Store(true)
	if pf.refs.Load() == 0 {
		pf.close()
	}
	if err := os.Remove(filepath.Join(p.dir, packName(id))); err != nil {
		return mapFileErr(err)
	}
	return p.syncDir(p.dir)
}

// maxCompactEntries bounds the index entries one GC holds in memory to
// compact packs (~80 bytes each); packs past it wait for the next GC.
const maxCompactEntries = 1 << 20

// testHookCompacted, if set, runs after a compaction committed the new
// locations of a pack's blocks and before the pack is removed.
var testHookCompacted func(id uint32)

// compact rewrites the packs whose dead fraction is at least frac: their
// live blocks are appended to the current pack (bytes fsynced, then the new
// index entries committed and synced: the write order of RATIONALE.md), the
// location cache is invalidated, and the old file is deleted.
func (s *Store) compact(ctx context.Context, live map[uint32]int64, frac float64, res *GCResult) error {
	sizes, err := s.packs.fileSizes()
	if err != nil {
		return err
	}
	var ids []uint32
	for id, size := range sizes {
		dead := size - live[id]
		if size > 0 && dead > 0 && float64(dead) >= frac*float64(size) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	want := map[uint32]bool{}
	for _, id := range ids {
		s.packs.seal(id)
		want[id] = true
	}
	for _, id := range ids {
		s.packs.waitIdle(id)
	}
	// Every entry pointing into these packs is committed now; none can be
	// added, as nothing appends to them. Packs whose entries do not fit in
	// maxCompactEntries wait for the next GC.
	entries := map[uint32][]packEntry{}
	incomplete := map[uint32]bool{}
	total := 0
	err = s.scanPacked(ctx, func(h []byte, l packLoc) error {
		switch {
		case !want[l.id] || incomplete[l.id]:
		case total >= maxCompactEntries:
			incomplete[l.id] = true
			total -= len(entries[l.id])
			delete(entries, l.id)
		default:
			entries[l.id] = append(entries[l.id], packEntry{h: string(h), loc: l})
			total++
		}
		return nil
	})
	if err != nil {
		return err
	}
	ids = slices.DeleteFunc(ids, func(id uint32) bool {
		var n int64
		for _, e := range entries[id] {
			n += e.loc.n
		}
		// Writes since the sweep's scan may have made it live enough.
		return incomplete[id] || float64(sizes[id]-n) < frac*float64(sizes[id])
	})
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		moved, bad, err := s.movePack(entries[id])
		if err != nil {
			return err
		}
		res.Unreadable += bad
		if testHookCompacted != nil {
			testHookCompacted(id)
		}
		if err := s.packs.retire(id); err != nil {
			return err
		}
		res.PacksCompacted++
		res.PackBytesFreed += sizes[id] - moved
	}
	return nil
}

type packEntry struct {
	h   string
	loc packLoc
}

// movePack copies the blocks of es (one pack's live entries) to the current
// pack in chunks, committing their new locations after each chunk is
// durable, and syncs the log at the end. An entry whose bytes cannot be
// read (the pack is shorter than the index says) is deleted: the block is
// lost either way, and "not found" lets a fetch from a peer replace it.
// It returns the bytes copied and the entries deleted.
func (s *Store) movePack(es []packEntry) (moved int64, bad int, err error) {
	slices.SortFunc(es, func(a, b packEntry) int {
		switch {
		case a.loc.off < b.loc.off:
			return -1
		case a.loc.off > b.loc.off:
			return 1
		}
		return 0
	})
	bp := packBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		*bp = buf[:0]
		packBufs.Put(bp)
	}()
	var chunk []packEntry
	drop := s.db.NewBatch()
	defer drop.Close()
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		id, base, err := s.packs.write(buf)
		if err != nil {
			return err
		}
		defer s.packs.release(id)
		b := s.db.NewBatch()
		defer b.Close()
		off := base
		for _, e := range chunk {
			l := packLoc{id: id, off: off, n: e.loc.n}
			if err := b.Set(packKey([]byte(e.h)), l.encode(), nil); err != nil {
				return err
			}
			off += e.loc.n
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		moved += int64(len(buf))
		buf, chunk = buf[:0], chunk[:0]
		return nil
	}
	for _, e := range es {
		if len(buf) > 0 && int64(len(buf))+e.loc.n > packChunkBytes {
			if err := flush(); err != nil {
				return moved, bad, err
			}
		}
		start := len(buf)
		buf = slices.Grow(buf, int(e.loc.n))[:start+int(e.loc.n)]
		if _, err := s.packs.readAt(e.loc, buf[start:], 0); err != nil {
			if errors.Is(err, ErrClosed) {
				return moved, bad, err
			}
			buf = buf[:start]
			if err := drop.Delete(packKey([]byte(e.h)), nil); err != nil {
				return moved, bad, err
			}
			bad++
			continue
		}
		chunk = append(chunk, e)
	}
	if err := flush(); err != nil {
		return moved, bad, err
	}
	if bad > 0 {
		if err := drop.Commit(pebble.NoSync); err != nil {
			return moved, bad, err
		}
	}
	if !s.noSync {
		if err := s.syncWAL(); err != nil {
			return moved, bad, err
		}
	}
	s.packs.cache.invalidate()
	return moved, bad, nil
}
