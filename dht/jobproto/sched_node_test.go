package jobproto

import (
	"errors"
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// An execution ID carries the whole job UUID, so two jobs whose IDs share a prefix never
// share an execution ID; the wire takes those IDs (it took only 32 characters before).
func TestExecutionIDsTakeWholeJobUUID(t *testing.T) {
	long := "e-" + fuzzJobID[len(job.IDPrefix):] + "-12"
	for _, id := range []string{long, "e-0b6a7e4c-1"} {
		if err := validExecutionID(id); err != nil {
			t.Errorf("execution ID %q refused: %v", id, err)
		}
		a := &Accept{JobID: fuzzJobID, ExecutionID: id, Spec: job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")}}}
		if err := a.Validate(); err != nil {
			t.Errorf("accept of %q refused: %v", id, err)
		}
	}
	for _, id := range []string{"e-" + strings.Repeat("a", 63), "x-1", "e-XY-1"} {
		if err := validExecutionID(id); !errors.Is(err, dht.ErrInvalid) {
			t.Errorf("execution ID %q: %v, want dht.ErrInvalid", id, err)
		}
	}
}

func TestExecutionUpdatePhase(t *testing.T) {
	const id = "e-0b6a7e4c-1"
	update := func(st job.State, phase, note string) *ExecutionUpdate {
		return &ExecutionUpdate{JobID: fuzzJobID, ExecutionID: id, Execution: job.Execution{ID: id, State: st, Phase: phase}, Note: note}
	}
	if err := update(job.StatePending, job.PhaseFetching, "fetching module bafy...").Validate(); err != nil {
		t.Fatalf("a fetching report refused: %v", err)
	}
	for _, tt := range []struct {
		u    *ExecutionUpdate
		want string
	}{
		{update(job.StatePending, "", ""), `execution state "pending"`},
		{update(job.StateRunning, job.PhaseFetching, ""), `phase "fetching" in state "running"`},
		{update(job.StatePending, "sleeping", ""), `phase "sleeping"`},
		{update(job.StatePending, job.PhaseFetching, strings.Repeat("x", maxReasonBytes+1)), "note is not UTF-8"},
	} {
		if err := tt.u.Validate(); !errors.Is(err, dht.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want dht.ErrInvalid with %q", err, tt.want)
		}
	}
}

func TestHeartbeatMemoryFree(t *testing.T) {
	id := newPeerID(t)
	ok := &Heartbeat{Node: id, Capacity: Capacity{Slots: 2, Memory: 1 << 30, MemoryFree: 1 << 29}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := &Heartbeat{Node: id, Capacity: Capacity{Slots: 2, Memory: 1 << 20, MemoryFree: 1 << 30}}
	if err := bad.Validate(); !errors.Is(err, dht.ErrInvalid) || !strings.Contains(err.Error(), "free of") {
		t.Fatalf("more memory free than offered: %v", err)
	}
}

// TestHeartbeatEngines: a peer may offer engines this node does not know (a newer
// version's), so names are checked for form only.
func TestHeartbeatEngines(t *testing.T) {
	id := newPeerID(t)
	hb := func(es ...job.Engine) *Heartbeat {
		return &Heartbeat{Node: id, Engines: es, Capacity: Capacity{Slots: 1}}
	}
	if err := hb(job.EngineWasm, "wasmtime", "docker").Validate(); err != nil {
		t.Fatalf("engines of a newer peer refused: %v", err)
	}
	for _, tt := range []struct {
		hb   *Heartbeat
		want string
	}{
		{hb("Wasm"), `engine name "Wasm"`},
		{hb(""), `engine name ""`},
		{hb(job.Engine(strings.Repeat("x", 33))), "engine name"},
		{hb("wasm", "wasm"), "listed twice"},
	} {
		if err := tt.hb.Validate(); !errors.Is(err, dht.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%q) = %v, want dht.ErrInvalid with %q", tt.hb.Engines, err, tt.want)
		}
	}
}

func TestExecutionUpdateOutcome(t *testing.T) {
	const id = "e-0b6a7e4c-1"
	update := func(st job.State, o job.Outcome) *ExecutionUpdate {
		return &ExecutionUpdate{JobID: fuzzJobID, ExecutionID: id, Execution: job.Execution{ID: id, State: st, Outcome: o}}
	}
	for _, o := range job.Outcomes {
		if err := update(job.StateFailed, o).Validate(); err != nil {
			t.Errorf("outcome %q refused: %v", o, err)
		}
	}
	if err := update(job.StateCompleted, "").Validate(); err != nil {
		t.Errorf("no outcome (an older node) refused: %v", err)
	}
	for _, u := range []*ExecutionUpdate{update(job.StateFailed, "exploded"), update(job.StateRunning, job.OutcomeTimeout)} {
		if err := u.Validate(); !errors.Is(err, dht.ErrInvalid) || !strings.Contains(err.Error(), "outcome") {
			t.Errorf("Validate(%q in %q) = %v, want dht.ErrInvalid naming the outcome", u.Execution.Outcome, u.Execution.State, err)
		}
	}
}

// TestAcceptNormalises: an accept from a requester that left the defaults out is run
// with them; checking it and normalising it happen once, on receipt.
func TestAcceptNormalises(t *testing.T) {
	a := &Accept{JobID: fuzzJobID, ExecutionID: "e-" + strings.TrimPrefix(fuzzJobID, "j-") + "-1",
		Spec: job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")}}}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Spec.Timeout != job.Duration(job.DefaultTimeout) || a.Spec.Memory != job.DefaultMemory || a.Spec.Wasm.EntryPoint != job.DefaultEntryPoint {
		t.Errorf("spec after Validate: %+v, %+v; want the defaults filled in", a.Spec, a.Spec.Wasm)
	}
}
