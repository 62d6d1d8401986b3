package requester

import (
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func TestPeerRefusalUnit(t *testing.T) {
	const node = "12D3KooWPeer"
	tests := []struct {
		name string
		mem  uint64 // the spec's
		cap  jobproto.Capacity
		want string
	}{
		{name: "an earlier version offers 0 bytes: unknown, not refused", mem: 1 << 30, cap: jobproto.Capacity{Slots: 1}},
		{name: "zero capacity, default memory", cap: jobproto.Capacity{}},
		{name: "enough", mem: 100 << 20, cap: jobproto.Capacity{Memory: 200 << 20}},
		{name: "exactly enough", mem: 200 << 20, cap: jobproto.Capacity{Memory: 200 << 20}},
		{
			name: "one byte short", mem: 200<<20 + 1, cap: jobproto.Capacity{Memory: 200 << 20},
			want: "needs 200.0 MiB of memory; node " + node + " offers 200 MiB",
		},
		{
			name: "the default memory (256 MiB) on a small node", cap: jobproto.Capacity{Memory: 128 << 20},
			want: "needs 256 MiB of memory; node " + node + " offers 128 MiB",
		},
		{
			name: "the default memory on a node of exactly that", cap: jobproto.Capacity{Memory: job.DefaultMemory},
		},
		{
			// What is free now does not matter: the node could run it later.
			name: "offered but busy", mem: 100 << 20, cap: jobproto.Capacity{Memory: 1 << 30, MemoryFree: 0},
		},
		{
			name: "too big", mem: 4 << 30, cap: jobproto.Capacity{Slots: 8, Memory: 1 << 30, MemoryFree: 1 << 30},
			want: "needs 4 GiB of memory; node " + node + " offers 1 GiB",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := job.Spec{Engine: job.EngineWasm, Memory: tc.mem}
			if got := PeerRefusal(spec, node, tc.cap); got != tc.want {
				t.Fatalf("peerRefusal = %q, want %q", got, tc.want)
			}
		})
	}
}
