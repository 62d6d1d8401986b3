// Package blockstore is the node's IPFS storage: content-addressed blocks in
// an embedded, crash-safe pebble datastore (the bytes of raw leaves in
// append-only pack files beside it, read with pread straight into the
// reader's buffer), UnixFS import that reproduces the
// CIDs of kubo's `ipfs add`, CAR import and export, tar export, and an io/fs.FS
// that reads a UnixFS DAG lazily through any BlockGetter, and an Exchange
// that serves and fetches blocks with bitswap on a libp2p host
// (StartBitswap; NewFS(ctx, ex.Getter(), root) reads from peers).
//
//	s, err := blockstore.Open(dir, blockstore.Options{})
//	e, err := s.AddFile(ctx, r, blockstore.AddOptions{})
//	fsys, err := blockstore.NewFS(ctx, s.Blocks(), e.CID)
//
// Writes are durable when the call that made them returns; see RATIONALE.md
// in this folder for how that is made cheap for large imports.
//
// What is not pinned is collected by GC; a Hold keeps an import from first
// write to Pin, and Options.MaxSize bounds the repository:
//
//	h := s.Hold()
//	e, err := s.AddFile(h.Context(ctx), r, blockstore.AddOptions{})
//	err = s.Pin(ctx, e.CID, blockstore.PinInfo{Kind: blockstore.PinData})
//	h.Release()
//	res, err := s.GC(ctx, blockstore.GCOptions{})
package blockstore
