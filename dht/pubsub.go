package dht

import (
	"context"
	"fmt"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Topic is a GossipSub topic name. Names carry a version: a change of message format
// gets a new topic, so old and new nodes never misread each other.
type Topic string

// Topics says which payload each topic carries, by a function that makes an empty one
// to decode into: a node joins every topic of Config.Topics when it starts, and accepts
// on each only payloads of that kind. Each kind travels on one topic.
type Topics map[Topic]func() Payload

const subscriptionBuffer = 64

func (n *Peer) startPubSub() error {
	ps, err := pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMaxMessageSize(MaxMessageSize+pubsubOverhead),
		pubsub.WithEventTracer(&n.rejects),
		pubsub.WithLogger(n.log.With("component", "pubsub")),
	)
	if err != nil {
		return fmt.Errorf("%w: gossipsub: %v", ErrConfig, err)
	}
	n.ps = ps
	n.topics = make(map[Topic]*pubsub.Topic, len(n.codec.kinds))
	for t := range n.codec.kinds {
		if err := ps.RegisterTopicValidator(string(t), n.validator(t)); err != nil {
			return fmt.Errorf("%w: validator for %s: %v", ErrConfig, t, err)
		}
		tp, err := ps.Join(string(t))
		if err != nil {
			return fmt.Errorf("%w: join %s: %v", ErrConfig, t, err)
		}
		n.topics[t] = tp
	}
	return nil
}

// Publish signs p and sends it on topic. p must be of the topic's kind, valid, authored
// by this node, and fit in MaxMessageSize once encoded. The node's own subscribers on
// the topic receive it too.
func (n *Peer) Publish(ctx context.Context, t Topic, p Payload) error {
	tp, ok := n.topics[t]
	if !ok {
		return fmt.Errorf("%w: unknown topic %q", ErrWrongTopic, t)
	}
	if n.codec.kinds[t] != p.Kind() {
		return fmt.Errorf("%w: %s on %s", ErrWrongTopic, p.Kind(), t)
	}
	if p.Author() != n.ID() {
		return fmt.Errorf("%w: payload speaks for %s, this node is %s", ErrAuthorMismatch, p.Author(), n.ID())
	}
	b, err := encodeMessage(p, n.seq.next(), n.now())
	if err != nil {
		return err
	}
	if err := tp.Publish(ctx, b); err != nil {
		return fmt.Errorf("dht: publish on %s: %w", t, err)
	}
	return nil
}

// Subscribe returns the validated messages arriving on topic, including this node's
// own. The channel is closed when ctx is done or the node closes. Payloads may be shared
// between subscriptions: treat them as read-only. A subscriber that does not keep up
// loses messages (GossipSub drops them rather than stall the node).
func (n *Peer) Subscribe(ctx context.Context, t Topic) (<-chan Message, error) {
	tp, ok := n.topics[t]
	if !ok {
		return nil, fmt.Errorf("%w: unknown topic %q", ErrWrongTopic, t)
	}
	sub, err := tp.Subscribe(pubsub.WithBufferSize(subscriptionBuffer))
	if err != nil {
		return nil, fmt.Errorf("dht: subscribe to %s: %w", t, err)
	}
	ch := make(chan Message, subscriptionBuffer)
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(n.ctx, cancel)
	started := n.goTrack(func() {
		defer close(ch)
		defer stop()
		defer cancel()
		defer sub.Cancel()
		for {
			m, err := sub.Next(sctx)
			if err != nil {
				return
			}
			msg, ok := m.ValidatorData.(*Message)
			if !ok { // cannot happen: the validator accepted it and set this
				continue
			}
			select {
			case ch <- *msg:
			case <-sctx.Done():
				return
			}
		}
	})
	if !started {
		sub.Cancel()
		stop()
		cancel()
		return nil, ErrClosed
	}
	return ch, nil
}

// TopicPeers lists the peers this node knows to be subscribed to topic.
func (n *Peer) TopicPeers(t Topic) []peer.ID {
	tp, ok := n.topics[t]
	if !ok {
		return nil
	}
	return tp.ListPeers()
}
