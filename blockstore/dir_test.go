package blockstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	upb "github.com/ipfs/boxo/ipld/unixfs/pb"
)

func TestAddPathVectors(t *testing.T) {
	v := loadVectors(t)
	s := openTemp(t)
	ctx := context.Background()
	var tree map[string]string
	for k, m := range v.Directories {
		if strings.HasPrefix(k, "tree") {
			tree = m
		}
	}
	if tree == nil {
		t.Fatal("vectors.json has no tree directory")
	}
	empty := t.TempDir()
	cases := []struct {
		name, path string
		want       map[string]string
	}{
		{"tree", filepath.Join(unixfsDir, "files", "tree"), tree},
		{"empty", empty, v.Directories["an empty directory"]},
	}
	for _, c := range cases {
		for prof, want := range c.want {
			t.Run(c.name+"/"+prof, func(t *testing.T) {
				e, err := s.AddPath(ctx, c.path, profiles[prof])
				if err != nil {
					t.Fatal(err)
				}
				if got := e.CID.String(); got != want {
					t.Errorf("CID = %s, want %s", got, want)
				}
			})
		}
	}
	// A single file through AddPath is the file's own CID.
	e, err := s.AddPath(ctx, filepath.Join(unixfsDir, "files", "hello.txt"), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.CID.String(), v.Files["hello.txt"]["v1-default"]; got != want {
		t.Errorf("hello.txt via AddPath = %s, want %s", got, want)
	}
}

// The DirBuilder gives the same tree as AddPath whatever the order.
func TestDirBuilderMatchesAddPath(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	root := filepath.Join(unixfsDir, "files", "tree")
	want, err := s.AddPath(ctx, root, ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	b := s.NewDirBuilder(ProfileV1)
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(files) - 1; i >= 0; i-- { // reverse order
		f, err := os.Open(files[i])
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.AddFile(ctx, f, ProfileV1)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, files[i])
		if err := b.AddFile(filepath.ToSlash(rel), e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.CID != want.CID || got.Tsize != want.Tsize {
		t.Errorf("DirBuilder = %+v, AddPath = %+v", got, want)
	}
}

func TestDirBuilderPaths(t *testing.T) {
	s := openTemp(t)
	e, err := s.AddFile(context.Background(), strings.NewReader("x"), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		want error
	}{
		{"a/b/c.txt", nil},
		{"a/b/c.txt", ErrExists},
		{"a/b", ErrExists},
		{"a/b/c.txt/d", ErrExists},
		{"", ErrBadPath},
		{"/abs", ErrBadPath},
		{"a/../b", ErrBadPath},
		{"..", ErrBadPath},
		{"./a", ErrBadPath},
		{"a//b", ErrBadPath},
		{"a/", ErrBadPath},
		{"nul\x00", ErrBadPath},
	}
	b := s.NewDirBuilder(ProfileV1)
	for _, c := range cases {
		if err := b.AddFile(c.path, e); !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("AddFile(%q) = %v, want %v", c.path, err, c.want)
		}
	}
	if err := b.Mkdir("a/empty"); err != nil {
		t.Fatal(err)
	}
	if err := b.Mkdir("a/b/c.txt"); !errors.Is(err, ErrExists) {
		t.Errorf("Mkdir over a file = %v", err)
	}
	root, err := b.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := NewFS(context.Background(), s.Blocks(), root.CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "a/b/c.txt", "a/empty"); err != nil {
		t.Fatal(err)
	}
}

// hamtEntries is enough entries of 40-byte names to cross kubo's 256 KiB
// link-size threshold: 5000 * (40 + 36) bytes > 262144.
const hamtEntries = 5000

func TestHAMTDirectory(t *testing.T) {
	// NoSync: 5000 small adds would otherwise each wait for a flush.
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b := s.NewDirBuilder(ProfileV1)
	want := map[string]string{}
	for i := 0; i < hamtEntries; i++ {
		name := fmt.Sprintf("entry-%034d", i)
		data := fmt.Sprintf("content %d", i)
		e, err := s.AddFile(ctx, strings.NewReader(data), ProfileV1)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddFile(name, e); err != nil {
			t.Fatal(err)
		}
		want[name] = data
	}
	root, err := b.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The root is a HAMT shard of fanout 256, as kubo builds it.
	blk, err := s.Blocks().GetBlock(ctx, root.CID)
	if err != nil {
		t.Fatal(err)
	}
	pn, err := merkledag.DecodeProtobuf(blk.RawData())
	if err != nil {
		t.Fatal(err)
	}
	fsn, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		t.Fatal(err)
	}
	if fsn.Type() != upb.Data_HAMTShard || fsn.Fanout() != 256 {
		t.Fatalf("root type %v fanout %d, want a HAMT shard of fanout 256", fsn.Type(), fsn.Fanout())
	}
	// One entry fewer than the threshold stays a basic directory.
	small := s.NewDirBuilder(ProfileV1)
	for i := 0; i < 100; i++ {
		e, _ := s.AddFile(ctx, strings.NewReader("x"), ProfileV1)
		if err := small.AddFile(fmt.Sprintf("entry-%034d", i), e); err != nil {
			t.Fatal(err)
		}
	}
	se, err := small.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fsys, err := NewFS(ctx, s.Blocks(), se.CID); err != nil || fsys.(*unixFS).rootDir.kind != kindDir {
		t.Fatalf("small directory: %v", err)
	}

	fsys, err := NewFS(ctx, s.Blocks(), root.CID)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != hamtEntries {
		t.Fatalf("ReadDir: %d entries, want %d", len(ents), hamtEntries)
	}
	for _, name := range []string{"entry-0000000000000000000000000000000000", "entry-0000000000000000000000000000004999", "entry-0000000000000000000000000000001234"} {
		got, err := fs.ReadFile(fsys, name)
		if err != nil || string(got) != want[name] {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, got, err, want[name])
		}
	}
	if _, err := fsys.Open("entry-missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v", err)
	}
	if err := fstest.TestFS(fsys, "entry-0000000000000000000000000000000042"); err != nil {
		t.Fatal(err)
	}
}
