package trigger

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/functions"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// echoFns is a Functions whose one function, "echo", answers with what it got. The
// functions runtime itself is tested through real node processes (cmd/bacalhau).
type echoFns struct{ got *functions.Request }

var _ Functions = (*echoFns)(nil)

func (e *echoFns) Lookup(name string) (*job.Function, bool) {
	if name != "echo" {
		return nil, false
	}
	f := &job.Function{Name: "echo", Module: cidtext.MustParse("bafkqaaa"), MaxBody: 16}
	f.Normalize()
	return f, true
}

func (e *echoFns) Invoke(_ context.Context, f *job.Function, r *functions.Request) (*functions.Response, error) {
	e.got = r
	if r.PathInfo == "/busy" {
		return nil, &functions.Error{Status: 429, Reason: "busy"}
	}
	return &functions.Response{Status: 201, Header: http.Header{"X-Request-Id": {"spoofed"}, "X-Fn": {"1"}}, Body: r.Body}, nil
}

func TestServeFn(t *testing.T) {
	fns := &echoFns{}
	srv := httptest.NewServer(New(Config{}, fns))
	defer srv.Close()
	for _, c := range []struct {
		method, path, body string
		status             int
		want, pathInfo     string
	}{
		{"POST", "/fn/echo/a/b?x=1", "hi", 201, "hi", "/a/b"},
		{"GET", "/fn/echo", "", 201, "", ""},
		{"GET", "/fn/echo/", "", 201, "", "/"},
		{"POST", "/fn/echo/", strings.Repeat("x", 17), 413, "limit", ""},
		{"GET", "/fn/nosuch/", "", 404, `"function":"nosuch"`, ""},
		{"GET", "/fn/BAD/", "", 404, "no function named", ""},
		{"GET", "/fn/echo/busy", "", 429, "busy", ""},
		{"GET", "/other", "", 404, "/fn/<name>/", ""},
		{"POST", "/fn/echo/", "", 0, "", ""},
	} {
		if c.status == 0 {
			continue
		}
		fns.got = nil
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, b)
		}
		if c.status == 201 {
			if fns.got.PathInfo != c.pathInfo || fns.got.Name != "echo" {
				t.Errorf("%s: path info %q", c.path, fns.got.PathInfo)
			}
			if id := resp.Header.Get("X-Request-Id"); id == "spoofed" || id != fns.got.RequestID || resp.Header.Get("X-Fn") != "1" {
				t.Errorf("%s: headers %v", c.path, resp.Header)
			}
		}
		if c.status == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	// No async ability: 501.
	req, _ := http.NewRequest("POST", srv.URL+"/fn/echo/", nil)
	req.Header.Set("Prefer", "respond-async")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var eb errorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != 501 || eb.Function != "echo" {
		t.Fatalf("async: %d %+v", resp.StatusCode, eb)
	}
}

// TestSlowHeaders: a client that never ends its headers is cut off.
func TestSlowHeaders(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(Config{ReadHeaderTimeout: 200 * time.Millisecond}, &echoFns{}).Serve(ctx, l) }()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /fn/echo/ HTTP/1.1\r\nHost: x\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPrefersAsync(t *testing.T) {
	for v, want := range map[string]bool{"respond-async": true, "wait=5, Respond-Async": true, "return=minimal": false, "": false} {
		if got := prefersAsync(http.Header{"Prefer": {v}}); got != want {
			t.Errorf("%q: %v", v, got)
		}
	}
}

// routedFns answers by the routes of a real registry; Invoke records the function and
// the request.
type routedFns struct {
	*functions.Registry
	fn  string
	got *functions.Request
}

var _ Router = (*routedFns)(nil)

func (r *routedFns) Invoke(_ context.Context, f *job.Function, req *functions.Request) (*functions.Response, error) {
	r.fn, r.got = f.Name, req
	return &functions.Response{Status: 200, Body: []byte(f.Name)}, nil
}

// TestServeRoute: a request whose path a route takes runs that route's function (the
// longest route wins), with SCRIPT_NAME the route and PATH_INFO the rest; /fn/ and the
// other paths are as without routes.
func TestServeRoute(t *testing.T) {
	reg, err := functions.OpenRegistry(t.TempDir()+"/registry.json", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range []job.Function{
		{Name: "hello", Routes: []string{"/hello"}},
		{Name: "deep", Routes: []string{"/hello/deep", "/x"}},
		{Name: "root", Routes: []string{"/"}},
	} {
		f.Module, f.Version, f.Deployer = cidtext.MustParse("bafkqaaa"), int64(i+1), "d"
		f.Normalize()
		if _, err := reg.Apply(f); err != nil {
			t.Fatal(err)
		}
	}
	fns := &routedFns{Registry: reg}
	srv := httptest.NewServer(New(Config{}, fns))
	defer srv.Close()
	for _, c := range []struct {
		path, fn, script, pathInfo, uri string
	}{
		{"/hello", "hello", "/hello", "", "/hello"},
		{"/hello/", "hello", "/hello", "/", "/hello/"},
		{"/hello/a/b?q=1", "hello", "/hello", "/a/b", "/hello/a/b?q=1"},
		{"/hello/deep/er", "deep", "/hello/deep", "/er", "/hello/deep/er"},
		{"/hello/deeper", "hello", "/hello", "/deeper", "/hello/deeper"},
		{"/helloworld", "root", "", "/helloworld", "/helloworld"},
		{"/", "root", "", "/", "/"},
		{"/fn/hello/z", "hello", "/fn/hello", "/z", "/fn/hello/z"},
	} {
		fns.fn, fns.got = "", nil
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || fns.fn != c.fn {
			t.Errorf("%s: %d, ran %q, want %q", c.path, resp.StatusCode, fns.fn, c.fn)
			continue
		}
		env := functions.CGIEnv(fns.got, nil)
		if env["SCRIPT_NAME"] != c.script || env["PATH_INFO"] != c.pathInfo || env["REQUEST_URI"] != c.uri {
			t.Errorf("%s: SCRIPT_NAME %q PATH_INFO %q REQUEST_URI %q, want %q %q %q", c.path,
				env["SCRIPT_NAME"], env["PATH_INFO"], env["REQUEST_URI"], c.script, c.pathInfo, c.uri)
		}
	}
	// Without the root route, a path no route takes is a 404; a delete frees the route.
	for i, name := range []string{"root", "hello"} {
		if _, err := reg.Apply(job.Function{Name: name, Deleted: true, Version: int64(10 + i), Deployer: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/helloworld", "/hello/x"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(b), "no function's route takes") {
			t.Errorf("%s after the deletes: %d %s", p, resp.StatusCode, b)
		}
	}
}
