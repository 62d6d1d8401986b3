package server

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// failingStreams is a job side whose logs and watch fail after the stream started.
type failingStreams struct{ fakeJobs }

var errMidStream = errors.New("block bafkfoo not found on the network within 30s")

func (failingStreams) Get(context.Context, string) (*job.Job, error) {
	return &job.Job{ID: "j-1", State: job.StateRunning}, nil
}
func (failingStreams) Logs(_ context.Context, _ string, _ bool, fn func(string, []byte) error) error {
	if err := fn("stdout", []byte("partial\n")); err != nil {
		return err
	}
	return errMidStream
}
func (failingStreams) Watch(_ context.Context, _ string, fn func(*job.Job) bool) error {
	fn(&job.Job{ID: "j-1", State: job.StateRunning, CreatedAt: time.Now()})
	return errMidStream
}

// TestStreamErrorsReachTheClient: an error after a logs or wait stream started (its
// status sent) is not lost: the client fails with it instead of taking a cut-short
// stream for a whole one.
func TestStreamErrorsReachTheClient(t *testing.T) {
	srv := httptest.NewServer(New(Config{}, failingStreams{}, nil, nil).Handler())
	defer srv.Close()
	c := api.NewClient(srv.URL)
	var got strings.Builder
	err := c.Logs(context.Background(), "j-1", false, func(ch api.LogChunk) error { got.Write(ch.Data); return nil })
	if err == nil || !strings.Contains(err.Error(), errMidStream.Error()) || got.String() != "partial\n" {
		t.Fatalf("logs: %q, %v", got.String(), err)
	}
	last, err := c.Watch(context.Background(), "j-1", func(*job.Job) bool { return true })
	if err == nil || !strings.Contains(err.Error(), errMidStream.Error()) || last == nil || last.State != job.StateRunning {
		t.Fatalf("watch: %+v, %v", last, err)
	}
}
