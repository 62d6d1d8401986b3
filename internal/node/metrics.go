package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacalhau-project/bacalhau-wasm/internal/job"
)

// jobCounters count the jobs this node took as their requester, by engine: submitted,
// and settled by their final state. They live as long as the process, as Prometheus
// counters do.
type jobCounters struct {
	submitted *prometheus.CounterVec
	settled   *prometheus.CounterVec
}

func newJobCounters() *jobCounters {
	return &jobCounters{
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bacalhau_jobs_submitted_total",
			Help: "Jobs submitted to this node (it is their requester), by engine."}, []string{"engine"}),
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bacalhau_jobs_settled_total",
			Help: "Jobs this node is the requester of that reached a final state, by engine and state (completed, failed, cancelled)."},
			[]string{"engine", "state"}),
	}
}

func (c *jobCounters) register(reg prometheus.Registerer) {
	reg.MustRegister(c.submitted, c.settled)
}

func (c *jobCounters) submit(j *job.Job) {
	c.submitted.WithLabelValues(string(j.Spec.Engine)).Inc()
}

func (c *jobCounters) settle(j *job.Job) {
	c.settled.WithLabelValues(string(j.Spec.Engine), string(j.State)).Inc()
}
