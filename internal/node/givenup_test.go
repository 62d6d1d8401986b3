package node

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
)

// TestGivenUpIsTyped: a report of an execution the requester gave up (or never made) is
// answered with an error a compute node tests with errors.Is(err, dht.ErrGivenUp),
// whose text still says "execution given up" for compute nodes before codes.
func TestGivenUpIsTyped(t *testing.T) {
	n := openNode(t, t.TempDir())
	defer n.Close()
	j, err := n.Submit(context.Background(), helloSpec(t, n))
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.handleUpdate(context.Background(), peer.ID("someone"), &jobproto.ExecutionUpdate{JobID: j.ID, ExecutionID: "e-nope-1"})
	if !errors.Is(err, dht.ErrGivenUp) || !strings.Contains(err.Error(), "execution given up") {
		t.Fatalf("update of an unknown execution: %v", err)
	}
}
