package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestRun(t *testing.T) {
	inputs := fstest.MapFS{
		"b.txt":         {Data: []byte("one two  three\nfour\n")},
		"a/poem.txt":    {Data: []byte("héllo wörld\n\tend")},
		"a/empty.txt":   {Data: nil},
		"bin/image.png": {Data: []byte("\x89PNG\r\n\x1a\n\x00\x00 words words")},
	}
	out := t.TempDir()
	var stdout strings.Builder
	if err := run(inputs, out, &stdout); err != nil {
		t.Fatal(err)
	}
	const wantTotal = "total\t7\t3\t38\n"
	if stdout.String() != wantTotal {
		t.Errorf("stdout = %q, want %q", stdout.String(), wantTotal)
	}
	table, err := os.ReadFile(filepath.Join(out, tableFile))
	if err != nil {
		t.Fatal(err)
	}
	want := "path\twords\tlines\tbytes\n" +
		"a/empty.txt\t0\t0\t0\n" +
		"a/poem.txt\t3\t1\t18\n" +
		"b.txt\t4\t2\t20\n" +
		wantTotal
	if string(table) != want {
		t.Errorf("%s =\n%s\nwant\n%s", tableFile, table, want)
	}
}

// TestChunkBoundaries checks that words and multi-byte characters split
// across reads are counted once.
func TestChunkBoundaries(t *testing.T) {
	text := strings.Repeat("ab ", bufSize/3) + strings.Repeat("é", bufSize) + " x\n"
	counts, total, err := CountAll(fstest.MapFS{"t": {Data: []byte(text)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || total.Words != int64(bufSize/3+2) || total.Lines != 1 || total.Bytes != int64(len(text)) {
		t.Errorf("CountAll() = %+v, %+v", counts, total)
	}
}

func TestQuotedPath(t *testing.T) {
	var b strings.Builder
	writeRow(&b, Count{Path: "a\tb", Words: 1})
	if b.String() != "\"a\\tb\"\t1\t0\t0\n" {
		t.Errorf("row = %q", b.String())
	}
}
