package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Functions is what the /api/v1/functions routes need: the node's functions role.
type Functions interface {
	Deploy(ctx context.Context, f job.Function) (job.Function, error)
	Delete(ctx context.Context, name string) (job.Function, error)
	List() []job.Function
	Get(name string) (job.Function, error)
	// Logs gathers name's records from the node and its peers, after cursor.
	Logs(ctx context.Context, name string, cursor map[string]uint64, limit int) (api.FunctionLogs, error)
}

// maxLogRecords bounds one answer of GET /functions/:name/logs.
const maxLogRecords = 1000

// ServeFunctions adds the routes that deploy and inspect functions. (Functions run on
// the trigger listener, never here.)
func (s *Server) ServeFunctions(fns Functions) {
	g := s.e.Group("/api/v1/functions")
	g.POST("", func(c echo.Context) error {
		var f job.Function
		if err := s.decodeJSON(c, &f); err != nil {
			return err
		}
		out, err := fns.Deploy(c.Request().Context(), f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}, jsonBody)
	g.GET("", func(c echo.Context) error {
		l := fns.List()
		if l == nil {
			l = []job.Function{}
		}
		return c.JSON(http.StatusOK, l)
	})
	g.GET("/:name", func(c echo.Context) error {
		f, err := fns.Get(c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, f)
	})
	g.DELETE("/:name", func(c echo.Context) error {
		f, err := fns.Delete(c.Request().Context(), c.Param("name"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, f)
	})
	g.GET("/:name/logs", func(c echo.Context) error {
		cursor, err := api.ParseLogCursor(c.QueryParam("after"))
		if err != nil {
			return badRequest("after=: %v", err)
		}
		recs, err := fns.Logs(c.Request().Context(), c.Param("name"), cursor, maxLogRecords)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, recs)
	})
}

// ServeMetrics serves h (Prometheus text format) on GET /metrics.
func (s *Server) ServeMetrics(h http.Handler) {
	s.e.GET("/metrics", echo.WrapHandler(h))
}
