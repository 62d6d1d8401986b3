package nodecmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/bacalhau-project/bacalhau-wasm/internal/functions"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/node"
	"github.com/bacalhau-project/bacalhau-wasm/internal/trigger"
)

// fnFlags are serve's flags of the functions role and its trigger listener.
type fnFlags struct {
	port         int
	host         string
	concurrency  int
	queue        int
	queueTimeout time.Duration
	maxResponse  string
	instances    int
	maxFunctions int
	headerTime   time.Duration
	bodyTime     time.Duration
	logEntries   int
	logStderr    string
}

func (f *fnFlags) register(fl *pflag.FlagSet) {
	fl.IntVar(&f.port, "trigger-port", -1, "port of the public listener that runs functions (/fn/<name>/); -1 (the default) serves none, 0 picks a free port")
	fl.StringVar(&f.host, "trigger-host", "127.0.0.1", "address the trigger listener listens on")
	fl.IntVar(&f.concurrency, "fn-concurrency", functions.DefaultMaxConcurrent, "function requests this node runs at once, all functions together")
	fl.IntVar(&f.queue, "fn-queue", functions.DefaultMaxQueue, "function requests that may wait for a slot; past it: 429")
	fl.DurationVar(&f.queueTimeout, "fn-queue-timeout", functions.DefaultQueueTimeout, "how long a function request may wait for a slot; past it: 429")
	fl.StringVar(&f.maxResponse, "fn-max-response", job.FormatBytes(functions.DefaultMaxResponse), "largest response a function may write; past it: 502")
	fl.IntVar(&f.instances, "fn-max-instances", functions.DefaultMaxInstances, "live pooled instances on this node, all functions together")
	fl.IntVar(&f.maxFunctions, "max-functions", functions.DefaultMaxFunctions, "functions this node keeps deployed at once")
	fl.IntVar(&f.logEntries, "fn-log-entries", functions.DefaultLogEntries, "records of requests (fn logs) this node keeps per function, in memory")
	fl.StringVar(&f.logStderr, "fn-log-stderr", job.FormatBytes(functions.DefaultLogStderr), "bytes of a request's stderr its record keeps (the end), up to 64KiB")
	fl.DurationVar(&f.headerTime, "trigger-header-timeout", trigger.DefaultReadHeaderTimeout, "time a client has to send a request's headers to the trigger listener")
	fl.DurationVar(&f.bodyTime, "trigger-body-timeout", trigger.DefaultBodyTimeout, "time a client has to send a request's body to the trigger listener")
}

func (f *fnFlags) config() (*node.FunctionsConfig, error) {
	if f.port < -1 || f.port > 65535 {
		return nil, fmt.Errorf("--trigger-port %d: want -1 (none), 0 (any free port) or a port", f.port)
	}
	if f.concurrency < 1 || f.queue < 0 || f.queueTimeout <= 0 || f.instances < 1 || f.maxFunctions < 1 {
		return nil, fmt.Errorf("--fn-concurrency, --fn-max-instances and --max-functions must be at least 1, --fn-queue at least 0, --fn-queue-timeout positive")
	}
	if f.headerTime <= 0 || f.bodyTime <= 0 {
		return nil, fmt.Errorf("--trigger-header-timeout and --trigger-body-timeout must be positive")
	}
	resp, err := job.ParseBytes(f.maxResponse)
	if err != nil || resp == 0 || resp > 1<<30 {
		return nil, fmt.Errorf("--fn-max-response %q: want a size from 1B to 1GiB", f.maxResponse)
	}
	if f.logEntries < 1 {
		return nil, fmt.Errorf("--fn-log-entries %d: want at least 1", f.logEntries)
	}
	stderr, err := job.ParseBytes(f.logStderr)
	if err != nil || stderr == 0 || stderr > job.MaxInvocationStderr {
		return nil, fmt.Errorf("--fn-log-stderr %q: want a size from 1B to %s", f.logStderr, job.FormatBytes(job.MaxInvocationStderr))
	}
	return &node.FunctionsConfig{MaxFunctions: f.maxFunctions, Runtime: functions.Config{
		MaxConcurrent: f.concurrency, MaxQueue: max(f.queue, 0), QueueTimeout: f.queueTimeout,
		MaxResponse: int64(resp), MaxInstances: f.instances, LogEntries: f.logEntries, LogStderr: int(stderr)}}, nil
}

// serveTrigger starts the trigger listener, if asked for, and prints where it is; mount
// adds other public handlers beside /fn/ (the /ipfs/ gateway). It serves until ctx
// ends; the returned channel gives its error.
func (f *fnFlags) serveTrigger(ctx context.Context, n *node.Node, out io.Writer, mount map[string]http.Handler) (<-chan error, error) {
	errc := make(chan error, 1)
	if f.port < 0 {
		close(errc) // no listener: nothing to wait for at shutdown
		return errc, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(f.host, strconv.Itoa(f.port)))
	if err != nil {
		return nil, fmt.Errorf("--trigger-port: cannot listen on %s:%d: %w", f.host, f.port, err)
	}
	t := trigger.New(trigger.Config{ReadHeaderTimeout: f.headerTime, BodyTimeout: f.bodyTime}, n.Functions())
	for pattern, h := range mount {
		t.Handle(pattern, h)
	}
	go func() { errc <- t.Serve(ctx, l) }()
	n.Functions().Serve() // compile the deployed functions' modules before their first requests
	host := f.host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	fmt.Fprintf(out, "Functions on http://%s/fn/<name>/\n", net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
	if mount["/ipfs/"] != nil {
		fmt.Fprintf(out, "Gateway on http://%s/ipfs/<CID>\n", net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)))
	}
	return errc, nil
}
