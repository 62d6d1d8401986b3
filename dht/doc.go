// Package dht makes a node a peer of the Bacalhau network: a libp2p host (TCP and QUIC,
// Noise or TLS, yamux) with a persisted identity, a private Kademlia DHT, discovery of
// the other nodes through a rendezvous key in that DHT, GossipSub topics carrying signed,
// versioned, size-limited and replay-checked messages, and request/response streams.
//
// dht carries whatever its caller gives it: the topics a node joins and the payload each
// carries are Config.Topics, and Handle and Request are generic over their messages.
// What Bacalhau nodes say to each other about jobs is in dht/jobproto, which imports
// this package:
//
//	n, err := dht.New(ctx, dht.Config{Dir: repo, Bootstrap: peers, Topics: jobproto.Topics()})
//	msgs, err := n.Subscribe(ctx, jobproto.TopicJobs)
//	err = n.Publish(ctx, jobproto.TopicJobs, &jobproto.JobAnnouncement{JobID: j.ID, Spec: j.Spec, Requester: n.ID()})
//
// Everything that arrives from the network is decoded, validated and checked against its
// signer before a subscriber sees it; see RATIONALE.md for the choices made.
package dht
