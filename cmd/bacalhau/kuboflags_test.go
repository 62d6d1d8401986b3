package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKuboAddFlags: for each of kubo's `ipfs add` flags `data add` takes, alone and
// combined, on a tree, a multi-chunk file and several paths at once, our CID is the
// one kubo (bin/ipfs) prints for the same flags. -n stores nothing; --pin=false is
// collected by the next GC; stdin (-) is kubo's too.
func TestKuboAddFlags(t *testing.T) {
	ipfs := kubo(t)
	repo := t.TempDir()
	kuboRun := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(ipfs, args...)
		cmd.Env = append(os.Environ(), "IPFS_PATH="+repo)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	kuboRun("", "init", "--profile=test")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	must(t, os.MkdirAll(filepath.Join(tree, "sub"), 0o755))
	big := make([]byte, 3<<20+12345) // several chunks at every chunker size below
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	must(t, os.WriteFile(filepath.Join(tree, "big.bin"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(tree, "sub", "a.txt"), []byte("alpha\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(tree, ".dot"), []byte("hidden\n"), 0o644))
	small := filepath.Join(dir, "small.txt")
	must(t, os.WriteFile(small, []byte("small\n"), 0o644))
	n := startNode(t)
	paths := [][]string{{tree}, {filepath.Join(tree, "big.bin")}, {small, tree}, {tree, small}}
	flagSets := [][]string{
		{"--cid-version=1"},
		{"--cid-version=0"},
		{"--cid-version=0", "--raw-leaves"},
		{"--cid-version=1", "--raw-leaves=false"},
		{"--cid-version=1", "--chunker", "size-1048576"},
		{"--cid-version=0", "--chunker", "size-1000"},
		{"--cid-version=1", "-w"},
		{"--cid-version=0", "-w", "-H"},
		{"--cid-version=1", "-H"},
		{"--cid-version=1", "-n"},
		{"--cid-version=1", "--pin=false"},
		{"--cid-version=0", "--raw-leaves", "--chunker", "size-65536", "-w", "-H"},
	}
	for _, flags := range flagSets {
		for _, p := range paths {
			want := kuboRun("", append(append([]string{"add", "-r", "-Q"}, flags...), p...)...)
			got := strings.TrimSpace(n.ok(append(append([]string{"data", "add", "-r", "-Q"}, flags...), p...)...))
			if got != want {
				t.Errorf("data add -r -Q %s %s: %s, kubo %s", strings.Join(flags, " "), strings.Join(p, " "), got, want)
			}
		}
	}
	// Without -Q, one CID per argument, each kubo's for that argument alone.
	out := strings.Fields(n.ok("data", "add", small, tree))
	if len(out) != 2 || out[0] != kuboRun("", "add", "-Q", "--cid-version=1", small) || out[1] != kuboRun("", "add", "-Q", "-r", "--cid-version=1", tree) {
		t.Errorf("data add small tree: %v", out)
	}
	// Standard input.
	for _, v := range []string{"0", "1"} {
		want := kuboRun(string(big), "add", "-Q", "--cid-version="+v, "-")
		got, errs, code := n.cliIn(string(big), "data", "add", "--cid-version="+v, "-")
		if code != 0 || strings.TrimSpace(got) != want {
			t.Errorf("data add --cid-version=%s -: %q (exit %d, %s), kubo %s", v, got, code, errs, want)
		}
	}
	// -n stores nothing: the node does not have what it hashed.
	only := filepath.Join(dir, "only.txt")
	must(t, os.WriteFile(only, []byte("never stored\n"), 0o644))
	c := strings.TrimSpace(n.ok("data", "add", "-n", only))
	if _, _, code := n.cli("data", "cat", c); code == 0 {
		t.Errorf("data add -n stored %s", c)
	}
	// Refused flags say what to use.
	for _, bad := range [][]string{{"--chunker", "rabin-1-2-3"}, {"--chunker", "size-0"}, {"--chunker", "size-2000000"}, {"--cid-version", "2"}, {"-w", "-"}} {
		if _, errs, code := n.cli(append(append([]string{"data", "add"}, bad...), small)...); code == 0 || errs == "" {
			t.Errorf("data add %v: exit %d %q", bad, code, errs)
		}
	}
}

// TestDataCatLs: data cat and data ls read a file and a directory by CID[/path], as
// ipfs cat and ipfs ls do, and data car import - reads standard input.
func TestDataCatLs(t *testing.T) {
	n := startNode(t)
	tree := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "tree")))
	hello := strings.TrimSpace(n.ok("data", "add", shared(t, "files", "hello.txt")))
	want, err := os.ReadFile(shared(t, "files", "tree", "sub", "b.bin"))
	must(t, err)
	if got := n.ok("data", "cat", tree+"/sub/b.bin"); got != string(want) {
		t.Errorf("data cat %s/sub/b.bin: %d bytes, want %d", tree, len(got), len(want))
	}
	if got := n.ok("data", "cat", "/ipfs/"+hello); got != "hello world\n" {
		t.Errorf("data cat of a file CID: %q", got)
	}
	ls := n.ok("data", "ls", tree+"/sub")
	if !strings.Contains(ls, " 300000 ") && !strings.Contains(ls, "300000  b.bin") || !strings.Contains(ls, "deeper/") {
		t.Errorf("data ls %s/sub:\n%s", tree, ls)
	}
	for _, bad := range [][]string{{"cat", tree}, {"cat", tree + "/nope"}, {"ls", tree + "/../x"}, {"ls", "https://example.org/x"}, {"cat", tree + "/sub"}} {
		if _, errs, code := n.cli(append([]string{"data"}, bad...)...); code == 0 || errs == "" {
			t.Errorf("data %v: exit %d %q", bad, code, errs)
		}
	}
	car := n.ok("data", "car", "export", tree)
	other := startNode(t)
	got, errs, code := other.cliIn(car, "data", "car", "import", "-")
	if code != 0 || strings.TrimSpace(got) != tree {
		t.Errorf("data car import -: %q (exit %d, %s), want root %s", got, code, errs, tree)
	}
}
