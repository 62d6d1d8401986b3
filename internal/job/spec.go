package job

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/wasi"
)

// Engine names the executor a task runs on.
type Engine string

const (
	EngineWasm   Engine = "wasm"
	EngineDocker Engine = "docker"
	// EngineWasmtime runs a WASM task (Spec.Wasm) on wasmtime: faster than wazero
	// (EngineWasm), but its runs are not reproducible, so it cannot be verified.
	EngineWasmtime Engine = "wasmtime"
)

// Reproducible reports whether e's runs give the same result CID on every node, which
// verification (Spec.Verify > 1) needs.
func (e Engine) Reproducible() bool { return e != EngineWasmtime }

// JoinEngines joins the names of es with sep.
func JoinEngines(es []Engine, sep string) string {
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = string(e)
	}
	return strings.Join(names, sep)
}

// WellFormed reports whether e could name an engine: 1 to 32 lower-case letters,
// digits and dashes. A spec must name an engine this version knows (see Validate);
// a peer may offer engines it does not.
func (e Engine) WellFormed() bool {
	if len(e) == 0 || len(e) > 32 {
		return false
	}
	for _, c := range []byte(e) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Limits and defaults a spec is held to. They are generous on purpose: a node's own
// policy (its capacity) may be tighter, and says so when it refuses a job.
const (
	DefaultTimeout     = 30 * time.Minute
	MaxTimeout         = 24 * time.Hour
	DefaultMemory      = 256 << 20 // bytes
	MaxMemory          = 4 << 30   // wasm32 cannot address more
	MinMemory          = 64 << 10  // one WebAssembly page
	DefaultOutputsPath = wasi.OutputsTarget
	// DefaultEntryPoint is the function a WASM task calls when it names none: a WASI
	// command's.
	DefaultEntryPoint = wasi.DefaultEntryPoint
	// DefaultQueueTimeout is how long a job may wait for a node to take it (pending with
	// no execution under way, counted over all such spells) before it fails. Long enough
	// for a node to restart or a new one to join; short enough that a job no node can
	// run (a typo in a selector, more memory than any node offers) ends with its reason
	// within minutes instead of leaving `wasm run` waiting for hours.
	DefaultQueueTimeout = 10 * time.Minute
	MaxQueueTimeout     = 24 * time.Hour
	// DefaultOutputsLimit bounds what a job may write under /outputs when its spec does
	// not say; the guest gets ENOSPC past it.
	DefaultOutputsLimit = 1 << 30 // bytes
	MaxOutputsLimit     = 1 << 40 // bytes; a node's own maximum is usually lower
	DefaultInputsPath   = "/inputs"
	maxArgs             = 1024
	maxArgBytes         = 64 << 10
	maxEnv              = 256
	maxInputs           = 64
	MaxVerify           = 16
	maxSelector         = 32
	// MaxJobLabels bounds a job's labels.
	MaxJobLabels = 64
)

// ErrInvalid is wrapped by every validation error, so callers can map it to a 4xx.
var ErrInvalid = errors.New("job: invalid spec")

// Spec is what a user asks for. Tasks for different engines are distinct types: exactly
// one of Wasm or Docker is set, and Engine says which.
type Spec struct {
	Engine  Engine            `json:"engine"`
	Wasm    *WasmTask         `json:"wasm,omitempty"`
	Docker  *DockerTask       `json:"docker,omitempty"`
	Inputs  []Input           `json:"inputs,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Timeout Duration          `json:"timeout,omitempty"`
	Memory  uint64            `json:"memory,omitempty"` // bytes
	// Verify is how many distinct nodes run the job; with more than one the job
	// completes only if their result CIDs agree. 0 means 1.
	Verify int `json:"verify,omitempty"`
	// Selector holds labels a node must carry (key=value) to run the job.
	Selector map[string]string `json:"selector,omitempty"`
	// Labels are the user's own key=value tags of the job (upstream's job Labels):
	// `list --labels` selects jobs by them; they do not change how or where it runs.
	Labels map[string]string `json:"labels,omitempty"`
	// QueueTimeout is how long the job may wait for nodes to take it, in all: the
	// time it is pending with no execution under way, including after it went back
	// to pending. 0 means DefaultQueueTimeout.
	QueueTimeout Duration `json:"queueTimeout,omitempty"`
	// OutputsLimit bounds the bytes the job may write under /outputs. 0 means
	// DefaultOutputsLimit.
	OutputsLimit uint64 `json:"outputsLimit,omitempty"`
}

// WasmTask runs a WASI module held in IPFS.
type WasmTask struct {
	Module     cidtext.CID `json:"module"` // of the .wasm bytes
	EntryPoint string      `json:"entryPoint,omitempty"`
	Args       []string    `json:"args,omitempty"`
}

// DockerTask runs an OCI image on the Docker engine.
type DockerTask struct {
	Image      string   `json:"image"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Args       []string `json:"args,omitempty"`
	// WorkingDir is the directory the command starts in; "" is the image's.
	WorkingDir string `json:"workingDir,omitempty"`
	// CPU is the CPU limit in thousandths of a core (500 is half a core); 0 is none.
	CPU int64 `json:"cpu,omitempty"`
	// Network is NetworkNone (the default, also "") or NetworkFull.
	Network string `json:"network,omitempty"`
	// GPU is how many GPUs the container needs; a node without them does not take it.
	GPU int `json:"gpu,omitempty"`
}

// Networks a Docker task may ask for.
const (
	NetworkNone = "none"
	NetworkFull = "full"
	// MinDockerMemory is the least memory the Docker engine accepts for a container.
	MinDockerMemory = 6 << 20
	maxCPU          = 1024 * 1000
	maxGPU          = 64
)

// Input mounts an IPFS DAG (or a path inside it) at Target in the guest: read-only, or,
// with Writable, as a copy-on-write directory whose changes are discarded after the run.
// Target may be "/": the input is then the guest's root, under the other mounts.
type Input struct {
	CID    cidtext.CID `json:"cid"`
	Path   string      `json:"path,omitempty"` // inside the DAG, optional
	Target string      `json:"target"`
	// Writable lets the guest change the mount (-i ipfs://CID:/data:rw): unchanged
	// files are still read lazily from the DAG, what the guest writes goes to scratch
	// space counted against the outputs limit, and none of it is in the result.
	Writable bool `json:"writable,omitempty"`
}

// Normalize fills defaults: input targets, timeouts, memory, outputs limit. Validate after it. It
// copies what it changes behind a pointer or in a slice, so that specs sharing them
// (one spec submitted many times at once) stay as they were.
func (s *Spec) Normalize() {
	s.Inputs = slices.Clone(s.Inputs)
	if s.Wasm != nil {
		w := *s.Wasm
		s.Wasm = &w
	}
	if s.Docker != nil {
		d := *s.Docker
		if d.Network == "" {
			d.Network = NetworkNone
		}
		s.Docker = &d
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultTimeout)
	}
	if s.Memory == 0 {
		s.Memory = DefaultMemory
	}
	if s.QueueTimeout == 0 {
		s.QueueTimeout = Duration(DefaultQueueTimeout)
	}
	if s.OutputsLimit == 0 {
		s.OutputsLimit = DefaultOutputsLimit
	}
	for i := range s.Inputs {
		if s.Inputs[i].Target == "" {
			s.Inputs[i].Target = DefaultInputsPath
		}
	}
	if s.Verify == 0 {
		s.Verify = 1
	}
	if s.Wasm != nil && s.Wasm.EntryPoint == "" {
		s.Wasm.EntryPoint = DefaultEntryPoint
	}
}

// EffectiveQueueTimeout is the spec's queue timeout, DefaultQueueTimeout where it is 0
// (a spec that was not normalized).
func (s *Spec) EffectiveQueueTimeout() time.Duration {
	if s.QueueTimeout == 0 {
		return DefaultQueueTimeout
	}
	return time.Duration(s.QueueTimeout)
}

// Module is the CID of the module the task runs, or the zero CID for a task that names
// none (a Docker task names an image). With the inputs, it is the content a node must
// hold to run the task.
func (s *Spec) Module() cidtext.CID {
	if s.Wasm != nil {
		return s.Wasm.Module
	}
	return cidtext.CID{}
}

// EffectiveMemory is the spec's memory limit, DefaultMemory where it is 0.
func (s *Spec) EffectiveMemory() uint64 {
	if s.Memory == 0 {
		return DefaultMemory
	}
	return s.Memory
}

// EffectiveOutputsLimit is the spec's outputs limit, DefaultOutputsLimit where it is 0.
func (s *Spec) EffectiveOutputsLimit() uint64 {
	if s.OutputsLimit == 0 {
		return DefaultOutputsLimit
	}
	return s.OutputsLimit
}

// Validate reports the first thing wrong with the spec, in words a user understands.
func (s *Spec) Validate() error {
	switch s.Engine {
	case EngineWasm, EngineWasmtime:
		if s.Wasm == nil {
			return invalid("engine is %s but no wasm task is given", s.Engine)
		}
		if s.Docker != nil {
			return invalid("a wasm job cannot also carry a docker task")
		}
		if err := s.Wasm.validate(); err != nil {
			return err
		}
	case EngineDocker:
		if s.Docker == nil {
			return invalid("engine is docker but no docker task is given")
		}
		if s.Wasm != nil {
			return invalid("a docker job cannot also carry a wasm task")
		}
		if err := s.Docker.validate(); err != nil {
			return err
		}
		if s.Memory != 0 && s.Memory < MinDockerMemory {
			return invalid("memory %d bytes is below the minimum of %s for a container", s.Memory, FormatBytes(MinDockerMemory))
		}
		for _, in := range s.Inputs {
			if in.Target == RootTarget {
				return invalid("a docker job cannot mount an input at /: the image is the container's root (mount it at a directory, e.g. /data)")
			}
		}
	case "":
		return invalid("no engine given (want %q, %q or %q)", EngineWasm, EngineWasmtime, EngineDocker)
	default:
		return invalid("unknown engine %q (want %q, %q or %q)", s.Engine, EngineWasm, EngineWasmtime, EngineDocker)
	}
	if s.Verify > 1 && !s.Engine.Reproducible() {
		return invalid("verify %d needs results that every node reproduces; the %s engine's are not: use the wasm engine (wazero)", s.Verify, s.Engine)
	}
	if t := time.Duration(s.Timeout); t < 0 || t > MaxTimeout {
		return invalid("timeout %s is out of range (0 to %s)", t, MaxTimeout)
	}
	if s.Memory > MaxMemory {
		return invalid("memory %d bytes is over the limit of %s", s.Memory, FormatBytes(MaxMemory))
	}
	if s.Memory != 0 && s.Memory < MinMemory {
		return invalid("memory %d bytes is below the minimum of %s (one WebAssembly page)", s.Memory, FormatBytes(MinMemory))
	}
	if t := time.Duration(s.QueueTimeout); t < 0 || t > MaxQueueTimeout {
		return invalid("queue timeout %s is out of range (0 to %s)", t, MaxQueueTimeout)
	}
	if s.OutputsLimit > MaxOutputsLimit {
		return invalid("outputs limit %d bytes is over the limit of %s", s.OutputsLimit, FormatBytes(MaxOutputsLimit))
	}
	if len(s.Env) > maxEnv {
		return invalid("%d environment variables, at most %d allowed", len(s.Env), maxEnv)
	}
	for k, v := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return invalid("environment variable name %q must be non-empty and hold no '=' or NUL", k)
		}
		if strings.ContainsRune(v, 0) {
			return invalid("environment variable %s holds a NUL byte", k)
		}
	}
	if s.Verify < 0 || s.Verify > MaxVerify {
		return invalid("verify %d is out of range (1 to %d nodes)", s.Verify, MaxVerify)
	}
	if len(s.Selector) > maxSelector {
		return invalid("%d selector labels, at most %d allowed", len(s.Selector), maxSelector)
	}
	for k, v := range s.Selector {
		if err := ValidateLabel(k, v); err != nil {
			return invalid("selector: %v", err)
		}
	}
	if len(s.Labels) > MaxJobLabels {
		return invalid("%d labels, at most %d allowed", len(s.Labels), MaxJobLabels)
	}
	for k, v := range s.Labels {
		if err := ValidateJobLabel(k, v); err != nil {
			return invalid("labels: %v", err)
		}
	}
	if len(s.Inputs) > maxInputs {
		return invalid("%d inputs, at most %d allowed", len(s.Inputs), maxInputs)
	}
	seen := map[string]bool{}
	for _, in := range s.Inputs {
		if err := in.validate(); err != nil {
			return err
		}
		if seen[in.Target] {
			return invalid("two inputs are mounted at %s", in.Target)
		}
		seen[in.Target] = true
	}
	targets := make([]string, 0, len(seen))
	for t := range seen {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for i := 1; i < len(targets); i++ {
		if targets[i-1] != RootTarget && strings.HasPrefix(targets[i], targets[i-1]+"/") {
			return invalid("input %s is nested inside input %s", targets[i], targets[i-1])
		}
	}
	return nil
}

func (w *WasmTask) validate() error {
	if !w.Module.Defined() {
		return invalid("no wasm module given")
	}
	if w.EntryPoint != "" && !validExportName(w.EntryPoint) {
		return invalid("entry point %q is not a valid export name", w.EntryPoint)
	}
	return validateArgs(w.Args)
}

func (d *DockerTask) validate() error {
	if d.Image == "" || strings.ContainsAny(d.Image, " \t\n\x00") {
		return invalid("docker image %q is not a valid image reference", d.Image)
	}
	if len(d.Image) > 512 {
		return invalid("docker image name of %d bytes is too long", len(d.Image))
	}
	if err := validateArgs(d.Entrypoint); err != nil {
		return err
	}
	if d.WorkingDir != "" && (!strings.HasPrefix(d.WorkingDir, "/") || strings.ContainsRune(d.WorkingDir, 0) || len(d.WorkingDir) > 4096) {
		return invalid("working directory %q must be an absolute path like /work", d.WorkingDir)
	}
	if d.CPU < 0 || d.CPU > maxCPU {
		return invalid("cpu %dm is out of range (0 to %d cores)", d.CPU, maxCPU/1000)
	}
	if d.Network != "" && d.Network != NetworkNone && d.Network != NetworkFull {
		return invalid("network %q: want %q or %q", d.Network, NetworkNone, NetworkFull)
	}
	if d.GPU < 0 || d.GPU > maxGPU {
		return invalid("gpu %d is out of range (0 to %d)", d.GPU, maxGPU)
	}
	return validateArgs(d.Args)
}

func validateArgs(args []string) error {
	if len(args) > maxArgs {
		return invalid("%d arguments, at most %d allowed", len(args), maxArgs)
	}
	n := 0
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return invalid("argument %q holds a NUL byte", a)
		}
		n += len(a)
	}
	if n > maxArgBytes {
		return invalid("arguments total %d bytes, at most %d allowed", n, maxArgBytes)
	}
	return nil
}

func (in Input) validate() error {
	if !in.CID.Defined() {
		return invalid("input: empty CID")
	}
	if in.Path != "" {
		if err := checkDAGPath(in.Path); err != nil {
			return invalid("input %s: %v", in.CID, err)
		}
	}
	return ValidateTarget(in.Target)
}

// RootTarget mounts an input as the guest's root directory; /outputs and the other
// inputs are mounted over it.
const RootTarget = wasi.RootTarget

// ValidateTarget checks a mount point inside the guest: absolute, already clean, and not
// /outputs or anything under or above it (the root, RootTarget, excepted: every other
// mount is over it).
func ValidateTarget(t string) error {
	switch {
	case t == "":
		return invalid("input has no mount target")
	case !strings.HasPrefix(t, "/"):
		return invalid("mount target %q must be an absolute path like /inputs", t)
	case strings.ContainsRune(t, 0):
		return invalid("mount target %q holds a NUL byte", t)
	case path.Clean(t) != t:
		return invalid("mount target %q is not a clean path (no '..', '.', '//' or trailing '/'): did you mean %q?", t, path.Clean(t))
	case t == RootTarget:
		return nil
	case t == DefaultOutputsPath || strings.HasPrefix(t, DefaultOutputsPath+"/") || strings.HasPrefix(DefaultOutputsPath, t+"/"):
		return invalid("mount target %q collides with the writable %s", t, DefaultOutputsPath)
	}
	return nil
}

func checkDAGPath(p string) error {
	for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, 0) {
			return fmt.Errorf("path %q inside the DAG has a bad segment %q", p, seg)
		}
	}
	return nil
}

func validExportName(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// ParseCID decodes a CID given by a user, with or without an ipfs:// or /ipfs/ prefix.
// The model holds CIDs parsed (cidtext.CID, read from JSON by its UnmarshalText): parse
// once where text comes in, and let the node's packages turn the result into go-cid's
// type with blockstore.Key.
func ParseCID(s string) (cidtext.CID, error) { return cidtext.Parse(s) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
