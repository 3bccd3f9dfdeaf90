package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func enableAdmin(c *config) {
	c.Options.EnableStats = true
	c.Options.EnableHealth = true
	c.Options.EnablePprof = true
	c.Options.EnablePrometheus = true
}

func getJSON(t *testing.T, e *testEnv, path string) (int, map[string]any) {
	t.Helper()
	resp := e.get(t, path)
	body := readBody(t, resp)
	var m map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode, m
}

func TestStatsAndHealth(t *testing.T) {
	e := newTestEnv(t, enableAdmin)
	for range 3 {
		readBody(t, e.get(t, "/display?path=avatar.png&op=resize&w=20"))
	}
	readBody(t, e.get(t, "/display?path=missing.png&op=resize&w=20"))
	code, stats := getJSON(t, e, "/sys/stats")
	if code != http.StatusOK {
		t.Fatalf("/sys/stats = %d", code)
	}
	for _, k := range []string{"pid", "uptime", "uptime_sec", "time", "unixtime", "status_code_count", "total_status_code_count", "count", "total_count", "total_response_time", "total_response_time_sec", "average_response_time", "average_response_time_sec"} {
		if _, ok := stats[k]; !ok {
			t.Errorf("/sys/stats has no %q", k)
		}
	}
	total := stats["total_status_code_count"].(map[string]any)
	if total["200"] != 3.0 || total["404"] != 1.0 || stats["total_count"] != 4.0 {
		t.Errorf("/sys/stats counts = %v, total %v; want 3 x 200 and 1 x 404 before this request", total, stats["total_count"])
	}
	code, health := getJSON(t, e, "/sys/health")
	if code != http.StatusOK {
		t.Fatalf("/sys/health = %d", code)
	}
	for _, k := range []string{"go_version", "goroutine_num", "memory_alloc", "heap_inuse", "gc_num", "gc_pause"} {
		if _, ok := health[k]; !ok {
			t.Errorf("/sys/health has no %q", k)
		}
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/vars"} {
		resp := e.get(t, p)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s = %d, %d bytes", p, resp.StatusCode, len(body))
		}
	}
}

func TestAdminRoutesOffByDefault(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, p := range []string{"/sys/stats", "/sys/health", "/debug/pprof/", "/debug/vars", "/metrics"} {
		resp := e.get(t, p)
		readBody(t, resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without enabling it = %d, want 404", p, resp.StatusCode)
		}
	}
}

func TestAdminRestrictedToAllowedAddresses(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		trusted []string
		xff     string
		want    int
	}{
		{"loopback allowed", []string{"127.0.0.1"}, nil, "", 200},
		{"cidr allowed", []string{"127.0.0.0/8"}, nil, "", 200},
		{"not allowed", []string{"10.0.0.0/8"}, nil, "", 403},
		{"forwarded header ignored from untrusted peer", []string{"10.0.0.0/8"}, nil, "10.1.2.3", 403},
		{"forwarded client from trusted proxy", []string{"10.0.0.0/8"}, []string{"127.0.0.1"}, "10.1.2.3", 200},
		{"forwarded outsider from trusted proxy", []string{"127.0.0.1"}, []string{"127.0.0.1"}, "203.0.113.9", 403},
		{"spoofed left-most hop ignored", []string{"10.0.0.0/8"}, []string{"127.0.0.1"}, "10.1.1.1, 203.0.113.9", 403},
		{"broken header trusts nothing", []string{"127.0.0.1"}, []string{"127.0.0.1"}, "not-an-ip", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *config) {
				enableAdmin(c)
				c.Options.AllowedIPAddresses = prefixes(t, tt.allowed)
				c.Options.TrustedProxies = prefixes(t, tt.trusted)
			})
			for _, p := range []string{"/sys/stats", "/sys/health", "/debug/pprof/", "/metrics"} {
				var h []string
				if tt.xff != "" {
					h = []string{"X-Forwarded-For", tt.xff}
				}
				resp := e.get(t, p, h...)
				readBody(t, resp)
				if resp.StatusCode != tt.want {
					t.Errorf("GET %s = %d, want %d", p, resp.StatusCode, tt.want)
				}
			}
			resp := e.get(t, "/healthcheck")
			readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/healthcheck = %d, want 200 for everyone", resp.StatusCode)
			}
		})
	}
}

func prefixes(t *testing.T, ss []string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		p, err := parseIPOrPrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// parsePrometheus reads "name{labels} value" lines into a map.
func parsePrometheus(t *testing.T, text string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		m[line[:i]] = v
	}
	return m
}

func TestPrometheusMetrics(t *testing.T) {
	e := newTestEnv(t, enableAdmin)
	for range 2 {
		readBody(t, e.get(t, "/get?path=avatar.png&op=resize&w=20"))
	}
	readBody(t, e.get(t, "/display?path=avatar.png&op=resize&w=20&fmt=jpg"))
	readBody(t, e.get(t, "/display?path=avatar.png&op=resize&w=abc"))
	resp := e.get(t, "/metrics")
	body := string(readBody(t, resp))
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m := parsePrometheus(t, body)
	want := map[string]float64{
		`picfit_http_requests_total{route="GET /get",code="200"}`:                 2,
		`picfit_http_requests_total{route="GET /display",code="200"}`:             1,
		`picfit_http_requests_total{route="GET /display",code="400"}`:             1,
		`picfit_cache_hits_total`:                                                 1,
		`picfit_cache_misses_total`:                                               2,
		`picfit_processing_seconds_count{op="resize",format="png"}`:               1,
		`picfit_processing_seconds_count{op="resize",format="jpeg"}`:              1,
		`picfit_http_request_duration_seconds_count{route="GET /get"}`:            2,
		`picfit_http_request_duration_seconds_bucket{route="GET /get",le="+Inf"}`: 2,
		`picfit_rejections_total`:                                                 0,
		`picfit_processing_slots`:                                                 float64(cap(e.s.limiter.slots)),
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if m["picfit_source_bytes_total"] < 70000 || m["picfit_response_bytes_total"] <= 0 {
		t.Errorf("bytes in %v, out %v: want the sources' and results' sizes", m["picfit_source_bytes_total"], m["picfit_response_bytes_total"])
	}
	// Buckets are cumulative.
	prev := -1.0
	for _, le := range latencyBuckets {
		v := m[`picfit_http_request_duration_seconds_bucket{route="GET /get",le="`+formatFloat(le)+`"}`]
		if v < prev {
			t.Errorf("bucket le=%v = %v, below the previous %v", le, v, prev)
		}
		prev = v
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestAccessLog(t *testing.T) {
	e := newTestEnv(t, nil)
	var logs syncBuffer
	e.s.log = slog.New(slog.NewJSONHandler(&logs, nil))
	resp := e.get(t, "/display?path=avatar.png&op=resize&w=100&h=100", "X-Request-ID", "abc-123")
	readBody(t, resp)
	if got := resp.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("X-Request-ID = %q, want the client's", got)
	}
	resp = e.get(t, "/healthcheck", "X-Request-ID", "bad id with spaces")
	readBody(t, resp)
	if got := resp.Header.Get("X-Request-ID"); len(got) != 16 {
		t.Errorf("X-Request-ID for a bad one = %q, want a fresh 16-hex id", got)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" && m["request_id"] == "abc-123" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access log line for request abc-123 in:\n%s", logs.String())
	}
	want := map[string]any{"method": "GET", "path": "/display", "status": 200.0, "key": "895b545d9dca01413aec42d6ae3c6197", "cache": "miss"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v", k, line[k], v)
		}
	}
	for _, k := range []string{"duration_ms", "bytes", "remote", "time", "level"} {
		if _, ok := line[k]; !ok {
			t.Errorf("access log has no %s", k)
		}
	}
}

// failingStorage answers every Open with a backend failure.
type failingStorage struct{ storage }

func (failingStorage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	return nil, fileInfo{}, errors.New("disk on fire")
}

func TestSentryReport(t *testing.T) {
	type envelope struct {
		header, item, event map[string]any
		auth                string
		path                string
	}
	got := make(chan envelope, 4)
	sentry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		var env envelope
		env.auth, env.path = r.Header.Get("X-Sentry-Auth"), r.URL.Path
		if len(lines) == 3 {
			json.Unmarshal([]byte(lines[0]), &env.header)
			json.Unmarshal([]byte(lines[1]), &env.item)
			json.Unmarshal([]byte(lines[2]), &env.event)
		}
		got <- env
	}))
	defer sentry.Close()
	dsn := strings.Replace(sentry.URL, "http://", "http://publickey@", 1) + "/42"
	e := newTestEnv(t, func(c *config) {
		c.Sentry.DSN = dsn
		c.Sentry.Tags = map[string]string{"env": "test"}
	})
	e.s.src = failingStorage{e.s.src}
	resp := e.get(t, "/display?path=avatar.png&op=resize&w=33")
	body := string(readBody(t, resp))
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(body, "disk on fire") {
		t.Errorf("backend failure = %d %q, want 500 without the detail", resp.StatusCode, body)
	}
	var env envelope
	select {
	case env = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no report reached the Sentry stand-in within 10 s")
	}
	if env.path != "/api/42/envelope/" || !strings.Contains(env.auth, "sentry_key=publickey") || !strings.Contains(env.auth, "sentry_version=7") {
		t.Errorf("report went to %s with auth %q", env.path, env.auth)
	}
	if env.item["type"] != "event" || env.header["event_id"] != env.event["event_id"] || env.header["event_id"] == nil {
		t.Errorf("envelope header %v, item %v", env.header, env.item)
	}
	msg, _ := env.event["message"].(map[string]any)
	tags, _ := env.event["tags"].(map[string]any)
	if msg == nil || !strings.Contains(msg["formatted"].(string), "disk on fire") || tags["env"] != "test" || env.event["level"] != "error" {
		t.Errorf("event = %v, want the error message and tag env=test", env.event)
	}
}

func TestAdminPort(t *testing.T) {
	port := freePort(t)
	cfg := defaultConfig()
	enableAdmin(&cfg)
	cfg.AdminPort = port
	bg := serveInBackground(t, cfg) // returns once the admin listener is open
	defer bg.stop()

	if want := "127.0.0.1:" + strconv.Itoa(port); bg.admin != want {
		t.Fatalf("admin listener on %q, want %q", bg.admin, want)
	}
	resp, err := http.Get("http://" + bg.admin + "/sys/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Errorf("admin port /sys/stats: %v, want JSON", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(stats) == 0 {
		t.Errorf("admin port /sys/stats = %d, %d fields; want 200 with the stats", resp.StatusCode, len(stats))
	}
	resp, err = http.Get("http://" + bg.addr + "/sys/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("main port /sys/stats with admin_port set = %d, want 404", resp.StatusCode)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestRedactQuery(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"no url", "path=a.png&op=resize&w=10", "path=a.png&op=resize&w=10"},
		{"url without credentials", "url=http%3A%2F%2Fexample.com%2Fa.jpg&w=10", "url=http%3A%2F%2Fexample.com%2Fa.jpg&w=10"},
		{"user and password", "op=resize&url=https%3A%2F%2Fbob%3As3cret%40example.com%2Fa.jpg", "op=resize&url=https%3A%2F%2Fxxxxx%40example.com%2Fa.jpg"},
		{"raw @", "url=https://bob:s3cret@example.com/a.jpg&w=1", "url=https%3A%2F%2Fxxxxx%40example.com%2Fa.jpg&w=1"},
		{"token as user", "url=https://tok3n@example.com/a.jpg", "url=https%3A%2F%2Fxxxxx%40example.com%2Fa.jpg"},
		{"@ elsewhere", "path=me@home.png", "path=me@home.png"},
		{"bad escape", "url=https://bob:s3cret@example.com/%zz", "url=xxxxx"},
		{"unparsable url", "url=https%3A%2F%2Fbob%3As3cret%40exa%20mple.com%2F", "url=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redactQuery(tt.raw)
			if got != tt.want {
				t.Errorf("redactQuery(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			if strings.Contains(got, "s3cret") || strings.Contains(got, "tok3n") {
				t.Errorf("redactQuery(%q) = %q, still holds the secret", tt.raw, got)
			}
		})
	}
}

// TestAccessLogRedactsURLCredentials: neither the access log nor the
// error log line of a failed url= request holds the origin's password.
func TestAccessLogRedactsURLCredentials(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer origin.Close()
	e := newTestEnv(t, func(c *config) {
		*c = defaultConfig()
		c.Options.AllowPrivateNetworks = true
	})
	var logs syncBuffer
	e.s.log = slog.New(slog.NewJSONHandler(&logs, nil))
	u := strings.Replace(origin.URL, "http://", "http://bob:s3cret@", 1) + "/a.jpg"
	resp := e.get(t, "/display?op=resize&w=10&url="+url.QueryEscape(u))
	readBody(t, resp)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("failing origin = %d, want 502", resp.StatusCode)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"request"`) || !strings.Contains(out, `"msg":"request failed"`) {
		t.Fatalf("want an access log line and an error line, got:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the log holds the url= password:\n%s", out)
	}
}

// TestAdminPortTakesUploadAndDelete: with admin_port, upload and delete
// are served there and not on the public port, as --help says.
func TestAdminPortTakesUploadAndDelete(t *testing.T) {
	e := newTestEnv(t, func(c *config) {
		c.Options.EnableUpload, c.Options.EnableDelete = true, true
		c.AdminPort = freePort(t)
	})
	admin := httptest.NewServer(e.s.adminHandler())
	defer admin.Close()
	onAdmin := *e
	onAdmin.ts = admin
	tiny := testdataBytes(t, "tiny-1x1.png")
	del := func(base string) int {
		req, _ := http.NewRequest(http.MethodDelete, base+"/avatar.png", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		return resp.StatusCode
	}

	resp := uploadRequest(t, e, "data", "public.png", tiny)
	readBody(t, resp)
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("upload on the public port with admin_port = %d, want 404 or 405", resp.StatusCode)
	}
	if code := del(e.ts.URL); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("delete on the public port with admin_port = %d, want 404 or 405", code)
	}
	if _, err := os.Stat(filepath.Join(e.srcDir, "public.png")); err == nil {
		t.Errorf("the public port stored an upload")
	}
	if _, err := os.Stat(filepath.Join(e.srcDir, "avatar.png")); err != nil {
		t.Errorf("the public port deleted a source: %v", err)
	}

	resp = uploadRequest(t, &onAdmin, "data", "admin.png", tiny)
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("upload on admin_port = %d, want 200", resp.StatusCode)
	}
	if code := del(admin.URL); code != http.StatusOK {
		t.Errorf("delete on admin_port = %d, want 200", code)
	}
	// The public port still serves images.
	resp = e.get(t, "/display?path=admin.png&op=noop")
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("display of the upload on the public port = %d, want 200", resp.StatusCode)
	}
}
