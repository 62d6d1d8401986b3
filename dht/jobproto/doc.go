// Package jobproto is the job protocol: what Bacalhau nodes say to each other about jobs,
// over the peer-to-peer network of package dht.
//
// On pubsub topics (Topics, for dht.Config.Topics): a requester announces a new job
// (JobAnnouncement on TopicJobs), the node that sees a job change state says so
// (JobEvent on TopicJobEvents), and every node tells what it offers (Heartbeat on
// TopicHeartbeats). On direct streams (Handle and Request, one request and one response
// each): compute nodes bid (ProtoBid), requesters accept a bid (ProtoAccept), compute
// nodes report an execution's progress (ProtoUpdate), either side cancels (ProtoCancel)
// and any node pulls a requester's job records (ProtoJobPull). A result comes with a
// receipt signed by the node that produced it (SignReceipt, VerifyReceipt).
//
//	n, err := dht.New(ctx, dht.Config{Dir: repo, Bootstrap: peers, Topics: jobproto.Topics()})
//	err = n.Publish(ctx, jobproto.TopicJobs, &jobproto.JobAnnouncement{JobID: j.ID, Spec: j.Spec, Requester: n.ID()})
//	ack, err := jobproto.Request[jobproto.Bid, jobproto.Ack](ctx, n, requester, jobproto.ProtoBid, &bid)
//
// Every type here validates itself (Validate, wrapping dht.ErrInvalid) and dht calls it
// on whatever arrives, so a handler or subscriber sees only well-formed messages. The
// names on the wire (topics, kinds, protocol IDs, JSON fields) are a contract with
// peers of every earlier version; see ../RATIONALE.md.
package jobproto
