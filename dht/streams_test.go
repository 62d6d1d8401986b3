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
		case "given-up":
			return nil, fmt.Errorf("%w by the requester: e-1", ErrGivenUp)
		case "closing":
			return nil, fmt.Errorf("shutting down: %w", ErrClosed)
		case "nothing":
			return nil, nil
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
		code string // of the *RemoteError; "-" for a local error
	}{
		{"handler error", &bidReq{JobID: "refuse"}, ErrRemote, ""},
		{"given up", &bidReq{JobID: "given-up"}, ErrGivenUp, CodeGivenUp},
		{"handler closing", &bidReq{JobID: "closing"}, ErrUnavailable, CodeUnavailable},
		{"no response", &bidReq{JobID: "nothing"}, ErrInternal, CodeInternal},
		{"invalid request", &bidReq{}, ErrInvalid, "-"},
		{"request too large", &bidReq{JobID: "j", Pad: strings.Repeat("p", MaxStreamMessageSize)}, ErrTooLarge, "-"},
		{"response too large", &bidReq{JobID: "huge"}, ErrInternal, CodeInternal}, // the server cannot send it and says so
	} {
		_, err := Request[bidReq, bidResp](testCtx(t), client, server.ID(), bidProto, tc.req)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		var re *RemoteError
		if got := errors.As(err, &re); got != (tc.code != "-") || got && (re.Code != tc.code || !errors.Is(err, ErrRemote)) {
			t.Errorf("%s: %#v, want a remote error of code %q", tc.name, err, tc.code)
		}
		if tc.code == "" && (errors.Is(err, ErrGivenUp) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrInternal)) {
			t.Errorf("%s: an error without a code matches a code's sentinel: %v", tc.name, err)
		}
	}
	// The text of a given-up error still says so, for peers before codes.
	if _, err := Request[bidReq, bidResp](testCtx(t), client, server.ID(), bidProto, &bidReq{JobID: "given-up"}); !strings.Contains(err.Error(), "execution given up by the requester: e-1") {
		t.Errorf("given up reads %q", err)
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

// TestRemoteErrorsOfPeersBeforeCodes: a peer that sends an error without a code (as all
// did before codes) is heard as a plain remote error, whatever its text; a malformed
// code is a malformed frame.
func TestRemoteErrorsOfPeersBeforeCodes(t *testing.T) {
	server, client := startNode(t), startNode(t)
	if err := client.Host().Connect(testCtx(t), server.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	answer := map[string]string{
		"old":    `{"v":1,"error":"execution given up: execution given up by the requester: e-1"}`,
		"future": `{"v":1,"error":"slow down","code":"rate_limited"}`,
		"bad":    `{"v":1,"error":"x","code":"Given Up"}`,
		"bare":   `{"v":1,"body":{"accept":true},"code":"given_up"}`,
	}
	server.Host().SetStreamHandler(bidProto, func(s network.Stream) {
		defer s.Close()
		var r bidReq
		if err := readFrame(s, &r, MaxStreamMessageSize); err != nil {
			s.Reset()
			return
		}
		s.Write([]byte(answer[r.JobID]))
	})
	for id, want := range map[string]error{"old": ErrRemote, "future": ErrRemote, "bad": ErrMalformed, "bare": ErrMalformed} {
		_, err := Request[bidReq, bidResp](testCtx(t), client, server.ID(), bidProto, &bidReq{JobID: id})
		if !errors.Is(err, want) || errors.Is(err, ErrGivenUp) {
			t.Errorf("%s: got %v, want %v", id, err, want)
		}
	}
}

// TestResponseLimit: a protocol served with HandleLimit sends responses up to its limit,
// which a requester reads with RequestLimit; Request keeps to MaxStreamMessageSize.
func TestResponseLimit(t *testing.T) {
	const bigProto = "/bacalhau/test-big/1"
	server, client := startNode(t), startNode(t)
	if err := client.Host().Connect(testCtx(t), server.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	HandleLimit(server, bigProto, 4*MaxStreamMessageSize, func(ctx context.Context, from peer.ID, r *bidReq) (*bidResp, error) {
		return &bidResp{From: strings.Repeat("x", 2*MaxStreamMessageSize)}, nil
	})
	resp, err := RequestLimit[bidReq, bidResp](testCtx(t), client, server.ID(), bigProto, &bidReq{JobID: "j"}, 4*MaxStreamMessageSize)
	if err != nil || len(resp.From) != 2*MaxStreamMessageSize {
		t.Fatalf("within the limit: %v", err)
	}
	if _, err := Request[bidReq, bidResp](testCtx(t), client, server.ID(), bigProto, &bidReq{JobID: "j"}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("read with the default limit: got %v, want ErrTooLarge", err)
	}
}
