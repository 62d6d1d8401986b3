//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// guests maps a guest name to its compiled .wasm file: the sandbox's bad
// guests and the examples.
var guests = map[string]string{}

// wazeroCache is a compile cache shared by the wazero sandboxes of the
// tests, so that each compiles a guest once.
var wazeroCache string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	flag.Parse()
	if fuzzing() {
		return m.Run() // the fuzzers need no guests; each fuzz worker runs TestMain
	}
	dir, err := os.MkdirTemp("", "wasmtime-guests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	wazeroCache = filepath.Join(dir, "wazero-cache")
	if err := buildGuests(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// fuzzing reports whether this process runs a fuzzer, as coordinator or worker.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

func buildGuests(outDir string) error {
	srcs := map[string]string{
		"hello":     "../../examples/hello",
		"sha256":    "../../examples/sha256",
		"wordcount": "../../examples/wordcount",
	}
	for _, g := range []string{"escape", "exit", "flood", "hold", "memhog", "outfill", "spin"} {
		srcs[g] = "../testdata/guests/" + g
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for name, src := range srcs {
		out := filepath.Join(outDir, name+".wasm")
		guests[name] = out
		wg.Go(func() {
			cmd := exec.Command("go", "build", "-trimpath", "-o", out, src)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=")
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("building guest %s: %v\n%s", name, err, b))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// runner is what both engines offer.
type runner interface {
	Run(context.Context, sandbox.Guest) (sandbox.Result, error)
	Close(context.Context) error
}

// engines runs f once per engine, as a subtest named for it.
func engines(t *testing.T, f func(t *testing.T, r runner)) {
	for _, name := range []string{"wazero", "wasmtime"} {
		t.Run(name, func(t *testing.T) {
			var (
				r   runner
				err error
			)
			if name == "wazero" {
				r, err = sandbox.New(context.Background(), sandbox.Options{CacheDir: wazeroCache})
			} else {
				r, err = New(context.Background(), Options{})
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := r.Close(context.Background()); err != nil {
					t.Error(err)
				}
			})
			f(t, r)
		})
	}
}

func guest(t *testing.T, name string, args ...string) (sandbox.Guest, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	path, ok := guests[name]
	if !ok {
		t.Fatalf("no guest %q", name)
	}
	var stdout, stderr bytes.Buffer
	g := sandbox.Guest{ModuleKey: name, Module: func(context.Context) ([]byte, error) { return os.ReadFile(path) }}
	g.WASI.Args = args
	g.WASI.Stdout, g.WASI.Stderr = &stdout, &stderr
	return g, &stdout, &stderr
}

func run(t *testing.T, r runner, g sandbox.Guest) sandbox.Result {
	t.Helper()
	res, err := r.Run(context.Background(), g)
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	res.Load, res.Run = 0, 0
	return res
}

// hangAfter is how long past its timeout a run may take before a test calls
// it a hang (the machine is shared; the test asserts the reason, not speed).
const hangAfter = 20 * time.Second

func TestHello(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		g, stdout, stderr := guest(t, "hello")
		if res := run(t, r, g); res != (sandbox.Result{}) || stdout.String() != "Hello, world!\n" || stderr.Len() != 0 {
			t.Errorf("Run() = %+v, stdout %q, stderr %q", res, stdout, stderr)
		}
	})
}

// TestStdin: the guest reads what Stdin holds, to its end.
func TestStdin(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		g, stdout, stderr := guest(t, "hold", "1")
		g.WASI.Stdin = strings.NewReader(strings.Repeat("request body\n", 20000)) // past a pipe's buffer
		if res := run(t, r, g); res != (sandbox.Result{}) || stdout.String() != "ready\ndone\n" {
			t.Errorf("Run() = %+v, stdout %q, stderr %q", res, stdout, stderr)
		}
	})
}

// TestStdinBlockedTimeout: a guest blocked reading a stdin that never ends is
// stopped by its timeout (wasmtime only: wazero's Stdin must not block).
func TestStdinBlockedTimeout(t *testing.T) {
	s, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	g, stdout, _ := guest(t, "hold", "1")
	pr, pw := io.Pipe()
	defer pw.Close()
	g.WASI.Stdin = pr
	g.Timeout = time.Second
	res := run(t, s, g)
	if res.Stop != sandbox.StopTimeout || res.Reason != sandbox.ReasonTimeout || !strings.HasPrefix(stdout.String(), "ready\n") {
		t.Errorf("Run() = %+v, stdout %q; want stopped by its timeout", res, stdout)
	}
}

func TestInputsAndOutputs(t *testing.T) {
	data := []byte(strings.Repeat("the quick brown fox\n", 1000))
	sum := sha256.Sum256(data)
	inputs := fstest.MapFS{"a.txt": {Data: data}, "sub/b.txt": {Data: []byte("jumps over\n")}}
	engines(t, func(t *testing.T, r runner) {
		t.Run("sha256", func(t *testing.T) {
			g, stdout, stderr := guest(t, "sha256")
			out := t.TempDir()
			g.WASI.Mounts = []wasi.Mount{{FS: inputs, Target: "/inputs"}}
			g.WASI.OutputsDir = out
			res := run(t, r, g)
			want := hex.EncodeToString(sum[:]) + "  a.txt\n"
			if res != (sandbox.Result{}) || !strings.HasPrefix(stdout.String(), want) {
				t.Errorf("Run() = %+v, stdout %q, stderr %q", res, stdout, stderr)
			}
			if b, err := os.ReadFile(filepath.Join(out, "SHA256SUMS")); err != nil || string(b) != stdout.String() {
				t.Errorf("outputs/SHA256SUMS = %q, %v", b, err)
			}
		})
		t.Run("wordcount", func(t *testing.T) {
			g, stdout, stderr := guest(t, "wordcount")
			g.WASI.Mounts = []wasi.Mount{{FS: inputs, Target: "/inputs"}}
			g.WASI.OutputsDir = t.TempDir()
			res := run(t, r, g)
			if res != (sandbox.Result{}) || !strings.Contains(stdout.String(), "4002") {
				t.Errorf("Run() = %+v, stdout %q, stderr %q", res, stdout, stderr)
			}
		})
	})
}

func TestExitCodes(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		for _, tt := range []struct {
			arg  string
			want sandbox.Result
		}{
			{"0", sandbox.Result{}},
			{"3", sandbox.Result{ExitCode: 3}},
			{"panic", sandbox.Result{ExitCode: 2}},
		} {
			g, _, stderr := guest(t, "exit", tt.arg)
			if res := run(t, r, g); res != tt.want {
				t.Errorf("exit %s: Run() = %+v, want %+v", tt.arg, res, tt.want)
			}
			if tt.arg == "panic" && !strings.Contains(stderr.String(), "panic: boom") {
				t.Errorf("stderr = %q", stderr)
			}
		}
	})
}

// Hand-assembled modules for what Go guests cannot do.
var (
	// _start executes the unreachable instruction.
	wasmUnreachable = wasmModule(
		section(1, []byte{1, 0x60, 0, 0}),
		section(3, []byte{1, 0}),
		section(7, append(append([]byte{1}, name("_start")...), 0, 0)),
		section(10, []byte{1, 3, 0, 0x00, 0x0b}),
	)
	// A memory whose minimum is 65536 pages, 4 GiB, and an empty _start.
	wasmHugeMemory = wasmModule(
		section(1, []byte{1, 0x60, 0, 0}),
		section(3, []byte{1, 0}),
		section(5, []byte{1, 0, 0x80, 0x80, 0x04}),
		section(7, append(append([]byte{1}, name("_start")...), 0, 0)),
		section(10, []byte{1, 2, 0, 0x0b}),
	)
)

func wasmModule(sections ...[]byte) []byte {
	return bytes.Join(append([][]byte{{0, 'a', 's', 'm', 1, 0, 0, 0}}, sections...), nil)
}

func section(id byte, payload []byte) []byte {
	return append([]byte{id, byte(len(payload))}, payload...)
}

func name(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func bytesGuest(key string, b []byte) sandbox.Guest {
	return sandbox.Guest{ModuleKey: key, Module: func(context.Context) ([]byte, error) { return b, nil }}
}

func TestTrap(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		res := run(t, r, bytesGuest("unreachable", wasmUnreachable))
		if res.ExitCode != sandbox.ExitCodeAbnormal || res.Stop != sandbox.StopTrap || !strings.HasPrefix(res.Reason, "trap: ") || !strings.Contains(res.Reason, "unreachable") {
			t.Errorf("Run() = %+v", res)
		}
	})
}

func TestInvalidModules(t *testing.T) {
	hello, err := os.ReadFile(guests["hello"])
	if err != nil {
		t.Fatal(err)
	}
	engines(t, func(t *testing.T, r runner) {
		for name, b := range map[string][]byte{
			"garbage":   []byte("not wasm at all"),
			"truncated": hello[:len(hello)/2],
		} {
			if _, err := r.Run(context.Background(), bytesGuest(name, b)); !errors.Is(err, sandbox.ErrInvalidModule) {
				t.Errorf("%s: Run() = %v, want ErrInvalidModule", name, err)
			}
		}
		g, _, _ := guest(t, "hello")
		g.EntryPoint = "nope"
		if _, err := r.Run(context.Background(), g); !errors.Is(err, sandbox.ErrInvalidModule) {
			t.Errorf("missing entry point: Run() = %v, want ErrInvalidModule", err)
		}
	})
}

func TestMemory(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		t.Run("bomb", func(t *testing.T) {
			g, stdout, _ := guest(t, "memhog")
			g.MemoryLimit = 64 << 20
			res := run(t, r, g)
			if res.Reason != "memory limit of 64 MiB exceeded" || res.Stop != sandbox.StopMemory || res.ExitCode == 0 {
				t.Errorf("Run() = %+v", res)
			}
			if !strings.Contains(stdout.String(), "32 MiB") {
				t.Errorf("the guest did not get to allocate 32 MiB: %q", stdout)
			}
		})
		t.Run("start", func(t *testing.T) {
			g, stdout, _ := guest(t, "hello")
			g.MemoryLimit = 64 << 10
			if res := run(t, r, g); res.Stop != sandbox.StopMemory || !strings.HasSuffix(res.Reason, " of memory to start; the limit is 64 KiB") || stdout.Len() != 0 {
				t.Errorf("Run() = %+v, stdout %q", res, stdout)
			}
		})
		t.Run("4 GiB minimum", func(t *testing.T) {
			res := run(t, r, bytesGuest("huge", wasmHugeMemory))
			if res.Stop != sandbox.StopMemory || res.Reason != "module needs 4 GiB of memory to start; the limit is 1 GiB" {
				t.Errorf("Run() = %+v", res)
			}
		})
	})
}

func TestTimeoutAndCancel(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		for _, mode := range []string{"spin", "sleep"} {
			t.Run("timeout "+mode, func(t *testing.T) {
				t.Parallel()
				g, stdout, _ := guest(t, "spin", mode)
				g.Timeout = time.Second
				start := time.Now()
				res := run(t, r, g)
				if res.Stop != sandbox.StopTimeout || res.Reason != sandbox.ReasonTimeout || res.ExitCode != sandbox.ExitCodeAbnormal || stdout.String() != "started\n" {
					t.Errorf("Run() = %+v, stdout %q", res, stdout)
				}
				if d := time.Since(start); d > g.Timeout+hangAfter {
					t.Errorf("Run() returned after %v", d)
				}
			})
			t.Run("cancel "+mode, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				g, _, _ := guest(t, "spin", mode)
				started := &signalWriter{ready: make(chan struct{})}
				g.WASI.Stdout = started
				go func() { <-started.ready; cancel() }()
				res, err := r.Run(ctx, g)
				if err != nil || res.Stop != sandbox.StopCancelled || res.Reason != sandbox.ReasonCancelled {
					t.Errorf("Run() = %+v, %v", res, err)
				}
			})
		}
	})
}

type signalWriter struct {
	once  sync.Once
	ready chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ready) })
	return len(p), nil
}

func TestOutputCap(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		t.Run("flood", func(t *testing.T) {
			g, stdout, _ := guest(t, "flood", "stdout")
			g.OutputLimit = 1 << 20
			g.Timeout = time.Second
			res := run(t, r, g)
			if res.Stop != sandbox.StopTimeout || !res.StdoutTruncated || res.StderrTruncated || stdout.Len() != 1<<20 {
				t.Errorf("Run() = %+v, %d bytes of stdout", res, stdout.Len())
			}
		})
		t.Run("stderr", func(t *testing.T) {
			g, stdout, stderr := guest(t, "flood", "stderr", "2048")
			g.OutputLimit = 1 << 20
			if res := run(t, r, g); res != (sandbox.Result{StderrTruncated: true}) || stderr.Len() != 1<<20 || stdout.Len() != 0 {
				t.Errorf("Run() = %+v, %d bytes of stderr", res, stderr.Len())
			}
		})
	})
}

func TestOutputsLimit(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		t.Run("under", func(t *testing.T) {
			g, stdout, stderr := guest(t, "outfill", "write:a:512", "mkdir:d", "write:d/b:256")
			g.WASI.OutputsDir = t.TempDir()
			g.WASI.OutputsLimit = 2 << 20
			if res := run(t, r, g); res != (sandbox.Result{}) || stdout.String() != "ok\n" {
				t.Errorf("Run() = %+v, stdout %q, stderr %q", res, stdout, stderr)
			}
			if info, err := os.Stat(filepath.Join(g.WASI.OutputsDir, "d", "b")); err != nil || info.Size() != 256<<10 {
				t.Errorf("outputs/d/b: %v, %v", info, err)
			}
		})
		t.Run("over", func(t *testing.T) {
			g, _, _ := guest(t, "outfill", "fill:big:1048576") // up to 1 GiB
			g.WASI.OutputsDir = t.TempDir()
			g.WASI.OutputsLimit = 8 << 20
			g.Timeout = time.Minute
			res := run(t, r, g)
			if !res.OutputsLimitHit || !strings.HasPrefix(res.Reason, "outputs limit of 8 MiB exceeded") {
				t.Errorf("Run() = %+v", res)
			}
			info, err := os.Stat(filepath.Join(g.WASI.OutputsDir, "big"))
			if err == nil && info.Size() > 8<<20 {
				t.Errorf("outputs/big holds %d bytes, over the limit", info.Size())
			}
		})
	})
}

// TestWritableMount: a writable (:rw) input is the guest's private copy on both
// engines: it changes it, the input stays as it was, the outputs get none of it,
// and what it adds counts against the outputs limit.
func TestWritableMount(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		input := fstest.MapFS{"big": {Data: bytes.Repeat([]byte("x"), 600<<10), Mode: 0o444}}
		for _, tt := range []struct {
			cmds []string
			hit  bool
		}{
			{[]string{"append:big:64", "write:new:300", "rm:big"}, false},
			{[]string{"fill:huge:1048576"}, true}, // up to 1 GiB
		} {
			g, stdout, stderr := guest(t, "outfill", tt.cmds...)
			g.WASI.Env = map[string]string{"OUTFILL_DIR": "/data"}
			g.WASI.Mounts = []wasi.Mount{{FS: input, Target: "/data", Writable: true}}
			g.WASI.OutputsDir, g.WASI.OutputsLimit = t.TempDir(), 8<<20
			g.Timeout = time.Minute
			res := run(t, r, g)
			if !tt.hit && (res != (sandbox.Result{}) || stdout.String() != "ok\n") {
				t.Errorf("%v: Run() = %+v, stdout %q, stderr %q; want success", tt.cmds, res, stdout, stderr)
			}
			if tt.hit && (!res.OutputsLimitHit || !strings.HasPrefix(res.Reason, "outputs limit of 8 MiB exceeded")) {
				t.Errorf("%v: Run() = %+v, stderr %q; want the outputs limit hit", tt.cmds, res, stderr)
			}
			if entries, _ := os.ReadDir(g.WASI.OutputsDir); len(entries) != 0 {
				t.Errorf("%v: outputs hold %v", tt.cmds, entries)
			}
		}
		if len(input) != 1 || len(input["big"].Data) != 600<<10 {
			t.Error("the input changed")
		}
	})
}

func TestConfinement(t *testing.T) {
	engines(t, func(t *testing.T, r runner) {
		root := t.TempDir()
		canary := filepath.Join(root, "canary")
		out := filepath.Join(root, "out")
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(canary, []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
		g, stdout, stderr := guest(t, "escape", canary)
		g.WASI.Mounts = []wasi.Mount{{FS: fstest.MapFS{"a.txt": {Data: []byte("input")}}, Target: "/inputs"}}
		g.WASI.OutputsDir = out
		res := run(t, r, g)
		if res != (sandbox.Result{}) || strings.Contains(stdout.String(), "ALLOWED") || strings.Contains(stdout.String(), "secret") {
			t.Errorf("Run() = %+v, stdout:\n%s\nstderr:\n%s", res, stdout, stderr)
		}
		if b, _ := os.ReadFile(canary); string(b) != "secret" {
			t.Errorf("canary changed: %q", b)
		}
		entries, _ := os.ReadDir(out)
		if len(entries) != 1 || entries[0].Name() != "ok.txt" {
			t.Errorf("outputs after the run: %v", entries)
		}
	})
}

// compiler is what both engines offer to compile a module ahead of its runs:
// what a node's executors prepare a job with, before its timeout starts.
type compiler interface {
	runner
	Precompile(ctx context.Context, key string, load func(context.Context) ([]byte, error)) error
	Compiled(key string) bool
}

// coldEngines runs f once per engine, on a sandbox with no compile cache on
// disk (every module is compiled) and the load timeout limit.
func coldEngines(t *testing.T, limit time.Duration, f func(t *testing.T, c compiler)) {
	for _, name := range []string{"wazero", "wasmtime"} {
		t.Run(name, func(t *testing.T) {
			var (
				c   compiler
				err error
			)
			if name == "wazero" {
				c, err = sandbox.New(context.Background(), sandbox.Options{LoadTimeout: limit})
			} else {
				c, err = New(context.Background(), Options{LoadTimeout: limit})
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := c.Close(context.Background()); err != nil {
					t.Error(err)
				}
			})
			f(t, c)
		})
	}
}

// TestPrecompile: on both engines, a module compiled ahead is held compiled, and
// its run starts from it.
func TestPrecompile(t *testing.T) {
	coldEngines(t, 0, func(t *testing.T, c compiler) {
		g, stdout, _ := guest(t, "hello")
		if c.Compiled(g.ModuleKey) {
			t.Fatal("Compiled() before any compilation")
		}
		if err := c.Precompile(context.Background(), g.ModuleKey, g.Module); err != nil {
			t.Fatalf("Precompile() = %v", err)
		}
		if !c.Compiled(g.ModuleKey) {
			t.Fatal("Compiled() = false after Precompile")
		}
		g.Module = func(context.Context) ([]byte, error) { return nil, errors.New("loaded again") }
		if res := run(t, c, g); res != (sandbox.Result{}) || stdout.String() != "Hello, world!\n" {
			t.Errorf("Run() = %+v, stdout %q", res, stdout)
		}
		if err := c.Precompile(context.Background(), "bad", func(context.Context) ([]byte, error) { return []byte("not wasm"), nil }); !errors.Is(err, sandbox.ErrInvalidModule) {
			t.Errorf("Precompile(not wasm) = %v, want ErrInvalidModule", err)
		}
	})
}

// TestCompileTimeout: on both engines, compiling a real module (a Go guest of some
// MB) past the load timeout fails with ErrLoadTimeout naming the bound, for
// Precompile and Run alike, and leaves nothing compiled behind: wasmtime, whose
// compiler cannot be stopped, fails its waiters at the bound and drops the code.
func TestCompileTimeout(t *testing.T) {
	coldEngines(t, time.Millisecond, func(t *testing.T, c compiler) {
		g, _, _ := guest(t, "sha256")
		for i := range 2 {
			err := c.Precompile(context.Background(), g.ModuleKey, g.Module)
			if !errors.Is(err, sandbox.ErrLoadTimeout) || !strings.HasSuffix(err.Error(), "timed out after 1ms") {
				t.Errorf("Precompile() #%d = %v, want ErrLoadTimeout after 1ms", i+1, err)
			}
			if c.Compiled(g.ModuleKey) {
				t.Errorf("Compiled() after a compilation past its bound (#%d)", i+1)
			}
		}
		if _, err := c.Run(context.Background(), g); !errors.Is(err, sandbox.ErrLoadTimeout) {
			t.Errorf("Run() = %v, want ErrLoadTimeout", err)
		}
	})
}

// The wasmtime engine's own behaviour.

func TestInputsBound(t *testing.T) {
	s, err := New(context.Background(), Options{MaxInputBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	g, _, _ := guest(t, "sha256")
	g.WASI.Mounts = []wasi.Mount{{FS: fstest.MapFS{"big": {Data: make([]byte, 2<<20)}}, Target: "/inputs"}}
	if _, err := s.Run(context.Background(), g); !errors.Is(err, ErrInputsTooLarge) || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("Run() = %v, want ErrInputsTooLarge naming 1 MiB", err)
	}
}

func TestCorruptCacheFileIsRecompiled(t *testing.T) {
	dir := t.TempDir()
	runHello := func() {
		t.Helper()
		s, err := New(context.Background(), Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(context.Background())
		g, stdout, _ := guest(t, "hello")
		if res := run(t, s, g); res != (sandbox.Result{}) || stdout.String() != "Hello, world!\n" {
			t.Fatalf("Run() = %+v, stdout %q", res, stdout)
		}
	}
	runHello()
	files, _ := filepath.Glob(filepath.Join(dir, "*.cwasm"))
	if len(files) != 1 {
		t.Fatalf("cache files: %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Clone(b)
	b[len(b)/2] ^= 0xff // one byte of the code
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	runHello() // detected, recompiled and written again
	if b, _ := os.ReadFile(files[0]); !bytes.Equal(b, good) {
		t.Error("the corrupted cache file was not replaced by a recompiled one")
	}
	if err := os.WriteFile(files[0], good[:len(good)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	runHello() // truncated
	if b, _ := os.ReadFile(files[0]); !bytes.Equal(b, good) {
		t.Error("the truncated cache file was not replaced")
	}
}

var _ io.Writer = (*signalWriter)(nil)
