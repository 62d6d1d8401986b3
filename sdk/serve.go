package sdk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ModeEnv is the variable the node sets to "pooled" for a pooled instance.
const ModeEnv = "BACALHAU_FN_MODE"

// Limits of a pooled frame, as the node enforces them too.
const (
	maxEnvFrame  = 1 << 20
	maxBodyFrame = 256 << 20
)

// Serve runs h for the request(s) the node gives this instance, then exits the
// process: with status 0 when the node closed the instance, or 1 after writing the
// reason to stderr when the node's input could not be read.
func Serve(h http.Handler) {
	var err error
	if os.Getenv(ModeEnv) == "pooled" {
		out := os.Stdout
		os.Stdout = os.Stderr
		err = servePooled(h, os.Stdin, out)
	} else {
		err = serveCGI(h, environ(), os.Stdin, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// BodyEnv names the file that holds the request body when a request runs as a job
// (Prefer: respond-async): jobs have no stdin.
const BodyEnv = "BACALHAU_REQUEST_BODY"

// ServeCGI answers one CGI request: env holds its variables, stdin its body; the
// response goes to stdout. Serve calls it in fresh mode.
func ServeCGI(h http.Handler, env map[string]string, stdin io.Reader, stdout io.Writer) error {
	return serveCGI(h, env, stdin, stdout)
}

func serveCGI(h http.Handler, env map[string]string, stdin io.Reader, stdout io.Writer) error {
	if p := env[BodyEnv]; p != "" {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("request body: %w", err)
		}
		defer f.Close()
		stdin = f
	}
	n, _ := strconv.ParseInt(env["CONTENT_LENGTH"], 10, 64)
	r, err := NewRequest(env, io.LimitReader(stdin, max(n, 0)))
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(stdout, 32<<10)
	w := newResponse()
	serve(h, w, r)
	w.writeCGI(bw)
	return bw.Flush()
}

// servePooled answers frames until stdin ends.
func servePooled(h http.Handler, stdin io.Reader, stdout io.Writer) error {
	br := bufio.NewReaderSize(stdin, 64<<10)
	var buf bytes.Buffer
	for {
		env, body, err := ReadFrame(br)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		r, err := NewRequest(env, bytes.NewReader(body))
		if err != nil {
			return err
		}
		w := newResponse()
		serve(h, w, r)
		buf.Reset()
		buf.Write([]byte{0, 0, 0, 0})
		w.writeCGI(&buf)
		b := buf.Bytes()
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		if _, err := stdout.Write(b); err != nil {
			return err
		}
	}
}

// serve runs h, turning a panic into a 500 as net/http's server would (the instance
// lives on in pooled mode).
func serve(h http.Handler, w *response, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				return
			}
			fmt.Fprintf(os.Stderr, "sdk: handler panicked: %v\n", p)
			w.reset()
			w.WriteHeader(http.StatusInternalServerError)
		}
	}()
	h.ServeHTTP(w, r)
}

// ReadFrame reads one request frame of a pooled instance: a big-endian uint32 length
// and that many bytes of NUL-terminated KEY=value variables, then a uint32 length and
// the body. io.EOF means the node closed the instance between frames.
func ReadFrame(r io.Reader) (env map[string]string, body []byte, err error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		if err == io.EOF {
			return nil, nil, io.EOF
		}
		return nil, nil, fmt.Errorf("reading a frame: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxEnvFrame {
		return nil, nil, fmt.Errorf("frame of %d bytes of variables, at most %d", size, maxEnvFrame)
	}
	raw := make([]byte, size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, fmt.Errorf("reading a frame: %w", noEOF(err))
	}
	env = map[string]string{}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if k, v, ok := bytes.Cut(kv, []byte{'='}); ok {
			env[string(k)] = string(v)
		}
	}
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, nil, fmt.Errorf("reading a frame: %w", noEOF(err))
	}
	if size = binary.BigEndian.Uint32(n[:]); size > maxBodyFrame {
		return nil, nil, fmt.Errorf("frame body of %d bytes, at most %d", size, maxBodyFrame)
	}
	body = make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, nil, fmt.Errorf("reading a frame: %w", noEOF(err))
	}
	return env, body, nil
}

// AppendFrame appends the request frame of env and body to b (see ReadFrame).
func AppendFrame(b []byte, env map[string]string, body []byte) []byte {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, env[k]...)
		b = append(b, 0)
	}
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// NewRequest builds the *http.Request that CGI variables describe, reading its body
// from body.
func NewRequest(env map[string]string, body io.Reader) (*http.Request, error) {
	method := env["REQUEST_METHOD"]
	if method == "" {
		return nil, errors.New("no REQUEST_METHOD: is this program run as a function?")
	}
	uri := env["REQUEST_URI"]
	if uri == "" {
		uri = env["SCRIPT_NAME"] + env["PATH_INFO"]
		if q := env["QUERY_STRING"]; q != "" {
			uri += "?" + q
		}
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fmt.Errorf("REQUEST_URI %q: %w", uri, err)
	}
	r, err := http.NewRequest(method, uri, body)
	if err != nil {
		return nil, err
	}
	r.URL = u
	r.RequestURI = uri
	r.Host = env["SERVER_NAME"]
	if p := env["SERVER_PORT"]; p != "" && p != "80" {
		r.Host += ":" + p
	}
	r.URL.Host = ""
	r.RemoteAddr = env["REMOTE_ADDR"]
	if p := env["REMOTE_PORT"]; p != "" {
		r.RemoteAddr += ":" + p
	}
	r.ContentLength, _ = strconv.ParseInt(env["CONTENT_LENGTH"], 10, 64)
	if ct := env["CONTENT_TYPE"]; ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for k, v := range env {
		if name, ok := strings.CutPrefix(k, "HTTP_"); ok {
			r.Header.Set(strings.ReplaceAll(name, "_", "-"), v)
		}
	}
	return r, nil
}

// response is the http.ResponseWriter of one request: it keeps the whole response, to
// write it as CGI when the handler returns.
type response struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func newResponse() *response { return &response{header: http.Header{}} }

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.wroteHeader || code < 100 || code > 999 {
		return
	}
	w.status, w.wroteHeader = code, true
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

func (w *response) reset() {
	w.header, w.status, w.wroteHeader = http.Header{}, 0, false
	w.body.Reset()
}

// headerValue makes v safe on one header line, as net/http's server does.
var headerValue = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\x00", "")

func (w *response) writeCGI(out io.Writer) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	if w.header.Get("Content-Type") == "" && w.body.Len() > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	fmt.Fprintf(out, "Status: %d %s\r\n", status, http.StatusText(status))
	keys := make([]string, 0, len(w.header))
	for k := range w.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !validName(k) {
			continue
		}
		for _, v := range w.header[k] {
			fmt.Fprintf(out, "%s: %s\r\n", k, headerValue.Replace(v))
		}
	}
	io.WriteString(out, "\r\n")
	out.Write(w.body.Bytes())
}

func validName(k string) bool {
	if k == "" || strings.EqualFold(k, "Status") {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
