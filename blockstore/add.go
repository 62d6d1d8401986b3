package blockstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"
)

// AddOptions choose the DAG an import builds. The zero value is
// `ipfs add --cid-version=1`.
type AddOptions struct {
	// CIDVersion 1 builds raw leaves and CIDv1, as
	// `ipfs add --cid-version=1`. Because the zero value must mean the
	// default (CIDv1, the result-DAG profile), 0 also means CIDv1; set CIDv0
	// for kubo's default profile (dag-pb leaves, CIDv0).
	CIDVersion int
	// CIDv0 selects kubo's default CIDv0 profile.
	CIDv0 bool
	// ChunkSize is the fixed chunk size in bytes (default 262144).
	ChunkSize int
	// Hidden keeps the files and directories whose name starts with '.' when
	// a directory is imported (AddPath, DirBuilder), as `ipfs add -r -H`. The
	// zero value skips them, as `ipfs add -r` does, so that the CIDs of a
	// directory with dotfiles match kubo's. The path given to AddPath itself
	// is kept either way (kubo's too). Job results set it: a job's outputs
	// must not silently lose files.
	Hidden bool
	// RawLeaves, when set, overrides the leaf format of the profile (raw leaves for
	// CIDv1, dag-pb leaves for CIDv0), as kubo's --raw-leaves does.
	RawLeaves *bool
	// OnlyHash computes the CIDs without storing anything, as `ipfs add -n`: AddFile,
	// AddSymlink and DirBuilder.Finish return the entry and write no block.
	OnlyHash bool
}

// rawLeaves reports whether file leaves are raw blocks for CID version v.
func (o AddOptions) rawLeaves(v uint64) bool {
	if o.RawLeaves != nil {
		return *o.RawLeaves
	}
	return v == 1
}

// ProfileV0 and ProfileV1 are ready-made AddOptions for kubo's two
// profiles: `ipfs add` and `ipfs add --cid-version=1`.
var (
	ProfileV0 = AddOptions{CIDv0: true}
	ProfileV1 = AddOptions{CIDVersion: 1}
)

// Entry is the result of an import: what a directory link to it needs.
type Entry struct {
	CID   cid.Cid
	Size  uint64 // bytes of file content (0 for a directory)
	Tsize uint64 // cumulative size of the DAG's blocks, a link's Tsize
}

const (
	defaultChunkSize = 262144
	maxChunkSize     = chunker.ChunkSizeLimit
	linksPerNode     = 174 // kubo's balanced layout width (helpers.DefaultLinksPerBlock)
)

func (o AddOptions) version() (int, error) {
	switch {
	case o.CIDv0 && o.CIDVersion == 1:
		return 0, fmt.Errorf("%w: CIDv0 and CIDVersion 1 both set", ErrBadOptions)
	case o.CIDv0:
		return 0, nil
	case o.CIDVersion == 0 || o.CIDVersion == 1:
		return 1, nil
	default:
		return 0, fmt.Errorf("%w: CID version %d", ErrBadOptions, o.CIDVersion)
	}
}

func (o AddOptions) prefix() (cid.Prefix, error) {
	v, err := o.version()
	if err != nil {
		return cid.Prefix{}, err
	}
	return cid.Prefix{Version: uint64(v), Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}, nil
}

func (o AddOptions) chunkSize() (int, error) {
	switch {
	case o.ChunkSize == 0:
		return defaultChunkSize, nil
	case o.ChunkSize < 0 || o.ChunkSize > maxChunkSize:
		return 0, fmt.Errorf("%w: chunk size %d", ErrBadOptions, o.ChunkSize)
	}
	return o.ChunkSize, nil
}

// AddFile imports one file's bytes exactly as `ipfs add` does and makes them
// durable before returning.
func (s *Store) AddFile(ctx context.Context, r io.Reader, opts AddOptions) (Entry, error) {
	w := s.newWriter(ctx)
	w.discard = opts.OnlyHash
	e, err := s.addFile(ctx, w, r, opts)
	if err != nil {
		w.abort()
		return Entry{}, err
	}
	if err := w.done(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func (s *Store) addFile(ctx context.Context, w *writer, r io.Reader, opts AddOptions) (Entry, error) {
	return buildFile(ctx, w, r, opts)
}

// buildFile chunks r and lays the chunks out as kubo's balanced importer does, handing
// every node to dag.
func buildFile(ctx context.Context, dag ipld.DAGService, r io.Reader, opts AddOptions) (Entry, error) {
	e, _, err := buildFileHashing(ctx, dag, r, opts, runtime.GOMAXPROCS(0))
	return e, err
}

// buildFileHashing is buildFile with leaves hashed ahead by workers goroutines (1 or
// fewer: on the importer's goroutine). It also returns how many leaf hashes came from
// the workers.
func buildFileHashing(ctx context.Context, dag ipld.DAGService, r io.Reader, opts AddOptions, workers int) (Entry, int, error) {
	prefix, err := opts.prefix()
	if err != nil {
		return Entry{}, 0, err
	}
	size, err := opts.chunkSize()
	if err != nil {
		return Entry{}, 0, err
	}
	cr := &countingReader{ctx: ctx, r: r}
	var src io.Reader = cr
	raw := opts.rawLeaves(prefix.Version)
	if prefix.Version == 1 && raw {
		head, whole, err := readSmall(cr, min(smallFile, size))
		if err != nil {
			return Entry{}, 0, fmt.Errorf("blockstore: add: %w", err)
		}
		if whole && len(head) > 0 {
			// One raw leaf, as the importer below makes it, without the chunker's and
			// the prehasher's chunk-sized buffers: a large allocation per file that the
			// garbage collector gives back to the OS in between, so that every job's
			// stdout, stderr and small outputs paid the page faults of a fresh chunk.
			nd, err := merkledag.NewRawNodeWPrefix(head, prefix)
			if err != nil {
				return Entry{}, 0, fmt.Errorf("blockstore: add: %w", err)
			}
			if err := dag.Add(ctx, nd); err != nil {
				return Entry{}, 0, fmt.Errorf("blockstore: add: %w", err)
			}
			e, err := entryOf(nd, uint64(len(head)))
			return e, 0, err
		}
		src = io.MultiReader(bytes.NewReader(head), cr)
	}
	var builder cid.Builder = prefix
	var ph *prehasher
	if prefix.Version == 1 && raw && workers > 1 {
		// Raw leaves are hashed as read: hash them ahead, on every core.
		ph = newPrehasher(src, size, workers)
		src, builder = ph, ph.builder(prefix)
	}
	hits := 0
	stop := func() { // before cr is read: the prehasher reads it on its own goroutine
		if ph != nil {
			ph.Close()
			hits = ph.hits
		}
	}
	params := helpers.DagBuilderParams{
		Maxlinks:   linksPerNode,
		RawLeaves:  raw,
		CidBuilder: builder,
		Dagserv:    dag,
	}
	db, err := params.New(chunker.NewSizeSplitter(src, int64(size)))
	if err != nil {
		stop()
		return Entry{}, 0, fmt.Errorf("blockstore: add: %w", err)
	}
	nd, err := balanced.Layout(db)
	stop()
	if err != nil {
		if cr.err != nil {
			err = cr.err
		}
		return Entry{}, 0, fmt.Errorf("blockstore: add: %w", err)
	}
	e, err := entryOf(nd, uint64(cr.n))
	return e, hits, err
}

func entryOf(nd ipld.Node, fileSize uint64) (Entry, error) {
	tsize, err := nd.Size()
	if err != nil {
		return Entry{}, fmt.Errorf("blockstore: add: %w", err)
	}
	if _, ok := nd.(*merkledag.RawNode); ok {
		tsize = uint64(len(nd.RawData()))
	}
	return Entry{CID: nd.Cid(), Size: fileSize, Tsize: tsize}, nil
}

// countingReader counts bytes and stops on context cancellation.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// smallFile is the most readSmall reads before handing a file to the chunker: small
// enough to come from the allocator's small-object spans, which are reused in place.
const smallFile = 8 << 10

// readSmall reads up to limit bytes of r and says whether that was all of it (r ended
// within them).
func readSmall(r io.Reader, limit int) ([]byte, bool, error) {
	head := make([]byte, limit+1)
	n, err := io.ReadFull(r, head)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		return head[:n], true, nil
	case nil: // limit+1 bytes: more than limit
		return head, false, nil
	default:
		return nil, false, err
	}
}
