package blockstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkGC1GiBHalfPinned: a GC of a 1 GiB repository (64 files of 16
// MiB, every other one pinned), with and without compaction:
//
//	go test -run XXX -bench GC1GiB -benchtime 1x ./blockstore/
func BenchmarkGC1GiBHalfPinned(b *testing.B) {
	for _, compact := range []bool{false, true} {
		b.Run(fmt.Sprintf("compact=%v", compact), func(b *testing.B) {
			ctx := context.Background()
			for range b.N {
				b.StopTimer()
				s, err := Open(b.TempDir(), Options{})
				if err != nil {
					b.Fatal(err)
				}
				for i := range 64 {
					e, err := s.AddFile(ctx, bytes.NewReader(genBytes(fmt.Sprint("gcbench", i), 16<<20)), ProfileV1)
					if err != nil {
						b.Fatal(err)
					}
					if i%2 == 0 {
						if err := s.Pin(ctx, e.CID, PinInfo{Kind: PinData}); err != nil {
							b.Fatal(err)
						}
					}
				}
				opts := GCOptions{MinDeadFraction: 2}
				if compact {
					opts.MinDeadFraction = 0
				}
				b.StartTimer()
				res, err := s.GC(ctx, opts)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(res.BlocksFreed), "blocks-freed")
				b.ReportMetric(float64(res.PackBytesFreed)/(1<<20), "MiB-freed")
				s.Close()
			}
		})
	}
}
