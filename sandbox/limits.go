package sandbox

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryLimiter is an experimental.MemoryAllocator that refuses to grow a
// linear memory past limit bytes and records that it did, so that a run can
// say precisely that the memory limit stopped it. It takes its buffers from
// pool and gives them back on release.
type memoryLimiter struct {
	limit   uint64
	pool    *memoryPool
	refused atomic.Bool

	mu       sync.Mutex
	memories []*linearMemory
}

func (l *memoryLimiter) Allocate(capacity, max uint64) experimental.LinearMemory {
	capacity = min(capacity, l.limit)
	buf := l.pool.get(capacity)
	if buf == nil {
		buf = make([]byte, 0, capacity)
	}
	m := &linearMemory{l: l, max: min(max, l.limit), buf: buf}
	l.mu.Lock()
	l.memories = append(l.memories, m)
	l.mu.Unlock()
	return m
}

// release gives the memories back to the pool. It must be called once no
// guest can run any more: wazero's Free may come while one still does
// (WithCloseOnContextDone closes the module from another goroutine), so
// Free only drops the memory from the instance, and release recycles it.
func (l *memoryLimiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.memories {
		l.pool.put(m.buf)
		m.buf = nil
	}
	l.memories = nil
}

type linearMemory struct {
	l   *memoryLimiter
	max uint64
	buf []byte
}

// Reallocate grows the memory to size bytes, or returns nil past the limit,
// which the guest sees as memory.grow returning -1.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		m.l.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Double, as append would, so that a guest growing page by page does
	// not copy its whole memory every time.
	nb := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.max))
	copy(nb, m.buf)
	m.buf = nb
	return nb
}

func (m *linearMemory) Free() {}

// Bounds on what a memoryPool keeps.
const (
	poolMemory = 64 << 20 // the largest memory kept
	poolTotal  = 64 << 20 // all memories kept
)

// memoryPool keeps the linear memories of finished runs for the next ones,
// zeroed. A Go guest grows its memory to some 8 MiB just to start; making
// that afresh for every run, growing it by copying and collecting it after
// cost as much CPU as running a hello world, and zeroing a kept buffer
// costs a fraction of that.
type memoryPool struct {
	mu    sync.Mutex
	free  [][]byte // all zero up to their capacity, length 0
	bytes uint64
}

// get returns the smallest kept buffer that holds capacity bytes, or nil.
func (p *memoryPool) get(capacity uint64) []byte {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1
	for i, b := range p.free {
		if uint64(cap(b)) >= capacity && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := p.free[best]
	p.free[best] = p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.bytes -= uint64(cap(b))
	return b
}

// put keeps b, a memory no guest uses any more, if there is room. Only its
// first len(b) bytes can have been written: the guest never saw the rest.
func (p *memoryPool) put(b []byte) {
	if p == nil || cap(b) == 0 || cap(b) > poolMemory {
		return
	}
	clear(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes+uint64(cap(b)) > poolTotal {
		return
	}
	p.free = append(p.free, b[:0])
	p.bytes += uint64(cap(b))
}

// memoryReason is Result.Reason when the memory limit stopped a guest.
func memoryReason(limit uint64) string {
	return "memory limit of " + formatBytes(limit) + " exceeded"
}

func formatBytes(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// cappedWriter passes at most left bytes on to w and silently discards the
// rest, so that a guest writing forever neither fills the host nor sees an
// error it might handle differently from run to run.
type cappedWriter struct {
	w         io.Writer
	left      int64
	truncated bool
}

func newCappedWriter(w io.Writer, limit int64) *cappedWriter {
	if w == nil {
		w = io.Discard
	}
	return &cappedWriter{w: w, left: limit}
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	n := len(p)
	if int64(n) > c.left {
		c.truncated = true
		p = p[:c.left]
	}
	if len(p) > 0 {
		k, err := c.w.Write(p)
		c.left -= int64(k)
		if err != nil {
			return k, err
		}
	}
	return n, nil
}
