package main

// The access log: one line a request, with its key, cache outcome, status
// and duration (statusRecorder captures the status).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
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
			slog.String("query", redactQuery(r.URL.RawQuery)),
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

// redactQuery returns a raw query as sent, but for the user information
// of a url= source (https://user:token@host/a.jpg), replaced by "xxxxx":
// a log line never holds an origin's credentials. A url= value that does
// not parse but may hold some is replaced whole.
func redactQuery(raw string) string {
	if !strings.Contains(raw, "@") && !strings.Contains(raw, "%40") {
		return raw // no user information anywhere
	}
	pairs := strings.Split(raw, "&")
	for i, pair := range pairs {
		k, v, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(k); err != nil || k != "url" {
			continue
		}
		src, err := url.QueryUnescape(v)
		if err != nil {
			pairs[i] = k + "=xxxxx"
			continue
		}
		u, err := url.Parse(src)
		switch {
		case err != nil && strings.Contains(src, "@"):
			pairs[i] = k + "=xxxxx"
		case err == nil && u.User != nil:
			u.User = url.User("xxxxx")
			pairs[i] = k + "=" + url.QueryEscape(u.String())
		}
	}
	return strings.Join(pairs, "&")
}

// logURL is r's URL for a log line or an error report, url= credentials
// redacted (see redactQuery).
func logURL(r *http.Request) string {
	u := *r.URL
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// elapsed is a small helper for timing with the server's clock.
func (s *server) elapsed(start time.Time) time.Duration { return s.now().Sub(start) }

// contextHandler adds to each record logged with a request's context the
// request values logger.context_keys names ("request-id" or "request_id":
// its ID; "key": its result key), unless the record has them already.
type contextHandler struct {
	slog.Handler
	keys []string
}

// withContextKeys wraps h to add keys; h itself when none has an effect.
func withContextKeys(h slog.Handler, keys []string) slog.Handler {
	var known []string
	for _, k := range keys {
		if slices.Contains(contextKeyNames, k) && !slices.Contains(known, k) {
			known = append(known, k)
		}
	}
	if len(known) == 0 {
		return h
	}
	return contextHandler{h, known}
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo)
	if !ok {
		return h.Handler.Handle(ctx, r)
	}
	has := map[string]bool{}
	r.Attrs(func(a slog.Attr) bool {
		has[a.Key] = true
		return true
	})
	for _, k := range h.keys {
		v, given := ri.id, has["request-id"] || has["request_id"] // the access line has request_id
		if k == "key" {
			v, given = ri.key, has["key"]
		}
		if v != "" && !given {
			r.AddAttrs(slog.String(k, v))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs), h.keys}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name), h.keys}
}

// statusRecorder remembers the status and size of an answer.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
