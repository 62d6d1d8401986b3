package wasi

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrTreeTooBig is CopyTree's error when the files hold more than the bytes allowed.
var ErrTreeTooBig = errors.New("the tree holds more than the bytes allowed")

// CopyTree writes the directories and regular files of fsys (a Mount's FS) under dst on
// the host, for engines that can only mount host directories. Their bytes are counted
// down from *left; one byte past it stops the copy with ErrTreeTooBig. Links and
// devices are skipped: a blockstore view holds none.
func CopyTree(ctx context.Context, dst string, fsys fs.FS, left *int64) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		target := filepath.Join(dst, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(fsys, p, target, left)
		}
		return nil
	})
}

func copyFile(fsys fs.FS, p, target string, left *int64) error {
	src, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(src, *left+1))
	*left -= n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && *left < 0 {
		err = ErrTreeTooBig
	}
	return err
}
