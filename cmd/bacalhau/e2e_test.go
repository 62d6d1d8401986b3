package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

const (
	treeV1  = "bafybeihmrqpee7saq23eebuh5hzxgfwnkkdbhdrbedbbnwebo2kgwjhy2a"
	treeV0  = "Qmden2dvnirntRTgoTWRaAEnf8YzMug9qcHkyGaEtaLQsz"
	helloV1 = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
)

func TestDataAddGetCAR(t *testing.T) {
	n := startNode(t)
	if got := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "tree"))); got != treeV1 {
		t.Fatalf("data add tree = %s, want kubo's %s", got, treeV1)
	}
	if got := strings.TrimSpace(n.ok("data", "add", "--cid-version=0", shared(t, "files", "tree"))); got != treeV0 {
		t.Fatalf("data add --cid-version=0 tree = %s, want kubo's %s", got, treeV0)
	}
	if got := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "hello.txt"))); got != helloV1 {
		t.Fatalf("data add hello.txt = %s, want %s", got, helloV1)
	}
	out := filepath.Join(t.TempDir(), "tree")
	n.ok("data", "get", treeV1, "-o", out)
	for _, rel := range []string{"a.txt", "sub/b.bin", "sub/deeper/c.txt", "ünïcødé.txt"} {
		want, err := os.ReadFile(filepath.Join(shared(t, "files", "tree"), rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("data get %s: %v (%d bytes, want %d)", rel, err, len(got), len(want))
		}
	}
	car := filepath.Join(t.TempDir(), "tree.car")
	n.ok("data", "car", "export", treeV1, "-o", car)
	m := startNode(t)
	if got := strings.TrimSpace(m.ok("data", "car", "import", car)); got != treeV1 {
		t.Fatalf("car import roots = %q", got)
	}
	if got := strings.TrimSpace(m.ok("data", "car", "import", shared(t, "hello.car"))); got != helloV1 {
		t.Fatalf("hello.car roots = %q", got)
	}
	if _, errs, code := n.cli("data", "get", "not-a-cid"); code == 0 || !strings.Contains(errs, "not a valid CID") {
		t.Fatalf("data get garbage: exit %d, %s", code, errs)
	}
}

func TestWasmRunHelloEndToEnd(t *testing.T) {
	n := startNode(t)
	out := n.ok("wasm", "run", guestPath["hello"])
	id, result := field(out, "Job ID"), field(out, "Result CID")
	if field(out, "State") != "completed" || !strings.Contains(out, "Hello, world!") || result == "" {
		t.Fatalf("wasm run output:\n%s", out)
	}
	// list finds it by prefix; --output json is machine-readable only.
	var listed []job.Job
	if err := json.Unmarshal([]byte(n.ok("list", "--wide", "--sort-by=id", "--id-filter="+id[:10], "--output", "json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].ID != id {
		t.Fatalf("list --id-filter: %+v", listed)
	}
	table := n.ok("list", "--wide", "--hide-header")
	if !strings.Contains(table, id) || strings.Contains(table, "CREATED") {
		t.Fatalf("list --wide --hide-header:\n%s", table)
	}
	// describe by short prefix shows the history with timestamps.
	var j job.Job
	if err := json.Unmarshal([]byte(n.ok("describe", job.ShortID(id), "--output", "json")), &j); err != nil {
		t.Fatal(err)
	}
	if j.ID != id || len(j.History) < 3 || j.History[0].Time.IsZero() || j.Latest().Stdout != "Hello, world!\n" {
		t.Fatalf("describe: %+v", j)
	}
	if y := n.ok("describe", id); !strings.Contains(y, "state: completed") {
		t.Fatalf("describe yaml:\n%s", y)
	}
	if got := n.ok("logs", id); got != "Hello, world!\n" {
		t.Fatalf("logs = %q", got)
	}
	// get writes the result layout; adding it again gives the same CID, as kubo would.
	dir := filepath.Join(t.TempDir(), "out")
	n.ok("get", id, "--output-dir", dir)
	for name, want := range map[string]string{"stdout": "Hello, world!\n", "stderr": "", "exitCode": "0"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "outputs")); err != nil || !st.IsDir() {
		t.Fatalf("outputs/ missing: %v", err)
	}
	if again := strings.TrimSpace(n.ok("data", "add", dir)); again != result {
		t.Fatalf("re-added result = %s, want %s", again, result)
	}
	// A module already in IPFS runs by CID.
	modCID := strings.TrimSpace(n.ok("data", "add", guestPath["hello"]))
	if out := n.ok("wasm", "run", modCID, "--", "bacalhau"); !strings.Contains(out, "Hello, bacalhau!") {
		t.Fatalf("run by CID:\n%s", out)
	}
	if id := strings.TrimSpace(n.ok("wasm", "run", modCID, "--id-only")); !strings.HasPrefix(id, "j-") || strings.Contains(id, "\n") {
		t.Fatalf("--id-only printed %q", id)
	}
	if v := n.ok("version"); !strings.Contains(v, "Server:") {
		t.Fatalf("version: %s", v)
	}
	var info struct {
		ID    string   `json:"id"`
		Addrs []string `json:"addrs"`
	}
	if err := json.Unmarshal([]byte(n.ok("id", "--output", "json")), &info); err != nil || !strings.HasPrefix(info.ID, "12D3KooW") ||
		len(info.Addrs) == 0 || !strings.HasSuffix(info.Addrs[0], "/p2p/"+info.ID) {
		t.Fatalf("id: %+v %v", info, err)
	}
	if out := n.ok("id"); !strings.Contains(out, info.ID) || !strings.Contains(out, info.Addrs[0]) {
		t.Fatalf("id as text:\n%s", out)
	}
}

func TestDeterministicResultAndInputs(t *testing.T) {
	n := startNode(t)
	tree := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "tree")))
	hello := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "hello.txt")))
	args := []string{"wasm", "run", guestPath["wordcount"], "-i", tree}
	first, second := n.ok(args...), n.ok(args...)
	r1, r2 := field(first, "Result CID"), field(second, "Result CID")
	if r1 == "" || r1 != r2 {
		t.Fatalf("same job, different results: %s vs %s", r1, r2)
	}
	if !strings.Contains(first, "total") {
		t.Fatalf("wordcount stdout:\n%s", first)
	}
	// Clocks, env, args and several mounts: still the same CID twice.
	w := []string{"wasm", "run", guestPath["faulty"], "-i", "ipfs://" + tree + ":/data", "-i", "src=ipfs://" + hello + ",dst=/more",
		"-e", "GREETING=hi", "--timeout", "30s", "--memory", "128MB", "--", "write", "a", "b"}
	o1, o2 := n.ok(w...), n.ok(w...)
	if field(o1, "Result CID") != field(o2, "Result CID") {
		t.Fatalf("clock-reading job is not deterministic:\n%s\n%s", o1, o2)
	}
	dir := filepath.Join(t.TempDir(), "r")
	n.ok("get", field(o1, "Job ID"), "--output-dir", dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "outputs", "out.txt")); string(b) != "hi\n" {
		t.Fatalf("outputs/out.txt = %q", b)
	}
}

// runFails runs a job that must fail and returns the job record.
func runFails(t *testing.T, n *testNode, args ...string) *job.Job {
	t.Helper()
	out, errs, code := n.cli(append([]string{"wasm", "run", "--output", "json"}, args...)...)
	if code == 0 {
		t.Fatalf("wasm run %v succeeded:\n%s", args, out)
	}
	var j job.Job
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("wasm run --output json printed %q (%v); stderr %s", out, err, errs)
	}
	return &j
}

func TestGuestLimits(t *testing.T) {
	n := startNode(t, "--concurrency", "2")
	mod := guestPath["faulty"]
	t.Run("spin timeout while the node serves others", func(t *testing.T) {
		c := n.client()
		ctx := context.Background()
		modCID := strings.TrimSpace(n.ok("data", "add", mod))
		// hello compiled first: a module is compiled before its job runs, and the
		// spinner's 2s are for hello's run, not for its compilation.
		n.ok("wasm", "run", guestPath["hello"])
		spin, err := c.Submit(ctx, job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: cidtext.MustParse(modCID), Args: []string{"spin"}}, Timeout: job.Duration(2 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Watch(ctx, spin.ID, func(j *job.Job) bool { return j.State == job.StatePending }); err != nil {
			t.Fatal(err)
		}
		out := n.ok("wasm", "run", guestPath["hello"])
		if s, _ := c.Get(ctx, spin.ID); s.State != job.StateRunning {
			t.Fatalf("spinner is %s by the time hello finished; want running", s.State)
		}
		if !strings.Contains(out, "Hello, world!") {
			t.Fatalf("hello beside a spinner:\n%s", out)
		}
		j, err := c.Watch(ctx, spin.ID, func(*job.Job) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		if j.State != job.StateFailed || j.Reason != "timeout" {
			t.Fatalf("spinner ended %s (%q), want failed (timeout)", j.State, j.Reason)
		}
		t.Logf("spinner stopped %s after it started", j.Latest().EndedAt.Sub(j.Latest().StartedAt))
	})
	t.Run("sleep timeout", func(t *testing.T) {
		j := runFails(t, n, mod, "--timeout", "2s", "--", "sleep")
		if j.State != job.StateFailed || j.Reason != "timeout" || strings.Contains(j.Latest().Stdout, "woke") {
			t.Fatalf("sleeper: %s %q", j.State, j.Reason)
		}
	})
	t.Run("memory limit", func(t *testing.T) {
		j := runFails(t, n, mod, "--memory", "64MB", "--", "grow")
		if j.State != job.StateFailed || !strings.Contains(j.Reason, "memory limit") || !strings.Contains(j.Reason, "MiB") {
			t.Fatalf("grower: %s %q", j.State, j.Reason)
		}
	})
	t.Run("stdout flood is capped", func(t *testing.T) {
		// A guest that floods until its timeout is stopped by it...
		if j := runFails(t, n, mod, "--timeout", "2s", "--", "flood"); j.Reason != "timeout" {
			t.Fatalf("endless flood: reason %q, want timeout", j.Reason)
		}
		// ...and what it writes past the cap is dropped (20 MB written, whatever the
		// machine's speed).
		j := runFails(t, n, mod, "--", "flood", "20000000")
		ex := j.Latest()
		if !ex.StdoutTruncated || j.Reason != "exit code 1" {
			t.Fatalf("flood: truncated %v, reason %q", ex.StdoutTruncated, j.Reason)
		}
		dir := filepath.Join(t.TempDir(), "flood")
		n.ok("get", j.ID, "--output-dir", dir)
		st, err := os.Stat(filepath.Join(dir, "stdout"))
		if err != nil || st.Size() != 16<<20 {
			t.Fatalf("stdout of a flood: %v bytes, %v; want the 16 MiB cap", st.Size(), err)
		}
		if out := n.ok("wasm", "run", guestPath["hello"]); !strings.Contains(out, "Hello, world!") {
			t.Fatal("node unhealthy after a flood")
		}
	})
	t.Run("non-zero exit fails with results kept", func(t *testing.T) {
		j := runFails(t, n, mod, "--", "exit", "3")
		ex := j.Latest()
		if j.State != job.StateFailed || j.Reason != "exit code 3" || ex.ExitCode == nil || *ex.ExitCode != 3 || !ex.ResultCID.Defined() {
			t.Fatalf("exit 3: %+v", j)
		}
		dir := filepath.Join(t.TempDir(), "exit")
		n.ok("get", j.ID, "--output-dir", dir)
		for name, want := range map[string]string{"exitCode": "3", "stdout": "partial output before failing\n", "stderr": "something went wrong\n", "outputs/partial.txt": "kept\n"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
				t.Fatalf("%s = %q, %v", name, b, err)
			}
		}
	})
}

func TestConfinement(t *testing.T) {
	n := startNode(t)
	canary := filepath.Join(n.repo, "..", "escaped.txt")
	in := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "tree")))
	out := n.ok("wasm", "run", guestPath["faulty"], "-i", in, "--", "escape")
	if strings.Contains(out, "ALLOWED") || strings.Count(out, "denied") != 6 {
		t.Fatalf("escape attempts:\n%s", out)
	}
	if _, err := os.Stat(canary); err == nil {
		t.Fatal("a file appeared outside the mounts")
	}
}

func TestBadInput(t *testing.T) {
	n := startNode(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"wasm", "run", "nope.wasm"}, "neither a file nor a CID"},
		{[]string{"wasm", "run", helloV1, "-i", "ipfs://garbage"}, "not a valid CID"},
		{[]string{"wasm", "run", helloV1, "-i", "ipfs://" + helloV1 + ":/../etc"}, "not a clean path"},
		{[]string{"wasm", "run", helloV1, "--memory", "lots"}, "want a value like"},
		{[]string{"wasm", "run", helloV1, "--memory", "1000"}, "below the minimum of 64 KiB"},
		{[]string{"wasm", "run", helloV1, "--timeout", "soon"}, "want a duration"},
		{[]string{"wasm", "run", helloV1, "-e", "NOEQUALS"}, "NAME=value"},
		{[]string{"describe", "j-ffffffff"}, "no job ID starts with"},
		{[]string{"describe", "../../etc/passwd"}, "not a job ID"},
		{[]string{"list", "--sort-by", "name"}, "cannot sort by"},
		{[]string{"get", "j-0"}, "no job ID"},
	}
	// A CAR cut short in a block, and one whose root is not in it, each say so.
	full, err := os.ReadFile(shared(t, "hello.car"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.car")
	must(t, os.WriteFile(cut, full[:len(full)-3], 0o644))
	tests = append(tests, struct {
		args []string
		want string
	}{[]string{"data", "car", "import", cut}, "ends in the middle of a block"})
	for _, tt := range tests {
		_, errs, code := n.cli(tt.args...)
		if code == 0 || !strings.Contains(errs, tt.want) {
			t.Errorf("bacalhau %s: exit %d, stderr %q; want an error containing %q", strings.Join(tt.args, " "), code, errs, tt.want)
		}
	}
}

func TestCancelAndFollowLogs(t *testing.T) {
	n := startNode(t)
	c := n.client()
	ctx := context.Background()
	id := strings.TrimSpace(n.ok("wasm", "run", guestPath["faulty"], "--wait=false", "--id-only", "--", "tick", "5"))
	var out bytes.Buffer
	if code := run(ctx, []string{"--api-port", itoa(n.port), "logs", "-f", id}, nil, &out, &out); code != 0 {
		t.Fatalf("logs -f exit %d: %s", code, out.String())
	}
	if want := "tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n"; out.String() != want {
		t.Fatalf("logs -f = %q, want %q", out.String(), want)
	}
	if j, _ := c.Get(ctx, id); j.State != job.StateCompleted {
		t.Fatalf("ticker ended %s", j.State)
	}
	long := strings.TrimSpace(n.ok("wasm", "run", guestPath["faulty"], "--wait=false", "--id-only", "--", "sleep"))
	if _, err := c.Watch(ctx, long, func(j *job.Job) bool { return j.State != job.StateRunning }); err != nil {
		t.Fatal(err)
	}
	if out := n.ok("cancel", job.ShortID(long)); !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: %s", out)
	}
	j, _ := c.Get(ctx, long)
	if j.State != job.StateCancelled || j.Reason != "cancelled by the user" {
		t.Fatalf("cancelled job: %s %q", j.State, j.Reason)
	}
	if _, errs, code := n.cli("cancel", long); code == 0 || !strings.Contains(errs, "cancelled already") {
		t.Fatalf("second cancel: exit %d %s", code, errs)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestNotAModule(t *testing.T) {
	n := startNode(t)
	j := runFails(t, n, shared(t, "files", "hello.txt"))
	if j.State != job.StateFailed || !strings.Contains(j.Reason, "invalid module") {
		t.Fatalf("a text file as a module: %s %q", j.State, j.Reason)
	}
	if out := n.ok("wasm", "run", guestPath["hello"]); field(out, "State") != "completed" {
		t.Fatal("node unhealthy after a bad module")
	}
}
