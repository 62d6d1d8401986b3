//go:build !unix

package cli

func execNode(path string, e *Env) error { return runNode(path, e) }
