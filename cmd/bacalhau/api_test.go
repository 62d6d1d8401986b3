package main

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// spaces is a long body of JSON whitespace that allocates nothing: a decoder must read
// all of it before it can fail.
type spaces struct{ left int64 }

func (z *spaces) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > z.left {
		n = z.left
	}
	for i := range p[:n] {
		p[i] = ' '
	}
	z.left -= n
	return int(n), nil
}

func post(t *testing.T, n *testNode, path, ctype string, body io.Reader) (int, string) {
	t.Helper()
	resp, err := http.Post("http://127.0.0.1:"+strconv.Itoa(n.port)+path, ctype, body)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error
}

func TestAPIRejectsBadRequests(t *testing.T) {
	n := startNode(t)
	tests := []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"not json", "/api/v1/jobs", "{nope", 400, "not valid JSON"},
		{"empty", "/api/v1/jobs", "", 400, "empty"},
		{"unknown field", "/api/v1/jobs", `{"spec":{"engine":"wasm"},"extra":1}`, 400, "unknown field"},
		{"unknown engine", "/api/v1/jobs", `{"spec":{"engine":"jvm"}}`, 400, `unknown engine "jvm"`},
		{"no task", "/api/v1/jobs", `{"spec":{"engine":"wasm"}}`, 400, "no wasm task"},
		{"bad cid", "/api/v1/jobs", `{"spec":{"engine":"wasm","wasm":{"module":"xyz"}}}`, 400, "not a valid CID"},
		{"escape target", "/api/v1/jobs", `{"spec":{"engine":"wasm","wasm":{"module":"` + helloV1 + `"},"inputs":[{"cid":"` + helloV1 + `","target":"/../etc"}]}}`, 400, "not a clean path"},
		{"docker not here yet", "/api/v1/jobs", `{"spec":{"engine":"docker","docker":{"image":"ubuntu"}}}`, 400, "docker"},
		{"bad timeout", "/api/v1/jobs", `{"spec":{"engine":"wasm","wasm":{"module":"` + helloV1 + `"},"timeout":"soon"}}`, 400, "want a value like 30s"},
		{"two values", "/api/v1/jobs", `{"spec":{}} {}`, 400, "more than one"},
		{"car garbage", "/api/v1/data/car", "garbage", 400, "CAR"},
		{"add not multipart", "/api/v1/data", "x", 400, "multipart"},
	}
	for _, tt := range tests {
		code, msg := post(t, n, tt.path, "application/json", strings.NewReader(tt.body))
		if code != tt.code || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %q; want %d with %q", tt.name, code, msg, tt.code, tt.want)
		}
	}
	for _, path := range []string{"/api/v1/jobs/zz!", "/api/v1/data/notacid", "/api/v1/jobs?limit=x", "/api/v1/jobs?state=bogus"} {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(n.port) + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("GET %s = %d, want 400", path, resp.StatusCode)
		}
	}
}

func TestAPIHugeBodyKeepsMemoryFlat(t *testing.T) {
	n := startNode(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code, msg := post(t, n, "/api/v1/jobs", "application/json", &spaces{left: 1 << 30})
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "larger than") {
		t.Fatalf("1 GiB body: %d %q, want 413", code, msg)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB for a rejected body", grew>>20)
	}
	if out := n.ok("wasm", "run", guestPath["hello"]); !strings.Contains(out, "Hello") {
		t.Fatal("node unhealthy after a huge body")
	}
}
