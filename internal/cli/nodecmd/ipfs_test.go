package nodecmd

import (
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/gateway"
	"github.com/bacalhau-project/bacalhau-wasm/internal/node"
)

// TestGatewayHeapFloorFlag: --gateway-heap-floor in MiB becomes gateway.Config's bytes,
// 0 turns the floor off (a negative HeapFloor; gateway's 0 would be its default), and
// out-of-range values are refused.
func TestGatewayHeapFloorFlag(t *testing.T) {
	for _, c := range []struct {
		mib  int
		want int64
		ok   bool
	}{
		{gateway.DefaultHeapFloor >> 20, gateway.DefaultHeapFloor, true},
		{256, 256 << 20, true},
		{0, -1, true},
		{-1, 0, false},
		{1<<14 + 1, 0, false},
	} {
		f := ipfsFlags{gwHost: "127.0.0.1", gwPort: -1, gwTimeout: gateway.DefaultRetrievalTimeout, gwRequests: 1, gwDuration: gateway.DefaultMaxRequestDuration, gwFloor: c.mib}
		err := f.apply(&node.NetConfig{})
		if (err == nil) != c.ok {
			t.Fatalf("--gateway-heap-floor %d: error %v, want ok %v", c.mib, err, c.ok)
		}
		if c.ok && f.heapFloor() != c.want {
			t.Fatalf("--gateway-heap-floor %d: HeapFloor %d, want %d", c.mib, f.heapFloor(), c.want)
		}
	}
}
