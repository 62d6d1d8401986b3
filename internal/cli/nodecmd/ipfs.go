package nodecmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/bacalhau-project/bacalhau-wasm/dht"
	"github.com/bacalhau-project/bacalhau-wasm/internal/gateway"
	"github.com/bacalhau-project/bacalhau-wasm/internal/node"
)

// ipfsFlags are serve's flags for the IPFS network: peering with kubo, the standard
// DHT and the HTTP gateway.
type ipfsFlags struct {
	peers      []string
	dht        bool
	gwHost     string
	gwPort     int
	gwReach    bool
	gwTimeout  time.Duration
	gwRequests int
	gwDuration time.Duration
	gwFloor    int // MiB; 0: none
}

func (f *ipfsFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.peers, "ipfs-peer", nil, "IPFS peers (kubo) to keep a connection to, dialled again when it drops: multiaddrs ending in /p2p/<peer ID> (repeatable or comma-separated)")
	fl.BoolVar(&f.dht, "ipfs-dht", false, "also speak the standard IPFS DHT (bootstrapped from --ipfs-peer), so IPFS peers find this node as a provider of what it holds")
	fl.StringVar(&f.gwHost, "gateway-host", "127.0.0.1", "address the HTTP gateway (/ipfs/) listens on")
	fl.IntVar(&f.gwPort, "gateway-port", -1, "port of the HTTP gateway serving /ipfs/<CID>/path (0 picks a free one; -1, the default, serves none)")
	fl.BoolVar(&f.gwReach, "gateway-fetch", false, "let the gateway fetch content the node does not hold from its peers (default: only what the node holds is served)")
	fl.DurationVar(&f.gwTimeout, "gateway-retrieval-timeout", gateway.DefaultRetrievalTimeout, "how long the gateway waits for one block before answering 404")
	fl.IntVar(&f.gwRequests, "gateway-max-requests", gateway.DefaultMaxRequests, "requests the gateway serves at once; more are answered 429")
	fl.DurationVar(&f.gwDuration, "gateway-max-request-duration", gateway.DefaultMaxRequestDuration, "longest a gateway response may take")
	fl.IntVar(&f.gwFloor, "gateway-heap-floor", gateway.DefaultHeapFloor>>20, "MiB the garbage collector lets the heap reach while the gateway serves (fewer collections per file streamed; 0: the process's GOGC always)")
}

// apply checks the flags and sets what the node's network needs.
func (f *ipfsFlags) apply(nc *node.NetConfig) error {
	if len(f.peers) > 0 {
		ais, err := dht.ParseAddrInfos(f.peers)
		if err != nil {
			return fmt.Errorf("--ipfs-peer: %w (want a multiaddr ending in /p2p/<peer ID>)", err)
		}
		nc.IPFSPeers = ais
	}
	nc.IPFSDHT = f.dht
	if f.gwPort < -1 || f.gwPort > 65535 {
		return fmt.Errorf("--gateway-port %d: want 0 to 65535, or -1 for no gateway", f.gwPort)
	}
	if net.ParseIP(f.gwHost) == nil {
		return fmt.Errorf("--gateway-host %q: want an IP address", f.gwHost)
	}
	if f.gwFloor < 0 || f.gwFloor > 1<<14 {
		return fmt.Errorf("--gateway-heap-floor %d: want 0 to 16384 MiB", f.gwFloor)
	}
	if f.gwTimeout <= 0 || f.gwDuration <= 0 || f.gwRequests <= 0 {
		return errors.New("--gateway-retrieval-timeout, --gateway-max-requests and --gateway-max-request-duration must be positive")
	}
	return nil
}

// serveGateway starts the gateway's listener, if one was asked for, and serves until ctx
// ends. It is its own listener, never the control API's: content is public, the API is not.
func (f *ipfsFlags) serveGateway(ctx context.Context, n *node.Node, out io.Writer) (stop func(), err error) {
	if f.gwPort < 0 {
		return func() {}, nil
	}
	h, err := f.gateway(n)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(f.gwHost, strconv.Itoa(f.gwPort)))
	if err != nil {
		return nil, fmt.Errorf("--gateway-port: cannot listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10, IdleTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	what := "only what this node holds"
	if f.gwReach {
		what = "what this node can fetch from its peers"
	}
	fmt.Fprintf(out, "Gateway on http://%s/ipfs/<CID> (%s)\n", l.Addr(), what)
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}

// gateway is the /ipfs/ gateway over n's blocks, as the flags configure it: served on
// the trigger listener (the public one) and, with --gateway-port, on a listener of its
// own.
func (f *ipfsFlags) gateway(n *node.Node) (http.Handler, error) {
	return gateway.New(gateway.Config{
		Blocks: n.GatewayBlocks(f.gwReach), Has: n.Blocks().Has,
		RetrievalTimeout: f.gwTimeout, MaxRequests: f.gwRequests, MaxRequestDuration: f.gwDuration,
		HeapFloor: f.heapFloor(),
	})
}

// heapFloor is --gateway-heap-floor in gateway.Config's terms (negative: none).
func (f *ipfsFlags) heapFloor() int64 {
	if f.gwFloor == 0 {
		return -1
	}
	return int64(f.gwFloor) << 20
}
