package blockstore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore/filecid"
)

// TestFileCIDMatchesAddFile holds filecid, the light CID calculator of the CLI, to the
// importer: kubo's files, and small chunks that make trees two and three levels deep.
func TestFileCIDMatchesAddFile(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(name string, data []byte, chunk int) {
		t.Helper()
		want, err := s.AddFile(ctx, bytes.NewReader(data), AddOptions{CIDVersion: 1, ChunkSize: chunk})
		if err != nil {
			t.Fatal(err)
		}
		got, size, err := filecid.Sum(bytes.NewReader(data), chunk)
		if err != nil || got.String() != want.CID.String() || size != want.Size {
			t.Fatalf("%s, chunks of %d: filecid = %s (%d bytes), %v; AddFile = %s (%d bytes)", name, chunk, got, size, err, want.CID, want.Size)
		}
	}
	dir := filepath.Join(unixfsDir, "files")
	for _, name := range []string{"empty.bin", "hello.txt", "chunk-plus-1.bin", "mib.bin"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("test data missing: %v", err)
		}
		check(name, data, 0)
		check(name, data, 1<<20)
	}
	data := genBytes("filecid", 174*174*3+7)
	for _, n := range []int{0, 1, 2, 3, 174, 175, 174 * 3, 174*174 - 1, 174 * 174, 174*174 + 1, len(data)} {
		check(fmt.Sprintf("%d bytes", n), data[:n], 1)
	}
	check("3-byte chunks", data, 3)
	if _, _, err := filecid.Sum(bytes.NewReader(data), filecid.MaxChunkSize+1); err == nil {
		t.Fatal("a chunk size over the limit was accepted")
	}
}
