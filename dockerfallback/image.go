package dockerfallback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// pull is a pull under way; executions needing the same image wait for it.
type pull struct {
	done chan struct{}
	err  error
}

// Prepare makes the spec's image local: present already, or pulled (with the
// registry credentials of the engine's host), within Options.PullTimeout. It says
// which, and how long it took, through note.
func (x *Executor) Prepare(ctx context.Context, spec job.Spec, note func(string)) error {
	if spec.Docker == nil {
		return fmt.Errorf("%w: the docker executor was given a %q task", job.ErrInvalid, spec.Engine)
	}
	ref := spec.Docker.Image
	t0 := time.Now()
	pulled, err := x.ensureImage(ctx, ref)
	if err != nil {
		return err
	}
	if pulled {
		note(fmt.Sprintf("preparing: pulled image %s in %s", ref, time.Since(t0).Round(time.Millisecond)))
	} else {
		note(fmt.Sprintf("preparing: image %s is on this node (%s)", ref, time.Since(t0).Round(time.Millisecond)))
	}
	return nil
}

// ensureImage pulls ref unless it is local; pulled says whether it pulled.
func (x *Executor) ensureImage(ctx context.Context, ref string) (pulled bool, err error) {
	if _, err := x.cli.ImageInspect(ctx, ref); err == nil {
		return false, nil
	} else if !client.IsErrNotFound(err) {
		return false, fmt.Errorf("looking up image %s: %w", ref, err)
	}
	x.mu.Lock()
	p, ok := x.pulling[ref]
	if !ok {
		p = &pull{done: make(chan struct{})}
		x.pulling[ref] = p
		go func() {
			// A pull outlives the execution that started it: others may wait on it.
			pctx, cancel := context.WithTimeout(context.Background(), x.opts.PullTimeout)
			p.err = x.pull(pctx, ref)
			cancel()
			x.mu.Lock()
			delete(x.pulling, ref)
			x.mu.Unlock()
			close(p.done)
		}()
	}
	x.mu.Unlock()
	select {
	case <-p.done:
		return true, p.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// pullMessage is one line of the engine's pull progress stream.
type pullMessage struct {
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

func (x *Executor) pull(ctx context.Context, ref string) error {
	fail := func(err error) error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("image %s is not on this node and pulling it took over %s", ref, x.opts.PullTimeout)
		}
		return fmt.Errorf("image %s is not on this node and could not be pulled: %v", ref, err)
	}
	rc, err := x.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fail(err)
	}
	defer rc.Close()
	dec := json.NewDecoder(io.LimitReader(rc, 64<<20))
	for {
		var m pullMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return fail(err)
		}
		if m.Error != "" {
			return fail(errors.New(m.Error))
		}
	}
	if _, err := x.cli.ImageInspect(ctx, ref); err != nil {
		return fail(err)
	}
	return nil
}
