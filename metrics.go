package main

// Counters and latency histograms, for /stats and /metrics.

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// metrics counts what picfit does, for /sys/stats (the original's
// fields) and /metrics (Prometheus text format). Safe for concurrent use.
type metrics struct {
	now   func() time.Time
	start time.Time

	mu           sync.Mutex
	windowStart  time.Time      // the current second, for status_code_count
	windowCounts map[string]int // status code -> answers in the current second
	totalCounts  map[string]int // status code -> answers since start
	totalTime    time.Duration

	requests   map[[2]string]uint64 // route, code
	latency    map[string]*histogram
	processing map[[2]string]*histogram // operation, format
	counters   map[string]uint64        // cache hits, misses, bytes, rejections, fetch errors
}

func newMetrics(now func() time.Time) *metrics {
	return &metrics{
		now:          now,
		start:        now(),
		windowCounts: map[string]int{},
		totalCounts:  map[string]int{},
		requests:     map[[2]string]uint64{},
		latency:      map[string]*histogram{},
		processing:   map[[2]string]*histogram{},
		counters:     map[string]uint64{},
	}
}

// histogram is a Prometheus histogram with fixed buckets.
type histogram struct {
	counts []uint64 // per bucket of latencyBuckets, not cumulative
	sum    float64
	n      uint64
}

// latencyBuckets are upper bounds in seconds.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(latencyBuckets))
	}
	for i, b := range latencyBuckets {
		if v <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += v
	h.n++
}

// request records one answered request.
func (m *metrics) request(route string, code int, d time.Duration) {
	c := strconv.Itoa(code)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.windowStart) >= time.Second {
		m.windowStart = now.Truncate(time.Second)
		clear(m.windowCounts)
	}
	m.windowCounts[c]++
	m.totalCounts[c]++
	m.totalTime += d
	m.requests[[2]string{route, c}]++
	h := m.latency[route]
	if h == nil {
		h = &histogram{}
		m.latency[route] = h
	}
	h.observe(d.Seconds())
}

// processed records the time one image took to process.
func (m *metrics) processed(op, format string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{op, format}
	h := m.processing[k]
	if h == nil {
		h = &histogram{}
		m.processing[k] = h
	}
	h.observe(d.Seconds())
}

// add increases the counter name by n.
func (m *metrics) add(name string, n uint64) {
	m.mu.Lock()
	m.counters[name] += n
	m.mu.Unlock()
}

// Counter names for add.
const (
	cacheHits    = "cache_hits_total"
	cacheMisses  = "cache_misses_total"
	sourceBytes  = "source_bytes_total"
	outputBytes  = "response_bytes_total"
	rejections   = "rejections_total"
	fetchErrors  = "source_fetch_errors_total"
	storeDropped = "store_dropped_total"
)

// stats is /sys/stats, with the original picfit's fields.
func (m *metrics) stats() map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	uptime := now.Sub(m.start)
	window := map[string]int{}
	if now.Sub(m.windowStart) < time.Second {
		for k, v := range m.windowCounts {
			window[k] = v
		}
	}
	total := map[string]int{}
	count, totalCount := 0, 0
	for k, v := range m.totalCounts {
		total[k] = v
		totalCount += v
	}
	for _, v := range window {
		count += v
	}
	var avg time.Duration
	if totalCount > 0 {
		avg = m.totalTime / time.Duration(totalCount)
	}
	return map[string]any{
		"pid":                       os.Getpid(),
		"uptime":                    uptime.String(),
		"uptime_sec":                uptime.Seconds(),
		"time":                      now.String(),
		"unixtime":                  now.Unix(),
		"status_code_count":         window,
		"total_status_code_count":   total,
		"count":                     count,
		"total_count":               totalCount,
		"total_response_time":       m.totalTime.String(),
		"total_response_time_sec":   m.totalTime.Seconds(),
		"average_response_time":     avg.String(),
		"average_response_time_sec": avg.Seconds(),
	}
}

// writePrometheus writes every metric in the Prometheus text format;
// gauges are read at the time of the scrape.
func (m *metrics) writePrometheus(w io.Writer, gauges map[string]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP picfit_http_requests_total Answered requests by route and status code.\n# TYPE picfit_http_requests_total counter\n")
	for _, k := range sortedKeys(m.requests) {
		fmt.Fprintf(w, "picfit_http_requests_total{route=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	fmt.Fprintf(w, "# HELP picfit_http_request_duration_seconds Time to answer, by route.\n# TYPE picfit_http_request_duration_seconds histogram\n")
	routes := make([]string, 0, len(m.latency))
	for r := range m.latency {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		writeHistogram(w, "picfit_http_request_duration_seconds", fmt.Sprintf("route=%q", r), m.latency[r])
	}
	fmt.Fprintf(w, "# HELP picfit_processing_seconds Time to decode, transform and encode one image, by first operation and output format.\n# TYPE picfit_processing_seconds histogram\n")
	for _, k := range sortedKeys(m.processing) {
		writeHistogram(w, "picfit_processing_seconds", fmt.Sprintf("op=%q,format=%q", k[0], k[1]), m.processing[k])
	}
	for _, c := range []struct{ name, help string }{
		{cacheHits, "Requests answered from a stored result."},
		{cacheMisses, "Requests that had to process their image."},
		{sourceBytes, "Bytes of source images read."},
		{outputBytes, "Bytes of images made."},
		{rejections, "Requests refused with 429 because the queue was full."},
		{fetchErrors, "url= and storage source loads that failed (not counting 404)."},
		{storeDropped, "Results not stored because the store queue was full."},
	} {
		fmt.Fprintf(w, "# HELP picfit_%s %s\n# TYPE picfit_%s counter\npicfit_%s %d\n", c.name, c.help, c.name, c.name, m.counters[c.name])
	}
	names := make([]string, 0, len(gauges))
	for n := range gauges {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "# TYPE picfit_%s gauge\npicfit_%s %s\n", n, n, formatFloat(gauges[n]))
	}
}

func writeHistogram(w io.Writer, name, labels string, h *histogram) {
	var cum uint64
	for i, b := range latencyBuckets {
		if h.counts != nil {
			cum += h.counts[i]
		}
		fmt.Fprintf(w, "%s_bucket{%s,le=%q} %d\n", name, labels, formatFloat(b), cum)
	}
	fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, h.n)
	fmt.Fprintf(w, "%s_sum{%s} %s\n%s_count{%s} %d\n", name, labels, formatFloat(h.sum), name, labels, h.n)
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func sortedKeys[V any](m map[[2]string]V) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return strings.Join(keys[i][:], "\x00") < strings.Join(keys[j][:], "\x00")
	})
	return keys
}
