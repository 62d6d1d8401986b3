package job

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestQueueTimeoutAndOutputsLimit(t *testing.T) {
	s := wasmSpec()
	if s.EffectiveQueueTimeout() != DefaultQueueTimeout || s.EffectiveOutputsLimit() != DefaultOutputsLimit {
		t.Fatalf("effective values of a bare spec: %s, %d", s.EffectiveQueueTimeout(), s.EffectiveOutputsLimit())
	}
	s.Normalize()
	if time.Duration(s.QueueTimeout) != DefaultQueueTimeout || s.OutputsLimit != DefaultOutputsLimit {
		t.Fatalf("normalized: queue timeout %s, outputs limit %d", s.QueueTimeout, s.OutputsLimit)
	}
	var d Spec
	if err := json.Unmarshal([]byte(`{"engine":"wasm","wasm":{"module":"`+cidV1+`"},"queueTimeout":"3s","outputsLimit":1048576}`), &d); err != nil {
		t.Fatal(err)
	}
	d.Normalize()
	if time.Duration(d.QueueTimeout) != 3*time.Second || d.OutputsLimit != 1<<20 || d.Validate() != nil {
		t.Fatalf("decoded: queue timeout %s, outputs limit %d, %v", d.QueueTimeout, d.OutputsLimit, d.Validate())
	}
	for _, tt := range []struct {
		mutate func(*Spec)
		want   string
	}{
		{func(s *Spec) { s.QueueTimeout = Duration(-time.Second) }, "queue timeout -1s is out of range"},
		{func(s *Spec) { s.QueueTimeout = Duration(MaxQueueTimeout + 1) }, "queue timeout"},
		{func(s *Spec) { s.OutputsLimit = MaxOutputsLimit + 1 }, "outputs limit 1099511627777 bytes is over the limit of 1 TiB"},
	} {
		s := wasmSpec()
		tt.mutate(&s)
		s.Normalize()
		err := s.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want an ErrInvalid containing %q", err, tt.want)
		}
	}
}

func TestQueueClock(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j := New(wasmSpec(), t0)
	j.UpdateQueueClock(t0)
	if !j.WaitingSince.Equal(t0) {
		t.Fatalf("a new job waits from its creation: %v", j.WaitingSince)
	}
	// Taken after 2 s: the clock stops.
	j.Executions = append(j.Executions, Execution{ID: "e-1", State: StatePending})
	j.UpdateQueueClock(t0.Add(2 * time.Second))
	if !j.WaitingSince.IsZero() || j.QueueTime(t0.Add(time.Hour)) != 2*time.Second {
		t.Fatalf("while an execution is under way: since %v, queued %s", j.WaitingSince, j.QueueTime(t0.Add(time.Hour)))
	}
	// Given up 10 s later: the clock runs again from there.
	j.Executions[0].State, j.Executions[0].Lost = StateFailed, true
	j.UpdateQueueClock(t0.Add(12 * time.Second))
	if got := j.QueueTime(t0.Add(15 * time.Second)); got != 5*time.Second {
		t.Fatalf("queued %s after going back to pending, want 5s", got)
	}
	// A terminal job's clock stops.
	if err := j.Transition(StateFailed, "x", t0.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	j.UpdateQueueClock(t0.Add(20 * time.Second))
	if got := j.QueueTime(t0.Add(time.Hour)); got != 10*time.Second {
		t.Fatalf("queued %s once terminal, want 10s", got)
	}
	b, _ := json.Marshal(j)
	if !strings.Contains(string(b), `"waited":"10s"`) || strings.Contains(string(b), "waitingSince") {
		t.Fatalf("job JSON: %s", b)
	}
}
