package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataAddRecursiveLines: `data add -r` prints kubo's lines, "added CID PATH" for
// every file (in walk order) and then every directory (inner ones first), -q their
// CIDs, -w the wrapping directory last without a name, -r of a single file its one line.
// Each CID is the one `data add` gives the file or directory alone; with bin/ipfs
// present, the lines are kubo's own, byte for byte.
func TestDataAddRecursiveLines(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	must(t, os.MkdirAll(filepath.Join(tree, "b", "deep"), 0o755))
	must(t, os.WriteFile(filepath.Join(tree, "a.txt"), []byte("alpha\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(tree, "b", "x.txt"), []byte("x\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(tree, "b", "deep", "y.txt"), []byte("y\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(tree, "c.txt"), []byte("gamma\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(tree, ".hidden"), []byte("h\n"), 0o644))
	single := filepath.Join(dir, "single.txt")
	must(t, os.WriteFile(single, []byte("one\n"), 0o644))
	n := startNode(t)
	cid := func(p string) string { return strings.TrimSpace(n.ok("data", "add", p)) }

	want := strings.Join([]string{
		"added " + cid(filepath.Join(tree, "a.txt")) + " tree/a.txt",
		"added " + cid(filepath.Join(tree, "b", "deep", "y.txt")) + " tree/b/deep/y.txt",
		"added " + cid(filepath.Join(tree, "b", "x.txt")) + " tree/b/x.txt",
		"added " + cid(filepath.Join(tree, "c.txt")) + " tree/c.txt",
		"added " + cid(filepath.Join(tree, "b", "deep")) + " tree/b/deep",
		"added " + cid(filepath.Join(tree, "b")) + " tree/b",
		"added " + cid(tree) + " tree",
	}, "\n") + "\n"
	if got := n.ok("data", "add", "-r", tree); got != want {
		t.Errorf("data add -r:\n%s\nwant:\n%s", got, want)
	}
	var cids []string
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		cids = append(cids, strings.Fields(l)[1])
	}
	if got := n.ok("data", "add", "-r", "-q", tree); got != strings.Join(cids, "\n")+"\n" {
		t.Errorf("data add -r -q:\n%s", got)
	}
	if got := n.ok("data", "add", "-r", "-Q", tree); got != cid(tree)+"\n" {
		t.Errorf("data add -r -Q: %s", got)
	}
	if got := n.ok("data", "add", "-r", single); got != "added "+cid(single)+" single.txt\n" {
		t.Errorf("data add -r of a file: %q", got)
	}
	wrapped := n.ok("data", "add", "-r", "-w", single, tree)
	lines := strings.Split(strings.TrimSpace(wrapped), "\n")
	if len(lines) != 9 || lines[0] != "added "+cid(single)+" single.txt" || lines[len(lines)-1] != "added "+strings.TrimSpace(n.ok("data", "add", "-Q", "-w", single, tree)) {
		t.Errorf("data add -r -w:\n%s", wrapped)
	}

	ipfs := kubo(t) // under CI=true a missing kubo fails; elsewhere our own CIDs were checked above
	repo := t.TempDir()
	kuboRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(ipfs, args...)
		cmd.Env = append(os.Environ(), "IPFS_PATH="+repo)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	kuboRun("init", "--profile=test")
	for _, args := range [][]string{
		{"-r", "--cid-version=1", tree},
		{"-r", "-q", "--cid-version=1", tree},
		{"-r", "--cid-version=1", single},
		{"-r", "--cid-version=1", single, tree},
		{"-r", "-w", "--cid-version=1", single, tree},
		{"-r", "-H", "--cid-version=0", tree},
	} {
		want := kuboRun(append([]string{"add", "--progress=false"}, args...)...)
		if got := n.ok(append([]string{"data", "add"}, args...)...); got != want {
			t.Errorf("data add %s:\n%s\nkubo's:\n%s", strings.Join(args, " "), got, want)
		}
	}
}
