package blockstore

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"sync"
	"testing"
)

// pausedImport runs AddFile over data through a pipe, of which it writes
// data[:cut]; the returned function feeds the rest and returns the entry.
// It returns once the import has written its second pack chunk, so the
// first one is indexed.
func pausedImport(t *testing.T, s *Store, ctx context.Context, data []byte, cut int) func() Entry {
	t.Helper()
	pr, pw := io.Pipe()
	written := make(chan struct{})
	chunks := 0
	testHookPackWritten = func() {
		if chunks++; chunks == 2 {
			close(written)
		}
	}
	type result struct {
		e   Entry
		err error
	}
	done := make(chan result, 1)
	go func() {
		e, err := s.AddFile(ctx, pr, ProfileV1)
		done <- result{e, err}
	}()
	go func() {
		_, _ = pw.Write(data[:cut])
	}()
	<-written
	return func() Entry {
		if _, err := pw.Write(data[cut:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		r := <-done
		testHookPackWritten = nil
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.e
	}
}

// TestGCDuringImport: a GC that runs while an import is half done (part of
// it in packs and committed, the rest not yet read; some of its leaves
// reused from an unpinned file that GC would otherwise collect) deletes
// nothing the import needs.
func TestGCDuringImport(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	reused := genBytes("reused", 8<<20) // unpinned: collectable, but the import reuses it
	addBytes(t, s, ctx, reused, ProfileV1)
	data := append(append([]byte(nil), reused...), genBytes("import-rest", 100<<20)...)
	finish := pausedImport(t, s, ctx, data, 80<<20)
	res := mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	e := finish()
	mustPin(t, s, e.CID, PinInfo{Kind: PinData})
	if got := readFileFS(t, s, e.CID); !bytes.Equal(got, data) {
		t.Fatalf("import that ran during GC reads back wrong (GC: %+v)", res)
	}
	mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	verifyDAG(t, s, e.CID)
}

// TestHoldAcrossCalls: files added in separate calls under one Hold survive
// a GC run before the directory linking them is built and pinned; without
// the hold they are collected.
func TestHoldAcrossCalls(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a, b := genBytes("hold-a", 2<<20+1), genBytes("hold-b", 3000)
	loose := addBytes(t, s, ctx, genBytes("hold-loose", 1<<20), ProfileV1)
	looseBlocks := allBlocks(t, s, loose.CID)
	kept := addBytes(t, s, ctx, genBytes("hold-kept", 1<<20+9), ProfileV1)
	k := s.Hold() // keeps without writing: collects what others wrote since
	k.Keep(kept.CID)
	h := s.Hold()
	hctx := h.Context(ctx)
	ea, eb := addBytes(t, s, hctx, a, ProfileV1), addBytes(t, s, hctx, b, ProfileV1)
	loose2 := addBytes(t, s, ctx, genBytes("hold-loose2", 1<<20), ProfileV1)
	loose2Blocks := allBlocks(t, s, loose2.CID)

	mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	noneLeft(t, s, "file added outside the hold", looseBlocks)
	dir := s.NewDirBuilder(ProfileV1)
	if err := dir.AddFile("a", ea); err != nil {
		t.Fatal(err)
	}
	if err := dir.AddFile("sub/b", eb); err != nil {
		t.Fatal(err)
	}
	root, err := dir.Finish(hctx)
	if err != nil {
		t.Fatal(err)
	}
	mustPin(t, s, root.CID, PinInfo{Kind: PinData})
	verifyDAG(t, s, kept.CID)
	keptBlocks := allBlocks(t, s, kept.CID)
	h.Release()
	k.Release()
	mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	noneLeft(t, s, "kept root after Release", keptBlocks)
	noneLeft(t, s, "file written during the hold, after Release", loose2Blocks)
	fsys, err := NewFS(ctx, s.Blocks(), root.CID)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"a": a, "sub/b": b} {
		if got, err := fs.ReadFile(fsys, name); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestGCConcurrentReads: readers of a pinned file get correct bytes while a
// GC compacts every pack under them; a read through a location looked up
// before the compaction (its pack since deleted) finds the block's new home.
func TestGCConcurrentReads(t *testing.T) {
	s, err := Open(t.TempDir(), Options{packMaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var want []byte
	var parts []Entry
	for i := range 8 {
		p := genBytes("reads"+string(rune('a'+i)), 1<<20+i)
		want = append(want, p...)
		parts = append(parts, addBytes(t, s, ctx, p, ProfileV1))
		addBytes(t, s, ctx, genBytes("reads-garbage"+string(rune('a'+i)), 1<<20), ProfileV1)
	}
	e := addBytes(t, s, ctx, want, ProfileV1) // same leaves as the parts (deduplicated)
	mustPin(t, s, e.CID, PinInfo{Kind: PinData})
	leaf := leavesOf(t, s, e.CID)[0]
	oldLoc, ok, err := s.locate(leaf.Hash())
	if !ok || err != nil {
		t.Fatal("leaf not packed", err)
	}
	var inHook []byte
	testHookCompacted = func(id uint32) {
		if id != oldLoc.id || inHook != nil {
			return
		}
		// New locations committed, old pack not yet removed: both serve.
		inHook = make([]byte, oldLoc.n)
		if _, err := s.readPacked(leaf, oldLoc, inHook, 0); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookCompacted = nil }()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	reads := make([]int, 3)
	for r := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fsys, err := NewFS(ctx, s.Blocks(), e.CID)
			if err != nil {
				t.Error(err)
				return
			}
			for {
				got, err := fs.ReadFile(fsys, e.CID.String())
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("read during GC: %v", err)
					return
				}
				reads[r]++
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	res := mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	close(stop)
	wg.Wait()
	if res.PacksCompacted == 0 {
		t.Fatalf("nothing compacted: %+v", res)
	}
	if !bytes.Equal(inHook, want[:oldLoc.n]) {
		t.Error("read of the old location between commit and removal differs")
	}
	if _, ok := s.packs.files[oldLoc.id]; ok {
		t.Fatalf("pack %d not removed", oldLoc.id)
	}
	got := make([]byte, oldLoc.n)
	if _, err := s.readPacked(leaf, oldLoc, got, 0); err != nil || !bytes.Equal(got, want[:oldLoc.n]) {
		t.Errorf("read through a location of a removed pack: %v", err)
	}
	if got := readFileFS(t, s, e.CID); !bytes.Equal(got, want) {
		t.Error("pinned file differs after GC")
	}
	if st := mustStat(t, s); st.PackDeadBytes != 0 {
		t.Errorf("dead pack bytes after a full GC: %+v", st)
	}
}

// TestGCConcurrentImports: imports, pins and GCs running at once lose
// nothing that was pinned.
func TestGCConcurrentImports(t *testing.T) {
	s, err := Open(t.TempDir(), Options{packMaxBytes: 6 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	type added struct {
		e    Entry
		data []byte
	}
	out := make(chan added, 64)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 6 {
				data := genBytes(string(rune('a'+w))+"conc-imp"+string(rune('0'+i)), 1<<20+i*4099)
				h := s.Hold()
				e, err := s.AddFile(h.Context(ctx), bytes.NewReader(data), ProfileV1)
				if err == nil {
					err = s.Pin(ctx, e.CID, PinInfo{Kind: PinData})
				}
				h.Release()
				if err != nil {
					t.Error(err)
					return
				}
				addBytes(t, s, ctx, genBytes(string(rune('a'+w))+"conc-junk"+string(rune('0'+i)), 1<<20), ProfileV1)
				out <- added{e, data}
			}
		}()
	}
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for range 4 {
			if _, err := s.GC(ctx, GCOptions{MinDeadFraction: minDeadAny}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	<-gcDone
	close(out)
	mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	n := 0
	for a := range out {
		n++
		if got := readFileFS(t, s, a.e.CID); !bytes.Equal(got, a.data) {
			t.Errorf("%s differs", a.e.CID)
		}
	}
	if n != 12 {
		t.Errorf("%d imports", n)
	}
	if st := mustStat(t, s); st.PackDeadBytes != 0 || st.PackLiveBytes != 12<<20+2*(4099*15) {
		t.Errorf("after the last GC: %+v", st)
	}
}

// TestGCWritesDuringMark: what a hold writes between a GC's mark and its
// sweep (pebble blocks: a CIDv0 file, and a reused unpinned leaf) stays,
// though nothing pinned it yet.
func TestGCWritesDuringMark(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	old := genBytes("mark-old", 1<<20)
	addBytes(t, s, ctx, old, ProfileV1) // unpinned: collectable unless reused
	h := s.Hold()
	defer h.Release()
	v0 := genBytes("mark-v0", 1<<20+3)
	var e0, e1 Entry
	testHookMarked = func() {
		e0 = addBytes(t, s, h.Context(ctx), v0, ProfileV0)
		e1 = addBytes(t, s, h.Context(ctx), old, ProfileV1)
	}
	defer func() { testHookMarked = nil }()
	mustGC(t, s, GCOptions{MinDeadFraction: minDeadAny})
	testHookMarked = nil
	if got := readFileFS(t, s, e0.CID); !bytes.Equal(got, v0) {
		t.Error("CIDv0 file written during the GC differs")
	}
	if got := readFileFS(t, s, e1.CID); !bytes.Equal(got, old) {
		t.Error("file reusing unpinned leaves during the GC differs")
	}
}
