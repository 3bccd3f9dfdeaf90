package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// requestInfo is what a handler tells the access log about its request.
// It lives in the request's context; only that request's goroutine
// writes it.
type requestInfo struct {
	id    string
	key   string
	cache string // "hit", "miss" or ""
}

type requestInfoKey struct{}

// info returns the request's requestInfo, or a throwaway one when the
// request did not pass through observe (tests calling handlers directly).
func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// observe gives every request an X-Request-ID (the client's, when it sent
// a sane one), counts it in the metrics and writes one access log line.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		ri := &requestInfo{id: requestID(r.Header.Get("X-Request-ID"))}
		w.Header().Set("X-Request-ID", ri.id)
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
		next.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		d := s.now().Sub(start)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.metrics.request(route, rec.code, d)
		attrs := []slog.Attr{
			slog.String("request_id", ri.id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("query", r.URL.RawQuery),
			slog.Int("status", rec.code),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("remote", r.RemoteAddr),
		}
		if ri.key != "" {
			attrs = append(attrs, slog.String("key", ri.key), slog.String("cache", ri.cache))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// requestID returns the client's request ID when it is short and
// printable, else a new random one.
func requestID(given string) string {
	if given != "" && len(given) <= 128 && !strings.ContainsFunc(given, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return given
	}
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// elapsed is a small helper for timing with the server's clock.
func (s *server) elapsed(start time.Time) time.Duration { return s.now().Sub(start) }
