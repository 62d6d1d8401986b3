// Command sha256 hashes every file under /inputs, like
// `cd /inputs && find . -type f | sort | xargs sha256sum`, printing
// sha256sum-compatible lines to stdout and to /outputs/SHA256SUMS.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

const (
	inputsDir  = "/inputs"
	outputsDir = "/outputs"
	sumsFile   = "SHA256SUMS"
	// bufSize is large so that the time goes into hashing, not into calls
	// across the WASI boundary.
	bufSize = 1 << 20
)

func main() {
	root := inputsDir
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := run(os.DirFS(root), outputsDir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sha256:", err)
		os.Exit(1)
	}
}

// run writes the sums of inputs to stdout and, when outDir is a directory,
// to outDir/SHA256SUMS.
func run(inputs fs.FS, outDir string, stdout io.Writer) error {
	var sums bytes.Buffer
	if err := Sum(inputs, io.MultiWriter(stdout, &sums)); err != nil {
		return err
	}
	if st, err := os.Stat(outDir); err != nil || !st.IsDir() {
		return nil // no /outputs mounted: stdout is the result
	}
	return os.WriteFile(outDir+"/"+sumsFile, sums.Bytes(), 0o644)
}

// Sum writes "<hex>  <path>\n" for every regular file of fsys, walking it
// in lexical order. Paths are relative to the root of fsys; like sha256sum,
// a path with a backslash or newline is escaped and its line starts with
// a backslash. Symbolic links and other special files are skipped.
func Sum(fsys fs.FS, w io.Writer) error {
	buf := make([]byte, bufSize)
	h := sha256.New()
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		h.Reset()
		if err := hashFile(fsys, p, h, buf); err != nil {
			return err
		}
		prefix, name := "", p
		if strings.ContainsAny(p, "\\\n") {
			prefix = "\\"
			name = strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(p)
		}
		_, err = fmt.Fprintf(w, "%s%s  %s\n", prefix, hex.EncodeToString(h.Sum(nil)), name)
		return err
	})
}

// hashFile feeds a file to h through buf. It reads by hand rather than with
// io.CopyBuffer, which would bypass buf for an *os.File.
func hashFile(fsys fs.FS, name string, h io.Writer, buf []byte) error {
	f, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}
