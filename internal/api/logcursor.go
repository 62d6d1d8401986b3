package api

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxCursorNodes bounds the nodes of a log cursor.
const MaxCursorNodes = 1024

// ParseLogCursor reads a FunctionLogs cursor: "node:seq,node:seq..." ("" is none),
// each node a peer ID once.
func ParseLogCursor(s string) (map[string]uint64, error) {
	out := map[string]uint64{}
	if s == "" {
		return out, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxCursorNodes {
		return nil, fmt.Errorf("log cursor: %d nodes, at most %d", len(parts), MaxCursorNodes)
	}
	for _, p := range parts {
		node, seq, ok := strings.Cut(p, ":")
		if !ok || !validNodeText(node) {
			return nil, fmt.Errorf("log cursor: %q: want node:sequence", clipText(p))
		}
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("log cursor: %q: want node:sequence", clipText(p))
		}
		if _, dup := out[node]; dup {
			return nil, fmt.Errorf("log cursor: node %s given twice", node)
		}
		out[node] = n
	}
	return out, nil
}

// FormatLogCursor writes a cursor ParseLogCursor reads, by node.
func FormatLogCursor(c map[string]uint64) string {
	nodes := make([]string, 0, len(c))
	for n := range c {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var b strings.Builder
	for i, n := range nodes {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(c[n], 10))
	}
	return b.String()
}

// validNodeText reports whether s may be a peer ID as text (base58 or base32).
func validNodeText(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func clipText(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
