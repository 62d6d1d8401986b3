package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"
)

// NodeBinary is the program that runs a node: the `bacalhau` binary execs it for serve,
// devstack and verify, so that every other command starts without loading the node's
// libraries.
const NodeBinary = "bacalhau-node"

// Forward is the NodeCommands of the `bacalhau` binary: serve, devstack and verify as
// stand-ins that replace the process with bacalhau-node, given the same command line.
func Forward(e *Env) []*cobra.Command {
	short := map[string]string{
		"serve":    "Run a node: storage, API, requester and compute in one process, on the peer-to-peer network",
		"devstack": "Run a network of real nodes on loopback, one process each; Ctrl-C stops them all",
		"verify":   "Re-run a job here and check its result CID and its receipts' signatures",
	}
	var cmds []*cobra.Command
	for _, name := range []string{"serve", "devstack", "verify"} {
		cmds = append(cmds, &cobra.Command{
			Use:                name,
			Short:              short[name],
			DisableFlagParsing: true, // bacalhau-node parses them
			RunE: func(*cobra.Command, []string) error {
				path, err := findNode()
				if err != nil {
					return err
				}
				return execNode(path, e)
			},
		})
	}
	return cmds
}

// findNode finds bacalhau-node: $BACALHAU_NODE_BINARY, else beside this executable, else
// on $PATH.
func findNode() (string, error) {
	if p := os.Getenv("BACALHAU_NODE_BINARY"); p != "" {
		return p, nil
	}
	if self, err := os.Executable(); err == nil {
		if self, err = filepath.EvalSymlinks(self); err == nil {
			p := filepath.Join(filepath.Dir(self), NodeBinary)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath(NodeBinary); err == nil {
		return p, nil
	}
	return "", errors.New("this command runs a node, which needs the " + NodeBinary + " program beside bacalhau or on $PATH " +
		"(`make build` builds both into bin/; or set BACALHAU_NODE_BINARY)")
}

// runNode runs path with e's command line and the same streams, and returns its exit
// code; the fallback of execNode where a process cannot be replaced.
func runNode(path string, e *Env) error {
	cmd := exec.Command(path, e.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.Stdin, e.Stdout, e.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ExitCode(ee.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("running %s: %w", path, err)
	}
	return nil
}
