//go:build cgo && linux && !nowasmtime

package wasmtime

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	wt "github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
)

// codeCache holds compiled modules by key: in memory, least recently used
// first out past maxBytes, and on disk, serialised with a checksum, oldest
// first out past maxDisk. Runs waiting for one module share one load, which
// belongs to no caller (it runs under the Sandbox's context and the load
// timeout), as in the wazero sandbox.
type codeCache struct {
	ctx      context.Context
	engine   *wt.Engine
	dir      string
	maxBytes uint64
	maxDisk  uint64

	mu    sync.Mutex
	byKey map[string]*entry
	lru   *list.List // of loaded *entry, most recent first
	bytes uint64
	loads sync.WaitGroup

	loadTimeout time.Duration
}

type entry struct {
	key   string
	ready chan struct{}
	mod   *wt.Module
	err   error
	size  uint64
	elem  *list.Element
}

func newCodeCache(ctx context.Context, engine *wt.Engine, opts Options) *codeCache {
	return &codeCache{
		ctx:         ctx,
		engine:      engine,
		dir:         opts.CacheDir,
		maxBytes:    cmp.Or(opts.MaxCacheBytes, sandbox.DefaultMaxCacheBytes),
		maxDisk:     cmp.Or(opts.MaxDiskCacheBytes, sandbox.DefaultMaxDiskCacheBytes),
		byKey:       map[string]*entry{},
		lru:         list.New(),
		loadTimeout: cmp.Or(max(opts.LoadTimeout, 0), sandbox.DefaultLoadTimeout),
	}
}

// wait waits for background loads (after the Sandbox's context ended).
func (c *codeCache) wait() { c.loads.Wait() }

// get returns the module compiled for key, loading it with load if needed.
// A "" key compiles every time and caches nothing.
func (c *codeCache) get(ctx context.Context, key string, load func(context.Context) ([]byte, error)) (*wt.Module, error) {
	if key == "" {
		wasm, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return c.compile(wasm)
	}
	c.mu.Lock()
	e, ok := c.byKey[key]
	if !ok {
		e = &entry{key: key, ready: make(chan struct{})}
		c.byKey[key] = e
		c.loads.Add(1)
		go c.load(e, load)
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	c.mu.Lock()
	if e.elem != nil {
		c.lru.MoveToFront(e.elem)
	}
	c.mu.Unlock()
	return e.mod, nil
}

// load loads e's module, from the disk cache or by compiling it, within the
// load timeout. wasmtime cannot stop a compilation once it has started: at
// the timeout the load fails for its waiters and the compilation goes on in
// the background, its code dropped when it ends (Close waits for it), so
// that a load past the bound leaves nothing behind, as on wazero.
func (c *codeCache) load(e *entry, load func(context.Context) ([]byte, error)) {
	defer c.loads.Done()
	ctx, cancel := context.WithTimeoutCause(c.ctx, c.loadTimeout, sandbox.ErrLoadTimeout)
	defer cancel()
	type loaded struct {
		mod  *wt.Module
		size uint64
		err  error
	}
	done := make(chan loaded, 1)
	go func() {
		mod, size, err := c.fromDiskOrCompile(ctx, e.key, load)
		done <- loaded{mod, size, err}
	}()
	var got loaded
	select {
	case got = <-done:
	case <-ctx.Done():
		select {
		case got = <-done: // ended with the context: its own error says more
		default:
			got.err = ctx.Err()
			defer func() { <-done }()
		}
	}
	e.mod, e.size, e.err = got.mod, got.size, got.err
	if e.err != nil && ctx.Err() != nil {
		// Stopped, not failed: say why rather than what the loader made of it.
		if e.err = context.Cause(ctx); errors.Is(e.err, sandbox.ErrLoadTimeout) {
			e.err = fmt.Errorf("%w after %s", sandbox.ErrLoadTimeout, c.loadTimeout)
		} else {
			e.err = sandbox.ErrClosed
		}
	}
	c.mu.Lock()
	if e.err != nil {
		delete(c.byKey, e.key) // the next run tries again
	} else {
		e.elem = c.lru.PushFront(e)
		c.bytes += e.size
		for c.bytes > c.maxBytes && c.lru.Len() > 1 {
			old := c.lru.Remove(c.lru.Back()).(*entry)
			delete(c.byKey, old.key)
			c.bytes -= old.size
			// Runs still holding old.mod keep it alive; its finalizer frees
			// it after the last.
		}
	}
	c.mu.Unlock()
	close(e.ready)
	if e.err == nil && c.dir != "" {
		runtime.GC() // evicted modules' code is freed by finalizers
	}
}

// compiled reports whether key's module is loaded and in memory.
func (c *codeCache) compiled(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	return ok && e.elem != nil
}

func (c *codeCache) fromDiskOrCompile(ctx context.Context, key string, load func(context.Context) ([]byte, error)) (*wt.Module, uint64, error) {
	path := c.path(key)
	if path != "" {
		if mod, n, ok := c.fromDisk(path); ok {
			return mod, n, nil
		}
	}
	wasm, err := load(ctx)
	if err != nil {
		return nil, 0, err
	}
	mod, err := c.compile(wasm)
	if err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err // past the load timeout: dropped, not cached
	}
	code, err := mod.Serialize()
	if err != nil {
		return nil, 0, fmt.Errorf("wasmtime: serialising compiled code: %w", err)
	}
	if path != "" {
		c.toDisk(path, code)
	}
	return mod, uint64(len(code)), nil
}

func (c *codeCache) compile(wasm []byte) (*wt.Module, error) {
	mod, err := wt.NewModule(c.engine, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", sandbox.ErrInvalidModule, firstLine(err.Error()))
	}
	return mod, nil
}

// path is the cache file of key: named by a hash of the key and the engine's
// version, so that another wasmtime's code is never looked for.
func (c *codeCache) path(key string) string {
	if c.dir == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(Version + "\x00" + runtime.GOARCH + "\x00" + key))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:])+".cwasm")
}

// A cache file is the SHA-256 of the serialised code, then the code.
// fromDisk deserialises only a file whose checksum matches: a truncated or
// altered file is removed and the module compiled again.
func (c *codeCache) fromDisk(path string) (*wt.Module, uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, false
	}
	if len(b) < sha256.Size {
		_ = os.Remove(path)
		return nil, 0, false
	}
	sum := sha256.Sum256(b[sha256.Size:])
	if !bytes.Equal(sum[:], b[:sha256.Size]) {
		_ = os.Remove(path)
		return nil, 0, false
	}
	mod, err := wt.NewModuleDeserialize(c.engine, b[sha256.Size:])
	if err != nil {
		_ = os.Remove(path)
		return nil, 0, false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now) // recently used: pruned last
	return mod, uint64(len(b) - sha256.Size), true
}

func (c *codeCache) toDisk(path string, code []byte) {
	sum := sha256.Sum256(code)
	tmp, err := os.CreateTemp(c.dir, "tmp-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(sum[:])
	if err == nil {
		_, err = tmp.Write(code)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	c.prune()
}

// prune removes the least recently used cache files past maxDisk.
func (c *codeCache) prune() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		size int64
		mod  int64
	}
	var files []file
	var total uint64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".cwasm") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{filepath.Join(c.dir, e.Name()), info.Size(), info.ModTime().UnixNano()})
		total += uint64(info.Size())
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(a.mod, b.mod) })
	for _, f := range files {
		if total <= c.maxDisk {
			break
		}
		if os.Remove(f.path) == nil {
			total -= uint64(f.size)
		}
	}
}
