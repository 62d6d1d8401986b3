package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api/upstream/upstreamtest"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

const recorded = "../upstream/testdata/"

// memJobs keeps submitted jobs in memory, validated as a node does.
type memJobs struct {
	fakeJobs
	mu   sync.Mutex
	jobs []*job.Job
}

func (m *memJobs) Submit(_ context.Context, spec job.Spec) (*job.Job, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	j := job.New(spec, time.Now())
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs = append(m.jobs, j)
	return j, nil
}

func (m *memJobs) Get(_ context.Context, id string) (*job.Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range m.jobs {
		if j.ID == id {
			return j, nil
		}
	}
	return nil, job.ErrNotFound
}

func (m *memJobs) List(_ context.Context, q api.ListQuery) (api.ListPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	limit := q.Limit
	if limit == 0 {
		limit = 10
	}
	sel, err := job.ParseSelector(q.Labels)
	if err != nil {
		return api.ListPage{}, err
	}
	var match []*job.Job
	for _, j := range m.jobs {
		if sel.Matches(j.Spec.Labels) {
			match = append(match, j)
		}
	}
	page := api.ListPage{Total: len(match)}
	for i := q.Offset; i < len(match) && len(page.Jobs) < limit; i++ {
		page.Jobs = append(page.Jobs, match[i])
	}
	return page, nil
}

func (m *memJobs) Cancel(ctx context.Context, id string) (*job.Job, error) {
	j, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return j, j.Transition(job.StateCancelled, "cancelled by the user", time.Now())
}

type oneNode struct{ fullNode }

func (oneNode) Nodes() []api.PeerStatus {
	return []api.PeerStatus{{ID: "12D3KooWtest", Addrs: []string{"/ip4/127.0.0.1/tcp/1235"}, Engines: []job.Engine{job.EngineWasm},
		Capacity: api.Capacity{Slots: 2, Memory: 1 << 30, MemoryFree: 1 << 29}, Labels: map[string]string{"region": "eu"}, Live: true, Self: true}}
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// jobOptional are the fields of a recorded v1 job this node leaves out when empty.
var jobOptional = []string{"Priority", "Constraints", "Meta", "Labels", "Version", "Tasks[].Env", "Tasks[].Meta",
	"Tasks[].InputSources", "Tasks[].ResultPaths", "Tasks[].Resources", "Tasks[].Network", "Tasks[].Timeouts", "Tasks[].Publisher.Params"}

func prefixed(p string, fields []string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = p + f
	}
	return out
}

// TestUpstreamRoutes: upstream's own example job, submitted as its documentation
// submits it, is listed, described and stopped through upstream's routes, whose
// answers have the field names of upstream's recorded answers.
func TestUpstreamRoutes(t *testing.T) {
	jobs := &memJobs{}
	srv := httptest.NewServer(New(Config{}, jobs, nil, oneNode{}).Handler())
	defer srv.Close()
	req, err := os.ReadFile(recorded + "put_job_request.json")
	if err != nil {
		t.Fatal(err)
	}
	code, body := call(t, srv, "PUT", "/api/v1/orchestrator/jobs", string(req))
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recorded+"put_job_response.json", body)
	var put upstream.PutJobResponse
	if err := json.Unmarshal(body, &put); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(put.JobID, "j-") || !strings.Contains(strings.Join(put.Warnings, "\n"), "Publisher noop ignored") ||
		!strings.Contains(strings.Join(put.Warnings, "\n"), "CreateTime") {
		t.Errorf("PUT answer: %s", body)
	}
	j, _ := jobs.Get(context.Background(), put.JobID)
	if j.Spec.Engine != job.EngineDocker || j.Spec.Docker.Image != "ubuntu:latest" || strings.Join(j.Spec.Docker.Entrypoint, " ") != "echo hello" {
		t.Errorf("submitted spec: %+v", j.Spec)
	}

	if want := map[string]string{"foo": "bar", "env": "dev"}; job.FormatLabels(j.Spec.Labels) != job.FormatLabels(want) {
		t.Errorf("labels of the submitted job: %v, want %v", j.Spec.Labels, want)
	}

	code, body = call(t, srv, "GET", "/api/v1/orchestrator/jobs/"+put.JobID, "")
	if code != 200 || !strings.Contains(string(body), `"StateType":"Pending"`) || !strings.Contains(string(body), `"Labels":{"env":"dev","foo":"bar"}`) {
		t.Fatalf("GET job: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recorded+"get_job_response.json", body, prefixed("Job.", jobOptional)...)

	// a completed execution, as the requester records one
	exit := 0
	j.Executions = append(j.Executions, job.Execution{ID: "e-" + strings.TrimPrefix(j.ID, "j-") + "-1", NodeID: "12D3KooWtest", State: job.StateCompleted,
		StartedAt: time.Now(), EndedAt: time.Now(), ExitCode: &exit, Stdout: "hello\n", ResultCID: cidtext.MustParse("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")})
	_ = j.Transition(job.StateRunning, "", time.Now())
	code, body = call(t, srv, "GET", "/api/v1/orchestrator/jobs/"+put.JobID+"/executions", "")
	if code != 200 || !strings.Contains(string(body), `"StateType":9`) || !strings.Contains(string(body), `"stdout":"hello\n"`) {
		t.Errorf("executions: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recorded+"executions_response.json", body)
	code, body = call(t, srv, "GET", "/api/v1/orchestrator/jobs/"+put.JobID+"/history", "")
	if code != 200 || !strings.Contains(string(body), `"JobState":{"Previous":"Pending","New":"Running"}`) {
		t.Errorf("history: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recorded+"history_response.json", body, "Items[].NodeID", "Items[].ExecutionID", "Items[].ExecutionState", "Items[].Event.Details")
	code, body = call(t, srv, "GET", "/api/v1/orchestrator/jobs/"+put.JobID+"/results", "")
	if code != 200 || !strings.Contains(string(body), `{"Type":"ipfs","Params":{"CID":"bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"}}`) {
		t.Errorf("results: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recorded+"results_response.json", body)

	for range 2 {
		if code, body := call(t, srv, "PUT", "/api/v1/orchestrator/jobs", string(req)); code != 200 {
			t.Fatalf("PUT: %d %s", code, body)
		}
	}
	code, body = call(t, srv, "GET", "/api/v1/orchestrator/jobs?limit=2", "")
	if code != 200 || !strings.Contains(string(body), `"NextToken":"2"`) {
		t.Errorf("list: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recorded+"list_jobs_response.json", body, prefixed("Items[].", jobOptional)...)
	// label selectors as upstream's CLI sends them: one labels parameter per requirement
	// (its default filter is bacalhau_canary!=true)
	for q, n := range map[string]int{"labels=env%3Ddev": 3, "labels=env%3Dprod": 0, "labels=bacalhau_canary%21%3Dtrue": 3,
		"labels=env+in+%28dev%2Cprod%29&labels=%21foo": 0, "labels=foo&labels=env%21%3Dprod&limit=2": 2} {
		code, body := call(t, srv, "GET", "/api/v1/orchestrator/jobs?"+q, "")
		var page upstream.List[map[string]any]
		if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Items) != n {
			t.Errorf("list %s: %d %s, want %d jobs", q, code, body, n)
		}
	}
	code, body = call(t, srv, "GET", "/api/v1/orchestrator/jobs?limit=2&next_token=2", "")
	var page upstream.List[map[string]any]
	if err := json.Unmarshal(body, &page); code != 200 || err != nil || len(page.Items) != 1 || page.NextToken != "" {
		t.Errorf("second page: %d %s", code, body)
	}

	code, body = call(t, srv, "DELETE", "/api/v1/orchestrator/jobs/"+jobs.jobs[1].ID, "")
	if code != 200 || jobs.jobs[1].State != job.StateCancelled {
		t.Errorf("stop: %d %s, state %s", code, body, jobs.jobs[1].State)
	}
	upstreamtest.SameShape(t, recorded+"stop_job_response.json", body)

	code, body = call(t, srv, "GET", "/api/v1/orchestrator/nodes", "")
	if code != 200 || !strings.Contains(string(body), `"ExecutionEngines":["wasm"]`) {
		t.Errorf("nodes: %d %s", code, body)
	}
	upstreamtest.SameShape(t, recorded+"list_nodes_response.json", body)
	_, body = call(t, srv, "GET", "/api/v1/agent/alive", "")
	upstreamtest.SameShape(t, recorded+"alive_response.json", body)
	_, body = call(t, srv, "GET", "/api/v1/agent/version", "")
	upstreamtest.SameShape(t, recorded+"version_response.json", body)
}

// TestUpstreamErrors: errors on upstream's routes have upstream's body shape, with the
// status and a code; this project's routes keep theirs.
func TestUpstreamErrors(t *testing.T) {
	srv := httptest.NewServer(New(Config{MaxJSONBody: 4096}, &memJobs{}, nil, oneNode{}).Handler())
	defer srv.Close()
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		code, want               string
	}{
		{"unknown job", "GET", "/api/v1/orchestrator/jobs/j-00000000", "", 404, "NotFound", "job not found"},
		{"stop unknown job", "DELETE", "/api/v1/orchestrator/jobs/j-00000000", "", 404, "NotFound", "job not found"},
		{"not JSON", "PUT", "/api/v1/orchestrator/jobs", "{nope", 400, "BadRequest", "not valid JSON"},
		{"no job", "PUT", "/api/v1/orchestrator/jobs", "{}", 400, "ValidationError", "no job given"},
		{"typo", "PUT", "/api/v1/orchestrator/jobs", `{"Job":{"Type":"batch","Tasks":[{"Engine":{"Type":"docker","Params":{"Imagee":"x"}}}]}}`, 400, "ValidationError", "Tasks[0].Engine.Params.Imagee: unknown field"},
		{"service job", "PUT", "/api/v1/orchestrator/jobs", `{"Job":{"Type":"service","Tasks":[{"Engine":{"Type":"docker","Params":{"Image":"x"}}}]}}`, 400, "ValidationError", "only batch jobs"},
		{"url input", "PUT", "/api/v1/orchestrator/jobs", `{"Job":{"Type":"batch","Tasks":[{"Engine":{"Type":"docker","Params":{"Image":"x"}},"InputSources":[{"Source":{"Type":"urlDownload","Params":{"URL":"https://example.org/a"}}}]}]}}`, 400, "ValidationError", "bacalhau data add"},
		{"spec invalid", "PUT", "/api/v1/orchestrator/jobs", `{"Job":{"Type":"batch","Tasks":[{"Engine":{"Type":"docker","Params":{"Image":"ubu ntu"}}}]}}`, 400, "ValidationError", "not a valid image reference"},
		{"too large", "PUT", "/api/v1/orchestrator/jobs", `{"Job":{"Name":"` + strings.Repeat("x", 5000) + `"}}`, 413, "RequestTooLarge", "larger than 4096"},
		{"bad token", "GET", "/api/v1/orchestrator/jobs?next_token=abc", "", 400, "BadRequest", "next_token"},
		{"bad label selector", "GET", "/api/v1/orchestrator/jobs?labels=env+in+prod", "", 400, "BadRequest", "parentheses"},
		{"bad label", "PUT", "/api/v1/orchestrator/jobs", `{"Job":{"Type":"batch","Labels":{"env":"a b"},"Tasks":[{"Engine":{"Type":"docker","Params":{"Image":"x"}}}]}}`, 400, "ValidationError", "Labels: label env"},
		{"unknown route", "GET", "/api/v1/orchestrator/evaluations", "", 404, "NotFound", "Not Found"},
	} {
		code, body := call(t, srv, tt.method, tt.path, tt.body)
		var e upstream.Error
		if err := json.Unmarshal(body, &e); err != nil || code != tt.status || e.Status != tt.status || e.Code != tt.code || !strings.Contains(e.Message, tt.want) {
			t.Errorf("%s: %d %s; want %d, %s, with %q", tt.name, code, body, tt.status, tt.code, tt.want)
			continue
		}
		upstreamtest.SameShape(t, recorded+"error_response.json", body)
	}
	if code, body := call(t, srv, "GET", "/api/v1/jobs/j-00000000", ""); code != 404 || !strings.Contains(string(body), `"code":"not_found"`) {
		t.Errorf("our own route's error: %d %s", code, body)
	}
}

// FuzzPutJobBody: upstream's submit route answers any body with a job ID or a 4xx in
// upstream's error shape, never a 5xx.
func FuzzPutJobBody(f *testing.F) {
	if b, err := os.ReadFile(recorded + "put_job_request.json"); err == nil {
		f.Add(string(b))
	}
	f.Add(`{"Job":{"Type":"batch","Tasks":[{"Engine":{"Type":"wasm","Params":{"EntryModule":"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"}}}]}}`)
	f.Add(`{"Job":null}`)
	f.Add(`{"Job":[1,2]}`)
	f.Add(`{"Job":{"Tasks":[{"Engine":{"Type":"docker","Params":{"Image":"a"}},"Network":{"Type":0},"State":{"StateType":0}}]}}`)
	srv := New(Config{MaxJSONBody: 8192}, &memJobs{}, nil, oneNode{})
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPut, "/api/v1/orchestrator/jobs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		srv.Handler().ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK:
			var put upstream.PutJobResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &put); err != nil || !strings.HasPrefix(put.JobID, "j-") {
				t.Fatalf("200 without a job ID: %s", rec.Body)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var e upstream.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" || e.Status != rec.Code || e.Code == "" {
				t.Fatalf("%d without upstream's error body: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
