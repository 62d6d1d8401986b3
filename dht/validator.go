package dht

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// validator is the pubsub topic validator of t. Pubsub has already checked the
// signature (StrictSign); this checks everything else. Malformed, forged or misplaced
// messages are rejected, which also lowers the sender's peer score; stale and replayed
// ones are ignored, since an honest relay may forward them.
func (n *Peer) validator(t Topic) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		msg, err := validateMessage(n.codec, t, m, n.guard, n.now())
		if err != nil {
			n.rejects.add(err)
			n.log.Debug("pubsub message dropped", "topic", t, "from", from, "err", err)
			if errors.Is(err, ErrReplay) || errors.Is(err, ErrStale) {
				return pubsub.ValidationIgnore
			}
			return pubsub.ValidationReject
		}
		m.ValidatorData = msg
		return pubsub.ValidationAccept
	}
}

func (n *Peer) now() time.Time { return time.Now() }

// validateMessage decodes m and checks, in order: signed, well formed, of t's kind,
// authored by its signer, not stale, not seen before. Only a message that passes every
// check is remembered by the replay guard.
func validateMessage(c codec, t Topic, m *pubsub.Message, g *replayGuard, now time.Time) (*Message, error) {
	if m == nil || m.Message == nil {
		return nil, fmt.Errorf("%w: empty pubsub message", ErrMalformed)
	}
	if len(m.Signature) == 0 || len(m.From) == 0 {
		return nil, ErrUnsigned
	}
	signer, err := peer.IDFromBytes(m.From)
	if err != nil {
		return nil, fmt.Errorf("%w: signer: %v", ErrUnsigned, err)
	}
	e, p, err := c.decodeMessage(m.Data)
	if err != nil {
		return nil, err
	}
	if want, ok := c.kinds[t]; !ok || e.Kind != want {
		return nil, fmt.Errorf("%w: %s on %s", ErrWrongTopic, e.Kind, t)
	}
	if p.Author() != signer {
		return nil, fmt.Errorf("%w: signed by %s, claims %s", ErrAuthorMismatch, signer, p.Author())
	}
	if err := g.check(signer, e.Seq, e.Time, now); err != nil {
		return nil, err
	}
	return &Message{From: signer, Seq: e.Seq, Time: e.Time, Payload: p}, nil
}

// rejectCounter counts dropped messages by reason: this package's reasons from the
// validator, and pubsub's own (missing or invalid signature, ...) from its tracer.
// It also follows the GossipSub mesh, which tells when a topic is ready to carry
// messages: a message published in the instant after two peers exchange subscriptions,
// before the first mesh heartbeat, can be lost (seen with go-libp2p-pubsub v0.19.0).
type rejectCounter struct {
	mu   sync.Mutex
	by   map[string]uint64
	mesh map[string]map[peer.ID]bool // topic -> grafted peers
}

var sentinels = []error{ErrTooLarge, ErrMalformed, ErrVersion, ErrInvalid, ErrWrongTopic,
	ErrUnsigned, ErrAuthorMismatch, ErrReplay, ErrStale}

func (r *rejectCounter) add(err error) {
	reason := "other"
	for _, s := range sentinels {
		if errors.Is(err, s) {
			reason = strings.TrimPrefix(s.Error(), "dht: ")
			break
		}
	}
	r.inc(reason)
}

func (r *rejectCounter) inc(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by = map[string]uint64{}
	}
	r.by[reason]++
}

// Trace implements pubsub.EventTracer for the rejections pubsub makes before our
// validator runs; the validator's own are already counted by add.
func (r *rejectCounter) Trace(evt *pb.TraceEvent) {
	switch evt.GetType() {
	case pb.TraceEvent_GRAFT:
		r.graft(evt.GetGraft().GetTopic(), peer.ID(evt.GetGraft().GetPeerID()), true)
		return
	case pb.TraceEvent_PRUNE:
		r.graft(evt.GetPrune().GetTopic(), peer.ID(evt.GetPrune().GetPeerID()), false)
		return
	case pb.TraceEvent_REJECT_MESSAGE:
	default:
		return
	}
	switch reason := evt.GetRejectMessage().GetReason(); reason {
	case pubsub.RejectValidationFailed, pubsub.RejectValidationIgnored:
	default:
		r.inc(reason)
	}
}

func (r *rejectCounter) snapshot() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.by)
}

// Rejected counts the pubsub messages this node dropped, by reason ("author mismatch",
// "replayed message", "missing signature", ...). For operators and tests.
func (n *Peer) Rejected() map[string]uint64 { return n.rejects.snapshot() }

func (r *rejectCounter) graft(topic string, p peer.ID, in bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mesh == nil {
		r.mesh = map[string]map[peer.ID]bool{}
	}
	if r.mesh[topic] == nil {
		r.mesh[topic] = map[peer.ID]bool{}
	}
	if in {
		r.mesh[topic][p] = true
	} else {
		delete(r.mesh[topic], p)
	}
}

// MeshPeers counts the peers this node is grafted to in topic's GossipSub mesh. A topic
// with mesh peers is ready to carry messages.
func (n *Peer) MeshPeers(t Topic) int {
	n.rejects.mu.Lock()
	defer n.rejects.mu.Unlock()
	return len(n.rejects.mesh[string(t)])
}
