package blockstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// allBlocks returns every block under root (inner nodes and leaves), in DAG
// order.
func allBlocks(t *testing.T, s *Store, root cid.Cid) []cid.Cid {
	t.Helper()
	var out []cid.Cid
	seen := map[cid.Cid]bool{}
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		if seen[c] {
			return
		}
		seen[c] = true
		out = append(out, c)
		if isEmptyBlock(c) {
			return
		}
		var links []cid.Cid
		err := localGetter{s}.viewBlock(context.Background(), c, func(data []byte) error {
			var err error
			links, err = blockLinks(c, data)
			return err
		})
		if err != nil {
			t.Fatalf("walk %s: %v", c, err)
		}
		for _, l := range links {
			walk(l)
		}
	}
	walk(root)
	return out
}

// verifyDAG reads every block under root back and checks it hashes to its
// CID.
func verifyDAG(t *testing.T, s *Store, root cid.Cid) {
	t.Helper()
	for _, c := range allBlocks(t, s, root) {
		b, err := s.Blocks().GetBlock(context.Background(), c)
		if err != nil {
			t.Fatalf("block %s: %v", c, err)
		}
		if err := verifyBlock(c, b.RawData()); err != nil {
			t.Fatalf("block %s: %v", c, err)
		}
	}
}

// noneLeft checks that none of cs is stored (the empty block always is).
func noneLeft(t *testing.T, s *Store, what string, cs []cid.Cid) {
	t.Helper()
	left := 0
	for _, c := range cs {
		if isEmptyBlock(c) {
			continue
		}
		if ok, err := s.Has(context.Background(), c); err != nil {
			t.Fatal(err)
		} else if ok {
			left++
		}
	}
	if left > 0 {
		t.Errorf("%s: %d of %d blocks left after GC", what, left, len(cs))
	}
}

func addBytes(t *testing.T, s *Store, ctx context.Context, data []byte, opts AddOptions) Entry {
	t.Helper()
	e, err := s.AddFile(ctx, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustPin(t *testing.T, s *Store, c cid.Cid, info PinInfo) {
	t.Helper()
	if err := s.Pin(context.Background(), c, info); err != nil {
		t.Fatal(err)
	}
}

func mustGC(t *testing.T, s *Store, opts GCOptions) GCResult {
	t.Helper()
	res, err := s.GC(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustStat(t *testing.T, s *Store) RepoStat {
	t.Helper()
	st, err := s.Stat(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.DiskBytes != st.PebbleBytes+st.PackBytes || st.PackBytes != st.PackLiveBytes+st.PackDeadBytes {
		t.Fatalf("stat does not add up: %+v", st)
	}
	return st
}

// TestGCKeepsPinned: a pinned file and a pinned directory survive a GC byte
// for byte (read through NewFS, every block re-hashed), unpinned ones are
// gone, and the packs they filled are compacted to the live bytes.
func TestGCKeepsPinned(t *testing.T) {
	s, err := Open(t.TempDir(), Options{packMaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var keep, drop []Entry
	var keepData [][]byte
	for i := range 6 {
		data := genBytes("gc-keep"+string(rune('a'+i)), 3<<20+i*777)
		garbage := genBytes("gc-drop"+string(rune('a'+i)), 3<<20+i*555)
		keep, keepData = append(keep, addBytes(t, s, ctx, data, ProfileV1)), append(keepData, data)
		drop = append(drop, addBytes(t, s, ctx, garbage, ProfileV1))
	}
	v0 := genBytes("gc-v0", 2<<20+99)
	keepV0 := addBytes(t, s, ctx, v0, ProfileV0) // leaves in pebble
	dropV0 := addBytes(t, s, ctx, genBytes("gc-v0-drop", 2<<20), ProfileV0)
	dir := s.NewDirBuilder(ProfileV1)
	for i, e := range keep[:3] {
		if err := dir.AddFile("d/f"+string(rune('0'+i)), e); err != nil {
			t.Fatal(err)
		}
	}
	dirE, err := dir.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range keep[3:] {
		mustPin(t, s, e.CID, PinInfo{Kind: PinData})
	}
	mustPin(t, s, dirE.CID, PinInfo{Kind: PinResult, Label: "job-1"})
	mustPin(t, s, keepV0.CID, PinInfo{Kind: PinData})
	var dropped []cid.Cid
	for _, e := range append(drop, dropV0) {
		dropped = append(dropped, allBlocks(t, s, e.CID)...)
	}
	before := mustStat(t, s)

	res := mustGC(t, s, GCOptions{})
	if res.BlocksFreed == 0 || res.PacksCompacted == 0 || res.DiskAfter >= res.DiskBefore {
		t.Errorf("GC freed nothing: %+v", res)
	}
	noneLeft(t, s, "unpinned files", dropped)
	for i, e := range keep {
		if got := readFileFS(t, s, e.CID); !bytes.Equal(got, keepData[i]) {
			t.Errorf("pinned file %d differs after GC", i)
		}
		verifyDAG(t, s, e.CID)
	}
	fsys, err := NewFS(ctx, s.Blocks(), dirE.CID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		got, err := fs.ReadFile(fsys, "d/f"+string(rune('0'+i)))
		if err != nil || !bytes.Equal(got, keepData[i]) {
			t.Errorf("file %d of the pinned directory: %v", i, err)
		}
	}
	verifyDAG(t, s, dirE.CID)
	if got := readFileFS(t, s, keepV0.CID); !bytes.Equal(got, v0) {
		t.Error("pinned CIDv0 file differs after GC")
	}
	after := mustStat(t, s)
	if after.PackBytes >= before.PackBytes || after.Blocks >= before.Blocks {
		t.Errorf("stat before %+v after %+v", before, after)
	}
	// A second GC finds nothing more to do.
	res = mustGC(t, s, GCOptions{})
	if res.BlocksFreed != 0 {
		t.Errorf("second GC freed %d blocks", res.BlocksFreed)
	}
}

// TestGCExpiredPin: a pin past its expiry protects nothing and is removed;
// one not yet expired keeps its DAG; an extra root keeps its DAG for one GC.
func TestGCExpiredPin(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	old := addBytes(t, s, ctx, genBytes("exp-old", 1<<20+1), ProfileV1)
	fresh := addBytes(t, s, ctx, genBytes("exp-fresh", 1<<20+2), ProfileV1)
	extra := addBytes(t, s, ctx, genBytes("exp-extra", 1<<20+3), ProfileV1)
	mustPin(t, s, old.CID, PinInfo{Kind: PinResult, Label: "j1", Expires: now.Add(-time.Second)})
	mustPin(t, s, fresh.CID, PinInfo{Kind: PinResult, Label: "j2", Expires: now.Add(time.Hour)})
	oldBlocks := allBlocks(t, s, old.CID)

	res := mustGC(t, s, GCOptions{Now: now, Roots: []cid.Cid{extra.CID}})
	if res.PinsExpired != 1 {
		t.Errorf("PinsExpired = %d, want 1", res.PinsExpired)
	}
	noneLeft(t, s, "expired pin", oldBlocks)
	verifyDAG(t, s, fresh.CID)
	verifyDAG(t, s, extra.CID)
	var pins []Pinned
	for p, err := range s.Pins(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
	}
	if len(pins) != 1 || pins[0].Root != fresh.CID || pins[0].Label != "j2" {
		t.Errorf("pins after GC: %+v", pins)
	}
	extraBlocks, freshBlocks := allBlocks(t, s, extra.CID), allBlocks(t, s, fresh.CID)
	mustGC(t, s, GCOptions{Now: now.Add(2 * time.Hour)})
	noneLeft(t, s, "extra root of an earlier GC", extraBlocks)
	noneLeft(t, s, "pin expired at the second GC", freshBlocks)
}

// TestGCSharedDAG: blocks shared by a pinned and an unpinned DAG stay; the
// unpinned DAG's own blocks go.
func TestGCSharedDAG(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	shared := genBytes("shared", 2<<20+4321)
	se := addBytes(t, s, ctx, shared, ProfileV1)
	x := addBytes(t, s, ctx, genBytes("only-pinned", 1<<20+5), ProfileV1)
	y := addBytes(t, s, ctx, genBytes("only-unpinned", 1<<20+6), ProfileV1)
	mkdir := func(other Entry) Entry {
		b := s.NewDirBuilder(ProfileV1)
		if err := b.AddFile("shared.bin", se); err != nil {
			t.Fatal(err)
		}
		if err := b.AddFile("own.bin", other); err != nil {
			t.Fatal(err)
		}
		e, err := b.Finish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	pinned, unpinned := mkdir(x), mkdir(y)
	mustPin(t, s, pinned.CID, PinInfo{Kind: PinData})
	yBlocks := append(allBlocks(t, s, y.CID), unpinned.CID)
	mustGC(t, s, GCOptions{})
	noneLeft(t, s, "unpinned directory's own blocks", yBlocks)
	verifyDAG(t, s, pinned.CID)
	if got := readFileFS(t, s, se.CID); !bytes.Equal(got, shared) {
		t.Error("shared file differs")
	}
}

func TestPins(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	e := addBytes(t, s, ctx, genBytes("pins", 5000), ProfileV1)
	exp := time.Unix(1900000000, 0)
	mustPin(t, s, e.CID, PinInfo{Kind: PinData})
	mustPin(t, s, e.CID, PinInfo{Kind: PinResult, Label: "job-a", Expires: exp})
	mustPin(t, s, e.CID, PinInfo{Kind: PinResult, Label: "job-a", Expires: exp}) // replaces
	var got []Pinned
	for p, err := range s.Pins(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 2 || got[0].Kind != PinData || !got[0].Expires.IsZero() ||
		got[1].Kind != PinResult || got[1].Label != "job-a" || !got[1].Expires.Equal(exp) || got[1].Created.IsZero() {
		t.Fatalf("pins: %+v", got)
	}
	missing := addBytes(t, openTemp(t), ctx, genBytes("elsewhere", 100), ProfileV1)
	for _, c := range []struct {
		root cid.Cid
		info PinInfo
		want error
	}{
		{missing.CID, PinInfo{Kind: PinData}, ErrNotFound},
		{e.CID, PinInfo{}, ErrBadOptions},
		{e.CID, PinInfo{Kind: "a\x00b"}, ErrBadOptions},
		{e.CID, PinInfo{Kind: PinData, Label: string(make([]byte, 300))}, ErrBadOptions},
		{cid.Undef, PinInfo{Kind: PinData}, ErrBadOptions},
	} {
		if err := s.Pin(ctx, c.root, c.info); !errors.Is(err, c.want) {
			t.Errorf("Pin(%v, %+v) = %v, want %v", c.root, c.info, err, c.want)
		}
	}
	if err := s.Unpin(ctx, e.CID, PinResult, "job-b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unpin of a missing pin: %v", err)
	}
	if err := s.Unpin(ctx, e.CID, PinResult, "job-a"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range s.Pins(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if st := mustStat(t, s); n != 1 || st.Pins != 1 {
		t.Errorf("after Unpin: %d pins listed, Stat says %d", n, st.Pins)
	}
}

// TestPinsSurviveReopen: pins are durable.
func TestPinsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := genBytes("reopen-pin", 1<<20+7)
	e := addBytes(t, s, ctx, data, ProfileV1)
	mustPin(t, s, e.CID, PinInfo{Kind: PinData})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustGC(t, s, GCOptions{})
	if got := readFileFS(t, s, e.CID); !bytes.Equal(got, data) {
		t.Error("pinned file differs after reopen and GC")
	}
}

// TestGCReclaimsPebble: blocks kept in pebble (CIDv0 leaves) leave its
// files once collected.
func TestGCReclaimsPebble(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	for i := range 4 {
		addBytes(t, s, ctx, genBytes("pebble-v0"+string(rune('a'+i)), 16<<20), ProfileV0)
	}
	before := mustStat(t, s)
	res := mustGC(t, s, GCOptions{})
	after := mustStat(t, s)
	if res.BytesFreed < 64<<20 || after.PebbleBytes > before.PebbleBytes-32<<20 || res.DiskAfter > before.DiskBytes-32<<20 {
		t.Errorf("pebble bytes %d -> %d after freeing %d (GC %+v)", before.PebbleBytes, after.PebbleBytes, res.BytesFreed, res)
	}
}

// TestCloseDuringGC: Close stops a running GC and waits for it; the store
// reopens whole, and GC after Close fails with ErrClosed.
func TestCloseDuringGC(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := genBytes("close-gc", 2<<20)
	e := addBytes(t, s, ctx, data, ProfileV1)
	mustPin(t, s, e.CID, PinInfo{Kind: PinData})
	addBytes(t, s, ctx, genBytes("close-gc-junk", 2<<20), ProfileV1)
	closed := make(chan error, 1)
	testHookMarked = func() {
		go func() { closed <- s.Close() }()
		<-s.closing.Done()
	}
	defer func() { testHookMarked = nil }()
	_, gcErr := s.GC(ctx, GCOptions{})
	if gcErr == nil {
		t.Error("GC went on after Close began")
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(ctx, GCOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("GC after Close: %v", err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := readFileFS(t, s, e.CID); !bytes.Equal(got, data) {
		t.Error("pinned file differs after a GC stopped by Close")
	}
}

// TestAddPathPinned: the tree added is the one AddPath adds, it is pinned
// (a GC keeps it, across a reopen), and a bad pin adds nothing.
func TestAddPathPinned(t *testing.T) {
	dir, tree := t.TempDir(), t.TempDir()
	ctx := context.Background()
	data := genBytes("pinned-tree", 300<<10+3)
	if err := os.WriteFile(filepath.Join(tree, "f"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "small"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddPathPinned(ctx, tree, ProfileV1, PinInfo{}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("pin without a kind: %v, want ErrBadOptions", err)
	}
	if mustGC(t, s, GCOptions{}).BlocksFreed != 0 {
		t.Error("a refused AddPathPinned left blocks behind")
	}
	e, err := s.AddPathPinned(ctx, tree, ProfileV1, PinInfo{Kind: PinResult, Label: "job-1"})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.AddPath(ctx, tree, ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	if e.CID != plain.CID {
		t.Fatalf("AddPathPinned gave %s, AddPath %s", e.CID, plain.CID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pins []Pinned
	for p, err := range s.Pins(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, p)
	}
	if len(pins) != 1 || pins[0].Root != e.CID || pins[0].Kind != PinResult || pins[0].Label != "job-1" {
		t.Fatalf("pins after reopen: %+v, want one result pin of %s", pins, e.CID)
	}
	if res := mustGC(t, s, GCOptions{}); res.BlocksFreed != 0 {
		t.Errorf("GC freed %d blocks of the pinned tree", res.BlocksFreed)
	}
	fsys, err := NewFS(ctx, s.Blocks(), e.CID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fs.ReadFile(fsys, "f"); err != nil || !bytes.Equal(got, data) {
		t.Errorf("pinned file after reopen and GC: %d bytes, %v", len(got), err)
	}
}
