package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// tinyModule is a WASI module of a few hundred bytes that writes msg to
// stdout: distinct messages make distinct modules.
func tinyModule(msg string) []byte {
	typeFdWrite := []byte{0x60, 4, 0x7F, 0x7F, 0x7F, 0x7F, 1, 0x7F} // (i32 i32 i32 i32) -> i32
	data := append([]byte{16, 0, 0, 0, byte(len(msg)), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, msg...)
	segment := append([]byte{0, 0x41, 0, 0x0B}, appendU32(nil, uint32(len(data)))...) // active, at i32.const 0
	return wasmModule(
		sec(secType, vec(typeFdWrite, typeVoid)),
		sec(secImport, vec(importFunc("wasi_snapshot_preview1", "fd_write", 0))),
		sec(secFunction, vec([]byte{1})),
		memory1,
		sec(secExport, vec(export("_start", 0, 1), export("memory", 2, 0))),
		sec(secCode, vec(body([]byte{0}, // fd_write(1, iovs 0, 1 iovec, nwritten at 8)
			i32const(1), i32const(0), i32const(1), i32const(8), []byte{0x10, 0, 0x1A, 0x0B}))),
		sec(secData, vec(append(segment, data...))),
	)
}

// countingLoader returns fixed bytes and counts its calls.
type countingLoader struct {
	wasm  []byte
	mu    sync.Mutex
	calls int
}

func (l *countingLoader) load(context.Context) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	return l.wasm, nil
}

func (l *countingLoader) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// runTiny runs a tiny module under key and checks what it prints.
func runTiny(t *testing.T, s *Sandbox, key string, l *countingLoader, want string) {
	t.Helper()
	var stdout bytes.Buffer
	task := Guest{ModuleKey: key, Module: l.load}
	task.WASI.Stdout = &stdout
	if res := run(t, s, task); res != (Result{}) || stdout.String() != want {
		t.Fatalf("%s: Run() = %+v, stdout %q, want %q", key, res, stdout.String(), want)
	}
}

func TestTinyModule(t *testing.T) {
	s := newSandbox(t, Options{})
	runTiny(t, s, "tiny", &countingLoader{wasm: tinyModule("hi\n")}, "hi\n")
}

// TestCacheEvictsByBytes: with room for three tiny modules, the cache
// never holds more; it drops the least recently used; an evicted module
// is loaded again and runs as before.
func TestCacheEvictsByBytes(t *testing.T) {
	const room = 3
	ibin, err := instrument(tinyModule("module 00\n"))
	if err != nil {
		t.Fatal(err)
	}
	one := moduleCost(len(ibin)) // every message has the same length
	s := newSandbox(t, Options{MaxCacheBytes: room * one})
	loaders := map[int]*countingLoader{}
	runN := func(i int) {
		t.Helper()
		msg := fmt.Sprintf("module %02d\n", i)
		if loaders[i] == nil {
			loaders[i] = &countingLoader{wasm: tinyModule(msg)}
		}
		runTiny(t, s, "tiny-"+strconv.Itoa(i), loaders[i], msg)
		if n, b := s.CacheStats(); n > room || b > room*one || n == 0 {
			t.Fatalf("after module %d: the cache holds %d modules, %d bytes; want 1 to %d, at most %d bytes", i, n, b, room, room*one)
		}
	}
	for i := range 20 {
		runN(i)
	}
	if n, _ := s.CacheStats(); n != room {
		t.Errorf("the cache holds %d modules, want %d", n, room)
	}
	runN(17) // the oldest of 17, 18, 19: now the most recent
	runN(20) // evicts 18
	for i, want := range map[int]int{0: 1, 17: 1, 18: 1, 19: 1, 20: 1} {
		if got := loaders[i].count(); got != want {
			t.Errorf("module %d loaded %d times, want %d", i, got, want)
		}
	}
	runN(0)  // evicted long ago: loaded again; evicts 19
	runN(18) // evicted before: loaded again; evicts 17
	runN(20) // still cached
	if got := loaders[0].count(); got != 2 {
		t.Errorf("module 0 loaded %d times, want 2 (evicted, then loaded again)", got)
	}
	if got := loaders[18].count(); got != 2 {
		t.Errorf("module 18 loaded %d times, want 2: it was the least recently used", got)
	}
	if got := loaders[20].count(); got != 1 {
		t.Errorf("module 20 loaded %d times, want 1: it stayed cached", got)
	}
}

// TestEvictedModuleStaysWhileItRuns: a module the cache drops while a guest
// runs it keeps working until the guest ends.
func TestEvictedModuleStaysWhileItRuns(t *testing.T) {
	s := newSandbox(t, Options{MaxCacheBytes: 1}) // every module is evicted at once
	hold, stdout, _ := guestTask(t, "hold", "0")
	in := make(gate)
	hold.WASI.Stdin = in
	ready := newSignalWriter()
	hold.WASI.Stdout = ready
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := s.Run(context.Background(), hold)
		done <- outcome{res, err}
	}()
	<-ready.ready
	for i := range 3 {
		msg := fmt.Sprintf("other %d\n", i)
		runTiny(t, s, "other-"+strconv.Itoa(i), &countingLoader{wasm: tinyModule(msg)}, msg)
	}
	if n, _ := s.CacheStats(); n != 0 {
		t.Errorf("the cache holds %d modules, want 0", n)
	}
	in.open()
	if got := <-done; got.err != nil || untimed(got.res) != (Result{}) {
		t.Fatalf("the guest whose module was evicted: Run() = %+v, %v", got.res, got.err)
	}
	if stdout.String() != "" {
		t.Errorf("stdout %q went to the signal writer, not the buffer", stdout)
	}
	// Run again: it compiles anew (from the on-disk cache) and runs.
	again, out, _ := guestTask(t, "hello")
	again.ModuleKey = "hold-then-hello"
	if res := run(t, s, again); res != (Result{}) || out.String() != "Hello, world!\n" {
		t.Fatalf("Run() = %+v, %q", res, out)
	}
}

// vmRSS returns the resident set size of this process, from
// /proc/self/status, or 0 where there is none.
func vmRSS(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("reading VmRSS from %q: %v", line, err)
			}
			return kb << 10
		}
	}
	return 0
}

// settledRSS collects garbage, runs the finalizers that unmap compiled code
// (they run on a goroutine of their own after a cycle) and returns the freed
// heap to the OS before reading VmRSS.
func settledRSS(t *testing.T) uint64 {
	t.Helper()
	for range 3 {
		runtime.GC()
		done := make(chan struct{})
		obj := new([16]byte)
		runtime.SetFinalizer(obj, func(*[16]byte) { close(done) })
		obj = nil
		runtime.GC()
		<-done // finalizers queued before it have run too
	}
	debug.FreeOSMemory()
	return vmRSS(t)
}

// TestCompiledMemoryIsBounded compiles distinct variants of a Go guest
// (hello with a custom section of its own) with room for two in the cache:
// after the first few, the process's memory stops growing.
func TestCompiledMemoryIsBounded(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/self/status (Linux) to read the resident set size")
	}
	hello, err := os.ReadFile(guests["hello"])
	if err != nil {
		t.Fatal(err)
	}
	variant := func(i int) []byte {
		return append(append([]byte{}, hello...), custom("variant", strconv.Itoa(i))...)
	}
	ibin, err := instrument(variant(0))
	if err != nil {
		t.Fatal(err)
	}
	one := moduleCost(len(ibin))
	s := newSandbox(t, Options{CacheDir: t.TempDir(), MaxCacheBytes: 2 * one})
	const warm, total = 3, 8
	var before uint64
	for i := range total {
		if i == warm {
			before = settledRSS(t)
		}
		task, stdout, _ := guestTask(t, "hello")
		task.ModuleKey = "hello-variant-" + strconv.Itoa(i)
		task.Module = (&countingLoader{wasm: variant(i)}).load
		if res := run(t, s, task); res != (Result{}) || stdout.String() != "Hello, world!\n" {
			t.Fatalf("variant %d: Run() = %+v, %q", i, res, stdout)
		}
		if n, b := s.CacheStats(); n > 2 || b > 2*one {
			t.Fatalf("after variant %d the cache holds %d modules, %d bytes; want at most 2, %d bytes", i, n, b, 2*one)
		}
	}
	after := settledRSS(t)
	grew := int64(after) - int64(before)
	t.Logf("RSS %d MiB after %d variants, %d MiB after %d (%+d MiB); estimated cost of one: %d MiB",
		before>>20, warm, after>>20, total, grew>>20, one>>20)
	// Each variant holds ~14 MB (machine code and decoded module): keeping
	// all of them would add 5 × 14 MB here.
	if grew > int64(2*one) {
		t.Errorf("RSS grew by %d MiB over %d more variants with room for 2 in the cache, want under %d MiB",
			grew>>20, total-warm, 2*one>>20)
	}
}

// dirBytes returns the bytes held by the regular files under dir.
func dirBytes(t *testing.T, dir string) (total uint64, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += uint64(info.Size())
			files++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, files
}

// TestDiskCacheIsBounded: the compile cache directory keeps to
// MaxDiskCacheBytes by dropping its oldest files, and a module whose file
// went is compiled again.
func TestDiskCacheIsBounded(t *testing.T) {
	probe := t.TempDir()
	p := newSandbox(t, Options{CacheDir: probe})
	runTiny(t, p, "probe", &countingLoader{wasm: tinyModule("module 00\n")}, "module 00\n")
	one, _ := dirBytes(t, probe)
	if one == 0 {
		t.Fatal("compiling wrote nothing to the cache directory")
	}

	dir := t.TempDir()
	bound := 3*one + one/2
	s := newSandbox(t, Options{CacheDir: dir, MaxDiskCacheBytes: bound})
	for i := range 12 {
		msg := fmt.Sprintf("module %02d\n", i)
		runTiny(t, s, strconv.Itoa(i), &countingLoader{wasm: tinyModule(msg)}, msg)
		if got, files := dirBytes(t, dir); got > bound || files == 0 {
			t.Fatalf("after module %d the cache directory holds %d bytes in %d files, want 1 to %d bytes", i, got, files, bound)
		}
	}
	// After a restart, the first module, whose file went, compiles again.
	s2 := newSandbox(t, Options{CacheDir: dir, MaxDiskCacheBytes: bound})
	runTiny(t, s2, "0", &countingLoader{wasm: tinyModule("module 00\n")}, "module 00\n")
	if got, _ := dirBytes(t, dir); got > bound {
		t.Errorf("the cache directory holds %d bytes after the restart, want at most %d", got, bound)
	}
}

// TestUncachedModulesAreReleased: a module run with no ModuleKey is
// compiled for that run alone and released after it.
func TestUncachedModulesAreReleased(t *testing.T) {
	s := newSandbox(t, Options{})
	for i := range 3 {
		msg := fmt.Sprintf("no key %d\n", i)
		runTiny(t, s, "", &countingLoader{wasm: tinyModule(msg)}, msg)
	}
	if n, b := s.CacheStats(); n != 0 || b != 0 {
		t.Errorf("CacheStats() = %d, %d after runs with no key, want 0, 0", n, b)
	}
}

// TestLoadGoesOnWhenItsCallerGivesUp: the only run waiting for a module
// gives up; the load goes on and the next run finds the module compiled.
func TestLoadGoesOnWhenItsCallerGivesUp(t *testing.T) {
	s := newSandbox(t, Options{})
	l := newBlockingLoader("hello")
	task, _, _ := guestTask(t, "hello")
	task.ModuleKey, task.Module = "given-up", l.load
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, task)
		errc <- err
	}()
	<-l.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run() = %v, want context.Canceled", err)
	}
	close(l.release)
	next, stdout, _ := guestTask(t, "hello")
	next.ModuleKey = "given-up"
	next.Module = func(context.Context) ([]byte, error) { return nil, errors.New("loaded twice") }
	if res := run(t, s, next); res != (Result{}) || stdout.String() != "Hello, world!\n" {
		t.Fatalf("next Run() = %+v, %q", res, stdout)
	}
}

// TestCloseStopsALoad: Close ends a load in progress, whose runs get
// ErrClosed.
func TestCloseStopsALoad(t *testing.T) {
	s, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := newBlockingLoader("hello") // never released
	task, _, _ := guestTask(t, "hello")
	task.Module = l.load
	errc := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), task)
		errc <- err
	}()
	<-l.started
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Run() = %v, want ErrClosed", err)
	}
	if err := s.Precompile(context.Background(), "after-close", l.load); !errors.Is(err, ErrClosed) {
		t.Errorf("Precompile() after Close = %v, want ErrClosed", err)
	}
}

// TestLoadTimeout: a load that takes longer than LoadTimeout fails with
// ErrLoadTimeout, and is not cached.
func TestLoadTimeout(t *testing.T) {
	s := newSandbox(t, Options{LoadTimeout: 1})
	l := newBlockingLoader("hello") // never released
	task, _, _ := guestTask(t, "hello")
	task.Module = l.load
	if _, err := s.Run(context.Background(), task); !errors.Is(err, ErrLoadTimeout) {
		t.Fatalf("Run() = %v, want ErrLoadTimeout", err)
	}
	if n, _ := s.CacheStats(); n != 0 {
		t.Errorf("%d modules cached after a failed load", n)
	}
}
