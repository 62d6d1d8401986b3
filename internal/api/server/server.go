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
	s := &Server{cfg: cfg, e: e, jobs: jobs, data: data, node: node}
	e.Pre(s.guardOrigin)
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
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", mbe.Limit))
		}
		if err == io.EOF {
			return echo.NewHTTPError(http.StatusBadRequest, "request body is empty: want a JSON object")
		}
		return echo.NewHTTPError(http.StatusBadRequest, "request body is not valid JSON: "+err.Error())
	}
	if dec.More() {
		return echo.NewHTTPError(http.StatusBadRequest, "request body holds more than one JSON value")
	}
	return nil
}

// errorHandler maps errors to HTTP status codes; it is the only place that does.
func errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := status(err), err.Error()
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg = fmt.Sprint(he.Message)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	_ = c.JSON(code, api.Error{Error: msg})
}

func status(err error) int {
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, job.ErrInvalid), errors.Is(err, job.ErrBadID), errors.Is(err, job.ErrAmbiguous),
		errors.Is(err, blockstore.ErrBadPath), errors.Is(err, blockstore.ErrBadBlock),
		errors.Is(err, blockstore.ErrBadDAG), errors.Is(err, blockstore.ErrBadOptions),
		errors.Is(err, blockstore.ErrExists), errors.Is(err, blockstore.ErrBadCAR), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, job.ErrNotFound), errors.Is(err, blockstore.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, job.ErrTransition):
		return http.StatusConflict
	case errors.Is(err, blockstore.ErrRepoFull), errors.Is(err, blockstore.ErrDiskFull):
		return http.StatusInsufficientStorage
	case errors.Is(err, context.Canceled):
		return 499 // client closed the request
	default:
		return http.StatusInternalServerError
	}
}

var errBadRequest = errors.New("api: bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}
