package requester

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// woken reports whether ch holds a wake-up, taking it.
func woken(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestBrokerUnit(t *testing.T) {
	b := newBroker()
	b.publish("nobody") // no subscriber: nothing to do

	a1, a2, other := b.subscribe("a"), b.subscribe("a"), b.subscribe("b")
	if woken(a1) || woken(a2) || woken(other) {
		t.Fatal("woken before any publish")
	}
	b.publish("a")
	if !woken(a1) || !woken(a2) {
		t.Fatal("a subscriber of a was not woken")
	}
	if woken(other) {
		t.Fatal("a subscriber of b was woken for a")
	}
	if woken(a1) {
		t.Fatal("one publish woke a subscriber twice")
	}

	// Wake-ups coalesce: many publishes before the watcher reads are one wake-up,
	// and none is lost.
	for range 5 {
		b.publish("a")
	}
	if !woken(a1) || woken(a1) {
		t.Fatal("five publishes are not exactly one pending wake-up")
	}
	if !woken(a2) {
		t.Fatal("the second subscriber lost its wake-up")
	}

	b.unsubscribe("a", a1)
	b.publish("a")
	if woken(a1) {
		t.Fatal("woken after unsubscribing")
	}
	if !woken(a2) {
		t.Fatal("another subscriber's unsubscribe cost a2 its wake-up")
	}
	b.unsubscribe("a", a1)                     // twice: harmless
	b.unsubscribe("x", a2)                     // not subscribed there: harmless
	b.unsubscribe("a", make(chan struct{}, 1)) // never subscribed: harmless
	b.publish("a")
	if !woken(a2) {
		t.Fatal("a2 unsubscribed by another's unsubscribe")
	}
	b.unsubscribe("a", a2)
	b.unsubscribe("b", other)
	b.mu.Lock()
	left := len(b.subs)
	b.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d jobs still have subscriber sets after every unsubscribe", left)
	}

	// The same job subscribed again after its set was dropped.
	again := b.subscribe("a")
	b.publish("a")
	if !woken(again) {
		t.Fatal("a new subscriber of a dropped set was not woken")
	}
}

// TestBrokerConcurrent: watchers subscribe, wait and unsubscribe while others publish;
// a watcher subscribed before a publish is always woken by it (under -race).
func TestBrokerConcurrent(t *testing.T) {
	b := newBroker()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("j-%d", g%3)
			for range 300 {
				ch := b.subscribe(id)
				b.publish(id)
				select {
				case <-ch:
				case <-time.After(30 * time.Second):
					t.Errorf("%s: a publish after subscribing did not wake", id)
				}
				b.unsubscribe(id, ch)
			}
		})
	}
	wg.Wait()
	if len(b.subs) != 0 {
		t.Fatalf("%d subscriber sets left", len(b.subs))
	}
}
