package blockstore

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/fstest"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
)

func TestFSOnTree(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	root := filepath.Join(unixfsDir, "files", "tree")
	for prof, opts := range profiles {
		t.Run(prof, func(t *testing.T) {
			e, err := s.AddPath(ctx, root, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Through the trusted local getter and through a verifying one.
			for _, g := range []BlockGetter{s.Blocks(), untrusted{s.Blocks()}} {
				fsys, err := NewFS(ctx, g, e.CID)
				if err != nil {
					t.Fatal(err)
				}
				if err := fstest.TestFS(fsys, "a.txt", "ünïcødé.txt", "sub/b.bin", "sub/deeper/c.txt"); err != nil {
					t.Fatal(err)
				}
				// Same bytes as the host files.
				err = fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					want, _ := os.ReadFile(filepath.Join(root, p))
					got, err := fs.ReadFile(fsys, p)
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: %d bytes, %v; want %d bytes", p, len(got), err, len(want))
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestFSSingleFile(t *testing.T) {
	s := openTemp(t)
	e, err := s.AddFile(context.Background(), bytes.NewReader([]byte("hello world\n")), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := NewFS(context.Background(), s.Blocks(), e.CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, e.CID.String()); err != nil {
		t.Fatal(err)
	}
}

// Multi-level files: Seek + Read and ReadAt at random offsets.
func TestFSSeekReadAt(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	data := genBytes("seek", 50<<20+12345) // two levels with 256 KiB chunks
	for prof, opts := range profiles {
		t.Run(prof, func(t *testing.T) {
			e, err := s.AddFile(ctx, bytes.NewReader(data), opts)
			if err != nil {
				t.Fatal(err)
			}
			fsys, err := NewFS(ctx, untrusted{s.Blocks()}, e.CID)
			if err != nil {
				t.Fatal(err)
			}
			f, err := fsys.Open(e.CID.String())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ra, sk := f.(io.ReaderAt), f.(io.Seeker)
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < 200; i++ {
				off := rng.Int63n(int64(len(data)))
				n := rng.Intn(1 << 20)
				buf := make([]byte, n)
				got, err := ra.ReadAt(buf, off)
				wantN := min(n, len(data)-int(off))
				if got != wantN || (err != nil && err != io.EOF) || (got < n && err != io.EOF) {
					t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
				}
				if !bytes.Equal(buf[:got], data[off:off+int64(got)]) {
					t.Fatalf("ReadAt(%d, %d): wrong bytes", n, off)
				}
				if _, err := sk.Seek(off, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				m, err := io.ReadFull(f, buf[:min(4096, wantN)])
				if err != nil || !bytes.Equal(buf[:m], data[off:off+int64(m)]) {
					t.Fatalf("Seek(%d)+Read: %d, %v", off, m, err)
				}
			}
			if pos, err := sk.Seek(-10, io.SeekEnd); err != nil || pos != int64(len(data)-10) {
				t.Fatalf("Seek end: %d, %v", pos, err)
			}
			tail, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(tail, data[len(data)-10:]) {
				t.Fatalf("tail: %q, %v", tail, err)
			}
		})
	}
}

// ReadAt of 1 MiB in a 64 MiB file fetches only the blocks it needs.
func TestFSReadAtFetchesFewBlocks(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	data := genBytes("count", 64<<20)
	e, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	g := &counting{g: s.Blocks()}
	fsys, err := NewFS(ctx, g, e.CID)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open(e.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g.n.Store(0)
	off := int64(40<<20 + 1000) // not aligned: 5 leaves
	buf := make([]byte, 1<<20)
	if _, err := f.(io.ReaderAt).ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
		t.Fatal("wrong bytes")
	}
	// 64 MiB = 256 leaves under one root: root is already loaded, so 5 leaves.
	if n := g.n.Load(); n > 6 {
		t.Errorf("ReadAt of 1 MiB fetched %d blocks, want <= 6", n)
	}
}

type counting struct {
	g BlockGetter
	n atomic.Int64
}

func (c *counting) GetBlock(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	c.n.Add(1)
	return c.g.GetBlock(ctx, k)
}

// untrusted hides the local getter's TrustedGetter and viewer abilities.
type untrusted struct{ g BlockGetter }

func (u untrusted) GetBlock(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	return u.g.GetBlock(ctx, k)
}

func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := genBytes("crash", 3<<20)
	e, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	small, err := s.AddFile(ctx, bytes.NewReader([]byte("small")), ProfileV1)
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the directory taken while the store is open (as after a
	// crash, without Close) already holds everything AddFile returned.
	snap := t.TempDir()
	if err := os.CopyFS(snap, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, snap} {
		s2, err := Open(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Entry{e, small} {
			if ok, err := s2.Has(ctx, c.CID); !ok || err != nil {
				t.Errorf("%s: Has(%s) = %v, %v after reopen", d, c.CID, ok, err)
			}
		}
		fsys, err := NewFS(ctx, s2.Blocks(), e.CID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fs.ReadFile(fsys, e.CID.String())
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: file after reopen: %d bytes, %v", d, len(got), err)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
