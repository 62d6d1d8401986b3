package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore/filecid"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/jobspec"
)

func newWasm(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "wasm", Short: shortWasm}
	cmd.AddCommand(newWasmRun(e))
	return cmd
}

type runFlags struct {
	inputs      []string
	env         []string
	entryPoint  string
	timeout     string
	memory      string
	outputs     string
	queue       time.Duration
	wait        bool
	waitTimeout time.Duration
	idOnly      bool
	output      string
	selector    []string
	labels      []string // -l/--labels and upstream's newer --label
	label       []string
	verify      int
	dryRun      bool
	publisher   string
	urls        urlFlags
	engine      string
}

func newWasmRun(e *Env) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run MODULE.wasm|CID [-- ARGS...]",
		Short: "Run a WASI module against IPFS data; waits and prints the result",
		Example: `  bacalhau wasm run hello.wasm
  bacalhau wasm run wordcount.wasm -i bafy...
  bacalhau wasm run main.wasm -i ipfs://bafy...:/data -i src=ipfs://bafy...,dst=/more -e K=V --timeout 30s --memory 256MB -- arg1 arg2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := f.decoded(args[1:])
			if err != nil {
				return err
			}
			if f.dryRun {
				return dryRun(e, d, args[0])
			}
			if d.Spec.Wasm.Module, err = moduleCID(cmd, e, args[0]); err != nil {
				return err
			}
			if err := resolveURLs(cmd, e, d, f.urls); err != nil {
				return err
			}
			return submitAndWait(cmd, e, d.Spec, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.inputs, "input", "i", nil, "input: CID, ipfs://CID:/target, src=ipfs://CID,dst=/target (or source=,target=), or a URL https://host/file:/target, downloaded and added to IPFS first (repeatable)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "environment variable NAME=value (repeatable)")
	fl.StringVar(&f.entryPoint, "entry-point", job.DefaultEntryPoint, "exported function to call")
	fl.StringVar(&f.timeout, "timeout", "", "wall-clock limit, e.g. 30s or 5m, or a number of seconds (default 30m)")
	fl.StringVar(&f.memory, "memory", "", "memory limit, e.g. 64MB or 1GiB (default 256 MiB)")
	fl.StringVar(&f.outputs, "outputs-limit", "", fmt.Sprintf("most the job may write under /outputs, e.g. 100MB (default %s)", job.FormatBytes(job.DefaultOutputsLimit)))
	fl.DurationVar(&f.queue, "queue-timeout", 0, fmt.Sprintf("fail the job if no node has taken it within this long (default %s)", job.DefaultQueueTimeout))
	fl.BoolVar(&f.wait, "wait", true, "wait for the job to finish")
	fl.DurationVar(&f.waitTimeout, "wait-timeout", 0, fmt.Sprintf("stop waiting after this long (exit code %d; the job goes on); 0 waits until it ends", ExitWaitTimeout))
	fl.BoolVar(&f.idOnly, "id-only", false, "print only the job ID")
	fl.StringVar(&f.output, "output", "", "json or yaml: print the job record instead of the summary")
	fl.StringSliceVarP(&f.selector, "selector", "s", nil, "run only on nodes with these labels, key=value (repeatable or comma-separated)")
	f.addLabels(cmd)
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the job spec (v1 YAML, for `bacalhau job run`) instead of submitting it")
	fl.StringVarP(&f.publisher, "publisher", "p", "ipfs", "where results go: always ipfs here (accepted for upstream's -p ipfs)")
	f.urls.add(cmd)
	fl.IntVar(&f.verify, "verify", 1, fmt.Sprintf("run on this many distinct nodes (at most %d); complete only if their result CIDs agree", job.MaxVerify))
	fl.StringVar(&f.engine, "engine", "wazero", "wazero (deterministic, verifiable) or wasmtime (faster, not reproducible)")
	refuseUpstreamFlags(cmd, append(runUpstreamFlags, flagImportURLs, flagImportVols)...)
	return cmd
}

// addLabels adds the job label flags: upstream's -l/--labels and its newer --label.
func (f *runFlags) addLabels(cmd *cobra.Command) {
	cmd.Flags().StringSliceVarP(&f.labels, "labels", "l", nil, "labels of the job, key=value (repeatable or comma-separated), which list --labels selects on")
	cmd.Flags().StringSliceVar(&f.label, "label", nil, "the same as --labels (upstream's newer name)")
}

// decoded is the spec the flags ask for, with the URL inputs still to download.
func (f runFlags) decoded(args []string) (*jobspec.Decoded, error) {
	d := &jobspec.Decoded{}
	if err := checkPublisher(f.publisher); err != nil {
		return nil, err
	}
	spec, err := f.spec(args, d)
	if err != nil {
		return nil, err
	}
	d.Spec = spec
	return d, nil
}

func (f runFlags) spec(args []string, d *jobspec.Decoded) (job.Spec, error) {
	spec := job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{EntryPoint: f.entryPoint, Args: args}}
	var err error
	if spec.Engine, err = wasmEngine(f.engine); err != nil {
		return spec, err
	}
	for _, s := range f.inputs {
		if err := checkInputScheme(s); err != nil {
			return spec, err
		}
		if u, target, ok, err := parseURLInput(s); err != nil {
			return spec, err
		} else if ok {
			d.URLInputs = append(d.URLInputs, jobspec.URLInput{Index: len(spec.Inputs), URL: u})
			spec.Inputs = append(spec.Inputs, job.Input{Target: target})
			continue
		}
		in, err := job.ParseInput(s)
		if err != nil {
			return spec, err
		}
		spec.Inputs = append(spec.Inputs, in)
	}
	if spec.Env, err = job.ParseEnv(f.env); err != nil {
		return spec, err
	}
	if spec.Selector, err = job.ParseLabels(f.selector); err != nil {
		return spec, fmt.Errorf("--selector: %w", err)
	}
	if spec.Labels, err = job.ParseJobLabels(append(f.labels, f.label...)); err != nil {
		return spec, fmt.Errorf("--labels: %w", err)
	}
	if f.verify < 1 || f.verify > job.MaxVerify {
		return spec, fmt.Errorf("--verify %d: want 1 to %d nodes", f.verify, job.MaxVerify)
	}
	if f.verify > 1 && !spec.Engine.Reproducible() {
		return spec, fmt.Errorf("--verify %d needs results that every node reproduces, and wasmtime's are not: use --engine wazero to verify", f.verify)
	}
	spec.Verify = f.verify
	if f.timeout != "" {
		d, err := parseTimeout(f.timeout)
		if err != nil {
			return spec, err
		}
		spec.Timeout = job.Duration(d)
	}
	if f.memory != "" {
		if spec.Memory, err = job.ParseBytes(f.memory); err != nil {
			return spec, err
		}
	}
	if f.outputs != "" {
		if spec.OutputsLimit, err = job.ParseBytes(f.outputs); err != nil {
			return spec, fmt.Errorf("--outputs-limit: %w", err)
		}
	}
	if f.queue < 0 {
		return spec, fmt.Errorf("--queue-timeout %s: want a positive duration", f.queue)
	}
	spec.QueueTimeout = job.Duration(f.queue)
	if f.output != "" && f.output != outJSON && f.output != outYAML {
		return spec, fmt.Errorf("--output %q: want json or yaml", f.output)
	}
	return spec, nil
}

// wasmEngine maps the names --engine takes to the engine of the job: wazero is
// job.EngineWasm, the deterministic default.
func wasmEngine(name string) (job.Engine, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "wazero", "wasm", "":
		return job.EngineWasm, nil
	case "wasmtime":
		return job.EngineWasmtime, nil
	}
	return "", fmt.Errorf("--engine %q: want wazero or wasmtime", name)
}

// parseTimeout accepts a Go duration ("30s") or, as upstream Bacalhau does, seconds.
func parseTimeout(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--timeout %q: want a duration like 30s or 5m, or seconds", s)
	}
	return d, nil
}

// moduleCID uploads a local .wasm file (unless the node holds it already), or takes the
// argument as the CID of a module already in IPFS.
func moduleCID(cmd *cobra.Command, e *Env, arg string) (cidtext.CID, error) {
	if f, err := os.Open(arg); err == nil {
		c, cached, id := cachedCID(arg, f)
		if !cached {
			if c, _, err = filecid.Sum(f, 0); err != nil {
				f.Close()
				return cidtext.CID{}, fmt.Errorf("reading %s: %w", arg, err)
			}
			storeCID(arg, f, id, c)
		}
		f.Close()
		if ok, err := e.Client().Has(cmd.Context(), c.String()); err == nil && ok {
			return c, nil
		}
		resp, err := addPath(cmd, e, arg, api.AddOptions{CIDVersion: 1})
		if err != nil {
			return cidtext.CID{}, fmt.Errorf("uploading %s: %w", arg, err)
		}
		return resp.CID, nil
	}
	c, err := job.ParseCID(arg)
	if err != nil {
		return cidtext.CID{}, fmt.Errorf("%s is neither a file nor a CID", arg)
	}
	return c, nil
}

// submitAndWait submits a spec, follows it with progress on stderr, and prints the
// outcome. A job that does not complete makes the command exit with 1; a wait cut short
// by --wait-timeout exits with ExitWaitTimeout, one cut short by Ctrl-C with
// ExitInterrupted, both saying how to follow or cancel the job, which goes on.
func submitAndWait(cmd *cobra.Command, e *Env, spec job.Spec, f runFlags) error {
	ctx := cmd.Context()
	c := e.Client()
	j, err := c.Submit(ctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(e.Stderr, "Interrupted before the job was submitted")
			return ExitCode(ExitInterrupted)
		}
		return err
	}
	if f.idOnly {
		fmt.Fprintln(e.Stdout, j.ID)
	}
	if !f.wait {
		if !f.idOnly {
			if f.output != "" {
				return PrintData(e.Stdout, f.output, j)
			}
			fmt.Fprintf(e.Stdout, "Job ID: %s\nState:  %s\n", j.ID, j.State)
		}
		return nil
	}
	// Every event goes to stderr as it happens, so a wait always says what it waits
	// for; with --output or --id-only only the events of a job still waiting for a node.
	verbose := f.output == "" && !f.idOnly
	if verbose {
		fmt.Fprintf(e.Stderr, "Job %s submitted\n", j.ID)
	}
	wctx := ctx
	if f.waitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, f.waitTimeout)
		defer cancel()
	}
	shown := len(j.History)
	last := j
	j, err = c.Watch(wctx, j.ID, func(j *job.Job) bool {
		for _, ev := range j.History[min(shown, len(j.History)):] {
			if verbose || j.State == job.StatePending {
				fmt.Fprintf(e.Stderr, "  %s  %s\n", ev.Time.Local().Format("15:04:05.000"), ev.Message)
			}
		}
		shown, last = len(j.History), j
		return true
	})
	if err != nil {
		switch {
		case ctx.Err() != nil:
			fmt.Fprintf(e.Stderr, "Interrupted: job %s is %s and goes on.\n%s", last.ID, last.State, followHint(last.ID))
			return ExitCode(ExitInterrupted)
		case wctx.Err() != nil:
			fmt.Fprintf(e.Stderr, "Gave up waiting after %s (--wait-timeout): job %s is %s and goes on.\n%s", f.waitTimeout, last.ID, last.State, followHint(last.ID))
			return ExitCode(ExitWaitTimeout)
		}
		return err
	}
	switch {
	case f.idOnly:
	case f.output != "":
		if err := PrintData(e.Stdout, f.output, j); err != nil {
			return err
		}
	default:
		printOutcome(e.Stdout, j)
	}
	if j.State != job.StateCompleted {
		if !f.idOnly && f.output == "" {
			fmt.Fprintf(e.Stderr, "Job %s %s: %s\n", j.ID, j.State, j.Reason)
		}
		return ExitCode(1)
	}
	return nil
}

// followHint says how to follow or stop a job the CLI no longer waits for.
func followHint(id string) string {
	short := job.ShortID(id)
	return fmt.Sprintf("  follow it:  bacalhau logs -f %s   (or: bacalhau describe %s)\n  cancel it:  bacalhau cancel %s\n", short, short, short)
}

func printOutcome(w io.Writer, j *job.Job) {
	fmt.Fprintf(w, "Job ID:     %s\nState:      %s\n", j.ID, j.State)
	if j.Reason != "" {
		fmt.Fprintf(w, "Reason:     %s\n", j.Reason)
	}
	ex := j.Reported()
	if ex == nil {
		return
	}
	if ex.ExitCode != nil {
		fmt.Fprintf(w, "Exit code:  %d\n", *ex.ExitCode)
	}
	if ex.ResultCID.Defined() {
		fmt.Fprintf(w, "Result CID: %s\n", ex.ResultCID)
	}
	if ex.Stdout != "" {
		fmt.Fprintf(w, "Stdout:\n%s", indentTail(ex.Stdout))
		if ex.StdoutTruncated || len(ex.Stdout) >= 4096 {
			fmt.Fprintf(w, "(more: bacalhau logs %s)\n", job.ShortID(j.ID))
		}
	}
	if ex.Stderr != "" {
		fmt.Fprintf(w, "Stderr:\n%s", indentTail(ex.Stderr))
	}
}

func indentTail(s string) string {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}
