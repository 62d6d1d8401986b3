package blockstore

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"github.com/ipfs/go-cid"
)

// ExportTar writes the UnixFS DAG at root, read from the local store, as a
// tar stream: a file root is one entry called name; a directory root is
// name/ and its tree under it, empty directories included, in lexical order.
// Entries have mode 0644 (files) or 0755 (directories) and time zero (the
// Unix epoch), so the same DAG always gives the same tar. Symlinks in the
// DAG are written as symlink entries.
func (s *Store) ExportTar(ctx context.Context, root cid.Cid, name string, w io.Writer) error {
	if !validName(name) {
		return fmt.Errorf("%w: tar name %q", ErrBadPath, name)
	}
	fsys, err := NewFS(ctx, s.Blocks(), root)
	if err != nil {
		return err
	}
	u := fsys.(*unixFS)
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	buf := make([]byte, 1<<20) // one copy buffer for every file
	if u.single != nil {
		if err := tarFile(tw, u, root.String(), name, epoch, buf); err != nil {
			return fmt.Errorf("blockstore: export tar %s: %w", root, err)
		}
		return tw.Close()
	}
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		tname := name
		if p != "." {
			tname = path.Join(name, p)
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: tname + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
		case d.Type()&fs.ModeSymlink != 0:
			target, err := u.readSymlink(p)
			if err != nil {
				return err
			}
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: tname, Linkname: target, Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX})
		}
		return tarFile(tw, u, p, tname, epoch, buf)
	})
	if err != nil {
		return fmt.Errorf("blockstore: export tar %s: %w", root, err)
	}
	return tw.Close()
}

func tarFile(tw *tar.Writer, fsys *unixFS, p, tname string, epoch time.Time, buf []byte) error {
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: tname, Size: fi.Size(), Mode: 0o644, ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.CopyBuffer(tw, struct{ io.Reader }{f}, buf)
	return err
}

// readSymlink returns the target stored in a UnixFS symlink node.
func (f *unixFS) readSymlink(name string) (string, error) {
	target, err := f.ReadLink(name)
	if err != nil && errors.Is(err, fs.ErrInvalid) {
		return "", fmt.Errorf("%w: %s is not a symlink", ErrBadDAG, name)
	}
	return target, err
}
