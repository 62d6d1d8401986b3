//go:build tools

// Package kubo pins the reference IPFS implementation that the benchmarks and the
// interop tests compare against. It is a module of its own because kubo pins older
// boxo and libp2p versions than the node does. `make kubo` builds bin/ipfs from it.
package kubo

import _ "github.com/ipfs/kubo/cmd/ipfs"
