package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sightline/sightline/internal/ledger"
)

// Metrics are what GET /metrics serves in the Prometheus text format: the
// collectors the server's parts registered in its registry (uploads in
// flight and bytes received, the log's append latency, the jobs waiting),
// the refusals of the web's limits and access rules, and how the custody
// log stands, read when scraped.
type Metrics struct {
	registry *prometheus.Registry
	refusals *prometheus.CounterVec
}

// NewMetrics makes the web's metrics in reg (a registry of their own if
// nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{registry: reg, refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sightline_refusals_total",
		Help: "Requests refused, by the limit or access rule that refused them.",
	}, []string{"rule"})}
	reg.MustRegister(m.refusals)
	return m
}

// refused counts a refusal by rule.
func (m *Metrics) refused(rule string) { m.refusals.WithLabelValues(rule).Inc() }

// handler serves the metrics, with the custody log's state read at each
// scrape.
func (m *Metrics) handler(log *ledger.Log) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(logCollector{log})
	return promhttp.HandlerFor(prometheus.Gatherers{m.registry, reg}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// logCollector reports the custody log's state (ledger.Log.Status): its
// published size, entries waiting for a checkpoint and, with a witness
// policy, the witnesses that cosigned and whether entries wait past the
// witness timeout.
type logCollector struct{ log *ledger.Log }

var (
	logSize      = prometheus.NewDesc("sightline_log_checkpoint_size", "Entries the published checkpoint covers.", nil, nil)
	logWaiting   = prometheus.NewDesc("sightline_log_entries_waiting", "Entries sequenced that no published checkpoint covers yet.", nil, nil)
	logWitnesses = prometheus.NewDesc("sightline_log_witnesses", "Witnesses in the witness policy (0: the log is not witnessed).", nil, nil)
	logCosigned  = prometheus.NewDesc("sightline_log_witnesses_cosigned", "Witnesses of the policy that cosigned the published checkpoint.", nil, nil)
	logStalled   = prometheus.NewDesc("sightline_log_stalled", "1 when entries have waited past the witness timeout for a checkpoint.", nil, nil)
)

func (logCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{logSize, logWaiting, logWitnesses, logCosigned, logStalled} {
		ch <- d
	}
}

func (c logCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.log.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(logSize, err)
		return
	}
	stalled := 0.0
	if st.Stalled {
		stalled = 1
	}
	for _, m := range []struct {
		d *prometheus.Desc
		v float64
	}{{logSize, float64(st.Size)}, {logWaiting, float64(st.Pending)}, {logWitnesses, float64(len(c.log.Witnesses()))},
		{logCosigned, float64(len(st.Signed))}, {logStalled, stalled}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.GaugeValue, m.v)
	}
}
