package blockstore

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
)

// AddPath imports a host file, or a directory recursively, as
// `ipfs add -r --cid-version=N path` does (with -H if opts.Hidden), and
// returns the entry kubo prints last: the file itself, or the top-level
// directory. Symbolic links, at the top or anywhere in the tree, are added
// as UnixFS symlink nodes holding their target (relative, absolute or
// dangling alike), never followed, as kubo adds them. Files and directories
// whose name starts with '.' are skipped unless opts.Hidden is set (the path
// given itself is always added). Empty directories are kept, as kubo does by
// default. Other file types (devices, sockets, FIFOs) are rejected with
// ErrBadPath, and nothing is returned.
func (s *Store) AddPath(ctx context.Context, path string, opts AddOptions) (Entry, error) {
	return s.addPathTop(ctx, path, opts, nil)
}

// AddPathPinned is AddPath followed by Pin of what it added, made durable
// together by one sync (AddPath then Pin take two).
func (s *Store) AddPathPinned(ctx context.Context, path string, opts AddOptions, pin PinInfo) (Entry, error) {
	if err := validatePinInfo(pin); err != nil {
		return Entry{}, err
	}
	return s.addPathTop(ctx, path, opts, &pin)
}

// addPathTop adds path and, if pin is not nil, pins what it added before the one
// sync that makes both durable.
func (s *Store) addPathTop(ctx context.Context, path string, opts AddOptions, pin *PinInfo) (Entry, error) {
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
	if pin == nil {
		if err := w.done(); err != nil {
			return Entry{}, err
		}
		return e, nil
	}
	defer w.endHold()
	if err := w.drain(); err != nil {
		return Entry{}, err
	}
	// Unsynced: the commit below syncs the write-ahead log, the blocks and the
	// pin after them, so a crash keeps both or only blocks nothing pins yet.
	if err := s.pin(e.CID, *pin, pebble.NoSync); err != nil {
		return Entry{}, err
	}
	if err := s.commit(w.written + 1); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func (s *Store) addPath(ctx context.Context, w *writer, path string, fi fs.FileInfo, opts AddOptions) (Entry, error) {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return s.addHostSymlink(ctx, w, path, opts)
	case fi.Mode().IsRegular():
		return s.addHostFile(ctx, w, path, opts)
	case !fi.IsDir():
		return Entry{}, fmt.Errorf("%w: %s is not a regular file, directory or symlink", ErrBadPath, path)
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
		if !opts.Hidden && isHidden(d.Name()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(path, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return b.AddSymlink(rel, target)
		case d.IsDir():
			return b.Mkdir(rel)
		case !t.IsRegular():
			return fmt.Errorf("%w: %s is not a regular file, directory or symlink", ErrBadPath, p)
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

// AddSymlink stores the UnixFS symlink node for target (what `ipfs add` makes
// of a symlink given by itself, or the API of a lone symlink part) and
// returns its entry (Size 0). The target is checked as DirBuilder.AddSymlink
// checks it.
func (s *Store) AddSymlink(ctx context.Context, target string, opts AddOptions) (Entry, error) {
	w := s.newWriter(ctx)
	w.discard = opts.OnlyHash
	e, err := s.addSymlink(ctx, w, "symlink", target, opts)
	if err != nil {
		w.abort()
		return Entry{}, err
	}
	if err := w.done(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// addHostSymlink adds the symlink at path as a UnixFS symlink node.
func (s *Store) addHostSymlink(ctx context.Context, w *writer, path string, opts AddOptions) (Entry, error) {
	target, err := os.Readlink(path)
	if err != nil {
		return Entry{}, fmt.Errorf("blockstore: add %s: %w", path, err)
	}
	e, err := s.addSymlink(ctx, w, filepath.Base(path), target, opts)
	if err != nil {
		return Entry{}, fmt.Errorf("blockstore: add %s: %w", path, err)
	}
	return e, nil
}

func (s *Store) addSymlink(ctx context.Context, w *writer, name, target string, opts AddOptions) (Entry, error) {
	prefix, err := opts.prefix()
	if err != nil {
		return Entry{}, err
	}
	if err := checkTarget(name, target); err != nil {
		return Entry{}, err
	}
	nd, err := symlinkNode(target, prefix)
	if err != nil {
		return Entry{}, err
	}
	if err := w.Add(ctx, nd); err != nil {
		return Entry{}, err
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
