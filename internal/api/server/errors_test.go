package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// codeJobs fails the way a node's job side does, by the ID asked for.
type codeJobs struct{ fakeJobs }

func (codeJobs) lookup(id string) (*job.Job, error) {
	if err := job.CheckIDPrefix(id); err != nil {
		return nil, err
	}
	switch id {
	case "j-a":
		return nil, fmt.Errorf("store: %w: j-a matches j-a1, j-a2", job.ErrAmbiguous)
	case "j-d":
		return &job.Job{ID: "j-d", State: job.StateCompleted}, nil
	case "j-e":
		return nil, errors.New("disk on fire")
	}
	return nil, fmt.Errorf("%w: %s", job.ErrNotFound, id)
}

func (j codeJobs) Get(_ context.Context, id string) (*job.Job, error) { return j.lookup(id) }
func (j codeJobs) Cancel(_ context.Context, id string) (*job.Job, error) {
	jb, err := j.lookup(id)
	if err != nil {
		return nil, err
	}
	return nil, jb.Transition(job.StateCancelled, "", jb.CreatedAt)
}

// fullNode is a node whose repository is full.
type fullNode struct{}

func (fullNode) Info() api.NodeInfo      { return api.NodeInfo{} }
func (fullNode) Nodes() []api.PeerStatus { return nil }
func (fullNode) RepoStat(context.Context) (api.RepoStat, error) {
	return api.RepoStat{}, fmt.Errorf("%w: 10 of 10 bytes", blockstore.ErrDiskFull)
}
func (fullNode) GC(context.Context) (api.GCResult, error) {
	return api.GCResult{}, fmt.Errorf("%w: 10 of 10 bytes", blockstore.ErrRepoFull)
}

const goodSpec = `{"spec":{"engine":"wasm","wasm":{"module":"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"}}}`

// TestErrorCodes: every error response carries a code beside its message, and the
// client's error keeps both with the status, for errors.Is.
func TestErrorCodes(t *testing.T) {
	srv := httptest.NewServer(New(Config{MaxJSONBody: 1024}, codeJobs{}, nil, fullNode{}).Handler())
	defer srv.Close()
	tests := []struct {
		name, method, path, ctype, body string
		headers                         map[string]string
		status                          int
		sentinel                        *api.Error
		want                            string // in the message
	}{
		{"bad spec", "POST", "/api/v1/jobs", "application/json", `{"spec":{"engine":"wasm"}}`, nil, 400, api.ErrInvalidSpec, "no wasm task"},
		{"unknown field", "POST", "/api/v1/jobs", "application/json", `{"spec":{},"x":1}`, nil, 400, api.ErrInvalidJSON, "unknown field"},
		{"not JSON", "POST", "/api/v1/jobs", "application/json", `{nope`, nil, 400, api.ErrInvalidJSON, "not valid JSON"},
		{"empty body", "POST", "/api/v1/jobs", "application/json", ``, nil, 400, api.ErrInvalidJSON, "empty"},
		{"text/plain body", "POST", "/api/v1/jobs", "text/plain", goodSpec, nil, 415, api.ErrUnsupportedMediaType, "application/json"},
		{"huge body", "POST", "/api/v1/jobs", "application/json", `{"spec":{"env":{"a":"` + strings.Repeat("x", 2048) + `"}}}`, nil, 413, api.ErrPayloadTooLarge, "larger than 1024"},
		{"foreign page", "POST", "/api/v1/jobs", "application/json", goodSpec, map[string]string{"Origin": "http://evil.example"}, 403, api.ErrForbiddenOrigin, "refused"},
		{"rebinding page", "GET", "/api/v1/jobs/j-1", "", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, 403, api.ErrForbiddenOrigin, "web page"},
		{"unknown job", "GET", "/api/v1/jobs/j-1", "", "", nil, 404, api.ErrNotFound, "job not found"},
		{"unknown job's logs", "GET", "/api/v1/jobs/j-1/logs", "", "", nil, 404, api.ErrNotFound, "j-1"},
		{"bad job ID", "GET", "/api/v1/jobs/zz!", "", "", nil, 400, api.ErrInvalidID, "not a job ID"},
		{"ambiguous ID", "GET", "/api/v1/jobs/j-a", "", "", nil, 400, api.ErrAmbiguousID, "ambiguous"},
		{"cancel of an ended job", "POST", "/api/v1/jobs/j-d/cancel", "", "", nil, 409, api.ErrConflict, "not allowed"},
		{"node failure", "GET", "/api/v1/jobs/j-e", "", "", nil, 500, api.ErrInternal, "disk on fire"},
		{"bad query", "GET", "/api/v1/jobs?limit=x", "", "", nil, 400, api.ErrInvalidRequest, "not a whole number"},
		{"bad CID", "GET", "/api/v1/data/notacid", "", "", nil, 400, api.ErrInvalidRequest, "not a valid CID"},
		{"repo full", "POST", "/api/v1/repo/gc", "", "", nil, 507, api.ErrRepoFull, "repository full"},
		{"disk full", "GET", "/api/v1/repo/stat", "", "", nil, 507, api.ErrDiskFull, "disk"},
		{"unknown route", "GET", "/api/v1/nope", "", "", nil, 404, api.ErrUnknownRoute, "Not Found"},
		{"wrong method", "PUT", "/api/v1/jobs", "", "", nil, 405, api.ErrMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("%s: body is not JSON: %v", tt.name, err)
			continue
		}
		msg, _ := body["error"].(string) // the field clients before codes read
		if resp.StatusCode != tt.status || body["code"] != tt.sentinel.Code || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %v; want %d, code %s, message with %q", tt.name, resp.StatusCode, body, tt.status, tt.sentinel.Code, tt.want)
		}
	}

	// The client's errors carry the code and the status.
	c := api.NewClient(srv.URL)
	ctx := context.Background()
	_, err := c.Submit(ctx, job.Spec{Engine: job.EngineWasm})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != api.CodeInvalidSpec || !errors.Is(err, api.ErrInvalidSpec) || errors.Is(err, api.ErrNotFound) {
		t.Errorf("submit of a bad spec: %#v", err)
	}
	if _, err := c.Get(ctx, "j-1"); !errors.Is(err, api.ErrNotFound) || !api.IsNotFound(err) || !strings.Contains(err.Error(), "job not found") {
		t.Errorf("get of an unknown job: %v", err)
	}
	if _, err := c.Cancel(ctx, "j-d"); !errors.Is(err, api.ErrConflict) {
		t.Errorf("cancel of an ended job: %v", err)
	}
	if _, err := c.Watch(ctx, "j-a", func(*job.Job) bool { return true }); !errors.Is(err, api.ErrAmbiguousID) {
		t.Errorf("watch of an ambiguous prefix: %v", err)
	}
	if _, err := c.GC(ctx); !errors.Is(err, api.ErrRepoFull) {
		t.Errorf("gc: %v", err)
	}
}

// TestClientReadsOldErrors: a node before codes (or a proxy) sends no code; the client
// takes the code of the status and keeps the message.
func TestClientReadsOldErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/jobs/j-1":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"store: job not found: j-1"}`))
		case "/api/v1/jobs/j-2":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"bad","code":"Not A Code!"}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>upstream down</html>"))
		}
	}))
	defer srv.Close()
	c := api.NewClient(srv.URL)
	var e *api.Error
	_, err := c.Get(context.Background(), "j-1")
	if !errors.As(err, &e) || e.Status != 404 || e.Code != api.CodeNotFound || e.Message != "store: job not found: j-1" {
		t.Errorf("old node's 404: %#v", err)
	}
	_, err = c.Get(context.Background(), "j-2")
	if !errors.As(err, &e) || e.Code != api.CodeInvalidRequest || e.Message != "bad" {
		t.Errorf("a malformed code: %#v", err)
	}
	_, err = c.Get(context.Background(), "j-3")
	if !errors.As(err, &e) || e.Status != 502 || e.Code != api.CodeInternal || !strings.Contains(e.Message, "502") || !strings.Contains(e.Message, "upstream down") {
		t.Errorf("a proxy's page: %#v", err)
	}
}
