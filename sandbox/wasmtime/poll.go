//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"encoding/binary"
	"math"
	"time"

	wt "github.com/bytecodealliance/wasmtime-go/v39"
)

// WASI preview 1 constants poll_oneoff uses.
const (
	errnoSuccess = 0
	errnoFault   = 21
	errnoInval   = 28
	errnoPerm    = 63

	eventClock   = 0
	eventFdRead  = 1
	eventFdWrite = 2

	clockRealtime  = 0
	clockMonotonic = 1
	absTime        = 1 // subscription_clock_abstime

	subscriptionSize = 48
	eventSize        = 32
)

// pollOneoff replaces wasmtime's poll_oneoff, which sleeps in the host where
// no epoch deadline reaches it: a guest asleep in time.Sleep could not be
// stopped before its sleep ended. Here clock subscriptions sleep on a timer
// that the run's stop ends, and a stopped run traps. File descriptor
// subscriptions are reported ready at once, which is true of the files and
// pipes a guest has here (it has no sockets).
func pollOneoff(caller *wt.Caller, in, out, nsubs, neventsPtr int32) (int32, *wt.Trap) {
	r, _ := caller.Data().(*runState)
	ex := caller.GetExport("memory")
	if ex == nil || ex.Memory() == nil {
		return errnoFault, nil
	}
	mem := ex.Memory().UnsafeData(caller)
	var origin time.Time
	if r != nil {
		origin = r.start
	}
	p, errno := parsePoll(mem, uint32(in), uint32(out), uint32(nsubs), uint32(neventsPtr), time.Now(), origin)
	if errno != errnoSuccess {
		return errno, nil
	}
	if !p.fdReady && p.wait > 0 && r != nil {
		t := time.NewTimer(p.wait)
		select {
		case <-t.C:
		case <-r.halted:
			t.Stop()
			return 0, wt.NewTrap("interrupted by the host")
		}
	}
	if r != nil && r.stopped() {
		return 0, wt.NewTrap("interrupted by the host")
	}
	p.writeEvents(mem, time.Now())
	return errnoSuccess, nil
}

// poll is a poll_oneoff call decoded from the guest's memory.
type poll struct {
	subs      []byte // the subscriptions, subscriptionSize each
	events    []byte // room for as many events
	nevents   []byte // where their count goes (4 bytes)
	deadlines []time.Time
	wait      time.Duration // until the first clock subscription is due
	fdReady   bool          // a descriptor subscription: due at once
}

// parsePoll decodes the subscriptions of a poll_oneoff call from mem, checking
// every offset against it: the guest gives the offsets and the count.
func parsePoll(mem []byte, in, out, nsubs, neventsPtr uint32, now, origin time.Time) (poll, int32) {
	var p poll
	n := uint64(nsubs)
	size := uint64(len(mem))
	if n == 0 {
		return p, errnoInval
	}
	if uint64(in)+n*subscriptionSize > size || uint64(out)+n*eventSize > size || uint64(neventsPtr)+4 > size {
		return p, errnoFault
	}
	p.subs = mem[in : uint64(in)+n*subscriptionSize]
	p.events = mem[out : uint64(out)+n*eventSize]
	p.nevents = mem[neventsPtr : neventsPtr+4]
	p.deadlines = make([]time.Time, n)
	p.wait = -1 // none yet
	for i := range n {
		sub := p.subs[i*subscriptionSize:]
		switch sub[8] {
		case eventClock:
			id := binary.LittleEndian.Uint32(sub[16:])
			timeout := binary.LittleEndian.Uint64(sub[24:])
			flags := binary.LittleEndian.Uint16(sub[40:])
			d := time.Duration(min(timeout, math.MaxInt64))
			if flags&absTime != 0 {
				switch id {
				case clockRealtime:
					d = time.Unix(0, int64(min(timeout, math.MaxInt64))).Sub(now)
				case clockMonotonic:
					d -= now.Sub(origin)
				default:
					return p, errnoInval
				}
			}
			d = max(d, 0)
			p.deadlines[i] = now.Add(d)
			if p.wait < 0 || d < p.wait {
				p.wait = d
			}
		case eventFdRead, eventFdWrite:
			p.fdReady = true
		default:
			return p, errnoInval
		}
	}
	return p, errnoSuccess
}

// writeEvents writes an event for every subscription due at end (the descriptor
// ones when any is, else the clocks whose deadline passed) and their count.
func (p poll) writeEvents(mem []byte, end time.Time) {
	var k int
	for i := range len(p.deadlines) {
		sub := p.subs[i*subscriptionSize:]
		typ := sub[8]
		if typ == eventClock && (p.fdReady || p.deadlines[i].After(end)) {
			continue
		}
		ev := p.events[k*eventSize : (k+1)*eventSize]
		clear(ev)
		copy(ev[0:8], sub[0:8]) // userdata
		ev[10] = typ
		k++
	}
	binary.LittleEndian.PutUint32(p.nevents, uint32(k))
}

// refuseSymlink replaces wasmtime's path_symlink: guests make no symbolic
// links, as on the wazero sandbox.
func refuseSymlink(_, _, _, _, _ int32) int32 { return errnoPerm }
