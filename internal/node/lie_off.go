//go:build !bacalhau_liar

package node

// lie is the hook of the lying test build (build tag bacalhau_liar): in normal builds
// it does nothing.
func lie(dir string) {}
