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
		{"symlink", map[string]string{"top/link": "<symlink>"}, "refusing entry"},
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
