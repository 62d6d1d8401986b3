package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarOf(t testing.TB, entries map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range entries {
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(name, "/") {
			typ = tar.TypeDir
		}
		if body == "<symlink>" {
			typ = tar.TypeSymlink
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Size: int64(len(body)) * int64(btoi(typ == tar.TypeReg)), Mode: 0o644, Linkname: "/etc"}); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestExtractTar(t *testing.T) {
	tests := []struct {
		name    string
		entries map[string]string
		wantErr string
	}{
		{"tree", map[string]string{"top/": "", "top/a.txt": "a", "top/sub/": "", "top/sub/b": "b"}, ""},
		{"single file", map[string]string{"top": "content"}, ""},
		{"dotdot", map[string]string{"top/../evil": "x"}, "not a clean relative path"},
		{"other top", map[string]string{"elsewhere/a": "x"}, "unexpected entry"},
		{"empty", map[string]string{}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out")
			err := extractTar(bytes.NewReader(tarOf(t, tt.entries)), "top", dst)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("extractTar = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, body := range tt.entries {
				if strings.HasSuffix(name, "/") {
					continue
				}
				got, err := os.ReadFile(filepath.Join(dst, strings.TrimPrefix(strings.TrimPrefix(name, "top"), "/")))
				if err != nil || string(got) != body {
					t.Fatalf("%s = %q, %v", name, got, err)
				}
			}
		})
	}
}

func FuzzExtractTar(f *testing.F) {
	f.Add(tarOf(f, map[string]string{"top/": "", "top/a": "a"}))
	f.Add(tarOf(f, map[string]string{"top/../../x": "x"}))
	f.Add(tarOf(f, map[string]string{"top/a/../../b": "x"}))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		dst := filepath.Join(root, "out")
		_ = extractTar(bytes.NewReader(data), "top", dst)
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "out" {
				t.Fatalf("extraction wrote %q outside its destination", e.Name())
			}
		}
		filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type()&os.ModeSymlink != 0 {
				t.Fatalf("extraction made a symlink %s", p)
			}
			return nil
		})
	})
}

// TestExtractTarThroughSymlink: a symlink entry is made as it is (ipfs get does), and an
// entry that would be written through it is refused.
func TestExtractTarThroughSymlink(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	victim := t.TempDir()
	for _, h := range []*tar.Header{
		{Name: "top/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "top/link", Typeflag: tar.TypeSymlink, Linkname: victim},
		{Name: "top/link/planted", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("x"))
		}
	}
	tw.Close()
	dst := filepath.Join(t.TempDir(), "out")
	err := extractTar(bytes.NewReader(buf.Bytes()), "top", dst)
	if err == nil || !strings.Contains(err.Error(), "through the symlink") {
		t.Fatalf("extractTar = %v, want a refusal", err)
	}
	if got, _ := os.Readlink(filepath.Join(dst, "link")); got != victim {
		t.Fatalf("link = %q, want %q", got, victim)
	}
	if _, err := os.Stat(filepath.Join(victim, "planted")); err == nil {
		t.Fatal("a file was written through the symlink")
	}
}

// TestExtractTarTopSymlink: a download whose top is a symlink writes nothing under it.
func TestExtractTarTopSymlink(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	victim := t.TempDir()
	tw.WriteHeader(&tar.Header{Name: "top", Typeflag: tar.TypeSymlink, Linkname: victim})
	tw.WriteHeader(&tar.Header{Name: "top/planted", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	tw.Write([]byte("x"))
	tw.Close()
	err := extractTar(bytes.NewReader(buf.Bytes()), "top", filepath.Join(t.TempDir(), "out"))
	if err == nil || !strings.Contains(err.Error(), "through the symlink") {
		t.Fatalf("extractTar = %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(victim, "planted")); err == nil {
		t.Fatal("a file was written through the top symlink")
	}
}

// TestExtractTarNotThroughALinkAtTheName: a file entry whose name is a symlink already
// (an earlier entry on a case-insensitive file system, or the output directory) is
// refused, not written through the link.
func TestExtractTarNotThroughALinkAtTheName(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(victim, []byte("keep"), 0o644))
	dst := filepath.Join(t.TempDir(), "out")
	must(os.MkdirAll(dst, 0o755))
	must(os.Symlink(victim, filepath.Join(dst, "a")))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "top/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "top/a", Typeflag: tar.TypeReg, Size: 5, Mode: 0o644})
	tw.Write([]byte("owned"))
	tw.Close()
	if err := extractTar(bytes.NewReader(buf.Bytes()), "top", dst); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("extractTar = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Fatalf("the file behind the link became %q", b)
	}
}
