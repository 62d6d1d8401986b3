// Package httpc is a small HTTP/1.1 client on package net, for the CLI. The CLI talks
// plain HTTP to a node's API (and to a node's function trigger), and that is all this
// speaks: no TLS, no HTTP/2, no proxies, no compression, no redirects. net/http would
// bring all of those along, and their initialisation was about a third of the client's
// start (see RATIONALE.md, "The client speaks HTTP/1.1 itself").
//
//	c := &httpc.Client{}
//	resp, err := c.Do(ctx, &httpc.Request{Method: "GET", URL: "http://127.0.0.1:1234/api/v1/health"})
//
// A response's body must be closed. A connection whose response was read to its end
// (including a chunked body's trailer) is kept for the next request to the same host.
package httpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header is a request's or response's header fields, keyed by canonical name.
type Header = textproto.MIMEHeader

// Bounds on what a server may send before the body.
const (
	// MaxHeaderBytes bounds the status line and header fields of a response, and the
	// trailer of a chunked body.
	MaxHeaderBytes = 1 << 20
	// maxChunkLine bounds one chunk-size line of a chunked body.
	maxChunkLine = 4096
	// maxIdle is how many idle connections are kept for each host.
	maxIdle = 4
)

// Request is one HTTP request.
type Request struct {
	Method string
	URL    string // http://host:port/path?query
	Header Header // may be nil
	Body   io.Reader
	// ContentLength is the length of Body; -1 sends it chunked. It is ignored when Body
	// is nil.
	ContentLength int64
}

// Response is a server's answer. Trailer holds the fields of a chunked body's trailer
// once Body has been read to its end.
type Response struct {
	Proto         string // "HTTP/1.1"
	StatusCode    int
	Status        string // "404 Not Found"
	Header        Header
	ContentLength int64 // -1 when the server did not say
	Body          io.ReadCloser
	Trailer       Header
}

// Client sends requests; its zero value is ready to use and safe for concurrent use.
type Client struct {
	// DialTimeout bounds connecting; 0 is 30 seconds. The request's context bounds
	// the rest.
	DialTimeout time.Duration

	mu   sync.Mutex
	idle map[string][]*conn
}

// conn is one connection and its buffers.
type conn struct {
	nc  net.Conn
	lim *limitReader // what the header phase may read
	br  *bufio.Reader
	bw  *bufio.Writer
}

// limitReader is the connection as bufio reads it: while left >= 0, at most left more
// bytes (the header phase); otherwise without bound (the body, bounded by its length
// or its caller).
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

var errHeaderTooLarge = fmt.Errorf("the server's header is over %d bytes", MaxHeaderBytes)

// Do sends req and reads the status and header of the answer. ctx bounds the whole
// exchange, reading the body included.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%s: only http:// URLs are supported here", req.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: no host", req.URL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	if err := validMethod(req.Method); err != nil {
		return nil, err
	}
	if err := validHeader(req.Header); err != nil {
		return nil, err
	}
	reused := true
	cn := c.take(host)
	if cn == nil {
		reused = false
		if cn, err = c.dial(ctx, host); err != nil {
			return nil, err
		}
	}
	stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	resp, err := cn.exchange(req, u, host)
	if err != nil && reused && req.Body == nil && errors.Is(err, errStale) {
		// The server closed an idle connection as this request went out: once more on
		// a new one (only without a body, which may have been read in part).
		stop()
		cn.nc.Close()
		if cn, err = c.dial(ctx, host); err != nil {
			return nil, err
		}
		stop = context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
		resp, err = cn.exchange(req, u, host)
	}
	if err != nil {
		stop()
		cn.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	resp.Body = &body{r: resp.Body, cn: cn, done: func(clean bool) {
		if !stop() && ctx.Err() != nil {
			clean = false // the deadline was set
		}
		if clean && !closing(resp.Header) {
			c.put(host, cn)
		} else {
			cn.nc.Close()
		}
	}, ctx: ctx}
	return resp, nil
}

// errStale marks a failure to get any answer on a reused connection.
var errStale = errors.New("the connection was closed")

func (c *Client) dial(ctx context.Context, host string) (*conn, error) {
	timeout := c.DialTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	lim := &limitReader{r: nc, left: -1}
	return &conn{nc: nc, lim: lim, br: bufio.NewReaderSize(lim, 16<<10), bw: bufio.NewWriterSize(nc, 16<<10)}, nil
}

func (c *Client) take(host string) *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.idle[host]
	if len(l) == 0 {
		return nil
	}
	cn := l[len(l)-1]
	c.idle[host] = l[:len(l)-1]
	return cn
}

func (c *Client) put(host string, cn *conn) {
	cn.nc.SetDeadline(time.Time{})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle == nil {
		c.idle = map[string][]*conn{}
	}
	if len(c.idle[host]) >= maxIdle {
		cn.nc.Close()
		return
	}
	c.idle[host] = append(c.idle[host], cn)
}

// CloseIdle closes the connections kept for reuse.
func (c *Client) CloseIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, l := range c.idle {
		for _, cn := range l {
			cn.nc.Close()
		}
		delete(c.idle, h)
	}
}

func validMethod(m string) error {
	if m == "" {
		return errors.New("no method")
	}
	for _, r := range m {
		if r < 'A' || r > 'Z' {
			return fmt.Errorf("method %q: want upper-case letters", m)
		}
	}
	return nil
}

func validHeader(h Header) error {
	for k, vs := range h {
		if k == "" || strings.ContainsAny(k, "\r\n: ") || k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" {
			return fmt.Errorf("header field %q cannot be set", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				return fmt.Errorf("header field %s: a value cannot hold a line break", k)
			}
		}
	}
	return nil
}

// exchange writes req and reads the answer's head.
func (cn *conn) exchange(req *Request, u *url.URL, host string) (*Response, error) {
	werr := cn.write(req, u)
	if werr != nil && req.Body == nil {
		return nil, fmt.Errorf("%w: %v", errStale, werr)
	}
	// A server may answer (413, say) and close before reading the whole body: its
	// answer says more than the write's error.
	resp, err := cn.readResponse(req.Method)
	if err != nil {
		if werr != nil {
			return nil, werr
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %v", errStale, err)
		}
		return nil, err
	}
	return resp, nil
}

func (cn *conn) write(req *Request, u *url.URL) error {
	w := cn.bw
	target := u.EscapedPath()
	if target == "" {
		target = "/"
	}
	if u.RawQuery != "" {
		target += "?" + u.RawQuery
	}
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: bacalhau\r\n", req.Method, target, u.Host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(w, "%s: %s\r\n", k, v)
		}
	}
	chunked := false
	switch {
	case req.Body == nil:
		if req.Method == "POST" || req.Method == "PUT" || req.Method == "PATCH" {
			w.WriteString("Content-Length: 0\r\n")
		}
	case req.ContentLength >= 0:
		w.WriteString("Content-Length: " + strconv.FormatInt(req.ContentLength, 10) + "\r\n")
	default:
		chunked = true
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	w.WriteString("\r\n")
	if req.Body != nil {
		if !chunked {
			if err := w.Flush(); err != nil {
				return err
			}
			n, err := io.Copy(cn.nc, io.LimitReader(req.Body, req.ContentLength)) // sendfile for a file
			if err != nil {
				return err
			}
			if n != req.ContentLength {
				return fmt.Errorf("the request body was %d bytes, not the %d announced", n, req.ContentLength)
			}
			return nil
		}
		cw := &chunkWriter{w: w}
		if _, err := io.Copy(cw, req.Body); err != nil {
			return err
		}
		w.WriteString("0\r\n\r\n")
	}
	return w.Flush()
}

// chunkWriter writes each Write as one chunk.
type chunkWriter struct{ w *bufio.Writer }

func (c *chunkWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.w.WriteString(strconv.FormatInt(int64(len(p)), 16) + "\r\n")
	c.w.Write(p)
	_, err := c.w.WriteString("\r\n")
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// readResponse reads a status line and header fields (skipping 1xx answers) and sets
// up the body.
func (cn *conn) readResponse(method string) (*Response, error) {
	return ReadResponse(cn.br, method, func(left int64) { cn.lim.left = left })
}

// ReadResponse reads an answer to a request of method from r. limit, if not nil, is
// called with MaxHeaderBytes before the head and trailer and with -1 after them, for a
// reader that bounds what r may pull; ReadResponse bounds the head itself too.
func ReadResponse(r *bufio.Reader, method string, limit func(int64)) (*Response, error) {
	if limit == nil {
		limit = func(int64) {}
	}
	tp := textproto.NewReader(r)
	for {
		limit(MaxHeaderBytes)
		line, err := tp.ReadLine()
		if err != nil {
			return nil, err
		}
		proto, status, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(proto, "HTTP/1.") {
			return nil, fmt.Errorf("not an HTTP/1 answer: %.64q", line)
		}
		codeText, _, _ := strings.Cut(status, " ")
		code, err := strconv.Atoi(codeText)
		if err != nil || len(codeText) != 3 || code < 100 {
			return nil, fmt.Errorf("bad status in %.64q", line)
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			return nil, fmt.Errorf("reading the answer's header: %w", err)
		}
		limit(-1)
		if code < 200 {
			continue // 100 Continue and the like
		}
		resp := &Response{Proto: proto, StatusCode: code, Status: status, Header: h, ContentLength: -1}
		if err := resp.setBody(r, method, limit); err != nil {
			return nil, err
		}
		return resp, nil
	}
}

func (resp *Response) setBody(r *bufio.Reader, method string, limit func(int64)) error {
	h := resp.Header
	if method == "HEAD" || resp.StatusCode == 204 || resp.StatusCode == 304 {
		resp.ContentLength = 0
		resp.Body = eofBody{}
		return nil
	}
	if te := h.Get("Transfer-Encoding"); te != "" {
		if !strings.EqualFold(te, "chunked") || len(h.Values("Transfer-Encoding")) > 1 {
			return fmt.Errorf("transfer encoding %q is not supported", te)
		}
		resp.Trailer = Header{}
		resp.Body = &chunkReader{r: r, resp: resp, limit: limit}
		return nil
	}
	if cl := h.Values("Content-Length"); len(cl) > 0 {
		n, err := strconv.ParseInt(strings.TrimSpace(cl[0]), 10, 64)
		if err != nil || n < 0 || len(cl) > 1 && strings.Join(cl, ",") != strings.Repeat(cl[0]+",", len(cl)-1)+cl[0] {
			return fmt.Errorf("bad Content-Length %q", cl)
		}
		resp.ContentLength = n
		resp.Body = &lengthReader{r: r, left: n}
		return nil
	}
	// Neither: the body runs to the connection's end, which cannot be kept.
	resp.Header.Set("Connection", "close")
	resp.Body = &untilClose{r: r}
	return nil
}

// WriteHeader writes h as lines "Name: value\r\n", names in order.
func WriteHeader(w io.Writer, h Header) error {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			if _, err := fmt.Fprintf(w, "%s: %s\r\n", k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func closing(h Header) bool {
	for _, v := range h.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "close") {
				return true
			}
		}
	}
	return false
}

type eofBody struct{}

func (eofBody) Read([]byte) (int, error) { return 0, io.EOF }
func (eofBody) Close() error             { return nil }

type lengthReader struct {
	r    *bufio.Reader
	left int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err == io.EOF && l.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && l.left == 0 {
		err = io.EOF
	}
	return n, err
}

func (l *lengthReader) Close() error { return nil }

type untilClose struct{ r *bufio.Reader }

func (u *untilClose) Read(p []byte) (int, error) { return u.r.Read(p) }
func (u *untilClose) Close() error               { return nil }

// chunkReader reads a chunked body and, at its end, its trailer into resp.Trailer.
type chunkReader struct {
	r     *bufio.Reader
	resp  *Response
	limit func(int64)
	left  int64 // of the current chunk
	done  bool
	err   error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		n, err := c.size()
		if err != nil {
			c.err = err
			return 0, err
		}
		if n == 0 {
			c.limit(MaxHeaderBytes)
			h, err := textproto.NewReader(c.r).ReadMIMEHeader()
			c.limit(-1)
			if err != nil {
				c.err = fmt.Errorf("reading the answer's trailer: %w", unexpected(err))
				return 0, c.err
			}
			for k, v := range h {
				c.resp.Trailer[k] = v
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err != nil {
		c.err = unexpected(err)
		return n, c.err
	}
	if c.left == 0 {
		if err := c.crlf(); err != nil {
			c.err = err
			return n, err
		}
	}
	return n, nil
}

func (c *chunkReader) size() (int64, error) {
	line, err := c.line()
	if err != nil {
		return 0, err
	}
	if i := strings.IndexByte(line, ';'); i >= 0 {
		line = line[:i] // chunk extensions
	}
	line = strings.TrimSpace(line)
	n, err := strconv.ParseInt(line, 16, 64)
	if err != nil || n < 0 || line == "" || line[0] == '+' || line[0] == '-' {
		return 0, fmt.Errorf("bad chunk size %.32q", line)
	}
	return n, nil
}

func (c *chunkReader) line() (string, error) {
	var b []byte
	for {
		frag, err := c.r.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxChunkLine {
			return "", errors.New("a chunk-size line is too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", unexpected(err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
}

func (c *chunkReader) crlf() error {
	var b [2]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		return unexpected(err)
	}
	if b != [2]byte{'\r', '\n'} {
		return errors.New("a chunk does not end with CRLF")
	}
	return nil
}

func (c *chunkReader) Close() error { return nil }

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// body is a response body that gives its connection back (or closes it) once read to
// its end or closed.
type body struct {
	r    io.ReadCloser
	cn   *conn
	done func(clean bool)
	ctx  context.Context
	once sync.Once
	eof  bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
		b.once.Do(func() { b.done(true) })
	} else if err != nil {
		if b.ctx.Err() != nil {
			err = b.ctx.Err()
		}
		b.once.Do(func() { b.done(false) })
	}
	return n, err
}

// Close gives the connection back if the rest of the body is already here (a JSON
// answer's decoder stops before the end of its chunked body, say), and closes it
// otherwise: it never waits for the server.
func (b *body) Close() error {
	b.once.Do(func() {
		if !b.eof {
			b.cn.nc.SetReadDeadline(time.Unix(1, 0))
			_, err := io.CopyN(io.Discard, b.r, 64<<10)
			b.eof = err == io.EOF
		}
		b.done(b.eof)
	})
	return nil
}
