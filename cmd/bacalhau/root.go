package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// env is what every command shares: the streams and the global flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	apiHost        string
	apiPort        int
}

// exitCode is returned by a command that has printed its own message and wants the
// process to exit with this code.
type exitCode int

func (e exitCode) Error() string { return "exit code " + strconv.Itoa(int(e)) }

const (
	defaultAPIHost = "127.0.0.1"
	defaultAPIPort = 1234
)

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "bacalhau",
		Short:         "Compute over data: run WebAssembly against IPFS content",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	host, port := defaultAPIHost, defaultAPIPort
	if h := os.Getenv("BACALHAU_API_HOST"); h != "" {
		host = h
	}
	if p, err := strconv.Atoi(os.Getenv("BACALHAU_API_PORT")); err == nil {
		port = p
	}
	root.PersistentFlags().StringVar(&e.apiHost, "api-host", host, "host of the node's API (env BACALHAU_API_HOST)")
	root.PersistentFlags().IntVar(&e.apiPort, "api-port", port, "port of the node's API (env BACALHAU_API_PORT)")
	root.AddCommand(
		newServe(e),
		newData(e),
		newWasm(e),
		newList(e),
		newDescribe(e),
		newLogs(e),
		newGet(e),
		newCancel(e),
		newVersion(e),
		newID(e),
		newNode(e),
		newVerify(e),
		newDevstack(e),
	)
	return root
}

func (e *env) addr() string { return net.JoinHostPort(e.apiHost, strconv.Itoa(e.apiPort)) }

func (e *env) client() *api.Client { return api.NewClient("http://" + e.addr()) }

func printErr(w io.Writer, err error) {
	fmt.Fprintf(w, "Error: %v\n", err)
}

// isTerminal reports whether w is a character device, e.g. a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
