package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJobRunV1SameResult: every example job of the README, written by hand as an
// upstream v1 spec file (YAML, JSON, and on stdin), submitted with `job run` gives the
// result CID its `wasm run` form gives; `job describe --output yaml` and `describe
// --output yaml` of it print specs `job run` takes back, with the same result again.
func TestJobRunV1SameResult(t *testing.T) {
	n := startNode(t)
	module := strings.TrimSpace(n.ok("data", "add", guestPath["wordcount"]))
	hello := strings.TrimSpace(n.ok("data", "add", guestPath["hello"]))
	tree := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "tree")))
	text := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "hello.txt")))
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name string
		run  []string
		spec string
	}{
		{"hello", []string{"wasm", "run", guestPath["hello"]}, fmt.Sprintf(`Type: batch
Count: 1
Tasks:
  - Name: hello
    Engine:
      Type: wasm
      Params:
        EntryModule:
          Source:
            Type: ipfs
            Params:
              CID: %s
    Publisher:
      Type: ipfs
`, hello)},
		{"wordcount.json", []string{"wasm", "run", guestPath["wordcount"], "-i", tree}, fmt.Sprintf(`{
  "Type": "batch",
  "Tasks": [{
    "Name": "wc",
    "Engine": {"Type": "wasm", "Params": {"EntryModule": {"Source": {"Type": "ipfs", "Params": {"CID": %q}}}}},
    "InputSources": [{"Source": {"Type": "ipfs", "Params": {"CID": %q}}, "Target": "/inputs"}],
    "ResultPaths": [{"Name": "outputs", "Path": "/outputs"}]
  }]
}`, module, tree)},
		{"-", []string{"wasm", "run", guestPath["wordcount"], "-i", "ipfs://" + tree + ":/inputs", "-i", "src=ipfs://" + text + ",dst=/more", "-e", "K=V", "--timeout", "30s", "--memory", "256MB", "--", "arg1", "arg2"}, fmt.Sprintf(`Type: batch
Tasks:
  - Engine:
      Type: wasm
      Params:
        EntryModule: %s
        Parameters: [arg1, arg2]
        EnvironmentVariables: {K: V}
    InputSources:
      - Source: {Type: ipfs, Params: {CID: %s}}
        Target: /inputs
      - Source: {Type: ipfs, Params: {CID: %s}}
        Target: /more
    Resources: {Memory: 256MB}
    Timeouts: {ExecutionTimeout: 30}
`, module, tree, text)},
	} {
		want := field(n.ok(c.run...), "Result CID")
		if want == "" {
			t.Fatalf("%s: no result CID from wasm run", c.name)
		}
		var out, errs string
		var code int
		if c.name == "-" {
			out, errs, code = n.cliIn(c.spec, "job", "run", "-")
		} else {
			out, errs, code = n.cli("job", "run", write(c.name, c.spec))
		}
		if code != 0 {
			t.Fatalf("%s: job run: exit %d\n%s\n%s", c.name, code, out, errs)
		}
		if got := field(out, "Result CID"); got != want {
			t.Errorf("%s: job run gave %s, wasm run %s", c.name, got, want)
		}
		id := field(out, "Job ID")
		for _, describe := range [][]string{{"job", "describe", id, "--output", "yaml"}, {"describe", id, "--output", "yaml"}, {"describe", id, "--json"}} {
			spec := write("described.yaml", n.ok(describe...))
			if got := field(n.ok("job", "run", spec), "Result CID"); got != want {
				t.Errorf("%s: %v then job run gave %s, want %s", c.name, describe, got, want)
			}
		}
	}
}

// TestJobGroup: the v1 group answers over the same jobs as the top-level commands.
func TestJobGroup(t *testing.T) {
	n := startNode(t)
	out := n.ok("wasm", "run", guestPath["hello"])
	id := field(out, "Job ID")
	if got := n.ok("job", "list", "--wide", "--hide-header"); !strings.Contains(got, id) {
		t.Errorf("job list does not show %s:\n%s", id, got)
	}
	if got := n.ok("job", "describe", id); !strings.Contains(got, "State:       completed") {
		t.Errorf("job describe:\n%s", got)
	}
	if got := n.ok("job", "logs", id); got != "Hello, world!\n" {
		t.Errorf("job logs: %q", got)
	}
	if got := n.ok("job", "logs", "--tail", "1", id); got != "Hello, world!\n" {
		t.Errorf("job logs --tail 1: %q", got)
	}
	if got := n.ok("job", "executions", id); !strings.Contains(got, "completed") || !strings.Contains(got, field(out, "Result CID")) {
		t.Errorf("job executions:\n%s", got)
	}
	if got := n.ok("job", "history", id); !strings.Contains(got, "job completed") {
		t.Errorf("job history:\n%s", got)
	}
	dir := filepath.Join(t.TempDir(), "res")
	n.ok("job", "get", id, "--output-dir", dir)
	if b, err := os.ReadFile(filepath.Join(dir, "stdout")); err != nil || string(b) != "Hello, world!\n" {
		t.Errorf("job get: stdout %q, %v", b, err)
	}
	// stop: a job that sleeps, stopped.
	slow := strings.TrimSpace(n.ok("wasm", "run", guestPath["faulty"], "--wait=false", "--id-only", "--", "sleep", "60s"))
	if got := n.ok("job", "stop", slow); !strings.Contains(got, "cancelled") {
		t.Errorf("job stop: %s", got)
	}
	if _, errs, code := n.cli("job", "frobnicate"); code == 0 || !strings.Contains(errs, "unknown command") {
		t.Errorf("job frobnicate: exit %d, %s", code, errs)
	}
}

// TestJobRunErrors: a bad spec fails before anything is submitted, saying where.
func TestJobRunErrors(t *testing.T) {
	n := startNode(t)
	for _, c := range []struct{ spec, want string }{
		{"Type: batch\nTasks:\n  - Engine:\n      Type: wasm\n      Params:\n        EntryModule: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy\n        Entrypiont: main\n", "line 7, Tasks[0].Engine.Params.Entrypiont: unknown field"},
		{"Type: batch\nTasks:\n  - Engine: {Type: wasm, Params: {EntryModule: https://example.org/x.wasm}}\n", "EntryModule"},
		{"Type: batch\nTasks:\n  - Engine: {Type: wasm, Params: {EntryModule: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy}}\n    Network: {Type: Full}\n", "line 4, Tasks[0].Network.Type"},
	} {
		out, errs, code := n.cliIn(c.spec, "job", "run", "-")
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("job run of\n%s: exit %d\n%s\n%s\nwant an error with %q", c.spec, code, out, errs, c.want)
		}
	}
	// --dry-run validates as the node would.
	if _, errs, code := n.cliIn("Type: batch\nTasks:\n  - Engine: {Type: wasm, Params: {EntryModule: bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy}}\n    Resources: {Memory: 1KB}\n", "job", "run", "--dry-run", "-"); code == 0 || !strings.Contains(errs, "below the minimum") {
		t.Errorf("job run --dry-run of a spec with 1KB of memory: exit %d, %s", code, errs)
	}
	if got := n.ok("list", "--hide-header"); got != "" {
		t.Errorf("bad specs submitted jobs:\n%s", got)
	}
}

// TestURLInput: an https input is downloaded by the client (bounded), added to IPFS,
// and the job names it by CID: the guest sees the file under its name at the target,
// and the dry run prints the URL as a urlDownload source.
func TestURLInput(t *testing.T) {
	n := startNode(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big.bin" {
			w.Write(make([]byte, 2000))
			return
		}
		w.Write([]byte("a,b\n1,2\n"))
	}))
	defer srv.Close()
	u := srv.URL + "/data.csv"
	for _, in := range []string{u + ":/web", "source=" + u + ",target=/web"} {
		out, errs, code := n.cli("wasm", "run", guestPath["faulty"], "-i", in, "--", "walk", "/web")
		if code != 0 {
			t.Fatalf("-i %s: exit %d\n%s\n%s", in, code, out, errs)
		}
		if !strings.Contains(out, "/web/data.csv 8") {
			t.Errorf("-i %s: the guest saw\n%s", in, out)
		}
		j := decodeJob(t, n.ok("describe", field(out, "Job ID"), "--output", "json"))
		if len(j.Spec.Inputs) != 1 || !j.Spec.Inputs[0].CID.Defined() || j.Spec.Inputs[0].Target != "/web" {
			t.Errorf("-i %s: inputs recorded %+v", in, j.Spec.Inputs)
		}
	}
	if _, errs, code := n.cli("wasm", "run", guestPath["hello"], "-i", srv.URL+"/big.bin:/web", "--url-max-size", "1000"); code == 0 || !strings.Contains(errs, "over the limit of 1000 B (--url-max-size)") {
		t.Errorf("a download past --url-max-size: exit %d, %s", code, errs)
	}
	spec := n.ok("wasm", "run", "--dry-run", guestPath["hello"], "-i", u+":/web", "-p", "ipfs")
	if !strings.Contains(spec, "Type: urlDownload") || !strings.Contains(spec, "URL: "+u) {
		t.Errorf("dry run:\n%s", spec)
	}
	if got := n.ok("list", "--hide-header", "-n", "100"); strings.Count(got, "\n") != 2 {
		t.Errorf("the dry run or the refused download submitted a job:\n%s", got)
	}
	out, errs, code := n.cliIn(spec, "job", "run", "-")
	if code != 0 || field(out, "State") != "completed" {
		t.Errorf("job run of the dry run's spec: exit %d\n%s\n%s", code, out, errs)
	}
	if _, errs, code := n.cli("wasm", "run", guestPath["hello"], "-p", "s3"); code == 0 || !strings.Contains(errs, "results are always stored in IPFS") {
		t.Errorf("-p s3: exit %d, %s", code, errs)
	}
}
