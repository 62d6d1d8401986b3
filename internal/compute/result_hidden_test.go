package compute

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// A job's result keeps its dotfiles: `ipfs add -r` (and AddPath by default) skips them,
// a job's outputs must not lose files.
func TestImportResultKeepsDotfiles(t *testing.T) {
	store, err := blockstore.Open(t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	n := &Compute{blocks: store, now: time.Now, ctx: context.Background(), cfg: Config{ResultRetention: time.Hour, FailedRetention: time.Hour}}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "outputs", ".cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"outputs/.env": "A=1\n", "outputs/.cache/x": "x", "stdout": "", "stderr": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := n.importResult(dir, 0, "j-test", job.StateCompleted)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := blockstore.NewFS(context.Background(), store.Blocks(), root)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"outputs/.env": "A=1\n", "outputs/.cache/x": "x", "exitCode": "0"} {
		if got, err := fs.ReadFile(fsys, name); err != nil || string(got) != want {
			t.Errorf("%s in the result: %q, %v; want %q", name, got, err, want)
		}
	}
}
