package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kubo returns the path of the kubo binary `make kubo` builds. Under CI=true a missing
// kubo fails the test; elsewhere it skips with what to run.
func kubo(t *testing.T) string {
	t.Helper()
	p := os.Getenv("BACALHAU_KUBO")
	if p == "" {
		p, _ = filepath.Abs(filepath.Join("..", "..", "bin", "ipfs"))
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubo not found at %s: `make kubo` builds it (make test does)", p)
		}
		t.Skipf("kubo not found at %s: run `make kubo` to build it", p)
	}
	return p
}

// TestKuboSameCIDs adds trees kubo and our node must agree on, including a HAMT-sharded
// directory, empty directories and multi-level files, in both CID profiles.
func TestKuboSameCIDs(t *testing.T) {
	ipfs := kubo(t)
	repo := t.TempDir()
	env := append(os.Environ(), "IPFS_PATH="+repo)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(ipfs, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "--profile=test")

	root := filepath.Join(t.TempDir(), "data")
	sharded := filepath.Join(root, "sharded")
	must(t, os.MkdirAll(sharded, 0o755))
	for i := 0; i < 3000; i++ { // well past kubo's 256 KiB directory threshold
		must(t, os.WriteFile(filepath.Join(sharded, fmt.Sprintf("entry-%04d.txt", i)), []byte(fmt.Sprintf("entry %d\n", i)), 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(root, "nested", "empty"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "nested", "ünïcødé name.txt"), []byte("hi\n"), 0o644))
	must(t, makeBigFile(filepath.Join(root, "nested", "big.bin"), 3<<20+17))
	n := startNode(t)
	for _, dir := range []string{sharded, filepath.Join(root, "nested"), root} {
		for _, v := range []string{"1", "0"} {
			want := run("add", "-r", "-Q", "--cid-version="+v, dir)
			got := strings.TrimSpace(n.ok("data", "add", "--cid-version="+v, dir))
			if got != want {
				t.Errorf("%s --cid-version=%s: ours %s, kubo %s", dir, v, got, want)
			}
		}
	}
	// A result DAG can be exported by us and imported by kubo with the same root.
	out := n.ok("wasm", "run", guestPath["wordcount"], "-i", strings.TrimSpace(n.ok("data", "add", root)))
	result := field(out, "Result CID")
	car := filepath.Join(t.TempDir(), "result.car")
	n.ok("data", "car", "export", result, "-o", car)
	if got := run("dag", "import", "--stats=false", car); !strings.Contains(got, result) {
		t.Fatalf("kubo dag import of our result: %s (want root %s)", got, result)
	}
	got := filepath.Join(t.TempDir(), "got")
	run("get", "-o", got, result)
	if again := run("add", "-r", "-Q", "--cid-version=1", got); again != result {
		t.Fatalf("kubo re-adds our result as %s, want %s", again, result)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func makeBigFile(path string, n int) error {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return os.WriteFile(path, b, 0o644)
}

// TestKuboHiddenAndSymlinks: `data add` of a tree with dotfiles and symlinks gives the
// CIDs of `ipfs add -r`, with and without -H, and a symlink added alone is kubo's too.
func TestKuboHiddenAndSymlinks(t *testing.T) {
	ipfs := kubo(t)
	repo := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(ipfs, args...)
		cmd.Env = append(os.Environ(), "IPFS_PATH="+repo)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "--profile=test")
	root := filepath.Join(t.TempDir(), "tree")
	must(t, os.MkdirAll(filepath.Join(root, ".hidden-dir", "inner"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "dir"), 0o755))
	for p, body := range map[string]string{".env": "SECRET=1\n", ".hidden-dir/inner/x.txt": "x\n", "dir/.keep": "", "dir/a.txt": "a\n", "visible.txt": "v\n"} {
		must(t, os.WriteFile(filepath.Join(root, p), []byte(body), 0o644))
	}
	must(t, os.Symlink("visible.txt", filepath.Join(root, "rel-link")))
	must(t, os.Symlink("/etc/hostname", filepath.Join(root, "abs-link")))
	must(t, os.Symlink("nowhere", filepath.Join(root, "dangling")))
	must(t, os.Symlink("dir", filepath.Join(root, "dir-link")))
	n := startNode(t)
	for _, v := range []string{"1", "0"} {
		for _, hidden := range [][]string{nil, {"-H"}} {
			args := append([]string{"add", "-r", "-Q", "--cid-version=" + v}, hidden...)
			want := run(append(args, root)...)
			got := strings.TrimSpace(n.ok(append(append([]string{"data", "add", "--cid-version=" + v}, hidden...), root)...))
			if got != want {
				t.Errorf("data add --cid-version=%s %v: %s, kubo %s", v, hidden, got, want)
			}
		}
	}
	link := filepath.Join(root, "rel-link")
	if got, want := strings.TrimSpace(n.ok("data", "add", link)), run("add", "-Q", "--cid-version=1", link); got != want {
		t.Errorf("a symlink alone: %s, kubo %s", got, want)
	}
	// What -H adds comes back out: the dotfile is in the download.
	cid := strings.TrimSpace(n.ok("data", "add", "-H", root))
	out := filepath.Join(t.TempDir(), "out")
	n.ok("data", "get", cid, "-o", out)
	if b, err := os.ReadFile(filepath.Join(out, ".env")); err != nil || string(b) != "SECRET=1\n" {
		t.Fatalf(".env after add -H and get: %q %v", b, err)
	}
}
