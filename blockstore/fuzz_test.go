package blockstore

import (
	"context"
	"io"
	"io/fs"
	"testing"

	"github.com/ipfs/boxo/ipld/unixfs"
	upb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// FuzzFSOpen: arbitrary names never panic and never resolve outside the
// tree; valid names either open or fail cleanly.
func FuzzFSOpen(f *testing.F) {
	for _, s := range []string{".", "a", "a/b", "a/b/c.txt", "../a", "/a", "a/", "a//b", "a/./b", "a\x00", "ü", "d/d/d", ""} {
		f.Add(s)
	}
	g := newMem(false)
	leaf := g.raw([]byte("data"))
	sub := g.dir(f, lk("c.txt", leaf))
	root := g.dir(f, lk("a", g.dir(f, lk("b", sub))), lk("f", leaf))
	fsys, err := NewFS(context.Background(), g, root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string) {
		file, err := fsys.Open(name)
		if !fs.ValidPath(name) {
			if err == nil {
				t.Fatalf("Open(%q) of an invalid path succeeded", name)
			}
			return
		}
		if err != nil {
			return
		}
		defer file.Close()
		if _, err := file.Stat(); err != nil {
			t.Fatal(err)
		}
		if rd, ok := file.(fs.ReadDirFile); ok {
			_, _ = rd.ReadDir(-1)
		} else {
			_, _ = io.ReadAll(file)
		}
	})
}

// FuzzDAGNode: an arbitrary block as the root (dag-pb or raw) never panics,
// whatever is done with it.
func FuzzDAGNode(f *testing.F) {
	fileData, _ := unixfs.NewFSNode(upb.Data_File).GetBytes()
	g := newMem(false)
	leaf := g.raw([]byte("0123456789"))
	seeds := [][]byte{
		{}, {0x0a, 0x02, 0x08, 0x01}, fileData, []byte("garbage"),
		g.m[g.fileNode(f, []byte("ab"), 12, []uint64{10}, lk("", leaf))],
		g.m[g.dir(f, lk("x", leaf))],
	}
	for _, s := range seeds {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, block []byte, pb bool) {
		codec := uint64(cid.Raw)
		if pb {
			codec = cid.DagProtobuf
		}
		c, err := cid.Prefix{Version: 1, Codec: codec, MhType: mh.SHA2_256, MhLength: -1}.Sum(block)
		if err != nil {
			t.Fatal(err)
		}
		gg := &memGetter{m: map[cid.Cid][]byte{c: block, leaf: g.m[leaf]}}
		fsys, err := NewFS(context.Background(), gg, c)
		if err != nil {
			return
		}
		_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if file, err := fsys.Open(p); err == nil {
				_, _ = io.ReadAll(file)
				if ra, ok := file.(io.ReaderAt); ok {
					buf := make([]byte, 7)
					_, _ = ra.ReadAt(buf, 3)
				}
				file.Close()
			}
			return nil
		})
	})
}
