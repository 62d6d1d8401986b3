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
// say precisely that the memory limit stopped it. It takes its regions from
// pool and gives them back on release.
type memoryLimiter struct {
	limit   uint64
	pool    *memoryPool
	refused atomic.Bool
	// startNeed is the size of a memory refused before it ever had any:
	// what the module needs to start, when that is over the limit.
	startNeed atomic.Uint64

	mu       sync.Mutex
	memories []*linearMemory
}

func (l *memoryLimiter) Allocate(capacity, max uint64) experimental.LinearMemory {
	max = min(max, l.limit)
	r := l.pool.get(max)
	if r == nil {
		r = newRegion(min(capacity, max), max)
	}
	m := &linearMemory{l: l, max: max, r: r}
	l.mu.Lock()
	l.memories = append(l.memories, m)
	l.mu.Unlock()
	return m
}

// release gives the memories back to the pool, which keeps small ones and
// returns the others to the OS. It must be called once no guest can run
// any more: wazero's Free may come while one still does
// (WithCloseOnContextDone closes the module from another goroutine), so
// Free does nothing, and release recycles the memory. After release, no
// slice a memory handed out may be touched: its pages may be unmapped.
func (l *memoryLimiter) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.memories {
		l.pool.put(m.r)
		m.r = nil
	}
	l.memories = nil
}

type linearMemory struct {
	l     *memoryLimiter
	max   uint64
	r     region
	grown bool // a Reallocate succeeded
}

// Reallocate grows the memory to size bytes, or returns nil past the limit,
// which the guest sees as memory.grow returning -1.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		m.l.refused.Store(true)
		if !m.grown {
			m.l.startNeed.Store(size)
		}
		return nil
	}
	b := m.r.grow(size)
	m.grown = m.grown || b != nil
	return b
}

func (m *linearMemory) Free() {}

// region is the memory behind one linear memory: on Linux an address range
// reserved up front and made usable as the guest grows (see
// memory_linux.go), elsewhere or as a fallback a Go slice.
type region interface {
	// grow returns the first size bytes, all usable, or nil if they cannot
	// be had. Bytes the guest has not written yet are zero.
	grow(size uint64) []byte
	// reserved is the most grow can return without moving the memory.
	reserved() uint64
	// exposed is how many bytes, from the start, grow has ever made
	// usable: all a guest can have written.
	exposed() uint64
	// scrub zeroes the exposed bytes, for the next guest.
	scrub()
	// free gives the memory back; the region is not used afterwards.
	free()
}

// heapRegion is a region on the Go heap. It grows by doubling with a copy,
// and the old buffer lives until the garbage collector finds it: a guest
// may cost up to twice its memory for a while. It is the fallback where
// address space cannot be reserved.
type heapRegion struct {
	buf []byte
	max uint64
}

func newHeapRegion(capacity, max uint64) *heapRegion {
	return &heapRegion{buf: make([]byte, 0, capacity), max: max}
}

func (r *heapRegion) grow(size uint64) []byte {
	if size <= uint64(cap(r.buf)) {
		r.buf = r.buf[:max(size, uint64(len(r.buf)))]
		return r.buf[:size]
	}
	// Double, as append would, so that a guest growing page by page does
	// not copy its whole memory every time.
	nb := make([]byte, size, min(max(size, 2*uint64(cap(r.buf))), max(r.max, size)))
	copy(nb, r.buf)
	r.buf = nb
	return nb
}

func (r *heapRegion) reserved() uint64 { return max(r.max, uint64(cap(r.buf))) }
func (r *heapRegion) exposed() uint64  { return uint64(len(r.buf)) }
func (r *heapRegion) scrub()           { clear(r.buf) }
func (r *heapRegion) free()            { r.buf = nil }

// Bounds on what a memoryPool keeps.
const (
	poolMemory = 64 << 20 // the largest memory kept, in exposed bytes
	poolTotal  = 64 << 20 // all memories kept
)

// memoryPool keeps the linear memories of finished runs for the next ones,
// zeroed. A Go guest grows its memory to some 8 MiB just to start; mapping
// that afresh for every run, faulting its pages in and giving them back
// cost as much CPU as running a hello world, and zeroing a kept memory
// costs a fraction of that. Larger memories are given back to the OS.
type memoryPool struct {
	mu    sync.Mutex
	free  []region // scrubbed
	bytes uint64   // their exposed bytes
}

// get returns a kept region that can grow to max bytes without moving,
// the one with the most exposed (already faulted in) bytes, or nil.
func (p *memoryPool) get(max uint64) region {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1
	for i, r := range p.free {
		if r.reserved() >= max && (best < 0 || r.exposed() > p.free[best].exposed()) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	r := p.free[best]
	p.free[best] = p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.bytes -= r.exposed()
	return r
}

// put keeps r, a memory no guest uses any more, if it is small and there
// is room, or frees it.
func (p *memoryPool) put(r region) {
	n := r.exposed()
	if p == nil || n == 0 || n > poolMemory {
		r.free()
		return
	}
	p.mu.Lock()
	if p.bytes+n > poolTotal {
		p.mu.Unlock()
		r.free()
		return
	}
	p.bytes += n // taken now, so that two puts cannot overfill the pool
	p.mu.Unlock()
	r.scrub()
	p.mu.Lock()
	p.free = append(p.free, r)
	p.mu.Unlock()
}

// drain frees every kept memory.
func (p *memoryPool) drain() {
	p.mu.Lock()
	free := p.free
	p.free, p.bytes = nil, 0
	p.mu.Unlock()
	for _, r := range free {
		r.free()
	}
}

// wasmPage is the unit of WebAssembly linear memory: the smallest limit.
const wasmPage = 64 << 10

// memoryReason is Result.Reason when the memory limit stopped a guest.
func memoryReason(limit uint64) string {
	return "memory limit of " + formatBytes(limit) + " exceeded"
}

// startMemoryReason is Result.Reason when a module's initial memory, need
// bytes, is over the limit.
func startMemoryReason(need, limit uint64) string {
	return "module needs " + formatBytes(need) + " of memory to start; the limit is " + formatBytes(limit)
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

// CappedWriter passes at most a limit of bytes on to its writer and silently
// discards the rest, so that a guest writing forever neither fills the host nor
// sees an error it might handle differently from run to run. Truncated says
// whether anything was discarded. The wasmtime engine caps its guests' output
// with it too.
type CappedWriter struct {
	w         io.Writer
	left      int64
	truncated bool
}

// NewCappedWriter caps w (nil: io.Discard) at limit bytes.
func NewCappedWriter(w io.Writer, limit int64) *CappedWriter {
	if w == nil {
		w = io.Discard
	}
	return &CappedWriter{w: w, left: limit}
}

// Truncated reports whether bytes past the limit were discarded.
func (c *CappedWriter) Truncated() bool { return c.truncated }

func (c *CappedWriter) Write(p []byte) (int, error) {
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
