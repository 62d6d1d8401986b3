package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/internal/api"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cidtext"
	"github.com/bacalhau-project/bacalhau-wasm/internal/httpc"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// defaultTriggerPort is where `fn invoke` looks for the node's trigger listener.
const defaultTriggerPort = 8080

func newFn(e *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fn",
		Short: shortFn,
	}
	cmd.AddCommand(newFnDeploy(e), newFnList(e), newFnDescribe(e), newFnDelete(e), newFnLogs(e), newFnInvoke(e))
	return cmd
}

type deployFlags struct {
	inputs      []string
	env         []string
	timeout     string
	memory      string
	maxBody     string
	concurrency int
	mode        string
	pool        int
	recycle     int
	engine      string
	routes      []string
	output      string
}

func newFnDeploy(e *Env) *cobra.Command {
	var f deployFlags
	cmd := &cobra.Command{
		Use:   "deploy NAME MODULE.wasm|CID",
		Short: "Deploy (or redeploy) a function to the network",
		Example: `  bacalhau fn deploy hello ./hello.wasm
  bacalhau fn deploy hello ./hello.wasm --route /hello
  bacalhau fn deploy api ./api.wasm --mode pooled --timeout 5s --memory 64MB --concurrency 32
  bacalhau fn deploy fast ./api.wasm --engine wasmtime --mode pooled
  bacalhau fn deploy data ./data.wasm -i ipfs://bafy...:/data -e GREETING=hi`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(f.output); err != nil {
				return err
			}
			fn, err := f.function(args[0])
			if err != nil {
				return err
			}
			if fn.Module, err = moduleCID(cmd, e, args[1]); err != nil {
				return err
			}
			out, err := e.Client().DeployFunction(cmd.Context(), fn)
			if err != nil {
				return err
			}
			if f.output != outTable {
				return PrintData(e.Stdout, f.output, out)
			}
			fmt.Fprintf(e.Stdout, "Function %s deployed: module %s, %s mode on %s, version %d\n", out.Name, out.Module, out.Mode, engineName(out.EngineOf()), out.Version)
			fmt.Fprintf(e.Stdout, "Served on every node's trigger port: curl http://<node>:<trigger port>/fn/%s/\n", out.Name)
			for _, r := range out.Routes {
				fmt.Fprintf(e.Stdout, "and on its route:                curl http://<node>:<trigger port>%s\n", r)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.inputs, "input", "i", nil, "input mounted read-only: CID, ipfs://CID:/target or src=ipfs://CID,dst=/target (repeatable)")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "environment variable NAME=value (repeatable)")
	fl.StringVar(&f.timeout, "timeout", "", fmt.Sprintf("per-request wall-clock limit, e.g. 5s (default %s); past it: 504", job.DefaultFunctionTimeout))
	fl.StringVar(&f.memory, "memory", "", fmt.Sprintf("memory limit of an instance, e.g. 64MB (default %s)", job.FormatBytes(job.DefaultFunctionMemory)))
	fl.StringVar(&f.maxBody, "max-body", "", fmt.Sprintf("largest request body (default %s); past it: 413", job.FormatBytes(job.DefaultFunctionMaxBody)))
	fl.IntVar(&f.concurrency, "concurrency", 0, fmt.Sprintf("requests one node runs at once (default %d); more wait, then get 429", job.DefaultFunctionConcurrent))
	fl.StringVar(&f.mode, "mode", string(job.ModeFresh), "fresh (an instance per request, CGI) or pooled (instances reused; built with the Go SDK)")
	fl.IntVar(&f.pool, "pool-size", 0, fmt.Sprintf("pooled mode: live instances per node (default %d, at most --concurrency)", job.DefaultFunctionPoolSize))
	fl.StringArrayVar(&f.routes, "route", nil, "also answer on this path of the trigger listener and under it, e.g. /hello (repeatable; one function's at a time; not /fn, /ipfs, /api, /metrics)")
	fl.IntVar(&f.recycle, "recycle", 0, fmt.Sprintf("pooled mode: requests an instance serves before it is replaced (default %d)", job.DefaultFunctionRecycle))
	fl.StringVar(&f.engine, "engine", "wazero", "wazero or wasmtime (faster; served only by nodes that offer it)")
	addOutputFlag(cmd, &f.output, outTable)
	return cmd
}

func (f deployFlags) function(name string) (job.Function, error) {
	fn := job.Function{Name: name, Mode: job.FunctionMode(f.mode), Concurrency: f.concurrency, PoolSize: f.pool, Recycle: f.recycle, Routes: f.routes}
	if err := job.ValidFunctionName(name); err != nil {
		return fn, err
	}
	var err error
	if fn.Engine, err = wasmEngine(f.engine); err != nil {
		return fn, err
	}
	for _, s := range f.inputs {
		in, err := job.ParseInput(s)
		if err != nil {
			return fn, fmt.Errorf("--input %q: %w", s, err)
		}
		fn.Inputs = append(fn.Inputs, in)
	}
	if fn.Env, err = job.ParseEnv(f.env); err != nil {
		return fn, err
	}
	if f.timeout != "" {
		t, err := parseTimeout(f.timeout)
		if err != nil {
			return fn, err
		}
		fn.Timeout = job.Duration(t)
	}
	if f.memory != "" {
		if fn.Memory, err = job.ParseBytes(f.memory); err != nil {
			return fn, fmt.Errorf("--memory: %w", err)
		}
	}
	if f.maxBody != "" {
		if fn.MaxBody, err = job.ParseBytes(f.maxBody); err != nil {
			return fn, fmt.Errorf("--max-body: %w", err)
		}
	}
	if fn.PoolSize == 0 && fn.Concurrency > 0 {
		fn.PoolSize = min(job.DefaultFunctionPoolSize, fn.Concurrency)
	}
	checked := fn
	checked.Module = cidtext.MustParse("bafkqaaa") // the module is uploaded after the flags are checked
	checked.Normalize()
	return fn, checked.Validate()
}

func newFnList(e *Env) *cobra.Command {
	var output string
	var hide bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the functions deployed on the network",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			fns, err := e.Client().Functions(cmd.Context())
			if err != nil {
				return err
			}
			if output != outTable {
				return PrintData(e.Stdout, output, fns)
			}
			rows := make([][]string, 0, len(fns))
			for _, f := range fns {
				rows = append(rows, []string{f.Name, f.Module.String(), string(f.Mode), engineName(f.EngineOf()), time.Duration(f.Timeout).String(),
					job.FormatBytes(f.Memory), strconv.Itoa(f.Concurrency), f.Deployed.Format(time.RFC3339), cmp(strings.Join(f.Routes, ","), "-")})
			}
			return table(e.Stdout, []string{"NAME", "MODULE", "MODE", "ENGINE", "TIMEOUT", "MEMORY", "CONCURRENCY", "DEPLOYED", "ROUTES"}, rows, hide)
		},
	}
	addOutputFlag(cmd, &output, outTable)
	cmd.Flags().BoolVar(&hide, "hide-header", false, "omit the header row")
	return cmd
}

func newFnDescribe(e *Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a function's module, inputs, limits and version",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == outTable {
				output = outYAML
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			f, err := e.Client().Function(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return PrintData(e.Stdout, output, f)
		},
	}
	addOutputFlag(cmd, &output, outYAML)
	return cmd
}

func newFnDelete(e *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a function from the network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := e.Client().DeleteFunction(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "Function %s deleted\n", args[0])
			return nil
		},
	}
	return cmd
}

func newFnLogs(e *Env) *cobra.Command {
	var follow bool
	var output string
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Show the requests every node ran for a function: node, request ID, status, duration, stderr; -f follows",
		Long: `Show the requests every node of the network ran for a function, oldest first: the
node asked gathers its peers' records (waiting a few seconds at most, and saying which
peers did not answer). A line is: time, node, request ID, status, method, path,
duration, then the error if any; what the guest wrote to stderr follows, indented.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			cursor := ""
			warned := map[string]bool{}
			for {
				page, err := e.Client().FunctionLogs(cmd.Context(), args[0], cursor)
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					return err
				}
				for _, u := range page.Unreachable {
					if !warned[u.Node] {
						warned[u.Node] = true
						fmt.Fprintf(e.Stderr, "node %s gave no records: %s\n", u.Node, u.Error)
					}
				}
				if output != outTable && !follow {
					return PrintData(e.Stdout, output, page.Records)
				}
				for _, r := range page.Records {
					if output != outTable {
						if err := PrintData(e.Stdout, output, r); err != nil {
							return err
						}
					} else {
						printInvocation(e.Stdout, r)
					}
				}
				cursor = page.Cursor
				if !follow {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(500 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new requests until interrupted")
	addOutputFlag(cmd, &output, outTable)
	return cmd
}

func printInvocation(w io.Writer, r api.Invocation) {
	cold := ""
	if r.Cold {
		cold = " cold"
	}
	line := fmt.Sprintf("%s %s %s %d %s %s %s%s", r.Time.Format(time.RFC3339Nano), cmp(r.Node, "-"), r.RequestID, r.Status, r.Method, cmp(r.Path, "/"), r.Duration.Round(time.Microsecond), cold)
	if r.Error != "" {
		line += ": " + r.Error
	}
	fmt.Fprintln(w, line)
	if s := strings.TrimRight(r.Stderr, "\n"); s != "" {
		for _, l := range strings.Split(s, "\n") {
			fmt.Fprintf(w, "    | %s\n", printable(l))
		}
	}
}

// printable replaces what a terminal would act on (control bytes, invalid UTF-8) in
// text a guest wrote.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0) && r != utf8.RuneError {
			return r
		}
		return '?'
	}, s)
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newFnInvoke(e *Env) *cobra.Command {
	var (
		data    string
		headers []string
		method  string
		port    int
		include bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "invoke NAME[/PATH?QUERY]",
		Short: "Send a request to a function through the node's trigger port and print the response body",
		Example: `  bacalhau fn invoke hello
  bacalhau fn invoke api/sum --data '{"numbers":[1,2]}' -H 'Content-Type: application/json'
  bacalhau fn invoke api/sum --data @body.json -i`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var body io.Reader
			if data != "" {
				b := []byte(data)
				if name, ok := strings.CutPrefix(data, "@"); ok {
					var err error
					if b, err = os.ReadFile(name); err != nil {
						return fmt.Errorf("--data: %w", err)
					}
				}
				body = bytes.NewReader(b)
				if method == "" {
					method = "POST"
				}
			}
			if method == "" {
				method = "GET"
			}
			name, rest, _ := strings.Cut(args[0], "/")
			if err := job.ValidFunctionName(name); err != nil {
				return err
			}
			url := "http://" + net.JoinHostPort(e.APIHost, strconv.Itoa(port)) + "/fn/" + name + "/" + rest
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req := &httpc.Request{Method: method, URL: url, Body: body, Header: httpc.Header{}}
			if b, ok := body.(*bytes.Reader); ok {
				req.ContentLength = int64(b.Len())
			}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return fmt.Errorf("-H %q: want 'Name: value'", h)
				}
				req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			var c httpc.Client
			resp, err := c.Do(ctx, req)
			if err != nil {
				return fmt.Errorf("no trigger listener at %s (start the node with --trigger-port, or pass --trigger-port): %w", url, err)
			}
			defer resp.Body.Close()
			if include {
				fmt.Fprintf(e.Stdout, "%s %s\n", resp.Proto, resp.Status)
				_ = httpc.WriteHeader(e.Stdout, resp.Header)
				fmt.Fprintln(e.Stdout)
			}
			if _, err := io.Copy(e.Stdout, io.LimitReader(resp.Body, 1<<30)); err != nil {
				return err
			}
			if resp.StatusCode >= 400 {
				fmt.Fprintf(e.Stderr, "%s\n", resp.Status)
				return ExitCode(1)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&data, "data", "d", "", "request body, or @file to send a file's bytes (makes the method POST)")
	fl.StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	fl.StringVarP(&method, "request", "X", "", "HTTP method (default GET, POST with --data)")
	fl.BoolVarP(&include, "include", "i", false, "print the status line and headers too")
	fl.DurationVar(&timeout, "timeout", time.Minute, "give up waiting for the response after this long")
	defPort := defaultTriggerPort
	if p, err := strconv.Atoi(os.Getenv("BACALHAU_TRIGGER_PORT")); err == nil {
		defPort = p
	}
	fl.IntVar(&port, "trigger-port", defPort, "the node's trigger port, on --api-host (env BACALHAU_TRIGGER_PORT)")
	return cmd
}

// engineName is the name users know an engine by: wazero for job.EngineWasm.
func engineName(e job.Engine) string {
	if e == job.EngineWasm {
		return "wazero"
	}
	return string(e)
}
