// Package fnproto is the functions protocol spoken over package dht: deploys and
// deletes of functions announced on a GossipSub topic, and a pull of a peer's whole
// registry, which a node makes of every peer it meets, so that one that joins later
// learns every deployed function.
//
//	dht.New(ctx, dht.Config{Topics: fnproto.Topics(), ...})
//	n.Publish(ctx, fnproto.TopicFunctions, &fnproto.FunctionRecord{Node: n.ID(), Function: f})
//	recs, err := fnproto.Pull(ctx, n, peer)
package fnproto

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TopicFunctions carries FunctionRecords.
const TopicFunctions dht.Topic = "/bacalhau/functions/1"

// KindFunctionRecord names a FunctionRecord in an envelope.
const KindFunctionRecord dht.Kind = "function.record"

// ProtoPull asks a peer for every function record it holds.
const ProtoPull protocol.ID = "/bacalhau/functions-pull/1"

// MaxPullSize bounds a Records answer: some 2,000 records of a few hundred bytes.
const MaxPullSize = 4 << 20

// MaxRecords bounds the records of one Records answer.
const MaxRecords = 10000

// Topics are the functions protocol's topics, for dht.Config.Topics.
func Topics() dht.Topics {
	return dht.Topics{TopicFunctions: func() dht.Payload { return new(FunctionRecord) }}
}

// FunctionRecord announces a deploy or (Function.Deleted) a delete. Node is the
// publisher, who need not be the deployer: a node re-announces what it learned.
type FunctionRecord struct {
	Node     peer.ID      `json:"node"`
	Function job.Function `json:"function"`
}

func (r *FunctionRecord) Kind() dht.Kind  { return KindFunctionRecord }
func (r *FunctionRecord) Author() peer.ID { return r.Node }

// Validate checks the publisher and the function.
func (r *FunctionRecord) Validate() error {
	if err := r.Node.Validate(); err != nil {
		return fmt.Errorf("%w: node: %v", dht.ErrInvalid, err)
	}
	return validFunction(&r.Function)
}

func validFunction(f *job.Function) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%w: %v", dht.ErrInvalid, err)
	}
	if f.Version <= 0 || f.Deployer == "" {
		return fmt.Errorf("%w: function %s has no version or deployer", dht.ErrInvalid, f.Name)
	}
	return nil
}

// PullRequest asks for every record.
type PullRequest struct{}

// Records answers a PullRequest.
type Records struct {
	Functions []job.Function `json:"functions"`
}

// Validate checks every record.
func (r *Records) Validate() error {
	if len(r.Functions) > MaxRecords {
		return fmt.Errorf("%w: %d records, at most %d", dht.ErrInvalid, len(r.Functions), MaxRecords)
	}
	for i := range r.Functions {
		if err := validFunction(&r.Functions[i]); err != nil {
			return err
		}
	}
	return nil
}

// Serve answers pulls with what records returns.
func Serve(n *dht.Peer, records func() []job.Function) {
	dht.HandleLimit(n, ProtoPull, MaxPullSize, func(context.Context, peer.ID, *PullRequest) (*Records, error) {
		fs := records()
		if len(fs) > MaxRecords {
			fs = fs[:MaxRecords]
		}
		return &Records{Functions: fs}, nil
	})
}

// Pull asks peer p for its records.
func Pull(ctx context.Context, n *dht.Peer, p peer.ID) ([]job.Function, error) {
	r, err := dht.RequestLimit[PullRequest, Records](ctx, n, p, ProtoPull, &PullRequest{}, MaxPullSize)
	if err != nil {
		return nil, err
	}
	return r.Functions, nil
}
