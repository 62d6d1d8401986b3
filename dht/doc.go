// Package dht makes a node a peer of the Bacalhau network: a libp2p host (TCP and QUIC,
// Noise or TLS, yamux) with a persisted identity, a private Kademlia DHT, discovery of
// the other nodes through a rendezvous key in that DHT, GossipSub topics carrying signed,
// versioned, size-limited and replay-checked messages, and request/response streams.
//
//	n, err := dht.New(ctx, dht.Config{Dir: repo, Bootstrap: peers})
//	msgs, err := n.Subscribe(ctx, dht.TopicJobs)
//	err = n.Publish(ctx, dht.TopicJobs, &dht.JobAnnouncement{JobID: j.ID, Spec: j.Spec, Requester: n.ID()})
//
// Everything that arrives from the network is decoded, validated and checked against its
// signer before a subscriber sees it; see RATIONALE.md for the choices made.
package dht
