package blockstore

import (
	"context"
	"errors"
	"sync"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

const (
	// storerMaxPending bounds the bytes of fetched blocks waiting to be
	// made durable; a fetch that would go past it waits.
	storerMaxPending = 64 << 20
	// storerMaxBatch bounds the bytes committed by one writer (one pack
	// write and fsync per 32 MiB, one log sync at the end).
	storerMaxBatch = 64 << 20
)

// storer makes blocks fetched from peers durable through the store's write
// path, off the reader's path: a reader gets a block as soon as it arrives,
// while a goroutine batches blocks into writers (pack files for large raw
// leaves, pebble for the rest) and syncs once per batch instead of once per
// block. Until a block is committed it is served from memory (pending), so
// the local getter, bitswap's server and Has all see it at once.
//
// Blocks handed to add must already be verified against their CIDs.
type storer struct {
	s        *Store
	notify   func([]blocks.Block) // after a batch is durable; may be nil
	mu       sync.Mutex
	pending  map[string]blocks.Block // by multihash
	bytes    int
	queue    []blocks.Block
	added    uint64        // blocks ever queued
	done     uint64        // blocks ever committed (or failed)
	err      error         // first commit error
	progress chan struct{} // closed and replaced after every batch
	wake     chan struct{} // 1-buffered: work is queued
	closed   bool
	exited   chan struct{}
}

var errStorerClosed = errors.New("blockstore: exchange closed")

func newStorer(s *Store, notify func([]blocks.Block)) *storer {
	st := &storer{
		s:        s,
		notify:   notify,
		pending:  map[string]blocks.Block{},
		progress: make(chan struct{}),
		wake:     make(chan struct{}, 1),
		exited:   make(chan struct{}),
	}
	return st
}

// start runs the committing goroutine; close stops it.
func (st *storer) start() { go st.run() }

// add queues a verified block. It waits while too many bytes are pending.
func (st *storer) add(ctx context.Context, b blocks.Block) error {
	for {
		st.mu.Lock()
		if st.closed {
			st.mu.Unlock()
			return errStorerClosed
		}
		key := string(b.Cid().Hash())
		if _, ok := st.pending[key]; ok {
			st.mu.Unlock()
			return nil
		}
		if st.bytes < storerMaxPending {
			st.pending[key] = b
			st.bytes += len(b.RawData())
			st.queue = append(st.queue, b)
			st.added++
			st.mu.Unlock()
			select {
			case st.wake <- struct{}{}:
			default:
			}
			return nil
		}
		ch := st.progress
		st.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (st *storer) pendingHas(c cid.Cid) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	_, ok := st.pending[string(c.Hash())]
	return ok
}

func (st *storer) pendingGet(c cid.Cid) (blocks.Block, bool) {
	st.mu.Lock()
	b, ok := st.pending[string(c.Hash())]
	st.mu.Unlock()
	if !ok {
		return nil, false
	}
	if !b.Cid().Equals(c) { // same multihash, another codec or version
		nb, err := blocks.NewBlockWithCid(b.RawData(), c)
		if err != nil {
			return nil, false
		}
		b = nb
	}
	return b, true
}

// sync waits until every block added before it was called is durable, and
// returns the first error any commit met.
func (st *storer) sync(ctx context.Context) error {
	st.mu.Lock()
	target := st.added
	for st.done < target {
		ch := st.progress
		st.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		st.mu.Lock()
	}
	err := st.err
	st.mu.Unlock()
	return err
}

func (st *storer) run() {
	defer close(st.exited)
	for {
		st.mu.Lock()
		for len(st.queue) == 0 && !st.closed {
			st.mu.Unlock()
			<-st.wake
			st.mu.Lock()
		}
		if len(st.queue) == 0 && st.closed {
			st.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(st.queue) && size < storerMaxBatch {
			size += len(st.queue[n].RawData())
			n++
		}
		batch := st.queue[:n:n]
		st.queue = st.queue[n:]
		st.mu.Unlock()

		err := st.commit(batch)

		st.mu.Lock()
		for _, b := range batch {
			key := string(b.Cid().Hash())
			if st.pending[key] == b {
				delete(st.pending, key)
				st.bytes -= len(b.RawData())
			}
		}
		if err != nil && st.err == nil {
			st.err = err
		}
		st.done += uint64(len(batch))
		close(st.progress)
		st.progress = make(chan struct{})
		st.mu.Unlock()
		if err == nil && st.notify != nil {
			st.notify(batch)
		}
	}
}

func (st *storer) commit(batch []blocks.Block) error {
	w := st.s.newWriter(context.Background())
	for _, b := range batch {
		if err := w.put(b.Cid(), b.RawData()); err != nil {
			w.abort()
			return err
		}
	}
	return w.done()
}

// close stops accepting blocks, commits what is queued and waits.
func (st *storer) close() error {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
	<-st.exited
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}
