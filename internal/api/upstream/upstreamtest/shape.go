// Package upstreamtest compares this node's answers on upstream's v1 API with upstream's
// recorded answers (internal/api/upstream/testdata), by field names and JSON kinds.
//
//	upstreamtest.SameShape(t, "testdata/get_job_response.json", body, "Job.Meta")
package upstreamtest

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
)

// freeKeys are objects whose keys are data, not field names.
var freeKeys = []string{"Meta", "Labels", "Params", "Env", "Details", "EnvironmentVariables", "AllocatedResources.Tasks"}

// SameShape fails t unless got (a JSON answer) has the field names of the recorded
// answer in file, with the same JSON kinds: no field upstream's does not have, and every
// field it has except the optional ones (dotted paths, [] for an array's items).
func SameShape(t testing.TB, file string, got []byte, optional ...string) {
	t.Helper()
	rec, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Diff(rec, got, optional...) {
		t.Errorf("%s: %s\ngot: %s", file, d, got)
	}
}

// Diff lists how got differs in shape from rec.
func Diff(rec, got []byte, optional ...string) []string {
	var r, g any
	if err := json.Unmarshal(rec, &r); err != nil {
		return []string{"recorded answer: " + err.Error()}
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return []string{"answer is not JSON: " + err.Error()}
	}
	var out []string
	compare("", r, g, optional, &out)
	return out
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func compare(path string, rec, got any, optional []string, out *[]string) {
	if rec == nil || got == nil {
		return // null stands for any value
	}
	if kind(rec) != kind(got) {
		*out = append(*out, fmt.Sprintf("%s is a %s, upstream's a %s", orRoot(path), kind(got), kind(rec)))
		return
	}
	switch r := rec.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for _, f := range freeKeys {
			if path == f || strings.HasSuffix(path, "."+f) {
				return
			}
		}
		keys := make([]string, 0, len(g))
		for k := range g {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := r[k]; !ok {
				*out = append(*out, fmt.Sprintf("field %s is not in upstream's answer", join(path, k)))
				continue
			}
			compare(join(path, k), r[k], g[k], optional, out)
		}
		for k := range r {
			if _, ok := g[k]; !ok && !isOptional(optional, join(path, k)) {
				*out = append(*out, fmt.Sprintf("field %s is missing", join(path, k)))
			}
		}
	case []any:
		g := got.([]any)
		if len(r) == 0 {
			return
		}
		for _, item := range g {
			compare(path+"[]", r[0], item, optional, out)
		}
	}
}

// isOptional reports whether the field at path, or an object holding it, is optional.
func isOptional(optional []string, path string) bool {
	return slices.ContainsFunc(optional, func(o string) bool { return path == o || strings.HasPrefix(path, o+".") })
}

func orRoot(path string) string {
	if path == "" {
		return "the answer"
	}
	return path
}
