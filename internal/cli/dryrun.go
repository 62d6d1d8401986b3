package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore/filecid"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/jobspec"
)

// checkPublisher accepts upstream's -p/--publisher values: results are always in IPFS
// here.
func checkPublisher(p string) error {
	switch strings.ToLower(p) {
	case "", "ipfs":
		return nil
	case "s3", "local", "noop", "estuary", "filecoin":
		return fmt.Errorf("--publisher %s: not supported; results are always stored in IPFS on the node that ran the job (drop -p, or use -p ipfs; `bacalhau get` downloads them)", p)
	}
	return fmt.Errorf("--publisher %q: unknown publisher (only ipfs, the default)", p)
}

// dryRun prints the spec a run would submit, as a v1 job spec `bacalhau job run`
// takes, and submits nothing. A module given as a file is named by the CID it would
// get; URL inputs are named by their URL, as they are downloaded only on submission.
func dryRun(e *Env, d *jobspec.Decoded, module string) error {
	if module != "" {
		if f, err := os.Open(module); err == nil {
			c, _, err := filecid.Sum(f, 0)
			f.Close()
			if err != nil {
				return fmt.Errorf("reading %s: %w", module, err)
			}
			d.Spec.Wasm.Module = c
			fmt.Fprintf(e.Stderr, "Note: %s is not uploaded by --dry-run; `bacalhau data add %s` before submitting this spec\n", module, module)
		} else {
			c, err := job.ParseCID(module)
			if err != nil {
				return fmt.Errorf("%s is neither a file nor a CID", module)
			}
			d.Spec.Wasm.Module = c
		}
	}
	if err := validateOffline(d); err != nil {
		return err
	}
	v1 := jobspec.FromSpec(d.Spec)
	for _, u := range d.URLInputs {
		in := &v1.Tasks[0].InputSources[u.Index]
		in.Source = &jobspec.SpecConfig{Type: jobspec.SourceURL, Params: map[string]any{"URL": u.URL}}
	}
	b, err := jobspec.EncodeYAML(v1)
	if err != nil {
		return err
	}
	_, err = e.Stdout.Write(b)
	return err
}

// validateOffline validates the spec as the node would, leaving out the URL inputs not
// downloaded yet.
func validateOffline(d *jobspec.Decoded) error {
	check := d.Spec
	check.Inputs = nil
	for i, in := range d.Spec.Inputs {
		if !slices.ContainsFunc(d.URLInputs, func(u jobspec.URLInput) bool { return u.Index == i }) {
			check.Inputs = append(check.Inputs, in)
		}
	}
	check.Normalize()
	return check.Validate()
}
