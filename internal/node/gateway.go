package node

import "github.com/bacalhau-project/bacalhau-wasm/blockstore"

// GatewayBlocks is what the HTTP gateway reads: the node's own blocks, or with reach
// also blocks fetched from peers (and kept as a cache, like every fetched block).
func (n *Node) GatewayBlocks(reach bool) blockstore.BlockGetter {
	if reach {
		return n.getter()
	}
	return n.blocks.Blocks()
}
