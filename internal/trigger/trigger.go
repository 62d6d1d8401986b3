// Package trigger is a node's public HTTP listener: it runs deployed functions for the
// requests to /fn/<name>/..., and has room for other public handlers (the IPFS gateway
// under /ipfs/). It never serves the control API.
//
//	t := trigger.New(trigger.Config{}, fns)
//	t.Handle("/ipfs/", gateway)
//	err := t.Serve(ctx, listener)
package trigger

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/functions"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Defaults of Config's zero values.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultBodyTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
)

// Functions is what the trigger needs of the node's functions role.
type Functions interface {
	// Lookup returns the current version of the function named name.
	Lookup(name string) (*job.Function, bool)
	Invoke(ctx context.Context, f *job.Function, r *functions.Request) (*functions.Response, error)
}

// Router is the optional ability of a Functions to answer requests by route: it
// returns the function whose route (the longest) takes path, and that route.
type Router interface {
	Route(path string) (f *job.Function, route string, ok bool)
}

// Async is the optional ability of a Functions to run a request as a job
// (Prefer: respond-async): it returns the job's ID.
type Async interface {
	InvokeAsync(ctx context.Context, f *job.Function, r *functions.Request) (string, error)
}

// Config tunes the listener. The zero value works.
type Config struct {
	// ReadHeaderTimeout bounds the reading of a request's headers, BodyTimeout that of
	// its body: a slow client (slowloris) holds a connection no longer.
	ReadHeaderTimeout, BodyTimeout time.Duration
	IdleTimeout                    time.Duration // of a keep-alive connection
	MaxHeaderBytes                 int
}

// Server is the listener's handler.
type Server struct {
	cfg Config
	mux *http.ServeMux
	fns Functions
}

// New builds the listener's handler; /fn/ runs fns.
func New(cfg Config, fns Functions) *Server {
	cfg.ReadHeaderTimeout = cmp.Or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	cfg.BodyTimeout = cmp.Or(cfg.BodyTimeout, DefaultBodyTimeout)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout)
	cfg.MaxHeaderBytes = cmp.Or(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)
	s := &Server{cfg: cfg, mux: http.NewServeMux(), fns: fns}
	s.mux.HandleFunc("/fn/", s.serveFn)
	s.mux.HandleFunc("/", s.serveRoute)
	return s
}

// Handle mounts another public handler, e.g. the IPFS gateway on "/ipfs/".
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Serve serves on l until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
		return nil
	}
}

type errorBody struct {
	Error     string `json:"error"`
	Function  string `json:"function,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg, fn string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // nosniff and a JSON type: the text is read as text
	_ = enc.Encode(errorBody{Error: msg, Function: fn, RequestID: w.Header().Get("X-Request-Id")})
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) serveFn(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	w.Header().Set("X-Request-Id", id)
	rest := strings.TrimPrefix(r.URL.Path, "/fn/")
	name, pathInfo, _ := strings.Cut(rest, "/")
	if pathInfo != "" || strings.HasSuffix(rest, "/") {
		pathInfo = "/" + pathInfo
	}
	if err := job.ValidFunctionName(name); err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no function named %q", clip(name)), "")
		return
	}
	f, ok := s.fns.Lookup(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no function named %q is deployed", name), name)
		return
	}
	s.run(w, r, f, &functions.Request{PathInfo: pathInfo, RequestID: id})
}

// serveRoute runs the function whose route takes the request's path: SCRIPT_NAME is
// the route, PATH_INFO the rest of the path.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	w.Header().Set("X-Request-Id", id)
	rt, ok := s.fns.(Router)
	var f *job.Function
	var route string
	if ok {
		f, route, ok = rt.Route(r.URL.Path)
	}
	if !ok {
		writeError(w, http.StatusNotFound, "not found: no function's route takes "+clip(r.URL.Path)+"; functions are under /fn/<name>/ and their routes", "")
		return
	}
	script, pathInfo := functions.SplitRoute(route, r.URL.Path)
	s.run(w, r, f, &functions.Request{PathInfo: pathInfo, Routed: true, ScriptName: script, RequestID: id})
}

// run reads r's body within f's limits and answers with f's response; req holds the
// request's ID and how its path splits.
func (s *Server) run(w http.ResponseWriter, r *http.Request, f *job.Function, req *functions.Request) {
	name := f.Name
	if r.ContentLength > int64(f.MaxBody) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes is over function %s's limit of %s", r.ContentLength, name, job.FormatBytes(f.MaxBody)), name)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(f.MaxBody)))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over function %s's limit of %s", name, job.FormatBytes(f.MaxBody)), name)
		return
	case err != nil:
		writeError(w, http.StatusRequestTimeout, "reading the request body: "+err.Error(), name)
		return
	}
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(time.Duration(f.Timeout) + time.Minute))
	req.Method, req.Query, req.Header, req.Host, req.RemoteAddr, req.Body, req.Name = r.Method, r.URL.RawQuery, r.Header, r.Host, r.RemoteAddr, body, name
	if prefersAsync(r.Header) {
		s.serveAsync(w, r, f, req)
		return
	}
	resp, err := s.fns.Invoke(r.Context(), f, req)
	if err != nil {
		var fe *functions.Error
		if errors.As(err, &fe) {
			if fe.Status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			writeError(w, fe.Status, fe.Reason, name)
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error(), name)
		return
	}
	h := w.Header()
	for k, vs := range resp.Header {
		if k == "X-Request-Id" {
			continue
		}
		h[k] = vs
	}
	w.WriteHeader(resp.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(resp.Body)
	}
}

func prefersAsync(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "respond-async") {
				return true
			}
		}
	}
	return false
}

func (s *Server) serveAsync(w http.ResponseWriter, r *http.Request, f *job.Function, req *functions.Request) {
	a, ok := s.fns.(Async)
	if !ok {
		writeError(w, http.StatusNotImplemented, "this node cannot run requests as jobs", f.Name)
		return
	}
	id, err := a.InvokeAsync(r.Context(), f, req)
	if err != nil {
		writeError(w, http.StatusBadGateway, "submitting the request as a job: "+err.Error(), f.Name)
		return
	}
	w.Header().Set("Location", "/api/v1/jobs/"+id)
	w.Header().Set("Preference-Applied", "respond-async")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"job": id, "requestId": req.RequestID})
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
