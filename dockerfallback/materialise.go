package dockerfallback

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/docker/docker/api/types/mount"

	"github.com/bacalhau-project/bacalhau-wasm/internal/executor"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// materialise copies each input into dir/inputs/<i> and returns their bind mounts:
// read-only, or writable for an input marked so (:rw). What the inputs hold in all is bounded by Options.MaxInputBytes.
func (x *Executor) materialise(ctx context.Context, dir string, inputs []executor.Mount) ([]mount.Mount, error) {
	left := x.opts.MaxInputBytes
	mounts := make([]mount.Mount, 0, len(inputs)+1)
	for i, in := range inputs {
		dst := filepath.Join(dir, "inputs", strconv.Itoa(i))
		if err := wasi.CopyTree(ctx, dst, in.FS, &left); err != nil {
			if errors.Is(err, wasi.ErrTreeTooBig) {
				return nil, fmt.Errorf("%w: the inputs hold more than this node's limit of %s for a container's inputs", job.ErrInvalid, job.FormatBytes(uint64(x.opts.MaxInputBytes)))
			}
			return nil, fmt.Errorf("materialising input at %s: %w", in.Target, err)
		}
		if in.Writable {
			// A copy of the execution's own, discarded with it, as a writable WASM
			// input is: the container's user (65534 unless the image names one) may
			// change it.
			if err := openUp(dst); err != nil {
				return nil, fmt.Errorf("materialising input at %s: %w", in.Target, err)
			}
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: dst, Target: in.Target, ReadOnly: !in.Writable})
	}
	return mounts, nil
}

// openUp lets anyone write the tree under dir.
func openUp(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o777)
		}
		return os.Chmod(p, 0o666)
	})
}
