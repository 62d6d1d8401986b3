package blockstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	upb "github.com/ipfs/boxo/ipld/unixfs/pb"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/proto"
)

// memGetter serves blocks from a map; trusted controls TrustedBlocks.
type memGetter struct {
	m       map[cid.Cid][]byte
	trusted bool
}

func newMem(trusted bool) *memGetter { return &memGetter{m: map[cid.Cid][]byte{}, trusted: trusted} }

func (g *memGetter) TrustedBlocks() bool { return g.trusted }

func (g *memGetter) GetBlock(_ context.Context, c cid.Cid) (blocks.Block, error) {
	d, ok := g.m[c]
	if !ok {
		return nil, ErrNotFound
	}
	return blocks.NewBlockWithCid(d, c)
}

var v1 = cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}

// pb stores a dag-pb node with the given UnixFS data and links.
func (g *memGetter) pb(t testing.TB, data []byte, links ...*ipld.Link) cid.Cid {
	t.Helper()
	n := merkledag.NodeWithData(data)
	n.SetCidBuilder(v1)
	for _, l := range links {
		if err := n.AddRawLink(l.Name, l); err != nil {
			t.Fatal(err)
		}
	}
	g.m[n.Cid()] = n.RawData()
	return n.Cid()
}

func (g *memGetter) raw(data []byte) cid.Cid {
	c, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum(data)
	g.m[c] = data
	return c
}

func (g *memGetter) dir(t testing.TB, links ...*ipld.Link) cid.Cid {
	return g.pb(t, unixfs.FolderPBData(), links...)
}

func (g *memGetter) fileNode(t testing.TB, inline []byte, filesize uint64, sizes []uint64, links ...*ipld.Link) cid.Cid {
	n := unixfs.NewFSNode(upb.Data_File)
	n.SetData(inline)
	for _, s := range sizes {
		n.AddBlockSize(s)
	}
	b, err := n.GetBytes()
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite filesize by re-encoding through the raw pb.
	pbd, _ := unixfs.FromBytes(b)
	pbd.Filesize = &filesize
	if b, err = proto.Marshal(pbd); err != nil {
		t.Fatal(err)
	}
	return g.pb(t, b, links...)
}

func lk(name string, c cid.Cid) *ipld.Link { return &ipld.Link{Name: name, Cid: c} }

// hostile cases: open (or list) something and expect an error wrapping want.
func TestHostileDAGs(t *testing.T) {
	type tcase struct {
		name string
		g    *memGetter
		root cid.Cid
		op   func(fsys fs.FS) error // nil: NewFS itself must fail
		want error
	}
	readDir := func(p string) func(fs.FS) error {
		return func(f fs.FS) error { _, err := fs.ReadDir(f, p); return err }
	}
	readFile := func(p string) func(fs.FS) error {
		return func(f fs.FS) error { _, err := fs.ReadFile(f, p); return err }
	}
	var cases []tcase
	add := func(name string, trusted bool, build func(g *memGetter) cid.Cid, op func(fs.FS) error, want error) {
		g := newMem(trusted)
		cases = append(cases, tcase{name, g, build(g), op, want})
	}
	for _, bad := range []string{"..", ".", "a/b", "", "nul\x00x"} {
		add("entry "+strings.ReplaceAll(bad, "\x00", "NUL"), false, func(g *memGetter) cid.Cid {
			return g.dir(t, lk("ok", g.raw([]byte("x"))), lk(bad, g.raw([]byte("y"))))
		}, readDir("."), ErrBadDAG)
	}
	add("duplicate entries", false, func(g *memGetter) cid.Cid {
		return g.dir(t, lk("a", g.raw([]byte("x"))), lk("a", g.raw([]byte("y"))))
	}, readDir("."), ErrBadDAG)
	add("10000-deep nesting", false, func(g *memGetter) cid.Cid {
		c := g.dir(t)
		for i := 0; i < 10000; i++ {
			c = g.dir(t, lk("d", c))
		}
		return c
	}, func(f fs.FS) error {
		_, err := f.Open(strings.TrimSuffix(strings.Repeat("d/", 10000), "/"))
		return err
	}, ErrBadDAG)
	add("10000-deep nesting walked", false, func(g *memGetter) cid.Cid {
		c := g.dir(t)
		for i := 0; i < 10000; i++ {
			c = g.dir(t, lk("d", c))
		}
		return c
	}, func(f fs.FS) error {
		return fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.Count(p, "/") > MaxDepth+1 {
				return errors.New("walked past MaxDepth")
			}
			return err
		})
	}, ErrBadDAG)
	// A lying trusted getter can present cycles; the depth cap ends them.
	add("self-link directory", true, func(g *memGetter) cid.Cid {
		self, _ := v1.Sum([]byte("placeholder"))
		n := merkledag.NodeWithData(unixfs.FolderPBData())
		n.AddRawLink("loop", lk("loop", self))
		g.m[self] = n.RawData()
		return self
	}, readDir("."), ErrBadDAG)
	add("cycle followed by path", true, func(g *memGetter) cid.Cid {
		self, _ := v1.Sum([]byte("placeholder2"))
		n := merkledag.NodeWithData(unixfs.FolderPBData())
		n.AddRawLink("loop", lk("loop", self))
		g.m[self] = n.RawData()
		return self
	}, func(f fs.FS) error {
		_, err := f.Open(strings.TrimSuffix(strings.Repeat("loop/", MaxDepth+5), "/"))
		return err
	}, ErrBadDAG)
	add("self-link file", true, func(g *memGetter) cid.Cid {
		self, _ := v1.Sum([]byte("placeholder3"))
		b, _ := unixfs.NewFSNode(upb.Data_File).GetBytes()
		pbd, _ := unixfs.FromBytes(b)
		fsz := uint64(10)
		pbd.Filesize = &fsz
		pbd.Blocksizes = []uint64{10}
		data, _ := proto.Marshal(pbd)
		n := merkledag.NodeWithData(data)
		n.AddRawLink("", lk("", self))
		g.m[self] = n.RawData()
		return g.dir(t, lk("f", self))
	}, readFile("f"), ErrBadDAG)
	add("bad hash root", false, func(g *memGetter) cid.Cid {
		c := g.raw([]byte("real"))
		g.m[c] = []byte("fake")
		return c
	}, nil, ErrBadBlock)
	add("bad hash leaf", false, func(g *memGetter) cid.Cid {
		leaf := g.raw([]byte("0123456789"))
		g.m[leaf] = []byte("9876543210")
		f := g.fileNode(t, nil, 10, []uint64{10}, lk("", leaf))
		return g.dir(t, lk("f", f))
	}, readFile("f"), ErrBadBlock)
	add("file links to a directory", false, func(g *memGetter) cid.Cid {
		f := g.fileNode(t, nil, 4, []uint64{4}, lk("", g.dir(t)))
		return g.dir(t, lk("f", f))
	}, readFile("f"), ErrBadDAG)
	add("dag-cbor root", false, func(g *memGetter) cid.Cid {
		c, _ := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte{0xa0})
		g.m[c] = []byte{0xa0}
		return c
	}, nil, ErrBadDAG)
	add("garbage dag-pb", false, func(g *memGetter) cid.Cid {
		c, _ := v1.Sum([]byte("not protobuf at all"))
		g.m[c] = []byte("not protobuf at all")
		return c
	}, nil, ErrBadDAG)
	add("blocksizes larger than leaf", false, func(g *memGetter) cid.Cid {
		f := g.fileNode(t, nil, 10, []uint64{10}, lk("", g.raw([]byte("short"))))
		return g.dir(t, lk("f", f))
	}, readFile("f"), ErrBadDAG)
	add("filesize disagrees with blocksizes", false, func(g *memGetter) cid.Cid {
		return g.fileNode(t, nil, 99, []uint64{5}, lk("", g.raw([]byte("short"))))
	}, nil, ErrBadDAG)
	add("blocksizes count differs from links", false, func(g *memGetter) cid.Cid {
		return g.fileNode(t, nil, 10, []uint64{5, 5}, lk("", g.raw([]byte("short"))))
	}, nil, ErrBadDAG)
	add("child blocksize mismatch in inner node", false, func(g *memGetter) cid.Cid {
		inner := g.fileNode(t, nil, 5, []uint64{5}, lk("", g.raw([]byte("short"))))
		f := g.fileNode(t, nil, 8, []uint64{8}, lk("", inner))
		return g.dir(t, lk("f", f))
	}, readFile("f"), ErrBadDAG)
	add("HAMT bad fanout", false, func(g *memGetter) cid.Cid {
		d, _ := unixfs.HAMTShardData(nil, 3, hamtMurmur3)
		return g.pb(t, d)
	}, nil, ErrBadDAG)
	add("HAMT bad link name", false, func(g *memGetter) cid.Cid {
		d, _ := unixfs.HAMTShardData([]byte{1}, 256, hamtMurmur3)
		return g.pb(t, d, lk("ZZname", g.raw([]byte("x"))))
	}, readDir("."), ErrBadDAG)
	add("HAMT shard link to a file", false, func(g *memGetter) cid.Cid {
		d, _ := unixfs.HAMTShardData([]byte{1}, 256, hamtMurmur3)
		return g.pb(t, d, lk("00", g.raw([]byte("x"))))
	}, readDir("."), ErrBadDAG)
	add("missing block", false, func(g *memGetter) cid.Cid {
		c := g.raw([]byte("gone"))
		delete(g.m, c)
		return g.dir(t, lk("f", c))
	}, readDir("."), ErrNotFound)

	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys, err := NewFS(ctx, c.g, c.root)
			if c.op == nil {
				if !errors.Is(err, c.want) {
					t.Fatalf("NewFS = %v, want %v", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewFS: %v", err)
			}
			if err := c.op(fsys); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// Lookups follow fs.ValidPath.
func TestFSInvalidPaths(t *testing.T) {
	g := newMem(false)
	root := g.dir(t, lk("a", g.raw([]byte("x"))))
	fsys, err := NewFS(context.Background(), g, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "/a", "a/", "./a", "a/..", "..", "a//b", "a\x00"} {
		if _, err := fsys.Open(p); !errors.Is(err, fs.ErrInvalid) && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v", p, err)
		}
	}
	if _, err := fsys.Open("a/b"); err == nil {
		t.Error("Open(file/child) succeeded")
	}
	f, _ := fsys.Open("a")
	if b, err := io.ReadAll(f); err != nil || !bytes.Equal(b, []byte("x")) {
		t.Errorf("read a: %q %v", b, err)
	}
}
