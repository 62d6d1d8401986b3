package nodecmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/dht/jobproto"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/node"
)

func newVerify(e *cli.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify JOB_ID",
		Short: "Re-run a job here and check its result CID and its receipts' signatures",
		Long: `verify downloads the job's module and inputs from the node, runs the job in a
throwaway node inside this process (no network), and checks that the result CID
is the one the job reported. It also checks every receipt offline: signed by the
key of the node it names, for this job's module, inputs, task and result.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			// A job still running (or whose end this node has not heard of yet) is
			// waited for.
			j, err := e.Client().Watch(ctx, args[0], func(*job.Job) bool { return true })
			if err != nil {
				return err
			}
			out := j.Reported()
			if out == nil || !out.ResultCID.Defined() {
				return fmt.Errorf("job %s has no result to verify (state %s)", j.ID, j.State)
			}
			bad := 0
			for _, ex := range j.Executions {
				if !ex.ResultCID.Defined() {
					continue
				}
				if err := checkReceipt(j, ex); err != nil {
					bad++
					fmt.Fprintf(e.Stdout, "Receipt of %s from %s: INVALID: %v\n", ex.ID, ex.NodeID, err)
				} else {
					fmt.Fprintf(e.Stdout, "Receipt of %s from %s: valid signature, result %s\n", ex.ID, ex.NodeID, ex.ResultCID)
				}
			}
			local, err := rerun(ctx, e, j)
			if err != nil {
				return fmt.Errorf("re-running the job: %w", err)
			}
			fmt.Fprintf(e.Stdout, "Local re-run: result %s\n", local)
			for _, ex := range j.Executions {
				if ex.ResultCID.Defined() && ex.ResultCID != local {
					bad++
					fmt.Fprintf(e.Stdout, "Node %s reported %s, which differs from the re-run\n", ex.NodeID, ex.ResultCID)
				}
			}
			if bad > 0 {
				fmt.Fprintf(e.Stdout, "Job %s: NOT verified (%d problem(s))\n", j.ID, bad)
				return cli.ExitCode(1)
			}
			fmt.Fprintf(e.Stdout, "Job %s: verified\n", j.ID)
			return nil
		},
	}
	return cmd
}

// checkReceipt checks an execution's receipt: present, signed by the node it names, and
// about this job's task and this execution's result.
func checkReceipt(j *job.Job, ex job.Execution) error {
	r := ex.Receipt
	if r == nil {
		return fmt.Errorf("no receipt")
	}
	if err := jobproto.VerifyReceipt(r); err != nil {
		return err
	}
	want := job.NewReceipt(j, ex.ID, ex.ResultCID, 0)
	switch {
	case r.Node != ex.NodeID:
		return fmt.Errorf("signed by %s, not by the node that ran it", r.Node)
	case r.JobID != j.ID || r.ExecutionID != ex.ID:
		return fmt.Errorf("for job %s execution %s, not this one", r.JobID, r.ExecutionID)
	case r.Module != want.Module || !slices.Equal(r.Inputs, want.Inputs) || r.SpecDigest != want.SpecDigest:
		return fmt.Errorf("names another module, inputs or task than the job's")
	case r.ResultCID != ex.ResultCID.String():
		return fmt.Errorf("signs result %s, the execution reports %s", r.ResultCID, ex.ResultCID)
	case ex.ExitCode != nil && r.ExitCode != *ex.ExitCode:
		return fmt.Errorf("signs exit code %d, the execution reports %d", r.ExitCode, *ex.ExitCode)
	}
	return nil
}

// rerun runs the job's task in a throwaway node, on the module and inputs copied from
// the node as CARs, and returns the result CID.
func rerun(ctx context.Context, e *cli.Env, j *job.Job) (cidtext.CID, error) {
	if !j.Spec.Engine.Reproducible() {
		return cidtext.CID{}, fmt.Errorf("job %s ran on the %s engine, whose results are not reproducible: there is nothing to check a re-run against", j.ID, j.Spec.Engine)
	}
	dir, err := os.MkdirTemp("", "bacalhau-verify-")
	if err != nil {
		return cidtext.CID{}, err
	}
	defer os.RemoveAll(dir)
	// Never Options.Wrap: a check runs the release executors whatever binary runs it.
	xs, err := Options{}.executors(ctx, dir, wasm.Options{}, engineOptions{}, dockerFlags{mode: "off"})
	if err != nil {
		return cidtext.CID{}, err
	}
	n, err := node.Open(ctx, node.Config{Repo: dir, Concurrency: 1, Executors: xs})
	if err != nil {
		return cidtext.CID{}, err
	}
	defer n.Close()
	cids := []string{j.Spec.Wasm.Module.String()}
	for _, in := range j.Spec.Inputs {
		cids = append(cids, in.CID.String())
	}
	for _, c := range cids {
		err := e.Client().Download(ctx, c, "car", func(r io.Reader) error {
			_, err := n.Blocks().ImportCAR(ctx, r)
			return err
		})
		if err != nil {
			return cidtext.CID{}, fmt.Errorf("copying %s: %w", c, err)
		}
	}
	spec := j.Spec
	spec.Verify, spec.Selector = 1, nil
	local, err := n.Submit(ctx, spec)
	if err != nil {
		return cidtext.CID{}, err
	}
	if local, err = n.Wait(ctx, local.ID); err != nil {
		return cidtext.CID{}, err
	}
	ex := local.Reported()
	if ex == nil || !ex.ResultCID.Defined() {
		return cidtext.CID{}, fmt.Errorf("the re-run ended %s without a result: %s", local.State, local.Reason)
	}
	return ex.ResultCID, nil
}
