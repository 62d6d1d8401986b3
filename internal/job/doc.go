// Package job is the typed vocabulary every part of a node shares: a job spec with its
// validation, the states a job moves through, its history, and job IDs.
//
//	spec := job.Spec{Engine: job.EngineWasm, Wasm: &job.WasmTask{Module: modCID}}
//	if err := spec.Validate(); err != nil { return err }
//	j := job.New(spec, time.Now())
//
// It imports only the standard library and go-cid, so the store, the API and (later) the
// wire messages can all depend on it.
package job
