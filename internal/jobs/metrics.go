package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports the queue's depth when scraped: jobs of every server
// sharing the store, by state (queued, running, failed).
func (q *Queue) Collector() prometheus.Collector { return collector{q} }

type collector struct{ q *Queue }

var jobsDesc = prometheus.NewDesc("sightline_jobs", "Jobs in the queue, of every server sharing it, by state (done ones are not counted).", []string{"state"}, nil)

func (collector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.q.cfg.Store.Counts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	for _, st := range []State{Queued, Running, Failed} {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n[st]), string(st))
	}
}
