// Command bacalhau-node is bacalhau with the node linked in: `bacalhau-node serve` runs a
// node, `devstack` a network of them, `verify` re-runs a job in a throwaway one, and every
// client command of bacalhau works too. `bacalhau serve` (and devstack, verify) exec it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cli/nodecmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nodecmd.Commands)
	stop()
	os.Exit(code)
}
