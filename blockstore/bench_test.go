package blockstore

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
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

// BenchmarkReadFS256MiB reads a 256 MiB file through NewFS from the local
// store; BenchmarkReadHost256MiB reads the same bytes from a host file.
func BenchmarkReadFS256MiB(b *testing.B) {
	data := genBytes("bench", benchSize)
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	e, err := s.AddFile(ctx, bytes.NewReader(data), ProfileV1)
	if err != nil {
		b.Fatal(err)
	}
	fsys, err := NewFS(ctx, s.Blocks(), e.CID)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := fsys.Open(e.CID.String())
		if err != nil {
			b.Fatal(err)
		}
		readAll(b, f, buf)
		f.Close()
	}
}

func BenchmarkReadHost256MiB(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(p, genBytes("bench", benchSize), 0o600); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		readAll(b, f, buf)
		f.Close()
	}
}

func readAll(b *testing.B, r io.Reader, buf []byte) {
	n := 0
	for {
		m, err := r.Read(buf)
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if n != benchSize {
		b.Fatalf("read %d bytes, want %d", n, benchSize)
	}
}
