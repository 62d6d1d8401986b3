package cli

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// addFlags are kubo's `ipfs add` flags that `data add` takes.
type addFlags struct {
	cidVersion int
	hidden     bool
	recursive  bool
	quiet      bool
	quieter    bool
	onlyHash   bool
	wrap       bool
	rawLeaves  bool
	chunker    string
}

// maxChunkSize is kubo's largest chunk (chunker.ChunkSizeLimit).
const maxChunkSize = 1 << 20

func (f *addFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.cidVersion, "cid-version", 1, "CID version: 1 (raw leaves) or 0 (kubo's default profile)")
	fl.BoolVarP(&f.hidden, "hidden", "H", false, "include files and directories whose name starts with '.'")
	fl.BoolVarP(&f.recursive, "recursive", "r", false, "print kubo's lines, `added CID PATH` for every file and directory (directories are always added recursively)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "with -r, print only the CIDs of those lines")
	fl.BoolVarP(&f.quieter, "quieter", "Q", false, "print only the final CID (the wrapping directory's with -w, else the last argument's)")
	fl.BoolVarP(&f.onlyHash, "only-hash", "n", false, "compute the CIDs without storing anything")
	fl.BoolVarP(&f.wrap, "wrap-with-directory", "w", false, "wrap the arguments in one directory, named by their base names")
	fl.BoolVar(&f.rawLeaves, "raw-leaves", false, "raw leaves (default: true with --cid-version=1, false with 0, as kubo)")
	fl.StringVar(&f.chunker, "chunker", "size-262144", "chunking: size-N, fixed chunks of N bytes (at most 1 MiB)")
}

func (f *addFlags) options(cmd *cobra.Command) (api.AddOptions, error) {
	var opts api.AddOptions
	if f.cidVersion != 0 && f.cidVersion != 1 {
		return opts, fmt.Errorf("--cid-version %d: want 0 or 1", f.cidVersion)
	}
	opts.CIDVersion = f.cidVersion
	opts.Hidden = f.hidden
	opts.OnlyHash = f.onlyHash
	if cmd.Flags().Changed("raw-leaves") {
		raw := f.rawLeaves
		opts.RawLeaves = &raw
	}
	n, err := parseChunker(f.chunker)
	if err != nil {
		return opts, err
	}
	if n != 262144 {
		opts.ChunkSize = n
	}
	return opts, nil
}

// parseChunker reads kubo's --chunker value; only fixed-size chunking is supported.
func parseChunker(s string) (int, error) {
	v, ok := strings.CutPrefix(s, "size-")
	if !ok {
		if strings.HasPrefix(s, "rabin") || strings.HasPrefix(s, "buzhash") {
			return 0, fmt.Errorf("--chunker %s: only fixed-size chunking (size-N) is supported", s)
		}
		return 0, fmt.Errorf("--chunker %q: want size-N, e.g. size-1048576", s)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxChunkSize {
		return 0, fmt.Errorf("--chunker %s: want size-N with N from 1 to %d bytes", s, maxChunkSize)
	}
	return n, nil
}

// addWrapped adds the paths as entries of one directory, as `ipfs add -w`.
func addWrapped(cmd *cobra.Command, e *Env, paths []string, opts api.AddOptions) (api.AddResponse, error) {
	const top = "wrap"
	entries := []api.UploadEntry{{Path: top, Dir: true}}
	seen := map[string]bool{}
	for _, p := range paths {
		if p == "-" {
			return api.AddResponse{}, fmt.Errorf("-w cannot wrap standard input: it has no name (add it alone, or from a file)")
		}
		sub, err := walkEntries(p, opts.Hidden)
		if err != nil {
			return api.AddResponse{}, err
		}
		name := sub[0].Path
		if seen[name] {
			return api.AddResponse{}, fmt.Errorf("-w: two arguments are named %s", name)
		}
		seen[name] = true
		for _, s := range sub {
			s.Path = top + "/" + s.Path
			entries = append(entries, s)
		}
	}
	return e.Client().Add(cmd.Context(), entries, opts)
}

func newDataCat(e *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "cat CID[/path]",
		Short: "Print a file's bytes, as `ipfs cat`",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, sub, err := cidPath(args[0])
			if err != nil {
				return err
			}
			return e.Client().Cat(cmd.Context(), c, sub, func(r io.Reader) error {
				_, err := io.Copy(e.Stdout, r)
				return err
			})
		},
	}
}

func newDataLs(e *Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "ls CID[/path]",
		Short: "List a directory's entries: CID, size and name (directories end in /), as `ipfs ls` prints them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != outJSON && output != outYAML {
				return fmt.Errorf("--output %q: want json or yaml", output)
			}
			c, sub, err := cidPath(args[0])
			if err != nil {
				return err
			}
			ls, err := e.Client().Ls(cmd.Context(), c, sub)
			if err != nil {
				return err
			}
			if output != "" {
				return PrintData(e.Stdout, output, ls.Entries)
			}
			rows := make([][]string, 0, len(ls.Entries))
			for _, en := range ls.Entries {
				name, size := en.Name, strconv.FormatUint(en.Size, 10)
				if en.Type == "directory" {
					name, size = name+"/", "-"
				}
				rows = append(rows, []string{en.CID, size, name})
			}
			return table(e.Stdout, nil, rows, true)
		},
	}
	cmd.Flags().StringVar(&output, "output", "", "json or yaml for machine-readable output")
	return cmd
}

// cidPath splits CID[/path] (also /ipfs/CID/path or ipfs://CID/path).
func cidPath(s string) (string, string, error) {
	raw := strings.TrimPrefix(strings.TrimPrefix(s, "ipfs://"), "/ipfs/")
	c, sub, _ := strings.Cut(raw, "/")
	k, err := job.ParseCID(c)
	if err != nil {
		return "", "", err
	}
	sub = strings.Trim(sub, "/")
	if sub != "" && !fs.ValidPath(sub) {
		return "", "", fmt.Errorf("%q: the path inside the CID is not clean", s)
	}
	return k.String(), sub, nil
}

// kuboLine is one line of `ipfs add -r`'s output: a CID and the path it was added as.
type kuboLine struct{ cid, name string }

// kuboLines lists what `ipfs add -r` prints for the arguments added as results: every
// file, in the order of the walk (by name, depth first), then every directory, each
// after the directories inside it; with -w the wrapping directory last, without a name.
// Standard input is named by its CID, as kubo names it. The directories are read back
// from the node (one listing each); with -n nothing was stored to read, so only the
// arguments are listed.
func kuboLines(cmd *cobra.Command, e *Env, args []string, results []api.AddResponse, wrap, onlyHash bool) ([]kuboLine, error) {
	var files, dirs []kuboLine
	var walk func(c, name string) error
	walk = func(c, name string) error {
		ls, err := e.Client().Ls(cmd.Context(), c, "")
		if err != nil {
			return fmt.Errorf("listing %s (%s): %w", name, c, err)
		}
		for _, en := range ls.Entries {
			p := en.Name
			if name != "" {
				p = name + "/" + en.Name
			}
			if en.Type == "directory" {
				if err := walk(en.CID, p); err != nil {
					return err
				}
				continue
			}
			files = append(files, kuboLine{en.CID, p})
		}
		dirs = append(dirs, kuboLine{c, name})
		return nil
	}
	if wrap {
		if onlyHash {
			fmt.Fprintln(e.Stderr, "Note: with -n nothing is stored, so the files inside are not listed")
			return []kuboLine{{results[0].CID.String(), ""}}, nil
		}
		if err := walk(results[0].CID.String(), ""); err != nil {
			return nil, err
		}
		return append(files, dirs...), nil
	}
	for i, a := range args {
		name := filepath.Base(filepath.Clean(a))
		if a == "-" {
			files = append(files, kuboLine{results[i].CID.String(), results[i].CID.String()})
			continue
		}
		st, err := os.Lstat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, kuboLine{results[i].CID.String(), name})
			continue
		}
		if onlyHash {
			if i == 0 {
				fmt.Fprintln(e.Stderr, "Note: with -n nothing is stored, so the files inside directories are not listed")
			}
			dirs = append(dirs, kuboLine{results[i].CID.String(), name})
			continue
		}
		if err := walk(results[i].CID.String(), name); err != nil {
			return nil, err
		}
	}
	return append(files, dirs...), nil
}
