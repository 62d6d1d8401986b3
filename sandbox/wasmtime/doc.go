// Package wasmtime runs WebAssembly (WASI preview 1) guests on wasmtime
// (wasmtime-go, cgo): the fast engine, about three times wazero's compute
// speed, for jobs that do not ask for verification. Its WASI has no hooks
// for clocks or randomness, so runs are not reproducible.
//
// It takes the same sandbox.Guest and gives the same sandbox.Result as the
// wazero sandbox: inputs are copied out of their fs.FS into a bounded
// directory that wasmtime preopens read-only, /outputs is the host directory
// preopened writable and watched against its limit, stdout and stderr are
// pipes read into capped writers, memory is bounded by the store's limiter,
// and a timeout or a cancellation stops the guest through epoch
// interruption (spinning) or poll_oneoff (sleeping).
//
// The package builds only with cgo on Linux and without the nowasmtime tag;
// elsewhere it is empty and Available reports false.
//
//	sb, err := wasmtime.New(ctx, wasmtime.Options{CacheDir: dir})
//	defer sb.Close(ctx)
//	res, err := sb.Run(ctx, sandbox.Guest{ModuleKey: cid, Module: load, WASI: cfg, Timeout: time.Minute})
package wasmtime
