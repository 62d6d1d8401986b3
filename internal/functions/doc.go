// Package functions is a node's functions role: the registry of deployed functions
// (replicated by the node over dht/fnproto), and the runtime that answers their
// requests on a sandbox, in a fresh instance per request (CGI, RFC 3875) or in pooled
// instances that the Go SDK keeps alive, within per-function and per-node bounds.
//
//	rt := functions.NewRuntime(functions.Config{}, map[job.Engine]functions.Engine{job.EngineWasm: sb}, host)
//	resp, err := rt.Invoke(ctx, fn, &functions.Request{Method: "GET", Name: fn.Name})
//	// err is a *functions.Error carrying the HTTP status (413, 429, 502, 504) when the
//	// function gave no response of its own.
package functions
