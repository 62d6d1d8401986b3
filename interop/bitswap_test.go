package interop

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKuboGetsOurResult: a kubo peer connected to our node fetches a job's result over
// bitswap with `ipfs get`; its files are byte for byte those `bacalhau get` writes, and
// kubo's own `ipfs add` of them gives the result CID back.
func TestKuboGetsOurResult(t *testing.T) {
	t.Parallel()
	k := newKubo(t)
	k.start()
	n := startNode(t)
	in := n.ok("data", "add", dataset(t))
	out := n.ok("wasm", "run", example(t, "wordcount"), "-i", in)
	id, result := field(out, "Job ID"), field(out, "Result CID")
	if field(out, "State") != "completed" || result == "" {
		t.Fatalf("job did not complete:\n%s", out)
	}
	ours := filepath.Join(t.TempDir(), "ours")
	n.ok("get", id, "--output-dir", ours)

	k.run("swarm", "connect", n.addr())
	theirs := filepath.Join(t.TempDir(), "theirs")
	k.run("get", result, "-o", theirs)
	sameTree(t, ours, theirs)
	if got := k.run("add", "-r", "-Q", "--cid-version=1", "--only-hash", theirs); got != result {
		t.Fatalf("kubo's CID of the files it fetched: %s, want the result CID %s", got, result)
	}
}

// TestOurNodeFetchesFromKubo: data added to kubo is a job's input on a node peered with
// it (--ipfs-peer): the node pulls the blocks from kubo by bitswap. The same file added
// on both sides has the same CID in both profiles, and each side fetches the other's.
func TestOurNodeFetchesFromKubo(t *testing.T) {
	t.Parallel()
	k := newKubo(t)
	k.start()
	data := dataset(t)
	in := k.run("add", "-r", "-Q", "--cid-version=1", data)
	n := startNode(t, "--ipfs-peer", k.addr())

	out := n.ok("wasm", "run", example(t, "wordcount"), "-i", in)
	if field(out, "State") != "completed" {
		t.Fatalf("job on kubo's data did not complete:\n%s", out)
	}
	// The words of the dataset's text files: 9 + 3 + 3 + 2.
	if !strings.Contains(out, "17") {
		t.Fatalf("wordcount of kubo's data: want 17 words in\n%s", out)
	}
	got := filepath.Join(t.TempDir(), "got")
	n.ok("data", "get", in, "-o", got)
	sameTree(t, data, got)

	// Same file, same profile, same CID; and each side fetches what the other added.
	file := filepath.Join(t.TempDir(), "f.bin")
	b := make([]byte, 1<<20+5)
	for i := range b {
		b[i] = byte(i * 13)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1", "0"} {
		ours := n.ok("data", "add", "--cid-version="+v, file)
		theirs := k.run("add", "-Q", "--cid-version="+v, "--only-hash", file)
		if ours != theirs {
			t.Fatalf("--cid-version=%s: ours %s, kubo's %s", v, ours, theirs)
		}
	}
	other := filepath.Join(t.TempDir(), "other.txt")
	if err := os.WriteFile(other, []byte("added on kubo only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := k.run("add", "-Q", "--cid-version=1", other)
	fetched := filepath.Join(t.TempDir(), "fetched")
	n.ok("data", "get", c, "-o", fetched)
	if b, err := os.ReadFile(fetched); err != nil || string(b) != "added on kubo only\n" {
		t.Fatalf("fetched from kubo: %q, %v", b, err)
	}
	c2 := n.ok("data", "add", file)
	kb := filepath.Join(t.TempDir(), "kb")
	k.run("get", c2, "-o", kb)
	if g, err := os.ReadFile(kb); err != nil || string(g) != string(b) {
		t.Fatalf("kubo's copy of our file differs (%d bytes, %v)", len(g), err)
	}
}

// TestCARPipes: `ipfs dag export | bacalhau data car import` and
// `bacalhau data car export | ipfs dag import`, each a pipe between the two commands,
// carry the whole DAG and its root.
func TestCARPipes(t *testing.T) {
	t.Parallel()
	k := newKubo(t)
	n := startNode(t)
	data := dataset(t)

	c1 := k.run("add", "-r", "-Q", "--cid-version=1", data)
	out := pipe(t, k.command("dag", "export", c1), n.command("data", "car", "import"))
	if strings.TrimSpace(out) != c1 {
		t.Fatalf("car import from stdin printed %q, want the root %s", out, c1)
	}
	got := filepath.Join(t.TempDir(), "got")
	n.ok("data", "get", c1, "-o", got)
	sameTree(t, data, got)

	c2 := n.ok("data", "add", "--cid-version=0", data)
	out = pipe(t, n.command("data", "car", "export", c2), k.command("dag", "import"))
	if !strings.Contains(out, c2) {
		t.Fatalf("ipfs dag import of our export printed %q, want the root %s", out, c2)
	}
	theirs := filepath.Join(t.TempDir(), "theirs")
	k.run("get", "--offline", c2, "-o", theirs)
	sameTree(t, data, theirs)
}

// pipe runs a | b and returns b's standard output; both must succeed.
func pipe(t *testing.T, a, b *exec.Cmd) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var aErr, bOut, bErr bytes.Buffer
	a.Stdout, a.Stderr = w, &aErr
	b.Stdin, b.Stdout, b.Stderr = r, &bOut, &bErr
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r.Close()
	ea, eb := a.Wait(), b.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("%s | %s: %v, %v\n%s\n%s", a, b, ea, eb, aErr.String(), bErr.String())
	}
	return bOut.String()
}
