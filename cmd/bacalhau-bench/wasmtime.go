//go:build cgo && linux && !nowasmtime

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox/wasmtime"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// wasmtime: the two WASM engines side by side in one run. sha256 of 256 MiB as a job
// on each (and on bare wazero over a host directory), and a Go hello per fresh
// instance, compiled code cached, on our wazero sandbox, our wasmtime sandbox and bare
// wazero.
func (b *bench) wasmtime() ([]row, error) {
	const size = 256 << 20
	dir := filepath.Join(b.work, "wt-in")
	if err := makeFile(filepath.Join(dir, "data.bin"), size, "wasmtime"); err != nil {
		return nil, err
	}
	p, in, err := b.serveWith("wasmtime", dir)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	mod := filepath.Join(b.examples, "sha256.wasm")
	job := func(engine string) (time.Duration, error) {
		var ds []time.Duration
		for i := 0; i < 4; i++ {
			out, d, err := b.cli(p, "wasm", "run", "--engine", engine, mod, "-i", in)
			if err != nil {
				return 0, err
			}
			if !strings.Contains(out, "data.bin") {
				return 0, fmt.Errorf("sha256 job on %s printed %q", engine, out)
			}
			if i > 0 { // the first compiles
				ds = append(ds, d)
			}
		}
		return median(ds), nil
	}
	wz, err := job("wazero")
	if err != nil {
		return nil, err
	}
	wt, err := job("wasmtime")
	if err != nil {
		return nil, err
	}
	bare, err := bareWazero(b.ctx, mod, dir, 3)
	if err != nil {
		return nil, err
	}
	copyCost, err := wasmtimeInputCopy(b.ctx, mod, dir)
	if err != nil {
		return nil, err
	}
	helloWz, helloWt, helloBare, err := helloPerInstance(b.ctx, filepath.Join(b.examples, "hello.wasm"), 20)
	if err != nil {
		return nil, err
	}
	mibps := func(d time.Duration) string { return fmt.Sprintf("%.0f MiB/s", float64(size)/(1<<20)/d.Seconds()) }
	return []row{
		{"sha256 of 256 MiB as a job, wazero (median of 3)", ms(wz) + " = " + mibps(wz), "", "bare wazero, host dir: " + ms(bare) + " = " + mibps(bare)},
		{"sha256 of 256 MiB as a job, wasmtime (median of 3)", ms(wt) + " = " + mibps(wt), "", "copying its 256 MiB of input before the guest starts (sandbox alone, from a host dir): " + ms(copyCost)},
		{"sha256 job: wasmtime speed / wazero speed", fmt.Sprintf("%.2fx", ratio(wz, wt)), ">= 2.5x", fmt.Sprintf("wasmtime vs bare wazero: %.2fx", ratio(bare, wt))},
		{"Go hello per fresh instance, cached code: wazero sandbox / wasmtime (median of 20)", fmt.Sprintf("%.2fx", ratio(helloWz, helloWt)), ">= 3x",
			fmt.Sprintf("wazero %s, wasmtime %s, bare wazero %s", ms(helloWz), ms(helloWt), ms(helloBare))},
	}, nil
}

// wasmtimeInputCopy is what a wasmtime run spends before its guest starts, the module
// compiled: copying its inputs (here a host directory through os.DirFS) to a directory
// wasmtime can preopen. The median of 3.
func wasmtimeInputCopy(ctx context.Context, mod, dir string) (time.Duration, error) {
	s, err := wasmtime.New(ctx, wasmtime.Options{})
	if err != nil {
		return 0, err
	}
	defer s.Close(ctx)
	code, err := os.ReadFile(mod)
	if err != nil {
		return 0, err
	}
	var ds []time.Duration
	for i := 0; i < 4; i++ {
		res, err := s.Run(ctx, sandbox.Guest{ModuleKey: "sha256", Module: func(context.Context) ([]byte, error) { return code, nil },
			WASI: wasi.Config{Mounts: []wasi.Mount{{FS: os.DirFS(dir), Target: "/inputs"}}, Stdout: io.Discard, Stderr: os.Stderr}})
		if err != nil {
			return 0, err
		}
		if res.ExitCode != 0 {
			return 0, fmt.Errorf("sha256 on wasmtime exited %d (%s)", res.ExitCode, res.Reason)
		}
		if i > 0 {
			ds = append(ds, res.Load)
		}
	}
	return median(ds), nil
}

// helloPerInstance times n runs of hello, each a fresh instance of code compiled
// before, on our wazero sandbox, our wasmtime sandbox and bare wazero.
func helloPerInstance(ctx context.Context, hello string, n int) (wz, wt, bare time.Duration, err error) {
	code, err := os.ReadFile(hello)
	if err != nil {
		return 0, 0, 0, err
	}
	guest := sandbox.Guest{ModuleKey: "hello", Module: func(context.Context) ([]byte, error) { return code, nil },
		WASI: wasi.Config{Stdout: io.Discard, Stderr: os.Stderr}}
	type runner interface {
		Run(context.Context, sandbox.Guest) (sandbox.Result, error)
		Close(context.Context) error
	}
	times := func(r runner) (time.Duration, error) {
		defer r.Close(ctx)
		var ds []time.Duration
		for i := 0; i <= n; i++ {
			start := time.Now()
			res, err := r.Run(ctx, guest)
			d := time.Since(start)
			if err != nil {
				return 0, err
			}
			if res.ExitCode != 0 {
				return 0, fmt.Errorf("hello exited %d (%s)", res.ExitCode, res.Reason)
			}
			if i > 0 { // the first compiles
				ds = append(ds, d)
			}
		}
		return median(ds), nil
	}
	zs, err := sandbox.New(ctx, sandbox.Options{})
	if err != nil {
		return 0, 0, 0, err
	}
	if wz, err = times(zs); err != nil {
		return 0, 0, 0, err
	}
	ts, err := wasmtime.New(ctx, wasmtime.Options{})
	if err != nil {
		return 0, 0, 0, err
	}
	if wt, err = times(ts); err != nil {
		return 0, 0, 0, err
	}
	empty, err := os.MkdirTemp("", "hello-bare-")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(empty)
	bare, err = bareWazero(ctx, hello, empty, n)
	return wz, wt, bare, err
}
