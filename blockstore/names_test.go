package blockstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
)

// A directory entry name longer than 255 bytes (the was 9 KB) is a malformed
// DAG for the reader, in a basic directory and in a HAMT shard, when listed and when
// looked up; 255 bytes is fine.
func TestLongEntryNamesRejectedByReader(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("n", 9000)
	max := strings.Repeat("m", MaxNameLen)

	g := newMem(false)
	leaf := g.raw([]byte("data"))
	basic := g.dir(t, lk(long, leaf), lk("ok", leaf))
	fine := g.dir(t, lk(max, leaf))

	s := openTemp(t)
	w := s.newWriter(context.Background())
	hd, err := uio.NewHAMTDirectory(w, 0)
	if err != nil {
		t.Fatal(err)
	}
	hd.SetCidBuilder(v1)
	fileNode := merkledag.NewRawNode([]byte("data"))
	if err := w.Add(ctx, fileNode); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{long, "ok"} {
		if err := hd.AddChild(ctx, name, fileNode); err != nil {
			t.Fatal(err)
		}
	}
	hnd, err := hd.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(ctx, hnd); err != nil {
		t.Fatal(err)
	}
	if err := w.done(); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		fsys func() (fs.FS, error)
	}{
		{"basic", func() (fs.FS, error) { return NewFS(ctx, g, basic) }},
		{"hamt", func() (fs.FS, error) { return NewFS(ctx, s.Blocks(), hnd.Cid()) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys, err := c.fsys()
			if err != nil {
				t.Fatal(err)
			}
			ents, err := fs.ReadDir(fsys, ".")
			if !errors.Is(err, ErrBadDAG) || !strings.Contains(err.Error(), "longer than 255 bytes") {
				t.Fatalf("ReadDir = %d entries, %v; want ErrBadDAG naming the 255-byte limit", len(ents), err)
			}
			if len(err.Error()) > 400 {
				t.Errorf("the error quotes the whole name: %d bytes", len(err.Error()))
			}
			if _, err := fs.ReadFile(fsys, long); !errors.Is(err, ErrBadDAG) {
				t.Fatalf("ReadFile(long name) = %v, want ErrBadDAG", err)
			}
		})
	}
	fsys, err := NewFS(ctx, g, fine)
	if err != nil {
		t.Fatal(err)
	}
	if ents, err := fs.ReadDir(fsys, "."); err != nil || len(ents) != 1 || ents[0].Name() != max {
		t.Fatalf("ReadDir(255-byte name) = %v, %v", ents, err)
	}
	if got, err := fs.ReadFile(fsys, max); err != nil || string(got) != "data" {
		t.Fatalf("ReadFile(255-byte name) = %q, %v", got, err)
	}
}

// The writers refuse a name over 255 bytes with ErrBadPath and say why; 255 is fine.
func TestLongEntryNamesRejectedByWriters(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	f, err := s.AddFile(ctx, bytes.NewReader([]byte("x")), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 128) // 256 bytes
	b := s.NewDirBuilder(ProfileV1)
	for what, err := range map[string]error{
		"AddFile":         b.AddFile("d/"+long, f),
		"AddFile (dir)":   b.AddFile(long+"/f", f),
		"Mkdir":           b.Mkdir(long),
		"AddSymlink":      b.AddSymlink(long, "target"),
		"AddFile (9 KiB)": b.AddFile(strings.Repeat("x", 9000), f),
	} {
		if !errors.Is(err, ErrBadPath) || !strings.Contains(err.Error(), "is longer than 255 bytes") {
			t.Errorf("%s: %v, want ErrBadPath saying the name is longer than 255 bytes", what, err)
		}
		if err != nil && len(err.Error()) > 400 {
			t.Errorf("%s: the error quotes the whole name: %d bytes", what, len(err.Error()))
		}
	}
	if err := b.AddFile(strings.Repeat("m", MaxNameLen), f); err != nil {
		t.Fatalf("a 255-byte name: %v", err)
	}
	if _, err := b.Finish(ctx); err != nil {
		t.Fatal(err)
	}
}
