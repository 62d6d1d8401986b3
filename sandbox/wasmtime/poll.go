//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"encoding/binary"
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
	n := int64(uint32(nsubs))
	if n == 0 {
		return errnoInval, nil
	}
	inEnd, outEnd := int64(uint32(in))+n*subscriptionSize, int64(uint32(out))+n*eventSize
	if inEnd > int64(len(mem)) || outEnd > int64(len(mem)) || int64(uint32(neventsPtr))+4 > int64(len(mem)) {
		return errnoFault, nil
	}
	subs := mem[uint32(in):inEnd]

	now := time.Now()
	wait := time.Duration(-1) // none yet
	deadlines := make([]time.Time, n)
	fdReady := false
	for i := range n {
		sub := subs[i*subscriptionSize:]
		switch sub[8] {
		case eventClock:
			id := binary.LittleEndian.Uint32(sub[16:])
			timeout := int64(binary.LittleEndian.Uint64(sub[24:]))
			flags := binary.LittleEndian.Uint16(sub[40:])
			d := time.Duration(timeout)
			if flags&absTime != 0 {
				switch id {
				case clockRealtime:
					d = time.Unix(0, timeout).Sub(now)
				case clockMonotonic:
					d = time.Duration(timeout) - now.Sub(r.start)
				default:
					return errnoInval, nil
				}
			}
			d = max(d, 0)
			deadlines[i] = now.Add(d)
			if wait < 0 || d < wait {
				wait = d
			}
		case eventFdRead, eventFdWrite:
			fdReady = true
		default:
			return errnoInval, nil
		}
	}
	if !fdReady && wait > 0 && r != nil {
		t := time.NewTimer(wait)
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
	end := time.Now()
	events := mem[uint32(out):outEnd]
	var k int64
	for i := range n {
		sub := subs[i*subscriptionSize:]
		typ := sub[8]
		if typ == eventClock && (fdReady || deadlines[i].After(end)) {
			continue
		}
		ev := events[k*eventSize : (k+1)*eventSize]
		clear(ev)
		copy(ev[0:8], sub[0:8]) // userdata
		ev[10] = typ
		k++
	}
	binary.LittleEndian.PutUint32(mem[uint32(neventsPtr):], uint32(k))
	return errnoSuccess, nil
}

// refuseSymlink replaces wasmtime's path_symlink: guests make no symbolic
// links, as on the wazero sandbox.
func refuseSymlink(_, _, _, _, _ int32) int32 { return errnoPerm }
