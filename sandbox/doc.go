// Package sandbox runs WebAssembly (WASI preview 1) guests on wazero,
// confined to what a wasi.Config gives them and stopped by a wall-clock
// timeout, a memory limit, a cap on their output and a bound on what
// /outputs may hold. Compiled modules are
// cached per Guest.ModuleKey in memory and, with Options.CacheDir, on disk.
//
// Before compiling, a module is instrumented: a check at the start of every
// function and loop body lets the sandbox stop it (see RATIONALE.md), at
// full speed, where wazero's WithCloseOnContextDone would slow loops down
// several times. Modules the rewriter does not understand still run,
// confined, but slower, under WithCloseOnContextDone (which stops loops but
// not loop-free recursion).
//
// A run is deterministic by default: the guest sees a virtual clock, seeded
// randomness, only the environment it is given, sorted directory listings
// with host-independent metadata, and read-only inputs. The same Guest gives
// byte-identical stdout, stderr and /outputs on every node.
//
//	sb, err := sandbox.New(ctx, sandbox.Options{CacheDir: dir})
//	defer sb.Close(ctx)
//	res, err := sb.Run(ctx, sandbox.Guest{ModuleKey: cid, Module: load, WASI: cfg, Timeout: time.Minute})
package sandbox
