package fnproto

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// ProtoLogs asks a peer for the records of the requests it ran for one function: how
// `fn logs` shows every node's, whichever node it asks.
const ProtoLogs protocol.ID = "/bacalhau/functions-logs/1"

// MaxLogsSize bounds a LogRecords answer; MaxLogRecords its records.
const (
	MaxLogsSize   = 4 << 20
	MaxLogRecords = 1000
)

// LogsRequest asks for the records of Function's requests numbered above After, the
// newest Limit of them.
type LogsRequest struct {
	Function string `json:"function"`
	After    uint64 `json:"after"`
	Limit    int    `json:"limit"`
}

// Validate checks the function's name and the limit.
func (r *LogsRequest) Validate() error {
	if err := job.ValidFunctionName(r.Function); err != nil {
		return fmt.Errorf("%w: %v", dht.ErrInvalid, err)
	}
	if r.Limit < 1 || r.Limit > MaxLogRecords {
		return fmt.Errorf("%w: limit %d: want 1 to %d", dht.ErrInvalid, r.Limit, MaxLogRecords)
	}
	return nil
}

// LogRecords answers a LogsRequest, oldest first.
type LogRecords struct {
	Records []job.Invocation `json:"records"`
}

// Validate checks every record.
func (r *LogRecords) Validate() error {
	if len(r.Records) > MaxLogRecords {
		return fmt.Errorf("%w: %d records, at most %d", dht.ErrInvalid, len(r.Records), MaxLogRecords)
	}
	for i := range r.Records {
		if err := r.Records[i].Validate(); err != nil {
			return fmt.Errorf("%w: %v", dht.ErrInvalid, err)
		}
	}
	return nil
}

// ServeLogs answers log requests with what logs returns (oldest first), keeping the
// newest records that fit in an answer.
func ServeLogs(n *dht.Peer, logs func(name string, after uint64, limit int) []job.Invocation) {
	dht.HandleLimit(n, ProtoLogs, MaxLogsSize, func(_ context.Context, _ peer.ID, r *LogsRequest) (*LogRecords, error) {
		return &LogRecords{Records: fit(logs(r.Function, r.After, r.Limit), MaxLogsSize-(64<<10))}, nil
	})
}

// fit drops the oldest records until their JSON is at most size bytes.
func fit(recs []job.Invocation, size int) []job.Invocation {
	total, i := 0, len(recs)
	for i > 0 {
		b, err := json.Marshal(&recs[i-1])
		if err != nil || total+len(b)+1 > size {
			break
		}
		total += len(b) + 1
		i--
	}
	return recs[i:]
}

// Logs asks peer p for the records of function's requests numbered above after.
func Logs(ctx context.Context, n *dht.Peer, p peer.ID, function string, after uint64, limit int) ([]job.Invocation, error) {
	r, err := dht.RequestLimit[LogsRequest, LogRecords](ctx, n, p, ProtoLogs, &LogsRequest{Function: function, After: after, Limit: limit}, MaxLogsSize)
	if err != nil {
		return nil, err
	}
	return r.Records, nil
}
