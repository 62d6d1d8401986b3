package jobproto

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// MaxJobPullSize bounds a JobRecords response.
const MaxJobPullSize = 8 << 20

// responseLimit is the frame size limit of a protocol's responses.
func responseLimit(proto protocol.ID) int {
	if proto == ProtoJobPull {
		return MaxJobPullSize
	}
	return dht.MaxStreamMessageSize
}

// Handle serves proto on n as dht.Handle does, with the job protocol's two additions:
// the responses of ProtoJobPull may take up to MaxJobPullSize, and a handler's error
// that wraps job.ErrInvalid (a spec this node cannot take) crosses the stream as
// dht.CodeInvalid, as one that wraps dht.ErrInvalid does.
func Handle[Req, Resp any](n *dht.Peer, proto protocol.ID, h dht.Handler[Req, Resp]) {
	dht.HandleLimit(n, proto, responseLimit(proto), func(ctx context.Context, from peer.ID, req *Req) (*Resp, error) {
		resp, err := h(ctx, from, req)
		if errors.Is(err, job.ErrInvalid) {
			err = invalid{err}
		}
		return resp, err
	})
}

// Request sends req to peer to over proto as dht.Request does, reading a response of up
// to the protocol's limit (MaxJobPullSize for ProtoJobPull).
func Request[Req, Resp any](ctx context.Context, n *dht.Peer, to peer.ID, proto protocol.ID, req *Req) (*Resp, error) {
	return dht.RequestLimit[Req, Resp](ctx, n, to, proto, req, responseLimit(proto))
}

// invalid is a handler's error that wraps job.ErrInvalid, made to match dht.ErrInvalid
// too, so that dht sends it with its code; its text is the handler's.
type invalid struct{ error }

func (e invalid) Unwrap() error        { return e.error }
func (e invalid) Is(target error) bool { return target == dht.ErrInvalid }
