package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func newList(e *Env) *cobra.Command {
	var (
		q          api.ListQuery
		output     string
		wide, hide bool
		states     []string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: shortList,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			for _, s := range states {
				q.States = append(q.States, job.State(s))
			}
			if _, err := job.ParseSelector(q.Labels); err != nil {
				return fmt.Errorf("--labels: %w", err)
			}
			page, err := e.Client().List(cmd.Context(), q)
			if err != nil {
				return err
			}
			if output != outTable {
				return PrintData(e.Stdout, output, page.Jobs)
			}
			header := []string{"CREATED", "ID", "JOB", "STATE", "RESULT"}
			rows := make([][]string, 0, len(page.Jobs))
			for _, j := range page.Jobs {
				rows = append(rows, listRow(j, wide))
			}
			return table(e.Stdout, header, rows, hide)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&q.Limit, "number", "n", 10, fmt.Sprintf("how many jobs to show (at most %d)", api.MaxListLimit))
	fl.IntVar(&q.Offset, "offset", 0, "skip this many jobs first")
	fl.BoolVar(&q.Reverse, "reverse", true, "newest first; --reverse=false for oldest first")
	fl.StringVar(&q.SortBy, "sort-by", api.SortCreated, "sort by created_at or id")
	fl.StringVar(&q.IDPrefix, "id-filter", "", "only jobs whose ID starts with this")
	fl.StringSliceVar(&states, "state", nil, "only jobs in these states (pending, running, completed, failed, cancelled)")
	fl.StringVar(&q.Labels, "labels", "", "only jobs whose labels meet this selector: env=prod, env!=dev, env in (a,b), env notin (a), env, !env (comma-separated, all must hold)")
	fl.BoolVar(&wide, "wide", false, "full IDs and CIDs")
	fl.BoolVar(&hide, "hide-header", false, "no header line")
	addOutputFlag(cmd, &output, outTable)
	refuseUpstreamFlags(cmd, flagNextToken, flagOrderBy, flagOrderRev, flagLimit, flagNamespace, flagNoStyle, flagPretty)
	return cmd
}

func listRow(j *job.Job, wide bool) []string {
	id, created := job.ShortID(j.ID), j.CreatedAt.Local().Format("15:04:05")
	what := describeTask(j.Spec)
	result := ""
	if ex := j.Reported(); ex != nil {
		result = ex.ResultCID.String()
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
		return strings.TrimSpace(string(s.Engine) + " " + s.Wasm.Module.String() + " " + strings.Join(s.Wasm.Args, " ")) // wasm (wazero) or wasmtime
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

func newDescribe(e *Env) *cobra.Command {
	var output string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "describe JOB_ID",
		Short: shortDescribe,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				output = outJSON
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			j, err := e.Client().Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == outTable {
				return describeTable(e.Stdout, j)
			}
			return PrintData(e.Stdout, output, j)
		},
	}
	addOutputFlag(cmd, &output, outYAML)
	cmd.Flags().BoolVar(&asJSON, "json", false, "the same as --output json (upstream's describe --json)")
	refuseUpstreamFlags(cmd, flagIncludeEvts, flagPretty, flagNoStyle, flagNodeDetails)
	return cmd
}

func newLogs(e *Env) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs JOB_ID",
		Short: shortLogs,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.Client().Logs(cmd.Context(), args[0], follow, func(ch api.LogChunk) error {
				w := e.Stdout
				if ch.Stream == "stderr" {
					w = e.Stderr
				}
				_, err := w.Write(ch.Data)
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming until the job ends")
	return cmd
}

func newGet(e *Env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "get JOB_ID",
		Short: shortGet,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := e.Client().Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ex := j.Reported()
			if ex == nil || !ex.ResultCID.Defined() {
				return fmt.Errorf("job %s has no result (state %s)", j.ID, j.State)
			}
			if dir == "" {
				dir = j.ID
			}
			if err := download(cmd, e, ex.ResultCID.String(), dir); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "Result %s of job %s written to %s\n", ex.ResultCID, j.ID, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "output-dir", "", "directory to write to (default: the job ID)")
	refuseUpstreamFlags(cmd, flagDownloadSecs, flagIPFSConnect, flagIPFSSwarm, flagIPFSServe, flagRaw)
	return cmd
}

func newCancel(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB_ID",
		Short: shortCancel,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := e.Client().Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "Job %s: %s\n", j.ID, j.State)
			return nil
		},
	}
}

// describeTable prints a job for people: what it runs, where it is, its executions and
// its history.
func describeTable(w io.Writer, j *job.Job) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ID:          %s\nState:       %s\n", j.ID, j.State)
	if j.Reason != "" {
		fmt.Fprintf(&b, "Reason:      %s\n", j.Reason)
	}
	fmt.Fprintf(&b, "Created:     %s\nTask:        %s\n", j.CreatedAt.Local().Format(time.RFC3339), describeTask(j.Spec))
	for _, in := range j.Spec.Inputs {
		src := in.CID.String()
		if in.Path != "" {
			src += "/" + in.Path
		}
		fmt.Fprintf(&b, "Input:       %s -> %s\n", src, in.Target)
	}
	fmt.Fprintf(&b, "Limits:      timeout %s, memory %s\n", j.Spec.Timeout, job.FormatBytes(j.Spec.Memory))
	if len(j.Spec.Labels) > 0 {
		fmt.Fprintf(&b, "Labels:      %s\n", job.FormatLabels(j.Spec.Labels))
	}
	if j.Requester != "" {
		fmt.Fprintf(&b, "Requester:   %s\n", j.Requester)
	}
	if len(j.Executions) > 0 {
		b.WriteString("Executions:\n")
		for _, ex := range j.Executions {
			line := fmt.Sprintf("  %s  %s  on %s", ex.ID, ex.State, ex.NodeID)
			if ex.Lost {
				line += " (given up)"
			}
			if ex.ExitCode != nil {
				line += fmt.Sprintf("  exit %d", *ex.ExitCode)
			}
			if ex.ResultCID.Defined() {
				line += "  result " + ex.ResultCID.String()
			}
			if ex.Error != "" {
				line += ": " + ex.Error
			}
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("History:\n")
	for _, ev := range j.History {
		fmt.Fprintf(&b, "  %s  %s\n", ev.Time.Local().Format("15:04:05.000"), ev.Message)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
