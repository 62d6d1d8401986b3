package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore/filecid"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

func sum(t *testing.T, f *os.File) cidtext.CID {
	t.Helper()
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	c, _, err := filecid.Sum(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCIDCache: a file's CID is found again while the file is unchanged, and never once
// it has been written to (even with the same size and modification time), renamed over,
// or the cache is off; the cache keeps at most cidCacheEntries files.
func TestCIDCache(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BACALHAU_CACHE_DIR", filepath.Join(dir, "cache"))
	defer func(w time.Duration) { cacheRacyWindow = w }(cacheRacyWindow)
	cacheRacyWindow = 0 // the test's files are all new
	name := filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(name, []byte("module one"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	f := open()
	if _, ok := fileIdentity(f); !ok {
		t.Skip("no file identity (inode, change time) on this system: no cache")
	}
	if _, ok, _ := cachedCID(name, f); ok {
		t.Fatal("a hit in an empty cache")
	}
	_, _, id := cachedCID(name, f)
	want := sum(t, f)
	storeCID(name, f, id, want)
	if got, ok, _ := cachedCID(name, open()); !ok || got != want {
		t.Fatalf("unchanged file: %v %v, want a hit of %v", got, ok, want)
	}
	// The same size and modification time, other bytes: the change time differs once
	// the clock that stamps files has ticked (rewritten until it has).
	st, _ := os.Stat(name)
	for i := 0; ; i++ {
		if err := os.WriteFile(name, []byte("module two"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(name, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
		if now, _ := fileIdentity(open()); now[4] != id[4] {
			break
		}
		if i == 1e6 {
			t.Fatal("the file's change time never changed")
		}
	}
	if got, ok, _ := cachedCID(name, open()); ok {
		t.Fatalf("a rewritten file hit the cache with %v", got)
	}
	// A file renamed over the path is another inode.
	other := filepath.Join(dir, "n.wasm")
	os.WriteFile(other, []byte("module one"), 0o600)
	os.Rename(other, name)
	if _, ok, _ := cachedCID(name, open()); ok {
		t.Fatal("a file renamed over the path hit the cache")
	}
	// A file changed while it was hashed is not stored.
	f = open()
	_, _, id = cachedCID(name, f)
	os.WriteFile(name, []byte("module three"), 0o600)
	storeCID(name, f, id, want)
	if _, ok, _ := cachedCID(name, open()); ok {
		t.Fatal("an entry stored for a file that changed while it was hashed")
	}
	// Bounded.
	for i := 0; i < cidCacheEntries+20; i++ {
		n := filepath.Join(dir, fmt.Sprintf("f%d", i))
		os.WriteFile(n, []byte{byte(i)}, 0o600)
		g, _ := os.Open(n)
		_, _, id := cachedCID(n, g)
		storeCID(n, g, id, sum(t, g))
		g.Close()
	}
	b, err := os.ReadFile(cidCachePath())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != cidCacheEntries {
		t.Errorf("the cache holds %d entries, want %d", n, cidCacheEntries)
	}
	last := filepath.Join(dir, fmt.Sprintf("f%d", cidCacheEntries+19))
	if h, err := os.Open(last); err == nil {
		if _, ok, _ := cachedCID(last, h); !ok {
			t.Error("the newest entry was dropped")
		}
		h.Close()
	}
	// A file changed within the racy window is not stored: a second change in the same
	// tick of the file clock could not be told from it.
	cacheRacyWindow = time.Hour
	fresh := filepath.Join(dir, "fresh.wasm")
	os.WriteFile(fresh, []byte("fresh"), 0o600)
	g, _ := os.Open(fresh)
	_, _, gid := cachedCID(fresh, g)
	storeCID(fresh, g, gid, sum(t, g))
	if _, ok, _ := cachedCID(fresh, g); ok {
		t.Error("a file changed within the racy window was cached")
	}
	g.Close()
	t.Setenv("BACALHAU_CACHE_DIR", "off")
	if cidCachePath() != "" {
		t.Error("BACALHAU_CACHE_DIR=off leaves a cache path")
	}
}

// FuzzCacheLine: the cache file is read back as outside input.
func FuzzCacheLine(f *testing.F) {
	f.Add("1\t2\t3\t4\t5\tbafkqaaa")
	f.Fuzz(func(t *testing.T, s string) {
		id, c, ok := parseCacheLine(s)
		if ok && (c == cidtext.CID{}) {
			t.Fatalf("%q: accepted with an empty CID (%v)", s, id)
		}
	})
}
