package dht

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func rendezvousCID(t testing.TB) cid.Cid {
	h, err := multihash.Sum([]byte(Rendezvous), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// meshed waits until every node sees every other as subscribed to topic.
func meshed(t testing.TB, topic Topic, nodes ...*Peer) {
	t.Helper()
	waitFor(t, 30*time.Second, "all nodes see each other on "+string(topic), func() bool {
		for _, n := range nodes {
			ps := n.TopicPeers(topic)
			for _, o := range nodes {
				if o != n && !slices.Contains(ps, o.ID()) {
					return false
				}
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "every node has a mesh on "+string(topic), func() bool {
		for _, n := range nodes {
			if n.MeshPeers(topic) < min(len(nodes)-1, 4) {
				return false
			}
		}
		return true
	})
}

func TestPublishReachesOtherNodes(t *testing.T) {
	ctx := testCtx(t)
	a := startNode(t)
	b, c := startNode(t, a), startNode(t, a)
	nodes := []*Peer{a, b, c}
	subs := make([]<-chan Message, len(nodes))
	for i, n := range nodes {
		var err error
		if subs[i], err = n.Subscribe(ctx, topicNotes); err != nil {
			t.Fatal(err)
		}
	}
	meshed(t, topicNotes, nodes...)

	hello := &note{From: b.ID(), Text: "hello"}
	if err := b.Publish(ctx, topicNotes, hello); err != nil {
		t.Fatal(err)
	}
	for i, ch := range subs {
		m := receive(t, ch, 10*time.Second)
		got, ok := m.Payload.(*note)
		if !ok {
			t.Fatalf("node %d: payload %T", i, m.Payload)
		}
		if m.From != b.ID() || *got != *hello {
			t.Errorf("node %d got %+v from %s", i, got, m.From)
		}
		if m.Seq == 0 || time.Since(m.Time) > time.Minute {
			t.Errorf("node %d: seq %d time %v", i, m.Seq, m.Time)
		}
	}
}

func TestPublishRefusesWhatOthersWouldReject(t *testing.T) {
	ctx := testCtx(t)
	n := startNode(t)
	other := startNode(t)
	hello := &note{From: n.ID(), Text: "hello"}
	for _, tc := range []struct {
		name  string
		topic Topic
		p     Payload
		want  error
	}{
		{"wrong topic", topicPings, hello, ErrWrongTopic},
		{"unknown topic", "/elsewhere/1", hello, ErrWrongTopic},
		{"someone else's", topicNotes, &note{From: other.ID(), Text: "hello"}, ErrAuthorMismatch},
		{"invalid", topicNotes, &note{From: n.ID()}, ErrInvalid},
		{"too large", topicNotes, &note{From: n.ID(), Text: strings.Repeat("a", MaxMessageSize-100)}, ErrTooLarge},
	} {
		if err := n.Publish(ctx, tc.topic, tc.p); !errorsIs(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSubscriptionEndsWithContext(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := n.Subscribe(ctx, topicNotes)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("message after cancel")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}
