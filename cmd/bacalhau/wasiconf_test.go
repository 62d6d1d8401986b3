package main

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// wasiconfFixture is the tree the wasiconf guest (sandbox/testdata/guests/wasiconf)
// expects as its root.
var wasiconfFixture = map[string]string{
	"hello.txt":     "hello\n",
	"dir/a.txt":     "a",
	"dir/sub/b.txt": "b",
}

func writeTree(t *testing.T, tree map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range tree {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// verdicts reads the guest's "PASS name" and "FAIL name: why" lines.
func verdicts(out string) (pass map[string]bool, fails []string) {
	pass = map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		verdict, rest, _ := strings.Cut(line, " ")
		name, _, _ := strings.Cut(rest, ":")
		switch verdict {
		case "PASS":
			pass[name] = true
		case "FAIL":
			pass[name] = false
			fails = append(fails, line)
		}
	}
	return pass, fails
}

// buildCGuest compiles the C file src for wasm32-wasi with clang and wasi-libc
// (Debian: clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32, which .ci/run
// installs) into dir. Outside CI a machine without them skips the test.
func buildCGuest(t *testing.T, src, dir string) string {
	t.Helper()
	cc := os.Getenv("WASI_CC")
	for _, c := range []string{"clang-14", "clang"} {
		if cc == "" {
			if p, err := exec.LookPath(c); err == nil {
				cc = p
			}
		}
	}
	sysroot := cmp.Or(os.Getenv("WASI_SYSROOT"), "/usr")
	if _, err := os.Stat(filepath.Join(sysroot, "lib", "wasm32-wasi", "libc.a")); cc == "" || err != nil {
		msg := "building C guests needs clang and wasi-libc: apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out := filepath.Join(dir, "wasiconf-c.wasm")
	if b, err := exec.Command(cc, "--target=wasm32-wasi", "--sysroot="+sysroot, "-O2", "-Wall", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, b)
	}
	return out
}

// TestWASIConformance runs the wasiconf guests (sandbox/testdata: in Go, and in C
// built here with clang and wasi-libc) as a user would write the jobs, the fixture
// added to the node and mounted as the guest's writable root (-i ipfs://CID:/:rw),
// and on bare wazero (the same version, its default configuration) with the fixture
// in a host directory preopened as / and another as /outputs. Every case passes as a
// job, and none that passes on bare wazero fails there. The Go guest's result keeps
// its symbolic link as a symbolic link, and a second run gives the same result CID
// (symlinks, hard links and guest-set times in use).
func TestWASIConformance(t *testing.T) {
	n := startNode(t)
	cid := strings.TrimSpace(n.ok("data", "add", writeTree(t, wasiconfFixture)))
	t.Run("go", func(t *testing.T) {
		result := conformance(t, n, cid, guestPath["wasiconf"])
		checkConformanceResult(t, n, result)
		if again := conformance(t, n, cid, guestPath["wasiconf"]); again != result {
			t.Errorf("the same job gave result %s, then %s", result, again)
		}
	})
	t.Run("c", func(t *testing.T) {
		conformance(t, n, cid, buildCGuest(t, "../../sandbox/testdata/cguests/wasiconf.c", t.TempDir()))
	})
}

// conformance runs guest as a job and on bare wazero, compares, and returns the
// job's result CID.
func conformance(t *testing.T, n *testNode, cid, guest string) string {
	out, errs, code := n.cli("wasm", "run", guest, "-i", "ipfs://"+cid+":/:rw", "--output", "json")
	if code != 0 {
		t.Fatalf("wasm run: exit %d\n%s\n%s", code, out, errs)
	}
	j := decodeJob(t, out)
	if j.Latest() == nil || !j.Latest().ResultCID.Defined() {
		t.Fatalf("no result: %s", out)
	}
	stdout, result := j.Latest().Stdout, j.Latest().ResultCID.String()

	module, err := os.ReadFile(guest)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	var bareOut bytes.Buffer
	cfg := wazero.NewModuleConfig().WithArgs("wasiconf").WithStdout(&bareOut).WithStderr(&bareOut).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(writeTree(t, wasiconfFixture), "/").WithDirMount(t.TempDir(), "/outputs"))
	if _, err := rt.InstantiateWithConfig(ctx, module, cfg); err != nil && !strings.Contains(err.Error(), "exit_code(0)") {
		t.Fatalf("bare wazero: %v\n%s", err, bareOut.String())
	}

	here, fails := verdicts(stdout)
	bare, bareFails := verdicts(bareOut.String())
	if len(here) == 0 || len(here) != len(bare) {
		t.Fatalf("%d cases as a job, %d on bare wazero:\n%s\n%s", len(here), len(bare), stdout, bareOut.String())
	}
	count := func(m map[string]bool) (k int) {
		for _, ok := range m {
			if ok {
				k++
			}
		}
		return k
	}
	t.Logf("WASI conformance: %d/%d as a job (wasm run -i ipfs://CID:/:rw), %d/%d on bare wazero v1.12.0", count(here), len(here), count(bare), len(bare))
	if len(bareFails) > 0 {
		t.Logf("failing on bare wazero: %s", strings.Join(bareFails, "; "))
	}
	for name, ok := range bare {
		if ok && !here[name] {
			t.Errorf("%s passes on bare wazero and fails as a job", name)
		}
	}
	for _, f := range fails {
		t.Error(f)
	}
	return result
}

// checkConformanceResult: outputs/ as the Go guest left it, its link a link, and
// nothing of the writable root.
func checkConformanceResult(t *testing.T, n *testNode, result string) {
	out := filepath.Join(t.TempDir(), "res")
	n.ok("data", "get", result, "-o", out)
	if target, err := os.Readlink(filepath.Join(out, "outputs", "link")); err != nil || target != "target.txt" {
		t.Errorf("outputs/link in the result: %q, %v; want a link to target.txt", target, err)
	}
	for _, name := range []string{"o.txt", "o2.txt", "target.txt"} {
		if _, err := os.Stat(filepath.Join(out, "outputs", name)); err != nil {
			t.Errorf("the result lacks outputs/%s: %v", name, err)
		}
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "exitCode outputs stderr stdout" {
		t.Errorf("the result holds %q", names)
	}
}

// TestTrapExitCode: a guest that traps (here at an `unreachable`) ends failed, with
// the outcome trap and the exit code -1, in the record and in its result's exitCode,
// as the README says.
func TestTrapExitCode(t *testing.T) {
	n := startNode(t)
	// (module (memory 1) (func (export "_start") unreachable))
	module := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
		0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
		0x03, 0x02, 0x01, 0x00, // func 0 of type 0
		0x05, 0x03, 0x01, 0x00, 0x01, // memory: min 1
		0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export _start
		0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // code: unreachable
	}
	path := filepath.Join(t.TempDir(), "trap.wasm")
	if err := os.WriteFile(path, module, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := n.cli("wasm", "run", path, "--output", "json")
	if code == 0 {
		t.Fatalf("wasm run of a trapping guest exited 0\n%s\n%s", out, errs)
	}
	j := decodeJob(t, out)
	e := j.Latest()
	if j.State != job.StateFailed || e == nil || e.Outcome != job.OutcomeTrap || e.ExitCode == nil || *e.ExitCode != -1 || !e.ResultCID.Defined() {
		t.Fatalf("job %s, latest execution %+v", j.State, e)
	}
	res := filepath.Join(t.TempDir(), "res")
	n.ok("data", "get", e.ResultCID.String(), "-o", res)
	if b, err := os.ReadFile(filepath.Join(res, "exitCode")); err != nil || string(b) != "-1" {
		t.Errorf("the result's exitCode: %q, %v", b, err)
	}
}

// TestReadOnlyRootInput: an input mounted read-only at / is the guest's root, another
// input and /outputs stay reachable beside it, and the guest's write to the root is
// refused.
func TestReadOnlyRootInput(t *testing.T) {
	n := startNode(t)
	tree := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "tree")))
	root := strings.TrimSpace(n.ok("data", "add", writeTree(t, map[string]string{"r.txt": "root"})))
	for _, tt := range []struct{ args, want string }{
		{"walk /", "//\n/r.txt 4\n"}, // the guest prints a directory with a "/" after it
		{"walk /data/sub/deeper", "/data/sub/deeper/\n/data/sub/deeper/c.txt 5\n"},
	} {
		args := append([]string{"wasm", "run", guestPath["faulty"], "-i", "ipfs://" + root + ":/", "-i", "ipfs://" + tree + ":/data", "--output", "json", "--"}, strings.Fields(tt.args)...)
		out, errs, code := n.cli(args...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", tt.args, code, out, errs)
		}
		if got := decodeJob(t, out).Latest().Stdout; got != tt.want {
			t.Errorf("%s: the guest saw\n%s\nwant\n%s", tt.args, got, tt.want)
		}
	}
	// A write to the read-only root fails; /outputs takes it.
	out, _, code := n.cli("wasm", "run", guestPath["wasiconf"], "-i", "ipfs://"+root+":/", "--output", "json", "--", "rw_create", "outputs_reachable")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	got := decodeJob(t, out).Latest().Stdout
	if !strings.Contains(got, "FAIL rw_create: open /new.txt: Read-only file system") || !strings.Contains(got, "PASS outputs_reachable") {
		t.Errorf("the guest saw\n%s", got)
	}
}
