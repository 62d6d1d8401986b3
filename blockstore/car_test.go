package blockstore

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
)

func carBlocks(t *testing.T, b []byte) ([]cid.Cid, map[cid.Cid][]byte, []cid.Cid) {
	t.Helper()
	br, err := carv2.NewBlockReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	m := map[cid.Cid][]byte{}
	var order []cid.Cid
	for {
		blk, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m[blk.Cid()] = blk.RawData()
		order = append(order, blk.Cid())
	}
	return br.Roots, m, order
}

func TestCARRoundTrip(t *testing.T) {
	v := loadVectors(t)
	cases := []struct{ file, root string }{
		{"tree.car", v.Directories["tree (ipfs add -r files/tree)"]["v1-default"]},
		{"hello.car", v.Files["hello.txt"]["v1-default"]},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			s := openTemp(t)
			in, err := os.ReadFile(filepath.Join(unixfsDir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			roots, err := s.ImportCAR(ctx, bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if len(roots) != 1 || roots[0].String() != c.root {
				t.Fatalf("roots = %v, want %s", roots, c.root)
			}
			var out bytes.Buffer
			if err := s.ExportCAR(ctx, roots[0], &out); err != nil {
				t.Fatal(err)
			}
			_, want, wantOrder := carBlocks(t, in)
			gotRoots, got, gotOrder := carBlocks(t, out.Bytes())
			if len(gotRoots) != 1 || gotRoots[0] != roots[0] {
				t.Errorf("exported roots %v", gotRoots)
			}
			if len(got) != len(want) || len(gotOrder) != len(got) {
				t.Fatalf("exported %d blocks (%d unique), want %d", len(gotOrder), len(got), len(want))
			}
			for k, b := range want {
				if !bytes.Equal(got[k], b) {
					t.Errorf("block %s differs", k)
				}
			}
			// kubo's export is DFS order too: same sequence.
			for i := range wantOrder {
				if wantOrder[i] != gotOrder[i] {
					t.Errorf("block %d: %s, kubo's CAR has %s", i, gotOrder[i], wantOrder[i])
					break
				}
			}
		})
	}
}

func TestImportCARRejectsBadBlock(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(unixfsDir, "tree.car"))
	if err != nil {
		t.Fatal(err)
	}
	_, blocks, order := carBlocks(t, in)
	// Flip one byte of the last block's data (the end of the file).
	last := blocks[order[len(order)-1]]
	bad := bytes.Clone(in)
	i := bytes.LastIndex(bad, last)
	bad[i+len(last)-1] ^= 0xff
	s := openTemp(t)
	ctx := context.Background()
	if _, err := s.ImportCAR(ctx, bytes.NewReader(bad)); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("ImportCAR(bad) = %v, want ErrBadBlock", err)
	}
	for _, c := range order {
		if ok, _ := s.Has(ctx, c); ok {
			t.Errorf("block %s stored from a bad CAR", c)
		}
	}
}

func TestExportTar(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	root := filepath.Join(unixfsDir, "files", "tree")
	e, err := s.AddPath(ctx, root, ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewDirBuilder(ProfileV1)
	if err := b.AddFile("x/tree", Entry{CID: e.CID, Tsize: e.Tsize}); err != nil {
		t.Fatal(err)
	}
	if err := b.Mkdir("empty"); err != nil {
		t.Fatal(err)
	}
	top, err := b.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.ExportTar(ctx, top.CID, "out", &buf); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = string(data)
	}
	want := []string{"out/", "out/empty/", "out/x/", "out/x/tree/", "out/x/tree/a.txt", "out/x/tree/sub/", "out/x/tree/sub/b.bin", "out/x/tree/sub/deeper/", "out/x/tree/sub/deeper/c.txt", "out/x/tree/ünïcødé.txt"}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) != len(want) {
		t.Fatalf("tar entries %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("tar entries %q, want %q", names, want)
		}
	}
	b2, _ := os.ReadFile(filepath.Join(root, "sub", "b.bin"))
	if got["out/x/tree/sub/b.bin"] != string(b2) {
		t.Error("b.bin content differs")
	}
	// A file root is one entry named name.
	buf.Reset()
	f, _ := s.AddFile(ctx, bytes.NewReader([]byte("hi")), ProfileV1)
	if err := s.ExportTar(ctx, f.CID, "hi.txt", &buf); err != nil {
		t.Fatal(err)
	}
	tr = tar.NewReader(&buf)
	h, err := tr.Next()
	if err != nil || h.Name != "hi.txt" {
		t.Fatalf("file tar: %v %v", h, err)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("file tar has more entries: %v", err)
	}
	if err := s.ExportTar(ctx, f.CID, "../evil", io.Discard); !errors.Is(err, ErrBadPath) {
		t.Errorf("ExportTar(../evil) = %v", err)
	}
}
