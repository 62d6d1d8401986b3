package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path"
	"strconv"
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
	if GetURL == nil {
		return fetchURLWithNode(cmd, e, u, f)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	rc, length, err := GetURL(ctx, u)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return cidtext.CID{}, fmt.Errorf("input %s: no answer within %s (--url-timeout)", u, f.timeout)
		}
		return cidtext.CID{}, fmt.Errorf("input %s: %w", u, err)
	}
	defer rc.Close()
	if length > int64(max) {
		return cidtext.CID{}, fmt.Errorf("input %s is %s, over the limit of %s (--url-max-size)", u, job.FormatBytes(uint64(length)), job.FormatBytes(max))
	}
	name := urlFileName(u)
	body := &limitedReader{r: rc, left: int64(max)}
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

// GetURL starts the download of a URL input: the body, and its length or -1. A status
// other than 200 is an error. bacalhau-node sets it (internal/cli/nodecmd), on net/http;
// the light client leaves it nil and hands each download to bacalhau-node (the hidden
// `data fetch-url`), so that it does not link TLS, whose initialisation alone was a
// sixth of its start.
var GetURL func(ctx context.Context, u string) (io.ReadCloser, int64, error)

// fetchURLWithNode is fetchURL in a bacalhau-node child process, which prints the CID.
func fetchURLWithNode(cmd *cobra.Command, e *Env, u string, f urlFlags) (cidtext.CID, error) {
	path, err := findNode()
	if err != nil {
		return cidtext.CID{}, fmt.Errorf("input %s: downloading needs TLS, which %w", u, err)
	}
	c := exec.CommandContext(cmd.Context(), path, "--api-host", e.APIHost, "--api-port", strconv.Itoa(e.APIPort),
		"data", "fetch-url", "--url-max-size", f.maxSize, "--url-timeout", f.timeout.String(), "--", u)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &cappedBuffer{b: &out, left: 4096}, e.Stderr
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cidtext.CID{}, ExitCode(ee.ExitCode()) // it said why on stderr
	}
	if err != nil {
		return cidtext.CID{}, fmt.Errorf("input %s: running %s: %w", u, path, err)
	}
	got, err := cidtext.Parse(strings.TrimSpace(out.String()))
	if err != nil {
		return cidtext.CID{}, fmt.Errorf("input %s: %s printed no CID: %w", u, path, err)
	}
	return got, nil
}

// cappedBuffer keeps the first left bytes written to it.
type cappedBuffer struct {
	b    *bytes.Buffer
	left int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	n := min(len(p), c.left)
	c.b.Write(p[:n])
	c.left -= n
	return len(p), nil
}

// newDataFetchURL is `data fetch-url URL`, hidden: what the light client runs in
// bacalhau-node to download a URL input and add it to the node. It prints the CID.
func newDataFetchURL(e *Env) *cobra.Command {
	var f urlFlags
	cmd := &cobra.Command{
		Use:    "fetch-url URL",
		Short:  "Download a URL input and add it to the node, printing its CID (used by bacalhau for URL inputs)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if GetURL == nil {
				return errors.New("this program cannot download URLs: run it with " + NodeBinary)
			}
			if err := jobspec.CheckURL(args[0]); err != nil {
				return err
			}
			c, err := fetchURL(cmd, e, args[0], f)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.Stdout, c)
			return nil
		},
	}
	f.add(cmd)
	return cmd
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
