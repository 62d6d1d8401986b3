package sandbox

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// guests maps a guest name to its compiled .wasm file. Guests are the
// programs under testdata/guests plus the examples the tests run.
var guests = map[string]string{}

// sharedCache is a compile cache directory holding every guest, so that
// tests do not wait for compilation (slow under -race).
var sharedCache string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse()
	if fuzzing() {
		// The fuzzers need no guests, and each fuzz worker process runs TestMain:
		// building the guests there took the whole fuzz time.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "sandbox-guests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildGuests(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sharedCache = filepath.Join(dir, "cache")
	if err := warmCache(sharedCache); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	before := runtime.NumGoroutine()
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	if code == 0 { // (the fuzzer leaves a signal goroutine; it does not get here)
		if err := checkGoroutines(before); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return code
}

// buildGuests compiles every guest with GOOS=wasip1 GOARCH=wasm, at once.
func buildGuests(outDir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building test guests needs the go command: %w", err)
	}
	srcs := map[string]string{
		"hello":     "../examples/hello",
		"sha256":    "../examples/sha256",
		"wordcount": "../examples/wordcount",
	}
	entries, err := os.ReadDir("testdata/guests")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			srcs[e.Name()] = "./testdata/guests/" + e.Name()
		}
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
			cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, src)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=")
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("building guest %s (%s) failed: %v\n%s", name, src, err, b))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func warmCache(dir string) error {
	ctx := context.Background()
	s, err := New(ctx, Options{CacheDir: dir})
	if err != nil {
		return err
	}
	defer s.Close(ctx)
	for name, path := range guests {
		l := &fileLoader{path: path}
		if err := s.Precompile(ctx, name, l.load); err != nil {
			return fmt.Errorf("compiling guest %s: %w", name, err)
		}
	}
	return nil
}

// checkGoroutines waits for goroutines the tests started to end. Goroutines
// end asynchronously after a run (wazero's context watcher), so it yields
// until the count is back, or reports the stacks after a few seconds.
func checkGoroutines(before int) error {
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("leaked goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf)
		}
		runtime.Gosched()
	}
	return nil
}

// --- helpers shared by the tests and benchmarks ---

// newSandbox returns a Sandbox that is closed when the test ends. Without
// a CacheDir it uses the warm shared one.
func newSandbox(tb testing.TB, opts Options) *Sandbox {
	tb.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = sharedCache
	}
	s, err := New(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// fileLoader loads a guest's bytes and counts the calls.
type fileLoader struct {
	path  string
	mu    sync.Mutex
	calls int
}

func (l *fileLoader) load(context.Context) ([]byte, error) {
	l.mu.Lock()
	l.calls++
	l.mu.Unlock()
	return os.ReadFile(l.path)
}

func (l *fileLoader) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// guestTask returns a Guest running guest name with args, capturing stdout
// and stderr into the returned buffers.
func guestTask(tb testing.TB, name string, args ...string) (Guest, *bytes.Buffer, *bytes.Buffer) {
	tb.Helper()
	path, ok := guests[name]
	if !ok {
		tb.Fatalf("no guest %q", name)
	}
	var stdout, stderr bytes.Buffer
	l := &fileLoader{path: path}
	t := Guest{ModuleKey: name, Module: l.load}
	t.WASI.Args = args
	t.WASI.Stdout, t.WASI.Stderr = &stdout, &stderr
	return t, &stdout, &stderr
}

// signalWriter closes ready the first time it is written to.
type signalWriter struct {
	once  sync.Once
	ready chan struct{}
}

func newSignalWriter() *signalWriter { return &signalWriter{ready: make(chan struct{})} }

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ready) })
	return len(p), nil
}

// gate is a Reader that blocks until it is opened, then reads as empty: a
// stdin that holds a guest reading it in the middle of its run.
type gate chan struct{}

func (g gate) Read([]byte) (int, error) {
	<-g
	return 0, io.EOF
}

func (g gate) open() { close(g) }

// fuzzing reports whether this process runs a fuzzer: the coordinator (-test.fuzz) or
// one of its workers (-test.fuzzworker).
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}
