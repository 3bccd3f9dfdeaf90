package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testEnv is a picfit server over real HTTP with an fs source holding
// copies of testdata images and an fs destination, both in temp folders.
type testEnv struct {
	ts     *httptest.Server
	s      *server
	srcDir string
	dstDir string
	opens  *atomic.Int64 // source opens, to count processing
}

// countingStorage counts Open calls on a storage.
type countingStorage struct {
	storage
	opens *atomic.Int64
}

func (c countingStorage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	c.opens.Add(1)
	return c.storage.Open(ctx, name)
}

func copyTestdata(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newTestEnv starts a server; edit may change the config first. srcDir
// and dstDir may be given to share folders between servers.
func newTestEnv(t *testing.T, edit func(*config), dirs ...string) *testEnv {
	t.Helper()
	e := &testEnv{opens: new(atomic.Int64)}
	if len(dirs) == 2 {
		e.srcDir, e.dstDir = dirs[0], dirs[1]
	} else {
		e.srcDir, e.dstDir = t.TempDir(), t.TempDir()
		copyTestdata(t, e.srcDir, "avatar.png", "schwarzy.jpg", "giphy.gif", "tiny-1x1.png", "schwarzy_exif6.jpg", "alpha-arc-colors-2140x1200.png")
	}
	cfg := defaultConfig()
	cfg.Storage.Src = storageConfig{Type: "fs", Location: e.srcDir}
	cfg.Storage.Dst = storageConfig{Type: "fs", Location: e.dstDir, BaseURL: "http://cdn.example.com/img/"}
	cfg.KVStore.Type = "cache"
	if edit != nil {
		edit(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := newServer(cfg, log, time.Now)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	if s.src != nil {
		s.src = countingStorage{s.src, e.opens}
	}
	e.s = s
	e.ts = httptest.NewServer(s.routes())
	t.Cleanup(func() {
		e.ts.Close()
		s.stores.close()
	})
	return e
}

func (e *testEnv) get(t *testing.T, path string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// getJSON asks /get for query and returns its JSON answer, which must be
// a 200 of Content-Type application/json.
func (e *testEnv) getJSON(t *testing.T, query string) map[string]string {
	t.Helper()
	resp := e.get(t, "/get?"+query)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /get?%s = %d %q %s", query, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// testdataOrigin is an HTTP server of testdata/, for url= sources; it is
// closed when the test ends.
func testdataOrigin(t *testing.T) *httptest.Server {
	origin := httptest.NewServer(http.FileServer(http.Dir("testdata")))
	t.Cleanup(origin.Close)
	return origin
}

func decodeAny(t *testing.T, data []byte) image.Image {
	t.Helper()
	m, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return m
}

func TestDisplaySizes(t *testing.T) {
	e := newTestEnv(t, nil)
	tests := []struct {
		name, path   string
		ctype        string
		wantW, wantH int
	}{
		{"resize w", "/display?path=schwarzy.jpg&op=resize&w=100", "image/jpeg", 100, 71},
		{"resize h", "/display?path=schwarzy.jpg&op=resize&h=100", "image/jpeg", 140, 100},
		{"resize both stretches", "/display?path=schwarzy.jpg&op=resize&w=50&h=50", "image/jpeg", 50, 50},
		{"fit", "/display?path=schwarzy.jpg&op=fit&w=100&h=100", "image/jpeg", 100, 71},
		{"fit never enlarges", "/display?path=schwarzy.jpg&op=fit&w=1000&h=1000", "image/jpeg", 500, 357},
		{"thumbnail", "/display?path=schwarzy.jpg&op=thumbnail&w=100&h=100", "image/jpeg", 100, 100},
		{"thumbnail one side", "/display?path=schwarzy.jpg&op=thumbnail&w=100", "image/jpeg", 100, 71},
		{"pad", "/display?path=schwarzy.jpg&op=pad&w=200&h=200&fmt=png", "image/png", 200, 200},
		{"rotate swaps", "/display?path=schwarzy.jpg&op=rotate&deg=90", "image/jpeg", 357, 500},
		{"upscale", "/display?path=tiny-1x1.png&op=resize&w=20&h=20", "image/png", 20, 20},
		{"no upscale", "/display?path=tiny-1x1.png&op=resize&w=20&h=20&upscale=0", "image/png", 1, 1},
		{"chain", "/display?path=schwarzy.jpg&op=resize&w=100&op=op:rotate+deg:270", "image/jpeg", 71, 100},
		{"path style", "/display/resize/100x/schwarzy.jpg", "image/jpeg", 100, 71},
		{"path style empty width", "/display/resize/x100/schwarzy.jpg", "image/jpeg", 140, 100},
		{"format", "/display?path=avatar.png&op=resize&w=40&fmt=jpg", "image/jpeg", 40, 40},
		{"exif orientation applied", "/display?path=schwarzy_exif6.jpg&op=resize&w=100&fmt=png", "image/png", 100, 140},
		{"gif", "/display?path=giphy.gif&op=resize&w=100", "image/gif", 100, 75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, tt.path)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d %s", tt.path, resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("GET %s Content-Type = %q, want %q", tt.path, got, tt.ctype)
			}
			b := decodeAny(t, body).Bounds()
			if b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("GET %s = %dx%d, want %dx%d", tt.path, b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
		})
	}
}

func TestDisplayAnimatedGIFKeepsFrames(t *testing.T) {
	e := newTestEnv(t, nil)
	resp := e.get(t, "/display?path=giphy.gif&op=resize&w=100")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	g, err := gif.DecodeAll(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 37 {
		t.Errorf("frames = %d, want 37", len(g.Image))
	}
}

func TestHeadersAndConditionals(t *testing.T) {
	e := newTestEnv(t, nil)
	const q = "/display?path=avatar.png&op=resize&w=100&h=100"
	const key = "895b545d9dca01413aec42d6ae3c6197"

	resp := e.get(t, q)
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if got := resp.Header.Get("ETag"); got != `"`+key+`"` {
		t.Errorf("ETag = %q, want %q", got, `"`+key+`"`)
	}
	if got := resp.Header.Get("Cache-Control"); got != "must-revalidate" {
		t.Errorf("Cache-Control = %q", got)
	}
	if _, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil || !strings.HasSuffix(resp.Header.Get("Last-Modified"), "GMT") {
		t.Errorf("Last-Modified = %q, want an HTTP date in GMT", resp.Header.Get("Last-Modified"))
	}

	resp = e.get(t, q, "If-None-Match", `"`+key+`"`)
	readBody(t, resp)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the key = %d, want 304", resp.StatusCode)
	}
	resp = e.get(t, q, "If-None-Match", `"other"`)
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match with another tag = %d, want 200", resp.StatusCode)
	}

	e.s.stores.close() // wait for the background store
	e.s.stores = newStoreQueue(8, 1, e.s.store, e.s.log, time.Minute)
	resp = e.get(t, q)
	readBody(t, resp)
	lm, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		t.Fatalf("Last-Modified of the stored result: %v", err)
	}
	resp = e.get(t, q, "If-Modified-Since", lm.Format(http.TimeFormat))
	readBody(t, resp)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since = Last-Modified gave %d, want 304", resp.StatusCode)
	}
	resp = e.get(t, q, "If-Modified-Since", lm.Add(-time.Hour).Format(http.TimeFormat))
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("If-Modified-Since an hour before = %d, want 200", resp.StatusCode)
	}
}

// TestIfNoneMatchStar: "*" matches a result that exists (304), not one
// whose source is missing (404).
func TestIfNoneMatchStar(t *testing.T) {
	e := newTestEnv(t, nil)
	tests := []struct {
		name, path string
		code       int
	}{
		{"missing source", "/display?path=nothere.png&op=resize&w=100", http.StatusNotFound},
		{"existing source", "/display?path=avatar.png&op=resize&w=100", http.StatusNotModified},
		{"existing source, stored", "/display?path=avatar.png&op=resize&w=100", http.StatusNotModified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, tt.path, "If-None-Match", "*")
			body := readBody(t, resp)
			if resp.StatusCode != tt.code {
				t.Errorf("If-None-Match: * on %s = %d %q, want %d", tt.path, resp.StatusCode, body, tt.code)
			}
		})
	}
}

func TestHead(t *testing.T) {
	e := newTestEnv(t, nil)
	resp, err := http.Head(e.ts.URL + "/display?path=avatar.png&op=resize&w=10")
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("HEAD = %d, %d bytes, %q; want 200, no body, image/png", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}
}

func TestGetAndRedirect(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Shard = shardConfig{Width: 1, Depth: 2, RestOnly: true} })
	const key = "895b545d9dca01413aec42d6ae3c6197"
	got := e.getJSON(t, "path=avatar.png&op=resize&w=100&h=100")
	name := "8/9/5b545d9dca01413aec42d6ae3c6197.png"
	want := map[string]string{
		"filename": "5b545d9dca01413aec42d6ae3c6197.png",
		"key":      key,
		"path":     name, // relative to the storage, as the original
		"url":      "http://cdn.example.com/img/" + name,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("/get %s = %q, want %q", k, got[k], v)
		}
	}
	data, err := os.ReadFile(filepath.Join(e.dstDir, name))
	if err != nil {
		t.Fatalf("stored file: %v", err)
	}
	if b := decodeAny(t, data).Bounds(); b.Dx() != 100 || b.Dy() != 100 {
		t.Errorf("stored image is %v, want 100x100", b)
	}

	resp := e.get(t, "/redirect/resize/100x100/avatar.png")
	readBody(t, resp)
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want["url"] {
		t.Errorf("/redirect = %d Location %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want["url"])
	}
	if n := e.opens.Load(); n != 1 {
		t.Errorf("source opened %d times for the same result, want 1", n)
	}
}

func TestVanishedFileRegenerates(t *testing.T) {
	e := newTestEnv(t, nil)
	const q = "/get?path=avatar.png&op=resize&w=30"
	var first map[string]string
	json.Unmarshal(readBody(t, e.get(t, q)), &first)
	if err := os.Remove(filepath.Join(e.dstDir, first["path"])); err != nil {
		t.Fatalf("remove stored file: %v", err)
	}
	resp := e.get(t, strings.Replace(q, "/get", "/display", 1))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("display after the file vanished = %d %s", resp.StatusCode, body)
	}
	if b := decodeAny(t, body).Bounds(); b.Dx() != 30 {
		t.Errorf("regenerated image is %v, want width 30", b)
	}
	readBody(t, e.get(t, q))
	if _, err := os.Stat(filepath.Join(e.dstDir, first["path"])); err != nil {
		t.Errorf("file not stored again: %v", err)
	}
}

func TestRestartFindsStoredResult(t *testing.T) {
	e1 := newTestEnv(t, nil)
	const q = "/get?path=schwarzy.jpg&op=thumbnail&w=50&h=50"
	if resp := e1.get(t, q); resp.StatusCode != http.StatusOK {
		t.Fatalf("first /get = %d", resp.StatusCode)
	}
	// A new process: an empty in-memory kv, the same folders, and the
	// source gone, so only the stored result can answer.
	if err := os.Remove(filepath.Join(e1.srcDir, "schwarzy.jpg")); err != nil {
		t.Fatal(err)
	}
	e2 := newTestEnv(t, nil, e1.srcDir, e1.dstDir)
	resp := e2.get(t, strings.Replace(q, "/get", "/display", 1))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("display after restart = %d %s", resp.StatusCode, body)
	}
	if b := decodeAny(t, body).Bounds(); b.Dx() != 50 || b.Dy() != 50 {
		t.Errorf("image after restart is %v, want 50x50", b)
	}
	if n := e2.opens.Load(); n != 0 {
		t.Errorf("source opened %d times after restart, want 0", n)
	}
}

func TestDisplayStoresInBackground(t *testing.T) {
	e := newTestEnv(t, nil)
	resp := e.get(t, "/display?path=avatar.png&op=resize&w=100&h=100")
	readBody(t, resp)
	e.s.stores.close() // waits for queued stores
	name, err := e.s.kv.Get(context.Background(), "895b545d9dca01413aec42d6ae3c6197")
	if err != nil || name != "895b545d9dca01413aec42d6ae3c6197.png" {
		t.Errorf("kv = %q, %v, want the stored name", name, err)
	}
	if _, err := os.Stat(filepath.Join(e.dstDir, name)); err != nil {
		t.Errorf("stored file: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(e.dstDir, ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
	e.s.stores = newStoreQueue(8, 1, e.s.store, e.s.log, time.Minute)
}

func TestIdenticalRequestsProcessedOnce(t *testing.T) {
	e := newTestEnv(t, nil)
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Go(func() {
			resp, err := http.Get(e.ts.URL + "/get?path=schwarzy.jpg&op=resize&w=123")
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d = %d, want 200", i, c)
		}
	}
	if n := e.opens.Load(); n != 1 {
		t.Errorf("source opened %d times for 20 identical requests, want 1", n)
	}
}

func TestBadRequests(t *testing.T) {
	e := newTestEnv(t, nil)
	tests := []struct {
		name, path string
		code       int
		mention    string
	}{
		{"no source", "/display?op=resize&w=10", 400, "url or path"},
		{"bad width", "/display?path=avatar.png&op=resize&w=ten", 400, "w:"},
		{"bad op", "/display?path=avatar.png&op=explode", 400, "op:"},
		{"bad quality", "/display?path=avatar.png&op=resize&q=0", 400, "q:"},
		{"missing file", "/display?path=nope.png&op=resize&w=10", 404, "not found"},
		{"traversal", "/display?path=../../etc/passwd&op=noop", 400, "path:"},
		{"path style traversal", "/display/resize/10x10/..%2F..%2Fetc%2Fpasswd", 400, "path:"},
		{"path style dot segments are cleaned by the mux", "/display/resize/10x10/../../etc/passwd", 307, ""},
		{"not an image", "/display?path=notes.txt&op=resize&w=10", 415, "unsupported"},
		{"bad lossless", "/display?path=avatar.png&op=resize&w=10&fmt=webp&lossless=maybe", 400, "lossless:"},
	}
	os.WriteFile(filepath.Join(e.srcDir, "notes.txt"), []byte("hello, not an image"), 0o644)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, tt.path)
			body := string(readBody(t, resp))
			if resp.StatusCode != tt.code {
				t.Fatalf("GET %s = %d %q, want %d", tt.path, resp.StatusCode, body, tt.code)
			}
			if !strings.Contains(body, tt.mention) {
				t.Errorf("GET %s body = %q, want it to mention %q", tt.path, body, tt.mention)
			}
		})
	}
}

func TestNoStorageURLOnly(t *testing.T) {
	origin := testdataOrigin(t)
	e := newTestEnv(t, func(c *config) {
		*c = defaultConfig()
		c.Options.AllowPrivateNetworks = true
	})
	resp := e.get(t, "/display?url="+url.QueryEscape(origin.URL+"/schwarzy.jpg")+"&op=resize&w=100")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("url source = %d %s", resp.StatusCode, body)
	}
	if b := decodeAny(t, body).Bounds(); b.Dx() != 100 || b.Dy() != 71 {
		t.Errorf("url source gave %v, want 100x71", b)
	}
	for _, p := range []string{"/display?path=avatar.png&op=resize&w=10", "/display/resize/10x10/avatar.png", "/get?url=" + url.QueryEscape(origin.URL+"/schwarzy.jpg") + "&op=resize&w=10"} {
		resp := e.get(t, p)
		readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s without storage = %d, want 400 or 404", p, resp.StatusCode)
		}
	}
	resp = e.get(t, "/display?url="+url.QueryEscape(origin.URL+"/missing.jpg")+"&op=resize&w=100")
	readBody(t, resp)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing origin file = %d, want 404", resp.StatusCode)
	}
}

func TestURLSourcePrivateRefused(t *testing.T) {
	origin := testdataOrigin(t)
	e := newTestEnv(t, func(c *config) { *c = defaultConfig() })
	u := strings.Replace(origin.URL, "127.0.0.1", "localhost", 1) + "/schwarzy.jpg"
	resp := e.get(t, "/display?url="+url.QueryEscape(u)+"&op=resize&w=100")
	body := readBody(t, resp)
	// The body says why, but not the address the name resolved to.
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "not public") ||
		strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "::1") {
		t.Errorf("loopback origin by name = %d %q, want 403 saying it is not public, naming no address", resp.StatusCode, body)
	}
	// A migrating user whose images live on the private network is told
	// which keys open it.
	for _, key := range []string{"options.allow_private_networks", "options.allowed_hosts"} {
		if !strings.Contains(string(body), key) {
			t.Errorf("403 body %q does not name %s", body, key)
		}
	}
}

func TestSignedRequests(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.SecretKey = "abcdef" })
	q := "path=avatar.png&op=resize&w=20&h=20"
	v, _ := url.ParseQuery(q)
	sig := sign("abcdef", v)
	tests := []struct {
		name, path string
		code       int
	}{
		{"unsigned", "/display?" + q, 401},
		{"wrong", "/display?" + q + "&sig=0000000000000000000000000000000000000000", 401},
		{"signed", "/display?" + q + "&sig=" + sig, 200},
		{"signed, other order", "/display?h=20&w=20&sig=" + sig + "&op=resize&path=avatar.png", 200},
		{"path style signed", "/display/" + sig + "/resize/20x20/avatar.png", 200},
		{"path style unsigned", "/display/resize/20x20/avatar.png", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, tt.path)
			body := string(readBody(t, resp))
			if resp.StatusCode != tt.code {
				t.Errorf("GET %s = %d %q, want %d", tt.path, resp.StatusCode, body, tt.code)
			}
			if tt.code == 401 && strings.TrimSpace(body) != "Invalid signature" {
				t.Errorf("GET %s body = %q, want Invalid signature", tt.path, body)
			}
		})
	}
}

func TestAllowedSizes(t *testing.T) {
	e := newTestEnv(t, func(c *config) {
		c.Options.AllowedSizes = []allowedSize{{Width: 100, Height: 100}, {Width: 50}}
	})
	tests := []struct {
		path string
		code int
	}{
		{"/display?path=avatar.png&op=resize&w=100&h=100", 200},
		{"/display?path=avatar.png&op=resize&w=50", 200},
		{"/display?path=avatar.png&op=resize&w=60", 403},
		{"/display?path=avatar.png&op=resize&w=100&h=100&op=op:resize+w:300+h:300", 403},
		{"/display/thumbnail/100x100/avatar.png", 200},
	}
	for _, tt := range tests {
		resp := e.get(t, tt.path)
		body := string(readBody(t, resp))
		if resp.StatusCode != tt.code {
			t.Errorf("GET %s = %d %q, want %d", tt.path, resp.StatusCode, body, tt.code)
		}
		if tt.code == 403 && !strings.Contains(body, "Requested size not allowed") {
			t.Errorf("GET %s body = %q", tt.path, body)
		}
	}
}

func TestNoopServesSourceBytes(t *testing.T) {
	e := newTestEnv(t, nil)
	resp := e.get(t, "/display?path=schwarzy.jpg&op=noop")
	body := readBody(t, resp)
	want, _ := os.ReadFile("testdata/schwarzy.jpg")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("noop = %d, %d bytes (want %d), %q", resp.StatusCode, len(body), len(want), resp.Header.Get("Content-Type"))
	}
}

func TestHealthcheck(t *testing.T) {
	e := newTestEnv(t, nil)
	resp := e.get(t, "/healthcheck")
	var got map[string]any
	if err := json.Unmarshal(readBody(t, resp), &got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || got["status"] != "Ok" {
		t.Errorf("healthcheck = %d %v", resp.StatusCode, got)
	}
	for _, k := range []string{"version", "uptime", "started_at"} {
		if _, ok := got[k]; !ok {
			t.Errorf("healthcheck has no %q: %v", k, got)
		}
	}
}

func TestPixelsThroughHTTP(t *testing.T) {
	e := newTestEnv(t, nil)
	src, err := png.Decode(mustOpen(t, "testdata/avatar.png"))
	if err != nil {
		t.Fatal(err)
	}
	resp := e.get(t, "/display?path=avatar.png&op=flip&pos=h")
	flipped := decodeAny(t, readBody(t, resp))
	w := src.Bounds().Dx()
	for _, p := range []image.Point{{0, 0}, {10, 200}, {399, 50}} {
		r1, g1, b1, _ := src.At(p.X, p.Y).RGBA()
		r2, g2, b2, _ := flipped.At(w-1-p.X, p.Y).RGBA()
		if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
			t.Errorf("flip h: pixel %v = %v, mirrored pixel = %v", p, src.At(p.X, p.Y), flipped.At(w-1-p.X, p.Y))
		}
	}
	resp = e.get(t, "/display?path=schwarzy.jpg&op=resize&w=100&q=50")
	small := readBody(t, resp)
	resp = e.get(t, "/display?path=schwarzy.jpg&op=resize&w=100&q=100")
	big := readBody(t, resp)
	if len(small) >= len(big) {
		t.Errorf("q=50 gave %d bytes, q=100 %d: quality is not applied", len(small), len(big))
	}
	if _, err := jpeg.Decode(bytes.NewReader(small)); err != nil {
		t.Errorf("q=50 output does not decode: %v", err)
	}
}

func mustOpen(t *testing.T, name string) io.Reader {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(data)
}

// TestStoreQueueStopDeadline stops the store queue while the destination
// hangs: stop returns soon after its deadline, every result left is
// logged by key, and a result made afterwards is dropped, not sent on
// the closed queue.
func TestStoreQueueStopDeadline(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	hang := func(ctx context.Context, req *request, m made) error {
		<-ctx.Done()
		return ctx.Err()
	}
	q := newStoreQueue(8, 2, hang, log, time.Minute)
	var finished atomic.Int32
	job := func(i int) storeJob {
		key := fmt.Sprintf("key%d", i)
		return storeJob{req: &request{key: key}, m: made{name: key + ".png"}, done: func() { finished.Add(1) }}
	}
	for i := range 6 {
		q.add(job(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	q.stop(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop with a 50ms deadline and a hung destination took %v", d)
	}
	q.add(job(6))
	for i := range 7 {
		if want := fmt.Sprintf(`"key":"key%d"`, i); !strings.Contains(logs.String(), want) {
			t.Errorf("log has no line with %s:\n%s", want, logs.String())
		}
	}
	if n := finished.Load(); n != 7 {
		t.Errorf("%d jobs finished (done called), want 7", n)
	}
}
