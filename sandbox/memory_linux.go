package sandbox

import (
	"os"
	"syscall"
)

// osPage is the granularity of mprotect.
var osPage = uint64(os.Getpagesize())

// mmapRegion is a region of address space reserved for a linear memory's
// largest size (PROT_NONE, MAP_NORESERVE: it costs neither memory nor
// commit charge) and made readable and writable from its start as the
// guest grows. Growing never copies and never moves the memory; only the
// pages the guest touches are resident; free unmaps it all at once, so the
// memory goes back to the OS when the run ends rather than when the
// garbage collector and scavenger get to it.
type mmapRegion struct {
	mem []byte // the whole reservation
	rw  uint64 // bytes readable and writable, from the start
}

// newRegion reserves limit bytes of address space, or falls back to the
// Go heap if the OS refuses (a ulimit on address space, say).
func newRegion(capacity, limit uint64) region {
	size := roundUp(max(limit, 1), osPage)
	if size > uint64(^uint(0)>>1) {
		return newHeapRegion(capacity, limit)
	}
	mem, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_NONE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return newHeapRegion(capacity, limit)
	}
	return &mmapRegion{mem: mem}
}

func roundUp(n, to uint64) uint64 { return (n + to - 1) / to * to }

func (r *mmapRegion) grow(size uint64) []byte {
	if size > uint64(len(r.mem)) {
		return nil
	}
	if size > r.rw {
		end := min(roundUp(size, osPage), uint64(len(r.mem)))
		if err := syscall.Mprotect(r.mem[r.rw:end], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		r.rw = end
	}
	return r.mem[:size:size]
}

func (r *mmapRegion) reserved() uint64 { return uint64(len(r.mem)) }
func (r *mmapRegion) exposed() uint64  { return r.rw }
func (r *mmapRegion) scrub()           { clear(r.mem[:r.rw]) }

func (r *mmapRegion) free() {
	if r.mem != nil {
		_ = syscall.Munmap(r.mem)
		r.mem, r.rw = nil, 0
	}
}
