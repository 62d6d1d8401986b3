package dht

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// knowsAll reports whether every node knows and is connected to every other.
func knowsAll(nodes []*Peer) bool {
	for _, n := range nodes {
		known := n.Peers()
		for _, o := range nodes {
			if o == n {
				continue
			}
			if !slices.ContainsFunc(known, func(ai peer.AddrInfo) bool { return ai.ID == o.ID() }) ||
				n.Host().Network().Connectedness(o.ID()) != network.Connected {
				return false
			}
		}
	}
	return true
}

// TestDiscoveryFiveNodes bootstraps four nodes from node 0 only; through the rendezvous
// key they find and connect to each other.
func TestDiscoveryFiveNodes(t *testing.T) {
	first := startNode(t)
	nodes := []*Peer{first}
	for range 4 {
		nodes = append(nodes, startNode(t, first))
	}
	waitFor(t, 30*time.Second, "every node knows and is connected to every other", func() bool { return knowsAll(nodes) })
	for _, n := range nodes {
		for _, ai := range n.Peers() {
			if len(ai.Addrs) == 0 {
				t.Errorf("%s knows %s without addresses", n.ID(), ai.ID)
			}
		}
	}
}

// TestDiscoveryThroughRendezvous checks that the rendezvous itself works, not only
// inbound identification: nodes 1 and 2 bootstrap from 0, which is then closed; they
// have found each other in the DHT.
func TestDiscoveryThroughRendezvous(t *testing.T) {
	first := startNode(t)
	a, b := startNode(t, first), startNode(t, first)
	waitFor(t, 30*time.Second, "a and b connected", func() bool {
		return a.Host().Network().Connectedness(b.ID()) == network.Connected
	})
	provs, err := a.DHT().ProviderStore().GetProviders(testCtx(t), rendezvousCID(t).Hash())
	if err != nil {
		t.Fatal(err)
	}
	if len(provs) == 0 {
		t.Error("a holds no provider record for the rendezvous key")
	}
}
