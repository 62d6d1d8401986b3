// Package gateway serves IPFS content over HTTP, as kubo's gateway does: the path
// gateway (files, directory listings, byte ranges) and the trustless gateway (raw
// blocks and CARs, by ?format= or Accept), with boxo's gateway package over the
// node's blocks. It serves /ipfs/ only: no IPNS, no DNSLink, no subdomains.
//
//	h, err := gateway.New(gateway.Config{Blocks: store.Blocks(), Has: store.Has})
//	mux.Handle("/ipfs/", h)
//	// curl http://127.0.0.1:8080/ipfs/<CID>/path/in/dag
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	boxogw "github.com/ipfs/boxo/gateway"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacalhau-project/bacalhau-wasm/blockstore"
	"github.com/bacalhau-project/bacalhau-wasm/internal/heapfloor"
)

// Defaults of Config's zero values.
const (
	// DefaultRetrievalTimeout: a block a reachable peer holds arrives within
	// seconds; past this the gateway answers 404 rather than holding the request.
	DefaultRetrievalTimeout = 10 * time.Second
	// DefaultMaxRequests is how many requests are served at once; more get 429.
	DefaultMaxRequests = 1024
	// DefaultMaxRequestDuration bounds a whole response (a 1 GiB file at 10 MB/s
	// takes under two minutes).
	DefaultMaxRequestDuration = 10 * time.Minute
	// DefaultHeapFloor is the garbage collector's heap goal while responses are being
	// served: every block sent is garbage, and with the node's ~12 MB live heap Go's
	// default collected 20-25 times per 256 MiB streamed; at 64 MiB, about 5 (see
	// internal/heapfloor). An idle gateway keeps the process's own GOGC.
	DefaultHeapFloor = 64 << 20
)

// Config says what the gateway serves.
type Config struct {
	// Blocks reads the blocks it serves: the node's store alone (only what the node
	// holds) or a getter that fetches missing blocks from peers (everything it can
	// reach). Required.
	Blocks blockstore.BlockGetter
	// Has reports whether the node holds a block itself (for only-if-cached). Required.
	Has func(ctx context.Context, c cid.Cid) (bool, error)
	// RetrievalTimeout bounds the wait for one block: a block not there by then is
	// reported as not found (404). 0 means DefaultRetrievalTimeout.
	RetrievalTimeout time.Duration
	// MaxRequests bounds the requests served at once (429 past it). 0 means
	// DefaultMaxRequests.
	MaxRequests int
	// MaxRequestDuration bounds one whole response. 0 means DefaultMaxRequestDuration.
	MaxRequestDuration time.Duration
	// HeapFloor is the heap goal, in bytes, the garbage collector keeps while the
	// gateway answers requests. 0 means DefaultHeapFloor; negative, none.
	HeapFloor int64
}

// New returns the gateway's handler, to be mounted at /ipfs/.
func New(cfg Config) (http.Handler, error) {
	if cfg.Blocks == nil || cfg.Has == nil {
		return nil, errors.New("gateway: Config.Blocks and Config.Has are required")
	}
	if cfg.RetrievalTimeout <= 0 {
		cfg.RetrievalTimeout = DefaultRetrievalTimeout
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	if cfg.MaxRequestDuration <= 0 {
		cfg.MaxRequestDuration = DefaultMaxRequestDuration
	}
	if cfg.HeapFloor == 0 {
		cfg.HeapFloor = DefaultHeapFloor
	}
	bs := blockservice.New(readOnly{g: cfg.Blocks, has: cfg.Has, timeout: cfg.RetrievalTimeout}, nil)
	reg := prometheus.NewRegistry() // the gateway's metrics stay its own, never global
	backend, err := boxogw.NewBlocksBackend(bs, boxogw.WithPrometheusRegistry(reg))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	h := boxogw.NewHandler(boxogw.Config{
		DeserializedResponses: true,
		NoDNSLink:             true,
		DeprecatedXIpfsPath:   true,
		MaxConcurrentRequests: cfg.MaxRequests,
		MaxRequestDuration:    cfg.MaxRequestDuration,
		MetricsRegistry:       reg,
	}, backend)
	mux := http.NewServeMux()
	mux.Handle("/ipfs/", h)
	if cfg.HeapFloor < 0 {
		return mux, nil
	}
	floor := uint64(cfg.HeapFloor)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer heapfloor.Hold(floor)()
		mux.ServeHTTP(w, r)
	}), nil
}

// errReadOnly: the gateway never writes to the node's store.
var errReadOnly = errors.New("gateway: the node's blocks are read-only here")

// readOnly is the boxo blockstore the gateway reads through: blocks from the getter,
// each within the retrieval timeout, a missing one as ipld's not-found (404).
type readOnly struct {
	g       blockstore.BlockGetter
	has     func(ctx context.Context, c cid.Cid) (bool, error)
	timeout time.Duration
}

var _ bstore.Blockstore = readOnly{}

func (r readOnly) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	gctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.g.GetBlock(gctx, c)
	if err == nil {
		return b, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err() // the client went away or the request's own bound passed
	}
	if errors.Is(err, blockstore.ErrNotFound) || errors.Is(err, context.DeadlineExceeded) || gctx.Err() != nil {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	var stall *blockstore.StallError
	if errors.As(err, &stall) {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	return nil, err
}

func (r readOnly) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	b, err := r.Get(ctx, c)
	if err != nil {
		return -1, err
	}
	return len(b.RawData()), nil
}

func (r readOnly) Has(ctx context.Context, c cid.Cid) (bool, error) { return r.has(ctx, c) }

func (readOnly) Put(context.Context, blocks.Block) error       { return errReadOnly }
func (readOnly) PutMany(context.Context, []blocks.Block) error { return errReadOnly }
func (readOnly) DeleteBlock(context.Context, cid.Cid) error    { return errReadOnly }
func (readOnly) AllKeysChan(context.Context) (<-chan cid.Cid, error) {
	return nil, errReadOnly
}
