package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream"
	"github.com/bacalhau-project/bacalhau-wasm/internal/jobspec"
	"github.com/bacalhau-project/bacalhau-wasm/internal/version"
)

// Upstream Bacalhau's v1 orchestrator API, for its own CLI and SDKs: the same jobs as
// /api/v1/jobs, in upstream's shapes (internal/api/upstream). Its routes live under
// /api/v1/orchestrator and /api/v1/agent, which this project's own API does not use;
// their errors have upstream's body shape (see errorHandler).
const (
	orchestratorPrefix = "/api/v1/orchestrator"
	agentPrefix        = "/api/v1/agent"
)

func (s *Server) routeUpstream(e *echo.Echo) {
	g := e.Group(orchestratorPrefix)
	g.PUT("/jobs", s.v1PutJob, jsonBody)
	g.POST("/jobs", s.v1PutJob, jsonBody)
	g.GET("/jobs", s.v1ListJobs)
	g.GET("/jobs/:id", s.v1GetJob)
	g.DELETE("/jobs/:id", s.v1StopJob, jsonBody)
	g.GET("/jobs/:id/history", s.v1History)
	g.GET("/jobs/:id/executions", s.v1Executions)
	g.GET("/jobs/:id/results", s.v1Results)
	g.GET("/jobs/:id/logs", s.v1Logs)
	g.GET("/nodes", s.v1Nodes)
	a := e.Group(agentPrefix)
	a.GET("/alive", func(c echo.Context) error { return c.JSON(http.StatusOK, upstream.AliveResponse{Status: "OK"}) })
	a.GET("/version", func(c echo.Context) error { return c.JSON(http.StatusOK, buildVersion()) })
}

// upstreamRoute reports whether a request is for upstream's API, whose errors are in
// upstream's shape.
func upstreamRoute(path string) bool {
	for _, p := range []string{orchestratorPrefix, agentPrefix} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// putJobRequest is the body of PUT /api/v1/orchestrator/jobs; the job is read by
// jobspec.Decode, strictly, the rest is accepted and has no meaning here.
type putJobRequest struct {
	Job              json.RawMessage `json:"Job"`
	IdempotencyToken string          `json:"idempotencyToken"`
	Namespace        string          `json:"namespace"`
	Credential       json.RawMessage `json:"credential"`
}

func (s *Server) v1PutJob(c echo.Context) error {
	var req putJobRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Job) == 0 || string(req.Job) == "null" {
		return apiError(http.StatusBadRequest, api.CodeInvalidSpec, `no job given: want {"Job": {"Type": "batch", "Tasks": [...]}}`)
	}
	d, err := jobspec.Decode(req.Job)
	if err != nil {
		var se *jobspec.Error
		if errors.As(err, &se) {
			return apiError(http.StatusBadRequest, api.CodeInvalidSpec, err.Error())
		}
		return err
	}
	if len(d.URLInputs) > 0 {
		return apiError(http.StatusBadRequest, api.CodeInvalidSpec, "job spec: urlDownload inputs are downloaded by the bacalhau CLI of this project (`bacalhau job run`), never by the node: "+
			"add the file with `bacalhau data add` and give its CID as an ipfs source")
	}
	var ro struct { // fields the node sets, as upstream warns of them
		ID                     string
		Version, Revision      uint64
		CreateTime, ModifyTime int64
	}
	_ = json.Unmarshal(req.Job, &ro) // Decode read it already; a type mismatch here only loses the note
	if ro.ID != "" || ro.Version != 0 || ro.Revision != 0 || ro.CreateTime != 0 || ro.ModifyTime != 0 {
		d.Notes = append(d.Notes, "ID, Version, Revision, CreateTime and ModifyTime are set by the node: the values given are ignored")
	}
	if req.Namespace != "" && req.Namespace != upstream.Namespace {
		d.Notes = append(d.Notes, "namespace "+req.Namespace+" ignored: every job here is in the default namespace")
	}
	j, err := s.jobs.Submit(c.Request().Context(), d.Spec)
	if err != nil {
		return err
	}
	warnings := d.Notes
	if warnings == nil {
		warnings = []string{}
	}
	return c.JSON(http.StatusOK, upstream.PutJobResponse{JobID: j.ID, Warnings: warnings})
}

func (s *Server) v1ListJobs(c echo.Context) error {
	q := api.ListQuery{}
	var err error
	if q.Limit, err = intParam(c, "limit"); err != nil {
		return err
	}
	if t := c.QueryParam("next_token"); t != "" {
		if q.Offset, err = strconv.Atoi(t); err != nil || q.Offset < 0 {
			return badRequest("next_token=%q is not a token this node gave", t)
		}
	}
	if q.Reverse, err = boolParam(c, "reverse"); err != nil {
		return err
	}
	switch ob := c.QueryParam("order_by"); ob {
	case "", "created_at", "create_time", "CreateTime":
		q.SortBy = api.SortCreated
	case "id", "ID":
		q.SortBy = api.SortID
	default:
		return badRequest("order_by=%q: want id or created_at", ob)
	}
	q.Labels = labelsParam(c)
	out := upstream.List[*upstream.Job]{Items: []*upstream.Job{}}
	switch ns := c.QueryParam("namespace"); ns {
	case "", "*", upstream.Namespace:
	default:
		return c.JSON(http.StatusOK, out) // no job is in another namespace
	}
	page, err := s.jobs.List(c.Request().Context(), q)
	if err != nil {
		return badRequest("%v", err)
	}
	for _, j := range page.Jobs {
		out.Items = append(out.Items, upstream.JobOf(j))
	}
	if next := q.Offset + len(page.Jobs); len(page.Jobs) > 0 && next < page.Total {
		out.NextToken = strconv.Itoa(next)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) v1GetJob(c echo.Context) error {
	j, err := s.jobs.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	resp := upstream.GetJobResponse{Job: upstream.JobOf(j)}
	switch inc := c.QueryParam("include"); inc {
	case "":
	case "history":
		resp.History = &upstream.List[upstream.JobHistory]{Items: upstream.HistoryOf(j)}
	case "executions":
		resp.Executions = &upstream.List[upstream.Execution]{Items: upstream.ExecutionsOf(j)}
	default:
		return badRequest("include=%q: want history or executions", inc)
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) v1StopJob(c echo.Context) error {
	if c.Request().ContentLength != 0 {
		// upstream's client may send {"reason": ...}: read it, bounded, and drop it
		var body struct {
			Reason           string          `json:"reason"`
			IdempotencyToken string          `json:"idempotencyToken"`
			Namespace        string          `json:"namespace"`
			Credential       json.RawMessage `json:"credential"`
		}
		if err := s.decodeJSON(c, &body); err != nil && !emptyBody(err) {
			return err
		}
	}
	if _, err := s.jobs.Cancel(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, upstream.StopJobResponse{})
}

// emptyBody reports whether err is decodeJSON's for a body with nothing in it.
func emptyBody(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == api.CodeInvalidJSON && strings.Contains(ae.Message, "is empty")
}

func (s *Server) v1History(c echo.Context) error {
	j, err := s.jobs.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if et := c.QueryParam("event_type"); et == "execution" {
		return c.JSON(http.StatusOK, upstream.List[upstream.JobHistory]{Items: []upstream.JobHistory{}})
	}
	return c.JSON(http.StatusOK, upstream.List[upstream.JobHistory]{Items: upstream.HistoryOf(j)})
}

func (s *Server) v1Executions(c echo.Context) error {
	j, err := s.jobs.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, upstream.List[upstream.Execution]{Items: upstream.ExecutionsOf(j)})
}

func (s *Server) v1Results(c echo.Context) error {
	j, err := s.jobs.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, upstream.List[upstream.SpecConfig]{Items: upstream.ResultsOf(j)})
}

func (s *Server) v1Nodes(c echo.Context) error {
	out := upstream.ListNodesResponse{Nodes: []upstream.NodeState{}}
	for _, p := range s.node.Nodes() {
		engines := make([]string, 0, len(p.Engines))
		for _, e := range p.Engines {
			engines = append(engines, string(e))
		}
		conn := "DISCONNECTED"
		if p.Live {
			conn = "CONNECTED"
		}
		out.Nodes = append(out.Nodes, upstream.NodeState{
			Info: upstream.NodeInfo{
				NodeID:   p.ID,
				PeerInfo: upstream.PeerInfo{ID: p.ID, Addrs: p.Addrs},
				NodeType: "Compute",
				Labels:   p.Labels,
				ComputeNodeInfo: upstream.ComputeNodeInfo{
					ExecutionEngines:  engines,
					Publishers:        []string{"ipfs"},
					StorageSources:    []string{"ipfs"},
					MaxCapacity:       upstream.Resources{Memory: p.Capacity.Memory},
					AvailableCapacity: upstream.Resources{Memory: p.Capacity.MemoryFree},
				},
			},
			Membership: "APPROVED",
			Connection: conn,
		})
	}
	return c.JSON(http.StatusOK, out)
}

// buildVersion is this build's version in upstream's shape; Major and Minor are read
// from a vMAJOR.MINOR... version string.
func buildVersion() upstream.BuildVersionInfo {
	v := upstream.BuildVersionInfo{GitVersion: version.Version, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	parts := strings.SplitN(strings.TrimPrefix(version.Version, "v"), ".", 3)
	if len(parts) >= 2 {
		v.Major, v.Minor = parts[0], parts[1]
	}
	return v
}

// upstreamError is e in upstream's error body shape, with upstream's code names.
func upstreamError(e *api.Error) upstream.Error {
	code := "InternalError"
	switch e.Code {
	case api.CodeNotFound, api.CodeUnknownRoute:
		code = "NotFound"
	case api.CodeInvalidSpec:
		code = "ValidationError"
	case api.CodeInvalidJSON, api.CodeInvalidRequest, api.CodeInvalidID, api.CodeAmbiguousID, api.CodeInvalidData:
		code = "BadRequest"
	case api.CodeConflict:
		code = "Conflict"
	case api.CodeForbiddenOrigin:
		code = "Forbidden"
	case api.CodeMethodNotAllowed:
		code = "MethodNotAllowed"
	case api.CodePayloadTooLarge:
		code = "RequestTooLarge"
	case api.CodeUnsupportedMediaType:
		code = "UnsupportedMediaType"
	case api.CodeTooManyRequests:
		code = "TooManyRequests"
	}
	return upstream.Error{Status: e.Status, Message: e.Message, Code: code, Component: "Orchestrator"}
}
