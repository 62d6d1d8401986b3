package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// wasiconfFixture is the tree the wasiconf guest expects as its root.
var wasiconfFixture = map[string]string{
	"hello.txt":     "hello\n",
	"dir/a.txt":     "a",
	"dir/sub/b.txt": "b",
}

// parseVerdicts reads the guest's "PASS name" and "FAIL name: why" lines.
func parseVerdicts(out string) (pass map[string]bool, fails []string) {
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

// bareWazero runs module on wazero as configured out of the box, with the
// fixture copied to a host directory preopened writable as / and an empty
// one as /outputs: how the official suite's wazero adapter runs a test.
func bareWazero(t *testing.T, module []byte) string {
	t.Helper()
	root, outputs := t.TempDir(), t.TempDir()
	for name, body := range wasiconfFixture {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	var stdout bytes.Buffer
	cfg := wazero.NewModuleConfig().WithArgs("wasiconf").WithStdout(&stdout).WithStderr(&stdout).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(root, "/").WithDirMount(outputs, "/outputs"))
	if _, err := rt.InstantiateWithConfig(ctx, module, cfg); err != nil && !strings.Contains(err.Error(), "exit_code(0)") {
		t.Fatalf("bare wazero: %v\n%s", err, stdout.String())
	}
	return stdout.String()
}

// buildCGuest compiles the C file src for wasm32-wasi with clang and
// wasi-libc (Debian: clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32,
// which .ci/run installs). Outside CI a machine without them skips the test.
func buildCGuest(t *testing.T, src string) []byte {
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
	out := filepath.Join(t.TempDir(), "guest.wasm")
	if b, err := exec.Command(cc, "--target=wasm32-wasi", "--sysroot="+sysroot, "-O2", "-Wall", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWASIConformance runs the wasiconf guests, in Go and in C (root mount,
// copy-on-write, symlinks, times, hard links, errnos: one case per line),
// with the fixture as a writable root, read lazily from an fs.FS as inputs
// are, and on bare wazero with the same tree in a host directory. Every
// case passes here, and none that passes on bare wazero fails here.
// cmd/bacalhau's TestWASIConformance runs the same guests as jobs on a node.
func TestWASIConformance(t *testing.T) {
	goModule, err := os.ReadFile(guests["wasiconf"])
	if err != nil {
		t.Fatal(err)
	}
	t.Run("go", func(t *testing.T) { conformance(t, goModule) })
	t.Run("c", func(t *testing.T) { conformance(t, buildCGuest(t, "testdata/cguests/wasiconf.c")) })
}

func conformance(t *testing.T, module []byte) {
	fsys := fstest.MapFS{}
	for name, body := range wasiconfFixture {
		fsys[name] = &fstest.MapFile{Data: []byte(body), Mode: 0o444}
	}
	s := newSandbox(t, Options{})
	var stdout, stderr bytes.Buffer
	task := Guest{Module: func(context.Context) ([]byte, error) { return module, nil }}
	task.WASI.Stdout, task.WASI.Stderr = &stdout, &stderr
	task.WASI.Mounts = []wasi.Mount{{FS: fsys, Target: "/", Writable: true}}
	task.WASI.OutputsDir = t.TempDir()
	scratch := filepath.Join(t.TempDir(), "scratch")
	task.WASI.ScratchDir = scratch
	if res := run(t, s, task); res != (Result{}) {
		t.Fatalf("Run() = %+v; stderr %s", res, &stderr)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("the scratch directory is still there after the run: %v", err)
	}
	here, fails := parseVerdicts(stdout.String())
	bare, bareFails := parseVerdicts(bareWazero(t, module))
	if len(here) == 0 || len(here) != len(bare) {
		t.Fatalf("%d cases here, %d on bare wazero:\n%s", len(here), len(bare), &stdout)
	}
	count := func(m map[string]bool) (n int) {
		for _, ok := range m {
			if ok {
				n++
			}
		}
		return n
	}
	t.Logf("WASI conformance (sandbox): %d/%d here, %d/%d on bare wazero v1.12.0", count(here), len(here), count(bare), len(bare))
	if len(bareFails) > 0 {
		t.Logf("failing on bare wazero: %s", strings.Join(bareFails, "; "))
	}
	for name, ok := range bare {
		if ok && !here[name] {
			t.Errorf("%s passes on bare wazero and fails here", name)
		}
	}
	for _, f := range fails {
		t.Error(f)
	}
	// The fixture itself is unchanged: the guest wrote to its copy.
	if b, err := fsys.ReadFile("hello.txt"); err != nil || string(b) != "hello\n" {
		t.Errorf("the input changed: %q, %v", b, err)
	}
}
