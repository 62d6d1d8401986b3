package jobproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/libp2p/go-libp2p/core/peer"
)

const wasmCID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"

func testSpec() job.Spec {
	return job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse(wasmCID), Args: []string{"hello"}},
		Timeout: job.Duration(time.Minute), Memory: 64 << 20}
}

func announcement(from peer.ID) *JobAnnouncement {
	return &JobAnnouncement{JobID: job.NewID(), Spec: testSpec(), Requester: from, Selector: map[string]string{"region": "eu"}}
}

func TestJobAnnouncementReachesOtherNodes(t *testing.T) {
	ctx := testCtx(t)
	a := startNode(t)
	b, c := startNode(t, a), startNode(t, a)
	nodes := []*dht.Peer{a, b, c}
	subs := make([]<-chan dht.Message, len(nodes))
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
		if m.From != b.ID() || got.JobID != ann.JobID || got.Spec.Wasm.Module.String() != wasmCID || got.Selector["region"] != "eu" {
			t.Errorf("node %d got %+v from %s", i, got, m.From)
		}
		if m.Seq == 0 || time.Since(m.Time) > time.Minute {
			t.Errorf("node %d: seq %d time %v", i, m.Seq, m.Time)
		}
	}
}

func TestPublishRefusesJobMessagesOthersWouldReject(t *testing.T) {
	ctx := testCtx(t)
	n := startNode(t)
	other := startNode(t)
	big := announcement(n.ID())
	big.Spec.Wasm.Args = []string{strings.Repeat("a", 65400)} // within job limits, not within ours
	for _, tc := range []struct {
		name  string
		topic dht.Topic
		p     dht.Payload
		want  error
	}{
		{"wrong topic", TopicHeartbeats, announcement(n.ID()), dht.ErrWrongTopic},
		{"unknown topic", "/elsewhere/1", announcement(n.ID()), dht.ErrWrongTopic},
		{"someone else's", TopicJobs, announcement(other.ID()), dht.ErrAuthorMismatch},
		{"invalid", TopicJobs, &JobAnnouncement{JobID: "j-1", Requester: n.ID()}, dht.ErrInvalid},
		{"too large", TopicJobs, big, dht.ErrTooLarge},
	} {
		if err := n.Publish(ctx, tc.topic, tc.p); !errorsIs(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// seedJobMessages adds valid messages of each payload kind, as dht encodes them in an
// envelope, and some near misses.
func seedJobMessages(f *testing.F) {
	id := newPeerID(f)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, p := range []dht.Payload{
		announcement(id),
		&JobEvent{JobID: job.NewID(), State: job.StateCompleted, Time: now, Node: id, ResultCID: cidtext.MustParse(wasmCID)},
		&Heartbeat{Node: id, Addrs: []string{"/ip4/127.0.0.1/tcp/1235"}, Engines: []job.Engine{job.EngineWasm}, Capacity: Capacity{Slots: 4, Memory: 1 << 30}, Labels: map[string]string{"region": "eu"}},
	} {
		b, err := json.Marshal(envelope{V: 1, Kind: p.Kind(), Seq: 42, Time: now, Body: p})
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

// envelope is what dht puts a payload in (its fields in its order), for the seeds.
type envelope struct {
	V    int       `json:"v"`
	Kind dht.Kind  `json:"kind"`
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Body any       `json:"body"`
}

// decodePayload is what a node does with the body of a message of kind k: make an empty
// payload of the kind with the function Topics gives, decode into it (dht.StrictUnmarshal)
// and validate it.
func decodePayload(k dht.Kind, b []byte) (dht.Payload, error) {
	for _, mk := range Topics() {
		if p := mk(); p.Kind() == k {
			if err := dht.StrictUnmarshal(b, p); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", dht.ErrMalformed, k, err)
			}
			if err := p.Validate(); err != nil {
				return nil, err
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: unknown kind %q", dht.ErrMalformed, k)
}

func fuzzPayload(f *testing.F, k dht.Kind) {
	seedJobMessages(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		// The envelope seeds carry bodies; use a body when there is one, else the bytes.
		var e struct {
			Body json.RawMessage `json:"body"`
		}
		if json.Unmarshal(b, &e) == nil && len(e.Body) > 0 {
			b = e.Body
		}
		p, err := decodePayload(k, b)
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
		p2, err := decodePayload(k, again)
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

// TestJobTopics: each topic of the job protocol carries its payload, and a node starts
// with them.
func TestJobTopics(t *testing.T) {
	want := map[dht.Topic]dht.Kind{TopicJobs: KindJobAnnouncement, TopicJobEvents: KindJobEvent, TopicHeartbeats: KindHeartbeat}
	ts := Topics()
	for topic, kind := range want {
		if mk := ts[topic]; mk == nil || mk().Kind() != kind {
			t.Errorf("%s does not carry %q", topic, kind)
		}
	}
	if len(ts) != len(want) {
		t.Errorf("%d job topics, want %d", len(ts), len(want))
	}
	n := startNode(t)
	for topic := range want {
		if _, err := n.Subscribe(testCtx(t), topic); err != nil {
			t.Errorf("subscribe to %s: %v", topic, err)
		}
	}
}

// TestWireNames: the names on the wire are a contract with peers of every earlier
// version; they change only with a new version in the name.
func TestWireNames(t *testing.T) {
	for _, n := range [][2]string{
		{string(TopicJobs), "/bacalhau/jobs/1"}, {string(TopicJobEvents), "/bacalhau/job-events/1"}, {string(TopicHeartbeats), "/bacalhau/heartbeats/1"},
		{string(KindJobAnnouncement), "job.announce"}, {string(KindJobEvent), "job.event"}, {string(KindHeartbeat), "node.heartbeat"},
		{string(ProtoBid), "/bacalhau/bid/1"}, {string(ProtoAccept), "/bacalhau/accept/1"}, {string(ProtoUpdate), "/bacalhau/update/1"},
		{string(ProtoCancel), "/bacalhau/cancel/1"}, {string(ProtoJobPull), "/bacalhau/jobs/1"},
	} {
		got, want := n[0], n[1]
		if got != want {
			t.Errorf("%q, want %q", got, want)
		}
	}
}

// TestJobEventResultCID: a job event's result CID is text on the wire and typed once
// decoded: a bad one is refused as the message is decoded, a good one prints back as
// the same text, and none is omitted.
func TestJobEventResultCID(t *testing.T) {
	id := newPeerID(t)
	ev := `{"jobId":"` + fuzzJobID + `","state":"completed","time":"2026-12-02T09:00:00Z","node":"` + id.String() + `","resultCid":"` + wasmCID + `","rev":3}`
	p, err := decodePayload(KindJobEvent, []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(*JobEvent).ResultCID.String(); got != wasmCID {
		t.Fatalf("result CID %q, want %q", got, wasmCID)
	}
	if b, err := json.Marshal(p); err != nil || string(b) != ev {
		t.Fatalf("prints back as %s, %v; want %s", b, err, ev)
	}
	bad := strings.Replace(ev, wasmCID, "bafyX", 1)
	if _, err := decodePayload(KindJobEvent, []byte(bad)); !errors.Is(err, dht.ErrMalformed) {
		t.Fatalf("a bad result CID: %v, want dht.ErrMalformed", err)
	}
	none := strings.Replace(ev, `"resultCid":"`+wasmCID+`",`, "", 1)
	p, err = decodePayload(KindJobEvent, []byte(none))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(p); string(b) != none {
		t.Fatalf("an event without a result prints %s, want %s", b, none)
	}
}
