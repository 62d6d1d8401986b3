package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/jobspec"
)

// URL inputs are downloaded by the client, added to the node as a directory holding
// the one file (named as the URL's last path element, as upstream's urlDownload names
// it), and the job names that directory by CID: the job stays reproducible whatever the
// URL serves later.

// urlFlags bound a download.
type urlFlags struct {
	maxSize string
	timeout time.Duration
}

const (
	defaultURLMaxSize = "1GiB"
	defaultURLTimeout = 5 * time.Minute
)

func (f *urlFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.maxSize, "url-max-size", defaultURLMaxSize, "largest download a URL input may be")
	cmd.Flags().DurationVar(&f.timeout, "url-timeout", defaultURLTimeout, "longest a URL input may take to download")
}

// parseURLInput reads an -i value naming a URL: https://host/file[:/target] or
// source=https://host/file[,target=/target] (src= and dst= too). ok is false for a
// value that names no URL (a CID: job.ParseInput reads it).
func parseURLInput(s string) (u, target string, ok bool, err error) {
	target = job.DefaultInputsPath
	if strings.HasPrefix(s, "src=") || strings.HasPrefix(s, "source=") || strings.HasPrefix(s, "dst=") || strings.HasPrefix(s, "target=") {
		var src string
		for _, kv := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "src", "source":
				src = v
			case "dst", "target":
				target = v
			default:
				if src != "" && isURL(src) {
					return "", "", true, fmt.Errorf("input %q: unknown key %q (want source= and target=; a URL with a comma must be given in the short form URL:/target)", s, k)
				}
			}
		}
		if !isURL(src) {
			return "", "", false, nil
		}
		u = src
	} else {
		if !isURL(s) {
			return "", "", false, nil
		}
		u = s
		scheme := strings.Index(s, "://") + 3
		if i := strings.LastIndex(s, ":/"); i > scheme && !strings.HasPrefix(s[i+1:], "//") {
			u, target = s[:i], s[i+1:]
		}
	}
	if err := jobspec.CheckURL(u); err != nil {
		return "", "", true, fmt.Errorf("input: %v", err)
	}
	if target == "" {
		target = job.DefaultInputsPath
	}
	if err := job.ValidateTarget(target); err != nil {
		return "", "", true, err
	}
	return u, target, true, nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// errTooLarge is what a download past --url-max-size fails with.
var errTooLarge = errors.New("too large")

// fetchURL downloads u, bounded by f, and adds it to the node; it returns the CID of
// the directory holding it.
func fetchURL(cmd *cobra.Command, e *Env, u string, f urlFlags) (cidtext.CID, error) {
	max, err := job.ParseBytes(f.maxSize)
	if err != nil {
		return cidtext.CID{}, fmt.Errorf("--url-max-size: %w", err)
	}
	if f.timeout <= 0 {
		return cidtext.CID{}, fmt.Errorf("--url-timeout %s: want a positive duration", f.timeout)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return cidtext.CID{}, fmt.Errorf("input %s: %w", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return cidtext.CID{}, fmt.Errorf("input %s: no answer within %s (--url-timeout)", u, f.timeout)
		}
		return cidtext.CID{}, fmt.Errorf("input %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return cidtext.CID{}, fmt.Errorf("input %s: the server answered %s", u, resp.Status)
	}
	if resp.ContentLength > int64(max) {
		return cidtext.CID{}, fmt.Errorf("input %s is %s, over the limit of %s (--url-max-size)", u, job.FormatBytes(uint64(resp.ContentLength)), job.FormatBytes(max))
	}
	name := urlFileName(u)
	body := &limitedReader{r: resp.Body, left: int64(max)}
	entries := []api.UploadEntry{
		{Path: "download", Dir: true},
		{Path: "download/" + name, Open: func() (io.ReadCloser, error) { return io.NopCloser(body), nil }},
	}
	fmt.Fprintf(e.Stderr, "Downloading %s\n", u)
	r, err := e.Client().Add(ctx, entries, api.AddOptions{CIDVersion: 1})
	switch {
	case body.over:
		return cidtext.CID{}, fmt.Errorf("input %s is over the limit of %s (--url-max-size)", u, job.FormatBytes(max))
	case err != nil && ctx.Err() == context.DeadlineExceeded:
		return cidtext.CID{}, fmt.Errorf("input %s: not downloaded within %s (--url-timeout)", u, f.timeout)
	case err != nil:
		return cidtext.CID{}, fmt.Errorf("input %s: %w", u, err)
	}
	fmt.Fprintf(e.Stderr, "  added as %s (%s at /%s)\n", r.CID, job.FormatBytes(r.Size), name)
	return r.CID, nil
}

// urlFileName is the name a download gets: the URL's last path element, or "download".
func urlFileName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "download"
	}
	name := path.Base(p.Path)
	if name == "" || name == "." || name == "/" || name == ".." || strings.HasPrefix(name, ".") {
		return "download"
	}
	return name
}

// limitedReader fails a read past its budget.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		l.over = true
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return 0, errTooLarge
	}
	return n, err
}

// resolveURLs downloads the URL inputs of a decoded spec and fills in their CIDs.
func resolveURLs(cmd *cobra.Command, e *Env, d *jobspec.Decoded, f urlFlags) error {
	for _, in := range d.URLInputs {
		c, err := fetchURL(cmd, e, in.URL, f)
		if err != nil {
			return err
		}
		d.Spec.Inputs[in.Index].CID = c
	}
	d.URLInputs = nil
	return nil
}
