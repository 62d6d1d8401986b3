// Package wasi describes what a WebAssembly guest sees when it runs: its
// arguments and environment, its standard streams, read-only input mounts
// (any fs.FS, typically a UnixFS DAG), one writable /outputs directory, and a
// virtual clock and seeded randomness that make a run reproducible.
//
// The package knows no engine; package sandbox turns a Config into a wazero
// module configuration.
//
//	cfg := wasi.Config{Args: []string{"a"}, Mounts: []wasi.Mount{{FS: inputs, Target: "/inputs"}}}
//	if err := cfg.Validate(); err != nil { return err }
//	res, err := sb.Run(ctx, sandbox.Guest{ModuleKey: cid, Module: load, WASI: cfg})
package wasi
