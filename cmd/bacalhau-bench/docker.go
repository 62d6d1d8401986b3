package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// dockerImage is the local image `make test-images` builds (FROM scratch, busybox).
const dockerImage = "bacalhau-test/busybox"

// docker: `bacalhau docker run <image> true` end to end against `docker run --rm
// <image> true` run directly, interleaved in the same run; then 20 Docker jobs
// submitted at once against 20 `docker run --rm` in a loop.
func (b *bench) docker() ([]row, error) {
	if out, err := exec.Command("docker", "image", "inspect", dockerImage).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("no %s image (make test-images): %v: %s", dockerImage, err, strings.TrimSpace(string(out)))
	}
	p, err := b.serve(b.repo("docker"), "--docker", "on")
	if err != nil {
		return nil, err
	}
	defer p.stop()
	plain := exec.Command("docker", "run", "--rm", dockerImage, "true")
	// The like-for-like yardstick: no network, as our containers run by default
	// (a bridge endpoint is most of a plain docker run's time here).
	bare := exec.Command("docker", "run", "--rm", "--network", "none", dockerImage, "true")
	var ours, theirs, theirsNone []time.Duration
	const runs = 10
	for i := 0; i < runs+2; i++ {
		out, d, err := b.cli(p, "docker", "run", dockerImage, "true")
		if err != nil {
			return nil, err
		}
		if field(out, "State") != "completed" {
			return nil, fmt.Errorf("docker run true:\n%s", out)
		}
		_, t, err := timed(exec.Command(plain.Path, plain.Args[1:]...), "docker", plain.Args[1:])
		if err != nil {
			return nil, err
		}
		_, tn, err := timed(exec.Command(bare.Path, bare.Args[1:]...), "docker", bare.Args[1:])
		if err != nil {
			return nil, err
		}
		if i >= 2 {
			ours, theirs, theirsNone = append(ours, d), append(theirs, t), append(theirsNone, tn)
		}
	}
	rows := []row{{fmt.Sprintf("docker run %s true end to end (median of %d)", dockerImage, runs),
		fmt.Sprintf("%s = %.2fx plain docker run --rm (%s)", ms(median(ours)), ratio(median(ours), median(theirs)), ms(median(theirs))),
		"<= 1.15x plain docker run", ""},
		{"  the same against docker run --rm --network none", fmt.Sprintf("%.2fx (%s)", ratio(median(ours), median(theirsNone)), ms(median(theirsNone))), "", "like for like: our containers have no network"}}

	// 20 at once on one node, against 20 plain runs one after the other.
	const n = 20
	c := p.client()
	spec := job.Spec{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: dockerImage, Args: []string{"true"}}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	states := map[job.State]int{}
	var errs []error
	start := time.Now()
	for range n {
		wg.Go(func() {
			ctx := context.Background()
			j, err := c.Submit(ctx, spec)
			if err == nil {
				j, err = c.Watch(ctx, j.ID, func(*job.Job) bool { return true })
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			states[j.State]++
		})
	}
	wg.Wait()
	d := time.Since(start)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d of %d submissions failed, first: %v", len(errs), n, errs[0])
	}
	start = time.Now()
	for range n {
		if _, _, err := timed(exec.Command(plain.Path, plain.Args[1:]...), "docker", plain.Args[1:]); err != nil {
			return nil, err
		}
	}
	loop := time.Since(start)
	rows = append(rows, row{"20 Docker jobs at once, one node",
		fmt.Sprintf("%.2f jobs/s; docker run --rm in a loop %.2f/s", n/d.Seconds(), n/loop.Seconds()),
		"all complete, none dropped",
		fmt.Sprintf("%d completed, %d failed, %d other, in %s", states[job.StateCompleted], states[job.StateFailed], n-states[job.StateCompleted]-states[job.StateFailed], d.Round(time.Millisecond))})
	return rows, nil
}
