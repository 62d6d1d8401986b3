package nodecmd

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/api/server"
	"github.com/bacalhau-project/bacalhau-wasm/internal/cli"
	"github.com/bacalhau-project/bacalhau-wasm/internal/executor/wasm"
	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
	"github.com/bacalhau-project/bacalhau-wasm/internal/node"
	"github.com/bacalhau-project/bacalhau-wasm/sandbox"
)

// defaultSwarmPort is upstream Bacalhau's libp2p port.
const defaultSwarmPort = 1235

type serveFlags struct {
	repo        string
	concurrency int
	logLevel    string
	peers       []string
	swarmHost   string
	swarmPort   int
	labels      []string
	grace       time.Duration
	heartbeat   time.Duration
	origins     []string
	logStreams  int
	memory      string
	maxOutputs  string
	fetchers    int
	fetchTime   time.Duration
	stall       time.Duration
	repoMax     string
	gcEvery     time.Duration
	keepResults time.Duration
	keepFailed  time.Duration
	cacheMem    string
	cacheDisk   string
	wasm        wasm.Options // from cacheMem and cacheDisk
	docker      dockerFlags
	engines     engineFlags
	fn          fnFlags
	ipfs        ipfsFlags
}

func newServe(e *cli.Env, o Options) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a node: storage, API, requester and compute in one process, on the peer-to-peer network",
		Example: `  bacalhau serve                                                   # a new network of one
  bacalhau serve --peer none --swarm-port 1235 --labels region=eu  # a new private network; prints the join command
  bacalhau serve --peer /ip4/10.0.0.5/tcp/1235/p2p/12D3KooW...     # join a network through any known peer`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := f.config(e)
			if err != nil {
				return err
			}
			start := time.Now()
			l, err := net.Listen("tcp", e.Addr())
			if err != nil {
				return fmt.Errorf("cannot listen on %s: %w", e.Addr(), err)
			}
			eo, err := f.engines.options()
			if err != nil {
				return err
			}
			if cfg.Executors, err = o.executors(ctx, cfg.Repo, f.wasm, eo, f.docker); err != nil {
				l.Close()
				return err
			}
			cfg.Functions.Engines = functionEngines(eo)
			n, err := node.Open(ctx, cfg)
			if err != nil {
				l.Close()
				return err
			}
			defer n.Close()
			stopGateway, err := f.ipfs.serveGateway(ctx, n, e.Stdout)
			if err != nil {
				l.Close()
				return err
			}
			defer stopGateway()
			srv := server.New(server.Config{AllowedOrigins: f.origins, MaxLogStreams: f.logStreams}, n, n.DataFront(), n)
			srv.ServeFunctions(n.Functions())
			srv.ServeMetrics(n.MetricsHandler())
			gw, err := f.ipfs.gateway(n)
			if err != nil {
				return err
			}
			trig, err := f.fn.serveTrigger(ctx, n, e.Stdout, map[string]http.Handler{"/ipfs/": gw})
			if err != nil {
				return err
			}
			info := n.Info()
			host, port := e.APIHost, l.Addr().(*net.TCPAddr).Port
			if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				host = "127.0.0.1" // listening everywhere: loopback reaches it from this machine
			}
			apiAddr := net.JoinHostPort(host, strconv.Itoa(port))
			fmt.Fprintf(e.Stdout, "Node %s ready in %s: API on http://%s (repo %s, %d workers)\n",
				info.ID, time.Since(start).Round(time.Millisecond), apiAddr, cfg.Repo, info.Concurrency)
			fmt.Fprintf(e.Stdout, "To use it from another shell:\n  export BACALHAU_API_HOST=%s BACALHAU_API_PORT=%d\n", host, port)
			if join := joinAddr(info.Addrs); join != "" {
				fmt.Fprintf(e.Stdout, "To join this network from another machine:\n  bacalhau serve --peer %s\n", join)
			}
			err = srv.Serve(ctx, l)
			if ctx.Err() != nil {
				<-trig
				fmt.Fprintln(e.Stdout, "Shutting down")
				return nil
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "node repository (default $BACALHAU_DIR or ~/.bacalhau)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "jobs run at once (default: number of CPUs)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringSliceVar(&f.peers, "peer", nil, `peers to join through: multiaddrs ending in /p2p/<peer ID> (repeatable or comma-separated); "none" (the default) starts a new network`)
	fl.StringVar(&f.swarmHost, "swarm-host", "0.0.0.0", "address the libp2p host listens on")
	fl.IntVar(&f.swarmPort, "swarm-port", defaultSwarmPort, "libp2p port, TCP and QUIC (0 picks a free one)")
	fl.StringSliceVar(&f.labels, "labels", nil, "node labels key=value (repeatable or comma-separated), matched by jobs' -s selectors")
	fl.DurationVar(&f.grace, "grace", node.DefaultGrace, "how long a node may be silent before its executions are run elsewhere")
	fl.DurationVar(&f.heartbeat, "heartbeat", node.DefaultHeartbeat, "interval of this node's heartbeats")
	fl.StringVar(&f.memory, "memory", "", "memory offered to jobs in all, e.g. 8GiB: each running job holds its --memory of it (default 3/4 of the machine's RAM)")
	fl.StringVar(&f.maxOutputs, "max-outputs-limit", job.FormatBytes(node.DefaultMaxOutputsLimit), "the largest --outputs-limit a job may ask for on this node")
	fl.IntVar(&f.fetchers, "fetchers", node.DefaultFetchers, "jobs fetching their module and inputs from the network at once (outside the workers)")
	fl.DurationVar(&f.fetchTime, "fetch-timeout", node.DefaultFetchTimeout, "how long a job may wait for its module and inputs to arrive (never longer than its own --timeout)")
	fl.DurationVar(&f.stall, "fetch-stall-timeout", blockstore.DefaultStallTimeout, "a download of a DAG from peers (data get, car export, a job's reads) fails when no block arrives for this long")
	fl.StringVar(&f.repoMax, "repo-max-size", job.FormatBytes(node.DefaultRepoMaxSize), `most the blockstore may hold on disk; a write past it collects garbage first, then fails ("0" for no limit)`)
	fl.DurationVar(&f.gcEvery, "gc-interval", node.DefaultGCInterval, "how often to collect garbage (blocks no pin holds); 0 only when the repository is full or on `bacalhau repo gc`")
	fl.DurationVar(&f.keepResults, "result-retention", node.DefaultResultRetention, "how long this node keeps the result of a job it ran that completed")
	fl.DurationVar(&f.keepFailed, "failed-result-retention", node.DefaultFailedRetention, "how long it keeps the result of one that failed or was cancelled")
	fl.StringVar(&f.cacheMem, "compile-cache-memory", job.FormatBytes(sandbox.DefaultMaxCacheBytes), "compiled modules kept in memory, least recently used dropped first")
	fl.StringVar(&f.cacheDisk, "compile-cache-disk", job.FormatBytes(sandbox.DefaultMaxDiskCacheBytes), "compiled modules kept on disk, oldest dropped first")
	fl.DurationVar(&f.wasm.CompileTimeout, "compile-timeout", sandbox.DefaultLoadTimeout, "how long compiling a job's module (or loading it from the compile cache) may take; a step of its own before the job's --timeout starts")
	f.fn.register(fl)
	fl.StringSliceVar(&f.origins, "api-allow-origin", nil, `web origins (scheme://host:port, or "*") whose pages may call the API from a browser (repeatable; default none: requests from web pages are refused)`)
	fl.IntVar(&f.logStreams, "api-max-log-streams", server.DefaultMaxLogStreams, "log websockets (upstream's job logs) open at once; more are answered 429")
	f.docker.register(fl)
	f.engines.register(cmd)
	f.ipfs.register(cmd)
	return cmd
}

// config turns the flags into a node configuration.
func (f *serveFlags) config(e *cli.Env) (node.Config, error) {
	cfg := node.Config{Repo: f.repo, Concurrency: f.concurrency, Fetchers: f.fetchers, FetchTimeout: f.fetchTime}
	var err error
	if cfg.Functions, err = f.fn.config(); err != nil {
		return cfg, err
	}
	if f.logStreams < 1 {
		return cfg, fmt.Errorf("--api-max-log-streams %d: want at least 1", f.logStreams)
	}
	if f.fetchers < 1 {
		return cfg, fmt.Errorf("--fetchers %d: want at least 1", f.fetchers)
	}
	if f.fetchTime <= 0 || f.stall <= 0 {
		return cfg, fmt.Errorf("--fetch-timeout and --fetch-stall-timeout must be positive")
	}
	if f.memory != "" {
		if cfg.Memory, err = job.ParseBytes(f.memory); err != nil {
			return cfg, fmt.Errorf("--memory: %w", err)
		}
		if cfg.Memory < job.MinMemory {
			return cfg, fmt.Errorf("--memory %s: a node must offer at least %s", f.memory, job.FormatBytes(job.MinMemory))
		}
	}
	if cfg.MaxOutputsLimit, err = job.ParseBytes(f.maxOutputs); err != nil {
		return cfg, fmt.Errorf("--max-outputs-limit: %w", err)
	}
	repoMax, err := job.ParseBytes(f.repoMax)
	if err != nil {
		return cfg, fmt.Errorf("--repo-max-size: %w", err)
	}
	cfg.RepoMaxSize = int64(repoMax)
	if repoMax == 0 {
		cfg.RepoMaxSize = -1 // no limit
	}
	cfg.GCInterval = f.gcEvery
	if f.gcEvery <= 0 {
		cfg.GCInterval = -1
	}
	if f.keepResults <= 0 || f.keepFailed <= 0 {
		return cfg, fmt.Errorf("--result-retention and --failed-result-retention must be positive")
	}
	cfg.ResultRetention, cfg.FailedRetention = f.keepResults, f.keepFailed
	if f.wasm.CacheMemory, err = job.ParseBytes(f.cacheMem); err != nil {
		return cfg, fmt.Errorf("--compile-cache-memory: %w", err)
	}
	if f.wasm.CacheDisk, err = job.ParseBytes(f.cacheDisk); err != nil {
		return cfg, fmt.Errorf("--compile-cache-disk: %w", err)
	}
	if f.wasm.CacheMemory == 0 || f.wasm.CacheDisk == 0 {
		return cfg, fmt.Errorf("--compile-cache-memory and --compile-cache-disk must be positive")
	}
	if f.wasm.CompileTimeout <= 0 {
		return cfg, fmt.Errorf("--compile-timeout must be positive")
	}
	if cfg.Repo == "" {
		var err error
		if cfg.Repo, err = defaultRepo(); err != nil {
			return cfg, err
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return cfg, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	labels, err := job.ParseLabels(f.labels)
	if err != nil {
		return cfg, fmt.Errorf("--labels: %w", err)
	}
	cfg.Labels = labels
	if f.swarmPort < 0 || f.swarmPort > 65535 {
		return cfg, fmt.Errorf("--swarm-port %d: want 0 to 65535", f.swarmPort)
	}
	ip := net.ParseIP(f.swarmHost)
	if ip == nil {
		return cfg, fmt.Errorf("--swarm-host %q: want an IP address", f.swarmHost)
	}
	family := "ip4"
	if ip.To4() == nil {
		family = "ip6"
	}
	port := strconv.Itoa(f.swarmPort)
	nc := &node.NetConfig{
		Listen: []string{
			"/" + family + "/" + ip.String() + "/tcp/" + port,
			"/" + family + "/" + ip.String() + "/udp/" + port + "/quic-v1",
		},
		Grace:      f.grace,
		Heartbeat:  f.heartbeat,
		FetchStall: f.stall,
	}
	var addrs []string
	for _, p := range f.peers {
		if p = strings.TrimSpace(p); p != "" && p != "none" {
			addrs = append(addrs, p)
		}
	}
	if len(addrs) > 0 {
		if nc.Peers, err = dht.ParseAddrInfos(addrs); err != nil {
			return cfg, fmt.Errorf("--peer: %w (want a multiaddr ending in /p2p/<peer ID>, or none)", err)
		}
	}
	if err := f.ipfs.apply(nc); err != nil {
		return cfg, err
	}
	cfg.Network = nc
	return cfg, nil
}

// joinAddr picks the address another machine would dial: a TCP one, not loopback if
// the node has another.
func joinAddr(addrs []string) string {
	best := ""
	for _, a := range addrs {
		if !strings.Contains(a, "/tcp/") {
			continue
		}
		if best == "" || strings.HasPrefix(best, "/ip4/127.") && !strings.HasPrefix(a, "/ip4/127.") {
			best = a
		}
	}
	return best
}

func defaultRepo() (string, error) {
	if d := os.Getenv("BACALHAU_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --repo, no BACALHAU_DIR and no home directory: %w", err)
	}
	return filepath.Join(home, ".bacalhau"), nil
}
