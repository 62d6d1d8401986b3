package functions

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the functions' Prometheus series. Register them with Register.
type Metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	cold      *prometheus.CounterVec
	compile   *prometheus.HistogramVec
	instances *prometheus.CounterVec
}

// NewMetrics makes the series and registers them on reg, with a gauge of the pooled
// instances that calls pools when scraped.
func NewMetrics(reg prometheus.Registerer, pools func() map[string]int) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bacalhau_function_requests_total",
			Help: "Function requests this node ran, by function and HTTP status."}, []string{"function", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bacalhau_function_request_duration_seconds",
			Help: "Time from a function request's admission to its response.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"function"}),
		cold: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bacalhau_function_cold_starts_total",
			Help: "Requests that ran a module for the first time in this process, or started a pooled instance."}, []string{"function"}),
		compile: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bacalhau_function_load_seconds",
			Help: "Time to fetch and compile (or find compiled) a function's module on its first run.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"function"}),
		instances: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bacalhau_function_instances_started_total",
			Help: "Pooled instances started."}, []string{"function"}),
	}
	reg.MustRegister(m.requests, m.latency, m.cold, m.compile, m.instances)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "bacalhau_function_pooled_instances",
		Help: "Live pooled instances, all functions."}, func() float64 {
		n := 0
		for _, k := range pools() {
			n += k
		}
		return float64(n)
	}))
	return m
}

func (m *Metrics) observe(name string, rec Invocation) {
	m.requests.WithLabelValues(name, strconv.Itoa(rec.Status)).Inc()
	m.latency.WithLabelValues(name).Observe(rec.Duration.Seconds())
	if rec.Cold {
		m.cold.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) compiled(name string, d time.Duration) {
	m.compile.WithLabelValues(name).Observe(d.Seconds())
}

func (m *Metrics) instanceStarted(name string) { m.instances.WithLabelValues(name).Inc() }
