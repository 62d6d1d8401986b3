//go:build bacalhau_liar

package node

import (
	"os"
	"path/filepath"
)

// lie makes this node dishonest, for the verification tests: it changes the output of
// every execution before the result is imported, so its result CID differs from honest
// nodes' while its receipt is validly signed.
func lie(dir string) {
	_ = os.WriteFile(filepath.Join(dir, "outputs", "lie"), []byte("this node lies\n"), 0o600)
}
