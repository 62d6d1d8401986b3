//go:build !linux

package sandbox

// newRegion returns a region on the Go heap: reserving address space is
// done on Linux only (memory_linux.go).
func newRegion(capacity, limit uint64) region { return newHeapRegion(capacity, limit) }
