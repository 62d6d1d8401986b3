package job

import (
	"time"
	"unicode/utf8"
)

// Bounds of an Invocation record, as a node keeps it and a peer may send it.
const (
	MaxInvocationText   = 1 << 10 // of Path and Error
	MaxInvocationStderr = 64 << 10
)

// Invocation is the record of one function request a node ran: what `fn logs` shows,
// gathered from every node of the network (GET /api/v1/functions/:name/logs).
type Invocation struct {
	Node      string        `json:"node,omitempty"` // the node that ran it
	Seq       uint64        `json:"seq"`            // the node's number of the record
	Time      time.Time     `json:"time"`
	RequestID string        `json:"requestId"`
	Method    string        `json:"method"`
	Path      string        `json:"path"`
	Status    int           `json:"status"`
	Duration  time.Duration `json:"duration"`
	Module    string        `json:"module"`
	Cold      bool          `json:"cold,omitempty"` // the module's first run in this process, or a new pooled instance
	Error     string        `json:"error,omitempty"`
	Stderr    string        `json:"stderr,omitempty"` // the end of what the guest wrote to stderr while serving it
}

// Validate checks a record another node sent.
func (v *Invocation) Validate() error {
	switch {
	case v.Seq == 0:
		return invalid("invocation record: no sequence number")
	case len(v.Node) > 128, len(v.RequestID) > 64, len(v.Method) > 32, len(v.Module) > 256:
		return invalid("invocation record %d: a field is too long", v.Seq)
	case len(v.Path) > MaxInvocationText || len(v.Error) > MaxInvocationText || len(v.Stderr) > MaxInvocationStderr:
		return invalid("invocation record %d: path, error or stderr too long", v.Seq)
	case v.Status < 100 || v.Status > 599:
		return invalid("invocation record %d: status %d", v.Seq, v.Status)
	case v.Duration < 0:
		return invalid("invocation record %d: negative duration", v.Seq)
	}
	return nil
}

// ClipText cuts s to at most n bytes at a rune boundary, marking the cut with "...".
func ClipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := max(n-3, 0)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
