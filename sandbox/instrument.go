package sandbox

import (
	"bytes"
	"errors"
	"fmt"
)

// Names the instrumented module exports. A module that already exports any
// of them is not instrumented.
const (
	// interruptGlobal is a mutable i32 global, 0 while the guest may run.
	// Once it is 1 the guest traps ("unreachable") at its next yield.
	interruptGlobal = "__bacalhau_interrupt"
	// fuelGlobal is a mutable i32 global counting down the checks (loop
	// iterations and function calls) to the guest's next yield. Setting it
	// to 0 makes the guest yield at its next check.
	fuelGlobal = "__bacalhau_fuel"
	// startExport is the module's start function, which the instrumented
	// module no longer runs by itself: the sandbox calls it after
	// instantiating, so that it too can be interrupted.
	startExport = "__bacalhau_start"
)

// yieldEvery is how many checks a guest runs between two yields. A yield
// costs about a microsecond (an exit to Go); a check a nanosecond or two.
const yieldEvery = 1 << 16

var errInstrument = errors.New("sandbox: cannot instrument module")

// Section IDs.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is where each non-custom section must appear; 0 means an
// unknown section.
var sectionRank = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secTag: 6, secGlobal: 7, secExport: 8, secStart: 9, secElement: 10,
	secDataCount: 11, secCode: 12, secData: 13,
}

// instrument rewrites a WebAssembly binary so that a host can stop it
// without wazero's WithCloseOnContextDone, which in wazero v1.12 makes
// every loop iteration exit to Go:
//
//   - it appends two mutable i32 globals, exported as fuelGlobal (initially
//     yieldEvery) and interruptGlobal (initially 0);
//
//   - at the start of every function body and every loop body it inserts a
//     check: fuel is decremented, and when it is down to 0 or below the
//     guest yields: it executes `memory.grow 0`, which wazero implements by
//     an exit to Go (so the Go scheduler and garbage collector get a chance
//     to stop the goroutine; compiled code cannot be preempted), traps with
//     `unreachable` if interrupt is set, and refills fuel;
//
//   - it removes the start section, if any, and exports the start function
//     as startExport instead, for the host to call after instantiating (a
//     start function runs inside instantiation, before the host holds the
//     instance and so before it could set the globals).
//
//   - it merges neighbouring data segments (see mergeData), which costs
//     wazero less at every instantiation.
//
// Every other section is copied byte for byte, so the output is a pure
// function of the input. It decodes every instruction; anything it does not
// know (proposals beyond WebAssembly 2.0 other than threads and tail calls)
// is an error, and so are a module without a memory (memory.grow needs one)
// and a module that already exports one of the reserved names. An error
// means the module must run some other way; it says nothing about whether
// the module is valid.
func instrument(wasm []byte) ([]byte, error) {
	out, err := instrumentModule(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInstrument, err)
	}
	return out, nil
}

type rawSection struct {
	id      byte
	raw     []byte // the whole section: id, size and payload
	payload []byte
}

func instrumentModule(wasm []byte) ([]byte, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte{0, 'a', 's', 'm', 1, 0, 0, 0}) {
		return nil, errors.New("not a WebAssembly 1.0 binary")
	}
	var sections []rawSection
	r := &reader{b: wasm, off: 8}
	lastRank := 0
	for r.off < len(r.b) {
		start := r.off
		id := r.byte()
		size := r.u32()
		payload := r.bytes(int(size))
		if r.err != nil {
			return nil, r.err
		}
		if id != secCustom {
			if int(id) >= len(sectionRank) || sectionRank[id] == 0 {
				return nil, fmt.Errorf("unknown section %d", id)
			}
			if sectionRank[id] <= lastRank {
				return nil, fmt.Errorf("section %d out of order", id)
			}
			lastRank = sectionRank[id]
		}
		sections = append(sections, rawSection{id: id, raw: wasm[start:r.off], payload: payload})
	}

	var (
		importedGlobals, definedGlobals uint32
		globalSec, exportSec            []byte
		hasGlobalSec, hasExportSec      bool
		start                           uint32
		hasStart, hasMemory             bool
		importsMemory, hasDataCount     bool
	)
	for _, s := range sections {
		var err error
		switch s.id {
		case secImport:
			var memories uint32
			importedGlobals, memories, err = countImports(s.payload)
			importsMemory = memories > 0
			hasMemory = hasMemory || importsMemory
		case secMemory:
			r := &reader{b: s.payload}
			hasMemory = hasMemory || r.u32() > 0
			err = r.err
		case secGlobal:
			hasGlobalSec, globalSec = true, s.payload
			r := &reader{b: s.payload}
			definedGlobals = r.u32()
			err = r.err
		case secExport:
			hasExportSec, exportSec = true, s.payload
			err = checkExportNames(s.payload)
		case secStart:
			r := &reader{b: s.payload}
			start, hasStart = r.u32(), true
			err = r.end()
		case secDataCount:
			hasDataCount = true
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", s.id, err)
		}
	}
	if !hasMemory {
		return nil, errors.New("no memory")
	}
	if definedGlobals >= 1<<32-2 || importedGlobals >= 1<<32-2-definedGlobals {
		return nil, errors.New("too many globals")
	}
	fuel := importedGlobals + definedGlobals
	interrupt := fuel + 1
	check := checkCode(fuel, interrupt)

	// (mut i32) initialised by i32.const yieldEvery, then by i32.const 0.
	globals := append(append([]byte{0x7F, 0x01, 0x41}, appendS32(nil, yieldEvery)...), 0x0B)
	globals = append(globals, 0x7F, 0x01, 0x41, 0x00, 0x0B)
	newGlobals, err := appendToVector(globalSec, hasGlobalSec, globals, 2)
	if err != nil {
		return nil, fmt.Errorf("section %d: %w", secGlobal, err)
	}
	exports := appendU32(append(wasmName(fuelGlobal), 0x03), fuel)
	exports = appendU32(append(append(exports, wasmName(interruptGlobal)...), 0x03), interrupt)
	n := uint32(2)
	if hasStart {
		exports = append(exports, wasmName(startExport)...)
		exports = appendU32(append(exports, 0x00), start)
		n++
	}
	newExports, err := appendToVector(exportSec, hasExportSec, exports, n)
	if err != nil {
		return nil, fmt.Errorf("section %d: %w", secExport, err)
	}

	out := make([]byte, 0, len(wasm)+len(wasm)/8+64)
	out = append(out, wasm[:8]...)
	globalDone, exportDone := false, false
	flush := func(rank int) {
		if !globalDone && rank > sectionRank[secGlobal] {
			out, globalDone = appendSection(out, secGlobal, newGlobals), true
		}
		if !exportDone && rank > sectionRank[secExport] {
			out, exportDone = appendSection(out, secExport, newExports), true
		}
	}
	for _, s := range sections {
		if s.id != secCustom {
			flush(sectionRank[s.id])
		}
		switch s.id {
		case secGlobal:
			out, globalDone = appendSection(out, secGlobal, newGlobals), true
		case secExport:
			out, exportDone = appendSection(out, secExport, newExports), true
		case secStart:
			// Exported instead.
		case secCode:
			code, err := instrumentCode(s.payload, check)
			if err != nil {
				return nil, fmt.Errorf("section %d: %w", secCode, err)
			}
			out = appendSection(out, secCode, code)
		case secData:
			if importsMemory || hasDataCount {
				out = append(out, s.raw...)
			} else {
				out = appendSection(out, secData, mergeData(s.payload))
			}
		default:
			out = append(out, s.raw...)
		}
	}
	flush(len(sectionRank) + 1)
	return out, nil
}

// checkCode is the check inserted at the start of every function and loop
// body:
//
//	global.get $fuel; i32.const 1; i32.sub; global.set $fuel
//	global.get $fuel; i32.const 0; i32.le_s
//	if
//	  i32.const 0; memory.grow 0; drop
//	  global.get $interrupt; if; unreachable; end
//	  i32.const yieldEvery; global.set $fuel
//	end
//
// It leaves the operand stack as it found it, so it is valid wherever an
// instruction may start, whatever the block's parameters. The fast path is a
// load, a subtraction, a store and a branch: wazero reuses the stored value
// for the second global.get.
func checkCode(fuel, interrupt uint32) []byte {
	g := appendU32(nil, fuel)
	b := append([]byte{0x23}, g...)
	b = append(b, 0x41, 0x01, 0x6B, 0x24)
	b = append(b, g...)
	b = append(b, 0x23)
	b = append(b, g...)
	b = append(b, 0x41, 0x00, 0x4C, 0x04, 0x40)
	b = append(b, 0x41, 0x00, 0x40, 0x00, 0x1A)
	b = appendU32(append(b, 0x23), interrupt)
	b = append(b, 0x04, 0x40, 0x00, 0x0B)
	b = appendS32(append(b, 0x41), yieldEvery)
	b = append(append(b, 0x24), g...)
	return append(b, 0x0B)
}

func wasmName(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }

func appendSection(out []byte, id byte, payload []byte) []byte {
	out = appendU32(append(out, id), uint32(len(payload)))
	return append(out, payload...)
}

// appendToVector returns the vector payload (count, then items) with n more
// items appended; a missing section is an empty vector.
func appendToVector(payload []byte, present bool, items []byte, n uint32) ([]byte, error) {
	var count uint32
	var rest []byte
	if present {
		r := &reader{b: payload}
		count = r.u32()
		if r.err != nil {
			return nil, r.err
		}
		if count > 1<<32-1-n {
			return nil, errors.New("vector too long")
		}
		rest = payload[r.off:]
	}
	out := appendU32(make([]byte, 0, 5+len(rest)+len(items)), count+n)
	return append(append(out, rest...), items...), nil
}

// countImports returns how many globals and memories an import section
// imports.
func countImports(payload []byte) (globals, memories uint32, err error) {
	r := &reader{b: payload}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0x00: // function: type index
			r.u32()
		case 0x01: // table: reftype, limits
			r.byte()
			r.limits()
		case 0x02: // memory: limits
			r.limits()
			memories++
		case 0x03: // global: valtype, mutability
			r.valtype()
			r.byte()
			globals++
		case 0x04: // tag: attribute, type index
			r.byte()
			r.u32()
		default:
			r.fail("unknown import kind %#x", kind)
		}
	}
	return globals, memories, r.end()
}

func checkExportNames(payload []byte) error {
	r := &reader{b: payload}
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		if s := string(r.name()); s == fuelGlobal || s == interruptGlobal || s == startExport {
			return fmt.Errorf("already exports %q", s)
		}
		r.byte()
		r.u32()
	}
	return r.end()
}

// instrumentCode returns the code section payload with check inserted at
// the start of every function body and every loop body.
func instrumentCode(payload, check []byte) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	out := make([]byte, 0, len(payload)+len(payload)/8)
	out = append(out, payload[:r.off]...)
	var body []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		b := r.bytes(int(size))
		if r.err != nil {
			break
		}
		var err error
		if body, err = instrumentBody(body[:0], b, check); err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return out, nil
}

// instrumentBody appends body, instrumented, to out.
func instrumentBody(out, body, check []byte) ([]byte, error) {
	r := &reader{b: body}
	for n := r.u32(); n > 0 && r.err == nil; n-- { // locals
		r.u32()
		r.valtype()
	}
	if r.err != nil {
		return nil, r.err
	}
	out = append(out, body[:r.off]...)
	out = append(out, check...)
	copied := r.off
	depth := 0
	for r.err == nil {
		op := r.byte()
		switch op {
		case 0x02, 0x04: // block, if
			r.blocktype()
			depth++
		case 0x03: // loop
			r.blocktype()
			depth++
			if r.err == nil {
				out = append(out, body[copied:r.off]...)
				out = append(out, check...)
				copied = r.off
			}
		case 0x0B: // end
			if depth == 0 {
				if r.err != nil {
					return nil, r.err
				}
				if r.off != len(body) {
					return nil, errors.New("bytes after the end of the body")
				}
				return append(out, body[copied:]...), nil
			}
			depth--
		default:
			r.immediates(op)
		}
	}
	return nil, r.err
}

// immediates skips the immediates of instruction op, which is neither a
// block instruction nor end.
func (r *reader) immediates(op byte) {
	switch {
	case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0F: // unreachable, nop, else, return
	case op == 0x0C || op == 0x0D: // br, br_if
		r.u32()
	case op == 0x0E: // br_table
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.u32()
		}
		r.u32()
	case op == 0x10 || op == 0x12: // call, return_call
		r.u32()
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect: type, table
		r.u32()
		r.u32()
	case op == 0x1A || op == 0x1B: // drop, select
	case op == 0x1C: // select t*
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			r.valtype()
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3E: // loads and stores
		r.memarg()
	case op == 0x3F || op == 0x40: // memory.size, memory.grow: memory index
		r.u32()
	case op == 0x41: // i32.const
		r.leb(5)
	case op == 0x42: // i64.const
		r.leb(10)
	case op == 0x43: // f32.const
		r.bytes(4)
	case op == 0x44: // f64.const
		r.bytes(8)
	case op >= 0x45 && op <= 0xC4: // numeric, sign extension
	case op == 0xD0: // ref.null heaptype
		r.leb(5)
	case op == 0xD1: // ref.is_null
	case op == 0xD2: // ref.func
		r.u32()
	case op == 0xFC:
		r.prefixFC()
	case op == 0xFD:
		r.prefixFD()
	case op == 0xFE:
		r.prefixFE()
	default:
		r.fail("unknown opcode %#x", op)
	}
}

func (r *reader) prefixFC() {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data, memory
		r.u32()
		r.u32()
	case sub == 9: // data.drop
		r.u32()
	case sub == 10: // memory.copy dst, src
		r.u32()
		r.u32()
	case sub == 11: // memory.fill
		r.u32()
	case sub == 12: // table.init elem, table
		r.u32()
		r.u32()
	case sub == 13: // elem.drop
		r.u32()
	case sub == 14: // table.copy dst, src
		r.u32()
		r.u32()
	case sub >= 15 && sub <= 17: // table.grow, table.size, table.fill
		r.u32()
	default:
		r.fail("unknown opcode 0xfc %d", sub)
	}
}

func (r *reader) prefixFD() {
	switch sub := r.u32(); {
	case sub <= 11: // v128.load*, v128.store
		r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub <= 20: // swizzle, splats
	case sub <= 34: // extract_lane, replace_lane
		r.byte()
	case sub <= 83: // comparisons, bitwise, any_true
	case sub <= 91: // v128.load*_lane, v128.store*_lane
		r.memarg()
		r.byte()
	case sub <= 93: // v128.load32_zero, v128.load64_zero
		r.memarg()
	case sub <= 255: // arithmetic and conversions, none with immediates
	default:
		r.fail("unknown opcode 0xfd %d", sub)
	}
}

func (r *reader) prefixFE() {
	switch sub := r.u32(); {
	case sub <= 2: // memory.atomic.notify, wait32, wait64
		r.memarg()
	case sub == 3: // atomic.fence
		if r.byte() != 0 && r.err == nil {
			r.fail("atomic.fence: reserved byte not 0")
		}
	case sub >= 0x10 && sub <= 0x4E: // atomic loads, stores, rmw, cmpxchg
		r.memarg()
	default:
		r.fail("unknown opcode 0xfe %d", sub)
	}
}

// reader decodes a WebAssembly binary. The first error sticks: later reads
// return zero values, and loops over vectors check err.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format+" at offset %d", append(args, r.off)...)
	}
}

func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d unexpected bytes", len(r.b)-r.off)
	}
	return r.err
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("unexpected end")
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

// leb reads a LEB128 number of at most maxBytes bytes, signed or not, and
// returns its low 64 bits as if unsigned.
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if i < 10 {
			v |= uint64(c&0x7F) << (7 * i)
		}
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 number too long")
	return 0
}

func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > 1<<32-1 {
		r.fail("u32 out of range")
		return 0
	}
	return uint32(v)
}

func (r *reader) name() []byte { return r.bytes(int(r.u32())) }

// valtype reads a one-byte value type (i32 i64 f32 f64 v128 funcref
// externref).
func (r *reader) valtype() {
	switch t := r.byte(); t {
	case 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
	default:
		if r.err == nil {
			r.fail("unknown value type %#x", t)
		}
	}
}

// blocktype skips a block type: 0x40, a value type, or a type index (s33).
func (r *reader) blocktype() { r.leb(5) }

func (r *reader) limits() {
	flags := r.byte()
	if flags > 0x07 {
		r.fail("unknown limits flags %#x", flags)
		return
	}
	r.leb(10)
	if flags&0x01 != 0 {
		r.leb(10)
	}
}

// memarg skips alignment (bit 6 set: a memory index follows) and offset.
func (r *reader) memarg() {
	if align := r.u32(); align&0x40 != 0 {
		r.u32()
	}
	r.leb(10)
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// s32 reads a signed LEB128 i32.
func (r *reader) s32() int32 {
	var v int64
	var shift uint
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			if v < -1<<31 || v > 1<<31-1 {
				r.fail("i32 out of range")
				return 0
			}
			return int32(v)
		}
	}
	r.fail("LEB128 number too long")
	return 0
}
