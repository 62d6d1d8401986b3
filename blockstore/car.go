package blockstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	mh "github.com/multiformats/go-multihash"
)

// ImportCAR reads a CARv1 or CARv2 stream, checks that every block hashes to
// its CID with an allowed hash function, and stores the blocks only if all
// of them pass: blocks are staged in a temporary file in the store's
// directory first, so a bad CAR stores nothing. It returns the roots.
//
// A broken CAR is ErrBadCAR with a message that says how (a bad or short
// header, a CAR that ends in the middle of a block, a section longer than
// MaxCARBlockSize allows, an invalid CID, a root that is neither in the CAR
// nor held already); only a block whose bytes do not hash to its CID (or use
// a disallowed hash function) is ErrBadBlock. Like `ipfs dag import`, which
// pins the roots it imports, a root must be held once the CAR is in: in the
// CAR, or stored before (a CAR may complete a DAG). A CAR may declare no
// roots.
func (s *Store) ImportCAR(ctx context.Context, r io.Reader) ([]cid.Cid, error) {
	cr, err := newCARReader(r)
	if err != nil {
		return nil, err
	}
	stage, err := os.CreateTemp(s.dir, "import-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("blockstore: import car: %w", err)
	}
	defer func() {
		stage.Close()
		os.Remove(stage.Name())
	}()
	bw := bufio.NewWriterSize(stage, 1<<20)
	roots := make(map[string]bool, len(cr.roots)) // by multihash: found in the CAR
	for _, c := range cr.roots {
		roots[string(c.Hash())] = c.Prefix().MhType == mh.IDENTITY
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, data, err := cr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if _, ok := roots[string(c.Hash())]; ok {
			roots[string(c.Hash())] = true
		}
		if err := writeStaged(bw, c, data); err != nil {
			return nil, fmt.Errorf("blockstore: import car: %w", err)
		}
	}
	for _, c := range cr.roots {
		if roots[string(c.Hash())] {
			continue
		}
		if ok, err := s.has(c); err != nil {
			return nil, fmt.Errorf("blockstore: import car: %w", err)
		} else if !ok {
			return nil, badCAR("root %s is not in the CAR", c)
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("blockstore: import car: %w", err)
	}
	if _, err := stage.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("blockstore: import car: %w", err)
	}
	w := s.newWriter(ctx)
	if err := replayStaged(bufio.NewReaderSize(stage, 1<<20), w); err != nil {
		w.abort()
		return nil, fmt.Errorf("blockstore: import car: %w", err)
	}
	if err := w.done(); err != nil {
		return nil, err
	}
	return cr.roots, nil
}

// Staged blocks: uvarint CID length, CID, uvarint data length, data.
func writeStaged(w io.Writer, c cid.Cid, data []byte) error {
	var hdr [2 * binary.MaxVarintLen64]byte
	cb := c.Bytes()
	n := binary.PutUvarint(hdr[:], uint64(len(cb)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	if _, err := w.Write(cb); err != nil {
		return err
	}
	n = binary.PutUvarint(hdr[:], uint64(len(data)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

func replayStaged(r *bufio.Reader, w *writer) error {
	var buf []byte
	for {
		cl, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		cb := make([]byte, cl)
		if _, err := io.ReadFull(r, cb); err != nil {
			return err
		}
		_, c, err := cid.CidFromBytes(cb)
		if err != nil {
			return err
		}
		dl, err := binary.ReadUvarint(r)
		if err != nil {
			return err
		}
		if uint64(cap(buf)) < dl {
			buf = make([]byte, dl)
		}
		buf = buf[:dl]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if c.Prefix().MhType == 0 {
			continue // identity CIDs carry their data
		}
		if err := w.put(c, buf); err != nil { // the batch copies buf
			return err
		}
	}
}

// ExportCAR writes the DAG under root as a CARv1 with root as its only root,
// blocks in depth-first pre-order without duplicates, as `ipfs dag export`.
// Every block must be stored locally.
func (s *Store) ExportCAR(ctx context.Context, root cid.Cid, w io.Writer) error {
	cw, err := storage.NewWritable(w, []cid.Cid{root}, carv2.WriteAsCarV1(true))
	if err != nil {
		return fmt.Errorf("blockstore: export car: %w", err)
	}
	seen := map[cid.Cid]struct{}{}
	g := localGetter{s}
	var walk func(c cid.Cid, depth int) error
	walk = func(c cid.Cid, depth int) error {
		if _, ok := seen[c]; ok {
			return nil
		}
		seen[c] = struct{}{}
		if depth > MaxDepth {
			return fmt.Errorf("%w: deeper than %d", ErrBadDAG, MaxDepth)
		}
		var links []cid.Cid
		err := g.viewBlock(ctx, c, func(data []byte) error {
			if err := cw.Put(ctx, c.KeyString(), data); err != nil {
				return err
			}
			var err error
			links, err = blockLinks(c, data)
			return err
		})
		if err != nil {
			return err
		}
		for _, l := range links {
			if err := walk(l, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return fmt.Errorf("blockstore: export car %s: %w", root, err)
	}
	return cw.Finalize()
}
