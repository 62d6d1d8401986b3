// Package cli is the bacalhau command line: every command that talks to a node over its
// HTTP API. It imports none of the node's libraries, so these commands start as fast as
// a small Go program. The commands that run a node in the process (serve, devstack,
// verify) are in nodecmd; the `bacalhau` binary hands them to `bacalhau-node` (see
// Forward), and `bacalhau-node` links them in.
//
//	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, cli.Forward)
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
)

// Env is what every command shares: the streams, the global flags and the command line.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	APIHost        string
	APIPort        int
	// Args is the whole command line after the program name, as Run got it.
	Args []string
}

// ExitCode is returned by a command that has printed its own message and wants the
// process to exit with this code.
type ExitCode int

func (e ExitCode) Error() string { return "exit code " + strconv.Itoa(int(e)) }

// Exit codes with a meaning of their own.
const (
	// ExitInterrupted is the code of a command stopped by Ctrl-C (128 + SIGINT), as a
	// shell reports it.
	ExitInterrupted = 130
	// ExitWaitTimeout is the code of a wait cut short by --wait-timeout, as timeout(1)
	// reports one.
	ExitWaitTimeout = 124
)

const (
	defaultAPIHost = "127.0.0.1"
	defaultAPIPort = 1234
)

// NodeCommands adds the commands that run a node in the process, or stand-ins for them.
type NodeCommands func(e *Env) []*cobra.Command

// Run executes one command line and returns the process exit code. node supplies serve,
// devstack and verify.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, node NodeCommands) int {
	e := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Args: args}
	root := newRoot(e, node)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var code ExitCode
		if errors.As(err, &code) {
			return int(code)
		}
		printErr(stderr, err)
		return 1
	}
	return 0
}

func newRoot(e *Env, node NodeCommands) *cobra.Command {
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
	root.PersistentFlags().StringVar(&e.APIHost, "api-host", host, "host of the node's API (env BACALHAU_API_HOST)")
	root.PersistentFlags().IntVar(&e.APIPort, "api-port", port, "port of the node's API (env BACALHAU_API_PORT)")
	want := commandName(e.Args)
	switch {
	case slices.ContainsFunc(commands, func(c command) bool { return c.name == want }):
		root.AddCommand(commandNamed(want).build(e))
		root.CompletionOptions.DisableDefaultCmd = true // nor cobra's completion commands
	case helpOnly(e.Args):
		// The root's help lists each command by its name and line: stand-ins do.
		for _, c := range commands {
			root.AddCommand(&cobra.Command{Use: c.name, Short: c.short, Run: func(*cobra.Command, []string) {}})
		}
	default: // not one of these: build them all
		for _, c := range commands {
			root.AddCommand(c.build(e))
		}
	}
	if node != nil {
		root.AddCommand(node(e)...)
	}
	addConfig(root, e)
	strictGroups(root)
	return root
}

// commands are the client's commands, by name. Run builds only the one its command line
// names; the root's help gets stand-ins made of each command's name and line; anything
// else (help of a command, completion, a typo that wants suggestions, the node
// commands) gets the whole tree. Building every command with its flags was a fifth of
// the client's start. TestCommandTable checks the names and lines.
var commands = []command{
	{"data", shortData, newData},
	{"wasm", shortWasm, newWasm},
	{"docker", shortDocker, newDocker},
	{"list", shortList, newList},
	{"describe", shortDescribe, newDescribe},
	{"logs", shortLogs, newLogs},
	{"get", shortGet, newGet},
	{"cancel", shortCancel, newCancel},
	{"version", shortVersion, newVersion},
	{"id", shortID, newID},
	{"node", shortNode, newNode},
	{"repo", shortRepo, newRepo},
	{"job", shortJob, newJob},
	{"fn", shortFn, newFn},
}

// What each client command is, as help lists it.
const (
	shortData     = "Add, get, import and export IPFS content on the node"
	shortWasm     = "Run WebAssembly (WASI) jobs"
	shortDocker   = "Run OCI images on the Docker engine of a node, against IPFS data"
	shortList     = "List jobs"
	shortDescribe = "Show a job: spec, state, executions and history"
	shortLogs     = "Print a job's stdout and stderr; -f follows a running job"
	shortGet      = "Download a job's result: outputs/, stdout, stderr, exitCode"
	shortCancel   = "Cancel a pending or running job"
	shortVersion  = "Print the client's and the node's versions"
	shortID       = "Print the node's peer ID, listen addresses and status"
	shortNode     = "The nodes of the network"
	shortRepo     = "The node's repository: its size, and garbage collection"
	shortJob      = "Run and inspect jobs (upstream Bacalhau's v1 commands)"
	shortFn       = "Serverless functions: deploy a WASI module under a name; every node answers HTTP for it"
)

type command struct {
	name, short string
	build       func(*Env) *cobra.Command
}

func commandNamed(name string) command {
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	return commands[i]
}

// helpOnly reports whether args ask for the root's help and nothing else: none, or
// -h/--help among the root's flags.
func helpOnly(args []string) bool {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-h" || a == "--help":
		case rootFlag(a):
			i++
		case rootFlagWithValue(a):
		default:
			return false
		}
	}
	return true
}

// rootFlag reports whether a is a flag of the root command taking the next word as its
// value; rootFlagWithValue whether a is one with its value (--api-port=1235).
func rootFlag(a string) bool { return a == "--api-host" || a == "--api-port" || a == "--config" }

func rootFlagWithValue(a string) bool {
	name, _, ok := strings.Cut(a, "=")
	return ok && rootFlag(name)
}

// commandName is the first word of args that is not a flag of the root command (or a
// flag's value), or "" if there is none or the flags cannot be read without the tree.
func commandName(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case rootFlag(a):
			i++ // the flag's value
		case rootFlagWithValue(a):
		case strings.HasPrefix(a, "-"):
			return "" // help, or a flag only the full tree knows
		default:
			return a
		}
	}
	return ""
}

// strictGroups makes every command that only groups others (data, wasm, node, ...)
// fail on a missing or unknown subcommand, with cobra's suggestions, instead of
// printing its help and exiting 0.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
		c.SuggestionsMinimumDistance = 2
		c.RunE = groupRunE
		c.Args = cobra.ArbitraryArgs
	}
}

// groupRunE runs for a group command given no subcommand or one it does not know.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%q needs a subcommand: %s\nRun '%s --help' for usage", cmd.CommandPath(), subNames(cmd), cmd.CommandPath())
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return fmt.Errorf("%s\n\nAvailable: %s\nRun '%s --help' for usage", msg, subNames(cmd), cmd.CommandPath())
}

func subNames(cmd *cobra.Command) string {
	var names []string
	for _, s := range cmd.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	return strings.Join(names, ", ")
}

// Addr is the node's API address, host:port.
func (e *Env) Addr() string { return net.JoinHostPort(e.APIHost, strconv.Itoa(e.APIPort)) }

// Client is a client of the node's API.
func (e *Env) Client() *api.Client { return api.NewClient("http://" + e.Addr()) }

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
