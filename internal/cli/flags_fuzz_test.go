package cli

import (
	"strings"
	"testing"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/jobspec"
)

// FuzzParseURLInput: an -i value either names no URL, or a checked http(s) URL and a
// valid mount target, or fails with a message; never a panic.
func FuzzParseURLInput(f *testing.F) {
	for _, s := range []string{"https://example.org/data.csv:/data", "source=https://x/y,target=/in", "http://h:8080/a:b", "https://", "bafy:/x", "src=http://a,dst=relative"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, target, ok, err := parseURLInput(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !ok {
			return
		}
		if err := jobspec.CheckURL(u); err != nil {
			t.Fatalf("%q gave URL %q: %v", s, u, err)
		}
		if err := job.ValidateTarget(target); err != nil {
			t.Fatalf("%q gave target %q: %v", s, target, err)
		}
	})
}

// FuzzDataFlags: --chunker values and CID[/path] arguments parse to something valid or
// fail with a message.
func FuzzDataFlags(f *testing.F) {
	for _, s := range []string{"size-262144", "size-0", "rabin-1-2-3", "size-99999999999999999999", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4/a/b", "/ipfs/x/../y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseChunker(s); err == nil && (n < 1 || n > maxChunkSize) {
			t.Fatalf("chunker %q gave size %d", s, n)
		}
		if c, sub, err := cidPath(s); err == nil {
			if _, err := job.ParseCID(c); err != nil {
				t.Fatalf("%q gave CID %q: %v", s, c, err)
			}
			if strings.Contains("/"+sub+"/", "/../") || strings.HasPrefix(sub, "/") {
				t.Fatalf("%q gave path %q", s, sub)
			}
		}
	})
}
