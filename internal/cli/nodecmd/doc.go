// Package nodecmd holds the commands that run a node inside the process: serve, devstack
// (a network of serve processes) and verify (a throwaway node that re-runs a job). They
// link the node's libraries, which is why they live apart from internal/cli: the light
// `bacalhau` binary execs bacalhau-node for them.
//
//	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nodecmd.Commands)
package nodecmd

import (
	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
)

// Commands is the cli.NodeCommands of bacalhau-node.
func Commands(e *cli.Env) []*cobra.Command { return CommandsWith(Options{})(e) }

// CommandsWith is Commands with nodes built as o says: for test binaries.
func CommandsWith(o Options) cli.NodeCommands {
	return func(e *cli.Env) []*cobra.Command {
		return []*cobra.Command{newServe(e, o), newDevstack(e), newVerify(e)}
	}
}
