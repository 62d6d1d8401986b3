// Package filecid computes the CID `ipfs add --cid-version=1` gives a file, without
// storing anything and without the importer's dependencies: raw leaves of a fixed chunk
// size under a balanced tree of dag-pb nodes, 174 links each, sha2-256. The CLI uses it to
// ask a node whether it holds a module before uploading it; blockstore's tests hold it to
// the importer's CIDs.
//
//	c, size, err := filecid.Sum(f, 0)
package filecid

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

// Defaults of kubo's importer.
const (
	DefaultChunkSize = 262144
	linksPerNode     = 174
)

// MaxChunkSize is the largest chunk size kubo accepts.
const MaxChunkSize = 2 << 20

// ErrChunkSize is returned for a chunk size out of range.
var ErrChunkSize = errors.New("filecid: chunk size out of range")

// node is a finished subtree: its CID, the bytes of file content under it and the
// cumulative size of its blocks (the Tsize a link to it carries).
type node struct {
	c           cidtext.CID
	size, tsize uint64
}

// Sum reads r to its end and returns the CIDv1 and the size of the file that kubo's
// `ipfs add --cid-version=1 --chunker=size-<chunkSize>` builds from it. chunkSize 0 means
// DefaultChunkSize.
func Sum(r io.Reader, chunkSize int) (cidtext.CID, uint64, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if chunkSize < 1 || chunkSize > MaxChunkSize {
		return cidtext.CID{}, 0, fmt.Errorf("%w: %d (want 1 to %d)", ErrChunkSize, chunkSize, MaxChunkSize)
	}
	b := &builder{r: r, buf: make([]byte, chunkSize)}
	if err := b.next(); err != nil {
		return cidtext.CID{}, 0, err
	}
	// As boxo's balanced layout: the first leaf is the root until a second chunk comes;
	// then each time the tree of a depth is full it becomes the first child of a root
	// one level deeper, filled with subtrees of the depth below.
	root, err := b.leaf()
	if err != nil {
		return cidtext.CID{}, 0, err
	}
	for depth := 1; !b.done; depth++ {
		if root, err = b.fill([]node{root}, depth); err != nil {
			return cidtext.CID{}, 0, err
		}
	}
	return root.c, root.size, nil
}

type builder struct {
	r    io.Reader
	buf  []byte
	n    int  // bytes of the chunk in buf
	done bool // no chunk is left
}

// next reads the next chunk into buf; done is set when there is none.
func (b *builder) next() error {
	n, err := io.ReadFull(b.r, b.buf)
	switch {
	case err == io.EOF:
		b.n, b.done = 0, true
		return nil
	case err == io.ErrUnexpectedEOF, err == nil:
		b.n = n
		return nil
	default:
		return fmt.Errorf("filecid: reading: %w", err)
	}
}

// leaf makes the raw leaf of the current chunk (the empty block for an empty file) and
// reads the next one.
func (b *builder) leaf() (node, error) {
	sum := sha256.Sum256(b.buf[:b.n])
	n := node{c: rawCID(sum[:]), size: uint64(b.n), tsize: uint64(b.n)}
	if b.done {
		return n, nil
	}
	return n, b.next()
}

// fill adds children of the given depth below a node that already has children, until
// it holds linksPerNode of them or the file ends, and returns the node.
func (b *builder) fill(children []node, depth int) (node, error) {
	for len(children) < linksPerNode && !b.done {
		var child node
		var err error
		if depth == 1 {
			child, err = b.leaf()
		} else {
			child, err = b.fill(nil, depth-1)
		}
		if err != nil {
			return node{}, err
		}
		children = append(children, child)
	}
	return encodeNode(children), nil
}

// encodeNode makes the dag-pb node of a UnixFS file with the given children, encoded as
// boxo encodes it: links (hash, empty name, Tsize) before data; the data is a UnixFS
// message of type File with the file size and each child's size.
func encodeNode(children []node) node {
	var data []byte
	data = appendVarintField(data, 1, 2) // Type: File
	var size uint64
	for _, c := range children {
		size += c.size
	}
	data = appendVarintField(data, 3, size) // filesize
	for _, c := range children {
		data = appendVarintField(data, 4, c.size) // blocksizes
	}
	var pb []byte
	var tsize uint64
	for _, c := range children {
		var link []byte
		link = appendBytesField(link, 1, c.c.Bytes()) // Hash
		link = appendBytesField(link, 2, nil)         // Name, always present
		link = appendVarintField(link, 3, c.tsize)    // Tsize
		pb = appendBytesField(pb, 2, link)
		tsize += c.tsize
	}
	pb = appendBytesField(pb, 1, data)
	sum := sha256.Sum256(pb)
	return node{c: cidtext.V1(cidtext.DagPB, sum[:]), size: size, tsize: tsize + uint64(len(pb))}
}

func rawCID(sum []byte) cidtext.CID {
	return cidtext.V1(cidtext.Raw, sum)
}

func appendVarintField(b []byte, field int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3) // wire type 0
	return binary.AppendUvarint(b, v)
}

func appendBytesField(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
