package wasi

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// OutputsTarget is where Config.OutputsDir appears in the guest.
const OutputsTarget = "/outputs"

// DefaultEntryPoint is the function a WASI command starts in, which a runner calls when
// it is told of no other.
const DefaultEntryPoint = "_start"

// DefaultProgramName is argv[0] when Config.Program is empty.
const DefaultProgramName = "main.wasm"

const (
	// DefaultOutputsLimit is Config.OutputsLimit when it is 0.
	DefaultOutputsLimit = 1 << 30 // 1 GiB
	// OutputsEntryCost is what every file, directory and hard link in
	// /outputs counts against Config.OutputsLimit besides the bytes of its
	// files, so that a guest cannot fill the host with empty files either.
	OutputsEntryCost = 4 << 10 // 4 KiB: a block, what an empty directory takes on most file systems
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("wasi: invalid config")

// RootTarget is the Target of a mount that is the guest's root directory:
// the other mounts and /outputs are preopened over it.
const RootTarget = "/"

// Mount makes FS visible at Target in the guest: read-only, or, with
// Writable, as a copy-on-write directory.
//
// Target must be absolute and clean, not under /outputs, and must not
// contain another mount's target nor be contained by one, except that
// RootTarget contains every other.
type Mount struct {
	FS     fs.FS
	Target string
	// Writable lets the guest change the mount: files are read from FS
	// until the guest changes them, and what it changes is kept under
	// Config.ScratchDir, counted against Config.OutputsLimit, and dropped
	// after the run.
	Writable bool
}

// Config is everything a guest sees. The zero value runs a guest with no
// arguments, no environment, no files and discarded standard streams.
type Config struct {
	// Program is argv[0]; "" means DefaultProgramName.
	Program string
	// Args are the arguments after argv[0].
	Args []string
	// Env is the whole environment: nothing of the host is inherited. The
	// guest sees the variables sorted by name.
	Env map[string]string
	// Mounts are read-only inputs.
	Mounts []Mount
	// OutputsDir is a host directory mounted writable at /outputs; "" means
	// none. It should be empty and owned by the caller: the guest can create,
	// change and remove anything in it (but no symbolic links).
	OutputsDir string
	// OutputsLimit bounds what OutputsDir holds, in bytes: the size of its
	// files plus OutputsEntryCost per entry, what was there before the run
	// included. A write, truncate or create that would pass it fails with
	// ENOSPC. 0 means DefaultOutputsLimit.
	OutputsLimit int64
	// ScratchDir is a host directory the sandbox may use for what the guest
	// changes in writable mounts; it is emptied after the run. "" means a
	// temporary directory.
	ScratchDir string
	// Stdin is read by the guest; nil reads as empty. A Reader that blocks
	// is not interrupted by a timeout, so pass in-memory data.
	Stdin io.Reader
	// Stdout and Stderr receive the guest's output; nil discards it.
	Stdout, Stderr io.Writer
	// Seed seeds the only source of randomness the guest has.
	Seed uint64
	// Realtime gives the guest the host's clocks and crypto/rand instead of the
	// virtual clock and Seed: for functions answering requests, never for jobs,
	// whose results must be reproducible.
	Realtime bool
}

// Argv returns the whole argument vector the guest sees, argv[0] included.
func (c Config) Argv() []string {
	name := c.Program
	if name == "" {
		name = DefaultProgramName
	}
	return append([]string{name}, c.Args...)
}

// SortedEnv returns Env as "KEY=value" pairs sorted by key.
func (c Config) SortedEnv() [][2]string {
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([][2]string, len(keys))
	for i, k := range keys {
		env[i] = [2]string{k, c.Env[k]}
	}
	return env
}

// Validate reports the first problem with c, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	for k, v := range c.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("%w: environment variable name %q must be non-empty without '=' or NUL", ErrInvalidConfig, k)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("%w: environment variable %s contains NUL", ErrInvalidConfig, k)
		}
	}
	for i, a := range c.Argv() {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("%w: argument %d contains NUL", ErrInvalidConfig, i)
		}
	}
	if c.OutputsLimit < 0 {
		return fmt.Errorf("%w: negative outputs limit %d", ErrInvalidConfig, c.OutputsLimit)
	}
	if c.OutputsDir != "" {
		st, err := os.Stat(c.OutputsDir)
		if err != nil {
			return fmt.Errorf("%w: outputs directory: %w", ErrInvalidConfig, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("%w: outputs directory %s is not a directory", ErrInvalidConfig, c.OutputsDir)
		}
	}
	seen := make([]string, 0, len(c.Mounts))
	for i, m := range c.Mounts {
		if m.FS == nil {
			return fmt.Errorf("%w: mount %d (%q) has no FS", ErrInvalidConfig, i, m.Target)
		}
		if err := validTarget(m.Target); err != nil {
			return fmt.Errorf("%w: mount %d: %w", ErrInvalidConfig, i, err)
		}
		if m.Target != RootTarget && (within(m.Target, OutputsTarget) || within(OutputsTarget, m.Target)) {
			return fmt.Errorf("%w: mount %d: target %q overlaps %s", ErrInvalidConfig, i, m.Target, OutputsTarget)
		}
		for _, s := range seen {
			switch {
			case s == m.Target:
				return fmt.Errorf("%w: mount %d: target %q is mounted twice", ErrInvalidConfig, i, m.Target)
			case s != RootTarget && m.Target != RootTarget && (within(m.Target, s) || within(s, m.Target)):
				return fmt.Errorf("%w: mount %d: target %q overlaps mount %q", ErrInvalidConfig, i, m.Target, s)
			}
		}
		seen = append(seen, m.Target)
	}
	return nil
}

func validTarget(t string) error {
	switch {
	case t == "":
		return errors.New("empty target")
	case !strings.HasPrefix(t, "/"):
		return fmt.Errorf("target %q is not absolute", t)
	case path.Clean(t) != t:
		return fmt.Errorf("target %q is not clean (want %q)", t, path.Clean(t))
	case strings.ContainsRune(t, 0):
		return fmt.Errorf("target %q contains NUL", t)
	}
	return nil
}

// within reports whether clean absolute path p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// HostDir returns an fs.FS of the host directory dir that the sandbox mounts
// directly through the operating system, which is faster than going through
// the fs.FS interface. It behaves as os.DirFS(dir) for other users.
func HostDir(dir string) fs.FS { return hostDir{FS: os.DirFS(dir), dir: dir} }

type hostDir struct {
	fs.FS
	dir string
}

// HostPath returns the host directory of an fs.FS made by HostDir.
func HostPath(fsys fs.FS) (dir string, ok bool) {
	h, ok := fsys.(hostDir)
	return h.dir, ok
}
