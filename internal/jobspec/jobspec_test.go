package jobspec

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func TestDecodeWasm(t *testing.T) {
	b, err := os.ReadFile("testdata/wasm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := job.Spec{
		Engine: job.EngineWasm,
		Wasm:   &job.WasmTask{Module: cidtext.MustParse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"), EntryPoint: "_start", Args: []string{"a", "b"}},
		Inputs: []job.Input{
			{CID: cidtext.MustParse("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"), Target: "/data"},
			{Target: "/web"},
		},
		Env:          map[string]string{"K": "V"},
		Memory:       64 << 20,
		OutputsLimit: 10_000_000,
		Timeout:      job.Duration(30 * time.Second),
		QueueTimeout: job.Duration(time.Minute),
	}
	if !reflect.DeepEqual(d.Spec, want) {
		t.Errorf("spec:\n got %+v\nwant %+v", d.Spec, want)
	}
	if len(d.URLInputs) != 1 || d.URLInputs[0] != (URLInput{Index: 1, URL: "https://example.org/data.csv"}) {
		t.Errorf("URL inputs: %+v", d.URLInputs)
	}
	if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "CPU") {
		t.Errorf("notes: %q", d.Notes)
	}
}

func TestDecodeDockerJSON(t *testing.T) {
	b, err := os.ReadFile("testdata/docker.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := job.Spec{
		Engine:   job.EngineDocker,
		Docker:   &job.DockerTask{Image: "ubuntu:24.04", Entrypoint: []string{"/bin/sh", "-c"}, Args: []string{"echo hi"}},
		Env:      map[string]string{"A": "1"},
		Selector: map[string]string{"region": "eu"},
	}
	if !reflect.DeepEqual(d.Spec, want) {
		t.Errorf("spec:\n got %+v\nwant %+v", d.Spec, want)
	}
	if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "Publisher s3 ignored") {
		t.Errorf("notes: %q", d.Notes)
	}
}

// A spec written back by FromSpec reads as the same spec, and so does the job record
// and the bare spec this project prints.
func TestRoundTrip(t *testing.T) {
	specs := []job.Spec{
		{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"), EntryPoint: "_start", Args: []string{"x", "--y=1", "3"}},
			Inputs: []job.Input{{CID: cidtext.MustParse("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"), Path: "sub/dir", Target: "/data"}},
			Env:    map[string]string{"A": "1", "B": "true"}, Memory: 1 << 28, OutputsLimit: 1 << 30, Timeout: job.Duration(time.Minute),
			QueueTimeout: job.Duration(10 * time.Minute), Verify: 3, Selector: map[string]string{"a": "b", "c": "d"}},
		{Engine: job.EngineDocker, Docker: &job.DockerTask{Image: "alpine", Entrypoint: []string{"sh"}, Args: []string{"-c", "ls"}}, Verify: 1},
	}
	for _, s := range specs {
		y, err := EncodeYAML(FromSpec(s))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(y)
		if err != nil {
			t.Fatalf("%s\n%v", y, err)
		}
		if d.Spec.Verify == 0 {
			d.Spec.Verify = 1
		}
		if !reflect.DeepEqual(d.Spec, s) {
			t.Errorf("round trip of\n%s\n got %+v\nwant %+v", y, d.Spec, s)
		}
		for _, v := range []any{&job.Job{ID: "j-1", Spec: s}, s} {
			y, err := EncodeYAML(v)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(y)
			if err != nil {
				t.Fatalf("%s\n%v", y, err)
			}
			if !reflect.DeepEqual(d.Spec, s) {
				t.Errorf("native round trip of\n%s\n got %+v\nwant %+v", y, d.Spec, s)
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"", "empty"},
		{"[1]", "want an object"},
		{"Type: batch\nTasks:\n  - Engine:\n      Type: wasm\n      Paramz: {}\n", "line 5, Tasks[0].Engine.Paramz: unknown field \"Paramz\""},
		{"Type: batch\nTasks:\n  - Engine:\n      Type: docker\n      Params:\n        Image: x\n        Imagee: y\n", "line 7, Tasks[0].Engine.Params.Imagee: unknown field"},
		{"Type: service\nTasks: []\n", "line 1, Type: job type \"service\" is not supported"},
		{"Type: batch\nTasks: []\n", "exactly one task"},
		{"Type: batch\nTasks:\n  - Engine: {Type: python}\n", "Tasks[0].Engine.Type: engine \"python\" is not supported"},
		{"Type: batch\nTasks:\n  - Engine: {Type: wasm, Params: {EntryModule: nope}}\n", "EntryModule: \"nope\" is not a valid CID"},
		{"Type: batch\nCount: many\nTasks: []\n", "line 2, Count: want a whole number"},
		{"Type: batch\nTasks:\n  - Engine: {Type: docker, Params: {Image: x}}\n    InputSources:\n      - Source: {Type: s3, Params: {}}\n", "line 5, Tasks[0].InputSources[0].Source.Type: source \"s3\" is not supported"},
		{"Type: batch\nTasks:\n  - Engine: {Type: docker, Params: {Image: x}}\n    InputSources:\n      - Source: {Type: urlDownload, Params: {URL: 'ftp://x/y'}}\n", "want an http:// or https:// URL"},
		{"Type: batch\nTasks:\n  - Engine: {Type: docker, Params: {Image: x}}\n    ResultPaths: [{Name: o, Path: /results}]\n", "only /outputs is collected"},
		{"Type: batch\nTasks:\n  - Engine: {Type: docker, Params: {Image: x}}\n    Network: {Type: Full}\n", "no network"},
		{"a: &x [1]\nb: *x\n", "aliases"},
		{"Type: batch\nType: ops\n", "line 2: key \"Type\" appears twice"},
		{"Type: [\n", "not valid YAML or JSON"},
		{"engine: wasm\nwasm: {module: bafkqaaa}\nbogus: 1\n", "line 3, bogus: unknown field"},
		{"engine: wasm\nwasm: {module: x}\n", "line 2, wasm.module: \"x\" is not a valid CID"},
		{"engine: wasm\nwasm: {module: [x]}\n", "line 2, wasm.module: want a string"},
	} {
		_, err := Decode([]byte(c.spec))
		var e *Error
		if err == nil || !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%q) = %v, want an *Error with %q", c.spec, err, c.want)
		}
	}
}

// TestLabels: a v1 job's Labels become the spec's labels, are written back by FromSpec
// and read again the same; a label no selector could name, or too many, fail at
// Labels with the line.
func TestLabels(t *testing.T) {
	const head = "Type: batch\nLabels:\n"
	const tail = "Tasks:\n  - Engine:\n      Type: wasm\n      Params: {EntryModule: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy}\n"
	d, err := Decode([]byte(head + "  env: prod\n  team: data-eng\n" + tail))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"env": "prod", "team": "data-eng"}; !reflect.DeepEqual(d.Spec.Labels, want) || len(d.Notes) != 0 {
		t.Fatalf("labels %v, notes %q", d.Spec.Labels, d.Notes)
	}
	y, err := EncodeYAML(FromSpec(d.Spec))
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(y)
	if err != nil || !reflect.DeepEqual(back.Spec, d.Spec) {
		t.Fatalf("written as\n%s\nread back as %+v, %v", y, back, err)
	}
	for body, want := range map[string]string{
		"  env: a b\n":   "job spec, line 3, Labels: label env: value \"a b\" holds a character a label selector cannot name",
		"  \"e v\": x\n": "job spec, line 3, Labels: label key \"e v\": only letters",
	} {
		_, err := Decode([]byte(head + body + tail))
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
	var many strings.Builder
	for i := range job.MaxJobLabels + 1 {
		many.WriteString("  k" + strings.Repeat("x", i) + ": v\n")
	}
	if _, err := Decode([]byte(head + many.String() + tail)); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("%d labels: %v", job.MaxJobLabels+1, err)
	}
}
