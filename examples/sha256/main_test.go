package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestSum(t *testing.T) {
	inputs := fstest.MapFS{
		"b.txt":          {Data: []byte("abc")},
		"a/empty":        {Data: nil},
		"a/nested/c.txt": {Data: []byte("hello\n")},
		"back\\slash":    {Data: []byte("abc")},
		"link":           {Data: []byte("a.txt"), Mode: os.ModeSymlink},
	}
	// Expected values from `printf abc | sha256sum` and friends.
	want := "" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a/empty\n" +
		"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  a/nested/c.txt\n" +
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  b.txt\n" +
		"\\ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  back\\\\slash\n"
	var got strings.Builder
	if err := Sum(inputs, &got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want {
		t.Errorf("Sum() wrote\n%s\nwant\n%s", got.String(), want)
	}
}

func TestRunWritesSums(t *testing.T) {
	out := t.TempDir()
	var stdout strings.Builder
	if err := run(fstest.MapFS{"x": {Data: []byte("abc")}}, out, &stdout); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(out, sumsFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != stdout.String() || !strings.HasSuffix(stdout.String(), "  x\n") {
		t.Errorf("stdout %q, %s %q", stdout.String(), sumsFile, file)
	}
	// Without an outputs directory, stdout alone is the result.
	if err := run(fstest.MapFS{}, filepath.Join(out, "missing"), &stdout); err != nil {
		t.Fatal(err)
	}
}

func TestLargeFileCrossesBuffers(t *testing.T) {
	data := []byte(strings.Repeat("a", 3*bufSize+7))
	var got strings.Builder
	if err := Sum(fstest.MapFS{"big": {Data: data}}, &got); err != nil {
		t.Fatal(err)
	}
	// `head -c 3145735 /dev/zero | tr '\0' a | sha256sum`
	const want = "7d8aedf62548b6943c912ca5192d7a2c13322cd689d7a47d4b3944b4bb2e30c6  big\n"
	if got.String() != want {
		t.Errorf("Sum() wrote %q, want %q", got.String(), want)
	}
}
