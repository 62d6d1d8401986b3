//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"context"
	"fmt"
	"io"
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
		err := fs.WalkDir(m.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			host := filepath.Join(dir, filepath.FromSlash(p))
			switch {
			case d.IsDir():
				return os.MkdirAll(host, 0o755)
			case d.Type().IsRegular():
				n, err := copyFile(m.FS, p, host, left)
				left -= n
				return err
			default:
				return nil // no links or devices: a blockstore holds none
			}
		})
		if err != nil {
			if err == errOverLimit {
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

var errOverLimit = fmt.Errorf("over the limit")

func copyFile(fsys fs.FS, name, host string, left int64) (int64, error) {
	src, err := fsys.Open(name)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(dst, io.LimitReader(src, left+1))
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > left {
		err = errOverLimit
	}
	return n, err
}
