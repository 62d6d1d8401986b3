package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// Hand-assembled guests that never end, each with a memory (needed by the
// instrumentation) and an exported _start.
var (
	// _start: loop br 0 end.
	wasmSpin = wasmModule(
		sec(secType, vec(typeVoid)),
		sec(secFunction, vec([]byte{0})),
		memory1,
		sec(secExport, vec(export("_start", 0, 0))),
		sec(secCode, vec(body([]byte{0}, []byte{0x03, 0x40, 0x0C, 0x00, 0x0B, 0x0B}))),
	)
	// The start function spins; _start is empty.
	wasmStartSpins = wasmModule(
		sec(secType, vec(typeVoid)),
		sec(secFunction, vec([]byte{0}, []byte{0})),
		memory1,
		sec(secExport, vec(export("_start", 0, 1))),
		sec(secStart, appendU32(nil, 0)),
		sec(secCode, vec(
			body([]byte{0}, []byte{0x03, 0x40, 0x0C, 0x00, 0x0B, 0x0B}),
			body([]byte{0}, []byte{0x0B}),
		)),
	)
	// _start computes f(60), f(n) = f(n-1) + f(n-1), f(0) = 1: 2^60
	// calls, no loop.
	wasmRecursion = wasmModule(
		sec(secType, vec(typeVoid, typeI32I32)),
		sec(secFunction, vec([]byte{0}, []byte{1})),
		memory1,
		sec(secExport, vec(export("_start", 0, 0))),
		sec(secCode, vec(
			body([]byte{0}, []byte{0x41, 60, 0x10, 0x01, 0x1A, 0x0B}),
			body([]byte{0}, []byte{
				0x20, 0x00, 0x45, 0x04, 0x7F, // if (result i32) n == 0
				0x41, 0x01,
				0x05,
				0x20, 0x00, 0x41, 0x01, 0x6B, 0x10, 0x01, // f(n-1)
				0x20, 0x00, 0x41, 0x01, 0x6B, 0x10, 0x01, // f(n-1)
				0x6A,
				0x0B, 0x0B,
			}),
		)),
	)
	// The start function traps.
	wasmStartTraps = wasmModule(
		sec(secType, vec(typeVoid)),
		sec(secFunction, vec([]byte{0}, []byte{0})),
		memory1,
		sec(secExport, vec(export("_start", 0, 1))),
		sec(secStart, appendU32(nil, 0)),
		sec(secCode, vec(body([]byte{0}, []byte{0x00, 0x0B}), body([]byte{0}, []byte{0x0B}))),
	)
)

// modes runs a test on the instrumented sandbox and on its fallback.
var modes = []struct {
	name  string
	setup func(*Sandbox)
}{
	{"instrumented", func(*Sandbox) {}},
	{"fallback", withoutInstrumentation},
}

func TestInterruptHandMade(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newSandbox(t, Options{})
			m.setup(s)
			for _, tt := range []struct {
				name string
				wasm []byte
				// wazero's CloseOnContextDone checks only at loop
				// headers: a guest recursing without loops cannot be
				// stopped on the fallback path.
				onlyInstrumented bool
			}{
				{"spin", wasmSpin, false},
				{"start function spins", wasmStartSpins, false},
				{"recursion without loops", wasmRecursion, true},
			} {
				if tt.onlyInstrumented && m.name != "instrumented" {
					continue
				}
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					task := bytesTask(tt.name, tt.wasm)
					task.Timeout = time.Second
					start := time.Now()
					res := run(t, s, task)
					if res != (Result{ExitCode: ExitCodeAbnormal, Stop: StopTimeout, Reason: ReasonTimeout}) {
						t.Errorf("Run() = %+v", res)
					}
					// The reason says the timeout stopped it; this only tells a stopped
					// guest from one left running (no timing assertions: a loaded
					// 2-core machine took 1.8 s to stop a 1 s guest).
					if elapsed := time.Since(start); elapsed > task.Timeout+hangAfter {
						t.Errorf("Run() returned after %v: the timeout did not stop the guest", elapsed)
					}
					checkPath(t, s, tt.name, m.name == "instrumented")
				})
			}
		})
	}
}

// checkPath checks which way the sandbox compiled the module of key.
func checkPath(t *testing.T, s *Sandbox, key string, instrumented bool) {
	t.Helper()
	s.mu.Lock()
	c := s.modules[key]
	s.mu.Unlock()
	if c == nil {
		t.Fatalf("module %q not cached", key)
	}
	<-c.done
	if c.instrumented != instrumented || (c.rt == s.rt) != instrumented || (c.rt == s.checkedRT) == instrumented {
		t.Errorf("module %q: instrumented %v, fast runtime %v; want instrumented %v", key, c.instrumented, c.rt == s.rt, instrumented)
	}
}

func TestStartFunctionTraps(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newSandbox(t, Options{})
			m.setup(s)
			if _, err := s.Run(context.Background(), bytesTask("trap", wasmStartTraps)); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "unreachable") {
				t.Errorf("Run() = %v, want ErrInvalidModule for the trap", err)
			}
		})
	}
}

// TestReservedEntryPoint: the start function the instrumentation exports
// is not an entry point.
func TestReservedEntryPoint(t *testing.T) {
	s := newSandbox(t, Options{})
	task := bytesTask("startspins", wasmStartSpins)
	task.EntryPoint = startExport
	if _, err := s.Run(context.Background(), task); !errors.Is(err, ErrInvalidModule) {
		t.Errorf("Run() = %v, want ErrInvalidModule", err)
	}
}

// TestGCWhileSpinning: compiled code cannot be preempted, so a guest that
// never exits to Go would block every stop-the-world of the garbage
// collector, and the whole process with it. The instrumented guest yields
// every yieldEvery checks. (Were it not to, runtime.GC would hang and the
// test time out.)
func TestGCWhileSpinning(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newSandbox(t, Options{})
			m.setup(s)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			task, _, _ := guestTask(t, "spin", "spin")
			started := newSignalWriter()
			task.WASI.Stdout = started
			done := make(chan Result, 1)
			go func() {
				res, _ := s.Run(ctx, task)
				done <- res
			}()
			<-started.ready
			for range 3 {
				runtime.GC()
			}
			cancel()
			if res := <-done; res.Reason != ReasonCancelled {
				t.Errorf("Run() = %+v", res)
			}
			checkPath(t, s, "spin", m.name == "instrumented")
		})
	}
}

// TestSameOutputBothWays runs the guests and examples instrumented and on
// the fallback path: same Result, stdout, stderr and /outputs.
func TestSameOutputBothWays(t *testing.T) {
	in := t.TempDir()
	for name, data := range map[string]string{"a.txt": "one two three\nfour\n", "b/c.txt": "five six\n"} {
		p := filepath.Join(in, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type outcome struct {
		res            Result
		stdout, stderr string
		outputs        map[string]string
	}
	for _, tt := range []struct {
		guest   string
		args    []string
		mem     uint64
		outputs bool
	}{
		{guest: "hello"},
		{guest: "sha256", outputs: true},
		{guest: "wordcount", outputs: true},
		{guest: "determinism", args: []string{"x"}, outputs: true},
		{guest: "exit", args: []string{"3"}},
		{guest: "exit", args: []string{"panic"}},
		{guest: "flood", args: []string{"stderr", "4"}},
		{guest: "memhog", mem: 64 << 20},
	} {
		t.Run(strings.Join(append([]string{tt.guest}, tt.args...), " "), func(t *testing.T) {
			var got [2]outcome
			for i, m := range modes {
				s := newSandbox(t, Options{})
				m.setup(s)
				task, stdout, stderr := guestTask(t, tt.guest, tt.args...)
				task.WASI.Mounts = []wasi.Mount{{FS: os.DirFS(in), Target: "/inputs"}}
				task.MemoryLimit = tt.mem
				if tt.outputs {
					task.WASI.OutputsDir = t.TempDir()
				}
				got[i] = outcome{res: run(t, s, task), stdout: stdout.String(), stderr: stderr.String()}
				if tt.outputs {
					got[i].outputs = readTree(t, task.WASI.OutputsDir)
				}
				checkPath(t, s, tt.guest, m.name == "instrumented")
			}
			a, b := got[0], got[1]
			if a.res != b.res || a.stdout != b.stdout || a.stderr != b.stderr || !mapsEqual(a.outputs, b.outputs) {
				t.Errorf("instrumented: %+v\nfallback: %+v", a, b)
			}
			if a.stdout == "" && a.stderr == "" && untimed(a.res) == (Result{}) {
				t.Error("the guest did nothing visible")
			}
		})
	}
}
