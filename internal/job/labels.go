package job

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Label limits: keys are short identifiers, values short printable text.
const (
	MaxLabelKey   = 63
	MaxLabelValue = 255
)

// ValidateLabel checks one node label or selector entry: a key of letters, digits and
// ._/- and a printable UTF-8 value.
func ValidateLabel(k, v string) error {
	if k == "" || len(k) > MaxLabelKey {
		return fmt.Errorf("label key %q must be 1 to %d bytes", trunc(k), MaxLabelKey)
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '/' || r == '-') {
			return fmt.Errorf("label key %q: only letters, digits and ._/- are allowed", trunc(k))
		}
	}
	if len(v) > MaxLabelValue || !utf8.ValidString(v) {
		return fmt.Errorf("label %s: value must be UTF-8 of at most %d bytes", k, MaxLabelValue)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("label %s: value has control characters", k)
		}
	}
	return nil
}

// ValidateJobLabel checks one label of a job: a label (ValidateLabel) whose value a
// label selector can name, so it holds none of , ( ) = ! < > and no space.
func ValidateJobLabel(k, v string) error {
	if err := ValidateLabel(k, v); err != nil {
		return err
	}
	if strings.ContainsAny(v, ",()=!<> ") {
		return fmt.Errorf("label %s: value %q holds a character a label selector cannot name (, ( ) = ! < > or a space)", k, trunc(v))
	}
	return nil
}

// ParseLabels reads "k=v,k2=v2" (and repeated flags) into a map, validating each label.
func ParseLabels(items []string) (map[string]string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, item := range items {
		for _, kv := range strings.Split(item, ",") {
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, invalid("label %q is not key=value", kv)
			}
			k = strings.TrimSpace(k)
			if err := ValidateLabel(k, v); err != nil {
				return nil, invalid("%v", err)
			}
			m[k] = v
		}
	}
	return m, nil
}

// ParseJobLabels reads a job's labels from flags: "k=v" pairs, repeated or
// comma-separated; a bare "k" is the label k with an empty value (upstream's
// `-l name` labels had no values). Each is checked by ValidateJobLabel.
func ParseJobLabels(items []string) (map[string]string, error) {
	var m map[string]string
	for _, item := range items {
		for _, kv := range strings.Split(item, ",") {
			if kv == "" {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if err := ValidateJobLabel(k, v); err != nil {
				return nil, invalid("%v", err)
			}
			if m == nil {
				m = map[string]string{}
			}
			m[k] = v
		}
	}
	if len(m) > MaxJobLabels {
		return nil, invalid("%d labels, at most %d allowed", len(m), MaxJobLabels)
	}
	return m, nil
}

// FormatLabels writes labels as ParseLabels reads them: k=v pairs, sorted, joined by
// commas.
func FormatLabels(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Matches reports whether labels carry every key=value of selector.
func Matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
