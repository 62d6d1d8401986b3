package dockerfallback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// pull is a pull under way; executions needing the same image wait for it.
type pull struct {
	done chan struct{}
	err  error
}

// Prepare makes the spec's image local: present already, or pulled (with the
// registry credentials of the Docker config of the node's user, see registryAuth),
// within Options.PullTimeout. It says
// which, and how long it took, through p.Note. A WASM image's module is read out of
// it and added to the node's blockstore through p.Store.
func (x *Executor) Prepare(ctx context.Context, p executor.Preparation) error {
	spec := p.Spec
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
		p.Note(fmt.Sprintf("preparing: pulled image %s in %s", ref, time.Since(t0).Round(time.Millisecond)))
	} else {
		p.Note(fmt.Sprintf("preparing: image %s is on this node (%s)", ref, time.Since(t0).Round(time.Millisecond)))
	}
	img, err := x.cli.ImageInspect(ctx, ref)
	if err != nil {
		return fmt.Errorf("looking up image %s: %w", ref, err)
	}
	plan, ok, err := planWasm(img, spec.Docker, spec.Env)
	if !ok || err != nil {
		return err
	}
	if x.opts.Wasm == nil {
		return fmt.Errorf("%w: %s, a WASM module, and this node runs no WASM sandbox", job.ErrInvalid, plan.Why)
	}
	t1 := time.Now()
	mod, err := x.readModule(ctx, ref, plan.Path)
	if err != nil {
		return err
	}
	c, err := p.Store.AddFile(ctx, bytes.NewReader(mod))
	if err != nil {
		return fmt.Errorf("adding the module of WASM image %s: %w", ref, err)
	}
	x.rememberModule(img.ID, plan.Path, c)
	p.Note(fmt.Sprintf("preparing: runs in the WASM sandbox, not a container: %s; module %s (%s) read from the image in %s",
		plan.Why, c, job.FormatBytes(uint64(len(mod))), time.Since(t1).Round(time.Millisecond)))
	// The module is compiled now, as a WASM job's is: not in the job's timeout.
	if wp, ok := x.opts.Wasm.(executor.Preparer); ok && p.Content != nil {
		w, err := wasmTask(executor.Task{Spec: spec}, plan, c, p.Content)
		if err != nil {
			return err
		}
		return wp.Prepare(ctx, executor.Preparation{Spec: w.Spec, Note: p.Note, Content: p.Content, Store: p.Store})
	}
	return nil
}

// rememberModule records the CID of the module at p of the image id, for Execute.
func (x *Executor) rememberModule(id, p string, c cid.Cid) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.modules) >= maxModules {
		clear(x.modules)
	}
	x.modules[id+"\x00"+p] = c
}

// moduleOf is the CID Prepare gave the module at p of the image id, if it did.
func (x *Executor) moduleOf(id, p string) (cid.Cid, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	c, ok := x.modules[id+"\x00"+p]
	return c, ok
}

// maxModules bounds the modules of WASM images the executor remembers.
const maxModules = 256

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
	auth, err := registryAuth(ctx, ref)
	if err != nil {
		return fmt.Errorf("image %s is not on this node and could not be pulled: %v", ref, err)
	}
	rc, err := x.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
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
