package server

import (
	"context"
	"net/http"
	"strconv"

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
	Logs(name string, after uint64, limit int) ([]api.Invocation, error)
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
		var after uint64
		if a := c.QueryParam("after"); a != "" {
			var err error
			if after, err = strconv.ParseUint(a, 10, 64); err != nil {
				return badRequest("after=%q: want a sequence number", a)
			}
		}
		recs, err := fns.Logs(c.Param("name"), after, maxLogRecords)
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
