package cli

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

// The module CID cache: `wasm run FILE` hashes FILE to ask the node whether it holds it,
// which for a 2.3 MB Go module is about 2 ms, a fifth of the client's start. The cache
// keeps a file's CID under its identity: path, device, inode, size, modification and
// change times. Any write to a file changes its change time, which no user can set, so a
// stale entry cannot match (git's index trusts the same). It is one small text file
// under the user's cache directory (BACALHAU_CACHE_DIR overrides it; "off" disables
// the cache) holding at most cidCacheEntries lines, the newest first.
const cidCacheEntries = 256

// cacheRacyWindow: a file changed this recently is not cached. File times come from a
// coarse clock (a few milliseconds on Linux), so a second write in the same tick with
// the same size would leave the identity unchanged; a file older than this cannot be
// written again in its tick (git's index calls such entries racy). A variable for tests.
var cacheRacyWindow = 2 * time.Second

// fileID is what a cache entry must match: the fields of fileIdentity.
type fileID [5]int64

func cidCachePath() string {
	dir := os.Getenv("BACALHAU_CACHE_DIR")
	if dir == "off" {
		return ""
	}
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(d, "bacalhau")
	}
	return filepath.Join(dir, "module-cids")
}

// cacheKey is the absolute path of name, or "" where it cannot be a key.
func cacheKey(name string) string {
	abs, err := filepath.Abs(name)
	if err != nil || strings.ContainsAny(abs, "\t\n") {
		return ""
	}
	return abs
}

// cachedCID is the CID cached for the file f was opened from, if its identity matches;
// id is that identity, for storeCID.
func cachedCID(name string, f *os.File) (c cidtext.CID, ok bool, id fileID) {
	key, path := cacheKey(name), cidCachePath()
	id, ok = fileIdentity(f)
	if key == "" || path == "" || !ok {
		return cidtext.CID{}, false, id
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cidtext.CID{}, false, id
	}
	for _, line := range strings.Split(string(b), "\n") {
		p, rest, ok := strings.Cut(line, "\t")
		if !ok || p != key {
			continue
		}
		got, c, ok := parseCacheLine(rest)
		if !ok || got != id {
			return cidtext.CID{}, false, id
		}
		return c, true, id
	}
	return cidtext.CID{}, false, id
}

func parseCacheLine(rest string) (fileID, cidtext.CID, bool) {
	var id fileID
	f := strings.Split(rest, "\t")
	if len(f) != len(id)+1 {
		return id, cidtext.CID{}, false
	}
	for i := range id {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return id, cidtext.CID{}, false
		}
		id[i] = n
	}
	c, err := cidtext.Parse(f[len(id)])
	return id, c, err == nil
}

// storeCID records c as the CID of the file f was opened from, best effort, if the
// file's identity is still before, what it was when its hashing began.
func storeCID(name string, f *os.File, before fileID, c cidtext.CID) {
	key, path := cacheKey(name), cidCachePath()
	id, ok := fileIdentity(f)
	if key == "" || path == "" || !ok || id != before || time.Since(time.Unix(0, id[4])) < cacheRacyWindow {
		return
	}
	var out bytes.Buffer
	out.WriteString(key)
	for _, n := range id {
		out.WriteString("\t" + strconv.FormatInt(n, 10))
	}
	out.WriteString("\t" + c.String() + "\n")
	if b, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan() && n < cidCacheEntries; {
			if p, _, _ := strings.Cut(sc.Text(), "\t"); p != key && p != "" {
				out.WriteString(sc.Text() + "\n")
				n++
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".module-cids-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(out.Bytes())
	if cerr := tmp.Close(); err == nil && cerr == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}
