package sandbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// staleTmpAge is how old a temporary file of wazero's compile cache must be
// to be taken for the leftover of a crash, and removed. wazero writes an
// entry to "<key>.<random>.tmp" and renames it when complete; a load is
// bounded by Options.LoadTimeout, far below this.
const staleTmpAge = time.Hour

// diskCache bounds the on-disk compile cache, wazero's directory of
// compiled modules, by removing the oldest files (by modification time:
// when wazero wrote them) once it holds more than max bytes.
type diskCache struct {
	dir string // "" when there is none
	max uint64
	mu  sync.Mutex // one prune at a time
}

type cacheFile struct {
	path  string
	size  uint64
	mtime time.Time
}

// prune removes the oldest cache files until the directory holds at most
// max bytes. Files being written (*.tmp) are neither counted nor removed,
// unless older than staleTmpAge. A removed file only costs a recompile:
// wazero reads a cache file through a descriptor it opened, which outlives
// the removal.
func (d *diskCache) prune() {
	if d == nil || d.dir == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var (
		files []cacheFile
		total uint64
		now   = time.Now()
	)
	_ = filepath.WalkDir(d.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		if strings.HasSuffix(p, ".tmp") {
			if now.Sub(info.ModTime()) > staleTmpAge {
				_ = os.Remove(p)
			}
			return nil
		}
		files = append(files, cacheFile{p, uint64(info.Size()), info.ModTime()})
		total += uint64(info.Size())
		return nil
	})
	if total <= d.max {
		return
	}
	slices.SortFunc(files, func(a, b cacheFile) int { return a.mtime.Compare(b.mtime) })
	for _, f := range files {
		if total <= d.max {
			break
		}
		if err := os.Remove(f.path); err == nil || os.IsNotExist(err) {
			total -= f.size
		}
	}
}
