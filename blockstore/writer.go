package blockstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

const (
	// batchBytes is how much a writer buffers before committing a pebble
	// batch. Above half the memtable pebble takes a batch as a flushable
	// batch instead of copying it into a memtable. Large raw leaves never
	// enter a batch (they are packed); dag-pb leaves of CIDv0 imports do.
	batchBytes = 32 << 20
	// packChunkBytes is how many bytes of packed blocks a writer buffers
	// before the committer appends them to a pack (one write, one fsync).
	packChunkBytes = 32 << 20
	// batchesInFlight bounds the chunks queued for the committer: memory
	// held by one import is about (batchesInFlight+2) * 32 MiB.
	batchesInFlight = 1
	// maxPendingLeaves bounds the set a writer keeps to skip leaves it has
	// already buffered (e.g. a file of zeros).
	maxPendingLeaves = 8192
)

// writer is the ipld.DAGService that boxo's importer and directory code
// write into. Raw blocks above packMinSize are copied into a pack buffer,
// everything else into a pebble batch. Full chunks go to a committer
// goroutine, so hashing and storing overlap: it appends the pack buffer to a
// pack file and fsyncs it, then commits the batch with the pack index
// entries for those bytes (unsynced). done waits for it and makes the
// pebble writes durable. An index entry is thus never committed, let alone
// flushed, before the bytes it points at are on disk. Not safe for
// concurrent use.
type writer struct {
	s       *Store
	ctx     context.Context
	hold    *Hold
	ownHold bool // hold was started for this writer: released by done/abort
	batch   *pebble.Batch
	pack    []byte       // packed blocks waiting for the committer
	leaves  []packedLeaf // what pack holds
	pending map[string]struct{}
	written int
	discard bool

	queue chan chunk
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error // first commit error
}

type packedLeaf struct {
	h   []byte // multihash
	off int    // in the pack buffer
	n   int
}

// chunk is one unit of work for the committer.
type chunk struct {
	batch  *pebble.Batch
	pack   []byte
	leaves []packedLeaf
}

var _ ipld.DAGService = (*writer)(nil)

// newWriter starts a write call. What it writes is held (see Hold) under
// the hold ctx carries, or under a hold of its own until done or abort.
func (s *Store) newWriter(ctx context.Context) *writer {
	w := &writer{s: s, ctx: ctx, hold: s.holdFrom(ctx)}
	if w.hold == nil {
		w.hold, w.ownHold = s.Hold(), true
	}
	w.hold.writing()
	return w
}

// packBufs recycles pack buffers between chunks and writers.
var packBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, packChunkBytes+defaultChunkSize)
	return &b
}}

func (w *writer) put(c cid.Cid, data []byte) error {
	if w.discard {
		return nil
	}
	if err := w.failed(); err != nil {
		return err
	}
	if packable(c.Type(), len(data)) {
		return w.putPacked(c, data)
	}
	w.hold.touch(c.Hash())
	if w.batch == nil {
		w.batch = w.s.db.NewBatch()
	}
	if err := w.batch.Set(blockKey(c), data, nil); err != nil {
		return fmt.Errorf("blockstore: put %s: %w", c, mapErr(err))
	}
	w.written += len(data)
	if w.batch.Len() >= batchBytes {
		w.send()
	}
	return nil
}

func (w *writer) putPacked(c cid.Cid, data []byte) error {
	// Counted even when skipped: the entry found may be another writer's,
	// committed but not yet durable, and done's log sync makes it so.
	w.written += len(data)
	h := c.Hash()
	if _, ok := w.pending[string(h)]; ok {
		return nil
	}
	if ok, err := w.reuse(h); err != nil {
		return fmt.Errorf("blockstore: put %s: %w", c, err)
	} else if ok {
		return nil // packed already
	}
	if w.pack == nil {
		w.pack = (*packBufs.Get().(*[]byte))[:0]
	}
	if w.pending == nil || len(w.pending) >= maxPendingLeaves {
		w.pending = make(map[string]struct{})
	}
	w.pending[string(h)] = struct{}{}
	w.leaves = append(w.leaves, packedLeaf{h: h, off: len(w.pack), n: len(data)})
	w.pack = append(w.pack, data...)
	if len(w.pack) >= packChunkBytes {
		w.send()
	}
	return nil
}

// reuse reports whether the packed block h is stored already, and if so
// holds it: it is touched (see Hold.touch) and then looked up again, so a
// GC sweep either sees the touch or has deleted it before the second look.
func (w *writer) reuse(h []byte) (bool, error) {
	if _, ok, err := w.s.locate(h); err != nil || !ok {
		return false, err
	}
	w.hold.touch(h)
	_, ok, err := w.s.locate(h)
	return ok, err
}

// send hands the current batch and pack buffer to the committer goroutine.
func (w *writer) send() {
	if w.batch == nil && w.pack == nil {
		return
	}
	if w.queue == nil {
		w.queue = make(chan chunk, batchesInFlight)
		w.wg.Add(1)
		go w.commitLoop()
	}
	w.queue <- chunk{batch: w.batch, pack: w.pack, leaves: w.leaves}
	w.batch, w.pack, w.leaves = nil, nil, nil
}

func (w *writer) commitLoop() {
	defer w.wg.Done()
	for ch := range w.queue {
		if w.failed() == nil {
			if err := w.commitChunk(ch); err != nil {
				err = mapErr(err)
				if !errors.Is(err, ErrRepoFull) && !errors.Is(err, ErrDiskFull) {
					err = fmt.Errorf("blockstore: write: %w", err)
				}
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
			}
		}
		if ch.batch != nil {
			_ = ch.batch.Close()
		}
		if ch.pack != nil {
			putPackBuf(ch.pack)
		}
	}
}

// commitChunk makes the chunk's packed bytes durable, then commits its
// batch and their index entries.
func (w *writer) commitChunk(ch chunk) error {
	n := int64(len(ch.pack))
	if ch.batch != nil {
		n += int64(ch.batch.Len())
	}
	if err := w.s.admit(w.ctx, n); err != nil {
		return err
	}
	if len(ch.leaves) > 0 {
		id, base, err := w.s.packs.write(ch.pack)
		if err != nil {
			return err
		}
		defer w.s.packs.release(id)
		if testHookPackWritten != nil {
			testHookPackWritten()
		}
		if ch.batch == nil {
			ch.batch = w.s.db.NewBatch()
		}
		for _, l := range ch.leaves {
			loc := packLoc{id: id, off: base + int64(l.off), n: int64(l.n)}
			if err := ch.batch.Set(packKey(l.h), loc.encode(), nil); err != nil {
				return err
			}
		}
	}
	if ch.batch == nil {
		return nil
	}
	return ch.batch.Commit(pebble.NoSync)
}

// testHookPackWritten, if set, runs between a pack write and the commit of
// its index entries.
var testHookPackWritten func()

func putPackBuf(b []byte) {
	b = b[:0]
	packBufs.Put(&b)
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// drain commits the current chunk and waits for the committer.
func (w *writer) drain() error {
	w.send()
	if w.queue != nil {
		close(w.queue)
		w.wg.Wait()
		w.queue = nil
	}
	w.pending = nil
	return w.failed()
}

// done commits everything buffered and makes all of it durable.
func (w *writer) done() error {
	defer w.endHold()
	if err := w.drain(); err != nil {
		return err
	}
	err := w.s.commit(w.written)
	w.written = 0
	return err
}

func (w *writer) endHold() {
	if w.ownHold {
		w.hold.Release()
	}
}

// abort drops what is buffered and not yet committed; blocks already
// committed stay (they are content-addressed and harmless).
func (w *writer) abort() {
	if w.batch != nil {
		_ = w.batch.Close()
		w.batch = nil
	}
	if w.pack != nil {
		putPackBuf(w.pack)
		w.pack, w.leaves = nil, nil
	}
	_ = w.drain()
	w.endHold()
}

func (w *writer) Add(ctx context.Context, n ipld.Node) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, ok := n.(*linkNode); ok {
		return nil // stored already, or elsewhere: only its link is needed
	}
	return w.put(n.Cid(), n.RawData())
}

func (w *writer) AddMany(ctx context.Context, ns []ipld.Node) error {
	for _, n := range ns {
		if err := w.Add(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) Get(ctx context.Context, c cid.Cid) (ipld.Node, error) {
	if err := w.drain(); err != nil {
		return nil, err
	}
	var n ipld.Node
	err := localGetter{w.s}.viewBlock(ctx, c, func(data []byte) error {
		var err error
		n, err = decodeNode(c, append([]byte(nil), data...))
		return err
	})
	return n, err
}

func (w *writer) GetMany(ctx context.Context, cs []cid.Cid) <-chan *ipld.NodeOption {
	out := make(chan *ipld.NodeOption, len(cs))
	for _, c := range cs {
		n, err := w.Get(ctx, c)
		out <- &ipld.NodeOption{Node: n, Err: err}
	}
	close(out)
	return out
}

// Remove is a no-op: blocks are content-addressed and may be shared.
func (w *writer) Remove(context.Context, cid.Cid) error { return nil }

// RemoveMany is a no-op, as Remove.
func (w *writer) RemoveMany(context.Context, []cid.Cid) error { return nil }
