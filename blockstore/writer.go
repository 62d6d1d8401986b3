package blockstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

const (
	// batchBytes is how much a writer buffers before committing a pebble
	// batch. It is at least half the default memtable, so pebble hands the
	// batch to a flush as is instead of copying it into a memtable.
	batchBytes = 32 << 20
	// batchesInFlight bounds the batches queued for the committer: memory
	// held by one import is about (batchesInFlight+2) * batchBytes.
	batchesInFlight = 1
)

// writer is the ipld.DAGService that boxo's importer and directory code
// write into. Nodes go into a pebble batch; full batches are committed
// (unsynced) by a goroutine, so hashing and storing overlap; done waits for
// them and makes everything durable. Not safe for concurrent use.
type writer struct {
	s       *Store
	batch   *pebble.Batch
	written int
	discard bool

	queue chan *pebble.Batch
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error // first commit error
}

var _ ipld.DAGService = (*writer)(nil)

func (s *Store) newWriter() *writer { return &writer{s: s} }

func (w *writer) put(c cid.Cid, data []byte) error {
	if w.discard {
		return nil
	}
	if err := w.failed(); err != nil {
		return err
	}
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

// send hands the current batch to the committer goroutine.
func (w *writer) send() {
	if w.batch == nil {
		return
	}
	if w.queue == nil {
		w.queue = make(chan *pebble.Batch, batchesInFlight)
		w.wg.Add(1)
		go w.commitLoop()
	}
	w.queue <- w.batch
	w.batch = nil
}

func (w *writer) commitLoop() {
	defer w.wg.Done()
	for b := range w.queue {
		if w.failed() == nil {
			if err := b.Commit(pebble.NoSync); err != nil {
				w.mu.Lock()
				w.err = fmt.Errorf("blockstore: write: %w", mapErr(err))
				w.mu.Unlock()
			}
		}
		_ = b.Close()
	}
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// drain commits the current batch and waits for the committer.
func (w *writer) drain() error {
	w.send()
	if w.queue != nil {
		close(w.queue)
		w.wg.Wait()
		w.queue = nil
	}
	return w.failed()
}

// done commits everything buffered and makes all of it durable.
func (w *writer) done() error {
	if err := w.drain(); err != nil {
		return err
	}
	err := w.s.commit(w.written)
	w.written = 0
	return err
}

// abort drops what is buffered and not yet committed; blocks already
// committed stay (they are content-addressed and harmless).
func (w *writer) abort() {
	if w.batch != nil {
		_ = w.batch.Close()
		w.batch = nil
	}
	_ = w.drain()
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
