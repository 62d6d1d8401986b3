package jobproto

import "github.com/bacalhau-project/bacalhau-wasm/dht"

// Pubsub topics of the job protocol. Names carry a version: a change of message format
// gets a new topic, so old and new nodes never misread each other.
const (
	TopicJobs       dht.Topic = "/bacalhau/jobs/1"       // JobAnnouncement
	TopicJobEvents  dht.Topic = "/bacalhau/job-events/1" // JobEvent
	TopicHeartbeats dht.Topic = "/bacalhau/heartbeats/1" // Heartbeat
)

// Kinds of the payloads on those topics, as the envelope names them.
const (
	KindJobAnnouncement dht.Kind = "job.announce"
	KindJobEvent        dht.Kind = "job.event"
	KindHeartbeat       dht.Kind = "node.heartbeat"
)

// Topics are the job protocol's topics and what each carries, for dht.Config.Topics.
func Topics() dht.Topics {
	return dht.Topics{
		TopicJobs:       func() dht.Payload { return new(JobAnnouncement) },
		TopicJobEvents:  func() dht.Payload { return new(JobEvent) },
		TopicHeartbeats: func() dht.Payload { return new(Heartbeat) },
	}
}
