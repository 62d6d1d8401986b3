package node

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"

	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
)

// A job's result keeps its dotfiles: `ipfs add -r` (and AddPath by default) skips them,
// a job's outputs must not lose files.
func TestImportResultKeepsDotfiles(t *testing.T) {
	n := openNode(t, t.TempDir())
	t.Cleanup(func() { n.Close() })
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "outputs", ".cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"outputs/.env": "A=1\n", "outputs/.cache/x": "x", "stdout": "", "stderr": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := n.importResult(dir, 0, "j-test", job.StateCompleted)
	if err != nil {
		t.Fatal(err)
	}
	root, err := cid.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := blockstore.NewFS(context.Background(), n.Blocks().Blocks(), root)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"outputs/.env": "A=1\n", "outputs/.cache/x": "x", "exitCode": "0"} {
		if got, err := fs.ReadFile(fsys, name); err != nil || string(got) != want {
			t.Errorf("%s in the result: %q, %v; want %q", name, got, err, want)
		}
	}
}
