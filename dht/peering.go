package dht

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// peeringTag protects the connections to Config.IPFSPeers from the connection manager.
const peeringTag = "bacalhau-ipfs-peering"

// startPeering keeps a connection to each of peers, as kubo's Peering.Peers does: the
// connection manager never trims it, and a lost one is dialled again every redialEvery,
// bypassing the swarm's dial backoff. The peers need not be nodes of this network: they
// are IPFS peers (kubo) that exchange blocks with this node over bitswap.
func (n *Peer) startPeering(peers []peer.AddrInfo) {
	var keep []peer.AddrInfo
	for _, ai := range peers {
		if ai.ID == n.ID() || len(ai.Addrs) == 0 {
			continue
		}
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		n.host.ConnManager().Protect(ai.ID, peeringTag)
		keep = append(keep, ai)
	}
	if len(keep) == 0 {
		return
	}
	n.goTrack(func() {
		for {
			n.dialPeering(keep)
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(redialEvery):
			}
		}
	})
}

// dialPeering dials the peering peers this node is not connected to.
func (n *Peer) dialPeering(peers []peer.AddrInfo) {
	ctx, cancel := context.WithTimeout(network.WithForceDirectDial(n.ctx, "peering"), redialTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, ai := range peers {
		if n.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		wg.Go(func() {
			if err := n.host.Connect(ctx, ai); err != nil {
				n.log.Debug("IPFS peer unreachable, will dial again", "peer", ai.ID, "err", err)
			} else {
				n.log.Info("connected to IPFS peer", "peer", ai.ID)
			}
		})
	}
	wg.Wait()
}
