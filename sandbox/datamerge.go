package sandbox

import "sort"

// mergeGap is the largest run of zero bytes mergeData writes to join two
// data segments.
const mergeGap = 4 << 10

// maxRanges bounds the disjoint ranges mergeData tracks; a module that
// needs more is left as it is.
const maxRanges = 4096

// mergeData returns a data section payload that writes the same bytes to
// memory as payload, in fewer segments, or payload itself when it cannot
// tell that it would.
//
// Go's linker splits a module's data wherever it has 8 or more zero bytes,
// so a Go hello world carries some 30,000 active segments, and wazero v1.12
// allocates while it evaluates each one's offset: applying them took 5 ms of
// every instantiation, as much as running the guest. Joining neighbours,
// with the zero bytes between them written out, leaves a few hundred.
//
// A zero byte written out is only the same as one left alone if memory is
// zero there when the segment is applied: the memory is the module's own
// (imported memory may hold anything), and no earlier segment wrote to the
// gap. mergeData merges only when every segment is active, on memory 0,
// with an i32.const offset, and there is no data count section (so no
// instruction names a segment by its index, which merging changes). Segment
// order is kept; a segment that fails to fit in memory still makes
// instantiation fail, since a merged segment ends where its last part does.
func mergeData(payload []byte) []byte {
	type segment struct {
		lo, hi uint64 // [lo, hi) in memory
		data   []byte
	}
	r := &reader{b: payload}
	n := r.u32()
	if r.err != nil || n < 2 || uint64(n) > uint64(len(payload)) {
		return payload
	}
	segs := make([]segment, 0, n)
	for i := uint32(0); i < n; i++ {
		if r.u32() != 0 || r.byte() != 0x41 { // active on memory 0, i32.const
			return payload
		}
		off := r.s32()
		if r.byte() != 0x0B { // end of the offset expression
			return payload
		}
		data := r.bytes(int(r.u32()))
		if r.err != nil {
			return payload
		}
		lo := uint64(uint32(off))
		segs = append(segs, segment{lo: lo, hi: lo + uint64(len(data)), data: data})
	}
	if r.end() != nil {
		return payload
	}

	// done is the union of the ranges written before the current run:
	// disjoint, sorted, never adjacent. fill counts the zero bytes written out,
	// bounded (as is done's length) so that a hostile module cannot make
	// merging costly.
	var done []segment
	written := func(lo, hi uint64) bool {
		i := sort.Search(len(done), func(i int) bool { return done[i].hi > lo })
		return i < len(done) && done[i].lo < hi
	}
	add := func(lo, hi uint64) {
		i := sort.Search(len(done), func(i int) bool { return done[i].hi >= lo })
		k := i
		for k < len(done) && done[k].lo <= hi {
			lo, hi = min(lo, done[k].lo), max(hi, done[k].hi)
			k++
		}
		done = append(done[:i], append([]segment{{lo: lo, hi: hi}}, done[k:]...)...)
	}
	var out [][]segment
	var fill uint64
	cur := []segment{segs[0]}
	end := segs[0].hi
	for _, s := range segs[1:] {
		if s.lo >= end && s.lo-end <= mergeGap && fill+s.lo-end <= uint64(len(payload)) && (s.lo == end || !written(end, s.lo)) {
			fill += s.lo - end
			cur = append(cur, s)
			end = s.hi
			continue
		}
		if len(done) >= maxRanges {
			return payload
		}
		add(cur[0].lo, end)
		out = append(out, cur)
		cur, end = []segment{s}, s.hi
	}
	out = append(out, cur)
	if len(out) == len(segs) {
		return payload
	}

	b := appendU32(make([]byte, 0, len(payload)+len(payload)/4), uint32(len(out)))
	for _, run := range out {
		lo, hi := run[0].lo, run[len(run)-1].hi
		b = appendS32(append(b, 0x00, 0x41), int32(uint32(lo)))
		b = appendU32(append(b, 0x0B), uint32(hi-lo))
		at := lo
		for _, s := range run {
			for ; at < s.lo; at++ {
				b = append(b, 0)
			}
			b = append(b, s.data...)
			at = s.hi
		}
	}
	return b
}
