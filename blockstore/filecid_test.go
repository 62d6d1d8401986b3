package blockstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestFileCIDMatchesAddFile(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := filepath.Join("..", "..", "shared", "testdata", "unixfs", "files")
	for _, name := range []string{"empty.bin", "hello.txt", "chunk-plus-1.bin", "mib.bin"} {
		for _, opts := range []AddOptions{ProfileV1, ProfileV0, {ChunkSize: 1 << 20}} {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("shared test data missing: %v", err)
			}
			want, err := s.AddFile(ctx, f, opts)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			f, _ = os.Open(filepath.Join(dir, name))
			got, err := FileCID(ctx, f, opts)
			f.Close()
			if err != nil || got != want {
				t.Fatalf("%s %+v: FileCID = %+v, %v; AddFile = %+v", name, opts, got, err, want)
			}
		}
	}
}
