package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func newDocker(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "docker", Short: shortDocker}
	cmd.AddCommand(newDockerRun(e))
	return cmd
}

// dockerFlags are the flags docker run has beyond wasm run's.
type dockerFlags struct {
	workdir    string
	entrypoint string
	cpu        string
	network    string
	gpu        int
}

// deterministicCaveat is printed by docker run --verify: agreement needs identical
// results, which a container does not promise.
const deterministicCaveat = "Note: containers are not guaranteed deterministic (clocks, randomness, the network, thread scheduling): with --verify the nodes' result CIDs may differ, and the job then fails. WASM jobs are deterministic.\n"

func newDockerRun(e *Env) *cobra.Command {
	var f runFlags
	var d dockerFlags
	cmd := &cobra.Command{
		Use:   "run IMAGE [COMMAND] [ARGS...]",
		Short: "Run an image in a hardened container against IPFS data; waits and prints the result",
		Example: `  bacalhau docker run ubuntu echo hello
  bacalhau docker run -i bafy... -i src=ipfs://bafy...,dst=/more -e K=V -w /work --entrypoint /bin/sh alpine -- -c 'wc -l /inputs/*'
  bacalhau docker run --cpu 500m --memory 256MB --timeout 60s --network none img cmd`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dec, err := f.decoded(nil)
			if err != nil {
				return err
			}
			spec := dec.Spec
			cmdArgs := args[1:]
			if len(cmdArgs) > 0 && cmdArgs[0] == "--" { // `img -- -c ...`: the rest is the command's
				cmdArgs = cmdArgs[1:]
			}
			if spec, err = d.spec(spec, args[0], cmdArgs); err != nil {
				return err
			}
			if spec.Verify > 1 && f.output == "" && !f.idOnly {
				fmt.Fprint(e.Stderr, deterministicCaveat)
			}
			dec.Spec = spec
			if err := resolveURLs(cmd, e, dec, f.urls); err != nil {
				return err
			}
			return submitAndWait(cmd, e, dec.Spec, f)
		},
	}
	f.urls.add(cmd)
	fl := cmd.Flags()
	// Flags after the image belong to the command: `docker run img ls -l`.
	fl.SetInterspersed(false)
	fl.StringArrayVarP(&f.inputs, "input", "i", nil, "input: CID, ipfs://CID:/target or src=ipfs://CID,dst=/target (repeatable)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "environment variable NAME=value (repeatable)")
	fl.StringVarP(&d.workdir, "workdir", "w", "", "working directory in the container (default: the image's)")
	fl.StringVar(&d.entrypoint, "entrypoint", "", "overrides the image's entrypoint")
	fl.StringVar(&d.cpu, "cpu", "", "CPU limit: cores (0.5, 2) or thousandths (500m) (default none)")
	fl.StringVar(&d.network, "network", job.NetworkNone, "none, or full: the container reaches the network (a node may refuse it)")
	fl.IntVar(&d.gpu, "gpu", 0, "GPUs the container needs (only nodes that have them take the job)")
	fl.StringVar(&f.timeout, "timeout", "", "wall-clock limit, e.g. 30s or 5m, or a number of seconds (default 30m; pulling the image is not counted)")
	fl.StringVar(&f.memory, "memory", "", "memory limit, e.g. 64MB or 1GiB (default 256 MiB)")
	fl.StringVar(&f.outputs, "outputs-limit", "", fmt.Sprintf("most the job may write under /outputs, e.g. 100MB (default %s)", job.FormatBytes(job.DefaultOutputsLimit)))
	fl.DurationVar(&f.queue, "queue-timeout", 0, fmt.Sprintf("fail the job if no node has taken it within this long (default %s)", job.DefaultQueueTimeout))
	fl.BoolVar(&f.wait, "wait", true, "wait for the job to finish")
	fl.DurationVar(&f.waitTimeout, "wait-timeout", 0, fmt.Sprintf("stop waiting after this long (exit code %d; the job goes on); 0 waits until it ends", ExitWaitTimeout))
	fl.BoolVar(&f.idOnly, "id-only", false, "print only the job ID")
	fl.StringVar(&f.output, "output", "", "json or yaml: print the job record instead of the summary")
	fl.StringSliceVarP(&f.selector, "selector", "s", nil, "run only on nodes with these labels, key=value (repeatable or comma-separated)")
	f.addLabels(cmd)
	fl.IntVar(&f.verify, "verify", 1, fmt.Sprintf("run on this many distinct nodes (at most %d); complete only if their result CIDs agree (containers may not)", job.MaxVerify))
	refuseUpstreamFlags(cmd, runUpstreamFlags...)
	return cmd
}

// spec turns a wasm-style spec into a Docker one for image and its command.
func (d dockerFlags) spec(spec job.Spec, image string, args []string) (job.Spec, error) {
	t := &job.DockerTask{Image: image, Args: args, WorkingDir: d.workdir, Network: d.network, GPU: d.gpu}
	if d.entrypoint != "" {
		t.Entrypoint = []string{d.entrypoint}
	}
	if d.cpu != "" {
		n, err := job.ParseCPU(d.cpu)
		if err != nil {
			return spec, fmt.Errorf("--cpu: %w", err)
		}
		t.CPU = n
	}
	if d.network != job.NetworkNone && d.network != job.NetworkFull {
		return spec, fmt.Errorf("--network %q: want none or full", d.network)
	}
	if d.gpu < 0 {
		return spec, fmt.Errorf("--gpu %d: want 0 or more", d.gpu)
	}
	spec.Engine, spec.Wasm, spec.Docker = job.EngineDocker, nil, t
	return spec, nil
}
