package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// upstreamFlag is a flag of upstream Bacalhau's CLI (v1.x) that this one does not have.
// It is accepted by the parser, hidden from help, and refused with what to use instead,
// so a user's habit gets an answer rather than "unknown flag".
type upstreamFlag struct {
	name    string
	short   string // "" when upstream has none or ours uses the letter
	boolean bool   // takes no value
	instead string
}

// Upstream's flags, by what they are about; a command takes the ones upstream's has.
var (
	flagConcurrency  = upstreamFlag{name: "concurrency", instead: "a job runs once; --verify N runs it on N distinct nodes and compares their result CIDs"}
	flagTarget       = upstreamFlag{name: "target", instead: "a job runs on one node (--verify N: on N nodes); there is no --target all"}
	flagConstraints  = upstreamFlag{name: "constraints", instead: "use -s/--selector key=value (equality only)"}
	flagNodeDetails  = upstreamFlag{name: "node-details", boolean: true, instead: "`bacalhau describe JOB_ID` names the node that ran the job; `bacalhau node list` lists nodes"}
	flagFollow       = upstreamFlag{name: "follow", short: "f", boolean: true, instead: "run waits and prints the result by default; follow a job's output with `bacalhau logs -f JOB_ID`"}
	flagTemplateVars = upstreamFlag{name: "template-vars", short: "V", instead: "job specs are not templates here: write the values into the spec"}
	flagTemplateEnvs = upstreamFlag{name: "template-envs", short: "E", instead: "job specs are not templates here: write the values into the spec"}
	flagNoTemplate   = upstreamFlag{name: "no-template", boolean: true, instead: "job specs are never templated here: drop the flag"}
	flagDomain       = upstreamFlag{name: "domain", instead: "jobs have no network access by domain; docker run --network full opens the network (a node may refuse it)"}
	flagDisk         = upstreamFlag{name: "disk", instead: "use --outputs-limit, what the job may write under /outputs"}
	flagWaitSecs     = upstreamFlag{name: "wait-timeout-secs", instead: "use --wait-timeout with a duration (e.g. 10m)"}
	flagDownload     = upstreamFlag{name: "download", boolean: true, instead: "fetch the result with `bacalhau get JOB_ID --output-dir DIR` after the run"}
	flagRaw          = upstreamFlag{name: "raw", boolean: true, instead: "`bacalhau get` writes the result as it is (outputs/, stdout, stderr, exitCode)"}
	flagIPFSConnect  = upstreamFlag{name: "ipfs-connect", instead: "the node is an IPFS peer itself; connect it to kubo with `bacalhau serve --ipfs-peer MULTIADDR`"}
	flagIPFSSwarm    = upstreamFlag{name: "ipfs-swarm-addrs", instead: "the node is an IPFS peer itself; connect it to kubo with `bacalhau serve --ipfs-peer MULTIADDR`"}
	flagIPFSServe    = upstreamFlag{name: "ipfs-serve-path", instead: "the node is an IPFS peer itself: drop the flag"}
	flagDownloadSecs = upstreamFlag{name: "download-timeout-secs", instead: "downloads are bounded by the node's --fetch-timeout; Ctrl-C stops one"}
	flagPriority     = upstreamFlag{name: "priority", instead: "jobs run first come, first served here"}
	flagNamespace    = upstreamFlag{name: "namespace", instead: "every job is in the default namespace here"}
	flagImportURLs   = upstreamFlag{name: "import-module-urls", short: "U", instead: "link the module into one .wasm (import modules are not supported)"}
	flagImportVols   = upstreamFlag{name: "import-module-volumes", short: "I", instead: "link the module into one .wasm (import modules are not supported)"}
	flagOutputVolume = upstreamFlag{name: "output-volumes", short: "o", instead: "everything the job writes under /outputs is its result; there are no other output volumes"}
	flagShowWarnings = upstreamFlag{name: "show-warnings", boolean: true, instead: "notes about a spec are always printed on stderr"}
	flagNextToken    = upstreamFlag{name: "next-token", instead: "use --offset N to skip N jobs"}
	flagOrderBy      = upstreamFlag{name: "order-by", instead: "use --sort-by created_at|id"}
	flagOrderRev     = upstreamFlag{name: "order-reversed", boolean: true, instead: "use --reverse (newest first, the default) or --reverse=false"}
	flagLimit        = upstreamFlag{name: "limit", instead: "use -n/--number N"}
	flagIncludeEvts  = upstreamFlag{name: "include-events", boolean: true, instead: "describe always prints the job's history"}
	flagPretty       = upstreamFlag{name: "pretty", boolean: true, instead: "--output json is indented already"}
	flagNoStyle      = upstreamFlag{name: "no-style", boolean: true, instead: "tables are plain text: drop the flag"}
)

// runUpstreamFlags are the flags upstream's `docker run` and `wasm run` have and ours do not.
var runUpstreamFlags = []upstreamFlag{flagConcurrency, flagTarget, flagConstraints, flagNodeDetails, flagFollow,
	flagTemplateVars, flagTemplateEnvs, flagNoTemplate, flagDomain, flagDisk, flagWaitSecs, flagDownload, flagRaw,
	flagIPFSConnect, flagIPFSSwarm, flagIPFSServe, flagDownloadSecs, flagPriority, flagNamespace, flagOutputVolume}

// refuseUpstreamFlags adds flags as hidden flags of cmd, each refused with its message
// when given. A flag whose name or letter cmd has already keeps cmd's meaning.
func refuseUpstreamFlags(cmd *cobra.Command, flags ...upstreamFlag) {
	fl := cmd.Flags()
	var added []upstreamFlag
	for _, f := range flags {
		if fl.Lookup(f.name) != nil {
			continue
		}
		short := f.short
		if short != "" && fl.ShorthandLookup(short) != nil {
			short = ""
		}
		flag := fl.VarPF(&refusedValue{boolean: f.boolean}, f.name, short, f.instead)
		if f.boolean {
			flag.NoOptDefVal = "true"
		}
		_ = fl.MarkHidden(f.name)
		added = append(added, f)
	}
	run := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		for _, f := range added {
			if cmd.Flags().Changed(f.name) {
				return fmt.Errorf("--%s is a flag of upstream Bacalhau that this bacalhau does not have: %s", f.name, f.instead)
			}
		}
		return run(cmd, args)
	}
}

// checkInputScheme refuses an -i of a storage upstream has and this project does not
// (s3://, file://, git://...), saying what to do instead, before it could be misread as
// a CID.
func checkInputScheme(s string) error {
	v := s
	for _, part := range strings.Split(s, ",") {
		if k, val, ok := strings.Cut(part, "="); ok && (k == "src" || k == "source") {
			v = val
		}
	}
	i := strings.Index(v, "://")
	if i <= 0 {
		return nil
	}
	switch scheme := strings.ToLower(v[:i]); scheme {
	case "ipfs", "http", "https":
		return nil
	default:
		return fmt.Errorf("--input %s: %s inputs are not supported here; an input is IPFS content (add the data with `bacalhau data add` and give its CID, or ipfs://CID) or an http(s) URL, which the CLI downloads and adds", s, scheme)
	}
}

// refusedValue is the value of an upstream flag: it takes what it is given and keeps
// nothing, since the flag is refused once given. (pflag's own string-array value formats
// its default through encoding/csv, which made these hidden flags cost more of the
// client's start than every other flag together.)
type refusedValue struct{ boolean bool }

func (v *refusedValue) String() string {
	if v.boolean {
		return "false"
	}
	return ""
}

func (v *refusedValue) Set(string) error { return nil }

func (v *refusedValue) Type() string {
	if v.boolean {
		return "bool"
	}
	return "string"
}
