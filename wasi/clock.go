package wasi

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Epoch is the wall-clock time a guest sees when it starts:
// 2000-01-01T00:00:00Z.
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Tick is how far the virtual clock moves on every reading, so that a guest
// polling the clock makes progress.
const Tick = time.Microsecond

// Clock is a virtual clock: it starts at Epoch, moves by Tick on each
// reading and by the requested duration on each Sleep. A guest therefore
// sees the same times on every run, and time.Sleep works as expected.
// It is safe for concurrent use.
type Clock struct {
	elapsed atomic.Int64 // nanoseconds since Epoch
}

// Nanotime returns the monotonic time in nanoseconds and advances it by Tick.
func (c *Clock) Nanotime() int64 {
	return c.elapsed.Add(int64(Tick))
}

// Walltime returns the wall-clock time as seconds and nanoseconds since the
// Unix epoch, and advances the clock by Tick.
func (c *Clock) Walltime() (sec int64, nsec int32) {
	t := Epoch.UnixNano() + c.Nanotime()
	return t / 1e9, int32(t % 1e9)
}

// Sleep blocks for ns nanoseconds of real time, or until ctx is done, and
// advances the virtual clock by ns either way.
func (c *Clock) Sleep(ctx context.Context, ns int64) {
	if ns <= 0 {
		return
	}
	c.elapsed.Add(ns)
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// NewRand returns the guest's source of random bytes: a ChaCha8 stream
// determined by seed.
func NewRand(seed uint64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "bacalhau-wasm wasi seed")
	return rand.NewChaCha8(key)
}
