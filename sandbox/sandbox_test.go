package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

func run(t *testing.T, s *Sandbox, task Guest) Result {
	t.Helper()
	res, err := s.Run(context.Background(), task)
	if err != nil {
		t.Fatalf("Run() error: %v", err)
	}
	if res.Load < 0 || res.Run < 0 {
		t.Errorf("Run() timings: load %s, run %s", res.Load, res.Run)
	}
	return untimed(res)
}

// hangAfter is how long past its timeout a run may take before a test calls it a
// hang. Tests assert that the timeout's reason ends a run, not how fast: with other
// test processes on the machine a 2 s timeout ended a spinning guest after 4.8 s.
const hangAfter = 20 * time.Second

// untimed is r without its timings, which are not deterministic: tests compare the rest.
func untimed(r Result) Result {
	r.Load, r.Run = 0, 0
	return r
}

func TestHello(t *testing.T) {
	s := newSandbox(t, Options{})
	task, stdout, stderr := guestTask(t, "hello")
	res := run(t, s, task)
	if res != (Result{}) || stdout.String() != "Hello, world!\n" || stderr.Len() != 0 {
		t.Errorf("Run() = %+v, stdout %q, stderr %q", res, stdout, stderr)
	}
}

// readTree returns every file and directory under dir with its contents.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			tree[rel+"/"] = ""
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			tree[rel] = "symlink"
			return nil
		}
		b, err := os.ReadFile(p)
		tree[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestDeterministic(t *testing.T) {
	in := t.TempDir()
	for _, name := range []string{"z.txt", "a.txt", "m/n.txt", "b.txt"} {
		if err := os.MkdirAll(filepath.Join(in, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type outcome struct {
		stdout  string
		outputs map[string]string
	}
	runOnce := func(seed uint64, inputs fs.FS) outcome {
		s := newSandbox(t, Options{}) // a fresh sandbox each time, like another node
		task, stdout, stderr := guestTask(t, "determinism", "x", "y")
		task.WASI.Env = map[string]string{"ZED": "1", "ALPHA": "2", "MID": "3"}
		task.WASI.Mounts = []wasi.Mount{{FS: inputs, Target: "/inputs"}}
		task.WASI.OutputsDir = t.TempDir()
		task.WASI.Seed = seed
		if res := run(t, s, task); res != (Result{}) {
			t.Fatalf("Run() = %+v, stderr:\n%s", res, stderr)
		}
		return outcome{stdout.String(), readTree(t, task.WASI.OutputsDir)}
	}

	first := runOnce(1, os.DirFS(in))
	for name, inputs := range map[string]fs.FS{"DirFS": os.DirFS(in), "HostDir": wasi.HostDir(in)} {
		again := runOnce(1, inputs)
		if again.stdout != first.stdout {
			t.Errorf("%s: stdout differs between runs:\n%s\nvs\n%s", name, first.stdout, again.stdout)
		}
		if !mapsEqual(again.outputs, first.outputs) {
			t.Errorf("%s: /outputs differs between runs:\n%q\nvs\n%q", name, first.outputs, again.outputs)
		}
	}
	for _, want := range []string{
		"now: 2000-01-01T00:00:00",
		"/inputs/m drwx------ 0 2000-01-01T00:00:00Z dev=1",
		`env: ["ALPHA=2" "MID=3" "ZED=1"]`,
		`args: ["main.wasm" "x" "y"]`,
		`readdir /inputs: ["a.txt" "b.txt" "m" "z.txt"]`,
		`readdir /outputs: ["alpha" "bravo" "charlie" "delta" "mike" "sub" "xray" "yankee" "zeta"]`,
		"/outputs/zeta -rw------- 4 2000-01-01T00:00:00Z dev=2",
	} {
		if !strings.Contains(first.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, first.stdout)
		}
	}
	if !strings.Contains(first.stdout, "slept: 20.") {
		t.Errorf("time.Sleep(20ms) did not advance the virtual clock by 20ms:\n%s", first.stdout)
	}
	if first.outputs["report.txt"] != first.stdout {
		t.Errorf("report.txt differs from stdout")
	}
	other := runOnce(2, os.DirFS(in))
	if other.stdout == first.stdout {
		t.Error("a different Seed gave the same random numbers")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestTimeout(t *testing.T) {
	s := newSandbox(t, Options{})
	for _, mode := range []string{"spin", "sleep"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			task, stdout, _ := guestTask(t, "spin", mode)
			task.Timeout = 2 * time.Second
			start := time.Now()
			res := run(t, s, task)
			elapsed := time.Since(start)
			if res.Reason != ReasonTimeout || res.Stop != StopTimeout || res.ExitCode != ExitCodeAbnormal || stdout.String() != "started\n" {
				t.Errorf("Run() = %+v, stdout %q", res, stdout)
			}
			if elapsed > task.Timeout+hangAfter {
				t.Errorf("Run() returned after %v: the timeout did not stop the guest", elapsed)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	s := newSandbox(t, Options{})
	for _, mode := range []string{"spin", "sleep"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			task, _, _ := guestTask(t, "spin", mode)
			started := newSignalWriter()
			task.WASI.Stdout = started
			go func() { <-started.ready; cancel() }()
			res, err := s.Run(ctx, task)
			if err != nil || res.Reason != ReasonCancelled || res.Stop != StopCancelled || res.ExitCode != ExitCodeAbnormal {
				t.Errorf("Run() = %+v, %v", res, err)
			}
		})
	}
}

func TestRunsProceedWhileOneSpins(t *testing.T) {
	s := newSandbox(t, Options{})
	spin, _, _ := guestTask(t, "spin", "spin")
	spin.Timeout = 5 * time.Second
	started := newSignalWriter()
	spin.WASI.Stdout = started
	done := make(chan Result, 1)
	go func() {
		res, _ := s.Run(context.Background(), spin)
		done <- res
	}()
	<-started.ready
	for range 3 {
		hello, stdout, _ := guestTask(t, "hello")
		if res := run(t, s, hello); res.ExitCode != 0 || stdout.String() != "Hello, world!\n" {
			t.Fatalf("hello: %+v %q", res, stdout)
		}
	}
	select {
	case res := <-done:
		t.Fatalf("the spinning guest ended early: %+v", res)
	default:
	}
	if err := s.Close(context.Background()); err != nil { // stops the spinner
		t.Fatal(err)
	}
	if res := <-done; res.Reason != "cancelled: sandbox closed" {
		t.Errorf("spinner after Close: %+v", res)
	}
	if _, err := s.Run(context.Background(), spin); !errors.Is(err, ErrClosed) {
		t.Errorf("Run() after Close = %v, want ErrClosed", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	s := newSandbox(t, Options{})
	task, stdout, _ := guestTask(t, "memhog")
	task.MemoryLimit = 64 << 20
	res := run(t, s, task)
	if res.Reason != "memory limit of 64 MiB exceeded" || res.Stop != StopMemory || res.ExitCode == 0 {
		t.Errorf("Run() = %+v", res)
	}
	if !strings.Contains(stdout.String(), "32 MiB") {
		t.Errorf("the guest did not get to allocate 32 MiB: %q", stdout)
	}

	// A module whose initial memory exceeds the limit does not start.
	hello, stdout, _ := guestTask(t, "hello")
	hello.MemoryLimit = 64 << 10
	if res := run(t, s, hello); !strings.HasPrefix(res.Reason, "module needs ") || !strings.HasSuffix(res.Reason, " of memory to start; the limit is 64 KiB") || stdout.Len() != 0 {
		t.Errorf("Run() = %+v, stdout %q", res, stdout)
	}
}

func TestOutputLimit(t *testing.T) {
	s := newSandbox(t, Options{})
	t.Run("forever", func(t *testing.T) {
		task, stdout, _ := guestTask(t, "flood", "stdout")
		task.OutputLimit = 1 << 20
		task.Timeout = time.Second
		res := run(t, s, task)
		if res.Reason != ReasonTimeout || !res.StdoutTruncated || res.StderrTruncated || stdout.Len() != 1<<20 {
			t.Errorf("Run() = %+v, %d bytes of stdout", res, stdout.Len())
		}
	})
	t.Run("stderr", func(t *testing.T) {
		task, stdout, stderr := guestTask(t, "flood", "stderr", "2048")
		task.OutputLimit = 1 << 20
		res := run(t, s, task)
		if res != (Result{StderrTruncated: true}) || stderr.Len() != 1<<20 || stdout.Len() != 0 {
			t.Errorf("Run() = %+v, %d bytes of stderr", res, stderr.Len())
		}
	})
	t.Run("under the cap", func(t *testing.T) {
		task, stdout, _ := guestTask(t, "flood", "stdout", "1024")
		task.OutputLimit = 1 << 20
		if res := run(t, s, task); res != (Result{}) || stdout.Len() != 1<<20 {
			t.Errorf("Run() = %+v, %d bytes of stdout", res, stdout.Len())
		}
	})
}

func TestConfinement(t *testing.T) {
	s := newSandbox(t, Options{})
	for _, kind := range []string{"DirFS", "HostDir"} {
		t.Run(kind, func(t *testing.T) {
			root := t.TempDir()
			canary := filepath.Join(root, "canary")
			in, out := filepath.Join(root, "in"), filepath.Join(root, "out")
			for _, d := range []string{in, out} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for p, data := range map[string]string{canary: "secret", filepath.Join(in, "a.txt"): "input"} {
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			canaryInfo, _ := os.Stat(canary)
			inputs := os.DirFS(in)
			if kind == "HostDir" {
				inputs = wasi.HostDir(in)
			}
			task, stdout, stderr := guestTask(t, "escape", canary)
			task.WASI.Mounts = []wasi.Mount{{FS: inputs, Target: "/inputs"}}
			task.WASI.OutputsDir = out
			res := run(t, s, task)
			if res != (Result{}) || strings.Contains(stdout.String(), "ALLOWED") || strings.Contains(stdout.String(), "secret") {
				t.Errorf("Run() = %+v, stdout:\n%s\nstderr:\n%s", res, stdout, stderr)
			}
			if b, _ := os.ReadFile(canary); string(b) != "secret" {
				t.Errorf("canary changed: %q", b)
			}
			if info, _ := os.Stat(canary); !info.ModTime().Equal(canaryInfo.ModTime()) {
				t.Error("canary touched")
			}
			if got := readTree(t, root); !mapsEqual(got, map[string]string{
				"./": "", "canary": "secret", "in/": "", "in/a.txt": "input", "out/": "", "out/ok.txt": "ok",
			}) {
				t.Errorf("host files after the run: %q", got)
			}
		})
	}
}

func TestInvalidConfig(t *testing.T) {
	s := newSandbox(t, Options{})
	task, _, _ := guestTask(t, "hello")
	task.WASI.Mounts = []wasi.Mount{{FS: os.DirFS(t.TempDir()), Target: "/../etc"}}
	if _, err := s.Run(context.Background(), task); !errors.Is(err, wasi.ErrInvalidConfig) {
		t.Errorf("Run() = %v, want wasi.ErrInvalidConfig", err)
	}
}

func TestExitCodes(t *testing.T) {
	s := newSandbox(t, Options{})
	for _, tt := range []struct {
		arg  string
		want Result
	}{
		{"0", Result{}},
		{"3", Result{ExitCode: 3}},
		{"panic", Result{ExitCode: 2}}, // Go's runtime exits 2 after printing the panic
	} {
		task, _, stderr := guestTask(t, "exit", tt.arg)
		if res := run(t, s, task); res != tt.want {
			t.Errorf("exit %s: Run() = %+v, want %+v", tt.arg, res, tt.want)
		}
		if tt.arg == "panic" && !strings.Contains(stderr.String(), "panic: boom") {
			t.Errorf("stderr = %q", stderr)
		}
	}
}

// Hand-assembled modules for what Go guests cannot do.
var (
	// _start executes the unreachable instruction.
	wasmUnreachable = wasmModule(
		section(1, []byte{1, 0x60, 0, 0}),                              // type 0: () -> ()
		section(3, []byte{1, 0}),                                       // func 0: type 0
		section(7, append(append([]byte{1}, name("_start")...), 0, 0)), // export func 0
		section(10, []byte{1, 3, 0, 0x00, 0x0b}),                       // unreachable; end
	)
	// run calls proc_exit(7) from the named import module.
	wasmProcExit = func(module string) []byte {
		imp := append(append([]byte{1}, name(module)...), name("proc_exit")...)
		return wasmModule(
			section(1, []byte{2, 0x60, 1, 0x7f, 0, 0x60, 0, 0}),         // (i32)->(), ()->()
			section(2, append(imp, 0, 0)),                               // import func type 0
			section(3, []byte{1, 1}),                                    // func 1: type 1
			section(7, append(append([]byte{1}, name("run")...), 0, 1)), // export func 1
			section(10, []byte{1, 6, 0, 0x41, 7, 0x10, 0, 0x0b}),        // i32.const 7; call 0
		)
	}
)

func wasmModule(sections ...[]byte) []byte {
	return bytes.Join(append([][]byte{{0, 'a', 's', 'm', 1, 0, 0, 0}}, sections...), nil)
}

func section(id byte, payload []byte) []byte {
	return append([]byte{id, byte(len(payload))}, payload...)
}

func name(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func bytesTask(key string, wasm []byte) Guest {
	return Guest{ModuleKey: key, Module: func(context.Context) ([]byte, error) { return wasm, nil }}
}

func TestTrap(t *testing.T) {
	s := newSandbox(t, Options{})
	res := run(t, s, bytesTask("unreachable", wasmUnreachable))
	if res.ExitCode != ExitCodeAbnormal || res.Stop != StopTrap || !strings.HasPrefix(res.Reason, "trap: ") || !strings.Contains(res.Reason, "unreachable") {
		t.Errorf("Run() = %+v", res)
	}
}

func TestEntryPoint(t *testing.T) {
	s := newSandbox(t, Options{})
	task := bytesTask("procexit", wasmProcExit("wasi_snapshot_preview1"))
	task.EntryPoint = "run"
	if res := run(t, s, task); res != (Result{ExitCode: 7}) {
		t.Errorf("Run() = %+v", res)
	}
}

func TestInvalidModule(t *testing.T) {
	s := newSandbox(t, Options{})
	for name, task := range map[string]Guest{
		"not wasm":       bytesTask("garbage", []byte("#!/bin/sh\necho hi\n")),
		"foreign import": bytesTask("env", wasmProcExit("env")),
		"no _start":      bytesTask("procexit", wasmProcExit("wasi_snapshot_preview1")),
	} {
		if _, err := s.Run(context.Background(), task); !errors.Is(err, ErrInvalidModule) {
			t.Errorf("%s: Run() = %v, want ErrInvalidModule", name, err)
		}
	}
	// A loader failure is the host's, not the module's.
	boom := errors.New("blockstore unreachable")
	task := Guest{ModuleKey: "x", Module: func(context.Context) ([]byte, error) { return nil, boom }}
	if _, err := s.Run(context.Background(), task); !errors.Is(err, boom) || errors.Is(err, ErrInvalidModule) {
		t.Errorf("Run() = %v, want the loader's error", err)
	}
}

func TestCompileCache(t *testing.T) {
	dir := t.TempDir()
	l := &fileLoader{path: guests["hello"]}
	task := Guest{ModuleKey: "hello", Module: l.load}

	s := newSandbox(t, Options{CacheDir: dir})
	for range 2 {
		run(t, s, task)
	}
	if l.count() != 1 {
		t.Errorf("Module() called %d times for two runs, want 1", l.count())
	}
	files := countFiles(t, dir)
	if files == 0 {
		t.Fatal("the compile cache directory is empty")
	}

	// A new Sandbox (as after a restart) loads the bytes again, which wazero
	// needs to find the compiled code, and compiles nothing new.
	s2 := newSandbox(t, Options{CacheDir: dir})
	var stdout bytes.Buffer
	task.WASI.Stdout = &stdout
	run(t, s2, task)
	if stdout.String() != "Hello, world!\n" || l.count() != 2 {
		t.Errorf("stdout %q after %d loads", stdout.String(), l.count())
	}
	if got := countFiles(t, dir); got != files {
		t.Errorf("cache dir holds %d files after the restart, want %d", got, files)
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMaxConcurrent(t *testing.T) {
	s := newSandbox(t, Options{MaxConcurrent: 1})
	sleep, _, _ := guestTask(t, "spin", "sleep")
	started := newSignalWriter()
	sleep.WASI.Stdout = started
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, sleep)
	}()
	<-started.ready
	// The only slot is taken: a second run waits until its context ends.
	waitCtx, cancelWait := context.WithCancel(context.Background())
	hello, _, _ := guestTask(t, "hello")
	hello.WASI.Stdout = writerFunc(func([]byte) { t.Error("hello ran while the slot was taken") })
	cancelWait()
	if _, err := s.Run(waitCtx, hello); !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v, want context.Canceled", err)
	}
	cancel()
	<-done
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// TestMemoryReuseIsZeroed runs a guest that fills 8 pages of memory with
// 0xFF, then one that checks its 8 pages are zero: the second gets the
// first one's memory back from the pool, and must not see its bytes.
func TestMemoryReuseIsZeroed(t *testing.T) {
	imp := append(append([]byte{1}, name("wasi_snapshot_preview1")...), name("proc_exit")...)
	module := func(body []byte) []byte {
		return wasmModule(
			section(1, []byte{2, 0x60, 1, 0x7f, 0, 0x60, 0, 0}), // (i32)->(), ()->()
			section(2, append(imp, 0, 0)),                       // import func type 0
			section(3, []byte{1, 1}),                            // func 1: type 1
			section(5, []byte{1, 0, 4}),                         // memory of 4 pages
			section(7, append(append([]byte{1}, name("_start")...), 0, 1)),
			section(10, append([]byte{1, byte(len(body))}, body...)),
		)
	}
	grow := []byte{0x41, 4, 0x40, 0, 0x1A} // i32.const 4; memory.grow; drop
	dirty := module(slices.Concat([]byte{0}, grow, []byte{
		0x41, 0, 0x41, 0xFF, 0x01, 0x41, 0x80, 0x80, 0x20, 0xFC, 0x0B, 0, // memory.fill(0, 255, 8 pages)
		0x0B,
	}))
	scan := module(slices.Concat([]byte{1, 1, 0x7F}, grow, []byte{ // one i32 local: i
		0x02, 0x40, 0x03, 0x40, // block; loop
		0x20, 0, 0x41, 0x80, 0x80, 0x20, 0x4F, 0x0D, 1, // br_if 1 (i >= 8 pages)
		0x20, 0, 0x2D, 0, 0, 0x04, 0x40, 0x41, 1, 0x10, 0, 0x0B, // if load8_u(i) { proc_exit(1) }
		0x20, 0, 0x41, 1, 0x6A, 0x21, 0, 0x0C, 0, // i++; br 0
		0x0B, 0x0B, // end loop, block
		0x41, 0, 0x10, 0, 0x0B, // proc_exit(0)
	}))
	s := newSandbox(t, Options{})
	for i := 0; i < 3; i++ {
		if res := run(t, s, bytesTask("dirty", dirty)); res != (Result{}) {
			t.Fatalf("dirty: Run() = %+v", res)
		}
		if n := len(s.memories.free); n != 1 {
			t.Fatalf("%d memories kept after a run, want 1", n)
		}
		if res := run(t, s, bytesTask("scan", scan)); res != (Result{}) {
			t.Fatalf("scan after dirty: Run() = %+v: it saw the other guest's bytes", res)
		}
	}
}

// TestCancelledWhileCompiling: a run stopped while its module compiles (cold: no
// cache) ends with the context's error or as cancelled; the module is not called
// invalid, and compiles fine for the next run.
func TestCancelledWhileCompiling(t *testing.T) {
	s := newSandbox(t, Options{CacheDir: t.TempDir()})
	task, _, _ := guestTask(t, "hello")
	ctx, cancel := context.WithCancel(context.Background())
	load := task.Module
	task.Module = func(c context.Context) ([]byte, error) {
		time.AfterFunc(50*time.Millisecond, cancel) // compiling hello takes ~1 s
		return load(c)
	}
	res, err := s.Run(ctx, task)
	if errors.Is(err, ErrInvalidModule) || err == nil && res.Reason != ReasonCancelled {
		t.Fatalf("Run() = %+v, %v; want context.Canceled or %q", res, err, ReasonCancelled)
	}
	task.Module = load
	if res := run(t, s, task); res != (Result{}) {
		t.Fatalf("next Run() = %+v", res)
	}
}
