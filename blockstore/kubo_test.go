package blockstore

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kuboBin returns the kubo binary `make kubo` builds (bin/ipfs, or $BACALHAU_KUBO).
// Under CI=true a missing kubo fails the test; elsewhere it skips saying what to run.
func kuboBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("BACALHAU_KUBO")
	if p == "" {
		p, _ = filepath.Abs(filepath.Join("..", "bin", "ipfs"))
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubo not found at %s: `make kubo` builds it (make test does)", p)
		}
		t.Skipf("kubo not found at %s: run `make kubo` to build it", p)
	}
	return p
}

// kuboRepo runs kubo commands against a throwaway repo (offline: nothing is served).
type kuboRepo struct {
	t   *testing.T
	bin string
	env []string
}

func newKuboRepo(t *testing.T) *kuboRepo {
	t.Helper()
	k := &kuboRepo{t: t, bin: kuboBin(t)}
	k.env = append(os.Environ(), "IPFS_PATH="+t.TempDir())
	k.run("init", "--profile=test", "-e")
	return k
}

func (k *kuboRepo) run(args ...string) string {
	k.t.Helper()
	out, err := k.try(args...)
	if err != nil {
		k.t.Fatalf("ipfs %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (k *kuboRepo) try(args ...string) (string, error) {
	cmd := exec.Command(k.bin, args...)
	cmd.Env = k.env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// hostileTree makes the tree of issue 8's item 4: dotfiles, a hidden directory with
// files (and a visible directory) inside, symlinks (relative, absolute, dangling, to a
// directory, hidden, climbing out of the tree), unicode names, an empty file and an
// empty directory.
func hostileTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	for _, d := range []string{".hidden/inner", "sub/deeper", "empty-dir", "ünï/çødé"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	files := map[string]string{
		"a.txt":                  "hello\n",
		".dotfile":               "dot\n",
		".hidden/secret":         "s\n",
		".hidden/inner/f":        "f\n",
		"sub/b.txt":              "b\n",
		"sub/.env":               "KEY=1\n",
		"sub/deeper/c.txt":       "c\n",
		"ünï/çødé/名前.txt":        "unicode\n",
		"empty":                  "",
		"sub/deeper/empty-again": "",
	}
	for name, data := range files {
		must(t, os.WriteFile(filepath.Join(root, name), []byte(data), 0o644))
	}
	links := map[string]string{
		"rel":          "a.txt",
		"abs":          "/etc/hostname",
		"dangling":     "nowhere/at/all",
		"to-dir":       "sub",
		".hidden-link": "a.txt",
		"sub/up":       "../a.txt",
		"sub/out":      "../../../outside",
		"ünï/lïnk":     "çødé/名前.txt",
	}
	for name, target := range links {
		must(t, os.Symlink(target, filepath.Join(root, name)))
	}
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// AddPath gives kubo's root CIDs for a tree with dotfiles, a hidden directory and
// symlinks of every kind, with and without -H, in both CID profiles; and so for a
// symlink, a hidden directory and a dotfile added at the top.
func TestAddPathMatchesKuboHiddenAndSymlinks(t *testing.T) {
	k := newKuboRepo(t)
	s := openTemp(t)
	ctx := context.Background()
	root := hostileTree(t)
	paths := []string{
		root,
		filepath.Join(root, "sub"),
		filepath.Join(root, ".hidden"),  // a hidden directory given itself is added
		filepath.Join(root, ".dotfile"), // so is a dotfile
		filepath.Join(root, "rel"),      // a symlink at the top is a symlink node
		filepath.Join(root, "dangling"),
		filepath.Join(root, "to-dir"),
	}
	for _, p := range paths {
		for _, hidden := range []bool{false, true} {
			for _, v0 := range []bool{true, false} {
				args := []string{"add", "-r", "-Q", "--only-hash"}
				opts := ProfileV1
				if v0 {
					args = append(args, "--cid-version=0")
					opts = ProfileV0
				} else {
					args = append(args, "--cid-version=1")
				}
				if hidden {
					args = append(args, "-H")
				}
				opts.Hidden = hidden
				want := k.run(append(args, p)...)
				got, err := s.AddPath(ctx, p, opts)
				if err != nil {
					t.Fatalf("AddPath(%s, %+v): %v", p, opts, err)
				}
				if got.CID.String() != want {
					rel, _ := filepath.Rel(filepath.Dir(root), p)
					t.Errorf("%s (%s): ours %s, kubo %s", rel, strings.Join(args[4:], " "), got.CID, want)
				}
			}
		}
	}
}
