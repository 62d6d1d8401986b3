package heapfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func gogc() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		floor, live uint64
		base, want  int
	}{
		{64 << 20, 16 << 20, 100, 301}, // goal 16*(1+3.01) MiB >= 64 MiB
		{64 << 20, 64 << 20, 100, 100}, // live already at the floor: the process's own
		{64 << 20, 128 << 20, 100, 100},
		{64 << 20, 40 << 20, 100, 100}, // the base's goal (80 MiB) already passes the floor
		{64 << 20, 1 << 10, 100, maxPercent},
		{64 << 20, 16 << 20, 500, 500},
	} {
		if got := percent(c.floor, c.live, c.base); got != c.want {
			t.Errorf("percent(%d, %d, %d) = %d, want %d", c.floor, c.live, c.base, got, c.want)
		}
	}
}

// TestHoldRaisesAndRestores: while held, GOGC puts the heap goal at the floor; after
// collections it still does; released, the process's GOGC is back.
func TestHoldRaisesAndRestores(t *testing.T) {
	base := gogc()
	defer debug.SetGCPercent(base)
	runtime.GC()
	state.mu.Lock()
	live := liveHeap()
	state.mu.Unlock()
	floor := live*8 + 64<<20
	r1 := Hold(floor)
	r2 := Hold(floor / 2) // the higher floor is the one in force
	want := percent(floor, live, base)
	if got := gogc(); got != want || got <= base {
		t.Fatalf("held: GOGC %d, want %d (base %d)", got, want, base)
	}
	for range 3 {
		runtime.GC()
	}
	if got := gogc(); got <= base {
		t.Fatalf("held, after collections: GOGC %d, want above %d", got, base)
	}
	r1()
	r1() // a second release of the same hold does nothing
	if got := gogc(); got <= base {
		t.Fatalf("one hold left: GOGC %d, want above %d", got, base)
	}
	r2()
	if got := gogc(); got != base {
		t.Fatalf("released: GOGC %d, want the process's %d", got, base)
	}
	for range 3 {
		runtime.GC() // a cleanup armed while held must not raise it again
	}
	if got := gogc(); got != base {
		t.Fatalf("released, after collections: GOGC %d, want %d", got, base)
	}
}

func TestNoFloor(t *testing.T) {
	base := gogc()
	Hold(0)()
	if got := gogc(); got != base {
		t.Fatalf("GOGC %d, want %d", got, base)
	}
}
