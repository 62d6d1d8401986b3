package nodecmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/bacalhau-project/bacalhau-wasm/dockerfallback"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// dockerFlags are serve's flags for the Docker engine.
type dockerFlags struct {
	mode        string // auto, on or off
	denyNetwork bool
	gpus        int
	pullTimeout time.Duration
	maxInputs   string
	pids        int64
}

func (f *dockerFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.mode, "docker", "auto", "run Docker jobs: auto (when a Docker engine answers), on (fail to start without one) or off")
	fl.BoolVar(&f.denyNetwork, "docker-deny-network", false, "refuse Docker jobs that ask for --network full")
	fl.IntVar(&f.gpus, "gpus", 0, "GPUs this node gives Docker jobs (--gpu)")
	fl.DurationVar(&f.pullTimeout, "docker-pull-timeout", dockerfallback.DefaultPullTimeout, "how long pulling a Docker job's image may take")
	fl.StringVar(&f.maxInputs, "docker-max-inputs", job.FormatBytes(dockerfallback.DefaultMaxInputBytes), "most a Docker job's inputs may hold, copied to disk for its container")
	fl.Int64Var(&f.pids, "docker-pids-limit", dockerfallback.DefaultPidsLimit, "processes a Docker job's container may run at once")
}

// open starts the Docker executor of the node whose repository is repo, or returns
// nil when there is to be none. The jobs of WASM images run on wasm (nil: refused).
func (f dockerFlags) open(ctx context.Context, repo string, wasm executor.Executor) (*dockerfallback.Executor, error) {
	mode := f.mode
	if mode == "" {
		mode = "auto"
	}
	if mode == "off" {
		return nil, nil
	}
	if mode != "auto" && mode != "on" {
		return nil, fmt.Errorf("--docker %q: want auto, on or off", f.mode)
	}
	opts := dockerfallback.Options{DenyNetwork: f.denyNetwork, GPUs: f.gpus, PullTimeout: f.pullTimeout, PidsLimit: f.pids, Wasm: wasm}
	if f.gpus < 0 || f.pids < 0 || f.pullTimeout < 0 {
		return nil, errors.New("--gpus, --docker-pids-limit and --docker-pull-timeout must not be negative")
	}
	if f.maxInputs != "" {
		n, err := job.ParseBytes(f.maxInputs)
		if err != nil {
			return nil, fmt.Errorf("--docker-max-inputs: %w", err)
		}
		opts.MaxInputBytes = int64(n)
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return nil, err
	}
	opts.Dir, opts.Owner = filepath.Join(abs, "docker"), abs
	x, err := dockerfallback.New(ctx, opts)
	if errors.Is(err, dockerfallback.ErrNoEngine) && mode == "auto" {
		return nil, nil
	}
	return x, err
}
