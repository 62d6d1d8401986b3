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
// one per GiB stored); a read is a pread on the shared handle.
type packSet struct {
	dir      string
	noSync   bool
	maxBytes int64

	mu     sync.RWMutex
	files  map[uint32]*os.File
	cur    uint32 // pack being appended to; 0 before the first write
	size   int64  // bytes reserved in cur
	closed bool

	cache locCache
}

func packName(id uint32) string { return fmt.Sprintf("%06d%s", id, packExt) }

// openPacks opens (creating if needed) the pack directory in dir. Appends
// continue at the end of the newest pack: bytes a crash left there without
// an index entry are unreferenced garbage, never read.
func openPacks(dir string, noSync bool) (*packSet, error) {
	p := &packSet{dir: filepath.Join(dir, packDirName), noSync: noSync, maxBytes: packMaxBytes, files: map[uint32]*os.File{}}
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
		p.files[uint32(id)] = f
		if uint32(id) > p.cur {
			p.cur = uint32(id)
		}
	}
	if p.cur != 0 {
		fi, err := p.files[p.cur].Stat()
		if err != nil {
			p.close()
			return nil, err
		}
		p.size = fi.Size()
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
// new pack when they do not fit.
func (p *packSet) reserve(n int64) (uint32, int64, *os.File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, 0, nil, ErrClosed
	}
	if p.cur == 0 || (p.size > 0 && p.size+n > p.maxBytes) {
		id := p.cur + 1
		f, err := os.OpenFile(filepath.Join(p.dir, packName(id)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return 0, 0, nil, err
		}
		if err := p.syncDir(p.dir); err != nil {
			f.Close()
			return 0, 0, nil, err
		}
		p.files[id], p.cur, p.size = f, id, 0
	}
	off := p.size
	p.size += n
	return p.cur, off, p.files[p.cur], nil
}

// write appends buf to a pack and makes it durable (unless noSync). It
// returns the pack and offset buf starts at. Concurrent writes go to
// disjoint reserved ranges of the file.
func (p *packSet) write(buf []byte) (uint32, int64, error) {
	id, off, f, err := p.reserve(int64(len(buf)))
	if err != nil {
		return 0, 0, err
	}
	if _, err := f.WriteAt(buf, off); err != nil {
		return 0, 0, mapFileErr(err)
	}
	if !p.noSync {
		if err := f.Sync(); err != nil {
			return 0, 0, mapFileErr(err)
		}
	}
	return id, off, nil
}

// readAt reads len(q) bytes of the block at l, from offset off in it.
func (p *packSet) readAt(l packLoc, q []byte, off int64) (int, error) {
	p.mu.RLock()
	f := p.files[l.id]
	p.mu.RUnlock()
	if f == nil {
		if p.isClosed() {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("blockstore: pack %d is missing", l.id)
	}
	n, err := f.ReadAt(q, l.off+off)
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
	var first error
	for id, f := range p.files {
		if err := f.Close(); err != nil && first == nil {
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
	return err
}

// locCache remembers recent pack index lookups: a direct-mapped table keyed
// by the end of the multihash digest (random for sha2-256). Entries never go
// stale: blocks are content-addressed and never moved or deleted.
type locCache struct {
	slots [locCacheSlots]atomic.Pointer[locEntry]
}

const locCacheSlots = 4096 // 1 GiB of 256 KiB leaves; at most ~400 KiB

type locEntry struct {
	h   string
	loc packLoc
}

func locSlot(h []byte) int {
	if len(h) < 2 {
		return 0
	}
	return int(binary.LittleEndian.Uint16(h[len(h)-2:])) % locCacheSlots
}

func (c *locCache) get(h []byte) (packLoc, bool) {
	if e := c.slots[locSlot(h)].Load(); e != nil && e.h == string(h) {
		return e.loc, true
	}
	return packLoc{}, false
}

func (c *locCache) put(h []byte, l packLoc) {
	c.slots[locSlot(h)].Store(&locEntry{h: string(h), loc: l})
}
