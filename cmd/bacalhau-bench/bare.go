package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// bareWazero runs a module with nothing of ours around it: plain wazero, the host
// directory mounted at /inputs. Compilation is not timed.
func bareWazero(ctx context.Context, modPath, dir string, n int) (time.Duration, error) {
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	code, err := os.ReadFile(modPath)
	if err != nil {
		return 0, err
	}
	mod, err := rt.CompileModule(ctx, code)
	if err != nil {
		return 0, err
	}
	var ds []time.Duration
	for i := 0; i < n; i++ {
		cfg := wazero.NewModuleConfig().WithName("").WithArgs("main").WithStdout(io.Discard).WithStderr(os.Stderr).
			WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, "/inputs"))
		start := time.Now()
		m, err := rt.InstantiateModule(ctx, mod, cfg)
		var ee *sys.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 0 {
			err = nil
		}
		if err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
		if m != nil {
			m.Close(ctx)
		}
	}
	return median(ds), nil
}

// readThroughput runs the readall guest in our sandbox over the same bytes twice: from
// the blockstore through blockstore.NewFS, and from the host directory.
func readThroughput(ctx context.Context, readall, dir, storeDir string, n int) (ipfs, host time.Duration, err error) {
	bs, err := blockstore.Open(storeDir, blockstore.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer bs.Close()
	root, err := bs.AddPath(ctx, dir, blockstore.AddOptions{})
	if err != nil {
		return 0, 0, err
	}
	box, err := sandbox.New(ctx, sandbox.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer box.Close(ctx)
	code, err := os.ReadFile(readall)
	if err != nil {
		return 0, 0, err
	}
	runWith := func(fsys fs.FS) (time.Duration, error) {
		var ds []time.Duration
		for i := 0; i <= n; i++ {
			var out strings.Builder
			start := time.Now()
			res, err := box.Run(ctx, sandbox.Guest{
				ModuleKey: "readall",
				Module:    func(context.Context) ([]byte, error) { return code, nil },
				WASI:      wasi.Config{Mounts: []wasi.Mount{{FS: fsys, Target: "/inputs"}}, Stdout: &out, Stderr: os.Stderr},
			})
			d := time.Since(start)
			if err != nil {
				return 0, err
			}
			if res.ExitCode != 0 {
				return 0, fmt.Errorf("readall exited %d (%s)", res.ExitCode, res.Reason)
			}
			if i > 0 { // the first run compiles
				ds = append(ds, d)
			}
		}
		return median(ds), nil
	}
	fsys, err := blockstore.NewFS(ctx, bs.Blocks(), root.CID)
	if err != nil {
		return 0, 0, err
	}
	if ipfs, err = runWith(fsys); err != nil {
		return 0, 0, err
	}
	if host, err = runWith(wasi.HostDir(dir)); err != nil {
		return 0, 0, err
	}
	return ipfs, host, nil
}
