package blockstore

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// AddPath imports a host file, or a directory recursively, as
// `ipfs add -r --cid-version=N path` does, and returns the entry kubo prints
// last: the file itself, or the top-level directory. Symbolic links anywhere
// in the tree (and other non-regular files) are rejected with ErrSymlink or
// ErrBadPath, and nothing is returned; they are never followed. Empty
// directories are kept, as kubo does by default.
func (s *Store) AddPath(ctx context.Context, path string, opts AddOptions) (Entry, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Entry{}, fmt.Errorf("blockstore: add %s: %w", path, err)
	}
	w := s.newWriter(ctx)
	e, err := s.addPath(ctx, w, path, fi, opts)
	if err != nil {
		w.abort()
		return Entry{}, err
	}
	if err := w.done(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func (s *Store) addPath(ctx context.Context, w *writer, path string, fi fs.FileInfo, opts AddOptions) (Entry, error) {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return Entry{}, fmt.Errorf("%w: %s", ErrSymlink, path)
	case fi.Mode().IsRegular():
		return s.addHostFile(ctx, w, path, opts)
	case !fi.IsDir():
		return Entry{}, fmt.Errorf("%w: %s is not a regular file or directory", ErrBadPath, path)
	}
	b := s.NewDirBuilder(opts)
	if b.err != nil {
		return Entry{}, b.err
	}
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == path {
			return nil
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %s", ErrSymlink, p)
		case d.IsDir():
			return b.Mkdir(rel)
		case !t.IsRegular():
			return fmt.Errorf("%w: %s is not a regular file or directory", ErrBadPath, p)
		}
		e, err := s.addHostFile(ctx, w, p, opts)
		if err != nil {
			return err
		}
		return b.AddFile(rel, e)
	})
	if err != nil {
		return Entry{}, fmt.Errorf("blockstore: add %s: %w", path, err)
	}
	nd, err := b.build(ctx, w, b.root)
	if err != nil {
		return Entry{}, fmt.Errorf("blockstore: add %s: %w", path, err)
	}
	return entryOf(nd, 0)
}

func (s *Store) addHostFile(ctx context.Context, w *writer, path string, opts AddOptions) (Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return Entry{}, fmt.Errorf("blockstore: add %s: %w", path, err)
	}
	defer f.Close()
	return s.addFile(ctx, w, f, opts)
}
