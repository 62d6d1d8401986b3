package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// fakeJobs validates and accepts specs the way a node does, and stores nothing.
type fakeJobs struct{}

var _ Jobs = fakeJobs{}

func (fakeJobs) Submit(_ context.Context, spec job.Spec) (*job.Job, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return job.New(spec, time.Now()), nil
}
func (fakeJobs) Get(context.Context, string) (*job.Job, error) { return nil, job.ErrNotFound }
func (fakeJobs) List(context.Context, api.ListQuery) (api.ListPage, error) {
	return api.ListPage{}, nil
}
func (fakeJobs) Cancel(context.Context, string) (*job.Job, error) { return nil, job.ErrNotFound }
func (fakeJobs) Watch(context.Context, string, func(*job.Job) bool) error {
	return job.ErrNotFound
}
func (fakeJobs) Logs(context.Context, string, bool, func(string, []byte) error) error {
	return job.ErrNotFound
}

func FuzzSubmitBody(f *testing.F) {
	const c = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
	f.Add(`{"spec":{"engine":"wasm","wasm":{"module":"` + c + `"}}}`)
	f.Add(`{"spec":{"engine":"wasm","wasm":{"module":"` + c + `"},"inputs":[{"cid":"x","target":"/a"}]}}`)
	f.Add(`{"spec":{"engine":"wasm","wasm":{"module":"` + c + `","args":["a"]},"env":{"A":"b"},"timeout":"1s","memory":1}}`)
	f.Add(`[]`)
	f.Add(`{"spec":{"timeout":-5,"memory":99999999999999}}`)
	srv := New(Config{MaxJSONBody: 4096}, fakeJobs{}, nil, nil)
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/jobs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		srv.Handler().ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusCreated:
		case rec.Code >= 400 && rec.Code < 500:
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Fatalf("4xx without an error message: %s", rec.Body)
			}
			switch e.Code {
			case api.CodeInvalidJSON, api.CodeInvalidSpec, api.CodePayloadTooLarge:
			default:
				t.Fatalf("%d with code %q for %q", rec.Code, e.Code, body)
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

func FuzzPartPath(f *testing.F) {
	for _, s := range []string{`form-data; name="file"; filename="dir%2Fa.txt"`, `form-data; filename="..%2Fx"`, `form-data; filename="%00"`, `attachment`, `form-data; filename="a%2F%2Fb"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, disp string) {
		name, err := partPath(disp)
		if err != nil {
			return
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, 0) {
				t.Fatalf("partPath(%q) accepted %q", disp, name)
			}
		}
	})
}
