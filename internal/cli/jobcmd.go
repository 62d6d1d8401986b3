package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/jobspec"
)

// newJob is upstream's v1 `bacalhau job` group, over the same jobs as the top-level
// list, describe, logs, get and cancel, which stay.
func newJob(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: shortJob}
	stop := newCancel(e)
	stop.Use, stop.Short, stop.Aliases = "stop JOB_ID", "Stop a pending or running job (the same as `bacalhau cancel`)", []string{"cancel"}
	cmd.AddCommand(newJobRun(e), newList(e), newJobDescribe(e), newGet(e), newJobLogs(e), stop, newJobExecutions(e), newJobHistory(e))
	return cmd
}

func newJobRun(e *Env) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run SPEC.yaml|SPEC.json|-",
		Short: "Submit a job spec file (upstream's v1 shape, or what `describe --output yaml` prints); waits and prints the result",
		Example: `  bacalhau job run job.yaml
  cat job.json | bacalhau job run -
  bacalhau job run --dry-run job.yaml      # the spec as it would be submitted`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readSpec(e, args[0])
			if err != nil {
				return err
			}
			d, err := jobspec.Decode(data)
			if err != nil {
				return err
			}
			for _, n := range d.Notes {
				fmt.Fprintf(e.Stderr, "Note: %s\n", n)
			}
			if f.output != "" && f.output != outJSON && f.output != outYAML {
				return fmt.Errorf("--output %q: want json or yaml", f.output)
			}
			if f.dryRun {
				return dryRun(e, d, "")
			}
			if err := resolveURLs(cmd, e, d, f.urls); err != nil {
				return err
			}
			return submitAndWait(cmd, e, d.Spec, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.wait, "wait", true, "wait for the job to finish")
	fl.DurationVar(&f.waitTimeout, "wait-timeout", 0, fmt.Sprintf("stop waiting after this long (exit code %d; the job goes on); 0 waits until it ends", ExitWaitTimeout))
	fl.BoolVar(&f.idOnly, "id-only", false, "print only the job ID")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the spec as it would be submitted (v1 YAML) and submit nothing")
	fl.StringVar(&f.output, "output", "", "json or yaml: print the job record instead of the summary")
	f.urls.add(cmd)
	refuseUpstreamFlags(cmd, flagFollow, flagNodeDetails, flagTemplateVars, flagTemplateEnvs, flagNoTemplate, flagShowWarnings, flagWaitSecs, flagPretty, flagDownload, flagRaw)
	return cmd
}

// readSpec reads a spec file, or standard input for "-", bounded by MaxSpecBytes.
func readSpec(e *Env, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = e.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, jobspec.MaxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > jobspec.MaxSpecBytes {
		return nil, fmt.Errorf("%s: a job spec may be at most %s", name, job.FormatBytes(jobspec.MaxSpecBytes))
	}
	return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), nil
}

// newJobDescribe prints a job as upstream's `job describe` does: json and yaml in the
// v1 shape (which `job run` takes back), the table as `bacalhau describe`.
func newJobDescribe(e *Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe JOB_ID",
		Short: "Show a job; --output yaml|json prints it as a v1 job spec that `job run` accepts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			j, err := e.Client().Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			switch output {
			case outTable:
				return describeTable(e.Stdout, j)
			case outYAML:
				b, err := jobspec.EncodeYAML(jobspec.FromJob(j))
				if err != nil {
					return err
				}
				_, err = e.Stdout.Write(b)
				return err
			}
			return PrintData(e.Stdout, output, jobspec.FromJob(j))
		},
	}
	addOutputFlag(cmd, &output, outTable)
	refuseUpstreamFlags(cmd, flagIncludeEvts, flagPretty, flagNoStyle, flagNodeDetails)
	return cmd
}

func newJobLogs(e *Env) *cobra.Command {
	var (
		follow bool
		tail   int
	)
	cmd := &cobra.Command{
		Use:   "logs JOB_ID",
		Short: "Print a job's stdout and stderr; -f follows a running job, --tail N prints only the last N lines of each",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail < 0 {
				return fmt.Errorf("--tail %d: want a number of lines", tail)
			}
			if tail > 0 && follow {
				return errors.New("--tail and --follow do not go together: use --tail N for the last lines of an ended job, -f to follow one")
			}
			var bufs [2]bytes.Buffer
			err := e.Client().Logs(cmd.Context(), args[0], follow, func(ch api.LogChunk) error {
				i, w := 0, e.Stdout
				if ch.Stream == "stderr" {
					i, w = 1, e.Stderr
				}
				if tail > 0 {
					bufs[i].Write(ch.Data) // bounded by the node's cap on a job's output
					return nil
				}
				_, err := w.Write(ch.Data)
				return err
			})
			if err != nil || tail == 0 {
				return err
			}
			if _, err := e.Stdout.Write(lastLines(bufs[0].Bytes(), tail)); err != nil {
				return err
			}
			_, err = e.Stderr.Write(lastLines(bufs[1].Bytes(), tail))
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming until the job ends")
	cmd.Flags().IntVar(&tail, "tail", 0, "print only the last N lines of stdout and of stderr")
	return cmd
}

// lastLines is the last n lines of b.
func lastLines(b []byte, n int) []byte {
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if n--; n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

func newJobExecutions(e *Env) *cobra.Command {
	var (
		output string
		hide   bool
	)
	cmd := &cobra.Command{
		Use:   "executions JOB_ID",
		Short: "List a job's executions: where it ran, how it ended, its result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			j, err := e.Client().Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output != outTable {
				return PrintData(e.Stdout, output, j.Executions)
			}
			rows := make([][]string, 0, len(j.Executions))
			for _, ex := range j.Executions {
				exit := ""
				if ex.ExitCode != nil {
					exit = strconv.Itoa(*ex.ExitCode)
				}
				state := string(ex.State)
				if ex.Lost {
					state += " (given up)"
				}
				rows = append(rows, []string{ex.StartedAt.Local().Format(time.RFC3339), ex.ID, ex.NodeID, state, exit, ex.ResultCID.String(), ex.Error})
			}
			return table(e.Stdout, []string{"STARTED", "ID", "NODE", "STATE", "EXIT", "RESULT", "ERROR"}, rows, hide)
		},
	}
	cmd.Flags().BoolVar(&hide, "hide-header", false, "no header line")
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

func newJobHistory(e *Env) *cobra.Command {
	var (
		output string
		hide   bool
	)
	cmd := &cobra.Command{
		Use:   "history JOB_ID",
		Short: "List what happened to a job, in order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			j, err := e.Client().Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output != outTable {
				return PrintData(e.Stdout, output, j.History)
			}
			rows := make([][]string, 0, len(j.History))
			for _, ev := range j.History {
				rows = append(rows, []string{ev.Time.Local().Format("2006-01-02 15:04:05.000"), string(ev.State), ev.Message})
			}
			return table(e.Stdout, []string{"TIME", "STATE", "EVENT"}, rows, hide)
		},
	}
	cmd.Flags().BoolVar(&hide, "hide-header", false, "no header line")
	addOutputFlag(cmd, &output, outTable)
	return cmd
}
