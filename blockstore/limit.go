package blockstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

var (
	// ErrRepoFull: a write would take the repository past Options.MaxSize,
	// even after a GC. The message names the limit, never a host path.
	ErrRepoFull = errors.New("blockstore: repository full")
	// ErrDiskFull: the disk holding the repository is full (ENOSPC), or too
	// close to it for pebble to write safely.
	ErrDiskFull = errors.New("blockstore: the disk holding the repository is full")
)

const (
	// remeasureBytes: the size is measured on disk again after this many
	// bytes were admitted on an estimate (the limit can be overshot by
	// about this much times pebble's write amplification).
	remeasureBytes = 64 << 20
	// diskReserve: writes stop while the disk has less than this free
	// beyond the write itself, before pebble's log can hit ENOSPC (which
	// pebble treats as fatal).
	diskReserve = 32 << 20
	// freeRecheck: below this much free space, every write asks the disk.
	freeRecheck = 256 << 20
)

// sizeGauge estimates the repository's bytes on disk between measurements.
type sizeGauge struct {
	mu        sync.Mutex
	valid     bool
	measured  int64 // repository bytes when last measured
	since     int64 // bytes admitted since
	freeValid bool
	free      int64 // free bytes on the disk when last measured
	freeSince int64 // bytes admitted since
}

func (g *sizeGauge) reset() {
	g.mu.Lock()
	g.valid, g.freeValid = false, false
	g.mu.Unlock()
}

// admit lets a write of about n bytes go ahead, or runs a GC (at most one
// at a time) and fails with ErrRepoFull or ErrDiskFull if it still does
// not fit.
func (s *Store) admit(ctx context.Context, n int64) error {
	if n == 0 {
		return nil
	}
	if s.fits(n) {
		return nil
	}
	if err := s.autoGC(ctx); err != nil {
		return err
	}
	if s.fits(n) {
		return nil
	}
	if free, ok := freeBytes(s.dir); ok && free < n+diskReserve {
		return ErrDiskFull
	}
	used := s.measure()
	return fmt.Errorf("%w: %s of its %s limit used (raise --repo-max-size, or remove what you added with `bacalhau data rm` and run `bacalhau repo gc`)",
		ErrRepoFull, humanBytes(used), humanBytes(s.maxSize))
}

// fits reports whether n more bytes stay within the limit and the disk.
// Both are estimates, measured again every remeasureBytes (and the free
// space whenever it is below freeRecheck).
func (s *Store) fits(n int64) bool {
	g := &s.size
	g.mu.Lock()
	if g.freeValid && g.freeSince < remeasureBytes && g.free-g.freeSince >= freeRecheck+n {
		g.freeSince += n
	} else {
		g.mu.Unlock()
		free, ok := freeBytes(s.dir)
		g.mu.Lock()
		g.free, g.freeValid, g.freeSince = free, ok, 0
		if ok && free < n+diskReserve {
			g.mu.Unlock()
			return false
		}
		g.freeSince = n
	}
	if s.maxSize <= 0 {
		g.mu.Unlock()
		return true
	}
	if g.valid && g.since < remeasureBytes && g.measured+g.since+n <= s.maxSize {
		g.since += n
		g.mu.Unlock()
		return true
	}
	g.mu.Unlock()
	used := s.measure()
	g.mu.Lock()
	defer g.mu.Unlock()
	if used+n > s.maxSize {
		return false
	}
	g.since += n
	return true
}

// measure reads the repository's size on disk and restarts the estimate.
func (s *Store) measure() int64 {
	u, err := s.diskUsage()
	g := &s.size
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		return g.measured + g.since // keep the estimate
	}
	g.valid, g.measured, g.since = true, u.total(), 0
	return g.measured
}

// autoGC runs a GC that compacts every pack with dead bytes, unless one
// ran while this call waited for the running one to end.
func (s *Store) autoGC(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	seen := s.gcRuns.Load()
	if err := s.lockGC(ctx); err != nil {
		return err
	}
	defer s.unlockGC()
	if s.gcRuns.Load() != seen {
		return nil
	}
	_, err := s.runGC(context.WithoutCancel(ctx), GCOptions{MinDeadFraction: minDeadAny})
	return err
}

// minDeadAny makes a GC compact every pack with any dead byte.
const minDeadAny = 1e-12

// usage is the repository's bytes on disk: file sizes (what `ls -l` and
// `du --apparent-size` add up), split into pack files and the rest
// (pebble's files, CAR import staging).
type usage struct {
	packs, other int64
}

func (u usage) total() int64 { return u.packs + u.other }

func (s *Store) diskUsage() (usage, error) {
	var u usage
	packDir := filepath.Join(s.dir, packDirName)
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a pebble file, a staging file)
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if filepath.Dir(p) == packDir {
			u.packs += fi.Size()
		} else {
			u.other += fi.Size()
		}
		return nil
	})
	if err != nil {
		return usage{}, fmt.Errorf("blockstore: measure size: %w", errors.Unwrap(err))
	}
	return u, nil
}

// freeBytes is the space left for an unprivileged writer on dir's disk
// (a variable so that tests can run out of it).
var freeBytes = statfsFree

func statfsFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// stagingPattern names CAR import staging files (see ImportCAR).
const stagingPattern = "import-*.tmp"

// removeStaging deletes CAR staging files an interrupted import left (no
// import runs before Open returns).
func removeStaging(dir string) {
	ms, _ := filepath.Glob(filepath.Join(dir, stagingPattern))
	for _, m := range ms {
		os.Remove(m)
	}
}

// humanBytes formats n in binary units with at most one decimal: "512 MiB",
// "9.8 GiB".
func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if i == 0 {
		s = strconv.FormatInt(n, 10)
	}
	return strings.TrimSuffix(s, ".0") + " " + units[i]
}
