package dht

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

const wasmCID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

func rendezvousCID(t testing.TB) cid.Cid {
	h, err := multihash.Sum([]byte(Rendezvous), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

func testSpec() job.Spec {
	return job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: wasmCID, Args: []string{"hello"}},
		Timeout: job.Duration(time.Minute), Memory: 64 << 20}
}

func announcement(from peer.ID) *JobAnnouncement {
	return &JobAnnouncement{JobID: job.NewID(), Spec: testSpec(), Requester: from, Selector: map[string]string{"region": "eu"}}
}

// meshed waits until every node sees every other as subscribed to topic.
func meshed(t testing.TB, topic Topic, nodes ...*Node) {
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
	nodes := []*Node{a, b, c}
	subs := make([]<-chan Message, len(nodes))
	for i, n := range nodes {
		var err error
		if subs[i], err = n.Subscribe(ctx, TopicJobs); err != nil {
			t.Fatal(err)
		}
	}
	meshed(t, TopicJobs, nodes...)

	ann := announcement(b.ID())
	if err := b.Publish(ctx, TopicJobs, ann); err != nil {
		t.Fatal(err)
	}
	for i, ch := range subs {
		m := receive(t, ch, 10*time.Second)
		got, ok := m.Payload.(*JobAnnouncement)
		if !ok {
			t.Fatalf("node %d: payload %T", i, m.Payload)
		}
		if m.From != b.ID() || got.JobID != ann.JobID || got.Spec.Wasm.Module != wasmCID || got.Selector["region"] != "eu" {
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
	big := announcement(n.ID())
	big.Spec.Wasm.Args = []string{strings.Repeat("a", 65400)} // within job limits, not within ours
	for _, tc := range []struct {
		name  string
		topic Topic
		p     Payload
		want  error
	}{
		{"wrong topic", TopicHeartbeats, announcement(n.ID()), ErrWrongTopic},
		{"unknown topic", "/elsewhere/1", announcement(n.ID()), ErrWrongTopic},
		{"someone else's", TopicJobs, announcement(other.ID()), ErrAuthorMismatch},
		{"invalid", TopicJobs, &JobAnnouncement{JobID: "j-1", Requester: n.ID()}, ErrInvalid},
		{"too large", TopicJobs, big, ErrTooLarge},
	} {
		if err := n.Publish(ctx, tc.topic, tc.p); !errorsIs(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestSubscriptionEndsWithContext(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := n.Subscribe(ctx, TopicHeartbeats)
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
