package cli

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

func newData(e *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "data", Short: shortData}
	car := &cobra.Command{Use: "car", Short: "Import and export CAR files"}
	car.AddCommand(newCARExport(e), newCARImport(e))
	cmd.AddCommand(newDataAdd(e), newDataGet(e), newDataRm(e), car, newDataCat(e), newDataLs(e), newDataFetchURL(e))
	return cmd
}

func newDataAdd(e *Env) *cobra.Command {
	var (
		f      addFlags
		output string
		pin    bool
	)
	cmd := &cobra.Command{
		Use:   "add PATH... | -",
		Short: "Add files or directories (recursively), or standard input (-); prints each CID, the one `ipfs add -r --cid-version=1` prints",
		Long: `add imports files, symbolic links and directory trees, as ipfs add -r does: symlinks
are added as UnixFS symlinks (never followed), and names starting with '.' inside a
directory are skipped unless -H is given. kubo's flags -r, -Q, -q, -n, -H, -w,
--raw-leaves, --chunker size-N, --cid-version and --pin=false give kubo's CIDs.`,
		Example: `  bacalhau data add -r ./dataset/
  bacalhau data add -Q -w a.txt b.txt          # one directory holding both; only its CID
  bacalhau data add --cid-version=0 --raw-leaves --chunker size-1048576 big.bin
  cat f | bacalhau data add -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(cmd)
			if err != nil {
				return err
			}
			opts.NoPin = !pin
			if output != "" && output != outJSON && output != outYAML {
				return fmt.Errorf("--output %q: want json or yaml", output)
			}
			var results []api.AddResponse
			final := 0 // what -Q prints: as kubo, the last directory argument, else the last argument
			switch {
			case f.wrap:
				r, err := addWrapped(cmd, e, args, opts)
				if err != nil {
					return err
				}
				results = append(results, r)
			default:
				lastDir := -1
				for i, a := range args {
					if st, err := os.Stat(a); err == nil && st.IsDir() {
						lastDir = i
					}
					var r api.AddResponse
					if a == "-" {
						r, err = e.Client().AddReader(cmd.Context(), e.Stdin, opts)
					} else {
						r, err = addPath(cmd, e, a, opts)
					}
					if err != nil {
						return fmt.Errorf("%s: %w", a, err)
					}
					results = append(results, r)
				}
				final = len(results) - 1
				if lastDir >= 0 {
					final = lastDir
				}
			}
			if f.quieter {
				results = results[final : final+1]
			}
			if output != "" {
				if len(results) == 1 {
					return PrintData(e.Stdout, output, results[0])
				}
				return PrintData(e.Stdout, output, results)
			}
			if f.recursive && !f.quieter {
				lines, err := kuboLines(cmd, e, args, results, f.wrap, opts.OnlyHash)
				if err != nil {
					return err
				}
				for _, l := range lines {
					if f.quiet {
						fmt.Fprintln(e.Stdout, l.cid)
					} else {
						// As kubo: the -w wrapper's line ends in a space (its name is empty).
						fmt.Fprintln(e.Stdout, "added "+l.cid+" "+l.name)
					}
				}
				return nil
			}
			for _, r := range results {
				fmt.Fprintln(e.Stdout, r.CID.String())
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&pin, "pin", true, "keep it until `bacalhau data rm`; with --pin=false a garbage collection may delete it")
	cmd.Flags().StringVar(&output, "output", "", "json or yaml for machine-readable output")
	return cmd
}

// addPath uploads a host file, symlink or directory tree, as `ipfs add -r` reads it:
// symlinks are sent as symlinks and hidden names inside the tree are left out unless
// opts.Hidden.
func addPath(cmd *cobra.Command, e *Env, p string, opts api.AddOptions) (api.AddResponse, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return api.AddResponse{}, err
	}
	if st.Mode().IsRegular() {
		f, err := os.Open(p)
		if err != nil {
			return api.AddResponse{}, err
		}
		defer f.Close()
		return e.Client().AddFile(cmd.Context(), f, opts)
	}
	entries, err := walkEntries(p, opts.Hidden)
	if err != nil {
		return api.AddResponse{}, err
	}
	return e.Client().Add(cmd.Context(), entries, opts)
}

// walkEntries lists the upload entries of a host file, symlink or directory tree, the
// top named by its base name.
func walkEntries(p string, hidden bool) ([]api.UploadEntry, error) {
	top := filepath.Base(filepath.Clean(p))
	var entries []api.UploadEntry
	err := filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(p, fp)
		if err != nil {
			return err
		}
		name := top
		if rel != "." {
			name = top + "/" + filepath.ToSlash(rel)
			if !hidden && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(fp)
			if err != nil {
				return err
			}
			entries = append(entries, api.UploadEntry{Path: name, Symlink: target})
		case d.IsDir():
			entries = append(entries, api.UploadEntry{Path: name, Dir: true})
		case d.Type().IsRegular():
			entries = append(entries, fileEntry(name, fp))
		default:
			return fmt.Errorf("%s: only regular files, directories and symlinks can be added", fp)
		}
		return nil
	})
	return entries, err
}

func fileEntry(name, hostPath string) api.UploadEntry {
	return api.UploadEntry{Path: name, Open: func() (io.ReadCloser, error) { return os.Open(hostPath) }}
}

func newDataGet(e *Env) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "get CID",
		Short: "Download a file or directory by CID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := job.ParseCID(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				out = c.String()
			}
			return download(cmd, e, c.String(), out)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write it (default: the CID, in the current directory)")
	return cmd
}

// download fetches a DAG as tar and writes its top entry at dst.
func download(cmd *cobra.Command, e *Env, cid, dst string) error {
	return e.Client().Download(cmd.Context(), cid, "tar", func(r io.Reader) error {
		return extractTar(r, cid, dst)
	})
}

// extractTar writes the tar entries named top or top/... at dst, refusing anything
// that would land outside dst.
func extractTar(r io.Reader, top, dst string) error {
	tr := tar.NewReader(r)
	seen := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			if !seen {
				return errors.New("the download was empty")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the download: %w", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		rel := ""
		switch {
		case name == top:
		case strings.HasPrefix(name, top+"/"):
			rel = name[len(top)+1:]
		default:
			return fmt.Errorf("unexpected entry %q in the download", h.Name)
		}
		if rel != "" && (!fs.ValidPath(rel) || strings.Contains(rel, "\\")) {
			return fmt.Errorf("refusing entry %q: not a clean relative path", h.Name)
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		seen = true
		if err := noLinkOnPath(dst, rel); err != nil {
			return fmt.Errorf("refusing entry %q: %w", h.Name, err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			// As ipfs get: the link as it is, never followed here (noLinkOnPath keeps
			// later entries from being written through it).
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := writeFile(target, tr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("refusing entry %q of type %c", h.Name, h.Typeflag)
		}
	}
}

// noLinkOnPath fails if a directory on the way from dst to rel is a symlink: an entry
// must never be written through a link an earlier entry made.
func noLinkOnPath(dst, rel string) error {
	if rel == "" {
		return nil
	}
	parts := strings.Split(rel, "/")
	p := dst
	for i := 0; i < len(parts); i++ {
		if i > 0 {
			p = filepath.Join(p, parts[i-1])
		}
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("it would be written through the symlink %s", p)
		}
	}
	return nil
}

// writeFile writes a download's file at p, never through a symlink already there (one
// an earlier entry made: on a case-insensitive file system "A" and "a" are one name).
func writeFile(p string, r io.Reader) error {
	if st, err := os.Lstat(p); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("refusing to write %s through the symlink there", p)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|oNoFollow, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newCARExport(e *Env) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export CID",
		Short: "Write the DAG under CID as a CARv1 file (like `ipfs dag export`)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := job.ParseCID(args[0])
			if err != nil {
				return err
			}
			w := e.Stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			return e.Client().Download(cmd.Context(), c.String(), "car", func(r io.Reader) error {
				_, err := io.Copy(w, r)
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (default: standard output)")
	return cmd
}

func newCARImport(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "import [FILE.car | -]",
		Short: "Import the blocks of a CAR file (standard input without FILE or with -, like `ipfs dag import`); prints its roots",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = e.Stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			roots, err := e.Client().ImportCAR(cmd.Context(), r)
			if err != nil {
				return err
			}
			for _, r := range roots {
				fmt.Fprintln(e.Stdout, r)
			}
			return nil
		},
	}
}

func newDataRm(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "rm CID...",
		Short: "Remove what you added: the node no longer keeps it, and its next garbage collection frees it",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				c, err := job.ParseCID(a)
				if err != nil {
					return err
				}
				if err := e.Client().Remove(cmd.Context(), c.String()); err != nil {
					return fmt.Errorf("%s: %w", c, err)
				}
				fmt.Fprintf(e.Stdout, "removed %s\n", c)
			}
			return nil
		},
	}
}
