package compute

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// ErrMemory is wrapped when an execution asks for more memory than the node offers.
var ErrMemory = errors.New("node: not enough memory")

// MemPool reserves the memory of running executions out of the node's capacity: a
// weighted semaphore whose waiters are served first come, first served. A big
// reservation at the head is never passed by smaller ones behind it, so it is not
// starved; and since no reservation exceeds the capacity (larger ones are refused),
// every waiter is served once the executions ahead of it end.
type MemPool struct {
	mu       sync.Mutex
	capacity uint64
	used     uint64
	waiters  list.List // of *memWaiter, oldest first
}

type memWaiter struct {
	n     uint64
	ready chan struct{} // closed when the reservation is granted
}

func NewMemPool(capacity uint64) *MemPool { return &MemPool{capacity: capacity} }

// Acquire reserves n bytes, waiting until they are free or ctx ends.
func (p *MemPool) Acquire(ctx context.Context, n uint64) error {
	p.mu.Lock()
	if n > p.capacity {
		p.mu.Unlock()
		return fmt.Errorf("%w: needs %s of memory; this node offers %s", ErrMemory, job.FormatBytes(n), job.FormatBytes(p.capacity))
	}
	if p.waiters.Len() == 0 && p.used+n <= p.capacity {
		p.used += n
		p.mu.Unlock()
		return nil
	}
	w := &memWaiter{n: n, ready: make(chan struct{})}
	el := p.waiters.PushBack(w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		select {
		case <-w.ready: // granted as ctx ended: give it back
			p.used -= n
		default:
			p.waiters.Remove(el)
		}
		p.grant() // the head may have changed
		p.mu.Unlock()
		return ctx.Err()
	}
}

// Release returns n bytes reserved by acquire.
func (p *MemPool) Release(n uint64) {
	p.mu.Lock()
	p.used -= n
	p.grant()
	p.mu.Unlock()
}

// grant serves the waiters at the head whose reservations fit. p.mu is held.
func (p *MemPool) grant() {
	for el := p.waiters.Front(); el != nil; el = p.waiters.Front() {
		w := el.Value.(*memWaiter)
		if p.used+w.n > p.capacity {
			return
		}
		p.used += w.n
		p.waiters.Remove(el)
		close(w.ready)
	}
}

// Free is the memory no execution holds.
func (p *MemPool) Free() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.capacity - p.used
}

// Waiting is the number of reservations waiting for memory.
func (p *MemPool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiters.Len()
}
