package sandbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// --- a small assembler for hand-made modules ---

func sec(id byte, parts ...[]byte) []byte {
	return appendSection(nil, id, bytes.Join(parts, nil))
}

func vec(items ...[]byte) []byte {
	return append(appendU32(nil, uint32(len(items))), bytes.Join(items, nil)...)
}

func export(name string, kind byte, idx uint32) []byte {
	return appendU32(append(wasmName(name), kind), idx)
}

func importFunc(module, field string, typ uint32) []byte {
	return appendU32(append(append(wasmName(module), wasmName(field)...), 0x00), typ)
}

func importGlobal(module, field string, valtype byte, mutable bool) []byte {
	m := byte(0)
	if mutable {
		m = 1
	}
	return append(append(wasmName(module), wasmName(field)...), 0x03, valtype, m)
}

// body is a function body: locals (already encoded, with their count) then
// code, which must end with 0x0B.
func body(locals []byte, code ...[]byte) []byte {
	b := append(append([]byte{}, locals...), bytes.Join(code, nil)...)
	return append(appendU32(nil, uint32(len(b))), b...)
}

func custom(name string, data string) []byte {
	return sec(secCustom, wasmName(name), []byte(data))
}

func i32const(v int32) []byte { return appendS32([]byte{0x41}, v) }

func i64const(v int64) []byte {
	b := []byte{0x42}
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func f32const(v float32) []byte {
	return binary.LittleEndian.AppendUint32([]byte{0x43}, math.Float32bits(v))
}

func f64const(v float64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{0x44}, math.Float64bits(v))
}

func v128const(lanes ...uint32) []byte {
	b := []byte{0xFD, 12}
	for _, l := range lanes {
		b = binary.LittleEndian.AppendUint32(b, l)
	}
	return b
}

var (
	typeVoid   = []byte{0x60, 0, 0}                // () -> ()
	typeI32I32 = []byte{0x60, 1, 0x7F, 1, 0x7F}    // (i32) -> i32
	typeI32    = []byte{0x60, 1, 0x7F, 0}          // (i32) -> ()
	memory1    = sec(secMemory, vec([]byte{0, 1})) // one memory of 1 page
)

// Hand-assembled modules. Each exports "f" (i32) -> i32 unless noted.
var (
	// f(n) = n + (n-1) + ... + 1 with one loop.
	wasmLoop = wasmModule(
		custom("before", "kept as is"),
		sec(secType, vec(typeI32I32)),
		sec(secFunction, vec([]byte{0})),
		memory1,
		sec(secExport, vec(export("f", 0, 0))),
		sec(secCode, vec(body([]byte{1, 1, 0x7F}, []byte{
			0x02, 0x40, 0x03, 0x40, // block loop
			0x20, 0x00, 0x45, 0x0D, 0x01, // local.get 0; i32.eqz; br_if 1
			0x20, 0x01, 0x20, 0x00, 0x6A, 0x21, 0x01, // acc += n
			0x20, 0x00, 0x41, 0x01, 0x6B, 0x21, 0x00, // n--
			0x0C, 0x00, 0x0B, 0x0B, // br 0; end; end
			0x20, 0x01, 0x0B, // local.get 1; end
		}))),
		custom("after", "also kept"),
	)

	// f(n) sums 1, 10 or 100 by (i+j)%3 over i, j < n: nested loops and a
	// br_table.
	wasmNested = wasmModule(
		sec(secType, vec(typeI32I32)),
		sec(secFunction, vec([]byte{0})),
		memory1,
		sec(secExport, vec(export("f", 0, 0))),
		sec(secCode, vec(body([]byte{1, 3, 0x7F}, []byte{ // locals i=1, j=2, acc=3
			0x02, 0x40, 0x03, 0x40, // block loop (outer)
			0x20, 0x01, 0x20, 0x00, 0x4F, 0x0D, 0x01, // i >= n: br_if 1
			0x41, 0x00, 0x21, 0x02, // j = 0
			0x02, 0x40, 0x03, 0x40, // block loop (inner)
			0x20, 0x02, 0x20, 0x00, 0x4F, 0x0D, 0x01, // j >= n: br_if 1
			0x02, 0x40, 0x02, 0x40, 0x02, 0x40, 0x02, 0x40, // block done, d, c1, c0
			0x20, 0x01, 0x20, 0x02, 0x6A, 0x41, 0x03, 0x70, // (i+j) % 3
			0x0E, 0x02, 0x00, 0x01, 0x02, // br_table 0 1 default 2
			0x0B, 0x20, 0x03, 0x41, 0x01, 0x6A, 0x21, 0x03, 0x0C, 0x02, // c0: acc += 1; br done
			0x0B, 0x20, 0x03, 0x41, 0x0A, 0x6A, 0x21, 0x03, 0x0C, 0x01, // c1: acc += 10; br done
			0x0B, 0x20, 0x03, 0x41, 0xE4, 0x00, 0x6A, 0x21, 0x03, // d: acc += 100
			0x0B,                                                 // end done
			0x20, 0x02, 0x41, 0x01, 0x6A, 0x21, 0x02, 0x0C, 0x00, // j++; br inner
			0x0B, 0x0B, // end inner loop, block
			0x20, 0x01, 0x41, 0x01, 0x6A, 0x21, 0x01, 0x0C, 0x00, // i++; br outer
			0x0B, 0x0B, // end outer loop, block
			0x20, 0x03, 0x0B, // acc
		}))),
	)

	// Imports global env.g (5); defines global 1 (100), which the start
	// function raises by env.g; f(n) counts n down in a loop whose
	// parameter and result are on the stack (a type-index block type) and
	// returns n + global 1.
	wasmGlobalsStart = wasmModule(
		sec(secType, vec(typeVoid, typeI32I32)),
		sec(secImport, vec(importGlobal("env", "g", 0x7F, false))),
		sec(secFunction, vec([]byte{0}, []byte{1})),
		memory1,
		custom("between", "x"),
		sec(secGlobal, vec([]byte{0x7F, 0x01, 0x41, 0xE4, 0x00, 0x0B})),
		sec(secExport, vec(export("f", 0, 1), export("g1", 0x03, 1))),
		sec(secStart, appendU32(nil, 0)),
		sec(secCode, vec(
			body([]byte{0}, []byte{0x23, 0x01, 0x23, 0x00, 0x6A, 0x24, 0x01, 0x0B}),
			body([]byte{1, 1, 0x7F}, []byte{
				0x20, 0x00, // local.get 0
				0x03, 0x01, // loop (type 1): [i32] -> [i32]
				0x41, 0x01, 0x6B, 0x22, 0x01, 0x20, 0x01, 0x0D, 0x00, // x-1; tee; br_if 0 with [x-1]
				0x0B,                                     // end: [0]
				0x23, 0x01, 0x6A, 0x20, 0x00, 0x6A, 0x0B, // + global 1 + n
			}),
		)),
	)

	// No global or export section; the start function (index 1, after the
	// import) sums 1..10 in a loop and reports the sum to host.report.
	wasmNoGlobalsNoExports = wasmModule(
		sec(secType, vec(typeI32, typeVoid)),
		sec(secImport, vec(importFunc("host", "report", 0))),
		sec(secFunction, vec([]byte{1})),
		memory1,
		sec(secStart, appendU32(nil, 1)),
		sec(secCode, vec(body([]byte{1, 2, 0x7F}, []byte{ // locals n=0, acc=1
			0x41, 0x0A, 0x21, 0x00, // n = 10
			0x03, 0x40, // loop
			0x20, 0x01, 0x20, 0x00, 0x6A, 0x21, 0x01, // acc += n
			0x20, 0x00, 0x41, 0x01, 0x6B, 0x22, 0x00, 0x0D, 0x00, // n--; br_if 0
			0x0B,
			0x20, 0x01, 0x10, 0x00, 0x0B, // report(acc)
		}))),
	)

	// f(n) goes through many kinds of instruction: bulk memory, data
	// segments, typed select, saturating conversion, SIMD, references,
	// call_indirect, blocks with results, if/else, sign extension.
	wasmKitchenSink = wasmModule(
		sec(secType, vec(typeI32I32)),
		sec(secFunction, vec([]byte{0}, []byte{0})),
		sec(secTable, vec([]byte{0x70, 0x00, 0x01})),
		memory1,
		sec(secExport, vec(export("f", 0, 0))),
		sec(secElement, vec([]byte{0x00, 0x41, 0x00, 0x0B, 0x01, 0x01})), // table[0] = func 1
		sec(secDataCount, appendU32(nil, 1)),
		sec(secCode, vec(
			body([]byte{2, 1, 0x7E, 1, 0x7C}, // locals: i64, f64
				[]byte{0x41, 0x00, 0x20, 0x00, 0x36, 0x02, 0x00},                   // mem[0] = n
				[]byte{0x41, 0x10, 0x41, 0x07, 0x41, 0x04, 0xFC, 0x0B, 0x00},       // memory.fill
				[]byte{0x41, 0x20, 0x41, 0x10, 0x41, 0x04, 0xFC, 0x0A, 0x00, 0x00}, // memory.copy
				[]byte{0x41, 0x30, 0x41, 0x00, 0x41, 0x04, 0xFC, 0x08, 0x00, 0x00}, // memory.init 0
				[]byte{0xFC, 0x09, 0x00},                                           // data.drop 0
				[]byte{0x41, 0x20, 0x28, 0x02, 0x00},                               // i32.load [32]
				[]byte{0x41, 0x31, 0x2D, 0x00, 0x00, 0x6A},                         // + i32.load8_u [49]
				[]byte{0x41, 0x00, 0x28, 0x02, 0x80, 0x01, 0x6A},                   // + i32.load offset=128 (2-byte offset)
				[]byte{0x41, 0x05, 0x41, 0x06, 0x20, 0x00, 0x1C, 0x01, 0x7F, 0x6A}, // + select (result i32)
				f64const(3.9), []byte{0xFC, 0x02, 0x6A}, // + i32.trunc_sat_f64_s
				i64const(-1234567890123), i64const(1234567890124), []byte{0x7C, 0xA7, 0x6A}, // + wrap(i64 add)
				f32const(2.5), []byte{0xA8, 0x6A}, // + i32.trunc_f32_s
				v128const(1, 2, 3, 4), []byte{0xFD, 0x1B, 0x02, 0x6A}, // + i32x4.extract_lane 2
				i32const(64), v128const(9, 8, 7, 6), []byte{0xFD, 0x0B, 0x04, 0x00}, // v128.store [64]
				i32const(64), []byte{0xFD, 0x00, 0x04, 0x00, 0xFD, 0x1B, 0x01, 0x6A}, // + lane 1 of v128.load [64]
				[]byte{0xD0, 0x70, 0xD1, 0x6A},                                           // + ref.is_null(ref.null func)
				[]byte{0xD2, 0x01, 0xD1, 0x6A},                                           // + ref.is_null(ref.func 1)
				[]byte{0x41, 0x0A, 0x41, 0x00, 0x11, 0x00, 0x00, 0x6A},                   // + call_indirect table[0](10)
				[]byte{0x3F, 0x00, 0x6A},                                                 // + memory.size
				[]byte{0x02, 0x7F, 0x41, 0x07, 0x0B, 0x6A},                               // + block (result i32) 7
				[]byte{0x20, 0x00, 0x04, 0x7F, 0x41, 0x01, 0x05, 0x41, 0x02, 0x0B, 0x6A}, // + if n {1} else {2}
				[]byte{0x41, 0xFF, 0x01, 0xC0, 0x6A},                                     // + i32.extend8_s(255)
				[]byte{0x42, 0x05, 0x21, 0x01, 0x20, 0x01, 0xA7, 0x6A},                   // + i64 local
				[]byte{0x20, 0x00, 0x41, 0x00, 0x4A, 0x04, 0x40, 0x01, 0x0B},             // if n > 0 { nop }
				[]byte{0x0B},
			),
			body([]byte{0}, []byte{0x20, 0x00, 0x41, 0x02, 0x6C, 0x0B}), // h(x) = 2x
		)),
		sec(secData, vec([]byte{0x01, 0x04, 1, 2, 3, 4})), // passive
	)
)

// instance is a module instantiated on bare wazero: the start function, if
// instrumented away, already called.
type instance struct {
	mod      api.Module
	reported []uint32
}

// instantiateBare compiles and instantiates wasm in a fresh default
// runtime with an "env" module exporting global g = 5 and a "host" module
// exporting function report.
func instantiateBare(t *testing.T, wasm []byte) *instance {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	in := &instance{}
	env := wasmModule(
		sec(secGlobal, vec([]byte{0x7F, 0x00, 0x41, 0x05, 0x0B})),
		sec(secExport, vec(export("g", 0x03, 0))),
	)
	if _, err := rt.InstantiateWithConfig(ctx, env, wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.NewHostModuleBuilder("host").NewFunctionBuilder().
		WithFunc(func(_ context.Context, v uint32) { in.reported = append(in.reported, v) }).
		Export("report").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compiling: %v", err)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiating: %v", err)
	}
	if start := mod.ExportedFunction(startExport); start != nil {
		if _, err := start.Call(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	in.mod = mod
	return in
}

func (in *instance) call(t *testing.T, name string, args ...uint64) []uint64 {
	t.Helper()
	res, err := in.mod.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s%v: %v", name, args, err)
	}
	return res
}

func TestInstrumentHandMade(t *testing.T) {
	for _, tt := range []struct {
		name    string
		wasm    []byte
		args    []uint64 // calls of f; nil: f is not exported
		globals []string // exported globals that must match
		start   bool     // instrumented start function expected
	}{
		{"loop", wasmLoop, []uint64{0, 1, 10, 1000}, nil, false},
		{"nested loops and br_table", wasmNested, []uint64{0, 1, 7, 50}, nil, false},
		{"imported global, start, typed loop", wasmGlobalsStart, []uint64{1, 2, 30}, []string{"g1"}, true},
		{"no global or export section", wasmNoGlobalsNoExports, nil, nil, true},
		{"kitchen sink", wasmKitchenSink, []uint64{3}, nil, false}, // once: it drops its data segment
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := instrument(tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := instrument(tt.wasm)
			if !bytes.Equal(out, again) {
				t.Error("instrument is not deterministic")
			}
			// Custom sections survive byte for byte.
			for _, c := range [][]byte{custom("before", "kept as is"), custom("after", "also kept"), custom("between", "x")} {
				if bytes.Contains(tt.wasm, c) && !bytes.Contains(out, c) {
					t.Errorf("custom section %q lost", c)
				}
			}
			orig, inst := instantiateBare(t, tt.wasm), instantiateBare(t, out)
			for _, arg := range tt.args {
				if got, want := inst.call(t, "f", arg), orig.call(t, "f", arg); got[0] != want[0] {
					t.Errorf("f(%d) = %d instrumented, %d originally", arg, got[0], want[0])
				}
			}
			for _, g := range tt.globals {
				if got, want := inst.mod.ExportedGlobal(g).Get(), orig.mod.ExportedGlobal(g).Get(); got != want {
					t.Errorf("global %s = %d instrumented, %d originally", g, got, want)
				}
			}
			if got, want := inst.reported, orig.reported; !slices.Equal(got, want) {
				t.Errorf("reported %v instrumented, %v originally", got, want)
			}
			if got := inst.mod.ExportedFunction(startExport) != nil; got != tt.start {
				t.Errorf("start function exported: %v, want %v", got, tt.start)
			}
			if orig.mod.ExportedFunction(startExport) != nil || orig.mod.ExportedGlobal(interruptGlobal) != nil {
				t.Error("the original has the reserved exports")
			}
			// The instrumented module stops once interrupted.
			interrupt := inst.mod.ExportedGlobal(interruptGlobal).(api.MutableGlobal)
			fuel := inst.mod.ExportedGlobal(fuelGlobal).(api.MutableGlobal)
			if interrupt.Get() != 0 {
				t.Errorf("interrupt = %d before any interrupt", interrupt.Get())
			}
			if f := inst.mod.ExportedFunction("f"); f != nil {
				interrupt.Set(1)
				fuel.Set(0)
				if _, err := f.Call(context.Background(), 5); err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Errorf("f after the interrupt: %v, want a trap", err)
				}
			}
		})
	}
}

// TestInstrumentYields checks that fuel running out makes the guest yield
// and carry on, many times over.
func TestInstrumentYields(t *testing.T) {
	out, err := instrument(wasmLoop)
	if err != nil {
		t.Fatal(err)
	}
	inst := instantiateBare(t, out)
	n := uint64(5 * yieldEvery)
	if got := inst.call(t, "f", n); uint32(got[0]) != uint32(n*(n+1)/2) {
		t.Errorf("f(%d) = %d", n, got[0])
	}
	if fuel := inst.mod.ExportedGlobal(fuelGlobal).Get(); fuel == 0 || fuel > yieldEvery {
		t.Errorf("fuel = %d after the run", fuel)
	}
}

func TestInstrumentRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		wasm []byte
	}{
		{"not wasm", []byte("\x00asm\x02\x00\x00\x00")},
		{"exports the interrupt name", wasmModule(
			sec(secType, vec(typeVoid)), sec(secFunction, vec([]byte{0})), memory1,
			sec(secExport, vec(export(interruptGlobal, 0, 0))),
			sec(secCode, vec(body([]byte{0}, []byte{0x0B}))))},
		{"exports the start name", wasmModule(
			sec(secType, vec(typeVoid)), sec(secFunction, vec([]byte{0})), memory1,
			sec(secExport, vec(export(startExport, 0, 0))),
			sec(secCode, vec(body([]byte{0}, []byte{0x0B}))))},
		{"no memory", wasmUnreachable},
		{"unknown opcode (legacy try)", wasmModule(
			sec(secType, vec(typeVoid)), sec(secFunction, vec([]byte{0})), memory1,
			sec(secCode, vec(body([]byte{0}, []byte{0x06, 0x40, 0x0B, 0x0B}))))},
		{"unknown 0xfc opcode", wasmModule(
			sec(secType, vec(typeVoid)), sec(secFunction, vec([]byte{0})), memory1,
			sec(secCode, vec(body([]byte{0}, []byte{0xFC, 0x12, 0x0B}))))},
		{"sections out of order", wasmModule(memory1, sec(secType, vec(typeVoid)))},
		{"truncated body", wasmModule(
			sec(secType, vec(typeVoid)), sec(secFunction, vec([]byte{0})), memory1,
			sec(secCode, vec(body([]byte{0}, []byte{0x41}))))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := instrument(tt.wasm); !errors.Is(err, errInstrument) || out != nil {
				t.Errorf("instrument() = %d bytes, %v; want errInstrument", len(out), err)
			}
		})
	}
}

// TestInstrumentGuests instruments every test guest and example: each must
// instrument (Go guests take the fast path) and compile.
func TestInstrumentGuests(t *testing.T) {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(sharedCache) // warm: TestMain compiled them instrumented
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close(ctx)
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer rt.Close(ctx)
	for name, path := range guests {
		t.Run(name, func(t *testing.T) {
			bin, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := instrument(bin)
			if err != nil {
				t.Fatal(err)
			}
			cm, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatal(err)
			}
			cm.Close(ctx)
		})
	}
}

func FuzzInstrument(f *testing.F) {
	for _, m := range [][]byte{wasmLoop, wasmNested, wasmGlobalsStart, wasmNoGlobalsNoExports, wasmKitchenSink, wasmUnreachable, wasmProcExit("env")} {
		f.Add(m)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx) // the compiler, as the sandbox uses
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := instrument(wasm)
		if err != nil {
			return
		}
		cm, err := rt.CompileModule(ctx, out)
		if err == nil {
			cm.Close(ctx)
			return
		}
		if orig, origErr := rt.CompileModule(ctx, wasm); origErr == nil {
			orig.Close(ctx)
			t.Fatalf("the original compiles, the instrumented module does not: %v", err)
		}
	})
}
