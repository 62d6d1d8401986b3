package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/gateway"
)

// served is a gateway over a real store holding one file.
func served(t testing.TB) (http.Handler, string) {
	t.Helper()
	s, err := blockstore.Open(t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e, err := s.AddFile(context.Background(), strings.NewReader("hello gateway\n"), blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	h, err := gateway.New(gateway.Config{Blocks: s.Blocks(), Has: s.Has})
	if err != nil {
		t.Fatal(err)
	}
	return h, e.CID.String()
}

func do(h http.Handler, path, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://gw.test/", nil)
	req.URL.Path, req.URL.RawPath, req.RequestURI = "", "", ""
	req.URL.Opaque = ""
	if u, err := req.URL.Parse(path); err == nil {
		req.URL = u
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestGatewayServesHeld(t *testing.T) {
	h, c := served(t)
	w := do(h, "/ipfs/"+c, "")
	if body, _ := io.ReadAll(w.Body); w.Code != 200 || string(body) != "hello gateway\n" {
		t.Fatalf("held file: %d %q", w.Code, body)
	}
	for path, want := range map[string]int{
		"/ipfs/not-a-cid": http.StatusBadRequest,
		"/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy": http.StatusNotFound, // not held
		"/ipns/example.com": http.StatusNotFound, // only /ipfs/ is mounted
		"/":                 http.StatusNotFound,
	} {
		if w := do(h, path, ""); w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
}

func TestGatewayNeedsBlocks(t *testing.T) {
	if _, err := gateway.New(gateway.Config{}); err == nil {
		t.Fatal("a gateway without blocks was made")
	}
}

// FuzzGatewayPath: whatever path and Accept header a client sends, the gateway answers
// without panicking and never with a server error for content it holds or lacks.
func FuzzGatewayPath(f *testing.F) {
	h, c := served(f)
	for _, s := range []string{"/ipfs/" + c, "/ipfs/" + c + "/x", "/ipfs/" + c + "?format=car", "/ipfs/Qm", "/ipfs/%00", "/ipfs/" + c + "?format=raw&filename=a", "/ipfs//"} {
		f.Add(s, "application/vnd.ipld.car")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, path, accept string) {
		if !strings.HasPrefix(path, "/") || bytes.ContainsAny([]byte(accept), "\r\n\x00") {
			return
		}
		w := do(h, path, accept)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("GET %q (Accept %q): %d %s", path, accept, w.Code, w.Body.String())
		}
	})
}

// gogcGetter records the GOGC in force while the gateway reads blocks.
type gogcGetter struct {
	blockstore.BlockGetter
	seen []int
}

func (g *gogcGetter) GetBlock(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	g.seen = append(g.seen, p)
	return g.BlockGetter.GetBlock(ctx, c)
}

// TestGatewayHeapFloor: while the gateway streams a file the collector's heap goal is
// raised (each block sent is garbage; at GOGC=100 over a small heap it collected every
// few blocks); before and after, the process's GOGC is in force.
func TestGatewayHeapFloor(t *testing.T) {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	s, err := blockstore.Open(t.TempDir(), blockstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.AddFile(context.Background(), bytes.NewReader(bytes.Repeat([]byte("floor"), 1<<18)), blockstore.AddOptions{CIDVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		floor  int64
		raised bool
	}{{1 << 30, true}, {-1, false}} { // a floor far above the test's live heap
		g := &gogcGetter{BlockGetter: s.Blocks()}
		h, err := gateway.New(gateway.Config{Blocks: g, Has: s.Has, HeapFloor: c.floor})
		if err != nil {
			t.Fatal(err)
		}
		w := do(h, "/ipfs/"+e.CID.String(), "")
		if w.Code != 200 || w.Body.Len() != 5<<18 {
			t.Fatalf("HeapFloor %d: %d, %d bytes", c.floor, w.Code, w.Body.Len())
		}
		if len(g.seen) == 0 {
			t.Fatalf("HeapFloor %d: no block read", c.floor)
		}
		for _, p := range g.seen {
			if (p > base) != c.raised {
				t.Fatalf("HeapFloor %d: GOGC %d while serving (process's %d), want raised %v", c.floor, p, base, c.raised)
			}
		}
		if p := debug.SetGCPercent(base); p != base {
			t.Fatalf("HeapFloor %d: GOGC %d after the response, want the process's %d", c.floor, p, base)
		}
	}
}
