package dht

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

const bidProto = "/bacalhau/test-bid/1"

type bidReq struct {
	JobID string `json:"jobId"`
	Pad   string `json:"pad,omitempty"`
}

func (r *bidReq) Validate() error {
	if r.JobID == "" {
		return fmt.Errorf("%w: no job ID", ErrInvalid)
	}
	return nil
}

type bidResp struct {
	Accept bool   `json:"accept"`
	From   string `json:"from"`
}

func TestRequestResponse(t *testing.T) {
	server, client := startNode(t), startNode(t)
	if err := client.Host().Connect(testCtx(t), server.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	Handle(server, bidProto, func(ctx context.Context, from peer.ID, r *bidReq) (*bidResp, error) {
		switch r.JobID {
		case "refuse":
			return nil, errors.New("no capacity")
		case "slow":
			<-ctx.Done()
			return nil, ctx.Err()
		case "huge":
			return &bidResp{From: strings.Repeat("x", MaxStreamMessageSize)}, nil
		}
		return &bidResp{Accept: true, From: from.String()}, nil
	})

	resp, err := Request[bidReq, bidResp](testCtx(t), client, server.ID(), bidProto, &bidReq{JobID: "j-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Accept || resp.From != client.ID().String() {
		t.Fatalf("got %+v", resp)
	}

	for _, tc := range []struct {
		name string
		req  *bidReq
		want error
	}{
		{"handler error", &bidReq{JobID: "refuse"}, ErrRemote},
		{"invalid request", &bidReq{}, ErrInvalid},
		{"request too large", &bidReq{JobID: "j", Pad: strings.Repeat("p", MaxStreamMessageSize)}, ErrTooLarge},
		{"response too large", &bidReq{JobID: "huge"}, ErrRemote}, // the server cannot send it and says so
	} {
		_, err := Request[bidReq, bidResp](testCtx(t), client, server.ID(), bidProto, tc.req)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Request[bidReq, bidResp](ctx, client, server.ID(), bidProto, &bidReq{JobID: "slow"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow handler: got %v, want DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the deadline did not cut the request short")
	}

	if _, err := Request[bidReq, bidResp](testCtx(t), client, server.ID(), "/bacalhau/nothing/1", &bidReq{JobID: "x"}); err == nil {
		t.Error("request on an unknown protocol succeeded")
	}
}

// TestOversizedResponseFromAHostilePeer: a peer that streams more than the limit is cut off.
func TestOversizedResponseFromAHostilePeer(t *testing.T) {
	server, client := startNode(t), startNode(t)
	if err := client.Host().Connect(testCtx(t), server.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	server.Host().SetStreamHandler(bidProto, func(s network.Stream) {
		defer s.Close()
		s.Write([]byte(`{"v":1,"body":{"from":"` + strings.Repeat("x", 2*MaxStreamMessageSize) + `"}}`))
	})
	if _, err := Request[bidReq, bidResp](testCtx(t), client, server.ID(), bidProto, &bidReq{JobID: "j"}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
}
