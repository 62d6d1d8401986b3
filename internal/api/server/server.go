// Package server is a node's HTTP face: it serves the JSON REST API under /api/v1/ whose
// types are in internal/api, and it is the one place where errors become HTTP status codes.
//
//	srv := server.New(server.Config{}, jobs, data, info)
//	err := srv.Serve(ctx, listener)
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Defaults for Config.
const (
	DefaultMaxJSONBody   = 1 << 20
	DefaultReadHeader    = 10 * time.Second
	DefaultIdle          = 2 * time.Minute
	DefaultJSONReadLimit = 30 * time.Second
)

// Config tunes the server. The zero value works.
type Config struct {
	MaxJSONBody int64 // bytes a JSON request body may hold; 0 means DefaultMaxJSONBody
	// AllowedOrigins are the web origins (scheme://host:port, or "*") whose pages may
	// call the API from a browser. None by default: requests that a browser marks as
	// coming from a web page are refused (403), so no page can drive the node.
	AllowedOrigins []string
	// MaxLogStreams bounds the websockets of upstream's logs route open at once; past
	// it a request is answered 429. 0 means DefaultMaxLogStreams.
	MaxLogStreams int
}

// Node is what GET /api/v1/node, /api/v1/nodes and the /api/v1/repo routes need.
type Node interface {
	Info() api.NodeInfo
	Nodes() []api.PeerStatus // every node this one knows of, itself included
	RepoStat(ctx context.Context) (api.RepoStat, error)
	GC(ctx context.Context) (api.GCResult, error)
}

// Server serves the API for one node.
type Server struct {
	cfg  Config
	e    *echo.Echo
	jobs Jobs
	data Data
	node Node

	logStreams chan struct{} // a slot per open log websocket
}

// New builds a server over the node's job and data sides.
func New(cfg Config, jobs Jobs, data Data, node Node) *Server {
	if cfg.MaxJSONBody <= 0 {
		cfg.MaxJSONBody = DefaultMaxJSONBody
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler
	e.Use(middleware.Recover())
	if cfg.MaxLogStreams <= 0 {
		cfg.MaxLogStreams = DefaultMaxLogStreams
	}
	s := &Server{cfg: cfg, e: e, jobs: jobs, data: data, node: node, logStreams: make(chan struct{}, cfg.MaxLogStreams)}
	e.Pre(s.guardOrigin)
	s.routeUpstream(e)
	v1 := e.Group("/api/v1")
	v1.GET("/health", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	v1.GET("/node", func(c echo.Context) error { return c.JSON(http.StatusOK, s.node.Info()) })
	v1.GET("/nodes", func(c echo.Context) error { return c.JSON(http.StatusOK, s.node.Nodes()) })
	v1.POST("/jobs", s.submit, jsonBody)
	v1.GET("/jobs", s.list)
	v1.GET("/jobs/:id", s.describe)
	v1.GET("/jobs/:id/wait", s.wait)
	v1.GET("/jobs/:id/logs", s.logs)
	v1.POST("/jobs/:id/cancel", s.cancel, jsonBody)
	v1.POST("/data", s.addData)
	v1.POST("/data/car", s.importCAR)
	v1.HEAD("/data/:cid", s.hasData)
	v1.GET("/data/:cid", s.getData)
	v1.GET("/data/:cid/cat", s.catData)
	v1.GET("/data/:cid/ls", s.lsData)
	v1.DELETE("/data/:cid", s.removeData)
	v1.GET("/repo/stat", func(c echo.Context) error {
		st, err := s.node.RepoStat(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, st)
	})
	v1.POST("/repo/gc", func(c echo.Context) error {
		r, err := s.node.GC(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, r)
	}, jsonBody)
	return s
}

// Handler is the server's http.Handler, for tests.
func (s *Server) Handler() http.Handler { return s.e }

// Serve serves on l until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: DefaultReadHeader,
		IdleTimeout:       DefaultIdle,
		MaxHeaderBytes:    64 << 10,
		// No whole-request Read/WriteTimeout: data uploads and log streams may be long.
		// JSON bodies get their own read deadline (see decodeJSON).
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

// decodeJSON reads a size-limited JSON body into v, rejecting unknown fields.
func (s *Server) decodeJSON(c echo.Context, v any) error {
	r := c.Request()
	_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now().Add(DefaultJSONReadLimit))
	dec := json.NewDecoder(http.MaxBytesReader(c.Response().Writer, r.Body, s.cfg.MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiError(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge, fmt.Sprintf("request body is larger than %d bytes", mbe.Limit))
		}
		if err == io.EOF {
			return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "request body is empty: want a JSON object")
		}
		return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "request body is not valid JSON: "+err.Error())
	}
	if dec.More() {
		return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "request body holds more than one JSON value")
	}
	return nil
}

// errorHandler maps errors to HTTP status codes and API error codes; it is the only
// place that does. The body is an api.Error.
func errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e := classify(err)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(e.Status)
		return
	}
	if upstreamRoute(c.Request().URL.Path) {
		_ = c.JSON(e.Status, upstreamError(e))
		return
	}
	_ = c.JSON(e.Status, e)
}

// classify gives err its status and code: those it carries if the server made it (an
// *api.Error, or echo's own), else those of the first of the errors it wraps below.
func classify(err error) *api.Error {
	var (
		ae  *api.Error
		he  *echo.HTTPError
		mbe *http.MaxBytesError
	)
	if errors.As(err, &ae) {
		return &api.Error{Status: ae.Status, Code: ae.Code, Message: err.Error()}
	}
	if errors.As(err, &he) {
		code := api.CodeOfStatus(he.Code)
		if he == echo.ErrNotFound { // the router's: no such path
			code = api.CodeUnknownRoute
		}
		return &api.Error{Status: he.Code, Code: code, Message: fmt.Sprint(he.Message)}
	}
	if errors.As(err, &mbe) {
		return &api.Error{Status: http.StatusRequestEntityTooLarge, Code: api.CodePayloadTooLarge, Message: err.Error()}
	}
	for _, m := range errorCodes {
		for _, target := range m.errs {
			if errors.Is(err, target) {
				return &api.Error{Status: m.status, Code: m.code, Message: err.Error()}
			}
		}
	}
	return &api.Error{Status: http.StatusInternalServerError, Code: api.CodeInternal, Message: err.Error()}
}

// errorCodes are the statuses and codes of the errors the node's sides return, in the
// order classify tries them.
var errorCodes = []struct {
	status int
	code   string
	errs   []error
}{
	{http.StatusBadRequest, api.CodeInvalidSpec, []error{job.ErrInvalid}},
	{http.StatusBadRequest, api.CodeInvalidID, []error{job.ErrBadID}},
	{http.StatusBadRequest, api.CodeAmbiguousID, []error{job.ErrAmbiguous}},
	{http.StatusBadRequest, api.CodeInvalidData, []error{blockstore.ErrBadPath, blockstore.ErrBadBlock, blockstore.ErrBadDAG, blockstore.ErrExists, blockstore.ErrBadCAR}},
	{http.StatusBadRequest, api.CodeInvalidRequest, []error{blockstore.ErrBadOptions}},
	{http.StatusNotFound, api.CodeNotFound, []error{job.ErrNotFound, blockstore.ErrNotFound}},
	{http.StatusConflict, api.CodeConflict, []error{job.ErrTransition, job.ErrRouteTaken}},
	{http.StatusInsufficientStorage, api.CodeRepoFull, []error{blockstore.ErrRepoFull}},
	{http.StatusInsufficientStorage, api.CodeDiskFull, []error{blockstore.ErrDiskFull}},
	{499, api.CodeCanceled, []error{context.Canceled}}, // the client closed the request
}

// apiError is an error the server answers with status and code.
func apiError(status int, code, msg string) error {
	return &api.Error{Status: status, Code: code, Message: msg}
}

// badRequest is a 400 of code invalid_request.
func badRequest(format string, args ...any) error {
	return badRequestOf(api.CodeInvalidRequest, format, args...)
}

// badRequestOf is a 400 of another code.
func badRequestOf(code, format string, args ...any) error {
	return apiError(http.StatusBadRequest, code, "api: bad request: "+fmt.Sprintf(format, args...))
}
