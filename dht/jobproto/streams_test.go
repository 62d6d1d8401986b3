package jobproto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestHandleAndRequest: the job protocol's streams add two things to dht's: a handler's
// job.ErrInvalid crosses as an invalid request (its text unchanged), and ProtoJobPull
// answers may be larger than other protocols'.
func TestHandleAndRequest(t *testing.T) {
	server, client := startNode(t), startNode(t)
	if err := client.Host().Connect(testCtx(t), server.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	Handle(server, ProtoCancel, func(_ context.Context, _ peer.ID, c *Cancel) (*Ack, error) {
		switch c.ExecutionID {
		case "e-0b6a7e4c-1":
			return nil, fmt.Errorf("%w: not supported by this node", job.ErrInvalid)
		case "e-0b6a7e4c-2":
			return nil, fmt.Errorf("%w by the requester: %s", dht.ErrGivenUp, c.ExecutionID)
		case "e-0b6a7e4c-3":
			return nil, errors.New("no such job")
		}
		return &Ack{OK: true}, nil
	})
	record := json.RawMessage(`{"pad":"` + strings.Repeat("x", 4<<10) + `"}`)
	pull := func(_ context.Context, _ peer.ID, p *JobPull) (*JobRecords, error) {
		r := &JobRecords{}
		for range MaxPullJobs {
			r.Jobs = append(r.Jobs, record)
		}
		return r, nil
	}
	Handle(server, ProtoJobPull, pull)
	Handle(server, ProtoBid, func(ctx context.Context, from peer.ID, b *Bid) (*JobRecords, error) {
		return pull(ctx, from, nil) // as large an answer on a protocol of the default limit
	})

	ack, err := Request[Cancel, Ack](testCtx(t), client, server.ID(), ProtoCancel, &Cancel{JobID: fuzzJobID})
	if err != nil || !ack.OK {
		t.Fatalf("cancel: %+v, %v", ack, err)
	}
	for _, tc := range []struct {
		exec, code, text string
	}{
		{"e-0b6a7e4c-1", dht.CodeInvalid, "job: invalid spec: not supported by this node"},
		{"e-0b6a7e4c-2", dht.CodeGivenUp, "dht: execution given up by the requester: e-0b6a7e4c-2"},
		{"e-0b6a7e4c-3", "", "no such job"},
	} {
		_, err := Request[Cancel, Ack](testCtx(t), client, server.ID(), ProtoCancel, &Cancel{JobID: fuzzJobID, ExecutionID: tc.exec})
		var re *dht.RemoteError
		if !errors.As(err, &re) || re.Code != tc.code || re.Message != tc.text {
			t.Errorf("%s: got %#v, want code %q and text %q", tc.exec, err, tc.code, tc.text)
		}
	}

	recs, err := Request[JobPull, JobRecords](testCtx(t), client, server.ID(), ProtoJobPull, &JobPull{})
	if err != nil || len(recs.Jobs) != MaxPullJobs {
		t.Fatalf("pull of %d KiB: %v", MaxPullJobs*4, err)
	}
	if _, err := Request[Bid, JobRecords](testCtx(t), client, server.ID(), ProtoBid, &Bid{JobID: fuzzJobID}); !errors.Is(err, dht.ErrInternal) {
		t.Errorf("as large an answer to a bid: got %v, want the server's ErrInternal", err)
	}
}
