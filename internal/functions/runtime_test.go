package functions

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// fileHost is a Host whose modules are files, named by their path, and whose
// functions take no inputs.
type fileHost struct {
	mu    sync.Mutex
	reads int
}

func (h *fileHost) ReadModule(_ context.Context, module cidtext.CID) ([]byte, error) {
	h.mu.Lock()
	h.reads++
	h.mu.Unlock()
	modulesMu.Lock()
	path, ok := modulePaths[module]
	modulesMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("module %s: %w", module, os.ErrNotExist)
	}
	return os.ReadFile(path)
}

var (
	modulesMu   sync.Mutex
	modulePaths = map[cidtext.CID]string{}
)

// moduleCID names the module file at path for fileHost (a CID of the path, not of
// the bytes: the tests need a name, not a proof).
func moduleCID(path string) cidtext.CID {
	sum := sha256.Sum256([]byte(path))
	c := cidtext.V1(0x55, sum[:])
	modulesMu.Lock()
	modulePaths[c] = path
	modulesMu.Unlock()
	return c
}

func (h *fileHost) Mounts(context.Context, []job.Input) ([]wasi.Mount, error) { return nil, nil }

// sharedCache is a compile cache directory the tests share, so that each compiles a
// guest once.
var sharedCache string

var (
	guestOnce sync.Once
	guestDir  string
	guestErr  error
)

// goGuest builds the example named name (examples/<name>) for wasip1, once per
// process, and returns the path of its module.
func goGuest(tb testing.TB, name string) string {
	tb.Helper()
	guestOnce.Do(func() { guestDir, guestErr = os.MkdirTemp("", "functions-guests-") })
	if guestErr != nil {
		tb.Fatal(guestErr)
	}
	out := filepath.Join(guestDir, name+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "../../examples/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building %s: %v\n%s", name, err, b)
	}
	return out
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "functions-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

// newTestRuntime is a Runtime over a sandbox of its own, with a disk cache in dir
// ("" for none).
func newTestRuntime(tb testing.TB, cfg Config, dir string) (*Runtime, *fileHost) {
	tb.Helper()
	ctx := context.Background()
	sb, err := sandbox.New(ctx, sandbox.Options{CacheDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	h := &fileHost{}
	rt := NewRuntime(cfg, map[job.Engine]Engine{job.EngineWasm: sb}, h)
	tb.Cleanup(func() {
		rt.Close()
		sb.Close(ctx)
	})
	return rt, h
}

func testFunction(module string, mode job.FunctionMode) *job.Function {
	f := &job.Function{Name: "hello", Module: moduleCID(module), Mode: mode, Version: 1}
	f.Normalize()
	return f
}

func helloRequest(i int) *Request {
	return &Request{Method: "GET", PathInfo: "/", Query: fmt.Sprintf("name=r%d", i), Host: "127.0.0.1:8080",
		RemoteAddr: "127.0.0.1:5000", Name: "hello", RequestID: fmt.Sprintf("req-%d", i)}
}

func checkHello(tb testing.TB, resp *Response, err error, i int) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	if want := fmt.Sprintf("Hello, r%d!\n", i); resp.Status != 200 || string(resp.Body) != want {
		tb.Fatalf("got %d %q, want 200 %q", resp.Status, resp.Body, want)
	}
}

// benchCache is the compile cache of the benchmarks: $FUNCTIONS_BENCH_CACHE, which
// keeps the compiled hello across runs, or a new directory.
func benchCache(b *testing.B) string {
	if d := os.Getenv("FUNCTIONS_BENCH_CACHE"); d != "" {
		return d
	}
	return b.TempDir()
}

// benchInvoke runs the hello function in mode from parallel goroutines.
func benchInvoke(b *testing.B, mode job.FunctionMode) {
	rt, _ := newTestRuntime(b, Config{}, benchCache(b))
	f := testFunction(goGuest(b, "fnhello"), mode)
	ctx := context.Background()
	resp, err := rt.Invoke(ctx, f, helloRequest(0))
	checkHello(b, resp, err, 0)
	runParallel(b, func(i int) {
		resp, err := rt.Invoke(ctx, f, helloRequest(i))
		checkHello(b, resp, err, i)
	})
}

// runParallel runs op from 8 goroutines per core, as the trigger's concurrent
// connections, and reports the process's CPU time per op besides the wall time: on a
// shared machine the CPU time is the steadier figure.
func runParallel(b *testing.B, op func(i int)) {
	b.SetParallelism(8)
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			op(i)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFreshHello is the Go SDK hello in fresh mode: a new instance per request
// of the module compiled once.
func BenchmarkFreshHello(b *testing.B) { benchInvoke(b, job.ModeFresh) }

// BenchmarkPooledHello is the same function in pooled mode.
func BenchmarkPooledHello(b *testing.B) { benchInvoke(b, job.ModePooled) }

// waitCompiled waits until rt's sandbox holds n compiled modules in memory.
func waitCompiled(t *testing.T, rt *Runtime, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if got, _ := rt.engines[job.EngineWasm].(*sandbox.Sandbox).CacheStats(); got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox never held %d compiled modules", n)
		}
	}
}

// TestWarmCompilesAhead: a function warmed at deploy (or at a node's start) has its
// module loaded and compiled before its first request, which then loads nothing.
func TestWarmCompilesAhead(t *testing.T) {
	rt, h := newTestRuntime(t, Config{}, sharedCache)
	f := testFunction(goGuest(t, "fnhello"), job.ModeFresh)
	rt.Warm(f)
	rt.Warm(f) // twice: compiled once
	waitCompiled(t, rt, 1)
	resp, err := rt.Invoke(context.Background(), f, helloRequest(1))
	checkHello(t, resp, err, 1)
	if h.readCount() != 1 {
		t.Errorf("the module was read %d times, want once (by the warm-up)", h.readCount())
	}
	// A deleted function, and a closed runtime, warm nothing.
	rt.Warm(&job.Function{Name: "gone", Module: moduleCID("/nonexistent.wasm"), Deleted: true})
	rt.Close()
	rt.Warm(&job.Function{Name: "late", Module: moduleCID("/nonexistent.wasm")})
	if h.readCount() != 1 {
		t.Errorf("the module was read %d times after the warm-up, want none", h.readCount()-1)
	}
}

// TestWarmFailureIsLeftToTheRequest: a module that cannot be loaded is reported by
// its request, as without the warm-up.
func TestWarmFailureIsLeftToTheRequest(t *testing.T) {
	rt, h := newTestRuntime(t, Config{}, "")
	f := testFunction(filepath.Join(t.TempDir(), "missing.wasm"), job.ModeFresh)
	rt.Warm(f)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		n := h.reads
		h.mu.Unlock()
		rt.mu.Lock()
		idle := !rt.warming
		rt.mu.Unlock()
		if n == 1 && idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the warm-up never tried the module")
		}
	}
	_, err := rt.Invoke(context.Background(), f, helloRequest(1))
	var fe *Error
	if !errors.As(err, &fe) || fe.Status != 502 || !strings.Contains(fe.Reason, "no such file") {
		t.Fatalf("error %v, want a 502 saying the module is missing", err)
	}
}

func (h *fileHost) readCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reads
}

// cGuest builds examples/c/<name>.c with scripts/build-c-example.sh (clang and
// wasi-libc); outside CI, a machine without them skips the test.
func cGuest(tb testing.TB, name string) string {
	tb.Helper()
	goGuest(tb, "fnhello") // makes guestDir
	out := filepath.Join(guestDir, name+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	b, err := exec.Command("bash", "../../scripts/build-c-example.sh", "../../examples/c/"+name+".c", out).CombinedOutput()
	if err != nil {
		tb.Fatalf("building %s: %v\n%s", name, err, b)
	}
	if _, err := os.Stat(out); err != nil {
		tb.Skipf("%s", b) // the script said what to install
	}
	return out
}

// TestCGuestCGI runs the C example, a CGI guest without the SDK, fresh.
func TestCGuestCGI(t *testing.T) {
	rt, _ := newTestRuntime(t, Config{}, sharedCache)
	f := testFunction(cGuest(t, "fncgi"), job.ModeFresh)
	for i, q := range map[int]string{1: "name=r1", 2: "x=1&name=r2&y=2"} {
		req := helloRequest(i)
		req.Query = q
		resp, err := rt.Invoke(context.Background(), f, req)
		checkHello(t, resp, err, i)
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
	}
}

// BenchmarkFreshCGI is the C CGI guest in fresh mode.
func BenchmarkFreshCGI(b *testing.B) {
	rt, _ := newTestRuntime(b, Config{}, benchCache(b))
	f := testFunction(cGuest(b, "fncgi"), job.ModeFresh)
	ctx := context.Background()
	resp, err := rt.Invoke(ctx, f, helloRequest(0))
	checkHello(b, resp, err, 0)
	runParallel(b, func(i int) {
		resp, err := rt.Invoke(ctx, f, helloRequest(i))
		checkHello(b, resp, err, i)
	})
}

// BenchmarkRestartLoad is what a restarted node does for a function's first request:
// a new sandbox on the disk cache loads, instruments and compiles hello, which
// finds its machine code in the cache.
func BenchmarkRestartLoad(b *testing.B) {
	cache := benchCache(b)
	module := goGuest(b, "fnhello")
	h := &fileHost{}
	ctx := context.Background()
	for b.Loop() {
		sb, err := sandbox.New(ctx, sandbox.Options{CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		if err := sb.Precompile(ctx, module, func(ctx context.Context) ([]byte, error) { return h.ReadModule(ctx, moduleCID(module)) }); err != nil {
			b.Fatal(err)
		}
		sb.Close(ctx)
	}
}
