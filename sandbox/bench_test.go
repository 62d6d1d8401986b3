package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// BenchmarkHelloWarm instantiates and runs the hello example with its
// compiled code already cached.
func BenchmarkHelloWarm(b *testing.B) {
	s := newSandbox(b, Options{})
	task, stdout, _ := guestTask(b, "hello")
	ctx := context.Background()
	if _, err := s.Run(ctx, task); err != nil { // compile
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		stdout.Reset()
		if res, err := s.Run(ctx, task); err != nil || res.ExitCode != 0 {
			b.Fatal(res, err)
		}
	}
}

const benchFileSize = 100 << 20

var (
	benchDirOnce sync.Once
	benchDir     string
)

// benchInputs returns a directory holding one 100 MiB file of
// pseudo-random bytes, made once per process and removed by TestMain.
func benchInputs(b *testing.B) string {
	benchDirOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sandbox-bench-")
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, "data.bin"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{}), benchFileSize); err != nil {
			b.Fatal(err)
		}
		benchDir = dir
	})
	return benchDir
}

// withoutInstrumentation makes s run every module the slow but safe way
// (the fallback): uninstrumented, in the runtime with CloseOnContextDone.
func withoutInstrumentation(s *Sandbox) {
	s.instrument = func([]byte) ([]byte, error) { return nil, errors.New("instrumentation disabled by the test") }
}

// benchSha256 hashes the 100 MiB file through the sandbox, with the module
// instrumented (as the sandbox runs it) and uninstrumented under
// CloseOnContextDone (its fallback).
func benchSha256(b *testing.B, inputs fs.FS) {
	for _, mode := range []string{"instrumented", "closeOnContextDone"} {
		b.Run(mode, func(b *testing.B) {
			s := newSandbox(b, Options{})
			if mode == "closeOnContextDone" {
				withoutInstrumentation(s)
			}
			task, stdout, stderr := guestTask(b, "sha256")
			task.WASI.Mounts = []wasi.Mount{{FS: inputs, Target: "/inputs"}}
			ctx := context.Background()
			if _, err := s.Run(ctx, task); err != nil {
				b.Fatal(err)
			}
			if want := nativeSum(b); stdout.String() != want+"  data.bin\n" {
				b.Fatalf("guest printed %q, want %s", stdout.String(), want)
			}
			b.SetBytes(benchFileSize)
			for b.Loop() {
				stdout.Reset()
				res, err := s.Run(ctx, task)
				if err != nil || res.ExitCode != 0 || !strings.HasSuffix(stdout.String(), "  data.bin\n") {
					b.Fatal(res, err, stdout.String(), stderr.String())
				}
			}
		})
	}
}

// BenchmarkSha256HostFile100MB hashes 100 MiB mounted straight from the
// host directory (wasi.HostDir).
func BenchmarkSha256HostFile100MB(b *testing.B) {
	benchSha256(b, wasi.HostDir(benchInputs(b)))
}

// BenchmarkSha256FSMount100MB hashes the same bytes through the fs.FS
// interface, as an IPFS-backed fs.FS is mounted.
func BenchmarkSha256FSMount100MB(b *testing.B) {
	benchSha256(b, os.DirFS(benchInputs(b)))
}

// BenchmarkSha256Bare100MB hashes the same file with the same module on
// wazero's default configuration, with none of the sandbox: no
// instrumentation, no CloseOnContextDone, wazero's own directory mount. It
// is the speed the sandbox aims for.
func BenchmarkSha256Bare100MB(b *testing.B) {
	dir := benchInputs(b)
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	bin, err := os.ReadFile(guests["sha256"])
	if err != nil {
		b.Fatal(err)
	}
	mod, err := rt.CompileModule(ctx, bin)
	if err != nil {
		b.Fatal(err)
	}
	want := nativeSum(b) + "  data.bin\n"
	var stdout bytes.Buffer
	cfg := wazero.NewModuleConfig().WithName("").WithStdout(&stdout).
		WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(dir, "/inputs"))
	b.SetBytes(benchFileSize)
	for b.Loop() {
		stdout.Reset()
		inst, err := rt.InstantiateModule(ctx, mod, cfg)
		var exit *sys.ExitError
		if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 0) {
			b.Fatal(err)
		}
		if inst != nil {
			inst.Close(ctx)
		}
		if stdout.String() != want {
			b.Fatalf("guest printed %q, want %q", stdout.String(), want)
		}
	}
}

func nativeSum(b *testing.B) string {
	data, err := os.ReadFile(filepath.Join(benchInputs(b), "data.bin"))
	if err != nil {
		b.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

// BenchmarkSha256Native100MB is the host's own speed on the same file, for
// comparison.
func BenchmarkSha256Native100MB(b *testing.B) {
	path := filepath.Join(benchInputs(b), "data.bin")
	buf := make([]byte, 1<<20)
	b.SetBytes(benchFileSize)
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
