//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// materialise copies each mount's files into a directory of its own under
// work, read-only unless the mount is Writable, and returns the directories in mount order. wasmtime
// preopens host directories only, and the node's inputs are fs.FS views of
// its blockstore. At most limit bytes are copied in all; past it the run
// fails with ErrInputsTooLarge before the guest starts.
func materialise(ctx context.Context, work string, mounts []wasi.Mount, limit int64) ([]string, error) {
	dirs := make([]string, len(mounts))
	left := limit
	for i, m := range mounts {
		dir := filepath.Join(work, "in-"+strconv.Itoa(i))
		dirs[i] = dir
		if err := wasi.CopyTree(ctx, dir, m.FS, &left); err != nil {
			if errors.Is(err, wasi.ErrTreeTooBig) {
				return nil, fmt.Errorf("%w: the inputs hold more than this node's limit of %s for the wasmtime engine",
					ErrInputsTooLarge, sandbox.FormatBytes(uint64(limit)))
			}
			return nil, fmt.Errorf("wasmtime: copying input %s: %w", m.Target, err)
		}
		if m.Writable {
			continue // the guest's private copy, removed after the run
		}
		// Read-only for the guest (wasmtime is told so too) and for anyone.
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				_ = os.Chmod(p, 0o444)
			}
			return nil
		})
	}
	return dirs, nil
}
