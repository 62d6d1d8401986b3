package compute

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMemPoolFirstComeFirstServed(t *testing.T) {
	ctx := context.Background()
	p := NewMemPool(300)
	if err := p.Acquire(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if err := p.Acquire(ctx, 301); !errors.Is(err, ErrMemory) || !strings.Contains(err.Error(), "this node offers 300 B") {
		t.Fatalf("more than the capacity: %v", err)
	}
	big, small := make(chan error, 1), make(chan error, 1)
	go func() { big <- p.Acquire(ctx, 300) }()
	waitUntil(t, "the big reservation waits", func() bool { return p.Waiting() == 1 })
	go func() { small <- p.Acquire(ctx, 100) }()
	waitUntil(t, "the small reservation waits", func() bool { return p.Waiting() == 2 })
	// 100 bytes are free, but the small reservation came after the big one: it waits.
	if p.Free() != 100 {
		t.Fatalf("free = %d, want 100", p.Free())
	}
	p.Release(200)
	if err := recv(t, "big", big); err != nil {
		t.Fatal(err)
	}
	if p.Waiting() != 1 || p.Free() != 0 {
		t.Fatalf("after the big one got its memory: %d waiting, %d free", p.Waiting(), p.Free())
	}
	p.Release(300)
	if err := recv(t, "small", small); err != nil || p.Free() != 200 {
		t.Fatalf("small: %v, %d free", err, p.Free())
	}
	// A waiter at the head that gives up lets the ones behind it through.
	cctx, cancel := context.WithCancel(ctx)
	head, next := make(chan error, 1), make(chan error, 1)
	go func() { head <- p.Acquire(cctx, 300) }()
	waitUntil(t, "the head waits", func() bool { return p.Waiting() == 1 })
	go func() { next <- p.Acquire(ctx, 150) }()
	waitUntil(t, "the next waits", func() bool { return p.Waiting() == 2 })
	cancel()
	if err := recv(t, "head", head); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled head: %v", err)
	}
	if err := recv(t, "next", next); err != nil || p.Free() != 50 {
		t.Fatalf("behind a cancelled head: %v, %d free", err, p.Free())
	}
}

// recv is <-ch, failing the test instead of hanging when a reservation is never served.
func recv(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("the %s reservation was never served", what)
		return nil
	}
}
