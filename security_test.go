package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHostileSourcesRefused(t *testing.T) {
	e := newTestEnv(t, nil)
	jpeg := readTestdata(t, "schwarzy.jpg")
	files := map[string][]byte{
		"bomb.png":      pngFile(pngChunk("IHDR", pngIHDR(30000, 30000)), pngChunk("IDAT", bytes.Repeat([]byte{0}, 2000))),
		"frames.gif":    rawGIF(1000, 1000, 150, 1000, 1000, []byte{0xff, 0xff}),
		"truncated.jpg": jpeg[:len(jpeg)/2],
		"empty.png":     {},
		"text.jpg":      []byte("<html>not an image</html>"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(e.srcDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		file    string
		code    int
		mention string
	}{
		{"bomb.png", http.StatusRequestEntityTooLarge, "900000000 pixels"},
		{"frames.gif", http.StatusRequestEntityTooLarge, "150000000 pixels"},
		{"truncated.jpg", http.StatusUnprocessableEntity, "corrupt"},
		{"empty.png", http.StatusUnsupportedMediaType, "unsupported"},
		{"text.jpg", http.StatusUnsupportedMediaType, "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var resp *http.Response
			alloc := allocatedDuring(func() {
				resp = e.get(t, "/display?path="+tt.file+"&op=resize&w=100")
			})
			body := string(readBody(t, resp))
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.mention) {
				t.Errorf("%s = %d %q, want %d mentioning %q", tt.file, resp.StatusCode, body, tt.code, tt.mention)
			}
			// Refused from the header: nothing near the image's size is
			// allocated (30000x30000 RGBA would be 3.6 GB).
			if tt.code == http.StatusRequestEntityTooLarge && alloc > 8<<20 {
				t.Errorf("%s: %d bytes allocated while refusing it, want < 8 MB", tt.file, alloc)
			}
		})
	}
}

func TestSourceBytesLimit(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.MaxSourceBytes = 10_000 })
	resp := e.get(t, "/display?path=schwarzy.jpg&op=resize&w=10")
	body := string(readBody(t, resp))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "max_source_bytes") {
		t.Errorf("source over max_source_bytes = %d %q, want 413 naming the limit", resp.StatusCode, body)
	}
	origin := testdataOrigin(t)
	e = newTestEnv(t, func(c *config) {
		*c = defaultConfig()
		c.Options.MaxSourceBytes = 10_000
		c.Options.AllowPrivateNetworks = true
	})
	resp = e.get(t, "/display?op=resize&w=10&url="+url.QueryEscape(origin.URL+"/schwarzy.jpg"))
	body = string(readBody(t, resp))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "max_source_bytes") {
		t.Errorf("url source over max_source_bytes = %d %q, want 413 naming the limit", resp.StatusCode, body)
	}
}

func TestOutputLimits(t *testing.T) {
	e := newTestEnv(t, func(c *config) {
		c.Options.MaxOutputDimension = 1000
		c.Options.MaxOutputPixels = 250_000
		c.Options.MaxOperations = 2
	})
	tests := []struct {
		path    string
		code    int
		mention string
	}{
		{"/display?path=avatar.png&op=resize&w=1001", 400, "max_output_dimension"},
		{"/display?path=avatar.png&op=resize&w=600&h=600", 413, "max_output_pixels"},
		{"/display?path=avatar.png&op=resize&w=10&op=flip&pos=h&op=rotate", 400, "at most 2"},
		{"/display?path=avatar.png&op=resize&w=400&h=400", 200, ""},
	}
	for _, tt := range tests {
		resp := e.get(t, tt.path)
		body := string(readBody(t, resp))
		if resp.StatusCode != tt.code || !strings.Contains(body, tt.mention) {
			t.Errorf("GET %s = %d %q, want %d mentioning %q", tt.path, resp.StatusCode, body, tt.code, tt.mention)
		}
	}
}

func TestTraversalOnImageRoutes(t *testing.T) {
	e := newTestEnv(t, nil)
	secret := filepath.Join(filepath.Dir(e.srcDir), "secret.png")
	os.WriteFile(secret, readTestdata(t, "avatar.png"), 0o644)
	defer os.Remove(secret)
	for _, method := range []string{"display", "get", "redirect"} {
		for _, p := range []string{
			"?op=noop&path=../secret.png",
			"?op=noop&path=" + url.QueryEscape(secret),
			"?op=noop&path=a/../../secret.png",
			"?op=noop&path=..%5Csecret.png",
			"?op=noop&path=avatar.png%00.png",
			"?op=op:flat+path:../secret.png&path=avatar.png",
			"/resize/10x10/..%2Fsecret.png",
			"/resize/10x10/%2E%2E%2Fsecret.png",
		} {
			resp := e.get(t, "/"+method+p)
			body := string(readBody(t, resp))
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "path") {
				t.Errorf("GET /%s%s = %d %q, want 400 about the path", method, p, resp.StatusCode, body)
			}
		}
	}
	// A symlink inside the source folder pointing outside is not followed
	// out: there is no such file in the folder.
	if err := os.Symlink(secret, filepath.Join(e.srcDir, "link.png")); err == nil {
		resp := e.get(t, "/display?op=noop&path=link.png")
		readBody(t, resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("a symlink out of the source folder = %d, want 404", resp.StatusCode)
		}
	}
	// A name the file system cannot hold is a bad path, not a 500.
	long := strings.Repeat("a", 256) + ".png"
	for _, p := range []string{"/display?op=resize&w=10&path=" + long, "/display/resize/10x10/" + long, "/get?op=resize&w=10&path=" + long} {
		resp := e.get(t, p)
		body := string(readBody(t, resp))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "too long") {
			t.Errorf("GET %.40s... = %d %q, want 400 saying the name is too long", p, resp.StatusCode, body)
		}
	}
}

func TestIsPublic(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"8.8.8.8", true},
		{"2001:4860:4860::8888", true},
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.1.2.3", false},
		{"10.0.0.1", false},
		{"172.16.5.4", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"64:ff9b::a00:1", false},
		{"::127.0.0.1", false}, // IPv4-compatible IPv6, ::/96
		{"::10.1.2.3", false},
		{"::8.8.8.8", false},
		{"::1:0:0:1", true}, // outside ::/96
		{"64:ff9b:1::a00:1", false},
	}
	for _, tt := range tests {
		if got := isPublic(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("isPublic(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func TestAllowedHosts(t *testing.T) {
	f := newFetcher(time.Second, false, "picfit-test", 0, []string{"images.example.com", "*.cdn.example.org"})
	tests := []struct {
		u    string
		want bool
	}{
		{"https://images.example.com/a.png", true},
		{"https://IMAGES.example.com/a.png", true},
		{"https://a.cdn.example.org/a.png", true},
		{"https://a.b.cdn.example.org/a.png", true},
		{"https://cdn.example.org/a.png", false},
		{"https://evilcdn.example.org/a.png", false},
		{"https://example.com/a.png", false},
		{"https://images.example.com.evil.net/a.png", false},
		{"ftp://images.example.com/a.png", false},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.u)
		if err := f.checkURL(u); (err == nil) != tt.want {
			t.Errorf("checkURL(%s) = %v, want allowed %v", tt.u, err, tt.want)
		}
	}
}

func TestRedirectsRechecked(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/to-other-host":
			http.Redirect(w, r, "http://other.example.net/a.jpg", http.StatusFound)
		}
	}))
	defer origin.Close()
	e := newTestEnv(t, func(c *config) {
		*c = defaultConfig()
		c.Options.AllowPrivateNetworks = true
		c.Options.AllowedHosts = []string{"127.0.0.1"}
	})
	for _, p := range []string{"/loop", "/to-file", "/to-other-host"} {
		resp := e.get(t, "/display?op=resize&w=10&url="+url.QueryEscape(origin.URL+p))
		body := string(readBody(t, resp))
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %s = %d %q, want 403", p, resp.StatusCode, body)
		}
	}
}

func TestRedirectToPrivateAddressRefused(t *testing.T) {
	// The real dialer check: an origin that is allowed (127.0.0.1 is made
	// "public" for the test) redirects to 127.0.0.2, which is not.
	private := httptest.NewUnstartedServer(http.FileServer(http.Dir("testdata")))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		if runtime.GOOS == "linux" { // all of 127.0.0.0/8 is loopback there
			t.Fatal(err)
		}
		t.Skipf("cannot listen on 127.0.0.2 (macOS and Windows answer on 127.0.0.1 alone unless aliased): %v", err)
	}
	private.Listener = ln
	private.Start()
	defer private.Close()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, private.URL+"/schwarzy.jpg", http.StatusFound)
	}))
	defer origin.Close()

	e := newTestEnv(t, func(c *config) { *c = defaultConfig() })
	e.s.fetcher.allowIP = func(ip netip.Addr) bool { return ip == netip.MustParseAddr("127.0.0.1") }
	resp := e.get(t, "/display?op=resize&w=10&url="+url.QueryEscape(origin.URL+"/a.jpg"))
	body := string(readBody(t, resp))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not public") || strings.Contains(body, "127.0.0.2") {
		t.Errorf("redirect to 127.0.0.2 = %d %q, want 403 saying it is not public, naming no address", resp.StatusCode, body)
	}
	direct := e.get(t, "/display?op=resize&w=10&url="+url.QueryEscape(private.URL+"/schwarzy.jpg"))
	readBody(t, direct)
	if direct.StatusCode != http.StatusForbidden {
		t.Errorf("direct request to 127.0.0.2 = %d, want 403", direct.StatusCode)
	}
}

func TestDisableURL(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.DisableURL = true })
	resp := e.get(t, "/display?op=resize&w=10&url=https://example.com/a.jpg")
	body := string(readBody(t, resp))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "disable_url") {
		t.Errorf("url with disable_url = %d %q, want 403", resp.StatusCode, body)
	}
}

func TestAdmission(t *testing.T) {
	l := newLimiter(1, 1)
	leave1, err1 := l.admit()
	leave2, err2 := l.admit()
	if err1 != nil || err2 != nil {
		t.Fatalf("admit within concurrent+queue = %v, %v", err1, err2)
	}
	if _, err := l.admit(); !errors.Is(err, errOverloaded) {
		t.Errorf("admit past concurrent+queue = %v, want errOverloaded", err)
	}
	leave1()
	leave3, err := l.admit()
	if err != nil {
		t.Errorf("admit after a leave = %v", err)
	}
	leave2()
	leave3()

	release, err := l.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("acquire with every slot busy and ctx done = %v, want context.Canceled", err)
	}
	release()
	if r, err := l.acquire(context.Background()); err != nil {
		t.Errorf("acquire after release = %v", err)
	} else {
		r()
	}

	// Sources fetched ahead of a slot: concurrent of them at most.
	done, err := l.prefetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.prefetch(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("prefetch with every place taken and ctx done = %v, want context.Canceled", err)
	}
	done()
	if d, err := l.prefetch(context.Background()); err != nil {
		t.Errorf("prefetch after done = %v", err)
	} else {
		d()
	}
}

func TestOverloadAnswers429AndCheapRequestsStillWork(t *testing.T) {
	e := newTestEnv(t, func(c *config) {
		c.Options.MaxProcessorConcurrent = 1
		c.Options.MaxQueue = 0
	})
	// A result made before the flood.
	readBody(t, e.get(t, "/get?path=avatar.png&op=resize&w=50"))
	e.s.limiter.admitted <- struct{}{} // every place taken
	defer func() { <-e.s.limiter.admitted }()

	resp := e.get(t, "/display?path=schwarzy.jpg&op=resize&w=77")
	readBody(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("busy server = %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, p := range []string{"/healthcheck", "/display?path=avatar.png&op=resize&w=50"} {
		resp := e.get(t, p)
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s while busy = %d, want 200", p, resp.StatusCode)
		}
	}
}

func TestCORS(t *testing.T) {
	e := newTestEnv(t, func(c *config) {
		c.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"}
		c.AllowedMethods = []string{"GET", "HEAD"}
		c.AllowedHeaders = []string{"Content-Type"}
	})
	tests := []struct {
		origin, want string
	}{
		{"https://app.example.com", "https://app.example.com"},
		{"https://a.example.org", "https://a.example.org"},
		{"https://a.b.example.org", "https://a.b.example.org"},
		{"https://example.org", ""},
		{"http://a.example.org", ""},
		{"https://evil.com", ""},
	}
	for _, tt := range tests {
		resp := e.get(t, "/healthcheck", "Origin", tt.origin)
		readBody(t, resp)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.want {
			t.Errorf("Origin %s: Access-Control-Allow-Origin = %q, want %q", tt.origin, got, tt.want)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, e.ts.URL+"/display", nil)
	req.Header.Set("Origin", "https://x.example.org")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Methods") != "GET, HEAD" {
		t.Errorf("preflight = %d, methods %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Methods"))
	}
	for _, bad := range []string{"https://*", "https://a.*.example.com", "https://example.com/path", "*.", "ftp://example.com", "a.*.example.com", "example.com/x"} {
		if _, err := newCORSPolicy([]string{bad}, nil, nil); err == nil {
			t.Errorf("newCORSPolicy(%q) accepted it, want an error", bad)
		}
	}
}

// BenchmarkRefuseBomb measures how fast and how cheaply a 30000x30000
// PNG of 2 KB is refused.
func BenchmarkRefuseBomb(b *testing.B) {
	data := pngFile(pngChunk("IHDR", pngIHDR(30000, 30000)), pngChunk("IDAT", bytes.Repeat([]byte{0}, 2000)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(context.Background(), data, decodeLimits{maxPixels: 100_000_000}); !errors.Is(err, errTooLarge) {
			b.Fatal(err)
		}
	}
}

// TestReadLimited: whatever the size hint says (right, short, long, a
// lie), the bytes come back whole, and past max it is errTooLarge. With
// the right hint the buffer is allocated once, not grown by doubling.
func TestReadLimited(t *testing.T) {
	data := bytes.Repeat([]byte("picfit"), 700_000) // 4.2 MB
	n := int64(len(data))
	tests := []struct {
		name      string
		max, size int64
		want      error
	}{
		{"right size", 64 << 20, n, nil},
		{"no size", 64 << 20, 0, nil},
		{"short size", 64 << 20, n / 3, nil},
		{"long size", 64 << 20, 2 * n, nil},
		{"size over max", n + 10, 1 << 40, nil},
		{"no max", 0, n, nil},
		{"over max", n - 1, n, errTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readLimited(bytes.NewReader(data), tt.max, tt.size)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Errorf("readLimited = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("readLimited = %d bytes, %v; want the %d bytes", len(got), err, n)
			}
		})
	}
	hinted := testing.AllocsPerRun(3, func() { readLimited(bytes.NewReader(data), 64<<20, n) })
	unhinted := testing.AllocsPerRun(3, func() { readLimited(bytes.NewReader(data), 64<<20, 0) })
	// With the size: the reader, the limit, the buffer (one more under
	// -race); without it, a doubling per step.
	if 4*hinted > unhinted {
		t.Errorf("allocations: %v with the size, %v without; want a quarter or less with it", hinted, unhinted)
	}
}

// TestURLSourceRefusals: a source at an IPv4-compatible IPv6 address is
// refused like the other private forms, and a 403 never names the
// address a host resolved to.
func TestURLSourceRefusals(t *testing.T) {
	e := newTestEnv(t, func(c *config) { *c = defaultConfig() })
	for _, u := range []string{
		"http://[::127.0.0.1]/a.jpg",
		"http://[::7f00:1]:8080/a.jpg",
		"http://[::10.0.0.1]/a.jpg",
	} {
		resp := e.get(t, "/display?op=resize&w=10&url="+url.QueryEscape(u))
		body := string(readBody(t, resp))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not public") {
			t.Errorf("url=%s = %d %q, want 403", u, resp.StatusCode, body)
		}
	}
}

// TestSlowOriginTimesOut: an origin that sends its body a byte at a time
// is cut at fetch_timeout, a 504, however long it would keep going.
func TestSlowOriginTimesOut(t *testing.T) {
	jpeg := readTestdata(t, "schwarzy.jpg")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(jpeg)))
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for _, b := range jpeg {
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	}))
	defer origin.Close()
	e := newTestEnv(t, func(c *config) {
		*c = defaultConfig()
		c.Options.AllowPrivateNetworks = true
		c.Options.FetchTimeout = duration(300 * time.Millisecond)
	})
	start := time.Now()
	resp := e.get(t, "/display?op=resize&w=10&url="+url.QueryEscape(origin.URL+"/slow.jpg"))
	readBody(t, resp)
	if resp.StatusCode != http.StatusGatewayTimeout || resp.Header.Get("Retry-After") == "" {
		t.Errorf("origin sending a byte per 20 ms = %d, want 504 with Retry-After", resp.StatusCode)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("answered after %v, want about fetch_timeout (300ms)", d)
	}
}
