package blockstore

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	upb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"
)

// The DirBuilder (what the API's multipart import uses) builds the tree AddPath builds
// from the same entries, symlinks and the hidden rule included, in both profiles.
func TestDirBuilderMatchesAddPathWithSymlinksAndHidden(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	root := hostileTree(t)
	for _, hidden := range []bool{false, true} {
		for name, base := range map[string]AddOptions{"v0": ProfileV0, "v1": ProfileV1} {
			opts := base
			opts.Hidden = hidden
			want, err := s.AddPath(ctx, root, opts)
			if err != nil {
				t.Fatal(err)
			}
			b := s.NewDirBuilder(opts)
			skipped := 0
			err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == root {
					return err
				}
				rel, _ := filepath.Rel(root, p)
				rel = filepath.ToSlash(rel)
				if b.Skips(rel) {
					skipped++
				}
				switch {
				case d.Type()&fs.ModeSymlink != 0:
					target, err := os.Readlink(p)
					if err != nil {
						return err
					}
					return b.AddSymlink(rel, target)
				case d.IsDir():
					return b.Mkdir(rel)
				}
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				defer f.Close()
				e, err := s.AddFile(ctx, f, opts)
				if err != nil {
					return err
				}
				return b.AddFile(rel, e)
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.Finish(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.CID != want.CID {
				t.Errorf("%s hidden=%v: DirBuilder %s, AddPath %s", name, hidden, got.CID, want.CID)
			}
			// Skipped: .dotfile, .hidden and the 3 entries under it, sub/.env, .hidden-link.
			if wantSkipped := map[bool]int{false: 7, true: 0}[hidden]; skipped != wantSkipped {
				t.Errorf("%s hidden=%v: Skips said yes %d times, want %d", name, hidden, skipped, wantSkipped)
			}
		}
	}
}

// A symlink is the dag-pb node kubo makes: UnixFS type Symlink, the target as data, no
// links, with the CID version of the profile; bad targets are refused.
func TestAddSymlinkNode(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for name, opts := range map[string]AddOptions{"v0": ProfileV0, "v1": ProfileV1} {
		b := s.NewDirBuilder(opts)
		must(t, b.AddSymlink("l", "../some/where"))
		top, err := b.Finish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := NewFS(ctx, s.Blocks(), top.CID)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := fs.Lstat(fsys, "l")
		if err != nil {
			t.Fatal(err)
		}
		c := fi.Sys().(cid.Cid)
		if want := map[string]uint64{"v0": 0, "v1": 1}[name]; c.Version() != want {
			t.Errorf("%s: symlink CID version %d", name, c.Version())
		}
		blk, err := s.Blocks().GetBlock(ctx, c)
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
		if fsn.Type() != upb.Data_Symlink || string(fsn.Data()) != "../some/where" || len(pn.Links()) != 0 {
			t.Errorf("%s: node type %v data %q links %d", name, fsn.Type(), fsn.Data(), len(pn.Links()))
		}
	}
	b := s.NewDirBuilder(ProfileV1)
	for target, want := range map[string]string{
		"":                                      "empty target",
		"a\x00b":                                "NUL",
		strings.Repeat("x", MaxSymlinkTarget+1): "longer than",
		strings.Repeat("x", MaxSymlinkTarget) + "": "",
	} {
		err := b.AddSymlink("l"+want, target)
		if want == "" {
			if err != nil {
				t.Errorf("a %d-byte target: %v", len(target), err)
			}
			continue
		}
		if !errors.Is(err, ErrBadPath) || !strings.Contains(err.Error(), want) {
			t.Errorf("target %.20q: %v, want ErrBadPath saying %q", target, err, want)
		}
	}
	must(t, b.AddFile("f", Entry{CID: mustAdd(t, s, "x"), Tsize: 1}))
	for _, err := range []error{b.AddSymlink("f", "t"), b.Mkdir("l"), b.AddFile("l", Entry{CID: mustAdd(t, s, "y")})} {
		if !errors.Is(err, ErrExists) {
			t.Errorf("a name taken twice: %v, want ErrExists", err)
		}
	}
}

func mustAdd(t *testing.T, s *Store, data string) cid.Cid {
	t.Helper()
	e, err := s.AddFile(context.Background(), bytes.NewReader([]byte(data)), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	return e.CID
}

// The UnixFS reader lists symlinks as such, reads their targets (fs.ReadLinkFS), and
// follows those that stay inside the DAG; absolute, dangling and escaping ones are
// fs.ErrNotExist, loops an error.
func TestFSSymlinks(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	root := hostileTree(t)
	e, err := s.AddPath(ctx, root, AddOptions{CIDVersion: 1, Hidden: true})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := NewFS(ctx, s.Blocks(), e.CID)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]fs.FileMode{}
	for _, d := range ents {
		types[d.Name()] = d.Type()
	}
	for _, n := range []string{"rel", "abs", "dangling", "to-dir", ".hidden-link"} {
		if types[n] != fs.ModeSymlink {
			t.Errorf("ReadDir: %s has type %v, want a symlink", n, types[n])
		}
	}
	for link, want := range map[string]string{"rel": "a.txt", "abs": "/etc/hostname", "sub/up": "../a.txt", "to-dir": "sub", "to-dir/up": "../a.txt"} {
		if got, err := fs.ReadLink(fsys, link); err != nil || got != want {
			t.Errorf("ReadLink(%s) = %q, %v; want %q", link, got, err, want)
		}
		if fi, err := fs.Lstat(fsys, link); err != nil || fi.Mode().Type() != fs.ModeSymlink || fi.Size() != int64(len(want)) {
			t.Errorf("Lstat(%s) = %v, %v; want a symlink of size %d", link, fi, err, len(want))
		}
	}
	if _, err := fs.ReadLink(fsys, "a.txt"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink(a regular file) = %v, want fs.ErrInvalid", err)
	}
	for p, want := range map[string]string{"rel": "hello\n", "sub/up": "hello\n", "to-dir/b.txt": "b\n", "to-dir/up": "hello\n", "ünï/lïnk": "unicode\n", "to-dir/deeper/c.txt": "c\n"} {
		if got, err := fs.ReadFile(fsys, p); err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
	if fi, err := fs.Stat(fsys, "to-dir"); err != nil || !fi.IsDir() || fi.Name() != "to-dir" {
		t.Errorf("Stat(to-dir) = %v, %v; want the directory it points to", fi, err)
	}
	if ents, err := fs.ReadDir(fsys, "to-dir"); err != nil || len(ents) != 5 {
		t.Errorf("ReadDir(to-dir) = %d entries, %v; want sub's 5", len(ents), err)
	}
	for _, p := range []string{"abs", "dangling", "sub/out", "to-dir/out", "dangling/x"} {
		if _, err := fsys.Open(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%s) = %v, want fs.ErrNotExist", p, err)
		}
	}

	// Loops end; a link to "." is followed as often as asked, within the limit.
	b := s.NewDirBuilder(ProfileV1)
	must(t, b.AddFile("a", Entry{CID: mustAdd(t, s, "a"), Tsize: 1}))
	must(t, b.AddSymlink("loop1", "loop2"))
	must(t, b.AddSymlink("loop2", "./loop1"))
	must(t, b.AddSymlink("self", "self"))
	must(t, b.AddSymlink("here", "."))
	top, err := b.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lfs, err := NewFS(ctx, s.Blocks(), top.CID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"loop1", "self", "self/x"} {
		if _, err := lfs.Open(p); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
			t.Errorf("Open(%s) = %v, want too many levels of symbolic links", p, err)
		}
	}
	if got, err := fs.ReadFile(lfs, "here/here/here/a"); err != nil || string(got) != "a" {
		t.Errorf("ReadFile(here/here/here/a) = %q, %v", got, err)
	}
	if _, err := fs.ReadFile(lfs, strings.Repeat("here/", maxSymlinkHops+1)+"a"); err == nil {
		t.Errorf("%d links followed in one lookup", maxSymlinkHops+1)
	}
}

// A tree whose symlinks all resolve passes fstest.TestFS, which checks Lstat against
// the listing (fs.ReadLinkFS) and opens every symlink.
func TestFSSymlinksTestFS(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	b := s.NewDirBuilder(ProfileV1)
	must(t, b.AddFile("a", Entry{CID: mustAdd(t, s, "a"), Tsize: 1}))
	must(t, b.AddFile("sub/b", Entry{CID: mustAdd(t, s, "b"), Tsize: 1}))
	must(t, b.AddSymlink("rel", "a"))
	must(t, b.AddSymlink("to-dir", "sub"))
	must(t, b.AddSymlink("sub/up", "../a"))
	top, err := b.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := NewFS(ctx, s.Blocks(), top.CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "a", "sub/b", "rel", "to-dir", "sub/up"); err != nil {
		t.Fatal(err)
	}
}

// Store.AddSymlink (a lone symlink, as the API gets one) makes the node AddPath makes
// of a symlink given by itself.
func TestStoreAddSymlinkMatchesAddPath(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	link := filepath.Join(t.TempDir(), "l")
	must(t, os.Symlink("../x/y", link))
	for _, opts := range []AddOptions{ProfileV0, ProfileV1} {
		want, err := s.AddPath(ctx, link, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.AddSymlink(ctx, "../x/y", opts)
		if err != nil || got != want {
			t.Errorf("AddSymlink = %+v, %v; AddPath gave %+v", got, err, want)
		}
		if ok, _ := s.Has(ctx, got.CID); !ok {
			t.Errorf("symlink node %s not stored", got.CID)
		}
	}
	if _, err := s.AddSymlink(ctx, "", ProfileV1); !errors.Is(err, ErrBadPath) {
		t.Errorf("empty target: %v, want ErrBadPath", err)
	}
}
