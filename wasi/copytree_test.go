package wasi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// TestCopyTreeBounded: a tree is copied whole up to the limit, and one byte past it is
// refused.
func TestCopyTreeBounded(t *testing.T) {
	fsys := fstest.MapFS{
		"a.txt":     {Data: []byte("hello")},
		"sub/b.txt": {Data: []byte("world!")},
	}
	dst := filepath.Join(t.TempDir(), "in")
	left := int64(11)
	if err := CopyTree(context.Background(), dst, fsys, &left); err != nil || left != 0 {
		t.Fatalf("CopyTree at the limit: %v, %d left", err, left)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "sub", "b.txt")); err != nil || string(b) != "world!" {
		t.Fatalf("sub/b.txt = %q, %v", b, err)
	}
	left = 10
	if err := CopyTree(context.Background(), filepath.Join(t.TempDir(), "in"), fsys, &left); !errors.Is(err, ErrTreeTooBig) {
		t.Fatalf("CopyTree past the limit: %v", err)
	}
}
