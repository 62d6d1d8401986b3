package sandbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// dataSeg is an active segment on memory 0 at an i32.const offset.
type dataSeg struct {
	off  int32
	data []byte
}

func encodeData(segs []dataSeg) []byte {
	b := appendU32(nil, uint32(len(segs)))
	for _, s := range segs {
		b = appendS32(append(b, 0x00, 0x41), s.off)
		b = appendU32(append(b, 0x0B), uint32(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}

// applyData writes a data section payload of active i32.const segments to a
// zeroed memory of size bytes, as instantiation does; ok is false if a
// segment does not fit (instantiation fails).
func applyData(t *testing.T, payload []byte, size int) (mem []byte, segments int, ok bool) {
	t.Helper()
	r := &reader{b: payload}
	n := r.u32()
	mem = make([]byte, size)
	ok = true
	for i := uint32(0); i < n; i++ {
		if flag, op := r.u32(), r.byte(); flag != 0 || op != 0x41 {
			t.Fatalf("segment %d: flag %d, op %#x", i, flag, op)
		}
		off := uint64(uint32(r.s32()))
		r.byte()
		data := r.bytes(int(r.u32()))
		if r.err != nil {
			t.Fatal(r.err)
		}
		if off+uint64(len(data)) > uint64(size) {
			ok = false
			continue
		}
		copy(mem[off:], data)
	}
	if err := r.end(); err != nil {
		t.Fatal(err)
	}
	return mem, int(n), ok
}

func TestMergeData(t *testing.T) {
	bs := func(s string) []byte { return []byte(s) }
	for _, tt := range []struct {
		name     string
		segs     []dataSeg
		segments int // after merging
	}{
		{"neighbours", []dataSeg{{0, bs("ab")}, {2, bs("cd")}, {10, bs("ef")}}, 1},
		{"gap too wide", []dataSeg{{0, bs("ab")}, {2 + mergeGap + 1, bs("cd")}}, 2},
		{"overlap keeps order", []dataSeg{{0, bs("abcd")}, {2, bs("XY")}, {8, bs("z")}}, 2},
		{"gap written earlier", []dataSeg{{20, bs("keep")}, {10, bs("a")}, {30, bs("b")}}, 3},
		{"back then on past", []dataSeg{{100, bs("hi")}, {10, bs("a")}, {12, bs("b")}, {200, bs("c")}, {203, bs("d")}}, 3},
		{"negative offset", []dataSeg{{0, bs("a")}, {-4, bs("b")}}, 2},
		{"empty segments", []dataSeg{{0, nil}, {0, nil}, {5, bs("x")}}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := encodeData(tt.segs)
			out := mergeData(in)
			want, _, wantOK := applyData(t, in, 2*mergeGap+64)
			got, n, gotOK := applyData(t, out, 2*mergeGap+64)
			if n != tt.segments {
				t.Errorf("%d segments after merging, want %d", n, tt.segments)
			}
			if gotOK != wantOK || !bytes.Equal(got, want) {
				t.Errorf("merged segments write other bytes (fit %v, want %v)", gotOK, wantOK)
			}
		})
	}
}

func TestMergeDataLeavesOthersAlone(t *testing.T) {
	// Two segments each: a passive one, then an active one at 0.
	passive := []byte{0x02, 0x01, 0x01, 'a', 0x00, 0x41, 0x00, 0x0B, 0x01, 'b'}
	// An offset read from global 0, then an active one at 1.
	globalOff := []byte{0x02, 0x00, 0x23, 0x00, 0x0B, 0x01, 'a', 0x00, 0x41, 0x01, 0x0B, 0x01, 'b'}
	for name, p := range map[string][]byte{"passive": passive, "global.get offset": globalOff, "truncated": encodeData([]dataSeg{{0, []byte("a")}, {1, []byte("b")}})[:8]} {
		if out := mergeData(p); !bytes.Equal(out, p) {
			t.Errorf("%s: changed to %x", name, out)
		}
	}
}

// TestMergeDataGuests instantiates the examples as they are and instrumented,
// without running it, and compares the memories: merging the data
// segments must leave every byte as it was.
func TestMergeDataGuests(t *testing.T) {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(sharedCache)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close(ctx)
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	memory := func(t *testing.T, bin []byte) []byte {
		t.Helper()
		mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		defer mod.Close(ctx)
		mem, _ := mod.Memory().Read(0, mod.Memory().Size())
		return bytes.Clone(mem)
	}
	for _, name := range []string{"hello", "sha256", "wordcount"} { // compiling as they are takes 2-3 s each
		t.Run(name, func(t *testing.T) {
			bin, err := os.ReadFile(guests[name])
			if err != nil {
				t.Fatal(err)
			}
			out, err := instrument(bin)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(memory(t, out), memory(t, bin)) {
				t.Fatal("instrumented module starts with other bytes in memory")
			}
			before, after := dataSegments(t, bin), dataSegments(t, out)
			t.Logf("%d data segments, %d merged", before, after)
			if before > 1000 && after > before/10 {
				t.Errorf("%d data segments after merging %d", after, before)
			}
		})
	}
}

// dataSegments counts a module's data segments.
func dataSegments(t *testing.T, wasm []byte) int {
	t.Helper()
	r := &reader{b: wasm, off: 8}
	for r.off < len(r.b) && r.err == nil {
		id, payload := r.byte(), r.bytes(int(r.u32()))
		if id == secData {
			return int((&reader{b: payload}).u32())
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return 0
}

// FuzzMergeData checks that merged segments write the same bytes as the
// segments they replace, whatever their order, overlaps and gaps.
func FuzzMergeData(f *testing.F) {
	f.Add([]byte{0, 0, 2, 'a', 'b', 0, 3, 1, 'c', 0, 1, 3, 'x', 'y', 'z'})
	f.Add([]byte{0x10, 0, 1, 'a', 0, 0, 4, 'a', 'b', 'c', 'd', 0x10, 2, 1, 'q'})
	f.Fuzz(func(t *testing.T, spec []byte) {
		// Each segment is a 2-byte offset, a length byte and that many bytes.
		var segs []dataSeg
		for len(spec) >= 3 {
			off := int32(binary.BigEndian.Uint16(spec))
			n := min(int(spec[2]), len(spec)-3)
			segs = append(segs, dataSeg{off, spec[3 : 3+n]})
			spec = spec[3+n:]
		}
		in := encodeData(segs)
		out := mergeData(in)
		for _, size := range []int{1 << 16, 1 << 12} {
			want, n, wantOK := applyData(t, in, size)
			got, m, gotOK := applyData(t, out, size)
			if m > n {
				t.Fatalf("%d segments became %d", n, m)
			}
			if wantOK != gotOK {
				t.Fatalf("memory of %d bytes: original fits %v, merged %v", size, wantOK, gotOK)
			}
			if wantOK && !bytes.Equal(got, want) {
				t.Fatalf("memory of %d bytes: merged segments write other bytes", size)
			}
		}
	})
}
