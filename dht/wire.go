package dht

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// WireVersion is the envelope version this package writes and the only one it reads.
const WireVersion = 1

// MaxMessageSize bounds an encoded envelope. GossipSub's own RPC limit is set a little
// above it (signature, key, topic and sequence number travel beside the data).
const MaxMessageSize = 64 << 10

const pubsubOverhead = 4 << 10

// envelope is what travels as a pubsub message's data. The author is not in it: it is
// the signing peer, which pubsub verifies, and each payload names it once more so that
// a message cannot be re-signed by someone else and keep its meaning.
type envelope struct {
	V    int             `json:"v"`
	Kind Kind            `json:"kind"`
	Seq  uint64          `json:"seq"`  // per author, increasing; with Time, the replay key
	Time time.Time       `json:"time"` // sender's clock at publication
	Body json.RawMessage `json:"body"`
}

// Kind names a payload type inside an envelope.
type Kind string

// Payload is the typed content of a message: one of the types that Config.Topics makes
// (the job protocol's are in package jobproto). Subscribers tell them apart with a type
// switch.
type Payload interface {
	Kind() Kind
	// Author is the peer the payload speaks for; it must be the message's signer.
	Author() peer.ID
	// Validate reports the first thing wrong with the payload, wrapping ErrInvalid.
	Validate() error
}

// Message is a validated message as a subscriber receives it.
type Message struct {
	From    peer.ID   // the signer, checked to be the payload's author
	Seq     uint64    // the author's sequence number
	Time    time.Time // the author's clock when it published
	Payload Payload
}

// encodeMessage wraps p in a version-1 envelope, refusing invalid or oversized payloads.
func encodeMessage(p Payload, seq uint64, t time.Time) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	b, err := json.Marshal(envelope{V: WireVersion, Kind: p.Kind(), Seq: seq, Time: t.UTC(), Body: body})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxMessageSize)
	}
	return b, nil
}

// codec decodes the messages of a node's topics (Config.Topics).
type codec struct {
	kinds map[Topic]Kind          // the payload kind each topic carries; nothing else is accepted on it
	types map[Kind]func() Payload // an empty payload of each kind, to decode into
}

// newCodec reads ts: each topic carries one payload kind, each kind travels on one topic.
func newCodec(ts Topics) (codec, error) {
	c := codec{kinds: make(map[Topic]Kind, len(ts)), types: make(map[Kind]func() Payload, len(ts))}
	for t, mk := range ts {
		if mk == nil {
			return c, fmt.Errorf("%w: topic %s: no payload", ErrConfig, t)
		}
		k := mk().Kind()
		if _, dup := c.types[k]; dup {
			return c, fmt.Errorf("%w: payload kind %s on two topics", ErrConfig, k)
		}
		c.kinds[t], c.types[k] = k, mk
	}
	return c, nil
}

// decodeEnvelope parses and checks the envelope only: size, JSON shape, version, kind,
// sequence and time present. Fields it does not know are ignored, so v1 can grow
// optional fields; a change of meaning is a new version.
func (c codec) decodeEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) > MaxMessageSize {
		return e, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxMessageSize)
	}
	if err := StrictUnmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if e.V != WireVersion {
		return e, fmt.Errorf("%w: %d (this node speaks %d)", ErrVersion, e.V, WireVersion)
	}
	if _, ok := c.types[e.Kind]; !ok {
		return e, fmt.Errorf("%w: unknown kind %q", ErrMalformed, e.Kind)
	}
	if e.Seq == 0 || e.Time.IsZero() || len(e.Body) == 0 {
		return e, fmt.Errorf("%w: envelope without seq, time or body", ErrMalformed)
	}
	return e, nil
}

// decodePayload parses the body of an envelope of kind k and validates it.
func (c codec) decodePayload(k Kind, body []byte) (Payload, error) {
	mk, ok := c.types[k]
	if !ok {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrMalformed, k)
	}
	p := mk()
	if err := StrictUnmarshal(body, p); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, k, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeMessage is the whole decoder of a pubsub message's data.
func (c codec) decodeMessage(b []byte) (envelope, Payload, error) {
	e, err := c.decodeEnvelope(b)
	if err != nil {
		return e, nil, err
	}
	p, err := c.decodePayload(e.Kind, e.Body)
	return e, p, err
}

// StrictUnmarshal decodes exactly one JSON object into v: "null", another kind of value
// and trailing data are errors. Everything a node reads from the network is decoded so.
func StrictUnmarshal(b []byte, v any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON object")
	}
	return nil
}

// seqCounter hands out sequence numbers that keep increasing across restarts: it
// starts at the wall clock in nanoseconds, so a restarted node (same peer ID) is not
// taken for a replayer of its former self.
type seqCounter struct {
	mu   sync.Mutex
	last uint64
}

func (c *seqCounter) next() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := uint64(time.Now().UnixNano())
	if now <= c.last {
		now = c.last + 1
	}
	c.last = now
	return now
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
