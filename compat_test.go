package main

// Tests that configs, URLs and answers of the original picfit 0.16 work
// unchanged: its keys in their shapes, each honoured where it has a
// meaning here.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
)

// startServer runs cfg as serve does, on a loopback port, logging to the
// returned buffer, until the test ends.
func startServer(t *testing.T, cfg config) (base string, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	s, err := newServer(cfg, newLogger(cfg, logs), time.Now)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln, time.Duration(cfg.ShutdownTimeout)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), logs
}

func httpGet(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

// originalKeys are the keys of the original 0.16 that picfit did not read
// before, each in the original's shape. SRC and DST stand for folders.
var originalKeys = []struct{ name, json string }{
	{"engine.jpeg_quality", `{"engine":{"jpeg_quality":80}}`},
	{"engine.webp_quality", `{"engine":{"webp_quality":80}}`},
	{"engine.png_compression", `{"engine":{"png_compression":9}}`},
	{"engine.image_buffer_size", `{"engine":{"image_buffer_size":4194304}}`},
	{"engine.max_buffer_size", `{"engine":{"max_buffer_size":16777216}}`},
	{"engine.backends", `{"engine":{"backends":{"goimage":{"weight":1,"mimetypes":["image/jpeg","image/png"]},
		"gifsicle":{"path":"/usr/bin/gifsicle","weight":2,"mimetypes":["image/gif"]}}}}`},
	{"options.mimetype_detector", `{"options":{"mimetype_detector":"extension"}}`},
	{"options.free_memory_interval", `{"options":{"free_memory_interval":10}}`},
	{"options.transform_timeout", `{"options":{"transform_timeout":10}}`},
	{"options.max_processor_concurrent_operations", `{"options":{"max_processor_concurrent":10,
		"max_processor_concurrent_operations":["resize","thumbnail","fit"]}}`},
	{"options.max_image_dimensions", `{"options":{"max_image_dimensions":{"width":8000,"height":8000}}}`},
	{"kvstore.cache.cleanup_interval", `{"kvstore":{"type":"cache","cache":{"expiration":3600,"cleanup_interval":60}}}`},
	{"storage.src.cache_control, name", `{"storage":{"src":{"type":"fs","location":"SRC","cache_control":"max-age=60","name":"source"}}}`},
	{"storage.dst.cache_control, name", `{"storage":{"src":{"type":"fs","location":"SRC"},
		"dst":{"type":"fs","location":"DST","cache_control":"max-age=60","name":"destination"}}}`},
	{"storage.dst-ro", `{"storage":{"src":{"type":"fs","location":"SRC"},"dst":{"type":"fs","location":"DST"},
		"dst-ro":{"type":"fs","location":"DST","base_url":"http://ro.example.com"}}}`},
	{"logger.context_keys", `{"logger":{"context_keys":["request-id"]}}`},
	{"kvstore.redis-roundrobin.password", `{"kvstore":{"redis-roundrobin":{"password":"pw"}}}`},
}

// originalFull sets every key above at once, in one config.
const originalFull = `{
  "port": 3001,
  "logger": {"level": "info", "context_keys": ["request-id"]},
  "kvstore": {"type": "cache", "cache": {"expiration": 3600, "cleanup_interval": 60},
    "redis-roundrobin": {"password": "pw"}},
  "storage": {
    "src": {"type": "fs", "location": "SRC", "cache_control": "max-age=60", "name": "source"},
    "dst": {"type": "fs", "location": "DST", "base_url": "http://rw.example.com", "cache_control": "max-age=60", "name": "destination"},
    "dst-ro": {"type": "fs", "location": "DST", "base_url": "http://ro.example.com", "name": "read-only"}
  },
  "engine": {"quality": 90, "jpeg_quality": 80, "webp_quality": 80, "png_compression": 9,
    "image_buffer_size": 4194304, "max_buffer_size": 16777216,
    "backends": {"goimage": {"weight": 1, "mimetypes": ["image/jpeg", "image/png"]},
      "gifsicle": {"path": "/usr/bin/gifsicle", "weight": 2, "mimetypes": ["image/gif"]}}},
  "options": {"mimetype_detector": "extension", "free_memory_interval": 10, "transform_timeout": 10,
    "max_processor_concurrent": 10, "max_processor_concurrent_operations": ["resize", "thumbnail", "fit"],
    "max_image_dimensions": {"width": 8000, "height": 8000}}
}`

// loadWithFolders loads js with SRC and DST replaced by fresh folders
// holding the test images, and fills in an fs src and dst when js has
// none.
func loadWithFolders(t *testing.T, js string) (config, string, string) {
	t.Helper()
	src, dst := t.TempDir(), t.TempDir()
	copyTestdata(t, src, "avatar.png", "schwarzy.jpg")
	q := func(s string) string { b, _ := json.Marshal(s); return string(b[1 : len(b)-1]) }
	js = strings.NewReplacer(`"SRC"`, `"`+q(src)+`"`, `"DST"`, `"`+q(dst)+`"`).Replace(js)
	cfg := mustLoad(t, js)
	if cfg.Storage.Src.Type == "" {
		cfg.Storage.Src = storageConfig{Type: "fs", Location: src}
	}
	if cfg.Storage.Dst.Type == "" {
		cfg.Storage.Dst = storageConfig{Type: "fs", Location: dst}
	}
	return cfg, src, dst
}

// TestOriginalKeysStart starts picfit with each of the original's keys,
// then with all of them, and processes an image.
func TestOriginalKeysStart(t *testing.T) {
	cases := append(slices.Clone(originalKeys), struct{ name, json string }{"all together", originalFull})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, _ := loadWithFolders(t, tt.json)
			base, logs := startServer(t, cfg)
			for _, q := range []string{"/display?path=schwarzy.jpg&op=resize&w=50", "/display/thumbnail/40x30/avatar.png"} {
				resp, body := httpGet(t, base+q)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s = %d %s", q, resp.StatusCode, body)
				}
				b := decodeAny(t, body).Bounds()
				if want := map[bool]int{true: 50, false: 40}[strings.Contains(q, "w=50")]; b.Dx() != want {
					t.Errorf("GET %s is %v, want width %d", q, b, want)
				}
			}
			if keys := cfg.noEffectKeys(); len(keys) > 0 {
				line := "these keys of the original picfit have no effect here"
				if got := logs.String(); strings.Count(got, line) != 1 || !strings.Contains(got, strings.Join(keys, " ")) {
					t.Errorf("startup log %q: want one line %q naming %q", got, line, keys)
				}
			}
		})
	}
	// The full config names exactly the keys without effect.
	cfg, _, _ := loadWithFolders(t, originalFull)
	want := []string{"engine.png_compression", "engine.image_buffer_size", "engine.max_buffer_size", "engine.backends",
		"options.mimetype_detector", "options.free_memory_interval", "storage.src.name", "storage.src.cache_control",
		"storage.dst.name", "storage.dst.cache_control", "storage.dst-ro.name"}
	if got := cfg.noEffectKeys(); !slices.Equal(got, want) {
		t.Errorf("noEffectKeys() = %q, want %q", got, want)
	}
}

// TestEngineQualityPerFormat: jpeg_quality and webp_quality are the
// quality of their format when q= is absent, and q= still wins.
func TestEngineQualityPerFormat(t *testing.T) {
	withQ := newTestEnv(t, func(c *config) { c.Engine.JPEGQuality, c.Engine.WebPQuality = 20, 30 })
	plain := newTestEnv(t, nil)
	body := func(e *testEnv, q string) []byte {
		t.Helper()
		resp := e.get(t, q)
		b := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", q, resp.StatusCode, b)
		}
		return b
	}
	tests := []struct{ name, q, same string }{
		{"jpeg", "/display?path=schwarzy.jpg&op=resize&w=200", "/display?path=schwarzy.jpg&op=resize&w=200&q=20"},
		{"webp", "/display?path=schwarzy.jpg&op=resize&w=200&fmt=webp", "/display?path=schwarzy.jpg&op=resize&w=200&fmt=webp&q=30"},
		{"q wins", "/display?path=schwarzy.jpg&op=resize&w=200&q=90", "/display?path=schwarzy.jpg&op=resize&w=200&q=90"},
		{"png has no quality", "/display?path=avatar.png&op=resize&w=200", "/display?path=avatar.png&op=resize&w=200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := body(withQ, tt.q), body(plain, tt.same); !bytes.Equal(got, want) {
				t.Errorf("%s with the per-format quality is %d bytes, want the %d bytes of %s", tt.q, len(got), len(want), tt.same)
			}
		})
	}
	if a, b := body(withQ, tests[0].q), body(plain, tests[0].q); bytes.Equal(a, b) {
		t.Error("jpeg_quality 20 made the same JPEG as engine.quality 95")
	}
}

// TestMaxImageDimensionsOriginal: a source is refused only when both
// sides are over, before it is decoded, whatever the operation.
func TestMaxImageDimensionsOriginal(t *testing.T) {
	tests := []struct {
		name string
		dims string
		q    string
		want int
	}{
		{"wider only", `{"width":400,"height":400}`, "path=schwarzy.jpg&op=resize&w=100", http.StatusOK}, // 500x357
		{"both over", `{"width":400,"height":300}`, "path=schwarzy.jpg&op=resize&w=100", http.StatusRequestEntityTooLarge},
		{"both over, noop", `{"width":400,"height":300}`, "path=schwarzy.jpg&op=noop", http.StatusRequestEntityTooLarge},
		{"one side given", `{"width":600}`, "path=schwarzy.jpg&op=resize&w=100", http.StatusOK},
		{"one side given, over", `{"width":450}`, "path=schwarzy.jpg&op=resize&w=100", http.StatusRequestEntityTooLarge},
		{"png, both over", `{"width":300,"height":300}`, "path=avatar.png&op=resize&w=100", http.StatusRequestEntityTooLarge}, // 400x400
		{"png, equal is not over", `{"width":400,"height":400}`, "path=avatar.png&op=thumbnail&w=100&h=50", http.StatusOK},
		{"WxH form", `"400x300"`, "path=schwarzy.jpg&op=resize&w=100", http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, `{"options":{"max_image_dimensions":`+tt.dims+`}}`)
			e := newTestEnv(t, func(c *config) { c.Options.MaxImageDimensions = cfg.Options.MaxImageDimensions })
			resp := e.get(t, "/display?"+tt.q)
			body := readBody(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("GET %s = %d %s, want %d", tt.q, resp.StatusCode, body, tt.want)
			}
			if tt.want != http.StatusOK && !strings.Contains(string(body), "options.max_image_dimensions") {
				t.Errorf("refusal %q does not name options.max_image_dimensions", body)
			}
		})
	}
}

// TestTransformTimeout: past transform_timeout the request is a 504,
// nothing is stored, and the line logged for it carries the context_keys.
func TestTransformTimeout(t *testing.T) {
	logCfg := defaultConfig()
	logCfg.Logger = loggerConfig{Level: "info", Format: "json", ContextKeys: []string{"request-id", "key"}}
	logs := &syncBuffer{}
	e := newTestEnv(t, func(c *config) { c.Options.TransformTimeout = duration(time.Nanosecond) })
	e.s.log = newLogger(logCfg, logs)
	const q = "/get?path=alpha-arc-colors-2140x1200.png&op=resize&w=1000"
	resp := e.get(t, q)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("GET %s with transform_timeout 1ns = %d %s, want 504", q, resp.StatusCode, body)
	}
	if files := fsKeys(t, e.dstDir); len(files) != 0 {
		t.Errorf("destination holds %q after a timed out transform, want nothing", files)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request failed" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no request failed line in %s", logs)
	}
	if id := resp.Header.Get("X-Request-ID"); id == "" || line["request-id"] != id || line["key"] == "" || line["key"] == nil {
		t.Errorf("logged %v, want request-id %q and the key", line, id)
	}
	if err := fmt.Sprint(line["err"]); !strings.Contains(err, "options.transform_timeout") {
		t.Errorf("logged error %q does not name options.transform_timeout", err)
	}

	ok := newTestEnv(t, func(c *config) { c.Options.TransformTimeout = duration(time.Minute) })
	resp = ok.get(t, q)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s with transform_timeout 1m = %d %s, want 200", q, resp.StatusCode, body)
	}
}

// TestConcurrentOperationsLimit: with max_processor_concurrent_operations
// only the requests with one of those operations wait for a processor.
func TestConcurrentOperationsLimit(t *testing.T) {
	tests := []struct {
		name string
		ops  []string
		q    string
		want int
	}{
		{"listed operation waits", []string{"resize"}, "path=avatar.png&op=resize&w=10", http.StatusTooManyRequests},
		{"listed in an element", []string{"resize"}, "path=avatar.png&op=flip&pos=h&op=op:resize+w:10", http.StatusTooManyRequests},
		{"other operation passes", []string{"resize"}, "path=avatar.png&op=flip&pos=h", http.StatusOK},
		{"without the list every operation waits", nil, "path=avatar.png&op=flip&pos=h", http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, func(c *config) {
				c.Options.MaxProcessorConcurrent, c.Options.MaxQueue = 1, 0
				c.Options.MaxProcessorConcurrentOperations = tt.ops
			})
			leave, err := e.s.limiter.admit() // the only place, held
			if err != nil {
				t.Fatal(err)
			}
			resp := e.get(t, "/display?"+tt.q)
			body := readBody(t, resp)
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s while busy = %d %s, want %d", tt.q, resp.StatusCode, body, tt.want)
			}
			leave()
			resp = e.get(t, "/display?"+tt.q+"&force=1")
			if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s once free = %d %s, want 200", tt.q, resp.StatusCode, body)
			}
		})
	}
}

func TestLimiterForOps(t *testing.T) {
	all := newLimiter(1, 0)
	some := newLimiter(1, 0, "resize", "fit")
	ops := func(names ...string) []operation {
		var o []operation
		for _, n := range names {
			k, ok := parseOpKind(n)
			if !ok {
				t.Fatalf("parseOpKind(%q): not an operation", n)
			}
			o = append(o, operation{kind: k})
		}
		return o
	}
	tests := []struct {
		name string
		l    *limiter
		ops  []operation
		want *limiter
	}{
		{"no list: always", all, ops("flip"), all},
		{"listed", some, ops("fit"), some},
		{"listed later in the chain", some, ops("flip", "rotate", "resize"), some},
		{"not listed", some, ops("flip", "rotate"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.forOps(tt.ops); got != tt.want {
				t.Errorf("forOps() = %p, want %p", got, tt.want)
			}
		})
	}
	var none *limiter // not limited: everything passes at once
	leave, err := none.admit()
	if err != nil {
		t.Fatal(err)
	}
	release, err := none.acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done, err := none.prefetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	leave()
	release()
	done()
}

// TestDstRO: with storage.dst-ro, results are written to dst and read,
// and reported, from dst-ro.
func TestDstRO(t *testing.T) {
	src, dst, ro := t.TempDir(), t.TempDir(), t.TempDir()
	copyTestdata(t, src, "avatar.png")
	edit := func(c *config) {
		c.Storage.Dst.BaseURL = "http://rw.example.com/"
		c.Storage.DstRO = storageConfig{Type: "fs", Location: ro, BaseURL: "http://ro.example.com/"}
	}
	const q = "path=avatar.png&op=resize&w=30"
	e := newTestEnv(t, edit, src, dst)
	got := e.getJSON(t, q)
	name := got["path"]
	if got["url"] != "http://ro.example.com/"+name || name != storedName(got["key"], formatPNG, shardConfig{RestOnly: true}) {
		t.Errorf("/get = %v, want the path and a url on dst-ro", got)
	}
	if !slices.Equal(fsKeys(t, dst), []string{name}) || len(fsKeys(t, ro)) != 0 {
		t.Errorf("dst holds %q and dst-ro %q, want the result written to dst only", fsKeys(t, dst), fsKeys(t, ro))
	}
	resp := e.get(t, "/redirect?"+q)
	readBody(t, resp)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != got["url"] {
		t.Errorf("/redirect = %d %q, want 301 %q", resp.StatusCode, loc, got["url"])
	}

	// A fresh server (no kv) looks in dst-ro: not there yet, so it makes it.
	before := newTestEnv(t, edit, src, dst)
	if resp := before.get(t, "/display?"+q); readBody(t, resp) == nil || resp.StatusCode != http.StatusOK || before.opens.Load() != 1 {
		t.Errorf("display before dst-ro has the result = %d, %d source opens; want 200 made from the source", resp.StatusCode, before.opens.Load())
	}
	// Once dst-ro has it (replicated), it is served from there.
	data, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ro, filepath.FromSlash(name)), data, 0o644)
	after := newTestEnv(t, edit, src, dst)
	resp = after.get(t, "/display?"+q)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) || after.opens.Load() != 0 {
		t.Errorf("display once dst-ro has the result = %d, %d bytes, %d source opens; want 200, the stored %d bytes, none",
			resp.StatusCode, len(body), after.opens.Load(), len(data))
	}
}

// TestStorageCacheControlS3: storage cache_control is stored as the
// objects' Cache-Control.
func TestStorageCacheControlS3(t *testing.T) {
	env := testS3Env(t)
	sc := env.config(t, "s3", "http://cdn.example.com/")
	sc.CacheControl = "public, max-age=31536000"
	e := newTestEnv(t, func(c *config) { c.Storage.Dst = sc })
	got := e.getJSON(t, "path=avatar.png&op=resize&w=30")
	info, err := env.client(t).StatObject(t.Context(), env.bucket, got["path"], minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("stat %s: %v", got["path"], err)
	}
	if cc := info.Metadata.Get("Cache-Control"); cc != sc.CacheControl {
		t.Errorf("stored object's Cache-Control = %q, want %q", cc, sc.CacheControl)
	}
}

// TestResponseFieldsLikeOriginal: /get and /upload answer the original's
// fields, path relative to the storage (fs) or the object key (S3).
func TestResponseFieldsLikeOriginal(t *testing.T) {
	for _, pair := range storagePairs() {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.setup(t)
			e := newPairEnv(t, p, nil)
			keyOf := func(sc storageConfig, name string) string {
				if sc.Type == "s3" {
					return cleanPrefix(sc.Location) + "/" + name
				}
				return name
			}
			fields := func(body []byte) map[string]string {
				t.Helper()
				var m map[string]string
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatalf("%s: %v", body, err)
				}
				return m
			}
			resp := e.get(t, "/get?path=avatar.png&op=resize&w=100&h=100")
			got := fields(readBody(t, resp))
			name := "8/9/5b545d9dca01413aec42d6ae3c6197.png"
			want := map[string]string{
				"filename": "5b545d9dca01413aec42d6ae3c6197.png",
				"key":      "895b545d9dca01413aec42d6ae3c6197",
				"path":     keyOf(p.dst, name),
				"url":      "http://cdn.example.com/img/" + keyOf(p.dst, name),
			}
			if !mapsEqual(got, want) {
				t.Errorf("/get = %v, want %v", got, want)
			}
			if strings.HasPrefix(got["path"], "/") || strings.Contains(got["path"], os.TempDir()) {
				t.Errorf("/get path %q shows a server folder", got["path"])
			}

			resp = uploadRequest(t, e, "data", "sub/up.png", testdataBytes(t, "avatar.png"))
			got = fields(readBody(t, resp))
			want = map[string]string{
				"filename": "up.png",
				"path":     keyOf(p.src, "up.png"),
				"url":      "http://src.example.com/" + keyOf(p.src, "up.png"),
			}
			if resp.StatusCode != http.StatusOK || !mapsEqual(got, want) {
				t.Errorf("/upload = %d %v, want 200 %v", resp.StatusCode, got, want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestMemoryKVSweep: cleanup_interval sweeps expired keys out of memory
// without waiting for a lookup.
func TestMemoryKVSweep(t *testing.T) {
	now := time.Unix(1000, 0)
	m := newMemoryKV(10, time.Minute, func() time.Time { return now })
	ctx := t.Context()
	m.Set(ctx, "old", "a")
	now = now.Add(30 * time.Second)
	m.Set(ctx, "new", "b")
	m.AddToSet(ctx, "set", "x")
	now = now.Add(45 * time.Second) // old expired, new and set not
	m.sweep()
	m.mu.Lock()
	n, _, hasOld := len(m.entries), m.lru.Len(), m.entries["old"] != nil
	m.mu.Unlock()
	if n != 2 || hasOld {
		t.Errorf("after sweep: %d entries (old kept: %v), want 2 without old", n, hasOld)
	}
	if v, err := m.Get(ctx, "new"); err != nil || v != "b" {
		t.Errorf("Get(new) = %q, %v after sweep", v, err)
	}
	// Without cleanup_interval, sweepEvery returns at once.
	m.sweepEvery(ctx)

	cfg := mustLoad(t, `{"kvstore":{"type":"cache","cache":{"expiration":60,"cleanup_interval":"30s"}}}`)
	s, err := newServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stores.close()
	if mk, ok := s.kv.(*memoryKV); !ok || mk.cleanup != 30*time.Second {
		t.Errorf("kv = %#v, want a memoryKV sweeping every 30s", s.kv)
	}
}

func TestCutPasswordParam(t *testing.T) {
	tests := []struct{ in, url, password string }{
		{"redis://127.0.0.1:6379?db=0", "redis://127.0.0.1:6379?db=0", ""},
		{"redis://127.0.0.1:6379?db=1&password=s3cret", "redis://127.0.0.1:6379?db=1", "s3cret"},
		{"redis://127.0.0.1:6379?password=a%26b", "redis://127.0.0.1:6379", "a&b"},
	}
	for _, tt := range tests {
		u, pw := cutPasswordParam(tt.in)
		if u != tt.url || pw != tt.password {
			t.Errorf("cutPasswordParam(%q) = %q, %q; want %q, %q", tt.in, u, pw, tt.url, tt.password)
		}
	}
	rr, err := newRoundRobinKV(redisRoundRobinConfig{Addrs: []string{"redis://127.0.0.1:1?db=0&password=p1", "redis://:p2@127.0.0.1:2", "redis://127.0.0.1:3"},
		Password: "fallback"}, defaultRedisTimeouts())
	if err != nil {
		t.Fatalf("newRoundRobinKV with the original's ?password=: %v", err)
	}
	defer rr.Close()
	var got []string
	for _, s := range rr.servers {
		got = append(got, s.client.(*redis.Client).Options().Password)
	}
	if !slices.Equal(got, []string{"p1", "p2", "fallback"}) {
		t.Errorf("passwords = %q, want p1 p2 fallback", got)
	}
}

// TestStartupErrorsNameTheKey: a missing source folder and a taken port
// stop picfit with the key to fix; a missing destination is created.
func TestStartupErrorsNameTheKey(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	cfg := mustLoad(t, `{}`)
	cfg.Storage.Src = storageConfig{Type: "fs", Location: missing}
	cfg.Storage.Dst = storageConfig{Type: "fs", Location: filepath.Join(dir, "out")}
	if _, err := newServer(cfg, log, time.Now); err == nil || !strings.Contains(err.Error(), "storage.src.location") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("newServer with a missing source folder = %v, want an error naming storage.src.location", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	cfg.Storage.Src.Location = file
	if _, err := newServer(cfg, log, time.Now); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("newServer with a file as source folder = %v, want an error", err)
	}
	cfg.Storage.Src.Location = dir
	s, err := newServer(cfg, log, time.Now)
	if err != nil {
		t.Fatalf("newServer with a missing destination folder: %v", err)
	}
	s.stores.close()
	if st, err := os.Stat(filepath.Join(dir, "out")); err != nil || !st.IsDir() {
		t.Errorf("destination folder not created: %v", err)
	}

	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg = defaultConfig()
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	err = serve(t.Context(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(cfg.Port)) {
		t.Errorf("serve on a taken port = %v, want an error naming port %d", err, cfg.Port)
	}
}

// migrationConfig returns the config the README's migration section shows,
// verbatim.
func migrationConfig(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- TestMigrationConfig -->\n```json\n")
	js, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no config after <!-- TestMigrationConfig -->")
	}
	return js
}

// TestMigrationConfig starts picfit from the command line with the
// README's migration config, which has the original README's shape and
// the original's keys, unchanged but for its folders and port, and serves
// the original README's URLs with it.
func TestMigrationConfig(t *testing.T) {
	js := migrationConfig(t)
	src, dst := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(src, "path", "to"), 0o755)
	copyTestdata(t, filepath.Join(src, "path", "to"), "avatar.png")
	os.Rename(filepath.Join(src, "path", "to", "avatar.png"), filepath.Join(src, "path", "to", "file.png"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for old, new := range map[string]string{`"/srv/media/"`: strconv.Quote(src + "/"), `"/srv/cache/"`: strconv.Quote(dst + "/"), `"port": 3001`: `"port": ` + strconv.Itoa(port)} {
		if !strings.Contains(js, old) {
			t.Fatalf("the README's migration config has no %s", old)
		}
		js = strings.Replace(js, old, new, 1)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	// serve logs "picfit listening" once its port is open (slog writes
	// each record in one Write): the readiness signal of the process.
	listening := &signalWriter{w: &stderr, needle: "picfit listening", seen: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-c", path}, func(string) string { return "" }, io.Discard, listening)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("picfit -c config.json returned %v after SIGTERM, want nil", err)
		}
	}()
	select {
	case <-listening.seen:
	case err := <-done:
		done <- err
		t.Fatalf("picfit -c config.json stopped at start: %v\n%s", err, stderr.String())
	}
	if log := stderr.String(); !strings.Contains(log, "have no effect here") ||
		!strings.Contains(log, `keys="engine.image_buffer_size engine.max_buffer_size engine.backends options.mimetype_detector options.free_memory_interval"`) {
		t.Errorf("startup log %s: want the keys without effect named", log)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	// The original README's URLs.
	images := []struct {
		q    string
		w, h int
	}{
		{"/display?w=100&h=100&path=path/to/file.png&op=resize", 100, 100},
		{"/display/resize/100x100/path/to/file.png", 100, 100},
		{"/display?w=100&h=100&path=path/to/file.png&op=resize&op=op:rotate+deg:180", 100, 100},
		{"/display?w=100&h=50&path=path/to/file.png&op=thumbnail", 100, 50},
		{"/display?path=path/to/file.png&op=flip&pos=h", 400, 400},
		{"/display?path=path/to/file.png&op=rotate&deg=90&w=0&h=0", 400, 400},
		{"/display?path=path/to/file.png&op=effect&filter=blur", 400, 400},
		{"/display?path=path/to/file.png&op=noop", 400, 400},
		{"/display?path=path/to/file.png&op=resize&w=120&fmt=jpg&q=70", 120, 120},
		{"/display?path=path/to/file.png&op=resize&w=800&upscale=0", 400, 400},
	}
	for _, im := range images {
		resp, body := httpGet(t, base+im.q)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d %s", im.q, resp.StatusCode, body)
			continue
		}
		if b := decodeAny(t, body).Bounds(); b.Dx() != im.w || b.Dy() != im.h {
			t.Errorf("GET %s is %v, want %dx%d", im.q, b, im.w, im.h)
		}
	}
	resp, body := httpGet(t, base+"/get?w=100&h=100&path=path/to/file.png&op=resize")
	var got map[string]string
	if err := json.Unmarshal(body, &got); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("/get = %d %s", resp.StatusCode, body)
	}
	name := storedName(got["key"], formatPNG, shardConfig{Width: 1, Depth: 2, RestOnly: true})
	if got["path"] != name || got["url"] != "https://img.example.com/"+name || got["filename"] != filepath.Base(name) {
		t.Errorf("/get = %v, want path %s and its url", got, name)
	}
	if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(name))); err != nil {
		t.Errorf("/get did not store %s: %v", name, err)
	}
	resp, _ = httpGet(t, base+"/redirect?w=100&h=100&path=path/to/file.png&op=resize")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != got["url"] {
		t.Errorf("/redirect = %d %q, want 301 %s", resp.StatusCode, resp.Header.Get("Location"), got["url"])
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/display/resize/100x100/path/to/file.png", nil)
	req.Header.Set("Origin", "https://www.example.com")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.Header.Get("Access-Control-Allow-Origin") != "https://www.example.com" {
		t.Errorf("CORS for https://www.example.com = %v, %v", resp, err)
	} else {
		readBody(t, resp)
	}
	for _, p := range []string{"/sys/stats", "/sys/health", "/healthcheck"} {
		if resp, body := httpGet(t, base+p); resp.StatusCode != http.StatusOK || !json.Valid(body) {
			t.Errorf("GET %s = %d %s", p, resp.StatusCode, body)
		}
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/block?debug=1", "/metrics"} {
		if resp, body := httpGet(t, base+p); resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s = %d, %d bytes", p, resp.StatusCode, len(body))
		}
	}
	// Upload, then the deletes of the original README.
	e := &testEnv{ts: &httptest.Server{URL: base}}
	resp = uploadRequest(t, e, "data", "foo.png", testdataBytes(t, "avatar.png"))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"path":"foo.png"`) {
		t.Errorf("upload = %d %s, want 200 with path foo.png", resp.StatusCode, body)
	}
	for _, d := range []string{"/display/thumbnail/100x50/path/to/file.png", "/path/to/file.png", "/foo.png"} {
		if code, body := e.delete(t, d); code != http.StatusOK || body != "Ok" {
			t.Errorf("DELETE %s = %d %q, want 200 Ok", d, code, body)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "path", "to", "file.png")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("source still there after DELETE: %v", err)
	}
}

// TestOriginalREADMESigningAndURLSources: the README's url= form, and
// signatures as the original's server checks them.
func TestOriginalREADMESigningAndURLSources(t *testing.T) {
	origin := testdataOrigin(t)
	e := newTestEnv(t, func(c *config) {
		c.Options.AllowPrivateNetworks = true
		c.SecretKey = "abcdef"
	})
	u := url.QueryEscape(origin.URL + "/avatar.png")
	q := "url=" + u + "&w=100&h=100&op=resize&upscale=0"
	v, _ := url.ParseQuery(q)
	sig := sign("abcdef", v)
	raw := hmac.New(sha1.New, []byte("abcdef"))
	raw.Write([]byte(q))
	unsorted := hex.EncodeToString(raw.Sum(nil))
	tests := []struct {
		name, q string
		want    int
	}{
		{"signed sorted query", q + "&sig=" + sig, http.StatusOK},
		{"same parameters in another order", "op=resize&upscale=0&h=100&w=100&url=" + u + "&sig=" + sig, http.StatusOK},
		{"HMAC of the unsorted query", q + "&sig=" + unsorted, http.StatusUnauthorized},
		{"uppercase", q + "&sig=" + strings.ToUpper(sig), http.StatusUnauthorized},
		{"unsigned", q, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, "/display?"+tt.q)
			body := readBody(t, resp)
			if resp.StatusCode != tt.want {
				t.Fatalf("GET /display?%s = %d %s, want %d", tt.q, resp.StatusCode, body, tt.want)
			}
			if tt.want == http.StatusOK {
				if b := decodeAny(t, body).Bounds(); b.Dx() != 100 || b.Dy() != 100 {
					t.Errorf("url= source resized to %v, want 100x100", b)
				}
			}
		})
	}
}

// TestTransformWithin: past transform_timeout the work stops and the
// error is a timeout naming the option; within it the result is made.
func TestTransformWithin(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.TransformTimeout = duration(time.Nanosecond) })
	src := readTestdata(t, "alpha-arc-colors-2140x1200.png")
	req, err := parseRequest(url.Values{"path": {"x.png"}, "op": {"resize"}, "w": {"1000"}}, e.s.limits)
	if err != nil {
		t.Fatal(err)
	}
	in, err := inspectSource(src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.transformWithin(t.Context(), in, src, req, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "transform_timeout") {
		t.Fatalf("transformWithin past the deadline = %v, want a DeadlineExceeded naming transform_timeout", err)
	}
	e.s.transformTimeout = time.Minute
	res, err := e.s.transformWithin(t.Context(), in, src, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := decodeAny(t, res.data).Bounds(); b.Dx() != 1000 {
		t.Errorf("within the timeout: width %d, want 1000", b.Dx())
	}
}

// signalWriter passes writes to w and closes seen at the first write
// that holds needle.
type signalWriter struct {
	w      io.Writer
	needle string
	once   sync.Once
	seen   chan struct{}
}

func (s *signalWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if bytes.Contains(p, []byte(s.needle)) {
		s.once.Do(func() { close(s.seen) })
	}
	return n, err
}
