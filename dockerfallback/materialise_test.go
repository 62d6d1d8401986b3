package dockerfallback

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// TestCopyFSBounded: inputs are copied whole up to the limit, and one byte past it is
// refused.
func TestCopyFSBounded(t *testing.T) {
	fsys := fstest.MapFS{
		"a.txt":     {Data: []byte("hello")},
		"sub/b.txt": {Data: []byte("world!")},
	}
	dst := filepath.Join(t.TempDir(), "in")
	left := int64(11)
	if err := copyFS(context.Background(), dst, fsys, &left); err != nil || left != 0 {
		t.Fatalf("copyFS at the limit: %v, %d left", err, left)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "sub", "b.txt")); err != nil || string(b) != "world!" {
		t.Fatalf("sub/b.txt = %q, %v", b, err)
	}
	left = 10
	if err := copyFS(context.Background(), filepath.Join(t.TempDir(), "in"), fsys, &left); !errors.Is(err, errInputsTooBig) {
		t.Fatalf("copyFS past the limit: %v", err)
	}
}

// TestCapped: output past the cap is dropped and reported, and the writer never fails
// the container's stream.
func TestCapped(t *testing.T) {
	var buf bytes.Buffer
	c := &capped{w: &buf, left: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if buf.String() != "abcde" || !c.truncated {
		t.Fatalf("got %q, truncated %v", buf.String(), c.truncated)
	}
}
