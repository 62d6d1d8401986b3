package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func newPeerID(t testing.TB) peer.ID {
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustEncode(t testing.TB, p Payload, seq uint64, at time.Time) []byte {
	t.Helper()
	b, err := encodeMessage(p, seq, at)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func signedMsg(from peer.ID, topic Topic, data []byte) *pubsub.Message {
	tp := string(topic)
	return &pubsub.Message{Message: &pb.Message{From: []byte(from), Data: data, Topic: &tp, Signature: []byte("sig checked by pubsub")}}
}

// TestValidateMessage feeds hand-built messages to the validator function, including
// those that cannot be produced over the wire (pubsub drops unsigned ones first).
func TestValidateMessage(t *testing.T) {
	author, other := newPeerID(t), newPeerID(t)
	now := time.Now()
	hb := &Heartbeat{Node: author, Engines: nil, Capacity: Capacity{Slots: 1}}
	good := mustEncode(t, hb, 7, now)
	g := newReplayGuard()
	for _, tc := range []struct {
		name  string
		msg   *pubsub.Message
		want  error
		topic Topic // default TopicHeartbeats
	}{
		{"nil", &pubsub.Message{}, ErrMalformed, ""},
		{"unsigned", &pubsub.Message{Message: &pb.Message{From: []byte(author), Data: good}}, ErrUnsigned, ""},
		{"no author", &pubsub.Message{Message: &pb.Message{Data: good, Signature: []byte("x")}}, ErrUnsigned, ""},
		{"bad author bytes", &pubsub.Message{Message: &pb.Message{From: []byte("junk"), Data: good, Signature: []byte("x")}}, ErrUnsigned, ""},
		{"author mismatch", signedMsg(other, TopicHeartbeats, good), ErrAuthorMismatch, ""},
		{"wrong topic", signedMsg(author, TopicJobs, good), ErrWrongTopic, TopicJobs},
		{"malformed", signedMsg(author, TopicHeartbeats, []byte(`{"v":1,`)), ErrMalformed, ""},
		{"oversized", signedMsg(author, TopicHeartbeats, []byte(`{"v":1,"x":"`+strings.Repeat("a", MaxMessageSize)+`"}`)), ErrTooLarge, ""},
		{"version 2", signedMsg(author, TopicHeartbeats, []byte(strings.Replace(string(good), `"v":1`, `"v":2`, 1))), ErrVersion, ""},
		{"stale", signedMsg(author, TopicHeartbeats, mustEncode(t, hb, 8, now.Add(-time.Hour))), ErrStale, ""},
		{"from the future", signedMsg(author, TopicHeartbeats, mustEncode(t, hb, 9, now.Add(time.Hour))), ErrStale, ""},
		{"accepted", signedMsg(author, TopicHeartbeats, good), nil, ""},
		{"replayed", signedMsg(author, TopicHeartbeats, good), ErrReplay, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := tc.topic
			if topic == "" {
				topic = TopicHeartbeats
			}
			m, err := validateMessage(jobCodec, topic, tc.msg, g, now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && (m.From != author || m.Seq != 7 || m.Payload.(*Heartbeat).Capacity.Slots != 1) {
				t.Fatalf("accepted as %+v", m)
			}
		})
	}
}

// rogue is a bare libp2p host with GossipSub and none of our checks, to put what a
// hostile peer could send on the wire.
type rogue struct {
	id     peer.ID
	topics map[Topic]*pubsub.Topic
}

func startRogue(t *testing.T, victim *Node, opts ...pubsub.Option) *rogue {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings(loopback...), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); h.Close() })
	opts = append(opts, pubsub.WithMaxMessageSize(4<<20))
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r := &rogue{id: h.ID(), topics: map[Topic]*pubsub.Topic{}}
	for topic := range JobTopics() {
		if r.topics[topic], err = ps.Join(string(topic)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.topics[topic].Subscribe(); err != nil { // to be in the mesh
			t.Fatal(err)
		}
	}
	if err := h.Connect(ctx, victim.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "rogue sees the victim's subscription", func() bool {
		return len(r.topics[TopicHeartbeats].ListPeers()) > 0 && len(victim.TopicPeers(TopicHeartbeats)) > 0
	})
	return r
}

func (r *rogue) publish(t *testing.T, topic Topic, data []byte) {
	t.Helper()
	if err := r.topics[topic].Publish(testCtx(t), data); err != nil {
		t.Fatal(err)
	}
}

// TestHostileMessagesNeverReachSubscribers puts forged, unsigned, oversized, replayed,
// stale, malformed and misplaced messages on the wire; the subscriber sees only the one
// good message, and the node counts each rejection.
func TestHostileMessagesNeverReachSubscribers(t *testing.T) {
	victim := startNode(t)
	ctx := testCtx(t)
	sub, err := victim.Subscribe(ctx, TopicHeartbeats)
	if err != nil {
		t.Fatal(err)
	}
	signer := startRogue(t, victim)
	unsigned := startRogue(t, victim, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign))
	// A warm-up so the mesh is up: publications right after the subscription exchange
	// can be lost (see MeshPeers).
	waitFor(t, 10*time.Second, "mesh with both rogues", func() bool { return victim.MeshPeers(TopicHeartbeats) >= 2 })

	now := time.Now()
	own := &Heartbeat{Node: signer.id, Capacity: Capacity{Slots: 2}}
	goodBytes := mustEncode(t, own, 1, now)
	// Publications right after the subscription exchange can be lost (see MeshPeers), so
	// the whole volley is repeated until every kind of rejection has been counted; repeats
	// of the good message count as replays.
	volley := func() {
		signer.publish(t, TopicHeartbeats, mustEncode(t, &Heartbeat{Node: victim.ID()}, 2, now))            // forged
		unsigned.publish(t, TopicHeartbeats, mustEncode(t, &Heartbeat{Node: unsigned.id}, 3, now))          // unsigned
		signer.publish(t, TopicHeartbeats, []byte(`{"v":1,"pad":"`+strings.Repeat("a", 65<<10)+`"}`))       // oversized
		signer.publish(t, TopicHeartbeats, []byte(`{"v":1,"kind":"node.heartbeat"`))                        // malformed
		signer.publish(t, TopicHeartbeats, []byte(strings.Replace(string(goodBytes), `"v":1`, `"v":9`, 1))) // unknown version
		signer.publish(t, TopicHeartbeats, mustEncode(t, own, 4, now.Add(-time.Hour)))                      // stale
		signer.publish(t, TopicJobEvents, goodBytes)                                                        // misplaced
		signer.publish(t, TopicHeartbeats, goodBytes)                                                       // the good one
		signer.publish(t, TopicHeartbeats, goodBytes)                                                       // replayed
	}
	want := map[string]uint64{
		"author mismatch": 1, "missing signature": 1, "message too large": 1, "malformed message": 1,
		"unknown message version": 1, "message time outside the accepted window": 1, "replayed message": 1,
	}
	rounds := 0
	waitFor(t, 20*time.Second, "every hostile message rejected", func() bool {
		if rounds++; rounds%25 == 1 { // every quarter second
			volley()
		}
		got := victim.Rejected()
		for k, v := range want {
			if got[k] < v {
				return false
			}
		}
		return true
	})
	m := receive(t, sub, 10*time.Second)
	if m.From != signer.id || m.Seq != 1 {
		t.Fatalf("delivered %+v, want the good message", m)
	}
	select {
	case m := <-sub:
		t.Fatalf("a hostile message reached the subscriber: %+v", m)
	default:
	}
	t.Logf("rejected: %v", victim.Rejected())
}

// TestTopicsConfig: each topic of Config.Topics carries one kind, each kind one topic.
func TestTopicsConfig(t *testing.T) {
	mk := func() Payload { return new(Heartbeat) }
	for name, ts := range map[string]Topics{
		"no payload":       {TopicHeartbeats: nil},
		"a kind twice":     {TopicHeartbeats: mk, "/elsewhere/1": mk},
		"a kind twice too": {TopicJobs: func() Payload { return new(JobAnnouncement) }, TopicHeartbeats: mk, TopicJobEvents: mk},
	} {
		if _, err := newCodec(ts); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
	c, err := newCodec(JobTopics())
	if err != nil || len(c.kinds) != 3 || c.kinds[TopicHeartbeats] != KindHeartbeat || len(c.types) != 3 {
		t.Fatalf("job topics: %+v, %v", c, err)
	}
}
