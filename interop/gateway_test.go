package interop

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// get fetches url with the given header lines ("Name: value"); status, headers, body.
func get(t *testing.T, url string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	c := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// gatewayTree is a dataset with a HAMT-sharded directory (past kubo's 256 KiB
// threshold) beside the usual files.
func gatewayTree(t *testing.T) string {
	t.Helper()
	root := dataset(t)
	sharded := filepath.Join(root, "sharded")
	if err := os.MkdirAll(sharded, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if err := os.WriteFile(filepath.Join(sharded, fmt.Sprintf("entry-%04d.txt", i)), []byte(fmt.Sprintf("entry %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestGatewayLikeKubos: our gateway and kubo's, serving the same DAG (same CID on both
// sides), answer the same bytes for files, ranges, raw blocks and CARs of sub-paths,
// with the headers of the gateway specs; an absent CID is 404 and a malformed one 400.
func TestGatewayLikeKubos(t *testing.T) {
	t.Parallel()
	k := newKubo(t)
	k.start()
	n := startNode(t, "--gateway-retrieval-timeout", "2s")
	tree := gatewayTree(t)
	c := n.ok("data", "add", tree)
	if kc := k.run("add", "-r", "-Q", "--cid-version=1", tree); kc != c {
		t.Fatalf("kubo's CID %s, ours %s", kc, c)
	}
	ours, theirs := n.gateway(), fmt.Sprintf("http://127.0.0.1:%d", k.gw)
	same := func(path string, header ...string) (int, http.Header, []byte) {
		t.Helper()
		code, h, body := get(t, ours+path, header...)
		kcode, _, kbody := get(t, theirs+path, header...)
		if code != kcode || string(body) != string(kbody) {
			t.Fatalf("GET %s %v: ours %d (%d bytes), kubo's %d (%d bytes)", path, header, code, len(body), kcode, len(kbody))
		}
		return code, h, body
	}

	big, err := os.ReadFile(filepath.Join(tree, "sub", "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	code, h, body := same("/ipfs/" + c + "/sub/big.bin")
	if code != 200 || string(body) != string(big) {
		t.Fatalf("file: %d, %d bytes, want 200 and %d bytes", code, len(body), len(big))
	}
	if !strings.Contains(h.Get("Cache-Control"), "immutable") || h.Get("Etag") == "" || h.Get("X-Ipfs-Path") != "/ipfs/"+c+"/sub/big.bin" {
		t.Fatalf("headers: Cache-Control %q, Etag %q, X-Ipfs-Path %q", h.Get("Cache-Control"), h.Get("Etag"), h.Get("X-Ipfs-Path"))
	}
	if code, _, _ := get(t, ours+"/ipfs/"+c+"/sub/big.bin", "If-None-Match: "+h.Get("Etag")); code != http.StatusNotModified {
		t.Fatalf("If-None-Match with the Etag: %d, want 304", code)
	}

	code, h, body = same("/ipfs/"+c+"/sub/big.bin", "Range: bytes=1000000-1000099")
	if code != http.StatusPartialContent || string(body) != string(big[1000000:1000100]) {
		t.Fatalf("range: %d, %d bytes", code, len(body))
	}
	if cr := h.Get("Content-Range"); cr != fmt.Sprintf("bytes 1000000-1000099/%d", len(big)) {
		t.Fatalf("Content-Range %q", cr)
	}

	// Directory listings: ours are HTML like kubo's (not compared byte for byte: they
	// name the serving node), a sharded one included.
	for _, dir := range []string{"/ipfs/" + c + "/", "/ipfs/" + c + "/sharded/"} {
		code, h, body := get(t, ours+dir)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("listing of %s: %d %s", dir, code, h.Get("Content-Type"))
		}
		want := "sub"
		if strings.Contains(dir, "sharded") {
			want = "entry-2999.txt"
		}
		if !strings.Contains(string(body), want) {
			t.Fatalf("listing of %s does not name %s", dir, want)
		}
	}

	// Trustless: raw blocks and CARs (of a sub-path too), by ?format= and by Accept.
	code, h, _ = same("/ipfs/" + c + "?format=raw")
	if code != 200 || h.Get("Content-Type") != "application/vnd.ipld.raw" {
		t.Fatalf("?format=raw: %d %s", code, h.Get("Content-Type"))
	}
	same("/ipfs/"+c, "Accept: application/vnd.ipld.raw")
	code, h, carBody := same("/ipfs/"+c+"/sub", "Accept: application/vnd.ipld.car")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/vnd.ipld.car") {
		t.Fatalf("CAR of a sub-path: %d %s", code, h.Get("Content-Type"))
	}
	same("/ipfs/" + c + "/sub?format=car")
	// The CAR of the sub-path holds the whole sub-DAG: a fresh kubo imports it and
	// reads the file from it offline.
	k2 := newKubo(t)
	carFile := filepath.Join(t.TempDir(), "sub.car")
	if err := os.WriteFile(carFile, carBody, 0o644); err != nil {
		t.Fatal(err)
	}
	k2.run("dag", "import", "--pin-roots=false", carFile)
	sub := k.run("resolve", "-r", "/ipfs/"+c+"/sub")
	if got := k2.run("cat", "--offline", sub+"/c.txt"); got != "one two three" {
		t.Fatalf("file from the CAR: %q", got)
	}

	// Absent content: 404 within the retrieval bound. Malformed: 400.
	absent := k.run("add", "-Q", "--cid-version=1", "--only-hash", carFile)
	start := time.Now()
	if code, _, _ := get(t, ours+"/ipfs/"+absent); code != http.StatusNotFound {
		t.Fatalf("absent CID: %d, want 404", code)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("absent CID answered after %s", d)
	}
	for _, bad := range []string{"/ipfs/not-a-cid", "/ipfs/bafyZZZ", "/ipfs/Qm1"} {
		if code, _, _ := get(t, ours+bad); code != http.StatusBadRequest {
			t.Fatalf("GET %s: %d, want 400", bad, code)
		}
	}
	// Only /ipfs/ is served.
	if code, _, _ := get(t, ours+"/api/v1/jobs"); code != http.StatusNotFound {
		t.Fatalf("the gateway answers outside /ipfs/: %d", code)
	}
}

// TestGatewayHeldOrReachable: by default the gateway serves only what its node holds
// (content on a connected kubo is 404); with --gateway-fetch it fetches from peers,
// and what nobody has is 404 once the retrieval timeout passes.
func TestGatewayHeldOrReachable(t *testing.T) {
	t.Parallel()
	k := newKubo(t)
	k.start()
	f := filepath.Join(t.TempDir(), "on-kubo.txt")
	if err := os.WriteFile(f, []byte("only kubo holds this\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := k.run("add", "-Q", "--cid-version=1", f)
	held := startNode(t, "--ipfs-peer", k.addr())
	reach := startNode(t, "--ipfs-peer", k.addr(), "--gateway-fetch", "--gateway-retrieval-timeout", "2s")
	eventually(t, 20*time.Second, func() error {
		if !strings.Contains(k.run("swarm", "peers"), reach.id) || !strings.Contains(k.run("swarm", "peers"), held.id) {
			return fmt.Errorf("kubo is not connected to both nodes")
		}
		return nil
	})
	if code, _, _ := get(t, held.gateway()+"/ipfs/"+c); code != http.StatusNotFound {
		t.Fatalf("held-only gateway, content on kubo: %d, want 404", code)
	}
	if code, _, body := get(t, reach.gateway()+"/ipfs/"+c); code != 200 || string(body) != "only kubo holds this\n" {
		t.Fatalf("fetching gateway: %d %q", code, body)
	}
	nobody := k.run("add", "-Q", "--cid-version=1", "--only-hash", example(t, "hello"))
	start := time.Now()
	if code, _, _ := get(t, reach.gateway()+"/ipfs/"+nobody); code != http.StatusNotFound {
		t.Fatalf("fetching gateway, content nobody has: %d, want 404", code)
	}
	if d := time.Since(start); d < 2*time.Second || d > 15*time.Second {
		t.Fatalf("content nobody has answered after %s (retrieval timeout 2s)", d)
	}
}
