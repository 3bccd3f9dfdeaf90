package main

// The admin routes on their own mux: stats, health, expvar, pprof and
// Prometheus metrics.

import (
	"expvar"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"runtime"
	"strings"
	"time"
)

// adminRoutes adds the operator's endpoints that the config enables to
// mux, each behind allowed_ip_addresses. They live on an explicitly built
// mux, never http.DefaultServeMux (where importing expvar and pprof
// registers handlers).
//
// With admin_port they are served on that port alone, upload and delete
// included, so the public port answers them 404 or 405.
func (s *server) adminRoutes(mux *http.ServeMux) {
	guard := s.restricted
	if s.admin.upload {
		mux.HandleFunc("POST /upload", guard(s.handleUpload))
	}
	if s.admin.delete {
		mux.HandleFunc("DELETE /{path...}", guard(s.handleDelete))
		// Without this, a GET of any other path would be 405 (Allow: DELETE).
		mux.HandleFunc("GET /{path...}", http.NotFound)
	}
	if s.admin.stats {
		mux.HandleFunc("GET /sys/stats", guard(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, s.metrics.stats())
		}))
	}
	if s.admin.health {
		mux.HandleFunc("GET /sys/health", guard(s.handleHealth))
	}
	if s.admin.pprof {
		mux.HandleFunc("GET /debug/pprof/", guard(pprof.Index))
		mux.HandleFunc("GET /debug/pprof/cmdline", guard(pprof.Cmdline))
		mux.HandleFunc("GET /debug/pprof/profile", guard(pprof.Profile))
		mux.HandleFunc("GET /debug/pprof/symbol", guard(pprof.Symbol))
		mux.HandleFunc("POST /debug/pprof/symbol", guard(pprof.Symbol))
		mux.HandleFunc("GET /debug/pprof/trace", guard(pprof.Trace))
		mux.HandleFunc("GET /debug/vars", guard(expvar.Handler().ServeHTTP))
	}
	if s.admin.prometheus {
		mux.HandleFunc("GET /metrics", guard(s.handleMetrics))
	}
}

// restricted lets only allowed_ip_addresses through to h; others get 403.
func (s *server) restricted(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.allowedClient(r) {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// adminOptions says which admin endpoints are on and who may use them.
// upload and delete serve POST /upload and DELETE, on admin_port when it
// is set, on the main port otherwise.
type adminOptions struct {
	stats, health, pprof, prometheus bool
	upload, delete                   bool
	allowed                          []netip.Prefix // empty: everyone
	trustedProxies                   []netip.Prefix
}

// handleHealth answers Go runtime figures, as the original's /sys/health.
func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	var lastGC string
	if m.LastGC > 0 {
		lastGC = time.Unix(0, int64(m.LastGC)).UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"time":               s.now().UnixNano(),
		"go_version":         runtime.Version(),
		"go_os":              runtime.GOOS,
		"go_arch":            runtime.GOARCH,
		"cpu_num":            runtime.NumCPU(),
		"goroutine_num":      runtime.NumGoroutine(),
		"gomaxprocs":         runtime.GOMAXPROCS(0),
		"cgo_call_num":       runtime.NumCgoCall(),
		"memory_alloc":       m.Alloc,
		"memory_total_alloc": m.TotalAlloc,
		"memory_sys":         m.Sys,
		"memory_lookups":     m.Lookups,
		"memory_mallocs":     m.Mallocs,
		"memory_frees":       m.Frees,
		"memory_stack":       m.StackInuse,
		"heap_alloc":         m.HeapAlloc,
		"heap_sys":           m.HeapSys,
		"heap_idle":          m.HeapIdle,
		"heap_inuse":         m.HeapInuse,
		"heap_released":      m.HeapReleased,
		"heap_objects":       m.HeapObjects,
		"gc_next":            m.NextGC,
		"gc_last":            lastGC,
		"gc_num":             m.NumGC,
		"gc_pause":           float64(m.PauseNs[(m.NumGC+255)%256]) / float64(time.Millisecond),
		"gc_pause_total":     float64(m.PauseTotalNs) / float64(time.Millisecond),
	})
}

// handleMetrics answers the Prometheus text format.
func (s *server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.writePrometheus(w, map[string]float64{
		"queue_depth":      float64(len(s.limiter.admitted) - len(s.limiter.slots)),
		"processing":       float64(len(s.limiter.slots)),
		"store_queue":      float64(len(s.stores.jobs)),
		"goroutines":       float64(runtime.NumGoroutine()),
		"uptime_seconds":   s.now().Sub(s.started).Seconds(),
		"processing_slots": float64(cap(s.limiter.slots)),
	})
}

// allowedClient reports whether r comes from allowed_ip_addresses (any
// client when the list is empty). The client is the TCP peer; only when
// the peer is a trusted proxy is X-Forwarded-For read, from the right,
// skipping trusted proxies, to the first address that is not one.
func (s *server) allowedClient(r *http.Request) bool {
	if len(s.admin.allowed) == 0 {
		return true
	}
	ip, ok := clientIP(r, s.admin.trustedProxies)
	if !ok {
		return false
	}
	return containsAddr(s.admin.allowed, ip)
}

func clientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	peer = peer.Unmap()
	if !containsAddr(trusted, peer) {
		return peer, true
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false // a forged or broken header: trust nothing
		}
		ip = ip.Unmap()
		if !containsAddr(trusted, ip) {
			return ip, true
		}
	}
	return peer, true
}

func containsAddr(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
