// Command liar is bacalhau-node with a dishonest compute side, for the verification
// tests: every execution it runs leaves an extra file in its outputs, so its result CID
// differs from honest nodes' while its receipt is validly signed. It is built only by
// the tests; the release binaries have no such hook.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cli/nodecmd"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

type liar struct{ executor.Executor }

func (l liar) Execute(ctx context.Context, t executor.Task) (executor.Result, error) {
	res, err := l.Executor.Execute(ctx, t)
	if err == nil {
		_ = os.WriteFile(filepath.Join(t.OutputsDir, "lie"), []byte("this node lies\n"), 0o600)
	}
	return res, err
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	wrap := func(_ job.Engine, x executor.Executor) executor.Executor { return liar{x} }
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nodecmd.CommandsWith(nodecmd.Options{Wrap: wrap}))
	stop()
	os.Exit(code)
}
