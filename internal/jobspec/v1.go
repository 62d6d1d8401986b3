package jobspec

// The v1 job shape, with upstream's field names (PascalCase). Read-only fields (ID,
// State, Version, Revision, CreateTime, ModifyTime) are written by FromJob and ignored
// by Decode, so that a described job can be submitted again.

// Job is a v1 job.
type Job struct {
	Type        string            `json:"Type"`
	ID          string            `json:"ID,omitempty"`
	Name        string            `json:"Name,omitempty"`
	Namespace   string            `json:"Namespace,omitempty"`
	Priority    int               `json:"Priority,omitempty"`
	Count       int               `json:"Count,omitempty"`
	Constraints []Constraint      `json:"Constraints,omitempty"`
	Meta        map[string]string `json:"Meta,omitempty"`
	Labels      map[string]string `json:"Labels,omitempty"`
	Tasks       []Task            `json:"Tasks"`
	State       *State            `json:"State,omitempty"`
	Version     uint64            `json:"Version,omitempty"`
	Revision    uint64            `json:"Revision,omitempty"`
	CreateTime  int64             `json:"CreateTime,omitempty"`
	ModifyTime  int64             `json:"ModifyTime,omitempty"`
}

// State is a v1 job's state, as upstream reports it.
type State struct {
	StateType string `json:"StateType"`
	Message   string `json:"Message,omitempty"`
}

// Constraint is a label selector requirement; only "=" (or "==") with one value maps to
// a node selector here.
type Constraint struct {
	Key      string   `json:"Key"`
	Operator string   `json:"Operator"`
	Values   []string `json:"Values,omitempty"`
}

// Task is a v1 task; a job here has exactly one.
type Task struct {
	Name         string            `json:"Name,omitempty"`
	Engine       *SpecConfig       `json:"Engine"`
	Publisher    *SpecConfig       `json:"Publisher,omitempty"`
	Env          map[string]string `json:"Env,omitempty"`
	Meta         map[string]string `json:"Meta,omitempty"`
	InputSources []InputSource     `json:"InputSources,omitempty"`
	ResultPaths  []ResultPath      `json:"ResultPaths,omitempty"`
	Resources    *Resources        `json:"Resources,omitempty"`
	Network      *Network          `json:"Network,omitempty"`
	Timeouts     *Timeouts         `json:"Timeouts,omitempty"`
}

// SpecConfig is a typed bag of parameters: an engine, a publisher or a source.
type SpecConfig struct {
	Type   string         `json:"Type"`
	Params map[string]any `json:"Params,omitempty"`
}

// InputSource mounts a source at Target.
type InputSource struct {
	Source *SpecConfig `json:"Source"`
	Alias  string      `json:"Alias,omitempty"`
	Target string      `json:"Target,omitempty"`
}

// ResultPath names a path whose content is published; only /outputs is collected here.
type ResultPath struct {
	Name string `json:"Name,omitempty"`
	Path string `json:"Path"`
}

// Resources a task asks for. Memory is the guest's memory limit; Disk bounds what it
// may write under /outputs; CPU and GPU are not scheduled on.
type Resources struct {
	CPU    string `json:"CPU,omitempty"`
	Memory string `json:"Memory,omitempty"`
	Disk   string `json:"Disk,omitempty"`
	GPU    string `json:"GPU,omitempty"`
}

// Network is what network a task may use: none, here.
type Network struct {
	Type    string   `json:"Type,omitempty"`
	Domains []string `json:"Domains,omitempty"`
}

// Timeouts in seconds.
type Timeouts struct {
	ExecutionTimeout int64 `json:"ExecutionTimeout,omitempty"`
	QueueTimeout     int64 `json:"QueueTimeout,omitempty"`
	TotalTimeout     int64 `json:"TotalTimeout,omitempty"`
}

// wasmParams are the Params of a wasm engine. EntryModule is an InputSource or, as a
// shorthand, a CID.
type wasmParams struct {
	EntryModule          any               `json:"EntryModule"`
	Entrypoint           string            `json:"Entrypoint,omitempty"`
	Parameters           []string          `json:"Parameters,omitempty"`
	EnvironmentVariables map[string]string `json:"EnvironmentVariables,omitempty"`
	ImportModules        []InputSource     `json:"ImportModules,omitempty"`
}

// dockerParams are the Params of a docker engine.
type dockerParams struct {
	Image                string   `json:"Image"`
	Entrypoint           []string `json:"Entrypoint,omitempty"`
	Parameters           []string `json:"Parameters,omitempty"`
	EnvironmentVariables []string `json:"EnvironmentVariables,omitempty"`
	WorkingDirectory     string   `json:"WorkingDirectory,omitempty"`
}

// ipfsParams are the Params of an ipfs source. Path (a path inside the DAG) is this
// project's addition; CID may also carry it as CID/sub/path.
type ipfsParams struct {
	CID  string `json:"CID"`
	Path string `json:"Path,omitempty"`
}

// urlParams are the Params of a urlDownload source.
type urlParams struct {
	URL string `json:"URL"`
}
