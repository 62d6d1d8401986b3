package job

import (
	"slices"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
)

// FunctionMode says how a function's requests get an instance of its module.
type FunctionMode string

const (
	// ModeFresh runs every request in a new instance (CGI): the default.
	ModeFresh FunctionMode = "fresh"
	// ModePooled keeps instances initialised and hands them request after request.
	ModePooled FunctionMode = "pooled"
)

// Bounds and defaults of a Function.
const (
	MaxFunctionName           = 63
	DefaultFunctionTimeout    = 30 * time.Second
	MaxFunctionTimeout        = 15 * time.Minute
	DefaultFunctionMemory     = 64 << 20
	DefaultFunctionConcurrent = 32
	MaxFunctionConcurrent     = 1024
	DefaultFunctionMaxBody    = 8 << 20
	MaxFunctionMaxBody        = 256 << 20
	DefaultFunctionPoolSize   = 4
	MaxFunctionPoolSize       = 256
	DefaultFunctionRecycle    = 10000
)

// Function is a name bound to a module CID, its inputs, limits, environment and mode:
// what `bacalhau fn deploy` publishes and every node serves under /fn/<name>/.
type Function struct {
	Name    string            `json:"name"`
	Module  cidtext.CID       `json:"module"` // of the .wasm bytes
	Inputs  []Input           `json:"inputs,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Timeout Duration          `json:"timeout,omitempty"` // per request
	Memory  uint64            `json:"memory,omitempty"`  // per instance, bytes
	// Concurrency is how many requests of this function one node runs at once.
	Concurrency int          `json:"concurrency,omitempty"`
	MaxBody     uint64       `json:"maxBody,omitempty"` // request body bytes
	Mode        FunctionMode `json:"mode,omitempty"`
	// Engine is the WASM engine the function runs on: EngineWasm (wazero, the
	// default) or EngineWasmtime. A node that does not offer it does not serve it.
	Engine Engine `json:"engine,omitempty"`
	// PoolSize bounds the live instances of a pooled function on one node; Recycle is
	// how many requests one serves before it is replaced.
	PoolSize int `json:"poolSize,omitempty"`
	Recycle  int `json:"recycle,omitempty"`
	// Routes are paths of the trigger listener the function answers besides
	// /fn/<name>/ (see ValidRoute); a route is one function's at a time.
	Routes []string `json:"routes,omitempty"`

	// Version orders deploys and deletes of one name across the network: the record
	// with the highest (Version, Deployer) wins. Set by the node that takes the deploy.
	Version  int64     `json:"version,omitempty"`
	Deployer string    `json:"deployer,omitempty"` // node ID
	Deployed time.Time `json:"deployed,omitzero"`
	Deleted  bool      `json:"deleted,omitempty"` // a tombstone: the name is gone
}

// EngineOf is the engine f runs on: records from before functions named one run on
// wazero.
func (f *Function) EngineOf() Engine {
	if f.Engine == "" {
		return EngineWasm
	}
	return f.Engine
}

// Normalize fills defaults. Validate after it.
func (f *Function) Normalize() {
	f.Inputs = slices.Clone(f.Inputs)
	f.Routes = slices.Clone(f.Routes)
	for i, r := range f.Routes {
		f.Routes[i] = CleanRoute(r)
	}
	for i := range f.Inputs {
		if f.Inputs[i].Target == "" {
			f.Inputs[i].Target = DefaultInputsPath
		}
	}
	if f.Timeout == 0 {
		f.Timeout = Duration(DefaultFunctionTimeout)
	}
	if f.Memory == 0 {
		f.Memory = DefaultFunctionMemory
	}
	if f.Concurrency == 0 {
		f.Concurrency = DefaultFunctionConcurrent
	}
	if f.MaxBody == 0 {
		f.MaxBody = DefaultFunctionMaxBody
	}
	if f.Mode == "" {
		f.Mode = ModeFresh
	}
	if f.Engine == "" {
		f.Engine = EngineWasm
	}
	if f.PoolSize == 0 {
		f.PoolSize = min(DefaultFunctionPoolSize, f.Concurrency)
	}
	if f.Recycle == 0 {
		f.Recycle = DefaultFunctionRecycle
	}
}

// ValidFunctionName reports whether s can name a function: 1 to 63 lowercase letters,
// digits and '-', starting with a letter or digit (a DNS label, so it fits in a URL path
// and a host name alike).
func ValidFunctionName(s string) error {
	if s == "" || len(s) > MaxFunctionName {
		return invalid("function name %q: want 1 to %d characters", truncateName(s), MaxFunctionName)
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0
		if !ok {
			return invalid("function name %q: want lowercase letters, digits and '-' (not first)", truncateName(s))
		}
	}
	return nil
}

func truncateName(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Validate reports the first problem with f, wrapping ErrInvalid. A tombstone needs
// only its name.
func (f *Function) Validate() error {
	if err := ValidFunctionName(f.Name); err != nil {
		return err
	}
	if f.Version < 0 || len(f.Deployer) > 128 {
		return invalid("function %s: bad version or deployer", f.Name)
	}
	if f.Deleted {
		return nil
	}
	if !f.Module.Defined() {
		return invalid("function %s: module: empty CID", f.Name)
	}
	if e := f.Engine; e != "" && e != EngineWasm && e != EngineWasmtime {
		return invalid("function %s: engine %q: want %q (wazero) or %q", f.Name, truncateName(string(e)), EngineWasm, EngineWasmtime)
	}
	if len(f.Inputs) > maxInputs {
		return invalid("function %s: %d inputs, at most %d allowed", f.Name, len(f.Inputs), maxInputs)
	}
	targets := map[string]bool{}
	for _, in := range f.Inputs {
		if err := in.validate(); err != nil {
			return err
		}
		if targets[in.Target] {
			return invalid("function %s: two inputs are mounted at %s", f.Name, in.Target)
		}
		targets[in.Target] = true
	}
	if len(f.Env) > maxEnv {
		return invalid("function %s: %d environment variables, at most %d allowed", f.Name, len(f.Env), maxEnv)
	}
	for k, v := range f.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) || len(k)+len(v) > maxArgBytes {
			return invalid("function %s: environment variable %q: want NAME=value without NUL", f.Name, truncateName(k))
		}
	}
	if t := time.Duration(f.Timeout); t <= 0 || t > MaxFunctionTimeout {
		return invalid("function %s: timeout %s is out of range (up to %s)", f.Name, t, MaxFunctionTimeout)
	}
	if f.Memory < MinMemory || f.Memory > MaxMemory {
		return invalid("function %s: memory %s is out of range (%s to %s)", f.Name, FormatBytes(f.Memory), FormatBytes(MinMemory), FormatBytes(MaxMemory))
	}
	if f.Concurrency < 1 || f.Concurrency > MaxFunctionConcurrent {
		return invalid("function %s: concurrency %d is out of range (1 to %d)", f.Name, f.Concurrency, MaxFunctionConcurrent)
	}
	if f.MaxBody < 1 || f.MaxBody > MaxFunctionMaxBody {
		return invalid("function %s: max body %s is out of range (1 B to %s)", f.Name, FormatBytes(f.MaxBody), FormatBytes(MaxFunctionMaxBody))
	}
	switch f.Mode {
	case ModeFresh, ModePooled:
	default:
		return invalid("function %s: mode %q: want fresh or pooled", f.Name, truncateName(string(f.Mode)))
	}
	if f.PoolSize < 1 || f.PoolSize > MaxFunctionPoolSize {
		return invalid("function %s: pool size %d is out of range (1 to %d)", f.Name, f.PoolSize, MaxFunctionPoolSize)
	}
	if f.Recycle < 1 {
		return invalid("function %s: recycle after %d requests: want at least 1", f.Name, f.Recycle)
	}
	return f.validateRoutes()
}

// Newer reports whether f supersedes g, a record of the same name.
func (f *Function) Newer(g *Function) bool {
	if f.Version != g.Version {
		return f.Version > g.Version
	}
	return f.Deployer > g.Deployer
}
