package dht

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// loopback keeps test hosts on 127.0.0.1 over TCP: quick to start, nothing leaves the
// machine. TestTransports covers QUIC.
var loopback = []string{"/ip4/127.0.0.1/tcp/0"}

func testLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("DHT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startNode starts a node on loopback, bootstrapped from boot, closed at cleanup.
func startNode(t testing.TB, boot ...*Peer) *Peer {
	t.Helper()
	return startNodeWith(t, Config{}, boot...)
}

func startNodeWith(t testing.TB, cfg Config, boot ...*Peer) *Peer {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.ListenAddrs == nil {
		cfg.ListenAddrs = loopback
	}
	if cfg.DiscoveryInterval == 0 {
		cfg.DiscoveryInterval = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.Topics == nil {
		cfg.Topics = testTopics
	}
	for _, b := range boot {
		cfg.Bootstrap = append(cfg.Bootstrap, b.AddrInfo())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := New(ctx, cfg)
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

// receive waits for the next message on ch, failing after d.
func receive(t testing.TB, ch <-chan Message, d time.Duration) Message {
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
	return Message{}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func testCtxT(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// dht carries whatever payloads its caller names in Config.Topics; its tests use these
// two stand-ins rather than the job protocol's.
const (
	topicNotes Topic = "/bacalhau-test/notes/1" // *note
	topicPings Topic = "/bacalhau-test/pings/1" // *ping
)

var testTopics = Topics{
	topicNotes: func() Payload { return new(note) },
	topicPings: func() Payload { return new(ping) },
}

var testCodec, _ = newCodec(testTopics)

// note is a line of text from a peer.
type note struct {
	From peer.ID `json:"from"`
	Text string  `json:"text"`
}

func (n *note) Kind() Kind      { return "test.note" }
func (n *note) Author() peer.ID { return n.From }

func (n *note) Validate() error {
	if err := n.From.Validate(); err != nil {
		return fmt.Errorf("%w: from: %v", ErrInvalid, err)
	}
	if n.Text == "" {
		return fmt.Errorf("%w: a note without text", ErrInvalid)
	}
	return nil
}

// ping is a number from a peer.
type ping struct {
	From peer.ID `json:"from"`
	N    int     `json:"n"`
}

func (p *ping) Kind() Kind      { return "test.ping" }
func (p *ping) Author() peer.ID { return p.From }

func (p *ping) Validate() error {
	if err := p.From.Validate(); err != nil {
		return fmt.Errorf("%w: from: %v", ErrInvalid, err)
	}
	return nil
}
