// Package heapfloor keeps the garbage collector's heap goal at or above a floor while
// work that makes much short-lived garbage is running, such as the gateway streaming a
// file: every 256 KiB block read is garbage once sent. With the node's small live heap
// (about 12 MB) Go's default GOGC=100 collected every ~10 MB, 20-25 times per 256 MiB
// served; a 64 MiB floor makes that about 5, as in a process with a larger heap (kubo).
// Outside a hold the process's own GOGC applies, so an idle node stays small.
//
//	release := heapfloor.Hold(64 << 20)
//	defer release()
//	// ... stream the file ...
package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the GOGC a floor sets, whatever the live heap.
const maxPercent = 10000

// A process has one GOGC, so one set of holds: the floor in force is the highest held.
var state struct {
	mu    sync.Mutex
	base  int            // the GOGC found at the first hold; < 0 (GOGC=off): no floor
	holds map[uint64]int // floor -> holds of it
	armed bool           // a cleanup waits for the next collection
}

// Hold raises the heap goal to at least bytes (0: no floor) until release is called
// (once; more calls do nothing). While any hold is in force GOGC is set again after
// every collection, as the live heap moves; when the last is released, the GOGC the
// first found is back.
func Hold(bytes uint64) (release func()) {
	if bytes == 0 {
		return func() {}
	}
	state.mu.Lock()
	if len(state.holds) == 0 {
		state.base = debug.SetGCPercent(100)
		debug.SetGCPercent(state.base)
		state.holds = map[uint64]int{}
	}
	if state.base < 0 {
		state.mu.Unlock()
		return func() {}
	}
	state.holds[bytes]++
	tuneLocked()
	state.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			state.mu.Lock()
			defer state.mu.Unlock()
			if state.holds[bytes]--; state.holds[bytes] == 0 {
				delete(state.holds, bytes)
			}
			if len(state.holds) == 0 {
				debug.SetGCPercent(state.base)
			} else {
				tuneLocked()
			}
		})
	}
}

// tuneLocked sets GOGC for the live heap now, and arms a cleanup that runs it again
// after the next collection, while a floor is held.
func tuneLocked() {
	var floor uint64
	for b := range state.holds {
		floor = max(floor, b)
	}
	if floor == 0 {
		return
	}
	debug.SetGCPercent(percent(floor, liveHeap(), state.base))
	if !state.armed {
		state.armed = true
		runtime.AddCleanup(new(sentinel), func(struct{}) {
			state.mu.Lock()
			state.armed = false
			tuneLocked()
			state.mu.Unlock()
		}, struct{}{})
	}
}

// sentinel is allocated to learn when a collection has happened: it is unreachable
// at once, and its cleanup runs after the collection that frees it. Big enough not to
// be a tiny allocation, whose cleanups may never run.
type sentinel struct{ _ [64]byte }

// percent is the GOGC whose heap goal, live*(1+p/100), reaches floor: never below
// base, never above maxPercent.
func percent(floor, live uint64, base int) int {
	if live == 0 {
		live = 1 << 20
	}
	if floor <= live {
		return base
	}
	p := (floor-live)*100/live + 1
	if p > maxPercent {
		p = maxPercent
	}
	return max(base, int(p))
}

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// liveHeap is the heap marked live by the last collection (state.mu held).
func liveHeap() uint64 {
	metrics.Read(liveSample)
	if liveSample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return liveSample[0].Value.Uint64()
}
