package dockerfallback

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// WASM first: an image whose platform is wasi/wasm (the Docker+Wasm convention), or
// whose entrypoint is a .wasm file, holds a WASI module. Such a job runs that module
// in the node's deterministic WASM sandbox (Options.Wasm) instead of a container: the
// module is read out of the image (docker save) and added to the node's blockstore
// while the job prepares, and the task is handed to the WASM executor with the job's
// inputs, environment and arguments.

// MaxModuleBytes bounds the module read out of a WASM image.
const MaxModuleBytes = 512 << 20

// wasmPlan is how a WASM image runs: the module at Path in the image, with Args after
// argv[0] and Env (the image's, then the job's).
type wasmPlan struct {
	Path string
	Args []string
	Env  map[string]string
	// Why says what made the image a WASM one, for the job's history.
	Why string
}

// planWasm says whether the image img, run as d asks, is a WASM image, and how it
// runs. ok is false for an ordinary image; err says why a WASM image cannot run.
func planWasm(img image.InspectResponse, d *job.DockerTask, env map[string]string) (p wasmPlan, ok bool, err error) {
	var ep, cmd []string
	var imgEnv []string
	workdir := "/"
	if img.Config != nil {
		ep, cmd, imgEnv = img.Config.Entrypoint, img.Config.Cmd, img.Config.Env
		if img.Config.WorkingDir != "" {
			workdir = img.Config.WorkingDir
		}
	}
	if len(d.Entrypoint) > 0 { // as docker run --entrypoint: the image's command goes too
		ep, cmd = d.Entrypoint, nil
	}
	if len(d.Args) > 0 {
		cmd = d.Args
	}
	platform := img.Os == "wasi" || img.Architecture == "wasm"
	switch {
	case platform:
		p.Why = fmt.Sprintf("image %s is %s/%s", d.Image, img.Os, img.Architecture)
	case len(ep) > 0 && strings.HasSuffix(ep[0], ".wasm"):
		p.Why = fmt.Sprintf("the entrypoint of image %s is %s", d.Image, ep[0])
	default:
		return wasmPlan{}, false, nil
	}
	if len(ep) == 0 {
		return wasmPlan{}, true, fmt.Errorf("%w: %s but it names no entrypoint (the module to run)", job.ErrInvalid, p.Why)
	}
	p.Path = ep[0]
	if !path.IsAbs(p.Path) {
		p.Path = path.Join(workdir, p.Path)
	}
	p.Args = append(append([]string{}, ep[1:]...), cmd...)
	p.Env = map[string]string{}
	for _, kv := range imgEnv {
		if k, v, found := strings.Cut(kv, "="); found {
			p.Env[k] = v
		}
	}
	for k, v := range env {
		p.Env[k] = v
	}
	return p, true, nil
}

// wasmTask is t as a task of the WASM executor: the module mod, p's arguments and
// environment, t's inputs, outputs and limits.
func wasmTask(t executor.Task, p wasmPlan, mod cid.Cid, content executor.Content) (executor.Task, error) {
	m, err := cidtext.Cast(mod.Bytes())
	if err != nil {
		return executor.Task{}, err
	}
	w := t
	w.Spec.Engine = job.EngineWasm
	w.Spec.Wasm = &job.WasmTask{Module: m, EntryPoint: job.DefaultEntryPoint, Args: p.Args}
	w.Spec.Docker = nil
	w.Spec.Env = p.Env
	w.Content = content
	return w, nil
}

// moduleContent reads the module c with read when the node does not have it (own:
// never asks the node), and everything else from the node.
type moduleContent struct {
	c    cid.Cid
	own  bool
	read func(context.Context) ([]byte, error)
	rest executor.Content
}

func (m moduleContent) ReadFile(ctx context.Context, c cid.Cid) ([]byte, error) {
	if c == m.c && m.own {
		return m.read(ctx)
	}
	b, err := m.rest.ReadFile(ctx, c)
	if err != nil && c == m.c {
		return m.read(ctx)
	}
	return b, err
}

// readModule reads the file at p (absolute) out of the image ref, as the engine saves
// it (docker save: the legacy archive, or the OCI layout with its manifest.json).
func (x *Executor) readModule(ctx context.Context, ref, p string) ([]byte, error) {
	rc, err := x.cli.ImageSave(ctx, []string{ref})
	if err != nil {
		return nil, fmt.Errorf("reading the module of WASM image %s: %w", ref, err)
	}
	defer rc.Close()
	b, err := fileInArchive(rc, p, MaxModuleBytes)
	if err != nil {
		return nil, fmt.Errorf("reading the module %s of WASM image %s: %w", p, ref, err)
	}
	return b, nil
}

// errNoFile is returned by fileInArchive when the image has no regular file at the path.
var errNoFile = errors.New("no such regular file in the image")

// layerHit is what one layer says of the file looked for.
type layerHit struct {
	data   []byte // the file, if the layer has it
	found  bool
	hidden bool // the layer deletes it: a whiteout of it or an opaque parent
}

// fileInArchive returns the regular file at p (absolute) of the image in the docker
// save archive r: its layers are applied in the order manifest.json gives (which may
// come last in the stream), with whiteouts. The file may hold at most max bytes.
func fileInArchive(r io.Reader, p string, max int64) ([]byte, error) {
	want := strings.TrimPrefix(path.Clean("/"+p), "/")
	hits := map[string]layerHit{}
	var manifest []struct{ Layers []string }
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the saved image: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "manifest.json" {
			if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(&manifest); err != nil {
				return nil, fmt.Errorf("reading the saved image's manifest.json: %w", err)
			}
			continue
		}
		// Any other file may be a layer; what does not read as a tar is not one.
		if hit, isLayer, err := scanLayer(tr, want, max); err != nil {
			return nil, err
		} else if isLayer {
			hits[name] = hit
		}
	}
	if len(manifest) != 1 {
		return nil, fmt.Errorf("the saved image has %d manifests, want 1", len(manifest))
	}
	var file []byte
	found := false
	for _, l := range manifest[0].Layers {
		hit, ok := hits[strings.TrimPrefix(path.Clean("/"+l), "/")]
		if !ok {
			return nil, fmt.Errorf("the saved image lacks its layer %s", l)
		}
		if hit.hidden {
			file, found = nil, false
		}
		if hit.found {
			file, found = hit.data, true
		}
	}
	if !found {
		return nil, errNoFile
	}
	return file, nil
}

// scanLayer reads r as a layer (a tar, or a gzipped tar) looking for want. isLayer is
// false when r is not a tar.
func scanLayer(r io.Reader, want string, max int64) (hit layerHit, isLayer bool, err error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return layerHit{}, false, nil
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	dir, base := path.Split(want)
	tr := tar.NewReader(r)
	for first := true; ; first = false {
		h, err := tr.Next()
		if err == io.EOF {
			return hit, true, nil
		}
		if err != nil {
			if first {
				return layerHit{}, false, nil
			}
			return layerHit{}, true, fmt.Errorf("reading a layer of the saved image: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch {
		case name == want:
			if h.Typeflag != tar.TypeReg {
				return layerHit{}, true, fmt.Errorf("%s is not a regular file in the image", want)
			}
			if h.Size > max {
				return layerHit{}, true, fmt.Errorf("%s holds %s, more than the limit of %s for a module", want, job.FormatBytes(uint64(h.Size)), job.FormatBytes(uint64(max)))
			}
			b, err := io.ReadAll(io.LimitReader(tr, max))
			if err != nil {
				return layerHit{}, true, fmt.Errorf("reading %s from a layer: %w", want, err)
			}
			hit.data, hit.found = b, true
		case name == path.Join(dir, ".wh."+base):
			hit.hidden = true
		case path.Base(name) == ".wh..wh..opq" && strings.HasPrefix(want, path.Dir(name)+"/"):
			hit.hidden = true
		}
	}
}

// executeWasm runs t, whose image imgID is a WASM one, on the WASM executor: the
// module Prepare added to the node, or, if it is gone or was never added, the module
// read out of the image again.
func (x *Executor) executeWasm(ctx context.Context, t executor.Task, imgID string, p wasmPlan) (executor.Result, error) {
	if x.opts.Wasm == nil {
		return executor.Result{}, fmt.Errorf("%w: %s, a WASM module, and this node runs no WASM sandbox", job.ErrInvalid, p.Why)
	}
	read := func(ctx context.Context) ([]byte, error) { return x.readModule(ctx, imgID, p.Path) }
	mod, ok := x.moduleOf(imgID, p.Path)
	if !ok {
		// Only the compile cache's key: the CID Prepare gives is the one of `data add`.
		b, err := read(ctx)
		if err != nil {
			return executor.Result{}, err
		}
		key := cid.V1Builder{Codec: cid.Raw, MhType: multihash.SHA2_256}
		if mod, err = key.Sum(b); err != nil {
			return executor.Result{}, err
		}
		read = func(context.Context) ([]byte, error) { return b, nil }
	}
	wt, err := wasmTask(t, p, mod, moduleContent{c: mod, own: !ok, read: read, rest: t.Content})
	if err != nil {
		return executor.Result{}, err
	}
	return x.opts.Wasm.Execute(ctx, wt)
}
