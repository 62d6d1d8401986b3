package dockerfallback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// nobody is the user a container runs as when its image names none.
const nobody = "65534:65534"

// outputsPoll is how often the outputs directory is measured against its limit.
const outputsPoll = 200 * time.Millisecond

// Execute runs t.Spec.Docker: its image (pulled first if Prepare did not), its inputs
// materialised and mounted read-only, /outputs bound to t.OutputsDir.
func (x *Executor) Execute(ctx context.Context, t executor.Task) (executor.Result, error) {
	d := t.Spec.Docker
	if t.Spec.Engine != job.EngineDocker || d == nil {
		return executor.Result{}, fmt.Errorf("%w: the docker executor was given a %q task", job.ErrInvalid, t.Spec.Engine)
	}
	if r := x.Refusal(t.Spec); r != "" {
		return executor.Result{}, fmt.Errorf("%w: %s", job.ErrInvalid, r)
	}
	t0 := time.Now()
	if _, err := x.ensureImage(ctx, d.Image); err != nil {
		return executor.Result{}, err
	}
	img, err := x.cli.ImageInspect(ctx, d.Image)
	if err != nil {
		return executor.Result{}, fmt.Errorf("looking up image %s: %w", d.Image, err)
	}
	if plan, ok, err := planWasm(img, d, t.Spec.Env); err != nil {
		return executor.Result{}, err
	} else if ok {
		return x.executeWasm(ctx, t, img.ID, plan)
	}
	dir := x.execDir(t.ExecutionID)
	defer os.RemoveAll(dir)
	mounts, err := x.materialise(ctx, dir, t.Inputs)
	if err != nil {
		return executor.Result{}, err
	}
	if err := os.Chmod(t.OutputsDir, 0o777); err != nil { // the container's user writes it
		return executor.Result{}, err
	}
	mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: t.OutputsDir, Target: job.DefaultOutputsPath})

	cfg, host := x.config(t, img.Config != nil && img.Config.User != "")
	host.Mounts = mounts
	created, err := x.cli.ContainerCreate(ctx, cfg, host, nil, nil, "bacalhau-"+t.ExecutionID)
	if err != nil {
		return executor.Result{}, fmt.Errorf("creating the container of image %s: %w", d.Image, err)
	}
	id := created.ID
	defer x.untrack(ctx, t.ExecutionID, id)
	if !x.track(t.ExecutionID, id) {
		return executor.Result{}, errors.New("dockerfallback: closed")
	}
	return x.run(ctx, t, id, t0)
}

func (x *Executor) track(execID, id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return false
	}
	x.live[execID] = id
	return true
}

func (x *Executor) untrack(ctx context.Context, execID, id string) {
	x.remove(ctx, id)
	x.mu.Lock()
	delete(x.live, execID)
	x.mu.Unlock()
}

// config is the container's configuration: the task's command in the hardened box.
func (x *Executor) config(t executor.Task, imageHasUser bool) (*container.Config, *container.HostConfig) {
	d := t.Spec.Docker
	env := make([]string, 0, len(t.Spec.Env))
	for k, v := range t.Spec.Env {
		env = append(env, k+"="+v)
	}
	cfg := &container.Config{
		Image:        d.Image,
		Cmd:          d.Args,
		Env:          env,
		WorkingDir:   d.WorkingDir,
		AttachStdout: true,
		AttachStderr: true,
		Labels: map[string]string{
			LabelOwner: x.opts.Owner, LabelJob: t.JobID, LabelExecution: t.ExecutionID,
		},
		NetworkDisabled: d.Network != job.NetworkFull,
	}
	if len(d.Entrypoint) > 0 {
		cfg.Entrypoint = d.Entrypoint
	}
	if !imageHasUser {
		cfg.User = nobody
	}
	mem := int64(t.Spec.EffectiveMemory())
	pids := x.opts.PidsLimit
	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode("none"),
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": "rw,nosuid,nodev,size=" + strconv.FormatInt(x.opts.TmpSize, 10)},
		Resources: container.Resources{
			Memory:     mem,
			MemorySwap: mem, // no swap beyond the limit
			PidsLimit:  &pids,
			NanoCPUs:   d.CPU * 1_000_000,
		},
		IpcMode: container.IpcMode("private"),
		// The engine's default on cgroup v1 hosts is the host's cgroup namespace.
		CgroupnsMode: container.CgroupnsModePrivate,
		PidMode:      "",
		Privileged:   false,
	}
	if d.Network == job.NetworkFull {
		host.NetworkMode = container.NetworkMode("bridge")
	}
	if d.GPU > 0 {
		host.DeviceRequests = []container.DeviceRequest{{Count: d.GPU, Capabilities: [][]string{{"gpu"}}}}
	}
	return cfg, host
}

// run starts the created container and waits for its end, the job's timeout, a cancel
// or its outputs passing their limit. The timeout counts the container's own run, from
// the moment the engine started its process: pulling the image, materialising the
// inputs, creating and starting the container are not counted.
func (x *Executor) run(ctx context.Context, t executor.Task, id string, t0 time.Time) (executor.Result, error) {
	limit := t.OutputLimit
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	stdout, stderr := &capped{w: t.Stdout, left: limit}, &capped{w: t.Stderr, left: limit}
	att, err := x.cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return executor.Result{}, fmt.Errorf("attaching to the container: %w", err)
	}
	defer att.Close()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		stdcopy.StdCopy(stdout, stderr, att.Reader)
	}()
	// The wait is registered before the start, so that no exit is missed.
	wctx, wcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer wcancel()
	waitc, errc := x.cli.ContainerWait(wctx, id, container.WaitConditionNextExit)

	timeout := time.Duration(t.Spec.Timeout)
	if timeout <= 0 {
		timeout = job.DefaultTimeout
	}
	res := executor.Result{Prepare: time.Since(t0), ExitCode: executor.ExitCodeAbnormal}
	t1 := time.Now()
	if err := x.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return executor.Result{}, fmt.Errorf("starting the container of image %s: %w", t.Spec.Docker.Image, err)
	}
	began := x.startedAt(ctx, id, t1, time.Now())
	timer := time.NewTimer(time.Until(began.Add(timeout)))
	defer timer.Stop()
	over := make(chan struct{})
	stopWatch := x.watchOutputs(t.OutputsDir, t.OutputsLimit, over)
	defer stopWatch()

	// stop kills the container (SIGKILL: a job past its limit gets no grace period)
	// and removes it in the same call; the engine answers once it is gone.
	stop := func() { x.remove(ctx, id) }
	var exited *container.WaitResponse
	select {
	case w := <-waitc:
		exited = &w
	case err := <-errc:
		return executor.Result{}, fmt.Errorf("waiting for the container: %w", err)
	case <-ctx.Done():
		stop()
		res.Outcome, res.Message = job.OutcomeCancelled, "cancelled"
	case <-timer.C:
		stop()
		res.Outcome, res.Message = job.OutcomeTimeout, fmt.Sprintf("timeout of %s exceeded", timeout)
	case <-over:
		stop()
		res.Outcome, res.Message, res.OutputsLimitHit = job.OutcomeOutputsLimit,
			fmt.Sprintf("outputs limit of %s exceeded", job.FormatBytes(uint64(t.OutputsLimit))), true
	}
	res.Run = time.Since(began)
	// The output streams end with the container; wait (bounded) for their last bytes.
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		att.Close()
		<-copied
	}
	res.StdoutTruncated, res.StderrTruncated = stdout.truncated, stderr.truncated
	if exited == nil {
		if res.OutputsLimitHit {
			trimOutputs(t.OutputsDir, t.OutputsLimit)
		}
		return res, nil
	}
	res.Outcome, res.ExitCode = job.OutcomeExited, int(exited.StatusCode)
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if st, err := x.cli.ContainerInspect(ictx, id); err == nil && st.State != nil && st.State.OOMKilled {
		res.Outcome, res.ExitCode = job.OutcomeMemoryLimit, executor.ExitCodeAbnormal
		res.Message = fmt.Sprintf("memory limit of %s exceeded", job.FormatBytes(t.Spec.EffectiveMemory()))
	}
	if res.Outcome == job.OutcomeExited && t.OutputsLimit > 0 && dirSize(t.OutputsDir) > t.OutputsLimit {
		res.Outcome, res.OutputsLimitHit = job.OutcomeOutputsLimit, true
		res.Message = fmt.Sprintf("outputs limit of %s exceeded", job.FormatBytes(uint64(t.OutputsLimit)))
		trimOutputs(t.OutputsDir, t.OutputsLimit)
	}
	return res, nil
}

// startedAt is when the engine started the container's process (its State.StartedAt),
// which ContainerStart, called at called and returned at returned, reports only once
// the process runs. An engine whose clock disagrees with ours (a time outside that
// call), or that does not say, gives returned.
func (x *Executor) startedAt(ctx context.Context, id string, called, returned time.Time) time.Time {
	st, err := x.cli.ContainerInspect(ctx, id)
	if err != nil || st.ContainerJSONBase == nil || st.State == nil {
		return returned
	}
	at, err := time.Parse(time.RFC3339Nano, st.State.StartedAt)
	if err != nil || at.Before(called) || at.After(returned) {
		return returned
	}
	return at
}

// trimOutputs cuts what a container left under dir to limit bytes, as a WASM guest
// refused room past its limit leaves it: the regular files in path order are kept
// while they fit, the one that crosses the limit is cut short, and those past it
// removed.
func trimOutputs(dir string, limit int64) {
	left := limit
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		st, err := d.Info()
		switch {
		case err != nil:
		case left <= 0:
			os.Remove(p)
		case st.Size() > left:
			if os.Truncate(p, left) != nil {
				os.Remove(p)
			}
			left = 0
		default:
			left -= st.Size()
		}
		return nil
	})
}

// watchOutputs closes over when what is under dir passes limit; the returned func
// stops it.
func (x *Executor) watchOutputs(dir string, limit int64, over chan<- struct{}) func() {
	if limit <= 0 {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(outputsPoll)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if dirSize(dir) > limit {
					close(over)
					return
				}
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

// dirSize is the bytes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if st, err := d.Info(); err == nil {
				n += st.Size()
			}
		}
		return nil
	})
	return n
}

// capped passes on what is written to it up to left bytes, and drops the rest.
type capped struct {
	w         io.Writer
	left      int64
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := len(p)
	if int64(len(p)) > c.left {
		p, c.truncated = p[:c.left], true
	}
	if len(p) > 0 && c.w != nil {
		if _, err := c.w.Write(p); err != nil {
			return 0, err
		}
	}
	c.left -= int64(len(p))
	return n, nil
}
