package blockstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"testing"
)

// BenchmarkBitswapFetch256MiB: B reads a 256 MiB file held by A through
// NewFS over bitswap on loopback TCP, into a fresh store each round, until
// the blocks are durable in B's store (as `ipfs pin add` does).
func BenchmarkBitswapFetch256MiB(b *testing.B) {
	ctx := context.Background()
	a := newBSPeer(b, nil)
	data := genBytes("bench", benchSize)
	e, err := a.s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := newBSPeer(b, nil)
		connect(b, p, a)
		b.StartTimer()
		fsys, err := NewFS(ctx, p.ex.Getter(), e.CID)
		if err != nil {
			b.Fatal(err)
		}
		f, err := fsys.Open(e.CID.String())
		if err != nil {
			b.Fatal(err)
		}
		readAll(b, f, buf)
		f.Close()
		if err := p.ex.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p.close()
		b.StartTimer()
	}
}

// BenchmarkBitswapFetch1000Small: B reads every file of a directory of
// 1,000 files of 4 KiB held by A (`ipfs get` of the directory).
func BenchmarkBitswapFetch1000Small(b *testing.B) {
	ctx := context.Background()
	a := newBSPeer(b, nil)
	db := a.s.NewDirBuilder(ProfileV1)
	for i := 0; i < 1000; i++ {
		e, err := a.s.AddFile(ctx, bytes.NewReader(genBytes(fmt.Sprint("small", i), 4096)), ProfileV1)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.AddFile(fmt.Sprintf("f%04d", i), e); err != nil {
			b.Fatal(err)
		}
	}
	root, err := db.Finish(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1000 * 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := newBSPeer(b, nil)
		connect(b, p, a)
		b.StartTimer()
		fsys, err := NewFS(ctx, p.ex.Getter(), root.CID)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		err = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			f, err := fsys.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			m, err := io.Copy(io.Discard, f)
			n += int(m)
			return err
		})
		if err != nil || n != 1000*4096 {
			b.Fatalf("read %d bytes: %v", n, err)
		}
		if err := p.ex.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p.close()
		b.StartTimer()
	}
}
