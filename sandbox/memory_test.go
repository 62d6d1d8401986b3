package sandbox

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestGuestMemoryCostsWhatItTouches runs a guest that builds up 256 MiB, 1
// MiB at a time, under a limit of 1 GiB: while it holds them the process
// has about 256 MiB more resident, not twice that, and once it ends they
// are given back to the OS at once (no FreeOSMemory here: a node does not
// call it either).
func TestGuestMemoryCostsWhatItTouches(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/self/status (Linux) to read the resident set size")
	}
	const mib = 256
	s := newSandbox(t, Options{})
	task, _, _ := guestTask(t, "hold", strconv.Itoa(mib))
	task.MemoryLimit = 1 << 30
	if err := s.Precompile(context.Background(), task.ModuleKey, task.Module); err != nil {
		t.Fatal(err)
	}
	in := make(gate)
	ready := newSignalWriter()
	task.WASI.Stdin, task.WASI.Stdout = in, ready
	base := settledRSS(t)
	done := make(chan Result, 1)
	go func() { done <- run(t, s, task) }()
	<-ready.ready
	held := vmRSS(t)
	in.open()
	if res := <-done; res != (Result{}) {
		t.Fatalf("Run() = %+v", res)
	}
	runtime.GC()
	after := vmRSS(t)
	t.Logf("RSS %d MiB before, %d MiB (%+d) while the guest holds %d MiB, %d MiB (%+d) after",
		base>>20, held>>20, (int64(held)-int64(base))>>20, mib, after>>20, (int64(after)-int64(base))>>20)
	// The guest's Go runtime adds its own heap metadata and spare arenas to
	// the 256 MiB; twice the memory must fail.
	if grew := int64(held) - int64(base); grew > mib<<20*3/2 {
		t.Errorf("RSS grew by %d MiB while the guest held %d MiB, want under %d MiB", grew>>20, mib, mib*3/2)
	}
	if kept := int64(after) - int64(base); kept > mib<<20/4 {
		t.Errorf("RSS is still %d MiB above where it was after the guest ended, want under %d MiB", kept>>20, mib/4)
	}
}

// TestRegions checks both kinds of region: growing keeps the bytes
// written, never passes the reservation, and scrubbing zeroes all that was
// ever exposed.
func TestRegions(t *testing.T) {
	const page = 64 << 10
	for name, newR := range map[string]func() region{
		"os":   func() region { return newRegion(page, 16*page) },
		"heap": func() region { return newHeapRegion(page, 16*page) },
	} {
		t.Run(name, func(t *testing.T) {
			r := newR()
			defer r.free()
			if r.reserved() < 16*page {
				t.Fatalf("reserved() = %d, want at least %d", r.reserved(), 16*page)
			}
			b := r.grow(page)
			if len(b) != page {
				t.Fatalf("grow(%d) returned %d bytes", page, len(b))
			}
			b[0], b[page-1] = 1, 2
			b = r.grow(8 * page)
			if len(b) != 8*page || b[0] != 1 || b[page-1] != 2 || b[8*page-1] != 0 {
				t.Fatalf("grow(8 pages): %d bytes, first %d, last of the first page %d, last %d", len(b), b[0], b[page-1], b[8*page-1])
			}
			b[8*page-1] = 3
			if r.exposed() < 8*page {
				t.Errorf("exposed() = %d after growing to %d", r.exposed(), 8*page)
			}
			r.scrub()
			b = r.grow(8 * page)
			for i, v := range b {
				if v != 0 {
					t.Fatalf("byte %d is %d after scrub", i, v)
				}
			}
			if _, ok := r.(*mmapRegion); ok && r.grow(17*page) != nil {
				t.Error("grow past the reservation succeeded")
			}
		})
	}
}

// TestPoolKeepsOnlySmallMemories: a memory over poolMemory goes back to
// the OS when its run ends, a small one is kept, within poolTotal.
func TestPoolKeepsOnlySmallMemories(t *testing.T) {
	var p memoryPool
	big := newRegion(0, 2*poolMemory)
	big.grow(poolMemory + 1<<16)
	p.put(big)
	if len(p.free) != 0 {
		t.Fatalf("the pool kept a memory of %d bytes, over its bound of %d", big.exposed(), poolMemory)
	}
	if r, ok := big.(*mmapRegion); ok && r.mem != nil {
		t.Error("the large memory was not unmapped")
	}
	for range 3 {
		r := newRegion(0, poolMemory)
		r.grow(poolTotal / 2)
		p.put(r)
	}
	if len(p.free) != 2 || p.bytes > poolTotal {
		t.Errorf("the pool keeps %d memories, %d bytes; want 2, at most %d", len(p.free), p.bytes, poolTotal)
	}
	r := p.get(poolMemory)
	if r == nil || r.exposed() != poolTotal/2 {
		t.Fatalf("get() = %v, want a kept memory", r)
	}
	r.free()
	p.drain()
	if len(p.free) != 0 || p.bytes != 0 {
		t.Errorf("after drain: %d memories, %d bytes", len(p.free), p.bytes)
	}
}

// TestMemoryLimitBelowOnePage: a limit under one page is refused up front
// with the minimum, rather than run as "0 bytes".
func TestMemoryLimitBelowOnePage(t *testing.T) {
	s := newSandbox(t, Options{})
	task, _, _ := guestTask(t, "hello")
	task.MemoryLimit = 1000
	res, err := s.Run(context.Background(), task)
	want := "sandbox: invalid guest: memory limit 1000 bytes is below the minimum of 64 KiB (one WebAssembly page)"
	if !errors.Is(err, ErrInvalidGuest) || err.Error() != want {
		t.Fatalf("Run() = %+v, %v; want %q", res, err, want)
	}
}

// TestModuleNeedsMoreMemoryToStart: a module whose initial memory is over
// the limit says both figures, whether its memory is exported or not.
func TestModuleNeedsMoreMemoryToStart(t *testing.T) {
	module := func(exported bool) []byte {
		exports := [][]byte{export("_start", 0, 0)}
		if exported {
			exports = append(exports, export("memory", 2, 0))
		}
		return wasmModule(
			sec(secType, vec(typeVoid)),
			sec(secFunction, vec([]byte{0})),
			sec(secMemory, vec([]byte{0, 4})), // 4 pages: 256 KiB
			sec(secExport, vec(exports...)),
			sec(secCode, vec(body([]byte{0}, []byte{0x0B}))),
		)
	}
	s := newSandbox(t, Options{})
	for _, exported := range []bool{true, false} {
		task := bytesTask("needs-256k-"+strconv.FormatBool(exported), module(exported))
		task.MemoryLimit = 128 << 10
		want := Result{ExitCode: ExitCodeAbnormal, Stop: StopMemory, Reason: "module needs 256 KiB of memory to start; the limit is 128 KiB"}
		if res := run(t, s, task); res != want {
			t.Errorf("exported memory %v: Run() = %+v, want %+v", exported, res, want)
		}
		task.MemoryLimit = 256 << 10
		if res := run(t, s, task); res != (Result{}) {
			t.Errorf("exported memory %v, limit 256 KiB: Run() = %+v", exported, res)
		}
	}
}
