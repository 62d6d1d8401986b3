package blockstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	upb "github.com/ipfs/boxo/ipld/unixfs/pb"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// leavesOf returns the CIDs of the blocks under root, in DAG order.
func leavesOf(t *testing.T, s *Store, root cid.Cid) []cid.Cid {
	t.Helper()
	var out []cid.Cid
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		err := localGetter{s}.viewBlock(context.Background(), c, func(data []byte) error {
			links, err := blockLinks(c, data)
			if err != nil {
				return err
			}
			if len(links) == 0 {
				out = append(out, c)
			}
			for _, l := range links {
				walk(l)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk(root)
	return out
}

// wherePut reports whether c is in the pack index and whether it is in
// pebble's blocks.
func wherePut(t *testing.T, s *Store, c cid.Cid) (packed, inPebble bool) {
	t.Helper()
	_, packed, err := s.locate(c.Hash())
	if err != nil {
		t.Fatal(err)
	}
	inPebble, err = s.inPebble(blockKey(c))
	if err != nil {
		t.Fatal(err)
	}
	return packed, inPebble
}

func readFileFS(t *testing.T, s *Store, root cid.Cid) []byte {
	t.Helper()
	fsys, err := NewFS(context.Background(), s.Blocks(), root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.ReadFile(fsys, root.String())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func packSizes(t *testing.T, dir string) []int64 {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, packDirName))
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fi.Size())
	}
	return out
}

func TestPackPlacement(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	data := genBytes("place", 1<<20+5000) // four full leaves and a 5000-byte tail
	v1, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	leaves := leavesOf(t, s, v1.CID)
	if len(leaves) != 5 {
		t.Fatalf("%d leaves", len(leaves))
	}
	for _, l := range leaves {
		if p, q := wherePut(t, s, l); !p || q {
			t.Errorf("v1 leaf %s: packed %v, in pebble %v", l, p, q)
		}
	}
	if p, q := wherePut(t, s, v1.CID); p || !q {
		t.Errorf("v1 root: packed %v, in pebble %v", p, q)
	}
	// CIDv0 leaves are dag-pb and stay in pebble, as do raw blocks of 4 KiB.
	v0, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leavesOf(t, s, v0.CID) {
		if p, q := wherePut(t, s, l); p || !q {
			t.Errorf("v0 leaf %s: packed %v, in pebble %v", l, p, q)
		}
	}
	small, err := s.AddFile(ctx, bytes.NewReader(data[:packMinSize]), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	if p, q := wherePut(t, s, small.CID); p || !q {
		t.Errorf("4 KiB raw block: packed %v, in pebble %v", p, q)
	}
	for _, e := range []Entry{v1, v0, small} {
		if got := readFileFS(t, s, e.CID); !bytes.Equal(got, data[:e.Size]) {
			t.Errorf("%s: read back %d bytes, differ", e.CID, len(got))
		}
	}
	// Keys are multihashes: a dag-pb CID of a packed leaf's hash names it.
	alias := cid.NewCidV1(cid.DagProtobuf, leaves[0].Hash())
	if ok, err := s.Has(ctx, alias); !ok || err != nil {
		t.Errorf("Has(dag-pb alias of a packed leaf) = %v, %v", ok, err)
	}
	b, err := s.Blocks().GetBlock(ctx, alias)
	if err != nil || !bytes.Equal(b.RawData(), data[:defaultChunkSize]) {
		t.Errorf("GetBlock(alias) = %v", err)
	}
	if n, err := (localGetter{s}).blockSize(ctx, alias); n != defaultChunkSize || err != nil {
		t.Errorf("blockSize(alias) = %d, %v", n, err)
	}
}

func TestPackDedup(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	zeros := make([]byte, 8<<20)
	if _, err := s.AddFile(ctx, bytes.NewReader(zeros), ProfileV1); err != nil {
		t.Fatal(err)
	}
	if got := packSizes(t, dir); len(got) != 1 || got[0] != defaultChunkSize {
		t.Fatalf("pack sizes after 8 MiB of zeros: %v, want one leaf", got)
	}
	data := genBytes("dedup", 3<<20)
	e, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	before := packSizes(t, dir)
	if _, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1); err != nil {
		t.Fatal(err)
	}
	if after := packSizes(t, dir); after[0] != before[0] {
		t.Errorf("re-adding a file grew the pack: %v -> %v", before, after)
	}
	if !bytes.Equal(readFileFS(t, s, e.CID), data) {
		t.Error("file differs")
	}
}

// TestPackReopen: packed blocks survive close and reopen, across several
// packs, and appends continue after what is there.
func TestPackReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	opts := Options{packMaxBytes: 3 << 20}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var files [][]byte
	var ents []Entry
	add := func(s *Store, seed string, n int) {
		data := genBytes(seed, n)
		e, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
		if err != nil {
			t.Fatal(err)
		}
		files, ents = append(files, data), append(ents, e)
	}
	for i, n := range []int{2 << 20, 2 << 20, 5000, 1 << 20} {
		add(s, "reopen"+string(rune('a'+i)), n)
	}
	check := func(s *Store) {
		t.Helper()
		for i, e := range ents {
			if got := readFileFS(t, s, e.CID); !bytes.Equal(got, files[i]) {
				t.Errorf("file %d differs after reopen", i)
			}
			var car bytes.Buffer
			if err := s.ExportCAR(ctx, e.CID, &car); err != nil {
				t.Fatal(err)
			}
			s2 := openTemp(t)
			if _, err := s2.ImportCAR(ctx, &car); err != nil {
				t.Fatalf("file %d: CAR of packed blocks does not verify: %v", i, err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := packSizes(t, dir); len(got) < 2 {
		t.Fatalf("packs %v, want rolled at 3 MiB", got)
	}
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	check(s)
	add(s, "reopen-more", 3<<20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
}

// TestPackCrash copies the store directory at the worst moment, as a crash
// would leave it: pack bytes written and synced, their index not yet
// committed. The copy opens, holds every file added before, none of the
// new file's leaves, and takes further adds after the unindexed bytes.
func TestPackCrash(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := genBytes("crash-old", 3<<20)
	eOld, err := s.AddFile(ctx, bytes.NewReader(old), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	snap := t.TempDir()
	var once sync.Once
	testHookPackWritten = func() {
		once.Do(func() {
			if err := os.CopyFS(snap, os.DirFS(dir)); err != nil {
				t.Error(err)
			}
		})
	}
	defer func() { testHookPackWritten = nil }()
	lost := genBytes("crash-new", 3<<20)
	eLost, err := s.AddFile(ctx, bytes.NewReader(lost), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	testHookPackWritten = nil
	sizes := packSizes(t, snap)
	if len(sizes) != 1 || sizes[0] != 6<<20 {
		t.Fatalf("snapshot pack sizes %v, want the new file's bytes in it", sizes)
	}

	s2, err := Open(snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := readFileFS(t, s2, eOld.CID); !bytes.Equal(got, old) {
		t.Error("old file differs in the snapshot")
	}
	for _, l := range leavesOf(t, s, eLost.CID) {
		if ok, err := s2.Has(ctx, l); ok || err != nil {
			t.Errorf("snapshot Has(%s) = %v, %v: an index entry outlived the crash", l, ok, err)
		}
	}
	again, err := s2.AddFile(ctx, bytes.NewReader(lost), ProfileV1)
	if err != nil || again.CID != eLost.CID {
		t.Fatalf("re-add after crash: %v %v", again.CID, err)
	}
	if got := packSizes(t, snap); got[0] != 9<<20 {
		t.Errorf("pack after re-add: %v, want appended after the garbage", got)
	}
	if got := readFileFS(t, s2, eLost.CID); !bytes.Equal(got, lost) {
		t.Error("re-added file differs")
	}
}

// TestPackGarbageIgnored: bytes appended to a pack without an index entry
// (a crash between write and commit, or a torn write) change nothing.
func TestPackGarbageIgnored(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := genBytes("garbage-a", 1<<20+77777)
	ea, err := s.AddFile(ctx, bytes.NewReader(a), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	pack := filepath.Join(dir, packDirName, packName(1))
	f, err := os.OpenFile(pack, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte{0xde, 0xad}, 12345)
	if _, err := f.Write(garbage); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := genBytes("garbage-b", 2<<20)
	eb, err := s.AddFile(ctx, bytes.NewReader(b), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		e    Entry
		data []byte
	}{{ea, a}, {eb, b}} {
		if got := readFileFS(t, s, c.e.CID); !bytes.Equal(got, c.data) {
			t.Errorf("%s differs", c.e.CID)
		}
	}
	l, ok, err := s.locate(leavesOf(t, s, eb.CID)[0].Hash())
	if !ok || err != nil || l.off != int64(len(a))+int64(len(garbage)) {
		t.Errorf("first new leaf at %+v (%v %v), want after the garbage", l, ok, err)
	}
}

// TestReadBlockAt: any offset and length of a packed block, a raw block in
// pebble and a dag-pb block reads as the block's bytes.
func TestReadBlockAt(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	var ra BlockReaderAt
	ra, ok := s.Blocks().(BlockReaderAt)
	if !ok {
		t.Fatal("local getter is not a BlockReaderAt")
	}
	big := genBytes("rba", 200000)
	small := genBytes("rba-small", 3000)
	bigC, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum(big)
	smallC, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum(small)
	pbNode := merkledag.NodeWithData(unixfs.FilePBData(genBytes("rba-pb", 9000), 9000))
	for _, b := range []blocks.Block{mustBlock(t, big, bigC), mustBlock(t, small, smallC), pbNode} {
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if p, q := wherePut(t, s, bigC); !p || q {
		t.Fatalf("Put of a 200000-byte raw block: packed %v, in pebble %v", p, q)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, b := range []struct {
		c    cid.Cid
		data []byte
	}{{bigC, big}, {smallC, small}, {pbNode.Cid(), pbNode.RawData()}} {
		size := len(b.data)
		cases := [][2]int{{0, size}, {0, 0}, {size, 1}, {size + 5, 1}, {size - 1, 10}, {0, size + 1}}
		for range 200 {
			off := rng.IntN(size + 2)
			cases = append(cases, [2]int{off, rng.IntN(size + 2)})
		}
		for _, cs := range cases {
			off, n := cs[0], cs[1]
			p := make([]byte, n)
			got, err := ra.ReadBlockAt(ctx, b.c, p, int64(off))
			want := 0
			if off < size {
				want = min(n, size-off)
			}
			if got != want {
				t.Fatalf("%s: ReadBlockAt(len %d, off %d) = %d, want %d", b.c, n, off, got, want)
			}
			if want < n && !errors.Is(err, io.EOF) || want == n && err != nil {
				t.Fatalf("%s: ReadBlockAt(len %d, off %d) err %v", b.c, n, off, err)
			}
			if !bytes.Equal(p[:got], b.data[off:off+got]) {
				t.Fatalf("%s: ReadBlockAt(len %d, off %d) bytes differ", b.c, n, off)
			}
		}
	}
	missing, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("missing"))
	if _, err := ra.ReadBlockAt(ctx, missing, make([]byte, 4), 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing block: %v", err)
	}
}

func mustBlock(t *testing.T, data []byte, c cid.Cid) blocks.Block {
	t.Helper()
	b, err := blocks.NewBlockWithCid(data, c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMixedLeaves reads a file whose leaves are packed raw blocks, raw
// blocks kept in pebble, dag-pb leaves and an intermediate node, at every
// kind of offset and length.
func TestMixedLeaves(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	rawPrefix := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}
	var want []byte
	type part struct {
		c    cid.Cid
		size uint64
	}
	putRaw := func(data []byte) part {
		c, _ := rawPrefix.Sum(data)
		if err := s.Put(ctx, mustBlock(t, data, c)); err != nil {
			t.Fatal(err)
		}
		return part{c, uint64(len(data))}
	}
	putFile := func(inline []byte, parts ...part) part {
		n := unixfs.NewFSNode(upb.Data_File)
		n.SetData(inline)
		nd := new(merkledag.ProtoNode)
		nd.SetCidBuilder(v1)
		for _, p := range parts {
			n.AddBlockSize(p.size)
			if err := nd.AddRawLink("", &ipld.Link{Cid: p.c, Size: p.size}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := n.GetBytes()
		if err != nil {
			t.Fatal(err)
		}
		nd.SetData(b)
		if err := s.Put(ctx, nd); err != nil {
			t.Fatal(err)
		}
		return part{nd.Cid(), n.FileSize()}
	}
	seg := func(seed string, n int) []byte {
		b := genBytes(seed, n)
		want = append(want, b...)
		return b
	}
	p1 := putRaw(seg("m1", 300000)) // packed
	p2 := putRaw(seg("m2", 4000))   // pebble
	p3 := putFile(seg("m3", 5000))  // dag-pb leaf
	p4 := putRaw(seg("m4", 70000))  // packed
	p5 := putRaw(seg("m5", 1))      // pebble
	inner := putFile(nil, p4, p5)
	p6 := putRaw(seg("m6", 250000))
	root := putFile(nil, p1, p2, p3, inner, p6)
	if p, _ := wherePut(t, s, p1.c); !p {
		t.Fatal("300000-byte leaf not packed")
	}
	fsys, err := NewFS(ctx, s.Blocks(), root.c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open(root.c.String())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ra := f.(io.ReaderAt)
	size := len(want)
	rng := rand.New(rand.NewPCG(3, 4))
	cases := [][2]int{{0, size}, {0, size + 10}, {299999, 2}, {300000, 4000}, {303999, 5002}, {size - 1, 1}}
	for range 500 {
		cases = append(cases, [2]int{rng.IntN(size), rng.IntN(400000)})
	}
	for _, cs := range cases {
		off, n := cs[0], cs[1]
		p := make([]byte, n)
		got, err := ra.ReadAt(p, int64(off))
		exp := min(n, size-off)
		if got != exp || (exp < n) != errors.Is(err, io.EOF) || (exp == n && err != nil) {
			t.Fatalf("ReadAt(len %d, off %d) = %d, %v; want %d", n, off, got, err, exp)
		}
		if !bytes.Equal(p[:got], want[off:off+got]) {
			t.Fatalf("ReadAt(len %d, off %d): bytes differ", n, off)
		}
	}
	// Parallel ReadAt on one file, as io.ReaderAt allows.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 100 {
				off, n := rng.IntN(size), rng.IntN(300000)
				p := make([]byte, n)
				got, _ := ra.ReadAt(p, int64(off))
				if got != min(n, size-off) || !bytes.Equal(p[:got], want[off:off+got]) {
					t.Errorf("parallel ReadAt(len %d, off %d) = %d bytes, differ", n, off, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Small sequential reads, as a guest with a small buffer makes.
	var seq bytes.Buffer
	if _, err := io.CopyBuffer(&seq, struct{ io.Reader }{f}, make([]byte, 4093)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(seq.Bytes(), want) {
		t.Error("sequential read differs")
	}
}

// TestConcurrentReadAdd reads packed files while other goroutines add files
// (rolling packs) to the same store.
func TestConcurrentReadAdd(t *testing.T) {
	s, err := Open(t.TempDir(), Options{packMaxBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	base := genBytes("conc", 3<<20+1234)
	e, err := s.AddFile(ctx, bytes.NewReader(base), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				data := genBytes(string(rune('a'+w))+string(rune('0'+i)), 2<<20+i*1000)
				e, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
				if err != nil {
					t.Error(err)
					return
				}
				fsys, err := NewFS(ctx, s.Blocks(), e.CID)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := fs.ReadFile(fsys, e.CID.String()); err != nil || !bytes.Equal(got, data) {
					t.Errorf("fresh file differs: %v", err)
				}
			}
		}()
	}
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fsys, err := NewFS(ctx, s.Blocks(), e.CID)
			if err != nil {
				t.Error(err)
				return
			}
			for range 6 {
				got, err := fs.ReadFile(fsys, e.CID.String())
				if err != nil || !bytes.Equal(got, base) {
					t.Errorf("read while adding: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
