package blockstore

import "errors"

// Sentinel errors. Functions wrap them with %w and add context.
var (
	// ErrNotFound: a block, entry or path is not there.
	ErrNotFound = errors.New("blockstore: not found")
	// ErrClosed: the store was used after Close.
	ErrClosed = errors.New("blockstore: closed")
	// ErrBadPath: a path is absolute, has empty, "." or ".." segments, a NUL
	// or a name longer than MaxNameLen; or a symlink target is unusable.
	ErrBadPath = errors.New("blockstore: bad path")
	// ErrExists: a DirBuilder path was already given, or a parent is a file.
	ErrExists = errors.New("blockstore: already exists")
	// ErrBadBlock: a block does not hash to its CID or uses a disallowed hash.
	ErrBadBlock = errors.New("blockstore: block does not match its CID")
	// ErrBadCAR: a CAR stream is malformed (header, framing, CIDs, roots).
	ErrBadCAR = errors.New("blockstore: malformed CAR")
	// ErrBadDAG: a DAG is malformed (wrong node type, sizes that do not add
	// up, bad entry names, cycles, too deep).
	ErrBadDAG = errors.New("blockstore: malformed DAG")
	// ErrBadOptions: AddOptions hold an unsupported value.
	ErrBadOptions = errors.New("blockstore: bad options")
)
