package dht

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestNoGoroutineLeak runs nodes through discovery, pubsub and streams, closes them, and
// checks that the goroutine count comes back to where it was. A first node is started
// and closed beforehand so that libraries' once-only background goroutines are counted
// in the baseline.
func TestNoGoroutineLeak(t *testing.T) {
	warm := startNode(t)
	warm.Close()
	waitSettled := func(want int) bool {
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(deadline) {
			if runtime.NumGoroutine() <= want {
				return true
			}
			<-tick.C
		}
		return false
	}
	base := settled() // the warm-up node's goroutines have wound down

	func() {
		a := startNodeWith(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}})
		b := startNode(t, a)
		defer a.Close()
		defer b.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := a.Subscribe(ctx, topicNotes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Subscribe(ctx, topicNotes); err != nil {
			t.Fatal(err)
		}
		meshed(t, topicNotes, a, b)
		if err := b.Publish(ctx, topicNotes, &note{From: b.ID(), Text: "hello"}); err != nil {
			t.Fatal(err)
		}
		receive(t, ch, 10*time.Second)
		Handle(a, bidProto, func(ctx context.Context, _ peer.ID, r *bidReq) (*bidResp, error) { return &bidResp{Accept: true}, nil })
		if _, err := Request[bidReq, bidResp](ctx, b, a.ID(), bidProto, &bidReq{JobID: "j"}); err != nil {
			t.Fatal(err)
		}
	}()
	if !waitSettled(base) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after closing, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
	}
}

// settled waits until the goroutine count has not changed for 200 ms (at most 5 s)
// and returns it.
func settled() int {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last, same := runtime.NumGoroutine(), 0
	for i := 0; i < 250 && same < 10; i++ {
		<-tick.C
		if n := runtime.NumGoroutine(); n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
	return last
}
