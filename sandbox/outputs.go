package sandbox

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// outputsQuota counts what the /outputs mount holds against a limit: the
// size of every regular file, once per host inode (hard links share one),
// and wasi.OutputsEntryCost per directory entry. Every change the guest
// makes goes through detFS, which asks before a change that makes the
// mount hold more and refuses it when the limit would be passed.
//
// Sizes are charged per inode, as last seen: a write charges the growth of
// its file, a truncate its change, unlinking the last link gives the size
// back. A file unlinked while still open and written afterwards is charged
// anew from 0, which overcounts until the guest truncates it: the count
// never falls below what the directory holds.
type outputsQuota struct {
	limit int64

	mu    sync.Mutex
	used  int64
	sizes map[sys.Inode]int64 // charged size of each regular file

	// links reports that the directory held a symbolic link before the run.
	links bool

	hit atomic.Bool // a change was refused
	// refused is set by a refusal and cleared at the start of every WASI
	// call, so that the call's errno can be made ENOSPC (see enospc).
	refused atomic.Bool
}

// newOutputsQuota counts what dir holds already ("": nothing).
func newOutputsQuota(dir string, limit int64) (*outputsQuota, error) {
	q := &outputsQuota{limit: limit, sizes: map[sys.Inode]int64{}}
	if dir == "" {
		return q, nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		q.used += wasi.OutputsEntryCost
		if d.Type()&fs.ModeSymlink != 0 {
			q.links = true
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			if ino := sys.NewStat_t(info).Ino; ino == 0 {
				q.used += info.Size() // no inode numbers: count every link
			} else if _, seen := q.sizes[ino]; !seen {
				q.sizes[ino] = info.Size()
				q.used += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: counting what the outputs directory holds: %w", err)
	}
	return q, nil
}

// refuse records a refusal and returns the errno the file system reports.
// wazero v1.12's experimental/sys has no ENOSPC (its errnos end at EROFS,
// and it turns others into EIO), so it is EIO here, made ENOSPC for the
// guest by enospc.
func (q *outputsQuota) refuse() experimentalsys.Errno {
	q.hit.Store(true)
	q.refused.Store(true)
	return experimentalsys.EIO
}

// charge counts n more bytes, or refuses.
func (q *outputsQuota) charge(n int64) experimentalsys.Errno {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used+n > q.limit {
		return q.refuse()
	}
	q.used += n
	return 0
}

// refund counts n bytes fewer.
func (q *outputsQuota) refund(n int64) {
	q.mu.Lock()
	q.used -= n
	q.mu.Unlock()
}

// resize counts file ino at size bytes, or refuses if that is more than
// it was and passes the limit. grow only: a size below the charged one is
// left as it is (a write never shrinks a file).
func (q *outputsQuota) resize(ino sys.Inode, size int64, growOnly bool) experimentalsys.Errno {
	q.mu.Lock()
	defer q.mu.Unlock()
	delta := size - q.sizes[ino]
	if delta <= 0 && growOnly {
		return 0
	}
	if delta > 0 && q.used+delta > q.limit {
		return q.refuse()
	}
	q.used += delta
	q.sizes[ino] = size
	return 0
}

// settle counts file ino at the size it has, limit or not: after a change
// that failed or went only part of the way.
func (q *outputsQuota) settle(ino sys.Inode, size int64) {
	q.mu.Lock()
	q.used += size - q.sizes[ino]
	q.sizes[ino] = size
	q.mu.Unlock()
}

// forget gives back the bytes of file ino, whose last link went.
func (q *outputsQuota) forget(ino sys.Inode) {
	q.mu.Lock()
	q.used -= q.sizes[ino]
	delete(q.sizes, ino)
	q.mu.Unlock()
}

// outputsReason is Result.Reason when the guest hit its outputs limit.
func outputsReason(limit int64) string {
	return "outputs limit of " + formatBytes(uint64(limit)) + " exceeded"
}

// WASI errnos (preview 1 numbering).
const (
	wasiErrnoIO    = 29
	wasiErrnoNoSpc = 51
)

// quotaKey holds a run's *outputsQuota in the context its guest is called
// with, for enospc.
type quotaKey struct{}

// enospc is a function listener on the WASI host functions that can grow
// /outputs: when the quota refused a change during the call and the call
// fails with EIO (all wazero can say, see refuse), the guest gets ENOSPC
// instead. It relies on wazero passing After the very stack the guest
// reads its results from, as v1.12 does; TestOutputsLimit checks the guest
// sees "no space left on device".
type enospc struct{}

// enospcFunctions are the WASI functions through which the writable mounts
// grow: /outputs, and the copy-on-write inputs, where a rename, a removal
// (a whiteout), a link or a change of times may copy a file up.
var enospcFunctions = map[string]bool{
	"fd_write": true, "fd_pwrite": true, "fd_allocate": true, "fd_filestat_set_size": true,
	"path_open": true, "path_create_directory": true, "path_link": true,
	"path_symlink": true, "path_rename": true, "path_unlink_file": true, "path_remove_directory": true,
	"path_filestat_set_times": true, "fd_filestat_set_times": true,
}

// withENOSPC returns ctx with the listener factory that puts enospc on the
// WASI functions of a host module compiled with it.
func withENOSPC(ctx context.Context) context.Context {
	return experimental.WithFunctionListenerFactory(ctx, experimental.FunctionListenerFactoryFunc(
		func(def api.FunctionDefinition) experimental.FunctionListener {
			if enospcFunctions[def.Name()] {
				return enospc{}
			}
			return nil
		}))
}

func (enospc) Before(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	if q, _ := ctx.Value(quotaKey{}).(*outputsQuota); q != nil {
		q.refused.Store(false)
	}
}

func (enospc) After(ctx context.Context, _ api.Module, _ api.FunctionDefinition, results []uint64) {
	if q, _ := ctx.Value(quotaKey{}).(*outputsQuota); q != nil && q.refused.Swap(false) &&
		len(results) > 0 && results[0] == wasiErrnoIO {
		results[0] = wasiErrnoNoSpc
	}
}

func (enospc) Abort(context.Context, api.Module, api.FunctionDefinition, error) {}
