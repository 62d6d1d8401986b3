package blockstore

import (
	"bytes"
	"context"

	"testing"
)

const benchSize = 256 << 20

// BenchmarkAddFile256MiB measures `ipfs add --cid-version=1` of 256 MiB,
// including making the blocks durable.
func BenchmarkAddFile256MiB(b *testing.B) {
	data := genBytes("bench", benchSize)
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data[i%len(data)]++ // new content each round: no block already stored
		if _, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1); err != nil {
			b.Fatal(err)
		}
	}
}
