//go:build !cgo || !linux || nowasmtime

package wasmtime

// Available reports whether this build offers the wasmtime engine: this one,
// pure Go, a platform other than Linux or built with the nowasmtime tag, does not.
const Available = false
