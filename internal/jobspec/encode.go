package jobspec

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// FromSpec is the v1 job that Decode reads back as s: the same module or image,
// arguments, environment, inputs, limits and selector, so the same result CID.
func FromSpec(s job.Spec) Job {
	t := Task{
		Name:        "main",
		Publisher:   &SpecConfig{Type: "ipfs"},
		Env:         maps(s.Env),
		ResultPaths: []ResultPath{{Name: "outputs", Path: job.DefaultOutputsPath}},
	}
	switch {
	case s.Wasm != nil:
		p := map[string]any{"EntryModule": map[string]any{
			"Source": map[string]any{"Type": SourceIPFS, "Params": map[string]any{"CID": s.Wasm.Module}},
		}}
		if s.Wasm.EntryPoint != "" {
			p["Entrypoint"] = s.Wasm.EntryPoint
		}
		if len(s.Wasm.Args) > 0 {
			p["Parameters"] = s.Wasm.Args
		}
		t.Engine = &SpecConfig{Type: "wasm", Params: p}
	case s.Docker != nil:
		p := map[string]any{"Image": s.Docker.Image}
		if len(s.Docker.Entrypoint) > 0 {
			p["Entrypoint"] = s.Docker.Entrypoint
		}
		if len(s.Docker.Args) > 0 {
			p["Parameters"] = s.Docker.Args
		}
		t.Engine = &SpecConfig{Type: "docker", Params: p}
	default:
		t.Engine = &SpecConfig{Type: string(s.Engine)}
	}
	for _, in := range s.Inputs {
		p := map[string]any{"CID": in.CID}
		if in.Path != "" {
			p["Path"] = in.Path
		}
		t.InputSources = append(t.InputSources, InputSource{Source: &SpecConfig{Type: SourceIPFS, Params: p}, Target: in.Target})
	}
	if s.Memory != 0 || s.OutputsLimit != 0 {
		t.Resources = &Resources{}
		if s.Memory != 0 {
			t.Resources.Memory = bytesText(s.Memory)
		}
		if s.OutputsLimit != 0 {
			t.Resources.Disk = bytesText(s.OutputsLimit)
		}
	}
	if s.Timeout != 0 || s.QueueTimeout != 0 {
		t.Timeouts = &Timeouts{ExecutionTimeout: seconds(s.Timeout), QueueTimeout: seconds(s.QueueTimeout)}
	}
	j := Job{Type: TypeBatch, Count: max(s.Verify, 1), Labels: maps(s.Labels), Tasks: []Task{t}}
	keys := make([]string, 0, len(s.Selector))
	for k := range s.Selector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		j.Constraints = append(j.Constraints, Constraint{Key: k, Operator: "=", Values: []string{s.Selector[k]}})
	}
	return j
}

// FromJob is FromSpec of the job's spec with the read-only fields of a v1 job (ID,
// State, times) filled in.
func FromJob(jb *job.Job) Job {
	j := FromSpec(jb.Spec)
	j.ID = jb.ID
	j.Name = jb.ID
	j.State = &State{StateType: StateType(jb.State), Message: jb.Reason}
	j.Revision = jb.Rev
	j.CreateTime = jb.CreatedAt.UnixNano()
	j.ModifyTime = jb.UpdatedAt.UnixNano()
	return j
}

// StateType is upstream's name of a job state.
func StateType(s job.State) string {
	switch s {
	case job.StatePending:
		return "Pending"
	case job.StateRunning:
		return "Running"
	case job.StateCompleted:
		return "Completed"
	case job.StateFailed:
		return "Failed"
	case job.StateCancelled:
		return "Stopped"
	}
	return string(s)
}

// EncodeYAML prints v (a Job, usually) as YAML with its JSON field names, in the order
// of its fields (Type before Tasks, Engine first in a task).
func EncodeYAML(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil { // JSON is YAML: the order is kept
		return nil, err
	}
	block(&doc)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// block sets every node to YAML's block style, leaving the encoder to quote what must be.
func block(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		block(c)
	}
}

// bytesText prints n so that job.ParseBytes reads it back exactly, in the shortest of
// its exact forms (64Mi, 64MB, 1000).
func bytesText(n uint64) string {
	best := strconv.FormatUint(n, 10)
	if n == 0 {
		return best
	}
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if n%u.mult == 0 {
			if s := strconv.FormatUint(n/u.mult, 10) + u.suffix; len(s) < len(best) {
				best = s
			}
		}
	}
	return best
}

// seconds rounds d up to whole seconds, the unit of v1 timeouts.
func seconds(d job.Duration) int64 {
	return int64((time.Duration(d) + time.Second - 1) / time.Second)
}
