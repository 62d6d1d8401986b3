package dht

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The job protocol's payloads on nodes and through the decoder.

// jobCodec decodes the job protocol's messages.
var jobCodec, _ = newCodec(JobTopics())

func startJobNode(t testing.TB, boot ...*Node) *Node {
	t.Helper()
	return startNodeWith(t, Config{Topics: JobTopics()}, boot...)
}

const wasmCID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

func testSpec() job.Spec {
	return job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: wasmCID, Args: []string{"hello"}},
		Timeout: job.Duration(time.Minute), Memory: 64 << 20}
}

func announcement(from peer.ID) *JobAnnouncement {
	return &JobAnnouncement{JobID: job.NewID(), Spec: testSpec(), Requester: from, Selector: map[string]string{"region": "eu"}}
}

func TestJobAnnouncementReachesOtherNodes(t *testing.T) {
	ctx := testCtx(t)
	a := startJobNode(t)
	b, c := startJobNode(t, a), startJobNode(t, a)
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

func TestPublishRefusesJobMessagesOthersWouldReject(t *testing.T) {
	ctx := testCtx(t)
	n := startJobNode(t)
	other := startJobNode(t)
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

// seeds are valid encodings of each payload kind plus some near misses.
func seedJobMessages(f *testing.F) {
	id := newPeerID(f)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, p := range []Payload{
		announcement(id),
		&JobEvent{JobID: job.NewID(), State: job.StateCompleted, Time: now, Node: id, ResultCID: wasmCID},
		&Heartbeat{Node: id, Addrs: []string{"/ip4/127.0.0.1/tcp/1235"}, Engines: []job.Engine{job.EngineWasm}, Capacity: Capacity{Slots: 4, Memory: 1 << 30}, Labels: map[string]string{"region": "eu"}},
	} {
		b, err := encodeMessage(p, 42, now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"v":1}`, `{"v":1,"kind":"node.heartbeat","seq":1,"time":"2026-01-01T00:00:00Z","body":null}`,
		`{"v":1,"kind":"node.heartbeat","seq":1,"time":"2026-01-01T00:00:00Z","body":{"node":"x"}}{}`, `{"v":2}`} {
		f.Add([]byte(s))
	}
}

func fuzzPayload(f *testing.F, k Kind) {
	seedJobMessages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		// The envelope seeds carry bodies; use a body when there is one, else the bytes.
		var e envelope
		if json.Unmarshal(b, &e) == nil && len(e.Body) > 0 {
			b = e.Body
		}
		p, err := jobCodec.decodePayload(k, b)
		if err != nil {
			return
		}
		if p.Kind() != k {
			t.Fatalf("decoded a %s as %s", k, p.Kind())
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := jobCodec.decodePayload(k, again)
		if err != nil {
			t.Fatalf("valid %s does not survive a round trip: %v", k, err)
		}
		if !sameJSON(t, p, p2) {
			t.Fatalf("round trip changed the %s", k)
		}
	})
}

func FuzzJobAnnouncement(f *testing.F) { fuzzPayload(f, KindJobAnnouncement) }
func FuzzJobEvent(f *testing.F)        { fuzzPayload(f, KindJobEvent) }
func FuzzHeartbeat(f *testing.F)       { fuzzPayload(f, KindHeartbeat) }

// TestJobTopics: each topic of the job protocol carries its payload.
func TestJobTopics(t *testing.T) {
	for topic, kind := range map[Topic]Kind{TopicJobs: KindJobAnnouncement, TopicJobEvents: KindJobEvent, TopicHeartbeats: KindHeartbeat} {
		if k := jobCodec.kinds[topic]; k != kind {
			t.Errorf("%s carries %q, want %q", topic, k, kind)
		}
	}
	if len(jobCodec.kinds) != 3 || len(jobCodec.types) != 3 {
		t.Errorf("job topics: %+v", jobCodec)
	}
}
