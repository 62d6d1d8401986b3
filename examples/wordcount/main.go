// Command wordcount counts the words, lines and bytes of every text file
// under /inputs, writes a table to /outputs/wordcount.tsv and prints the
// total to stdout.
package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	inputsDir  = "/inputs"
	outputsDir = "/outputs"
	tableFile  = "wordcount.tsv"
	// sniffSize is how much of a file decides whether it is binary.
	sniffSize = 8000
	bufSize   = 256 << 10
)

func main() {
	if err := run(os.DirFS(inputsDir), outputsDir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

// Count is the tally of one file, or of all of them.
type Count struct {
	Path                string
	Words, Lines, Bytes int64
}

// run counts inputs, writes the table to outDir/wordcount.tsv (when outDir
// is a directory) and the total row to stdout.
func run(inputs fs.FS, outDir string, stdout io.Writer) error {
	counts, total, err := CountAll(inputs)
	if err != nil {
		return err
	}
	if st, err := os.Stat(outDir); err == nil && st.IsDir() {
		var table bytes.Buffer
		WriteTable(&table, counts, total)
		if err := os.WriteFile(outDir+"/"+tableFile, table.Bytes(), 0o644); err != nil {
			return err
		}
	}
	writeRow(stdout, total)
	return nil
}

// CountAll counts every text file of fsys in lexical order of path, and the
// total. A file is binary, and skipped, when its first 8000 bytes hold a NUL
// byte (the rule git and grep use). Words are runs of non-space characters
// (unicode.IsSpace), lines are newline characters, as wc counts them.
func CountAll(fsys fs.FS) (counts []Count, total Count, err error) {
	total.Path = "total"
	buf := make([]byte, bufSize)
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		c, text, err := countFile(fsys, p, buf)
		if err != nil || !text {
			return err
		}
		counts = append(counts, c)
		total.Words += c.Words
		total.Lines += c.Lines
		total.Bytes += c.Bytes
		return nil
	})
	return counts, total, err
}

func countFile(fsys fs.FS, name string, buf []byte) (c Count, text bool, err error) {
	f, err := fsys.Open(name)
	if err != nil {
		return c, false, err
	}
	defer f.Close()
	c.Path = name
	var w wordCounter
	first := true
	for {
		n, err := io.ReadFull(f, buf)
		chunk := buf[:n]
		if first && bytes.IndexByte(chunk[:min(n, sniffSize)], 0) >= 0 {
			return c, false, nil
		}
		first = false
		w.feed(chunk)
		c.Bytes += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return c, false, fmt.Errorf("%s: %w", name, err)
		}
	}
	c.Words, c.Lines = w.words, w.lines
	return c, true, nil
}

// wordCounter counts across chunk boundaries, including a UTF-8 sequence
// split between two chunks.
type wordCounter struct {
	words, lines int64
	inWord       bool
	partial      []byte
}

func (w *wordCounter) feed(p []byte) {
	if len(w.partial) > 0 {
		p = append(w.partial, p...)
		w.partial = nil
	}
	for len(p) > 0 {
		r, size := rune(p[0]), 1
		if r >= utf8.RuneSelf {
			if !utf8.FullRune(p) {
				w.partial = append([]byte(nil), p...)
				return
			}
			r, size = utf8.DecodeRune(p)
		}
		p = p[size:]
		if r == '\n' {
			w.lines++
		}
		if unicode.IsSpace(r) {
			w.inWord = false
		} else if !w.inWord {
			w.inWord = true
			w.words++
		}
	}
}

// WriteTable writes a header, one row per file and the total row, tab
// separated. A path holding a tab or newline is written Go-quoted.
func WriteTable(w io.Writer, counts []Count, total Count) {
	fmt.Fprintln(w, "path\twords\tlines\tbytes")
	for _, c := range counts {
		writeRow(w, c)
	}
	writeRow(w, total)
}

func writeRow(w io.Writer, c Count) {
	p := c.Path
	if strings.ContainsAny(p, "\t\n\r") {
		p = fmt.Sprintf("%q", p)
	}
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\n", p, c.Words, c.Lines, c.Bytes)
}
