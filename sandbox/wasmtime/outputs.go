//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// outputsWatch bounds /outputs, which wasmtime writes straight to the host
// directory with no hook on the way: it measures the directory every
// outputsPoll while the guest runs, as the wazero sandbox counts it (file
// bytes plus wasi.OutputsEntryCost per entry), and stops the run as soon as
// it holds more than the limit. What the guest wrote in the last interval
// can pass the limit; finish then empties the directory, so that no more
// than the limit is ever imported.
type outputsWatch struct {
	dir   string // "" for none
	rw    []string
	base  []int64 // what each of rw held before the run
	limit int64
	stop  chan struct{}
	done  chan struct{}
	hit   bool
}

// The private copies of writable mounts (rw) count too, as wazero counts what
// a guest changes in them: by what they grew.
func watchOutputs(dir string, rw []string, limit int64, r *runState) *outputsWatch {
	w := &outputsWatch{dir: dir, rw: rw, limit: limit, stop: make(chan struct{}), done: make(chan struct{})}
	for _, d := range rw {
		w.base = append(w.base, dirSize(d))
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(outputsPoll)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if w.size() > limit {
					w.hit = true
					r.halt(stopOutputs)
					return
				}
			}
		}
	}()
	return w
}

// finish stops the watch once the guest has ended and measures the
// directory a last time. It reports whether the limit was hit, and whether
// what the guest left was discarded because it held more than the limit.
func (w *outputsWatch) finish() (hit, discarded bool) {
	close(w.stop)
	<-w.done
	if w.dir != "" {
		removeLinks(w.dir)
	}
	if w.size() > w.limit {
		w.hit = true
		if w.dir == "" {
			return w.hit, false
		}
		discarded = true
		entries, _ := os.ReadDir(w.dir)
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(w.dir, e.Name()))
		}
	}
	return w.hit, discarded
}

// size is what the run's outputs and changes hold, counted against the limit.
func (w *outputsWatch) size() int64 {
	var n int64
	if w.dir != "" {
		n = dirSize(w.dir)
	}
	for i, d := range w.rw {
		n += max(dirSize(d)-w.base[i], 0)
	}
	return n
}

// dirSize is what dir holds, counted as the outputs limit counts it.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		n += wasi.OutputsEntryCost
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// removeLinks removes whatever is neither a file nor a directory from dir:
// the guest cannot make symbolic links (path_symlink is refused), and this
// makes sure none is ever imported.
func removeLinks(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !d.Type().IsRegular() {
			_ = os.Remove(p)
		}
		return nil
	})
}
