package dht

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/dual"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
)

// ipfsProvideTimeout bounds one announcement on the IPFS DHT, which runs in the
// background: a node with no IPFS peer yet must not slow its own imports down.
const ipfsProvideTimeout = time.Minute

// startIPFSDHT starts the second DHT of Config.IPFSDHT: the standard IPFS protocols
// (/ipfs/kad/1.0.0 on public addresses, /ipfs/lan/kad/1.0.0 on private ones, as kubo's
// dual DHT), bootstrapped from the IPFS peers. Our own network stays on the private
// /bacalhau DHT; this one only lets IPFS peers find what this node provides.
func (n *Peer) startIPFSDHT(ctx context.Context, peers []peer.AddrInfo) error {
	d, err := dual.New(n.host,
		dual.DHTOption(kaddht.Mode(kaddht.ModeServer), kaddht.BootstrapPeers(peers...)),
		// Loopback addresses are kept on the LAN DHT, as kubo's
		// Routing.LoopbackAddressesOnLanDHT: a node and kubo on one machine find each other.
		dual.LanDHTOption(kaddht.AddressFilter(nil)),
	)
	if err != nil {
		return fmt.Errorf("%w: IPFS DHT: %v", ErrConfig, err)
	}
	n.ipfsDHT = d
	if err := d.Bootstrap(n.ctx); err != nil {
		return fmt.Errorf("%w: IPFS DHT bootstrap: %v", ErrConfig, err)
	}
	return nil
}

// IPFSDHT is the standard IPFS DHT of Config.IPFSDHT, nil without it.
func (n *Peer) IPFSDHT() *dual.DHT { return n.ipfsDHT }

// Routing is the content router a node's blocks are announced and looked up through:
// the private DHT, and the IPFS DHT too when Config.IPFSDHT is set (announcements to
// it run in the background and never fail the caller; lookups ask both).
func (n *Peer) Routing() routing.ContentRouting {
	if n.ipfsDHT == nil {
		return n.dht
	}
	return bothRouting{n: n}
}

type bothRouting struct{ n *Peer }

var _ routing.ContentRouting = bothRouting{}

func (r bothRouting) Provide(ctx context.Context, c cid.Cid, announce bool) error {
	r.n.goTrack(func() {
		pctx, cancel := context.WithTimeout(r.n.ctx, ipfsProvideTimeout)
		defer cancel()
		if err := r.n.ipfsDHT.Provide(pctx, c, announce); err != nil {
			r.n.log.Debug("IPFS DHT provide", "cid", c, "err", err)
		}
	})
	return r.n.dht.Provide(ctx, c, announce)
}

// FindProvidersAsync merges both DHTs' answers, without repeating a peer, up to count
// (0: no limit).
func (r bothRouting) FindProvidersAsync(ctx context.Context, c cid.Cid, count int) <-chan peer.AddrInfo {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan peer.AddrInfo)
	var (
		mu   sync.Mutex
		seen = map[peer.ID]bool{}
		wg   sync.WaitGroup
	)
	for _, src := range []routing.ContentRouting{r.n.dht, r.n.ipfsDHT} {
		ch := src.FindProvidersAsync(ctx, c, count)
		wg.Go(func() {
			for ai := range ch {
				mu.Lock()
				dup, full := seen[ai.ID], count > 0 && len(seen) >= count
				if !dup && !full {
					seen[ai.ID] = true
				}
				mu.Unlock()
				if full {
					cancel()
					continue
				}
				if dup {
					continue
				}
				select {
				case out <- ai:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		wg.Wait()
		cancel()
		close(out)
	}()
	return out
}
