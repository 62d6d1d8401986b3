package httpc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server answers the routes the tests use, counting the connections it accepts.
func server(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var conns atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/fixed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		io.WriteString(w, "fixed body")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Stream-Error")
		for i := 0; i < 3; i++ {
			io.WriteString(w, "part\n")
			w.(http.Flusher).Flush()
			if r.URL.RawQuery == "slow" {
				time.Sleep(200 * time.Millisecond)
			}
		}
		w.Header().Set("X-Stream-Error", "block bafy missing")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Length", r.Header.Get("Content-Length"))
		w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
		w.Header().Set("X-Type", r.Header.Get("Content-Type"))
		w.Header().Set("X-Query", r.URL.RawQuery)
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"no such job"}`, http.StatusNotFound)
	})
	s := httptest.NewUnstartedServer(mux)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func get(t *testing.T, c *Client, ctx context.Context, req *Request) (*Response, string) {
	t.Helper()
	resp, err := c.Do(ctx, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

func TestBodiesAndReuse(t *testing.T) {
	s, conns := server(t)
	c := &Client{}
	ctx := context.Background()
	resp, b := get(t, c, ctx, &Request{Method: "GET", URL: s.URL + "/fixed"})
	if resp.StatusCode != 200 || b != "fixed body" || resp.ContentLength != 10 || resp.Header.Get("X-Method") != "GET" {
		t.Errorf("GET /fixed: %d %q length %d header %v", resp.StatusCode, b, resp.ContentLength, resp.Header)
	}
	resp, b = get(t, c, ctx, &Request{Method: "GET", URL: s.URL + "/stream"})
	if b != "part\npart\npart\n" || resp.Trailer.Get("X-Stream-Error") != "block bafy missing" {
		t.Errorf("GET /stream: %q trailer %v", b, resp.Trailer)
	}
	resp, b = get(t, c, ctx, &Request{Method: "HEAD", URL: s.URL + "/fixed"})
	if resp.StatusCode != 200 || b != "" {
		t.Errorf("HEAD /fixed: %d %q", resp.StatusCode, b)
	}
	resp, b = get(t, c, ctx, &Request{Method: "POST", URL: s.URL + "/echo?a=1&b=%2F", Header: Header{"Content-Type": {"application/json"}},
		Body: strings.NewReader(`{"x":1}`), ContentLength: 7})
	if resp.StatusCode != 201 || b != `{"x":1}` || resp.Header.Get("X-Length") != "7" || resp.Header.Get("X-Type") != "application/json" || resp.Header.Get("X-Query") != "a=1&b=%2F" {
		t.Errorf("POST sized: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	big := strings.Repeat("0123456789", 100000)
	resp, b = get(t, c, ctx, &Request{Method: "POST", URL: s.URL + "/echo", Body: io.MultiReader(strings.NewReader(big)), ContentLength: -1})
	if b != big || resp.Header.Get("X-TE") != "chunked" {
		t.Errorf("POST chunked: %d bytes back, transfer encoding %q", len(b), resp.Header.Get("X-TE"))
	}
	resp, b = get(t, c, ctx, &Request{Method: "GET", URL: s.URL + "/missing"})
	if resp.StatusCode != 404 || resp.Status != "404 Not Found" || !strings.Contains(b, "no such job") {
		t.Errorf("GET /missing: %q %q", resp.Status, b)
	}
	// Bodies closed unread whose rest is already here: an empty one, and a JSON
	// decoder's, which stops before the end of a chunked body.
	for _, path := range []string{"/fixed", "/stream"} {
		resp, err := c.Do(ctx, &Request{Method: "HEAD", URL: s.URL + path})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := c.Do(ctx, &Request{Method: "GET", URL: s.URL + "/fixed"})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	io.ReadFull(resp.Body, buf) // the rest came with them: one write of the server's
	resp.Body.Close()
	if n := conns.Load(); n != 1 {
		t.Errorf("nine requests whose bodies were all here used %d connections, want 1", n)
	}
	// A body closed before its end, still being sent, loses its connection.
	resp, err = c.Do(ctx, &Request{Method: "GET", URL: s.URL + "/stream?slow"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, c, ctx, &Request{Method: "GET", URL: s.URL + "/fixed"})
	if n := conns.Load(); n != 2 {
		t.Errorf("after a body closed early: %d connections, want 2", n)
	}
}

func TestContextEndsTheBody(t *testing.T) {
	s, _ := server(t)
	c := &Client{}
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := c.Do(ctx, &Request{Method: "GET", URL: s.URL + "/slow"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "first\n" || err != nil {
		t.Fatalf("first line %q, %v", line, err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = io.ReadAll(br)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("reading on after a cancel: %v, want context.Canceled", err)
	}
}

func TestRefusals(t *testing.T) {
	c := &Client{}
	ctx := context.Background()
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Method: "GET", URL: "https://example.org/"}, "only http://"},
		{Request{Method: "GET", URL: "http:///x"}, "no host"},
		{Request{Method: "get", URL: "http://127.0.0.1:1/"}, "upper-case"},
		{Request{Method: "GET", URL: "http://127.0.0.1:1/", Header: Header{"X-A": {"a\r\nInjected: 1"}}}, "line break"},
	} {
		_, err := c.Do(ctx, &tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want an error with %q", tc.req.Method, tc.req.URL, err, tc.want)
		}
	}
	// Nothing listens on port 1: the dial's error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := c.Do(ctx, &Request{Method: "GET", URL: "http://" + addr + "/"}); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("a closed port: %v", err)
	}
}

func TestReadResponseRefusesGarbage(t *testing.T) {
	for name, in := range map[string]string{
		"not http":        "SSH-2.0-OpenSSH\r\n\r\n",
		"bad status":      "HTTP/1.1 abc OK\r\n\r\n",
		"two encodings":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"bad length":      "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
		"clashing length": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"header too big":  "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n",
	} {
		lim := &limitReader{r: strings.NewReader(in), left: -1}
		if _, err := ReadResponse(bufio.NewReader(lim), "GET", func(n int64) { lim.left = n }); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for name, in := range map[string]string{
		"bad chunk size": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"short chunk":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"no chunk crlf":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
		"short length":   "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"no trailer end": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n",
	} {
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(in)), "GET", nil)
		if err != nil {
			t.Errorf("%s: the head failed: %v", name, err)
			continue
		}
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Errorf("%s: the body read without an error", name)
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX: y\r\n\r\n")
	f.Add("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 Not Found\r\n\r\nnope")
	f.Fuzz(func(t *testing.T, in string) {
		lim := &limitReader{r: strings.NewReader(in), left: -1}
		resp, err := ReadResponse(bufio.NewReader(lim), "GET", func(n int64) { lim.left = n })
		if err != nil {
			return
		}
		if resp.StatusCode < 200 || resp.StatusCode > 999 {
			t.Fatalf("status %d accepted", resp.StatusCode)
		}
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength {
			t.Fatalf("a body of %d bytes where %d were announced", len(b), resp.ContentLength)
		}
	})
}
