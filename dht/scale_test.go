package dht

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestTwentyNodes starts 20 nodes in this process, all bootstrapped from the first, and
// reports (no timing assertions) how long until the last one started is known to every
// other, and how long a job announcement takes to reach all 20. A note of the same size
// (some 400 bytes) stands in for the announcement; cmd/bacalhau-bench reads the log line.
//
//	go test -run TestTwentyNodes -v ./dht/
func TestTwentyNodes(t *testing.T) {
	const size = 20
	first := startNode(t)
	nodes := []*Peer{first}
	for len(nodes) < size-1 {
		nodes = append(nodes, startNode(t, first))
	}
	waitFor(t, 60*time.Second, "19 nodes know each other", func() bool { return knowsAll(nodes) })

	start := time.Now()
	last := startNode(t, first)
	nodes = append(nodes, last)
	knows := func(n *Peer) bool {
		return slices.ContainsFunc(n.Peers(), func(ai peer.AddrInfo) bool { return ai.ID == last.ID() })
	}
	waitFor(t, 60*time.Second, "every node knows the last one", func() bool {
		for _, n := range nodes[:size-1] {
			if !knows(n) {
				return false
			}
		}
		return true
	})
	known := time.Since(start)

	ctx := testCtx(t)
	subs := make([]<-chan Message, size)
	for i, n := range nodes {
		var err error
		if subs[i], err = n.Subscribe(ctx, topicNotes); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "every node has a mesh", func() bool {
		for _, n := range nodes {
			if n.MeshPeers(topicNotes) == 0 || len(n.TopicPeers(topicNotes)) < size/2 {
				return false
			}
		}
		return true
	})
	ann := &note{From: last.ID(), Text: strings.Repeat("x", 250)} // an announcement's size
	var wg sync.WaitGroup
	arrived := make([]time.Duration, size)
	sent := time.Now()
	for i, ch := range subs {
		wg.Go(func() {
			var m Message
			select { // not receive: t.Fatal belongs to the test goroutine
			case m = <-ch:
			case <-time.After(30 * time.Second):
				t.Errorf("node %d: no announcement", i)
				return
			}
			arrived[i] = time.Since(sent)
			if got, ok := m.Payload.(*note); !ok || *got != *ann {
				t.Errorf("node %d got %+v", i, m.Payload)
			}
		})
	}
	if err := last.Publish(ctx, topicNotes, ann); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	spread := slices.Max(arrived)
	t.Logf("%d nodes: last started known to all others after %v; announcement reached all %d after %v (median %v)",
		size, known.Round(time.Millisecond), size, spread.Round(time.Microsecond), median(arrived).Round(time.Microsecond))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
