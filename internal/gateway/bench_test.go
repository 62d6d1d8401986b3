package gateway_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/gateway"
)

// BenchmarkGatewayFile256MiB: one client reads a 256 MiB file whole over HTTP on
// loopback, from a gateway over a real store, as curl does in `make bench`.
func BenchmarkGatewayFile256MiB(b *testing.B) {
	const size = 256 << 20
	s, err := blockstore.Open(b.TempDir(), blockstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e, err := s.AddFile(context.Background(), io.LimitReader(rand.NewChaCha8([32]byte{1}), size), blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		b.Fatal(err)
	}
	h, err := gateway.New(gateway.Config{Blocks: s.Blocks(), Has: s.Has})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		resp, err := http.Get(srv.URL + "/ipfs/" + e.CID.String())
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size || resp.StatusCode != 200 {
			b.Fatalf("GET: %d, %d bytes, %v", resp.StatusCode, n, err)
		}
	}
}
