package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/store"
)

func newList(e *env) *cobra.Command {
	var (
		q          store.Query
		output     string
		wide, hide bool
		states     []string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			for _, s := range states {
				q.States = append(q.States, job.State(s))
			}
			page, err := e.client().List(cmd.Context(), q)
			if err != nil {
				return err
			}
			if output != outTable {
				return printData(e.stdout, output, page.Jobs)
			}
			header := []string{"CREATED", "ID", "JOB", "STATE", "RESULT"}
			rows := make([][]string, 0, len(page.Jobs))
			for _, j := range page.Jobs {
				rows = append(rows, listRow(j, wide))
			}
			return table(e.stdout, header, rows, hide)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&q.Limit, "number", "n", 10, fmt.Sprintf("how many jobs to show (at most %d)", store.MaxLimit))
	fl.IntVar(&q.Offset, "offset", 0, "skip this many jobs first")
	fl.BoolVar(&q.Reverse, "reverse", true, "newest first; --reverse=false for oldest first")
	fl.StringVar(&q.SortBy, "sort-by", store.SortCreated, "sort by created_at or id")
	fl.StringVar(&q.IDPrefix, "id-filter", "", "only jobs whose ID starts with this")
	fl.StringSliceVar(&states, "state", nil, "only jobs in these states (pending, running, completed, failed, cancelled)")
	fl.BoolVar(&wide, "wide", false, "full IDs and CIDs")
	fl.BoolVar(&hide, "hide-header", false, "no header line")
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

func listRow(j *job.Job, wide bool) []string {
	id, created := job.ShortID(j.ID), j.CreatedAt.Local().Format("15:04:05")
	what := describeTask(j.Spec)
	result := ""
	if ex := j.Outcome(); ex != nil {
		result = ex.ResultCID
	}
	if wide {
		id, created = j.ID, j.CreatedAt.Local().Format(time.RFC3339)
	} else {
		what = shorten(what, 40)
		result = shorten(result, 16)
	}
	return []string{created, id, what, string(j.State), result}
}

func describeTask(s job.Spec) string {
	switch {
	case s.Wasm != nil:
		return strings.TrimSpace("wasm " + s.Wasm.Module + " " + strings.Join(s.Wasm.Args, " "))
	case s.Docker != nil:
		return strings.TrimSpace("docker " + s.Docker.Image + " " + strings.Join(s.Docker.Args, " "))
	}
	return string(s.Engine)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

func newDescribe(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe JOB_ID",
		Short: "Show a job: spec, state, executions and history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != outJSON && output != outYAML {
				return fmt.Errorf("--output %q: want yaml or json", output)
			}
			j, err := e.client().Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printData(e.stdout, output, j)
		},
	}
	addOutputFlag(cmd, &output, outYAML)
	return cmd
}

func newLogs(e *env) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs JOB_ID",
		Short: "Print a job's stdout and stderr; -f follows a running job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.client().Logs(cmd.Context(), args[0], follow, func(ch api.LogChunk) error {
				w := e.stdout
				if ch.Stream == "stderr" {
					w = e.stderr
				}
				_, err := w.Write(ch.Data)
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming until the job ends")
	return cmd
}

func newGet(e *env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "get JOB_ID",
		Short: "Download a job's result: outputs/, stdout, stderr, exitCode",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := e.client().Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ex := j.Outcome()
			if ex == nil || ex.ResultCID == "" {
				return fmt.Errorf("job %s has no result (state %s)", j.ID, j.State)
			}
			if dir == "" {
				dir = j.ID
			}
			if err := download(cmd, e, ex.ResultCID, dir); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Result %s of job %s written to %s\n", ex.ResultCID, j.ID, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "output-dir", "", "directory to write to (default: the job ID)")
	return cmd
}

func newCancel(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB_ID",
		Short: "Cancel a pending or running job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := e.client().Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Job %s: %s\n", j.ID, j.State)
			return nil
		},
	}
}
