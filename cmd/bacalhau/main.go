// Command bacalhau is the CLI: every command talks JSON over HTTP to a node. It links
// none of the node's libraries, so it starts quickly; `bacalhau serve`, `devstack` and
// `verify`, which run a node in the process, are handed to bacalhau-node (cmd/bacalhau-node),
// found beside this program or on $PATH. It runs on one P (internal/oneproc) unless
// GOMAXPROCS says otherwise.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
	"github.com/bacalhau-project/bacalhau-wasm/internal/oneproc"
)

func main() {
	oneproc.Honour(os.Getenv("GOMAXPROCS"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, cli.Forward)
	stop()
	os.Exit(code)
}
