//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"encoding/binary"
	"testing"
	"time"
)

func clockSub(userdata uint64, timeout time.Duration, abs bool) []byte {
	sub := make([]byte, subscriptionSize)
	binary.LittleEndian.PutUint64(sub[0:], userdata)
	sub[8] = eventClock
	binary.LittleEndian.PutUint32(sub[16:], clockMonotonic)
	binary.LittleEndian.PutUint64(sub[24:], uint64(timeout))
	if abs {
		binary.LittleEndian.PutUint16(sub[40:], absTime)
	}
	return sub
}

func TestParsePoll(t *testing.T) {
	now := time.Now()
	mem := make([]byte, 1024)
	copy(mem[0:], clockSub(7, 50*time.Millisecond, false))
	copy(mem[48:], clockSub(8, time.Hour, false))
	p, errno := parsePoll(mem, 0, 200, 2, 300, now, now)
	if errno != errnoSuccess || p.wait != 50*time.Millisecond || p.fdReady {
		t.Fatalf("parsePoll = %+v, %d", p, errno)
	}
	p.writeEvents(mem, now.Add(60*time.Millisecond))
	if n := binary.LittleEndian.Uint32(mem[300:]); n != 1 || binary.LittleEndian.Uint64(mem[200:]) != 7 || mem[210] != eventClock {
		t.Errorf("events: %d, first %x", n, mem[200:232])
	}
	// An absolute monotonic deadline counts from the run's start.
	copy(mem[0:], clockSub(9, 2*time.Second, true))
	if p, _ := parsePoll(mem, 0, 200, 1, 300, now.Add(time.Second), now); p.wait != time.Second {
		t.Errorf("absolute deadline: wait %s, want 1s", p.wait)
	}
	for name, c := range map[string]struct{ in, out, n, nev uint32 }{
		"no subscriptions":   {0, 200, 0, 300},
		"subs past memory":   {1000, 0, 1, 300},
		"events past memory": {0, 1000, 1, 300},
		"count past memory":  {0, 200, 1, 1022},
		"huge count":         {0, 200, 1 << 31, 300},
	} {
		if _, errno := parsePoll(mem, c.in, c.out, c.n, c.nev, now, now); errno == errnoSuccess {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzParsePoll: whatever a guest puts in its memory and passes as offsets,
// decoding a poll_oneoff call never panics nor reaches outside memory.
func FuzzParsePoll(f *testing.F) {
	f.Add(clockSub(1, time.Millisecond, false), uint32(0), uint32(0), uint32(1), uint32(40))
	f.Add(make([]byte, 100), uint32(90), uint32(0), uint32(3), uint32(0))
	f.Fuzz(func(t *testing.T, mem []byte, in, out, n, nev uint32) {
		now := time.Now()
		p, errno := parsePoll(mem, in, out, n, nev, now, now)
		if errno != errnoSuccess {
			return
		}
		if p.wait < 0 && !p.fdReady {
			t.Fatalf("no subscription due: %+v", p)
		}
		p.writeEvents(mem, now.Add(p.wait))
	})
}
