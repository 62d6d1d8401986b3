package blockstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// unixfsDir holds the UnixFS vectors: files, the CIDs kubo computes for them, and CAR
// exports (testdata/unixfs/README.md).
const unixfsDir = "testdata/unixfs"

type vectors struct {
	Files       map[string]map[string]string `json:"files"`
	Directories map[string]map[string]string `json:"directories"`
	Generated   map[string]json.RawMessage   `json:"generated"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(unixfsDir, "vectors.json"))
	if err != nil {
		t.Fatalf("test vectors missing: %v", err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// genBytes makes the generated vectors' bytes: SHA-256 in counter mode.
func genBytes(seed string, n int) []byte {
	out := make([]byte, 0, n+sha256.Size)
	var ctr [8]byte
	for k := uint64(0); len(out) < n; k++ {
		binary.BigEndian.PutUint64(ctr[:], k)
		h := sha256.New()
		h.Write([]byte(seed))
		h.Write(ctr[:])
		out = h.Sum(out)
	}
	return out[:n]
}

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

var profiles = map[string]AddOptions{
	"v0-default": ProfileV0,
	"v1-default": ProfileV1,
	"v1-1mib":    {CIDVersion: 1, ChunkSize: 1 << 20},
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
