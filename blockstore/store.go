package blockstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	bstore "github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	pebbleds "github.com/ipfs/go-ds-pebble"
	ipld "github.com/ipfs/go-ipld-format"
)

// Options configure Open. The zero value is what a node uses.
type Options struct {
	// NoSync skips the fsync (or memtable flush) that makes every write call
	// durable before it returns. For tests and throwaway stores only.
	NoSync bool
	// CacheSize is pebble's block cache in bytes (default 8 MiB).
	CacheSize int64
	// MemTableSize is pebble's largest memtable in bytes (default 4 MiB).
	// Idle memory grows with it; imports larger than half of it bypass it.
	MemTableSize uint64
	// Logger receives pebble's error messages; nil discards them.
	Logger *slog.Logger
	// MaxSize bounds the repository's bytes on disk (pack files, pebble's
	// files and import staging files in the store directory, as du counts
	// them); 0 means no limit. A write that would go past it first runs a GC,
	// then fails with ErrRepoFull. See Stat and RATIONALE.md ("Size").
	MaxSize int64
	// MaxHeldBlocks bounds how many blocks written under open holds (and
	// during a GC) GC tracks in memory, ~100 bytes each (default 1<<20).
	// Past it a GC skips its sweep (GCResult.Deferred) until those holds end.
	MaxHeldBlocks int

	packMaxBytes int64 // tests: roll packs sooner (default packMaxBytes)
}

const (
	defaultCacheSize     = 8 << 20
	defaultMemTableSize  = 4 << 20
	defaultMaxHeldBlocks = 1 << 20
)

// Store is a blockstore on disk. It is safe for concurrent use.
type Store struct {
	dir    string
	ds     *pebbleds.Datastore
	db     *pebble.DB
	packs  *packSet
	cache  *pebble.Cache
	noSync bool
	memMax uint64
	flush  syncGroup

	maxSize int64
	size    sizeGauge
	gcSem   chan struct{}   // one GC at a time
	gcRuns  atomic.Uint64   // GCs finished
	closing context.Context // done when Close starts
	stopGC  context.CancelFunc
	pinMu   sync.RWMutex // Pin/Unpin/Keep share it; a GC's sweep holds it
	hmu     sync.Mutex   // guards holds and gcst
	holds   holdSet
	gcst    *gcState // non-nil from a GC's start to the end of its sweep

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.CacheSize <= 0 {
		opts.CacheSize = defaultCacheSize
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = defaultMemTableSize
	}
	if opts.MaxSize < 0 {
		return nil, fmt.Errorf("%w: negative MaxSize", ErrBadOptions)
	}
	if opts.MaxHeldBlocks <= 0 {
		opts.MaxHeldBlocks = defaultMaxHeldBlocks
	}
	cache := pebble.NewCache(opts.CacheSize)
	po := &pebble.Options{
		Cache:              cache,
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       opts.MemTableSize,
		Logger:             quietLogger{l: opts.Logger},
		// Large leaves live in pack files, so pebble holds only small records: a
		// synced write-ahead log makes them durable at the cost of one fsync
		// (see commit), far cheaper than flushing a memtable per write call.
		// Imports queue several flushable batches; do not stall on them.
		MemTableStopWritesThreshold: 16,
		L0CompactionThreshold:       8,
		L0StopWritesThreshold:       64,
	}
	// Blocks are mostly compressed or random bytes: compression costs CPU on
	// every write and read for little gain.
	po.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10) // cheap Has for absent blocks
	}
	// Large values live in blob files that compactions do not rewrite.
	po.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
		return pebble.ValueSeparationPolicy{
			Enabled:               true,
			MinimumSize:           1024,
			MaxBlobReferenceDepth: 256, // random keys: every blob file spans the keyspace
			RewriteMinimumAge:     time.Hour,
			TargetGarbageRatio:    0.5,
		}
	}
	d, err := pebbleds.NewDatastore(dir, pebbleds.WithPebbleOpts(po))
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("blockstore: open %s: %w", dir, err)
	}
	packs, err := openPacks(dir, opts.NoSync)
	if err == nil && opts.packMaxBytes > 0 {
		packs.maxBytes = opts.packMaxBytes
	}
	if err != nil {
		d.Close()
		cache.Unref()
		return nil, fmt.Errorf("blockstore: open %s: %w", dir, err)
	}
	removeStaging(dir)
	closing, stopGC := context.WithCancel(context.Background())
	return &Store{
		closing: closing,
		stopGC:  stopGC,
		dir:     dir,
		ds:      d,
		db:      d.DB,
		packs:   packs,
		cache:   cache,
		noSync:  opts.NoSync,
		memMax:  opts.MemTableSize,
		maxSize: opts.MaxSize,
		gcSem:   make(chan struct{}, 1),
		holds:   holdSet{active: map[*Hold]struct{}{}, max: opts.MaxHeldBlocks},
	}, nil
}

// Close flushes and closes the store. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopGC() // a running GC stops at its next check; later ones fail
		s.gcSem <- struct{}{}
		err := s.ds.Close()
		s.cache.Unref()
		if perr := s.packs.close(); err == nil {
			err = perr
		}
		if err != nil {
			s.closeErr = fmt.Errorf("blockstore: close: %w", err)
		}
	})
	return s.closeErr
}

// Has reports whether the block is stored locally.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ok, err := s.has(c)
	if err != nil {
		return false, fmt.Errorf("blockstore: has %s: %w", c, err)
	}
	return ok, nil
}

// has looks in the pack index and among pebble's blocks, in the order the
// codec makes likely (keys are multihashes, so either may hold any block).
func (s *Store) has(c cid.Cid) (bool, error) {
	if isEmptyBlock(c) {
		return true, nil
	}
	h := c.Hash()
	packedFirst := c.Type() == rawCodec
	for i := 0; i < 2; i++ {
		var ok bool
		var err error
		if packedFirst == (i == 0) {
			_, ok, err = s.locate(h)
		} else {
			ok, err = s.inPebble(blockKey(c))
		}
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

func (s *Store) inPebble(key []byte) (bool, error) {
	_, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, mapErr(err)
	}
	closer.Close()
	return true, nil
}

// locate returns where a packed block is; ok is false if it is not packed.
func (s *Store) locate(h []byte) (loc packLoc, ok bool, err error) {
	if l, ok := s.packs.cache.get(h); ok {
		return l, true, nil
	}
	return s.locateFresh(h)
}

// locateFresh is locate without the cache: it reads the index, and caches
// what it finds.
func (s *Store) locateFresh(h []byte) (loc packLoc, ok bool, err error) {
	gen := s.packs.cache.gen.Load()
	v, closer, err := s.db.Get(packKey(h))
	if errors.Is(err, pebble.ErrNotFound) {
		return packLoc{}, false, nil
	}
	if err != nil {
		return packLoc{}, false, mapErr(err)
	}
	l, err := decodePackLoc(v)
	closer.Close()
	if err != nil {
		return packLoc{}, false, err
	}
	s.packs.cache.put(h, l, gen)
	return l, true, nil
}

// readPacked reads from the packed block c found at l. If GC compacted its
// pack since l was looked up, the block is looked up again: GC commits the
// new location before it removes the old pack.
func (s *Store) readPacked(c cid.Cid, l packLoc, p []byte, off int64) (int, error) {
	n, err := s.packs.readAt(l, p, off)
	if !errors.Is(err, errPackGone) {
		return n, err
	}
	l2, ok, lerr := s.locateFresh(c.Hash())
	if lerr != nil {
		return 0, lerr
	}
	if !ok {
		return 0, ErrNotFound // collected since it was looked up
	}
	return s.packs.readAt(l2, p, off)
}

// Put stores one block after checking that it hashes to its CID, and makes
// it durable before returning.
func (s *Store) Put(ctx context.Context, b blocks.Block) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := verifyBlock(b.Cid(), b.RawData()); err != nil {
		return err
	}
	w := s.newWriter(ctx)
	if err := w.put(b.Cid(), b.RawData()); err != nil {
		w.abort()
		return err
	}
	return w.done()
}

// commit makes everything written so far durable: one fsync of pebble's
// write-ahead log, shared by concurrent callers. Packed leaves were fsynced
// before their index entries were committed.
func (s *Store) commit(written int) error {
	if s.noSync || written == 0 {
		return nil
	}
	if err := s.flush.sync(s.syncWAL); err != nil {
		return fmt.Errorf("blockstore: sync: %w", mapErr(err))
	}
	return nil
}

// syncWAL makes every batch committed so far durable with one fsync of the write-ahead
// log (pebble joins concurrent syncs into one as well).
func (s *Store) syncWAL() error { return s.db.LogData(nil, pebble.Sync) }

// blockKey is the pebble key of a block: the same key boxo's blockstore uses
// ("/blocks/" + base32 of the multihash), so both paths see the same data.
func blockKey(c cid.Cid) []byte {
	return bstore.BlockPrefix.Child(dshelpKey(c)).Bytes()
}

func mapErr(err error) error {
	if errors.Is(err, pebble.ErrClosed) {
		return ErrClosed
	}
	if errors.Is(err, syscall.ENOSPC) {
		return ErrDiskFull
	}
	var nf ipld.ErrNotFound
	if errors.As(err, &nf) || errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// quietLogger hands pebble's errors to an optional slog.Logger.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Infof(string, ...any) {}

func (q quietLogger) Errorf(format string, args ...any) {
	if q.l != nil {
		q.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (q quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("blockstore: pebble: "+format, args...))
}
