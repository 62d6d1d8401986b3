//go:build unix

package cli

import (
	"fmt"
	"os"
	"syscall"
)

// execNode replaces this process with bacalhau-node: same PID, same streams, signals go
// straight to the node.
func execNode(path string, e *Env) error {
	if e.Stdin != os.Stdin || e.Stdout != os.Stdout || e.Stderr != os.Stderr {
		return runNode(path, e) // called with other streams (a test): a child process
	}
	err := syscall.Exec(path, append([]string{path}, e.Args...), os.Environ())
	return fmt.Errorf("starting %s: %w", path, err)
}
