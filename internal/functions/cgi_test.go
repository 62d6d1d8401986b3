package functions

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	for _, c := range []struct {
		name, in   string
		status     int
		header     string // "K=v;K2=v2"
		body, fail string
	}{
		{name: "plain", in: "Content-Type: text/plain\r\n\r\nhi", status: 200, header: "Content-Type=text/plain", body: "hi"},
		{name: "lf only", in: "Content-Type: text/plain\n\nhi\n", status: 200, header: "Content-Type=text/plain", body: "hi\n"},
		{name: "status", in: "Status: 404 Not Found\r\nX-A:  b \r\n\r\n", status: 404, header: "X-A=b"},
		{name: "redirect", in: "Location: /x\r\n\r\n", status: 302, header: "Location=/x"},
		{name: "redirect with status", in: "Status: 301\r\nLocation: /x\r\n\r\n", status: 301, header: "Location=/x"},
		{name: "hop headers dropped", in: "Content-Length: 99\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nab", status: 200, body: "ab"},
		{name: "empty", in: "", fail: "wrote nothing"},
		{name: "no blank line", in: "Content-Type: text/plain\r\n", fail: "no blank line"},
		{name: "bare CR in value", in: "X: a\rSet-Cookie: y\r\n\r\n", fail: "control byte"},
		{name: "NUL in value", in: "X: a\x00b\r\n\r\n", fail: "control byte"},
		{name: "no colon", in: "Content-Type text\r\n\r\n", fail: "no ':'"},
		{name: "space in name", in: "Bad Name: x\r\n\r\n", fail: "not a token"},
		{name: "bad status", in: "Status: 99 x\r\n\r\n", fail: "100 to 599"},
		{name: "status text", in: "Status: abc\r\n\r\n", fail: "100 to 599"},
		{name: "two statuses", in: "Status: 200\r\nStatus: 500\r\n\r\n", fail: "two Status"},
		{name: "too long", in: "X: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\n", fail: "longer than"},
		{name: "too many", in: strings.Repeat("X: a\r\n", maxHeaders+1) + "\r\n", fail: "more than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseResponse([]byte(c.in))
			if c.fail != "" {
				if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), c.fail) {
					t.Fatalf("error %v, want one saying %q", err, c.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var hs []string
			for k, vs := range r.Header {
				hs = append(hs, k+"="+strings.Join(vs, ","))
			}
			if r.Status != c.status || strings.Join(hs, ";") != c.header || string(r.Body) != c.body {
				t.Fatalf("got %d %v %q", r.Status, r.Header, r.Body)
			}
		})
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{"Content-Type: text/plain\r\n\r\nhi", "Status: 404\nLocation: /x\n\n", "X: a\rb\r\n\r\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("error %v does not wrap ErrBadResponse", err)
			}
			return
		}
		if r.Status < 100 || r.Status > 599 {
			t.Fatalf("status %d", r.Status)
		}
		// Nothing that could split a response passes.
		for k, vs := range r.Header {
			if strings.ContainsAny(k, "\r\n: \x00") || hopHeaders[k] {
				t.Fatalf("header name %q", k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("header %s value %q", k, v)
				}
			}
		}
	})
}

func TestCGIEnv(t *testing.T) {
	r := &Request{Method: "POST", PathInfo: "/a/b", Query: "x=1", Name: "hello", Host: "node:8080",
		RemoteAddr: "10.0.0.1:5555", Body: []byte("abc"), RequestID: "r1",
		Header: http.Header{"Content-Type": {"text/plain"}, "X-Multi": {"a", "b"}, "Proxy": {"evil"}, "Bad Name": {"x"}}}
	env := CGIEnv(r, map[string]string{"GREETING": "hi", "REQUEST_METHOD": "spoofed"})
	want := map[string]string{"GREETING": "hi", "REQUEST_METHOD": "POST", "PATH_INFO": "/a/b", "QUERY_STRING": "x=1",
		"SCRIPT_NAME": "/fn/hello", "REQUEST_URI": "/fn/hello/a/b?x=1", "SERVER_NAME": "node", "SERVER_PORT": "8080",
		"REMOTE_ADDR": "10.0.0.1", "REMOTE_PORT": "5555", "CONTENT_LENGTH": "3", "CONTENT_TYPE": "text/plain",
		"HTTP_X_MULTI": "a, b", "BACALHAU_REQUEST_ID": "r1", "GATEWAY_INTERFACE": "CGI/1.1"}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"HTTP_PROXY", "HTTP_CONTENT_TYPE", "HTTP_BAD NAME"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s is set", k)
		}
	}
}

func FuzzCGIEnv(f *testing.F) {
	f.Add("GET", "/a", "x=1", "X-A", "v", "host:1", "1.2.3.4:5")
	f.Fuzz(func(t *testing.T, method, pathInfo, query, hname, hval, host, remote string) {
		r := &Request{Method: method, PathInfo: pathInfo, Query: query, Name: "f", Host: host, RemoteAddr: remote,
			Header: http.Header{hname: {hval}}}
		for k, v := range CGIEnv(r, nil) {
			if !validEnvName(k) || strings.ContainsRune(v, 0) {
				t.Fatalf("variable %q=%q cannot be in an environment", k, v)
			}
			if k == "HTTP_PROXY" {
				t.Fatal("HTTP_PROXY set from a request")
			}
		}
	})
}
