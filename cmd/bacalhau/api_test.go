package main

import (
	"context"
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
		{"docker bad image", "/api/v1/jobs", `{"spec":{"engine":"docker","docker":{"image":"ubu ntu"}}}`, 400, "not a valid image reference"},
		{"docker root input", "/api/v1/jobs", `{"spec":{"engine":"docker","docker":{"image":"ubuntu"},"inputs":[{"cid":"` + helloV1 + `","target":"/"}]}}`, 400, "cannot mount an input at /"},
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

// TestAPIRefusesWebPages: a web page on another site cannot submit, cancel or upload
// through a node on the user's machine (a text/plain or form POST needs no CORS
// preflight), unless the node allows its origin.
func TestAPIRefusesWebPages(t *testing.T) {
	n := startNode(t)
	base := "http://127.0.0.1:" + strconv.Itoa(n.port)
	spec := `{"spec":{"engine":"wasm","wasm":{"module":"` + helloV1 + `"}}}`
	send := func(method, path, ctype, origin, body string) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct{ path, ctype, body string }{
		{"/api/v1/jobs", "text/plain", spec},
		{"/api/v1/jobs", "application/x-www-form-urlencoded", "spec=x"},
		{"/api/v1/data", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nx\r\n--b--\r\n"},
		{"/api/v1/data/car", "text/plain", "x"},
	} {
		if code, body := send("POST", tt.path, tt.ctype, "http://evil.example", tt.body); code != http.StatusForbidden || !strings.Contains(body, "--api-allow-origin") {
			t.Errorf("POST %s (%s) from a foreign page: %d %s; want 403", tt.path, tt.ctype, code, body)
		}
	}
	if code, _ := send("POST", "/api/v1/jobs", "text/plain", "", spec); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain submit: %d, want 415", code)
	}
	if out := n.ok("list", "--output", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("refused requests created jobs: %s", out)
	}
	// A job the user runs cannot be cancelled by a page either.
	id := strings.TrimSpace(n.ok("wasm", "run", guestPath["faulty"], "--wait=false", "--id-only", "--", "sleep"))
	if code, _ := send("POST", "/api/v1/jobs/"+id+"/cancel", "", "http://evil.example", ""); code != http.StatusForbidden {
		t.Errorf("cancel from a foreign page: %d, want 403", code)
	}
	if j, err := n.client().Get(context.Background(), id); err != nil || j.State.Terminal() {
		t.Fatalf("after a refused cancel the job is %v (%v)", j.State, err)
	}
	n.ok("cancel", id)
	// An allowed origin may, and is told so by CORS.
	m := startNode(t, "--api-allow-origin", "https://ui.example")
	base = "http://127.0.0.1:" + strconv.Itoa(m.port)
	if code, body := send("POST", "/api/v1/jobs", "application/json", "https://ui.example", spec); code != http.StatusCreated {
		t.Fatalf("allowed origin: %d %s", code, body)
	}
}
