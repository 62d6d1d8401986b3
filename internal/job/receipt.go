package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

// ReceiptDomain starts the bytes a receipt signature covers, so that a signature made
// for a receipt can never be passed off as one made for anything else.
const ReceiptDomain = "bacalhau-wasm/receipt/1\n"

// Receipt is a compute node's signed statement of what it ran and what came out. It is
// checkable offline: the node ID is a libp2p peer ID that embeds its public key.
type Receipt struct {
	JobID       string    `json:"jobId"`
	ExecutionID string    `json:"executionId"`
	Module      string    `json:"module"`     // module CID
	Inputs      []string  `json:"inputs"`     // input CIDs (with paths) in spec order
	SpecDigest  string    `json:"specDigest"` // TaskDigest of the spec
	ResultCID   string    `json:"resultCid"`
	ExitCode    int       `json:"exitCode"`
	Node        string    `json:"node"` // peer ID of the signer
	Time        time.Time `json:"time"`
	Signature   []byte    `json:"signature,omitempty"`
}

// SigningBytes is what the signature covers: the domain and the receipt without its
// signature, as JSON (Go's encoder writes fields in a fixed order).
func (r *Receipt) SigningBytes() []byte {
	c := *r
	c.Signature = nil
	b, _ := json.Marshal(c) // cannot fail: plain strings, ints and a time
	return append([]byte(ReceiptDomain), b...)
}

// NewReceipt fills the fields that follow from the job, leaving Node, Time and Signature.
// The receipt holds the result CID as text, as the execution prints it.
func NewReceipt(j *Job, executionID string, result cidtext.CID, exitCode int) *Receipt {
	r := &Receipt{JobID: j.ID, ExecutionID: executionID, ResultCID: result.String(), ExitCode: exitCode, SpecDigest: TaskDigest(j.Spec)}
	if j.Spec.Wasm != nil {
		r.Module = j.Spec.Wasm.Module.String()
	}
	r.Inputs = InputRefs(j.Spec)
	return r
}

// InputRefs lists a spec's inputs as CID[/path] strings, in spec order.
func InputRefs(s Spec) []string {
	refs := make([]string, 0, len(s.Inputs))
	for _, in := range s.Inputs {
		ref := in.CID.String()
		if in.Path != "" {
			ref += "/" + in.Path
		}
		refs = append(refs, ref+":"+in.Target)
	}
	return refs
}

// TaskDigest is the SHA-256 (hex) of everything besides module and inputs (which a
// receipt binds by CID) that decides a result: the engine, the task of that engine
// (entry point and args; image, entrypoint and args), env (sorted) and memory limit.
// A WASM task's digest is the one receipts have carried since the first release.
func TaskDigest(s Spec) string {
	type kv struct{ K, V string }
	d := struct {
		Engine     Engine
		EntryPoint string
		Args       []string
		Env        []kv
		Memory     uint64
		Docker     *DockerTask `json:",omitempty"`
	}{Engine: s.Engine, Memory: s.Memory, Docker: s.Docker}
	if s.Wasm != nil {
		d.EntryPoint, d.Args = s.Wasm.EntryPoint, s.Wasm.Args
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		d.Env = append(d.Env, kv{k, s.Env[k]})
	}
	b, _ := json.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
