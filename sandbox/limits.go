package sandbox

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryLimiter is an experimental.MemoryAllocator that refuses to grow a
// linear memory past limit bytes and records that it did, so that a run can
// say precisely that the memory limit stopped it.
type memoryLimiter struct {
	limit   uint64
	refused atomic.Bool
}

func (l *memoryLimiter) Allocate(capacity, max uint64) experimental.LinearMemory {
	return &linearMemory{l: l, max: min(max, l.limit), buf: make([]byte, 0, min(capacity, l.limit))}
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

func (m *linearMemory) Free() { m.buf = nil }

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
