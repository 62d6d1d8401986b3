package jobproto

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
)

// startNode starts a node of the job protocol on loopback, bootstrapped from boot,
// closed at cleanup.
func startNode(t testing.TB, boot ...*dht.Peer) *dht.Peer {
	t.Helper()
	cfg := dht.Config{Dir: t.TempDir(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Topics: Topics(),
		DiscoveryInterval: 250 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, b := range boot {
		cfg.Bootstrap = append(cfg.Bootstrap, b.AddrInfo())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := dht.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitFor polls cond until it holds or the deadline passes, then fails with what.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("after %v: %s", d, what)
		case <-tick.C:
		}
	}
}

// meshed waits until every node sees every other as subscribed to topic.
func meshed(t testing.TB, topic dht.Topic, nodes ...*dht.Peer) {
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

// receive waits for the next message on ch, failing after d.
func receive(t testing.TB, ch <-chan dht.Message, d time.Duration) dht.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
	}
	return dht.Message{}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

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

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
