//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// BenchmarkHelloFresh runs the hello example, a fresh instance each time and
// its compiled code cached, on each engine: the start-speed figure of the
// issue ("wasmtime ≥ 3× faster than wazero").
func BenchmarkHelloFresh(b *testing.B) {
	code, err := os.ReadFile(guests["hello"])
	if err != nil {
		b.Fatal(err)
	}
	g := sandbox.Guest{ModuleKey: "hello", Module: func(context.Context) ([]byte, error) { return code, nil },
		WASI: wasi.Config{Stdout: io.Discard, Stderr: io.Discard}}
	for _, name := range []string{"wazero", "wasmtime"} {
		b.Run(name, func(b *testing.B) {
			var (
				r   runner
				err error
			)
			ctx := context.Background()
			if name == "wazero" {
				r, err = sandbox.New(ctx, sandbox.Options{})
			} else {
				r, err = New(ctx, Options{})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(ctx)
			if _, err := r.Run(ctx, g); err != nil { // compiles
				b.Fatal(err)
			}
			for b.Loop() {
				if res, err := r.Run(ctx, g); err != nil || res.ExitCode != 0 {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// TestMoreRunsThanSlots: runs past Options.MaxInstances wait for a slot of the
// engine's pool and then run, rather than fail to instantiate.
func TestMoreRunsThanSlots(t *testing.T) {
	s, err := New(context.Background(), Options{MaxInstances: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			g, stdout, _ := guestOf(t, "hello")
			res, err := s.Run(context.Background(), g)
			if err == nil && (res.ExitCode != 0 || stdout.String() != "Hello, world!\n") {
				err = fmt.Errorf("Run() = %+v, stdout %q", res, stdout)
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// guestOf is guest for use off the test's goroutine.
func guestOf(t *testing.T, name string) (sandbox.Guest, *bytes.Buffer, *bytes.Buffer) {
	var stdout, stderr bytes.Buffer
	path := guests[name]
	g := sandbox.Guest{ModuleKey: name, Module: func(context.Context) ([]byte, error) { return os.ReadFile(path) }}
	g.WASI.Stdout, g.WASI.Stderr = &stdout, &stderr
	return g, &stdout, &stderr
}
