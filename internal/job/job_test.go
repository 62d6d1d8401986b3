package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

const (
	cidV1 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
	cidV0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
)

func wasmSpec() Spec {
	return Spec{Engine: EngineWasm, Wasm: &WasmTask{Module: cidtext.MustParse(cidV1)}}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Spec)
		wantErr string
	}{
		{"ok", func(*Spec) {}, ""},
		{"ok with inputs", func(s *Spec) {
			s.Inputs = []Input{{CID: cidtext.MustParse(cidV0), Target: "/data"}, {CID: cidtext.MustParse(cidV1), Target: "/more"}}
		}, ""},
		{"no engine", func(s *Spec) { s.Engine = "" }, "no engine"},
		{"unknown engine", func(s *Spec) { s.Engine = "jvm" }, `unknown engine "jvm"`},
		{"wasm without task", func(s *Spec) { s.Wasm = nil }, "no wasm task"},
		{"both tasks", func(s *Spec) { s.Docker = &DockerTask{Image: "ubuntu"} }, "cannot also carry"},
		{"empty module", func(s *Spec) { s.Wasm.Module = cidtext.CID{} }, "no wasm module"},
		{"escape target", func(s *Spec) { s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Target: "/../etc"}} }, "not a clean path"},
		{"relative target", func(s *Spec) { s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Target: "data"}} }, "absolute path"},
		{"root target", func(s *Spec) { s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Target: "/"}} }, ""},
		{"root target under others", func(s *Spec) {
			s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Target: "/", Writable: true}, {CID: cidtext.MustParse(cidV0), Target: "/data"}}
		}, ""},
		{"two roots", func(s *Spec) {
			s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Target: "/"}, {CID: cidtext.MustParse(cidV0), Target: "/", Writable: true}}
		}, "two inputs"},
		{"outputs target", func(s *Spec) { s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Target: "/outputs/x"}} }, "collides"},
		{"dup target", func(s *Spec) {
			s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Target: "/a"}, {CID: cidtext.MustParse(cidV0), Target: "/a"}}
		}, "two inputs"},
		{"nested target", func(s *Spec) {
			s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Target: "/a"}, {CID: cidtext.MustParse(cidV0), Target: "/a/b"}}
		}, "nested"},
		{"dag path escape", func(s *Spec) { s.Inputs = []Input{{CID: cidtext.MustParse(cidV1), Path: "a/../b", Target: "/a"}} }, "bad segment"},
		{"negative timeout", func(s *Spec) { s.Timeout = Duration(-time.Second) }, "out of range"},
		{"huge memory", func(s *Spec) { s.Memory = 1 << 40 }, "over the limit"},
		{"bad env", func(s *Spec) { s.Env = map[string]string{"A=B": "c"} }, "environment variable name"},
		{"nul arg", func(s *Spec) { s.Wasm.Args = []string{"a\x00b"} }, "NUL"},
		{"docker ok", func(s *Spec) { s.Engine, s.Wasm, s.Docker = EngineDocker, nil, &DockerTask{Image: "ubuntu:24.04"} }, ""},
		{"docker root input", func(s *Spec) {
			s.Engine, s.Wasm, s.Docker = EngineDocker, nil, &DockerTask{Image: "ubuntu:24.04"}
			s.Inputs = []Input{{CID: cidtext.MustParse("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"), Target: "/", Writable: true}}
		}, "cannot mount an input at /"},
		{"wasmtime ok", func(s *Spec) { s.Engine = EngineWasmtime }, ""},
		{"wasmtime without task", func(s *Spec) { s.Engine, s.Wasm = EngineWasmtime, nil }, "engine is wasmtime but no wasm task"},
		{"wasmtime verified", func(s *Spec) { s.Engine, s.Verify = EngineWasmtime, 3 }, "verify 3 needs results that every node reproduces; the wasmtime engine's are not"},
		{"docker bad image", func(s *Spec) { s.Engine, s.Wasm, s.Docker = EngineDocker, nil, &DockerTask{Image: "a b"} }, "not a valid image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := wasmSpec()
			tt.mutate(&s)
			s.Normalize()
			err := s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestParseInput(t *testing.T) {
	tests := []struct {
		in      string
		want    Input
		wantErr string
	}{
		{cidV1, Input{CID: cidtext.MustParse(cidV1), Target: "/inputs"}, ""},
		{"ipfs://" + cidV1, Input{CID: cidtext.MustParse(cidV1), Target: "/inputs"}, ""},
		{"ipfs://" + cidV1 + ":/data", Input{CID: cidtext.MustParse(cidV1), Target: "/data"}, ""},
		{"src=ipfs://" + cidV0 + ",dst=/more", Input{CID: cidtext.MustParse(cidV0), Target: "/more"}, ""},
		{"src=ipfs://" + cidV0 + "/sub/dir,dst=/more", Input{CID: cidtext.MustParse(cidV0), Path: "sub/dir", Target: "/more"}, ""},
		{"ipfs://" + cidV1 + ":/data:rw", Input{CID: cidtext.MustParse(cidV1), Target: "/data", Writable: true}, ""},
		{"ipfs://" + cidV1 + ":/:rw", Input{CID: cidtext.MustParse(cidV1), Target: "/", Writable: true}, ""},
		{"ipfs://" + cidV1 + ":/", Input{CID: cidtext.MustParse(cidV1), Target: "/"}, ""},
		{"ipfs://" + cidV1 + ":/data:ro", Input{CID: cidtext.MustParse(cidV1), Target: "/data"}, ""},
		{"src=ipfs://" + cidV0 + ",dst=/,rw", Input{CID: cidtext.MustParse(cidV0), Target: "/", Writable: true}, ""},
		{"src=ipfs://" + cidV0 + ",rw,dst=/x,ro", Input{CID: cidtext.MustParse(cidV0), Target: "/x"}, ""},
		{"ipfs://" + cidV1 + ":/data:rx", Input{}, "unknown mount mode"},
		{"ipfs://" + cidV1 + ":/outputs:rw", Input{}, "collides"},
		{"ipfs://" + cidV1 + ":rw", Input{}, "absolute path"},
		{"ipfs://" + cidV1 + ":/../etc", Input{}, "not a clean path"},
		{"ipfs://nope:/data", Input{}, "not a valid CID"},
		{"src=,dst=/x", Input{}, "no src"},
		{"src=ipfs://" + cidV1 + ",foo=bar", Input{}, "unknown key"},
		{"", Input{}, "empty CID"},
	}
	for _, tt := range tests {
		got, err := ParseInput(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseInput(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseInput(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	tests := map[string]uint64{"64MB": 64e6, "64MiB": 64 << 20, "64Mi": 64 << 20, "512": 512, "1.5GiB": 3 << 29, "10k": 10000}
	for in, want := range tests {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "-1MB", "12XB", "1e30"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded, want error", bad)
		}
	}
	if got := FormatBytes(64 << 20); got != "64 MiB" {
		t.Errorf("FormatBytes = %q", got)
	}
}

func TestTransitions(t *testing.T) {
	now := time.Unix(1700000000, 0)
	j := New(wasmSpec(), now)
	if err := j.Transition(StateCompleted, "", now); !errors.Is(err, ErrTransition) {
		t.Fatalf("pending -> completed = %v, want ErrTransition", err)
	}
	for _, st := range []State{StateRunning, StateFailed} {
		if err := j.Transition(st, "timeout", now); err != nil {
			t.Fatal(err)
		}
	}
	if j.Reason != "timeout" || len(j.History) != 3 {
		t.Fatalf("reason %q, history %d", j.Reason, len(j.History))
	}
	if err := j.Transition(StateRunning, "", now); !errors.Is(err, ErrTransition) {
		t.Fatalf("failed -> running = %v, want ErrTransition", err)
	}
}

func TestIDs(t *testing.T) {
	a, b := NewID(), NewID()
	if a == b || !strings.HasPrefix(a, "j-") || len(a) != 38 {
		t.Fatalf("ids %q %q", a, b)
	}
	if err := CheckIDPrefix(ShortID(a)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "j-xyz", "../etc", strings.Repeat("a", 100)} {
		if CheckIDPrefix(bad) == nil {
			t.Errorf("CheckIDPrefix(%q) = nil", bad)
		}
	}
}

func TestSpecJSONRoundTrip(t *testing.T) {
	s := wasmSpec()
	s.Timeout = Duration(2 * time.Second)
	s.Normalize()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"timeout":"2s"`) {
		t.Fatalf("timeout not human readable: %s", b)
	}
	var back Spec
	if err := json.Unmarshal(b, &back); err != nil || back.Timeout != s.Timeout || back.Wasm.Module.String() != cidV1 {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestFormatLabelsRoundTrip(t *testing.T) {
	in := map[string]string{"region": "eu", "a": "1", "role": "worker"}
	s := FormatLabels(in)
	if s != "a=1,region=eu,role=worker" {
		t.Fatalf("FormatLabels = %q", s)
	}
	out, err := ParseLabels([]string{s})
	if err != nil || len(out) != len(in) || out["region"] != "eu" || out["a"] != "1" || out["role"] != "worker" {
		t.Fatalf("ParseLabels(%q) = %v, %v", s, out, err)
	}
}

// TestTaskDigest: a WASM task's digest is the one receipts have always carried, and a
// Docker task's covers its whole task.
func TestTaskDigest(t *testing.T) {
	wasm := Spec{Engine: EngineWasm, Wasm: &WasmTask{Module: cidtext.MustParse(cidV1), EntryPoint: "_start", Args: []string{"a"}},
		Env: map[string]string{"B": "2", "A": "1"}, Memory: 1024}
	old := sha256.Sum256([]byte(`{"Engine":"wasm","EntryPoint":"_start","Args":["a"],"Env":[{"K":"A","V":"1"},{"K":"B","V":"2"}],"Memory":1024}`))
	if got := TaskDigest(wasm); got != hex.EncodeToString(old[:]) {
		t.Errorf("wasm digest changed: %s", got)
	}
	other := wasm
	other.Wasm = &WasmTask{Module: cidtext.MustParse(cidV0), EntryPoint: "_start", Args: []string{"a"}}
	if TaskDigest(other) != TaskDigest(wasm) {
		t.Error("the module changed the digest: receipts bind it by CID, not in the digest")
	}
	d := func(image string, entry, args []string) string {
		return TaskDigest(Spec{Engine: EngineDocker, Docker: &DockerTask{Image: image, Entrypoint: entry, Args: args}, Memory: 1024})
	}
	base := d("ubuntu", nil, []string{"echo", "hi"})
	for name, got := range map[string]string{
		"image":      d("alpine", nil, []string{"echo", "hi"}),
		"entrypoint": d("ubuntu", []string{"/bin/sh"}, []string{"echo", "hi"}),
		"args":       d("ubuntu", nil, []string{"echo", "ho"}),
	} {
		if got == base {
			t.Errorf("a docker task's %s does not change its digest", name)
		}
	}
}

// TestSpecJSONRefusesBadCIDs: a CID in a spec is checked where the JSON is decoded (the
// HTTP body, a peer's message), with the words of cidtext.Parse, and prints back as the
// same text.
func TestSpecJSONRefusesBadCIDs(t *testing.T) {
	for _, s := range []string{
		`{"engine":"wasm","wasm":{"module":"not-a-cid"}}`,
		`{"engine":"wasm","wasm":{"module":"` + cidV1 + `"},"inputs":[{"cid":"bafy!!!","target":"/data"}]}`,
	} {
		var spec Spec
		err := json.Unmarshal([]byte(s), &spec)
		if err == nil || !strings.Contains(err.Error(), "is not a valid CID") {
			t.Fatalf("decoding %s = %v, want an error saying it is not a valid CID", s, err)
		}
	}
	in := `{"engine":"wasm","wasm":{"module":"` + cidV1 + `"},"inputs":[{"cid":"` + cidV0 + `","target":"/data"}]}`
	var spec Spec
	if err := json.Unmarshal([]byte(in), &spec); err != nil {
		t.Fatal(err)
	}
	if out, err := json.Marshal(spec); err != nil || string(out) != in {
		t.Fatalf("a spec prints back as %s, %v; want %s", out, err, in)
	}
}

// TestExecutionJSON: an execution's result CID is typed in the model and text on the
// wire, as it was when the model held it as text: the same bytes out, omitted when
// there is none, checked as it is decoded. A receipt names it as text, in the same
// form, since its signature covers that text.
func TestExecutionJSON(t *testing.T) {
	code := 0
	e := Execution{ID: "e-1", NodeID: "n", State: StateCompleted, StartedAt: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC),
		ExitCode: &code, ResultCID: cidtext.MustParse(cidV1)}
	const want = `{"id":"e-1","nodeId":"n","state":"completed","startedAt":"2026-12-02T09:00:00Z","endedAt":"0001-01-01T00:00:00Z","exitCode":0,"resultCid":"` + cidV1 + `"}`
	b, err := json.Marshal(e)
	if err != nil || string(b) != want {
		t.Fatalf("%s, %v\nwant %s", b, err, want)
	}
	var back Execution
	if err := json.Unmarshal(b, &back); err != nil || back.ResultCID != e.ResultCID {
		t.Fatalf("round trip: %v, %v", back.ResultCID, err)
	}
	none := e
	none.ResultCID = cidtext.CID{}
	if b, _ := json.Marshal(none); strings.Contains(string(b), "resultCid") {
		t.Fatalf("an execution without a result prints %s", b)
	}
	if err := json.Unmarshal([]byte(`{"id":"e-1","resultCid":"bafyX"}`), &back); err == nil || !strings.Contains(err.Error(), "is not a valid CID") {
		t.Fatalf("a bad result CID decoded: %v", err)
	}
	if r := NewReceipt(&Job{ID: "j-1", Spec: wasmSpec()}, "e-1", e.ResultCID, 0); r.ResultCID != cidV1 || r.Module != cidV1 {
		t.Fatalf("receipt names result %q and module %q, want %q", r.ResultCID, r.Module, cidV1)
	}
}
