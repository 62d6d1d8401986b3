//go:build !cgo || !linux || nowasmtime

package main

import "errors"

// wasmtime: this build has no wasmtime engine to measure.
func (b *bench) wasmtime() ([]row, error) {
	return nil, errors.New("built without the wasmtime engine (needs cgo on Linux, no nowasmtime tag)")
}
