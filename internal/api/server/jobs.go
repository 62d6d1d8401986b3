package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Jobs is what the API needs from a node's requester side.
type Jobs interface {
	Submit(ctx context.Context, spec job.Spec) (*job.Job, error)
	Get(ctx context.Context, idOrPrefix string) (*job.Job, error)
	List(ctx context.Context, q api.ListQuery) (api.ListPage, error)
	Cancel(ctx context.Context, idOrPrefix string) (*job.Job, error)
	Watch(ctx context.Context, idOrPrefix string, fn func(*job.Job) bool) error
	Logs(ctx context.Context, idOrPrefix string, follow bool, fn func(stream string, data []byte) error) error
}

func (s *Server) submit(c echo.Context) error {
	var req api.SubmitRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	j, err := s.jobs.Submit(c.Request().Context(), req.Spec)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, j)
}

func (s *Server) list(c echo.Context) error {
	q, err := listQuery(c)
	if err != nil {
		return err
	}
	page, err := s.jobs.List(c.Request().Context(), q)
	if err != nil {
		return badRequest("%v", err)
	}
	return c.JSON(http.StatusOK, page)
}

func listQuery(c echo.Context) (api.ListQuery, error) {
	q := api.ListQuery{
		IDPrefix: c.QueryParam("id_filter"),
		SortBy:   c.QueryParam("sort_by"),
		Labels:   labelsParam(c),
	}
	var err error
	if q.Reverse, err = boolParam(c, "reverse"); err != nil {
		return q, err
	}
	if q.Limit, err = intParam(c, "limit"); err != nil {
		return q, err
	}
	if q.Offset, err = intParam(c, "offset"); err != nil {
		return q, err
	}
	if st := c.QueryParam("state"); st != "" {
		for _, s := range strings.Split(st, ",") {
			if !validState(job.State(s)) {
				return q, badRequest("unknown state %q (want one of %v)", s, job.States)
			}
			q.States = append(q.States, job.State(s))
		}
	}
	return q, nil
}

// labelsParam is the label selector of a list request: its labels parameters, each a
// selector (upstream's client sends one per requirement), all of which must hold.
func labelsParam(c echo.Context) string {
	return strings.Join(c.QueryParams()["labels"], ",")
}

func validState(s job.State) bool {
	for _, st := range job.States {
		if s == st {
			return true
		}
	}
	return false
}

func intParam(c echo.Context, name string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("%s=%q is not a whole number", name, v)
	}
	return n, nil
}

func boolParam(c echo.Context, name string) (bool, error) {
	v := c.QueryParam(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s=%q is not true or false", name, v)
	}
	return b, nil
}

func (s *Server) describe(c echo.Context) error {
	j, err := s.jobs.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

func (s *Server) cancel(c echo.Context) error {
	j, err := s.jobs.Cancel(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

// wait streams the job as NDJSON, one line per change, until it is terminal.
func (s *Server) wait(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if _, err := s.jobs.Get(ctx, id); err != nil {
		return err // before the stream starts, so the status code still tells
	}
	w := ndjson[*job.Job](c)
	return w.end(s.jobs.Watch(ctx, id, func(j *job.Job) bool {
		return w.send(j) == nil
	}))
}

// logs streams stdout and stderr as NDJSON chunks; follow=true keeps it open while the
// job runs.
func (s *Server) logs(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	follow, err := boolParam(c, "follow")
	if err != nil {
		return err
	}
	if _, err := s.jobs.Get(ctx, id); err != nil {
		return err
	}
	w := ndjson[api.LogChunk](c)
	return w.end(s.jobs.Logs(ctx, id, follow, func(stream string, data []byte) error {
		return w.send(api.LogChunk{Stream: stream, Data: data})
	}))
}

// ndjsonWriter writes a stream of JSON lines, each a T.
type ndjsonWriter[T any] struct {
	c   echo.Context
	enc *json.Encoder
}

// ndjson starts a stream of JSON lines. An error after it started cannot change the
// status any more: end reports it in the api.StreamErrorTrailer trailer, as downloads do.
func ndjson[T any](c echo.Context) *ndjsonWriter[T] {
	c.Response().Header().Set(echo.HeaderContentType, "application/x-ndjson")
	c.Response().Header().Set("Trailer", api.StreamErrorTrailer)
	c.Response().WriteHeader(http.StatusOK)
	return &ndjsonWriter[T]{c: c, enc: json.NewEncoder(c.Response())}
}

// end finishes the stream, with err in the trailer unless the client went away.
func (w *ndjsonWriter[T]) end(err error) error {
	if err != nil && !errors.Is(err, context.Canceled) {
		w.c.Response().Header().Set(api.StreamErrorTrailer, err.Error())
	}
	return nil
}

func (w *ndjsonWriter[T]) send(v T) error {
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	w.c.Response().Flush()
	return nil
}
