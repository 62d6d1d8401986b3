package jobspec

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// Decoded is a spec read from a file: the job.Spec to submit, the inputs to download
// first, and notes on what was accepted but means nothing here (say them to the user).
type Decoded struct {
	Spec job.Spec
	// URLInputs are inputs to download and add to IPFS before submitting: the CID of
	// what was added goes into Spec.Inputs[Index].CID.
	URLInputs []URLInput
	Notes     []string

	root node // the parsed file, to find the line of a path
}

// URLInput is an input fetched from a URL.
type URLInput struct {
	Index int
	URL   string
}

// Source types of an InputSource, and engine types, as upstream names them (compared
// without regard to case).
const (
	SourceIPFS = "ipfs"
	SourceURL  = "urlDownload"
	TypeBatch  = "batch"
)

// Decode reads a spec in any of the shapes this project accepts, YAML or JSON:
// upstream's v1 job (Type, Tasks), this project's job record (as `describe --output
// yaml|json` prints it: the "spec" is taken, the rest ignored) or its bare spec
// (engine, wasm|docker, inputs, ...). Unknown fields fail with their path and line. The
// spec returned is not normalized or validated beyond the shape: the node validates.
func Decode(data []byte) (*Decoded, error) {
	root, err := parse(data)
	if err != nil {
		return nil, err
	}
	m, ok := root.v.(*mapping)
	if !ok {
		return nil, errAt(root, "", "want an object (a job with Type and Tasks)")
	}
	if _, ok := child(root, "Tasks"); !ok {
		if slices.Contains(m.keys, "spec") {
			return decodeNative(root, "spec")
		}
		if slices.Contains(m.keys, "engine") {
			return decodeNative(root, "")
		}
	}
	var j Job
	if err := decodeInto(root, "", &j); err != nil {
		return nil, err
	}
	return fromV1(root, &j)
}

func decodeNative(root node, key string) (*Decoded, error) {
	n := root
	if key != "" {
		n, _ = child(root, key)
	}
	d := &Decoded{}
	if err := decodeInto(n, key, &d.Spec); err != nil {
		return nil, err
	}
	return d, nil
}

func fromV1(root node, j *Job) (*Decoded, error) {
	d := &Decoded{root: root}
	s := &d.Spec
	switch {
	case j.Type == "" || strings.EqualFold(j.Type, TypeBatch):
	case strings.EqualFold(j.Type, "ops"), strings.EqualFold(j.Type, "service"), strings.EqualFold(j.Type, "daemon"):
		return nil, d.at("Type", "job type %q is not supported: only batch jobs run here (long-running functions are `bacalhau function deploy`)", j.Type)
	default:
		return nil, d.at("Type", "unknown job type %q (want batch)", j.Type)
	}
	if len(j.Tasks) != 1 {
		return nil, d.at("Tasks", "a job needs exactly one task, got %d", len(j.Tasks))
	}
	if j.Count < 0 || j.Count > job.MaxVerify {
		return nil, d.at("Count", "count %d is out of range (1 to %d nodes)", j.Count, job.MaxVerify)
	}
	if j.Count > 1 {
		s.Verify = j.Count
		d.note("Count %d: the job runs on %d distinct nodes and completes only if their result CIDs agree", j.Count, j.Count)
	}
	if j.Namespace != "" || j.Priority != 0 || len(j.Meta) > 0 {
		d.note("Namespace, Priority and Meta are accepted and ignored")
	}
	if len(j.Labels) > job.MaxJobLabels {
		return nil, d.at("Labels", "%d labels, at most %d allowed", len(j.Labels), job.MaxJobLabels)
	}
	for _, k := range sortedKeys(j.Labels) {
		if err := job.ValidateJobLabel(k, j.Labels[k]); err != nil {
			return nil, d.at("Labels", "%v", err)
		}
	}
	s.Labels = maps(j.Labels)
	for i, c := range j.Constraints {
		p := fmt.Sprintf("Constraints[%d]", i)
		switch c.Operator {
		case "=", "==":
		default:
			return nil, d.at(p+".Operator", "operator %q is not supported: only = with one value (a node label key=value, as --selector)", c.Operator)
		}
		if len(c.Values) != 1 {
			return nil, d.at(p+".Values", "want exactly one value, got %d", len(c.Values))
		}
		if s.Selector == nil {
			s.Selector = map[string]string{}
		}
		s.Selector[c.Key] = c.Values[0]
	}
	t := &j.Tasks[0]
	if err := d.task(t); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Decoded) note(format string, args ...any) {
	d.Notes = append(d.Notes, fmt.Sprintf(format, args...))
}

func (d *Decoded) task(t *Task) error {
	s := &d.Spec
	const p = "Tasks[0]"
	if t.Engine == nil {
		return d.at(p+".Engine", "no engine given (want Type wasm or docker)")
	}
	pl := d.line(p + ".Engine.Params")
	s.Env = maps(t.Env)
	switch strings.ToLower(t.Engine.Type) {
	case "wasm":
		var w wasmParams
		if err := params(t.Engine.Params, pl, p+".Engine.Params", &w); err != nil {
			return d.fix(err)
		}
		mod, err := entryModule(w.EntryModule, p+".Engine.Params.EntryModule")
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return d.fix(err)
			}
			return d.at(p+".Engine.Params.EntryModule", "%v", err)
		}
		if len(w.ImportModules) > 0 {
			return d.at(p+".Engine.Params.ImportModules", "import modules are not supported: link the module into one .wasm")
		}
		s.Engine = job.EngineWasm
		s.Wasm = &job.WasmTask{Module: mod, EntryPoint: w.Entrypoint, Args: w.Parameters}
		for k, v := range w.EnvironmentVariables {
			if old, ok := s.Env[k]; ok && old != v {
				return d.at(p+".Engine.Params.EnvironmentVariables", "%s is set to two values (here and in Env)", k)
			}
			s.Env = set(s.Env, k, v)
		}
	case "docker":
		var dp dockerParams
		if err := params(t.Engine.Params, pl, p+".Engine.Params", &dp); err != nil {
			return d.fix(err)
		}
		if dp.WorkingDirectory != "" {
			return d.at(p+".Engine.Params.WorkingDirectory", "a working directory is not supported: cd in the entrypoint (sh -c 'cd /dir && ...')")
		}
		s.Engine = job.EngineDocker
		s.Docker = &job.DockerTask{Image: dp.Image, Entrypoint: dp.Entrypoint, Args: dp.Parameters}
		for _, kv := range dp.EnvironmentVariables {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return d.at(p+".Engine.Params.EnvironmentVariables", "%q must look like NAME=value", kv)
			}
			s.Env = set(s.Env, k, v)
		}
	case "":
		return d.at(p+".Engine.Type", "no engine type given (want wasm or docker)")
	default:
		return d.at(p+".Engine.Type", "engine %q is not supported here (want wasm or docker)", t.Engine.Type)
	}
	if pub := t.Publisher; pub != nil && pub.Type != "" && !strings.EqualFold(pub.Type, "ipfs") {
		d.note("Publisher %s ignored: results are always stored in IPFS, on the node that ran the job (bacalhau get fetches them)", pub.Type)
	}
	for i, in := range t.InputSources {
		ip := fmt.Sprintf("%s.InputSources[%d]", p, i)
		if in.Source == nil {
			return d.at(ip+".Source", "no source given (want Type ipfs or urlDownload)")
		}
		sl := d.line(ip + ".Source")
		target := in.Target
		if target == "" {
			target = job.DefaultInputsPath
		}
		switch {
		case strings.EqualFold(in.Source.Type, SourceIPFS):
			var ip2 ipfsParams
			if err := params(in.Source.Params, sl, ip+".Source.Params", &ip2); err != nil {
				return d.fix(err)
			}
			c, sub, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(ip2.CID, "ipfs://"), "/ipfs/"), "/")
			k, err := job.ParseCID(c)
			if err != nil {
				return d.at(ip+".Source.Params.CID", "%v", err)
			}
			if sub != "" && ip2.Path != "" {
				return d.at(ip+".Source.Params", "a path is given both in CID and in Path")
			}
			if ip2.Path != "" {
				sub = strings.Trim(ip2.Path, "/")
			}
			s.Inputs = append(s.Inputs, job.Input{CID: k, Path: sub, Target: target})
		case strings.EqualFold(in.Source.Type, SourceURL), strings.EqualFold(in.Source.Type, "url"):
			var up urlParams
			if err := params(in.Source.Params, sl, ip+".Source.Params", &up); err != nil {
				return d.fix(err)
			}
			if err := CheckURL(up.URL); err != nil {
				return d.at(ip+".Source.Params.URL", "%v", err)
			}
			d.URLInputs = append(d.URLInputs, URLInput{Index: len(s.Inputs), URL: up.URL})
			s.Inputs = append(s.Inputs, job.Input{Target: target})
		default:
			return d.at(ip+".Source.Type", "source %q is not supported (want ipfs or urlDownload; add local files with `bacalhau data add` and use their CID)", in.Source.Type)
		}
	}
	for i, r := range t.ResultPaths {
		if strings.TrimSuffix(r.Path, "/") != job.DefaultOutputsPath {
			return d.at(fmt.Sprintf("%s.ResultPaths[%d].Path", p, i), "only %s is collected into the result; write there (got %q)", job.DefaultOutputsPath, r.Path)
		}
	}
	if r := t.Resources; r != nil {
		var err error
		if r.Memory != "" {
			if s.Memory, err = job.ParseBytes(r.Memory); err != nil {
				return d.at(p+".Resources.Memory", "%v", err)
			}
		}
		if r.Disk != "" {
			if s.OutputsLimit, err = job.ParseBytes(r.Disk); err != nil {
				return d.at(p+".Resources.Disk", "%v", err)
			}
		}
		if r.CPU != "" || (r.GPU != "" && r.GPU != "0") {
			d.note("Resources CPU and GPU are not scheduled on here: a job takes one worker slot")
		}
	}
	if n := t.Network; n != nil && n.Type != "" && n.Type != "0" && !strings.EqualFold(n.Type, "none") { // 0 is upstream's NetworkNone as a number
		return d.at(p+".Network.Type", "network %q is not supported: jobs here have no network (give data as inputs)", n.Type)
	}
	if to := t.Timeouts; to != nil {
		if to.ExecutionTimeout < 0 || to.ExecutionTimeout > int64(job.MaxTimeout/time.Second) {
			return d.at(p+".Timeouts.ExecutionTimeout", "%d seconds is out of range (0 to %d)", to.ExecutionTimeout, int64(job.MaxTimeout/time.Second))
		}
		if to.QueueTimeout < 0 || to.QueueTimeout > int64(job.MaxQueueTimeout/time.Second) {
			return d.at(p+".Timeouts.QueueTimeout", "%d seconds is out of range (0 to %d)", to.QueueTimeout, int64(job.MaxQueueTimeout/time.Second))
		}
		s.Timeout = job.Duration(time.Duration(to.ExecutionTimeout) * time.Second)
		s.QueueTimeout = job.Duration(time.Duration(to.QueueTimeout) * time.Second)
		if to.TotalTimeout != 0 {
			d.note("Timeouts.TotalTimeout ignored: ExecutionTimeout bounds the run, QueueTimeout the wait for a node")
		}
	}
	return nil
}

// entryModule reads a wasm EntryModule: a CID, or an InputSource of type ipfs.
func entryModule(v any, path string) (cidtext.CID, error) {
	switch m := v.(type) {
	case nil:
		return cidtext.CID{}, fmt.Errorf("no module given (want Source: {Type: ipfs, Params: {CID: ...}}, or a CID)")
	case string:
		return job.ParseCID(m)
	case map[string]any:
		var in InputSource
		if err := params(m, 0, path, &in); err != nil {
			return cidtext.CID{}, err
		}
		if in.Source == nil || !strings.EqualFold(in.Source.Type, SourceIPFS) {
			return cidtext.CID{}, fmt.Errorf("the module must come from ipfs (add it with `bacalhau data add` and give its CID)")
		}
		var p ipfsParams
		if err := params(in.Source.Params, 0, path+".Source.Params", &p); err != nil {
			return cidtext.CID{}, err
		}
		return job.ParseCID(p.CID)
	}
	return cidtext.CID{}, fmt.Errorf("want a CID or an InputSource")
}

// CheckURL accepts the URLs a urlDownload input may name: http or https, with a host.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

func maps(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func set(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// fix gives an *Error from a re-read of Params the line of its path in the file.
func (d *Decoded) fix(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Path != "" {
		if l := d.line(e.Path); l > 0 {
			e.Line = l
		}
	}
	return err
}

// at is an error at the dotted path, with the line of the deepest node of the file the
// path reaches.
func (d *Decoded) at(path, format string, args ...any) error {
	return &Error{Path: path, Line: d.line(path), Msg: fmt.Sprintf(format, args...)}
}

func (d *Decoded) line(path string) int {
	cur := d.root
	line := cur.line
	for _, seg := range strings.Split(path, ".") {
		name, idx := seg, -1
		if i := strings.IndexByte(seg, '['); i >= 0 {
			name = seg[:i]
			if _, err := fmt.Sscanf(seg[i:], "[%d]", &idx); err != nil {
				idx = -1
			}
		}
		c, ok := child(cur, name)
		if !ok {
			break
		}
		cur, line = c, c.line
		if idx >= 0 {
			s, ok := cur.v.(*sequence)
			if !ok || idx >= len(s.items) {
				break
			}
			cur, line = s.items[idx], s.items[idx].line
		}
	}
	return line
}
