package blockstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Pack files hold the bytes of raw blocks larger than packMinSize (the file
// data of CIDv1 imports): append-only files under <dir>/packs, named
// 000001.pack, 000002.pack, ... Pebble keeps, under packKeyPrefix + the
// block's multihash, where each block is (packLoc). Reads pread straight
// from the pack into the caller's buffer. See RATIONALE.md.
const (
	// packMinSize: raw blocks of at most this many bytes stay in pebble.
	packMinSize = 4 << 10
	// packMaxBytes: a pack is rolled when a write would take it past this.
	packMaxBytes = 1 << 30
	packDirName  = "packs"
	packExt      = ".pack"
)

// packKeyPrefix is the pebble key prefix of pack index entries. It is not
// under boxo's /blocks/ prefix, so boxo's blockstore never sees the entries.
var packKeyPrefix = []byte("/packidx/")

func packKey(h []byte) []byte {
	k := make([]byte, 0, len(packKeyPrefix)+len(h))
	return append(append(k, packKeyPrefix...), h...)
}

// packable reports whether a block goes to a pack file.
func packable(codec uint64, size int) bool { return codec == rawCodec && size > packMinSize }

// packLoc is where a block lives: pack id, byte offset and length.
type packLoc struct {
	id  uint32
	off int64
	n   int64
}

func (l packLoc) encode() []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen64)
	b = binary.AppendUvarint(b, uint64(l.id))
	b = binary.AppendUvarint(b, uint64(l.off))
	return binary.AppendUvarint(b, uint64(l.n))
}

func decodePackLoc(b []byte) (packLoc, error) {
	var v [3]uint64
	for i := range v {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return packLoc{}, errors.New("blockstore: corrupt pack index entry")
		}
		v[i], b = x, b[n:]
	}
	if len(b) != 0 || v[0] == 0 || v[0] > 1<<32-1 || v[1] > 1<<62 || v[2] > 1<<62 {
		return packLoc{}, errors.New("blockstore: corrupt pack index entry")
	}
	return packLoc{id: uint32(v[0]), off: int64(v[1]), n: int64(v[2])}, nil
}

// packSet is the store's pack files. Every file stays open (there are few:
// one per GiB stored); a read is a pread on the shared handle. A pack that
// GC compacted is retired: taken out of the set, unlinked, and closed when
// the last read that had already found it ends.
type packSet struct {
	dir      string
	noSync   bool
	maxBytes int64

	mu       sync.RWMutex
	idle     *sync.Cond // signalled when a pack's in-flight count drops
	files    map[uint32]*packFile
	cur      uint32 // pack being appended to; 0 before the first write
	size     int64  // bytes reserved in cur
	sealed   bool   // cur takes no more appends: the next reserve rolls
	inflight map[uint32]int
	closed   bool

	cache locCache
}

// packFile is one open pack. refs counts reads in progress on it.
type packFile struct {
	f       *os.File
	refs    atomic.Int64
	retired atomic.Bool
	once    sync.Once
}

func (pf *packFile) unref() {
	if pf.refs.Add(-1) == 0 && pf.retired.Load() {
		pf.close()
	}
}

func (pf *packFile) close() error {
	var err error
	pf.once.Do(func() { err = pf.f.Close() })
	return err
}

// errPackGone: a read found no pack with the id its location names, as
// when GC compacted the pack after the location was looked up.
var errPackGone = errors.New("blockstore: pack is missing")

func packName(id uint32) string { return fmt.Sprintf("%06d%s", id, packExt) }

// openPacks opens (creating if needed) the pack directory in dir. Appends
// continue at the end of the newest pack: bytes a crash left there without
// an index entry are unreferenced garbage, never read (GC reclaims them).
func openPacks(dir string, noSync bool) (*packSet, error) {
	p := &packSet{dir: filepath.Join(dir, packDirName), noSync: noSync, maxBytes: packMaxBytes,
		files: map[uint32]*packFile{}, inflight: map[uint32]int{}}
	p.idle = sync.NewCond(&p.mu)
	if _, err := os.Stat(p.dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(p.dir, 0o755); err != nil {
			return nil, err
		}
		if err := p.syncDir(dir); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), packExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 32)
		if err != nil || id == 0 {
			continue
		}
		f, err := os.OpenFile(filepath.Join(p.dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			p.close()
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			p.close()
			return nil, err
		}
		p.files[uint32(id)] = &packFile{f: f}
		if uint32(id) > p.cur {
			p.cur, p.size = uint32(id), fi.Size()
		}
	}
	return p, nil
}

func (p *packSet) syncDir(dir string) error {
	if p.noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// reserve sets aside n bytes at the end of the current pack, rolling to a
// new pack when they do not fit (or the current one is sealed). The pack's
// in-flight count is raised: release must follow once the index entries for
// the range are committed, or the range is abandoned.
func (p *packSet) reserve(n int64) (uint32, int64, *os.File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, 0, nil, ErrClosed
	}
	if p.cur == 0 || p.sealed || p.files[p.cur] == nil || (p.size > 0 && p.size+n > p.maxBytes) {
		id := p.cur + 1
		f, err := os.OpenFile(filepath.Join(p.dir, packName(id)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return 0, 0, nil, mapFileErr(err)
		}
		if err := p.syncDir(p.dir); err != nil {
			f.Close()
			return 0, 0, nil, mapFileErr(err)
		}
		p.files[id], p.cur, p.size, p.sealed = &packFile{f: f}, id, 0, false
	}
	off := p.size
	p.size += n
	p.inflight[p.cur]++
	return p.cur, off, p.files[p.cur].f, nil
}

// release ends a reservation in pack id (see reserve).
func (p *packSet) release(id uint32) {
	p.mu.Lock()
	if p.inflight[id]--; p.inflight[id] <= 0 {
		delete(p.inflight, id)
		p.idle.Broadcast()
	}
	p.mu.Unlock()
}

// packWriteAt writes a pack range; tests replace it to inject disk errors.
var packWriteAt = func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }

// write appends buf to a pack and makes it durable (unless noSync). It
// returns the pack and offset buf starts at; the caller releases the pack
// (release) once the index entries are committed. Concurrent writes go to
// disjoint reserved ranges of the file. On error nothing needs releasing:
// a failed range that is still the pack's tail is cut off, any other is
// unindexed garbage that GC reclaims.
func (p *packSet) write(buf []byte) (uint32, int64, error) {
	id, off, f, err := p.reserve(int64(len(buf)))
	if err != nil {
		return 0, 0, err
	}
	_, err = packWriteAt(f, buf, off)
	if err == nil && !p.noSync {
		err = f.Sync()
	}
	if err != nil {
		p.abandon(id, off, int64(len(buf)), f)
		return 0, 0, mapFileErr(err)
	}
	return id, off, nil
}

// abandon gives up a reserved range whose write failed.
func (p *packSet) abandon(id uint32, off, n int64, f *os.File) {
	p.mu.Lock()
	if p.cur == id && p.size == off+n && f.Truncate(off) == nil {
		p.size = off
	}
	p.mu.Unlock()
	p.release(id)
}

// readAt reads len(q) bytes of the block at l, from offset off in it. It
// fails with errPackGone if the pack is not in the set (see retire).
func (p *packSet) readAt(l packLoc, q []byte, off int64) (int, error) {
	p.mu.RLock()
	pf := p.files[l.id]
	closed := p.closed
	if pf != nil {
		pf.refs.Add(1)
	}
	p.mu.RUnlock()
	if pf == nil {
		if closed {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("%w: %d", errPackGone, l.id)
	}
	defer pf.unref()
	n, err := pf.f.ReadAt(q, l.off+off)
	if err != nil {
		// A short read means the pack lost bytes its index points at.
		return n, fmt.Errorf("blockstore: read pack %d: %w", l.id, mapFileErr(err))
	}
	return n, nil
}

func (p *packSet) isClosed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed
}

func (p *packSet) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.idle.Broadcast()
	var first error
	for id, pf := range p.files {
		pf.retired.Store(true)
		if err := pf.close(); err != nil && first == nil {
			first = err
		}
		delete(p.files, id)
	}
	return first
}

func mapFileErr(err error) error {
	if errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	if errors.Is(err, syscall.ENOSPC) {
		return ErrDiskFull // without the host path an *os.PathError names
	}
	return err
}

// locCache remembers recent pack index lookups: a direct-mapped table keyed
// by the end of the multihash digest (random for sha2-256). GC deletes and
// moves blocks: it bumps gen after committing, and an entry counts only if
// it was looked up in the current generation, so a lookup that raced the
// commit can never put a stale location back.
type locCache struct {
	gen   atomic.Uint64
	slots [locCacheSlots]atomic.Pointer[locEntry]
}

const locCacheSlots = 4096 // 1 GiB of 256 KiB leaves; at most ~400 KiB

type locEntry struct {
	h   string
	gen uint64
	loc packLoc
}

func locSlot(h []byte) int {
	if len(h) < 2 {
		return 0
	}
	return int(binary.LittleEndian.Uint16(h[len(h)-2:])) % locCacheSlots
}

func (c *locCache) get(h []byte) (packLoc, bool) {
	if e := c.slots[locSlot(h)].Load(); e != nil && e.h == string(h) && e.gen == c.gen.Load() {
		return e.loc, true
	}
	return packLoc{}, false
}

// put caches l for h, found by a lookup that began in generation gen.
func (c *locCache) put(h []byte, l packLoc, gen uint64) {
	c.slots[locSlot(h)].Store(&locEntry{h: string(h), gen: gen, loc: l})
}

// invalidate drops every entry (after GC committed deletions or moves).
func (c *locCache) invalidate() { c.gen.Add(1) }
