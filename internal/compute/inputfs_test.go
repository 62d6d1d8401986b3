package compute

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// TestInputFSPathToFile: an input whose path names a file is a directory holding that
// file under its name; a path to a directory is that directory.
func TestInputFSPathToFile(t *testing.T) {
	ctx := context.Background()
	store, err := blockstore.Open(t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "data.txt"), []byte("twelve bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := store.AddPath(ctx, src, blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sub/data.txt", "/sub/data.txt"} {
		fsys, err := InputFS(ctx, store.Blocks(), job.Input{CID: blockstore.JobCID(e.CID), Path: p, Target: "/data"})
		if err != nil {
			t.Fatal(err)
		}
		if err := fstest.TestFS(fsys, "data.txt"); err != nil {
			t.Fatalf("path %s: %v", p, err)
		}
		ents, err := fs.ReadDir(fsys, ".")
		if err != nil || len(ents) != 1 || ents[0].Name() != "data.txt" {
			t.Fatalf("path %s: entries %v, %v", p, ents, err)
		}
		if b, err := fs.ReadFile(fsys, "data.txt"); err != nil || string(b) != "twelve bytes" {
			t.Fatalf("path %s: %q, %v", p, b, err)
		}
	}
	fsys, err := InputFS(ctx, store.Blocks(), job.Input{CID: blockstore.JobCID(e.CID), Path: "sub", Target: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(fsys, "data.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := InputFS(ctx, store.Blocks(), job.Input{CID: blockstore.JobCID(e.CID), Path: "sub/nope", Target: "/data"}); err == nil {
		t.Fatal("a path that is not in the DAG mounted")
	}
}
