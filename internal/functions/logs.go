package functions

import "github.com/bacalhau-project/bacalhau-wasm/internal/api"

// Invocation is the record of one request a node ran, what `fn logs` shows.
type Invocation = api.Invocation

// logRing keeps a function's last records.
type logRing struct {
	next uint64
	recs []Invocation
	at   int // where the next record goes once recs is full
}

func (rt *Runtime) record(name string, rec Invocation) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	l := rt.logs[name]
	if l == nil {
		l = &logRing{}
		rt.logs[name] = l
	}
	l.next++
	rec.Seq = l.next
	if len(l.recs) < rt.cfg.LogEntries {
		l.recs = append(l.recs, rec)
		return
	}
	l.recs[l.at] = rec
	l.at = (l.at + 1) % len(l.recs)
}

// Logs returns the records of name's invocations on this node with a sequence number
// above after, oldest first, the newest limit of them (all if limit <= 0). A cursor
// beyond the last record is from before this process started (the records live in
// memory): all are newer.
func (rt *Runtime) Logs(name string, after uint64, limit int) []Invocation {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	l := rt.logs[name]
	if l == nil {
		return []Invocation{}
	}
	if after > l.next {
		after = 0
	}
	out := make([]Invocation, 0, len(l.recs))
	for i := range l.recs {
		r := l.recs[(l.at+i)%len(l.recs)]
		if r.Seq > after {
			out = append(out, r)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// Forget drops a deleted function's records and gate.
func (rt *Runtime) Forget(name string) {
	rt.mu.Lock()
	delete(rt.logs, name)
	delete(rt.perFn, name)
	rt.mu.Unlock()
	rt.retire(name, -1)
}
