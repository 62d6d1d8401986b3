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
	hello := &note{From: author, Text: "hello"}
	good := mustEncode(t, hello, 7, now)
	g := newReplayGuard()
	for _, tc := range []struct {
		name  string
		msg   *pubsub.Message
		want  error
		topic Topic // default topicNotes
	}{
		{"nil", &pubsub.Message{}, ErrMalformed, ""},
		{"unsigned", &pubsub.Message{Message: &pb.Message{From: []byte(author), Data: good}}, ErrUnsigned, ""},
		{"no author", &pubsub.Message{Message: &pb.Message{Data: good, Signature: []byte("x")}}, ErrUnsigned, ""},
		{"bad author bytes", &pubsub.Message{Message: &pb.Message{From: []byte("junk"), Data: good, Signature: []byte("x")}}, ErrUnsigned, ""},
		{"author mismatch", signedMsg(other, topicNotes, good), ErrAuthorMismatch, ""},
		{"wrong topic", signedMsg(author, topicPings, good), ErrWrongTopic, topicPings},
		{"malformed", signedMsg(author, topicNotes, []byte(`{"v":1,`)), ErrMalformed, ""},
		{"oversized", signedMsg(author, topicNotes, []byte(`{"v":1,"x":"`+strings.Repeat("a", MaxMessageSize)+`"}`)), ErrTooLarge, ""},
		{"version 2", signedMsg(author, topicNotes, []byte(strings.Replace(string(good), `"v":1`, `"v":2`, 1))), ErrVersion, ""},
		{"stale", signedMsg(author, topicNotes, mustEncode(t, hello, 8, now.Add(-time.Hour))), ErrStale, ""},
		{"from the future", signedMsg(author, topicNotes, mustEncode(t, hello, 9, now.Add(time.Hour))), ErrStale, ""},
		{"accepted", signedMsg(author, topicNotes, good), nil, ""},
		{"replayed", signedMsg(author, topicNotes, good), ErrReplay, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := tc.topic
			if topic == "" {
				topic = topicNotes
			}
			m, err := validateMessage(testCodec, topic, tc.msg, g, now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && (m.From != author || m.Seq != 7 || m.Payload.(*note).Text != "hello") {
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

func startRogue(t *testing.T, victim *Peer, opts ...pubsub.Option) *rogue {
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
	for topic := range testTopics {
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
		return len(r.topics[topicNotes].ListPeers()) > 0 && len(victim.TopicPeers(topicNotes)) > 0
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
	sub, err := victim.Subscribe(ctx, topicNotes)
	if err != nil {
		t.Fatal(err)
	}
	signer := startRogue(t, victim)
	unsigned := startRogue(t, victim, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign))
	// A warm-up so the mesh is up: publications right after the subscription exchange
	// can be lost (see MeshPeers).
	waitFor(t, 10*time.Second, "mesh with both rogues", func() bool { return victim.MeshPeers(topicNotes) >= 2 })

	now := time.Now()
	own := &note{From: signer.id, Text: "hello"}
	goodBytes := mustEncode(t, own, 1, now)
	// Publications right after the subscription exchange can be lost (see MeshPeers), so
	// the whole volley is repeated until every kind of rejection has been counted; repeats
	// of the good message count as replays.
	volley := func() {
		signer.publish(t, topicNotes, mustEncode(t, &note{From: victim.ID(), Text: "forged"}, 2, now))     // forged
		unsigned.publish(t, topicNotes, mustEncode(t, &note{From: unsigned.id, Text: "unsigned"}, 3, now)) // unsigned
		signer.publish(t, topicNotes, []byte(`{"v":1,"pad":"`+strings.Repeat("a", 65<<10)+`"}`))           // oversized
		signer.publish(t, topicNotes, []byte(`{"v":1,"kind":"test.note"`))                                 // malformed
		signer.publish(t, topicNotes, []byte(strings.Replace(string(goodBytes), `"v":1`, `"v":9`, 1)))     // unknown version
		signer.publish(t, topicNotes, mustEncode(t, own, 4, now.Add(-time.Hour)))                          // stale
		signer.publish(t, topicPings, goodBytes)                                                           // misplaced
		signer.publish(t, topicNotes, goodBytes)                                                           // the good one
		signer.publish(t, topicNotes, goodBytes)                                                           // replayed
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
	mk := func() Payload { return new(note) }
	for name, ts := range map[string]Topics{
		"no payload":   {topicNotes: nil},
		"a kind twice": {topicNotes: mk, topicPings: mk},
	} {
		if _, err := newCodec(ts); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
		if _, err := New(testCtx(t), Config{Dir: t.TempDir(), ListenAddrs: loopback, Topics: ts}); !errors.Is(err, ErrConfig) {
			t.Errorf("New with %s: got %v, want ErrConfig", name, err)
		}
	}
	c, err := newCodec(testTopics)
	if err != nil || len(c.kinds) != 2 || c.kinds[topicPings] != "test.ping" || len(c.types) != 2 {
		t.Fatalf("test topics: %+v, %v", c, err)
	}
}
