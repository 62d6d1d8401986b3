package compute

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Unit tests of MemPool: a FIFO weighted semaphore over the node's memory.

// waitUntil polls cond until it holds, failing the test after half a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// acquireAsync starts an acquire of n bytes and waits until it is queued (the pool's
// waiters grow to queued) or granted (queued < 0: it does not wait).
func acquireAsync(t *testing.T, p *MemPool, ctx context.Context, n uint64, queued int) <-chan error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- p.Acquire(ctx, n) }()
	if queued >= 0 {
		waitUntil(t, "the reservation waits", func() bool { return p.Waiting() == queued })
	}
	return ch
}

// granted reports whether ch delivered (nil error) within a short while; pending
// reservations must not.
func granted(t *testing.T, ch <-chan error) bool {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("acquire: %v", err)
		}
		return true
	case <-time.After(20 * time.Millisecond):
		return false
	}
}

func mustGrant(t *testing.T, what string, ch <-chan error) {
	t.Helper()
	if err := recv(t, what, ch); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func checkPool(t *testing.T, p *MemPool, free uint64, waiting int) {
	t.Helper()
	if f, w := p.Free(), p.Waiting(); f != free || w != waiting {
		t.Fatalf("%d free and %d waiting, want %d and %d", f, w, free, waiting)
	}
}

func TestMemPoolImmediate(t *testing.T) {
	ctx := context.Background()
	p := NewMemPool(1000)
	checkPool(t, p, 1000, 0)
	for _, n := range []uint64{0, 1, 399, 600} {
		if err := p.Acquire(ctx, n); err != nil {
			t.Fatalf("acquire %d: %v", n, err)
		}
	}
	checkPool(t, p, 0, 0)
	if err := p.Acquire(ctx, 0); err != nil { // nothing to wait for
		t.Fatal(err)
	}
	p.Release(600)
	p.Release(399)
	checkPool(t, p, 999, 0)
	p.Release(1)
	checkPool(t, p, 1000, 0)
	// The whole capacity at once.
	if err := p.Acquire(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	checkPool(t, p, 0, 0)
	p.Release(1000)
	checkPool(t, p, 1000, 0)
}

func TestMemPoolRefusesMoreThanCapacity(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		capacity, n uint64
		want        string
	}{
		{0, 1, "node: not enough memory: needs 1 B of memory; this node offers 0 B"},
		{1000, 1001, "node: not enough memory: needs 1001 B of memory; this node offers 1000 B"},
		{256 << 20, 1 << 30, "node: not enough memory: needs 1 GiB of memory; this node offers 256 MiB"},
	} {
		p := NewMemPool(tc.capacity)
		err := p.Acquire(ctx, tc.n)
		if !errors.Is(err, ErrMemory) || err.Error() != tc.want {
			t.Errorf("acquire %d of %d: %v, want %q", tc.n, tc.capacity, err, tc.want)
		}
		checkPool(t, p, tc.capacity, 0)
	}
	// Refused at once even when others wait: it would never be served.
	p := NewMemPool(100)
	if err := p.Acquire(ctx, 100); err != nil {
		t.Fatal(err)
	}
	w := acquireAsync(t, p, ctx, 50, 1)
	done := make(chan error, 1)
	go func() { done <- p.Acquire(ctx, 101) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrMemory) {
			t.Fatalf("101 of 100 behind a waiter: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a reservation larger than the capacity waits")
	}
	checkPool(t, p, 0, 1)
	p.Release(100)
	mustGrant(t, "the waiter", w)
	checkPool(t, p, 50, 0)
}

// TestMemPoolFIFO: waiters are served in the order they came, a small one never passes
// a large one ahead of it, and one release serves every head waiter that fits.
func TestMemPoolFIFO(t *testing.T) {
	ctx := context.Background()
	p := NewMemPool(100)
	if err := p.Acquire(ctx, 90); err != nil {
		t.Fatal(err)
	}
	big := acquireAsync(t, p, ctx, 60, 1)
	small := acquireAsync(t, p, ctx, 10, 2)  // 10 are free, but it is behind big
	tiny := acquireAsync(t, p, ctx, 0, 3)    // even nothing waits its turn
	second := acquireAsync(t, p, ctx, 30, 4) // fits with big and small, after them
	if granted(t, small) || granted(t, tiny) {
		t.Fatal("a small reservation passed a big one ahead of it")
	}
	checkPool(t, p, 10, 4)

	p.Release(50) // 60 free: big only; small would fit too but 0 are left
	mustGrant(t, "big", big)
	checkPool(t, p, 0, 3)
	if granted(t, small) {
		t.Fatal("small granted with nothing free")
	}

	p.Release(40) // 40 free: small (10), tiny (0) and second (30) together
	mustGrant(t, "small", small)
	mustGrant(t, "tiny", tiny)
	mustGrant(t, "second", second)
	checkPool(t, p, 0, 0)

	p.Release(60 + 10 + 30)
	checkPool(t, p, 100, 0)
}

// TestMemPoolGrantOrder: waiters of assorted sizes are granted in the order they
// queued; a release serves every waiter at the head that fits, and none behind the
// first that does not.
func TestMemPoolGrantOrder(t *testing.T) {
	ctx := context.Background()
	p := NewMemPool(100)
	if err := p.Acquire(ctx, 100); err != nil {
		t.Fatal(err)
	}
	sizes := []uint64{100, 1, 50, 99, 2, 100, 30}
	var chans []<-chan error
	for i, n := range sizes {
		chans = append(chans, acquireAsync(t, p, ctx, n, i+1))
	}
	// Each step releases all that is held; these waiters are served then.
	steps := [][]int{{0}, {1, 2}, {3}, {4}, {5}, {6}}
	held, next := uint64(100), 0
	for _, group := range steps {
		p.Release(held)
		held = 0
		for _, i := range group {
			if i != next {
				t.Fatalf("test table: waiter %d out of order", i)
			}
			mustGrant(t, "waiter", chans[i])
			held += sizes[i]
			next++
		}
		checkPool(t, p, 100-held, len(sizes)-next)
		if next < len(sizes) && granted(t, chans[next]) {
			t.Fatalf("waiter %d (%d bytes) granted beside %d held", next, sizes[next], held)
		}
	}
	p.Release(held)
	checkPool(t, p, 100, 0)
}

func TestMemPoolCancel(t *testing.T) {
	p := NewMemPool(100)
	bg := context.Background()
	if err := p.Acquire(bg, 80); err != nil {
		t.Fatal(err)
	}

	// A waiter whose context ends gets its error and leaves the queue.
	ctx, cancel := context.WithCancel(bg)
	w := acquireAsync(t, p, ctx, 50, 1)
	cancel()
	if err := <-w; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	checkPool(t, p, 20, 0)

	// A deadline works alike.
	dctx, dcancel := context.WithTimeout(bg, 10*time.Millisecond)
	defer dcancel()
	if err := p.Acquire(dctx, 50); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter past its deadline: %v", err)
	}
	checkPool(t, p, 20, 0)

	// A cancelled waiter in the middle of the queue: the ones around it keep their
	// turn.
	first := acquireAsync(t, p, bg, 60, 1)
	mctx, mcancel := context.WithCancel(bg)
	middle := acquireAsync(t, p, mctx, 10, 2)
	last := acquireAsync(t, p, bg, 40, 3)
	mcancel()
	if err := <-middle; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled middle waiter: %v", err)
	}
	checkPool(t, p, 20, 2)
	if granted(t, last) {
		t.Fatal("the last waiter passed the first")
	}
	p.Release(80) // 100 free: first (60) and last (40)
	mustGrant(t, "first", first)
	mustGrant(t, "last", last)
	checkPool(t, p, 0, 0)
	p.Release(100)

	// A cancelled head lets the ones behind it through at once.
	if err := p.Acquire(bg, 70); err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithCancel(bg)
	head := acquireAsync(t, p, hctx, 100, 1)
	behind := acquireAsync(t, p, bg, 30, 2)
	hcancel()
	if err := <-head; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled head: %v", err)
	}
	mustGrant(t, "the waiter behind a cancelled head", behind)
	checkPool(t, p, 0, 0)
	p.Release(100)
	checkPool(t, p, 100, 0)
}

// TestMemPoolDoneContextFree: memory that is free is granted without waiting, even on a
// context that has ended (as golang.org/x/sync/semaphore does); memory that is not is
// refused with the context's error.
func TestMemPoolDoneContextFree(t *testing.T) {
	p := NewMemPool(100)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Acquire(ctx, 60); err != nil {
		t.Fatalf("free memory on an ended context: %v", err)
	}
	if err := p.Acquire(ctx, 60); !errors.Is(err, context.Canceled) {
		t.Fatalf("memory not free on an ended context: %v", err)
	}
	checkPool(t, p, 40, 0)
}

// TestMemPoolStress: many reservations, some given up at random, race with releases;
// when all are over, every byte is back and nobody waits, and the pool never hands
// out more than its capacity.
func TestMemPoolStress(t *testing.T) {
	const capacity = 1000
	p := NewMemPool(capacity)
	var (
		mu     sync.Mutex
		inUse  uint64
		maxUse uint64
		wg     sync.WaitGroup
	)
	for g := range 16 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 42))
			for range 200 {
				n := uint64(r.IntN(capacity + 1))
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.IntN(3) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(r.IntN(200))*time.Microsecond)
				}
				err := p.Acquire(ctx, n)
				cancel()
				if err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("acquire %d: %v", n, err)
					}
					continue
				}
				mu.Lock()
				inUse += n
				maxUse = max(maxUse, inUse)
				mu.Unlock()
				if r.IntN(2) == 0 {
					time.Sleep(time.Duration(r.IntN(50)) * time.Microsecond)
				}
				mu.Lock()
				inUse -= n
				mu.Unlock()
				p.Release(n)
			}
		})
	}
	over := make(chan struct{})
	go func() { wg.Wait(); close(over) }()
	select {
	case <-over:
	case <-time.After(2 * time.Minute):
		// A lost wake-up: a waiter nobody will ever serve.
		t.Fatalf("stuck: %d free, %d waiting", p.Free(), p.Waiting())
	}
	checkPool(t, p, capacity, 0)
	if maxUse > capacity {
		t.Fatalf("%d bytes held at once out of %d", maxUse, capacity)
	}
}
