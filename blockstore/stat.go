package blockstore

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// RepoStat describes the repository. Sizes are bytes of file sizes, as
// `du --apparent-size` counts them: DiskBytes = PebbleBytes + PackBytes,
// PackBytes = PackLiveBytes + PackDeadBytes.
type RepoStat struct {
	DiskBytes     int64 // everything in the store directory
	PebbleBytes   int64 // pebble's files (and CAR import staging files)
	PackBytes     int64 // pack files
	PackLiveBytes int64 // pack bytes that index entries point at
	PackDeadBytes int64 // pack bytes nothing points at: GC reclaims them
	Blocks        int64 // blocks stored: in pebble and in packs
	PackedBlocks  int64 // of which in packs
	Pins          int64 // pins, expired ones included until a GC
	MaxSize       int64 // Options.MaxSize (0: no limit)
}

// Stat measures the repository. It reads every key, so it takes about as
// long as a scan of the index.
func (s *Store) Stat(ctx context.Context) (RepoStat, error) {
	if s.packs.isClosed() {
		return RepoStat{}, ErrClosed
	}
	st := RepoStat{MaxSize: s.maxSize}
	err := s.scanPacked(ctx, func(_ []byte, l packLoc) error {
		st.PackLiveBytes += l.n
		st.PackedBlocks++
		return nil
	})
	if err != nil {
		return RepoStat{}, fmt.Errorf("blockstore: stat: %w", mapErr(err))
	}
	for _, r := range []struct {
		prefix []byte
		n      *int64
	}{{blocksPrefix, &st.Blocks}, {pinPrefix, &st.Pins}} {
		it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: r.prefix, UpperBound: prefixEnd(r.prefix)})
		if err != nil {
			return RepoStat{}, fmt.Errorf("blockstore: stat: %w", mapErr(err))
		}
		for ok := it.First(); ok; ok = it.Next() {
			*r.n++
		}
		err = it.Error()
		it.Close()
		if err != nil {
			return RepoStat{}, fmt.Errorf("blockstore: stat: %w", mapErr(err))
		}
	}
	st.Blocks += st.PackedBlocks
	u, err := s.diskUsage()
	if err != nil {
		return RepoStat{}, err
	}
	st.PackBytes, st.PebbleBytes, st.DiskBytes = u.packs, u.other, u.total()
	st.PackDeadBytes = st.PackBytes - st.PackLiveBytes
	return st, nil
}
