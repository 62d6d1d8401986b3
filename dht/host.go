package dht

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/dual"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtocolPrefix keeps our DHT apart from the public IPFS one: peers speaking
// /ipfs/kad/1.0.0 never enter our routing tables and we never enter theirs.
const ProtocolPrefix protocol.ID = "/bacalhau"

// DefaultListenAddrs are used when Config.ListenAddrs is empty.
var DefaultListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// Config says how to start a node. Only Dir is required.
type Config struct {
	Dir         string          // the identity key file lives here (created on first start)
	ListenAddrs []string        // multiaddrs; default DefaultListenAddrs
	Bootstrap   []peer.AddrInfo // peers that seed the DHT; see ParseAddrInfos for strings
	Labels      map[string]string
	Logger      *slog.Logger // default: discard
	Topics      Topics       // the pubsub topics to join, and what each carries; none if nil

	// IPFSPeers are IPFS peers (kubo) this node keeps a connection to, dialled again
	// when it drops, so that they exchange blocks over bitswap (see startPeering).
	IPFSPeers []peer.AddrInfo
	// IPFSDHT also runs a DHT with the standard IPFS protocols, so that IPFS peers
	// find what this node provides (see startIPFSDHT).
	IPFSDHT bool

	// DiscoveryInterval is the first pause between discovery rounds; it doubles up to a
	// minute. Zero means one second.
	DiscoveryInterval time.Duration
}

// Peer is a running peer: host, DHT, pubsub and discovery. Close it when done.
type Peer struct {
	host    host.Host
	dht     *kaddht.IpfsDHT
	ipfsDHT *dual.DHT // nil without Config.IPFSDHT
	ps      *pubsub.PubSub
	log     *slog.Logger
	labels  map[string]string

	bootstrap []peer.AddrInfo // dialled again while the node has no connection

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup

	topics  map[Topic]*pubsub.Topic
	codec   codec
	seq     seqCounter
	guard   *replayGuard
	rejects rejectCounter
	disc    *discovery
}

// New starts a node: it loads or creates the identity, listens, joins the DHT through the
// bootstrap peers (unreachable ones are logged, not fatal), joins the pubsub topics of
// cfg.Topics and starts discovering the other nodes. ctx bounds the start only.
func New(ctx context.Context, cfg Config) (*Peer, error) {
	key, err := loadIdentity(cfg.Dir)
	if err != nil {
		return nil, err
	}
	codec, err := newCodec(cfg.Topics)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	listen := cfg.ListenAddrs
	if len(listen) == 0 {
		listen = DefaultListenAddrs
	}
	cm, err := connmgr.NewConnManager(100, 400, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("bacalhau-wasm"),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: libp2p host: %v", ErrConfig, err)
	}
	n := &Peer{host: h, log: log, codec: codec, labels: maps.Clone(cfg.Labels), guard: newReplayGuard(), bootstrap: slices.Clone(cfg.Bootstrap)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.start(ctx, cfg); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Peer) start(ctx context.Context, cfg Config) error {
	var err error
	n.dht, err = kaddht.New(n.host,
		kaddht.Mode(kaddht.ModeServer),
		kaddht.ProtocolPrefix(ProtocolPrefix),
		kaddht.BootstrapPeers(cfg.Bootstrap...),
	)
	if err != nil {
		return fmt.Errorf("%w: kademlia: %v", ErrConfig, err)
	}
	n.disc = newDiscovery(n, cfg.DiscoveryInterval)
	if err := n.startPubSub(); err != nil {
		return err
	}
	if cfg.IPFSDHT {
		if err := n.startIPFSDHT(ctx, cfg.IPFSPeers); err != nil {
			return err
		}
	}
	n.connectBootstrap(ctx, cfg.Bootstrap)
	n.startPeering(cfg.IPFSPeers)
	if err := n.dht.Bootstrap(n.ctx); err != nil {
		return fmt.Errorf("%w: kademlia bootstrap: %v", ErrConfig, err)
	}
	return n.disc.start()
}

// connectBootstrap dials the bootstrap peers in parallel; failures are only logged, so
// a node can start before its peers do.
func (n *Peer) connectBootstrap(ctx context.Context, peers []peer.AddrInfo) {
	var wg sync.WaitGroup
	for _, ai := range peers {
		if ai.ID == n.ID() {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := n.host.Connect(cctx, ai); err != nil {
				n.log.Warn("bootstrap peer unreachable", "peer", ai.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

// ID is this node's peer ID, derived from its identity key.
func (n *Peer) ID() peer.ID { return n.host.ID() }

// Addrs returns the node's listen addresses with /p2p/<id> appended, ready to give to
// another node as a bootstrap peer.
func (n *Peer) Addrs() []ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.ID(), Addrs: n.host.Addrs()})
	if err != nil { // only for an empty ID, which a running host never has
		return nil
	}
	return addrs
}

// AddrInfo is the node's ID and addresses, as another node's Config.Bootstrap wants them.
func (n *Peer) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.ID(), Addrs: n.host.Addrs()}
}

// Labels returns a copy of the labels the node was configured with.
func (n *Peer) Labels() map[string]string { return maps.Clone(n.labels) }

// Host is the underlying libp2p host, for protocols built on the same peer (bitswap).
func (n *Peer) Host() host.Host { return n.host }

// DHT is the Kademlia DHT, a routing.Routing for content and peer routing.
func (n *Peer) DHT() *kaddht.IpfsDHT { return n.dht }

// goTrack runs f in a goroutine that Close waits for; false if the node is closed.
func (n *Peer) goTrack(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Go(f)
	return true
}

// Close stops discovery, subscriptions, handlers, the DHT and the host, and waits for the
// goroutines it started. It is safe to call more than once.
func (n *Peer) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	// Pubsub stops with n.ctx; its topics need no closing of their own.
	var first error
	if n.dht != nil {
		if err := n.dht.Close(); err != nil && first == nil {
			first = err
		}
	}
	if n.ipfsDHT != nil {
		if err := n.ipfsDHT.Close(); err != nil && first == nil {
			first = err
		}
	}
	if err := n.host.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// ParseAddrInfos parses multiaddrs ending in /p2p/<peer ID> (as Addrs prints them) and
// groups them by peer, for Config.Bootstrap.
func ParseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w: peer address %q: %v", ErrConfig, s, err)
		}
		mas = append(mas, m)
	}
	ais, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("%w: peer addresses: %v", ErrConfig, err)
	}
	return ais, nil
}
