package job

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A label selector picks jobs by their labels, in the syntax upstream Bacalhau takes
// for `job list --labels` and the labels query parameter of its v1 API (Kubernetes'
// label selectors): requirements joined by commas, all of which must hold.
//
//	env=prod           env==prod          env!=prod
//	env in (prod,dev)  env notin (test)   env        !env
//	size>3             size<10            (whole numbers)
//
// An absent label is != any value and notin any set.

// Selector operators.
const (
	OpEquals       = "="
	OpNotEquals    = "!="
	OpIn           = "in"
	OpNotIn        = "notin"
	OpExists       = "exists"
	OpDoesNotExist = "!"
	OpGreaterThan  = ">"
	OpLessThan     = "<"
)

// Bounds of a selector.
const (
	MaxSelectorBytes = 4096
	maxRequirements  = 64
	maxSetValues     = 64
)

// Requirement is one condition on a label.
type Requirement struct {
	Key    string
	Op     string
	Values []string
}

// Selector is the requirements a job's labels must all meet. The zero value selects
// every job.
type Selector []Requirement

// ParseSelector reads a selector; "" selects everything. Errors wrap ErrInvalid.
func ParseSelector(s string) (Selector, error) {
	if len(s) > MaxSelectorBytes {
		return nil, invalid("label selector of %d bytes, at most %d allowed", len(s), MaxSelectorBytes)
	}
	var sel Selector
	for _, part := range splitRequirements(s) {
		part = strings.TrimSpace(part)
		if part == "" {
			if strings.TrimSpace(s) == "" {
				continue
			}
			return nil, invalid("label selector %q: an empty requirement (two commas in a row?)", trunc(s))
		}
		r, err := parseRequirement(part)
		if err != nil {
			return nil, err
		}
		sel = append(sel, r)
		if len(sel) > maxRequirements {
			return nil, invalid("label selector: more than %d requirements", maxRequirements)
		}
	}
	return sel, nil
}

// splitRequirements splits at the commas outside parentheses.
func splitRequirements(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseRequirement(p string) (Requirement, error) {
	bad := func(format string, args ...any) (Requirement, error) {
		return Requirement{}, invalid("label selector %q: %s", trunc(p), fmt.Sprintf(format, args...))
	}
	if rest, ok := strings.CutPrefix(p, "!"); ok && !strings.ContainsAny(rest, "=<>( ") {
		k := strings.TrimSpace(rest)
		if err := checkSelectorKey(k); err != nil {
			return bad("%v", err)
		}
		return Requirement{Key: k, Op: OpDoesNotExist}, nil
	}
	if i := strings.IndexAny(p, "=!<>"); i >= 0 {
		k := strings.TrimSpace(p[:i])
		op, rest := "", ""
		switch {
		case strings.HasPrefix(p[i:], "=="):
			op, rest = OpEquals, p[i+2:]
		case strings.HasPrefix(p[i:], "!="):
			op, rest = OpNotEquals, p[i+2:]
		case p[i] == '=':
			op, rest = OpEquals, p[i+1:]
		case p[i] == '>':
			op, rest = OpGreaterThan, p[i+1:]
		case p[i] == '<':
			op, rest = OpLessThan, p[i+1:]
		default:
			return bad("want key=value, key!=value, key in (a,b), key notin (a,b), key, !key, key>N or key<N")
		}
		if err := checkSelectorKey(k); err != nil {
			return bad("%v", err)
		}
		v := strings.TrimSpace(rest)
		if err := checkSelectorValue(v); err != nil {
			return bad("%v", err)
		}
		if op == OpGreaterThan || op == OpLessThan {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return bad("%s wants a whole number, got %q", op, v)
			}
		}
		return Requirement{Key: k, Op: op, Values: []string{v}}, nil
	}
	fields := strings.Fields(p)
	if len(fields) == 1 && !strings.ContainsAny(p, "()") {
		if err := checkSelectorKey(fields[0]); err != nil {
			return bad("%v", err)
		}
		return Requirement{Key: fields[0], Op: OpExists}, nil
	}
	k, rest, _ := strings.Cut(strings.TrimSpace(p), " ")
	rest = strings.TrimSpace(rest)
	var op string
	switch {
	case strings.HasPrefix(rest, "notin"):
		op, rest = OpNotIn, rest[len("notin"):]
	case strings.HasPrefix(rest, "in"):
		op, rest = OpIn, rest[len("in"):]
	default:
		return bad("want key=value, key!=value, key in (a,b), key notin (a,b), key, !key, key>N or key<N")
	}
	if err := checkSelectorKey(k); err != nil {
		return bad("%v", err)
	}
	rest = strings.TrimSpace(rest)
	inner, ok := strings.CutPrefix(rest, "(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return bad("%s wants a set in parentheses, e.g. %s %s (a,b)", op, k, op)
	}
	inner = strings.TrimSuffix(inner, ")")
	if strings.ContainsAny(inner, "()") {
		return bad("nested parentheses")
	}
	var vals []string
	for _, v := range strings.Split(inner, ",") {
		v = strings.TrimSpace(v)
		if err := checkSelectorValue(v); err != nil {
			return bad("%v", err)
		}
		vals = append(vals, v)
	}
	if len(vals) > maxSetValues {
		return bad("more than %d values in a set", maxSetValues)
	}
	return Requirement{Key: k, Op: op, Values: vals}, nil
}

func checkSelectorKey(k string) error {
	if k == "" {
		return fmt.Errorf("no label key")
	}
	return ValidateLabel(k, "")
}

// checkSelectorValue accepts what a job's label value may hold (ValidateJobLabel).
func checkSelectorValue(v string) error {
	if err := ValidateJobLabel("value", v); err != nil {
		return fmt.Errorf("%v", strings.TrimPrefix(err.Error(), "label value: "))
	}
	return nil
}

// Matches reports whether labels meet every requirement of the selector.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// Matches reports whether labels meet the requirement.
func (r Requirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Op {
	case OpExists:
		return ok
	case OpDoesNotExist:
		return !ok
	case OpEquals:
		return ok && v == r.Values[0]
	case OpNotEquals:
		return !ok || v != r.Values[0]
	case OpIn:
		return ok && slices.Contains(r.Values, v)
	case OpNotIn:
		return !ok || !slices.Contains(r.Values, v)
	case OpGreaterThan, OpLessThan:
		if !ok {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Op == OpGreaterThan {
			return have > want
		}
		return have < want
	}
	return false
}

// String writes the requirement as ParseSelector reads it.
func (r Requirement) String() string {
	switch r.Op {
	case OpExists:
		return r.Key
	case OpDoesNotExist:
		return "!" + r.Key
	case OpIn, OpNotIn:
		return r.Key + " " + r.Op + " (" + strings.Join(r.Values, ",") + ")"
	}
	return r.Key + r.Op + r.Values[0]
}

// String writes the selector as ParseSelector reads it.
func (s Selector) String() string {
	parts := make([]string, len(s))
	for i, r := range s {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}
