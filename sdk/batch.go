package sdk

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Where a batch job's guest finds its inputs and writes its outputs.
const (
	InputsDir  = "/inputs"
	OutputsDir = "/outputs"
)

// WalkInputs calls fn for every file under dir (InputsDir if ""), in lexical order,
// with its path relative to dir.
func WalkInputs(dir string, fn func(rel string, d fs.DirEntry) error) error {
	if dir == "" {
		dir = InputsDir
	}
	return fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		return fn(p, d)
	})
}

// CreateOutput creates (or truncates) the file at name under OutputsDir, with the
// directories it needs. name is relative and may not leave OutputsDir.
func CreateOutput(name string) (*os.File, error) {
	clean := path.Clean("/" + strings.TrimPrefix(name, "/"))
	if clean == "/" {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrInvalid}
	}
	p := filepath.Join(OutputsDir, filepath.FromSlash(clean))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.Create(p)
}
