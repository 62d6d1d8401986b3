package server

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/labstack/echo/v4"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// GET /api/v1/data/:cid/cat?path=P streams one file of a DAG (`data cat`), and
// GET /api/v1/data/:cid/ls?path=P lists one directory (`data ls`); both read only the
// blocks they need, through the same fs.FS a guest's inputs are mounted with.

// blocksOf is a Data that can read its blocks (after Fetch, the DAG is local).
type blocksOf interface {
	Blocks() blockstore.BlockGetter
}

// dagFS opens the DAG under the request's CID as an fs.FS, fetching it first where
// the node can, and returns the path inside it the request names.
func (s *Server) dagFS(c echo.Context) (context.Context, fs.FS, cid.Cid, string, func(), error) {
	ctx := c.Request().Context()
	k, err := cidParam(c)
	if err != nil {
		return ctx, nil, k, "", nil, err
	}
	sub := strings.Trim(c.QueryParam("path"), "/")
	if sub == "" {
		sub = "."
	}
	if !fs.ValidPath(sub) {
		return ctx, nil, k, "", nil, badRequest("path=%q is not a clean path inside the DAG", c.QueryParam("path"))
	}
	b, ok := s.data.(blocksOf)
	if !ok {
		return ctx, nil, k, "", nil, apiError(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "this node cannot read DAGs by path")
	}
	has, err := s.data.Has(ctx, k)
	if err != nil {
		return ctx, nil, k, "", nil, err
	}
	if !has {
		return ctx, nil, k, "", nil, apiError(http.StatusNotFound, api.CodeNotFound, "no content with CID "+k.String()+" on this node")
	}
	ctx, release := s.hold(ctx, k)
	if f, ok := s.data.(fetcher); ok {
		if err := f.Fetch(ctx, k); err != nil {
			release()
			return ctx, nil, k, "", nil, err
		}
	}
	fsys, err := blockstore.NewFS(ctx, b.Blocks(), k)
	if err != nil {
		release()
		return ctx, nil, k, "", nil, badRequestOf(api.CodeInvalidData, "%v", err)
	}
	return ctx, fsys, k, sub, release, nil
}

func pathError(k cid.Cid, sub string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return apiError(http.StatusNotFound, api.CodeNotFound, "no "+sub+" in "+k.String())
	}
	return badRequestOf(api.CodeInvalidData, "%s in %s: %v", sub, k, err)
}

func (s *Server) catData(c echo.Context) error {
	_, fsys, k, sub, release, err := s.dagFS(c)
	if err != nil {
		return err
	}
	defer release()
	if sub == "." {
		sub = k.String() // a file CID is the one entry of its FS; a directory has none by that name
	}
	f, err := fsys.Open(sub)
	if err != nil {
		if sub == k.String() && errors.Is(err, fs.ErrNotExist) {
			return badRequest("%s is a directory: give a path inside it (CID/path), or list it with data ls", k)
		}
		return pathError(k, sub, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return pathError(k, sub, err)
	}
	if st.IsDir() {
		return badRequest("%s in %s is a directory: list it with data ls", sub, k)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, echo.MIMEOctetStream)
	w.Header().Set("Trailer", api.StreamErrorTrailer)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil && !errors.Is(err, context.Canceled) {
		w.Header().Set(api.StreamErrorTrailer, err.Error())
	}
	return nil
}

// maxLsEntries bounds one listing; past it `data get` is the way.
const maxLsEntries = 100_000

func (s *Server) lsData(c echo.Context) error {
	_, fsys, k, sub, release, err := s.dagFS(c)
	if err != nil {
		return err
	}
	defer release()
	if sub == "." {
		if st, err := fs.Stat(fsys, k.String()); err == nil && !st.IsDir() {
			// A file CID lists as itself, as ipfs ls lists a file.
			return c.JSON(http.StatusOK, api.LsResponse{Entries: []api.LsEntry{entryOf(k.String(), st)}})
		}
	}
	ents, err := fs.ReadDir(fsys, sub)
	if err != nil {
		return pathError(k, sub, err)
	}
	if len(ents) > maxLsEntries {
		return badRequest("%s in %s has more than %d entries: download it with data get", sub, k, maxLsEntries)
	}
	out := api.LsResponse{Entries: make([]api.LsEntry, 0, len(ents))}
	for _, d := range ents {
		st, err := d.Info()
		if err != nil {
			return pathError(k, sub+"/"+d.Name(), err)
		}
		out.Entries = append(out.Entries, entryOf(d.Name(), st))
	}
	return c.JSON(http.StatusOK, out)
}

func entryOf(name string, st fs.FileInfo) api.LsEntry {
	e := api.LsEntry{Name: name, Type: "file", Size: uint64(max(st.Size(), 0))}
	if c, ok := st.Sys().(cid.Cid); ok {
		e.CID = c.String()
	}
	switch {
	case st.IsDir():
		e.Type, e.Size = "directory", 0
	case st.Mode()&fs.ModeSymlink != 0:
		e.Type = "symlink"
	}
	return e
}
