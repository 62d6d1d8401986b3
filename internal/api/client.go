package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/bacalhau-project/bacalhau-wasm/internal/httpc"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Client calls a node's API. Its zero value is not usable; use NewClient.
type Client struct {
	base string
	hc   *httpc.Client
}

// NewClient returns a client for the node at base, e.g. "http://127.0.0.1:1234".
func NewClient(base string) *Client {
	return &Client{base: base, hc: &httpc.Client{}}
}

// IsNotFound reports whether err is a 404 from the node: no such job or content, or no
// such route.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 404
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, ctype string) (*httpc.Response, error) {
	req := &httpc.Request{Method: method, URL: c.base + path, Body: body, ContentLength: -1}
	if ctype != "" {
		req.Header = httpc.Header{"Content-Type": {ctype}}
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	return c.send(ctx, req)
}

func (c *Client) send(ctx context.Context, req *httpc.Request) (*httpc.Response, error) {
	path, _, _ := strings.Cut(strings.TrimPrefix(req.URL, c.base), "?")
	resp, err := c.hc.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the node at %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, decodeError(resp.StatusCode, b, fmt.Sprintf("%s %s: %s", req.Method, path, resp.Status))
	}
	return resp, nil
}

// decodeError turns an error response into an *Error. A body that is not an Error (a
// proxy's page) becomes the message after what; a body without a code (a node before
// codes, a HEAD) gets the code of its status.
func decodeError(status int, body []byte, what string) *Error {
	var e Error
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		e = Error{Message: strings.TrimSpace(fmt.Sprintf("%s %s", what, bytes.TrimSpace(body)))}
	}
	if !validCode(e.Code) {
		e.Code = CodeOfStatus(status)
	}
	e.Status = status
	return &e
}

// validCode accepts what a code looks like: snake_case of at most 64 bytes.
func validCode(c string) bool {
	if c == "" || len(c) > 64 {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, method, path, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding the node's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// Node describes the node the client talks to.
func (c *Client) Node(ctx context.Context) (NodeInfo, error) {
	var info NodeInfo
	return info, c.doJSON(ctx, "GET", "/api/v1/node", nil, &info)
}

// Nodes lists every node the node knows of, itself included.
func (c *Client) Nodes(ctx context.Context) ([]PeerStatus, error) {
	var ps []PeerStatus
	return ps, c.doJSON(ctx, "GET", "/api/v1/nodes", nil, &ps)
}

// Health checks that the node answers.
func (c *Client) Health(ctx context.Context) error {
	return c.doJSON(ctx, "GET", "/api/v1/health", nil, nil)
}

// Submit submits a job.
func (c *Client) Submit(ctx context.Context, spec job.Spec) (*job.Job, error) {
	var j job.Job
	return &j, c.doJSON(ctx, "POST", "/api/v1/jobs", SubmitRequest{Spec: spec}, &j)
}

// Get describes a job by ID or prefix.
func (c *Client) Get(ctx context.Context, id string) (*job.Job, error) {
	var j job.Job
	return &j, c.doJSON(ctx, "GET", "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id string) (*job.Job, error) {
	var j job.Job
	return &j, c.doJSON(ctx, "POST", "/api/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, &j)
}

// List lists jobs.
func (c *Client) List(ctx context.Context, q ListQuery) (ListPage, error) {
	v := url.Values{}
	if q.IDPrefix != "" {
		v.Set("id_filter", q.IDPrefix)
	}
	if q.SortBy != "" {
		v.Set("sort_by", q.SortBy)
	}
	if q.Reverse {
		v.Set("reverse", "true")
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset != 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Labels != "" {
		v.Set("labels", q.Labels)
	}
	for _, s := range q.States {
		if v.Has("state") {
			v.Set("state", v.Get("state")+","+string(s))
		} else {
			v.Set("state", string(s))
		}
	}
	var p ListPage
	return p, c.doJSON(ctx, "GET", "/api/v1/jobs?"+v.Encode(), nil, &p)
}

// Watch calls fn with each new state of the job until it is terminal or fn returns
// false; it returns the last state seen.
func (c *Client) Watch(ctx context.Context, id string, fn func(*job.Job) bool) (*job.Job, error) {
	resp, err := c.do(ctx, "GET", "/api/v1/jobs/"+url.PathEscape(id)+"/wait", nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	var last *job.Job
	for {
		var j job.Job
		if err := dec.Decode(&j); err != nil {
			if msg := streamError(resp); msg != "" {
				return last, fmt.Errorf("following job %s: the node stopped: %s", id, msg)
			}
			if err == io.EOF && last != nil {
				return last, nil
			}
			return last, fmt.Errorf("following job %s: %w", id, err)
		}
		last = &j
		if !fn(&j) || j.State.Terminal() {
			return last, nil
		}
	}
}

// Logs calls fn with each chunk of the job's output.
func (c *Client) Logs(ctx context.Context, id string, follow bool, fn func(LogChunk) error) error {
	resp, err := c.do(ctx, "GET", "/api/v1/jobs/"+url.PathEscape(id)+"/logs?follow="+strconv.FormatBool(follow), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ch LogChunk
		if err := dec.Decode(&ch); err == io.EOF {
			if msg := streamError(resp); msg != "" {
				return fmt.Errorf("reading logs of %s: %s", id, msg)
			}
			return nil
		} else if err != nil {
			return fmt.Errorf("reading logs of %s: %w", id, err)
		}
		if err := fn(ch); err != nil {
			return err
		}
	}
}

// AddFile uploads one file as the raw request body and returns its CID.
func (c *Client) AddFile(ctx context.Context, f *os.File, opts AddOptions) (AddResponse, error) {
	var out AddResponse
	st, err := f.Stat()
	if err != nil {
		return out, err
	}
	req := &httpc.Request{Method: "POST", URL: c.base + "/api/v1/data?" + opts.query(), Body: f,
		ContentLength: st.Size(), // a sized body of an *os.File goes out with sendfile
		Header:        httpc.Header{"Content-Type": {"application/octet-stream"}}}
	resp, err := c.send(ctx, req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// AddReader uploads one file read from r (standard input, say) as the raw request
// body, of a length not known beforehand, and returns its CID.
func (c *Client) AddReader(ctx context.Context, r io.Reader, opts AddOptions) (AddResponse, error) {
	var out AddResponse
	resp, err := c.do(ctx, "POST", "/api/v1/data?"+opts.query(), r, "application/octet-stream")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// UploadEntry is one part of an upload: a file (Open set), a directory (Dir) or a
// symbolic link (Symlink, its target).
type UploadEntry struct {
	Path    string // slash-separated, relative; the first element is the top
	Dir     bool
	Symlink string
	Open    func() (io.ReadCloser, error)
}

// AddOptions choose the DAG of an upload, as `ipfs add` flags do.
type AddOptions struct {
	CIDVersion int   // 0 or 1
	Hidden     bool  // keep names starting with '.' inside directories (-H)
	NoPin      bool  // do not keep it until removed (--pin=false): a GC may delete it
	ChunkSize  int   // fixed chunk size in bytes (--chunker size-N); 0 is kubo's 262144
	RawLeaves  *bool // override the profile's leaf format (--raw-leaves)
	OnlyHash   bool  // compute the CID, store nothing (-n)
}

func (o AddOptions) query() string {
	q := "cid-version=" + strconv.Itoa(o.CIDVersion)
	if o.Hidden {
		q += "&hidden=true"
	}
	if o.NoPin {
		q += "&pin=false"
	}
	if o.ChunkSize != 0 {
		q += "&chunk-size=" + strconv.Itoa(o.ChunkSize)
	}
	if o.RawLeaves != nil {
		q += "&raw-leaves=" + strconv.FormatBool(*o.RawLeaves)
	}
	if o.OnlyHash {
		q += "&only-hash=true"
	}
	return q
}

// Add uploads files, directories and symlinks (see the part conventions of POST
// /api/v1/data) and returns the root CID.
func (c *Client) Add(ctx context.Context, entries []UploadEntry, opts AddOptions) (AddResponse, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeParts(mw, entries))
	}()
	var out AddResponse
	resp, err := c.do(ctx, "POST", "/api/v1/data?"+opts.query(), pr, mw.FormDataContentType())
	pr.Close()
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

func writeParts(mw *multipart.Writer, entries []UploadEntry) error {
	for _, e := range entries {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, url.PathEscape(e.Path)))
		switch {
		case e.Dir:
			h.Set("Content-Type", DirectoryType)
		case e.Symlink != "":
			h.Set("Content-Type", SymlinkType)
		default:
			h.Set("Content-Type", "application/octet-stream")
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if e.Dir {
			continue
		}
		if e.Symlink != "" {
			if _, err := io.WriteString(w, e.Symlink); err != nil {
				return err
			}
			continue
		}
		f, err := e.Open()
		if err != nil {
			return err
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

// Has reports whether the node holds the root block of c.
func (c *Client) Has(ctx context.Context, cid string) (bool, error) {
	resp, err := c.do(ctx, "HEAD", "/api/v1/data/"+url.PathEscape(cid), nil, "")
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// Download streams a DAG as "tar" or "car" into fn; it fails if the node reports an
// error part way through.
func (c *Client) Download(ctx context.Context, cid, format string, fn func(io.Reader) error) error {
	resp, err := c.do(ctx, "GET", "/api/v1/data/"+url.PathEscape(cid)+"?format="+url.QueryEscape(format), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = fn(resp.Body)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	// A download cut short by the node fails fn too (a truncated tar): the node's own
	// error, which names what is missing, says more.
	if msg := streamError(resp); msg != "" {
		return fmt.Errorf("the node stopped sending %s part way: %s", cid, msg)
	}
	return err
}

// streamError is the error a node reported in the trailer of a stream, once the body
// has been read to its end; "" if none.
func streamError(resp *httpc.Response) string {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.Trailer.Get(StreamErrorTrailer)
}

// ImportCAR uploads a CAR stream and returns its roots.
func (c *Client) ImportCAR(ctx context.Context, r io.Reader) ([]string, error) {
	resp, err := c.do(ctx, "POST", "/api/v1/data/car", r, "application/vnd.ipld.car")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out CARResponse
	return out.Roots, json.NewDecoder(resp.Body).Decode(&out)
}

// RepoStat measures the node's repository.
func (c *Client) RepoStat(ctx context.Context) (RepoStat, error) {
	var st RepoStat
	return st, c.doJSON(ctx, "GET", "/api/v1/repo/stat", nil, &st)
}

// GC has the node collect its repository's garbage now.
func (c *Client) GC(ctx context.Context) (GCResult, error) {
	var r GCResult
	return r, c.doJSON(ctx, "POST", "/api/v1/repo/gc", nil, &r)
}

// Remove unpins a DAG added to the node: a garbage collection may then delete it.
func (c *Client) Remove(ctx context.Context, cid string) error {
	resp, err := c.do(ctx, "DELETE", "/api/v1/data/"+url.PathEscape(cid), nil, "")
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Cat calls fn with the bytes of the file at sub (slash-separated, "" for the root)
// inside the DAG under cid.
func (c *Client) Cat(ctx context.Context, cid, sub string, fn func(io.Reader) error) error {
	resp, err := c.do(ctx, "GET", "/api/v1/data/"+url.PathEscape(cid)+"/cat?path="+url.QueryEscape(sub), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := fn(resp.Body); err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body) // to the end, where the trailer is
	if msg := streamError(resp); msg != "" {
		return fmt.Errorf("reading %s: %s", cid, msg)
	}
	return nil
}

// Ls lists the directory at sub inside the DAG under cid.
func (c *Client) Ls(ctx context.Context, cid, sub string) (LsResponse, error) {
	var out LsResponse
	return out, c.doJSON(ctx, "GET", "/api/v1/data/"+url.PathEscape(cid)+"/ls?path="+url.QueryEscape(sub), nil, &out)
}
