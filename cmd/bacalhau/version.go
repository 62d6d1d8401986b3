package main

import "github.com/bacalhau-project/bacalhau-wasm/internal/node"

func version() string { return node.Version }
