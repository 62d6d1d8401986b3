package server

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/labstack/echo/v4"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// Data is what the API needs from a node's blockstore.
type Data interface {
	AddFile(ctx context.Context, r io.Reader, opts blockstore.AddOptions) (blockstore.Entry, error)
	AddSymlink(ctx context.Context, target string, opts blockstore.AddOptions) (blockstore.Entry, error)
	NewDirBuilder(opts blockstore.AddOptions) *blockstore.DirBuilder
	Has(ctx context.Context, c cid.Cid) (bool, error)
	ImportCAR(ctx context.Context, r io.Reader) ([]cid.Cid, error)
	ExportCAR(ctx context.Context, root cid.Cid, w io.Writer) error
	ExportTar(ctx context.Context, root cid.Cid, name string, w io.Writer) error
}

// localHaser is a Data that can tell what it holds itself from what it could fetch from
// peers; HEAD /data/:cid asks it.
type localHaser interface {
	HasLocal(ctx context.Context, c cid.Cid) (bool, error)
}

// fetcher is a Data that can make a DAG held elsewhere local; a download fetches it
// whole before it sends anything.
type fetcher interface {
	Fetch(ctx context.Context, root cid.Cid) error
}

// adder is a Data that wants to hear of DAGs the API added (to pin and announce them).
type adder interface {
	Added(ctx context.Context, c cid.Cid, pin bool) error
}

// remover is a Data whose users can remove what they added (DELETE /data/:cid).
type remover interface {
	Remove(ctx context.Context, c cid.Cid) error
}

// holder is a Data whose garbage collector must be kept off work made of several calls:
// an import, until it is Added; a download, off the DAGs under keep until it is sent.
type holder interface {
	Hold(ctx context.Context, keep ...cid.Cid) (context.Context, func())
}

func (s *Server) added(ctx context.Context, c cid.Cid, pin bool) error {
	if a, ok := s.data.(adder); ok {
		return a.Added(ctx, c, pin)
	}
	return nil
}

func (s *Server) removeData(c echo.Context) error {
	k, err := cidParam(c)
	if err != nil {
		return err
	}
	r, ok := s.data.(remover)
	if !ok {
		return apiError(http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, "this node cannot remove data")
	}
	if err := r.Remove(c.Request().Context(), k); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// pinParam reads pin= (default true): whether what an add stores stays until removed.
func pinParam(c echo.Context) (bool, error) {
	if c.QueryParam("pin") == "" {
		return true, nil
	}
	return boolParam(c, "pin")
}

func (s *Server) hold(ctx context.Context, keep ...cid.Cid) (context.Context, func()) {
	if h, ok := s.data.(holder); ok {
		return h.Hold(ctx, keep...)
	}
	return ctx, func() {}
}

// maxEntries bounds the parts of one multipart add (see api.DirectoryType for the
// body conventions).
const maxEntries = 1 << 20

func (s *Server) addData(c echo.Context) error {
	ctx, release := s.hold(c.Request().Context())
	defer release()
	opts, err := addOptions(c)
	if err != nil {
		return err
	}
	pin, err := pinParam(c)
	if err != nil {
		return err
	}
	added := func(ctx context.Context, k cid.Cid, pin bool) error {
		if opts.OnlyHash {
			return nil // nothing was stored: nothing to pin or announce
		}
		return s.added(ctx, k, pin)
	}
	if ct := c.Request().Header.Get(echo.HeaderContentType); strings.HasPrefix(ct, echo.MIMEOctetStream) {
		// One file as the raw body: no multipart framing to scan, so large files stream
		// at the speed of the import.
		e, err := s.data.AddFile(ctx, c.Request().Body, opts)
		if err != nil {
			return err
		}
		if err := added(ctx, e.CID, pin); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.AddResponse{CID: blockstore.JobCID(e.CID), Size: e.Size})
	}
	mr, err := c.Request().MultipartReader()
	if err != nil {
		return badRequest("want a multipart/form-data body: %v", err)
	}
	var (
		top     string
		single  *blockstore.Entry
		dir     = s.data.NewDirBuilder(opts)
		entries int
	)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return badRequest("reading the multipart body: %v", err)
		}
		if entries++; entries > maxEntries {
			return badRequest("more than %d entries in one add", maxEntries)
		}
		name, err := partPath(part.Header.Get("Content-Disposition"))
		if err != nil {
			return err
		}
		first, rest, _ := strings.Cut(name, "/")
		if top == "" {
			top = first
		} else if first != top {
			return badRequest("paths %q and %q do not share one top directory", top, name)
		}
		if rest != "" && dir.Skips(rest) {
			continue // hidden, and the add did not ask for hidden files (-H)
		}
		var e blockstore.Entry
		switch part.Header.Get("Content-Type") {
		case api.DirectoryType:
			if rest != "" {
				if err := dir.Mkdir(rest); err != nil {
					return err
				}
			}
			continue
		case api.SymlinkType:
			target, err := io.ReadAll(io.LimitReader(part, blockstore.MaxSymlinkTarget+1))
			if err != nil {
				return badRequest("reading the symlink %q: %v", name, err)
			}
			if len(target) > blockstore.MaxSymlinkTarget {
				return badRequest("the target of symlink %q is longer than %d bytes", name, blockstore.MaxSymlinkTarget)
			}
			if rest != "" {
				if err := dir.AddSymlink(rest, string(target)); err != nil {
					return err
				}
				continue
			}
			if e, err = s.data.AddSymlink(ctx, string(target), opts); err != nil {
				return err
			}
		default:
			if e, err = s.data.AddFile(ctx, part, opts); err != nil {
				return err
			}
		}
		if rest == "" {
			if single != nil || entries > 1 {
				return badRequest("a file %q at the top next to other entries", name)
			}
			single = &e
			continue
		}
		if err := dir.AddFile(rest, e); err != nil {
			return err
		}
	}
	if entries == 0 {
		return badRequest("no files in the request")
	}
	if single != nil {
		if entries > 1 {
			return badRequest("a file at the top next to other entries")
		}
		if err := added(ctx, single.CID, pin); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, api.AddResponse{CID: blockstore.JobCID(single.CID), Size: single.Size})
	}
	e, err := dir.Finish(ctx)
	if err != nil {
		return err
	}
	if err := added(ctx, e.CID, pin); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.AddResponse{CID: blockstore.JobCID(e.CID), Size: e.Tsize})
}

func addOptions(c echo.Context) (blockstore.AddOptions, error) {
	var opts blockstore.AddOptions
	switch v := c.QueryParam("cid-version"); v {
	case "", "1":
		opts.CIDVersion = 1
	case "0":
		opts.CIDv0 = true
	default:
		return opts, badRequest("cid-version=%q: want 0 or 1", v)
	}
	var err error
	if opts.Hidden, err = boolParam(c, "hidden"); err != nil {
		return opts, err
	}
	if v := c.QueryParam("chunk-size"); v != "" {
		n, err := intParam(c, "chunk-size")
		if err != nil {
			return opts, err
		}
		opts.ChunkSize = n
	}
	if v := c.QueryParam("raw-leaves"); v != "" {
		raw, err := boolParam(c, "raw-leaves")
		if err != nil {
			return opts, err
		}
		opts.RawLeaves = &raw
	}
	if opts.OnlyHash, err = boolParam(c, "only-hash"); err != nil {
		return opts, err
	}
	return opts, nil
}

// partPath reads the path a part names, rejecting anything that is not a clean relative
// path.
func partPath(disposition string) (string, error) {
	_, params, err := mime.ParseMediaType(disposition)
	if err != nil {
		return "", badRequest("part has no valid Content-Disposition: %v", err)
	}
	raw := params["filename"]
	name, err := url.PathUnescape(raw)
	if err != nil {
		return "", badRequest("part filename %q is not URL-escaped properly", raw)
	}
	if name == "" {
		return "", badRequest("part has no filename")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, 0) {
			return "", badRequest("part filename %q is not a clean relative path", name)
		}
	}
	return name, nil
}

func (s *Server) importCAR(c echo.Context) error {
	ctx, release := s.hold(c.Request().Context())
	defer release()
	pin, err := pinParam(c)
	if err != nil {
		return err
	}
	roots, err := s.data.ImportCAR(ctx, c.Request().Body)
	if err != nil {
		if classify(err).Status == http.StatusInternalServerError {
			return badRequestOf(api.CodeInvalidData, "importing the CAR: %v", err)
		}
		return err
	}
	resp := api.CARResponse{Roots: make([]string, len(roots))}
	for i, r := range roots {
		resp.Roots[i] = r.String()
		if err := s.added(ctx, r, pin); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, resp)
}

func cidParam(c echo.Context) (cid.Cid, error) {
	k, err := blockstore.ParseCID(c.Param("cid"))
	if err != nil {
		return cid.Undef, badRequest("%v", err)
	}
	return k, nil
}

func (s *Server) hasData(c echo.Context) error {
	k, err := cidParam(c)
	if err != nil {
		return err
	}
	has := s.data.Has
	if l, ok := s.data.(localHaser); ok {
		has = l.HasLocal // HEAD answers at once: it never waits on the network
	}
	ok, err := has(c.Request().Context(), k)
	if err != nil {
		return err
	}
	if !ok {
		return c.NoContent(http.StatusNotFound)
	}
	return c.NoContent(http.StatusOK)
}

// getData streams a DAG as a tar archive (format=tar, the default) or a CAR (format=car).
func (s *Server) getData(c echo.Context) error {
	ctx := c.Request().Context()
	k, err := cidParam(c)
	if err != nil {
		return err
	}
	ok, err := s.data.Has(ctx, k)
	if err != nil {
		return err
	}
	if !ok {
		return apiError(http.StatusNotFound, api.CodeNotFound, "no content with CID "+k.String()+" on this node")
	}
	ctx, release := s.hold(ctx, k) // a GC must not take what is fetched before it is sent
	defer release()
	if f, ok := s.data.(fetcher); ok {
		if err := f.Fetch(ctx, k); err != nil {
			return err // before the headers: the status says it
		}
	}
	var export func(io.Writer) error
	var ctype string
	switch f := c.QueryParam("format"); f {
	case "", "tar":
		ctype, export = "application/x-tar", func(w io.Writer) error { return s.data.ExportTar(ctx, k, k.String(), w) }
	case "car":
		ctype, export = "application/vnd.ipld.car", func(w io.Writer) error { return s.data.ExportCAR(ctx, k, w) }
	default:
		return badRequest("format=%q: want tar or car", f)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, ctype)
	w.Header().Set("Trailer", api.StreamErrorTrailer)
	w.WriteHeader(http.StatusOK)
	if err := export(w); err != nil && !errors.Is(err, context.Canceled) {
		// The status is sent already: the trailer tells the client the body is cut short.
		w.Header().Set(api.StreamErrorTrailer, err.Error())
	}
	return nil
}
