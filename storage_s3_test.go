package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestS3Target(t *testing.T) {
	tests := []struct {
		name   string
		sc     storageConfig
		host   string
		secure bool
		region string
		lookup minio.BucketLookupType
		err    string
	}{
		{"aws", storageConfig{Type: "s3", Region: "eu-west-3"}, "s3.amazonaws.com", true, "eu-west-3", minio.BucketLookupAuto, ""},
		{"aws china", storageConfig{Type: "http+s3", Region: "cn-north-1"}, "s3.amazonaws.com", true, "cn-north-1", minio.BucketLookupAuto, ""},
		{"aws unknown region", storageConfig{Type: "s3", Region: "mars-1"}, "", false, "", 0, "region"},
		{"aws no region", storageConfig{Type: "s3"}, "", false, "", 0, "region"},
		{"minio", storageConfig{Type: "s3", Endpoint: "http://127.0.0.1:9000"}, "127.0.0.1:9000", false, "", minio.BucketLookupPath, ""},
		{"backblaze", storageConfig{Type: "s3", Endpoint: "https://s3.us-west-004.backblazeb2.com/", Region: "us-west-004"}, "s3.us-west-004.backblazeb2.com", true, "us-west-004", minio.BucketLookupPath, ""},
		{"r2", storageConfig{Type: "s3", Endpoint: "https://ACCOUNT.r2.cloudflarestorage.com", Region: "auto"}, "ACCOUNT.r2.cloudflarestorage.com", true, "auto", minio.BucketLookupPath, ""},
		{"spaces", storageConfig{Type: "dos3", Region: "fra1"}, "fra1.digitaloceanspaces.com", true, "us-east-1", minio.BucketLookupAuto, ""},
		{"spaces http+", storageConfig{Type: "http+dos3", Region: "nyc3"}, "nyc3.digitaloceanspaces.com", true, "us-east-1", minio.BucketLookupAuto, ""},
		{"gcs", storageConfig{Type: "gcs"}, "storage.googleapis.com", true, "auto", minio.BucketLookupAuto, ""},
		{"endpoint with a path", storageConfig{Type: "s3", Endpoint: "http://127.0.0.1:9000/bucket"}, "", false, "", 0, "endpoint"},
		{"endpoint not http", storageConfig{Type: "s3", Endpoint: "ftp://127.0.0.1:9000"}, "", false, "", 0, "endpoint"},
		{"endpoint without scheme", storageConfig{Type: "s3", Endpoint: "127.0.0.1:9000"}, "", false, "", 0, "endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s3TargetOf(tt.sc)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Errorf("s3TargetOf(%+v) = %+v, %v; want an error about %s", tt.sc, got, err, tt.err)
				}
				return
			}
			want := s3Target{host: tt.host, secure: tt.secure, region: tt.region, lookup: tt.lookup}
			if err != nil || got != want {
				t.Errorf("s3TargetOf(%+v) = %+v, %v; want %+v", tt.sc, got, err, want)
			}
		})
	}
}

func TestS3PathAndURL(t *testing.T) {
	tests := []struct {
		location, baseURL, name string
		path, url               string
	}{
		{"", "https://cdn.example.com", "a/b.png", "a/b.png", "https://cdn.example.com/a/b.png"},
		{"results", "https://cdn.example.com/", "a/b.png", "results/a/b.png", "https://cdn.example.com/results/a/b.png"},
		{"/img//results/", "https://bucket.s3.amazonaws.com/", "b.png", "img/results/b.png", "https://bucket.s3.amazonaws.com/img/results/b.png"},
		{"img", "", "b.png", "img/b.png", ""},
		{"img", "https://cdn.example.com", "my photo.png", "img/my photo.png", "https://cdn.example.com/img/my%20photo.png"},
	}
	for _, tt := range tests {
		s, err := newS3Storage(storageConfig{Type: "s3", Region: "us-east-1", BucketName: "bkt", Location: tt.location, BaseURL: tt.baseURL}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Path(tt.name); got != tt.path {
			t.Errorf("location %q: Path(%q) = %q, want %q", tt.location, tt.name, got, tt.path)
		}
		if got := s.URL(tt.name); got != tt.url {
			t.Errorf("location %q base_url %q: URL(%q) = %q, want %q", tt.location, tt.baseURL, tt.name, got, tt.url)
		}
	}
}

// TestNewStorageTypes checks that every storage type of the config is
// built (no network is used until a request needs it).
func TestNewStorageTypes(t *testing.T) {
	o := defaultConfig().Options
	for _, sc := range []storageConfig{
		{Type: "fs", Location: t.TempDir()},
		{Type: "s3", Region: "us-east-1", BucketName: "bkt"},
		{Type: "s3", Endpoint: "http://127.0.0.1:9000", BucketName: "bkt"},
		{Type: "dos3", Region: "ams3", BucketName: "bkt"},
		{Type: "gcs", BucketName: "bkt"},
		{Type: "http+fs", Location: t.TempDir(), BaseURL: "https://cdn.example.com"},
		{Type: "http+s3", Region: "us-east-1", BucketName: "bkt", BaseURL: "https://cdn.example.com"},
		{Type: "http+dos3", Region: "ams3", BucketName: "bkt", BaseURL: "https://cdn.example.com"},
	} {
		s, err := newStorage(sc, o)
		if err != nil {
			t.Errorf("newStorage(%s) = %v", sc.Type, err)
			continue
		}
		_, isHTTP := s.(*httpStorage)
		if isHTTP != strings.HasPrefix(sc.Type, "http+") {
			t.Errorf("newStorage(%s) is a %T", sc.Type, s)
		}
	}
	for _, tt := range []struct {
		sc   storageConfig
		name string
	}{
		{storageConfig{Type: "s3", Region: "nowhere-1", BucketName: "bkt"}, "region"},
		{storageConfig{Type: "s3", Region: "us-east-1", BucketName: "b"}, "bucket_name"},
		{storageConfig{Type: "gcs", BucketName: "bad..name"}, "bucket_name"},
	} {
		if _, err := newStorage(tt.sc, o); err == nil || !strings.HasPrefix(err.Error(), tt.name) {
			t.Errorf("newStorage(%+v) = %v, want an error naming %s", tt.sc, err, tt.name)
		}
	}
}

// TestS3PutHeaders checks, on a fake S3 that records what it receives,
// that Put sends the key under location, the Content-Type and the
// configured canned ACL.
func TestS3PutHeaders(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		got = r
		mu.Unlock()
		w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`)
	}))
	defer fake.Close()
	s, err := newS3Storage(storageConfig{Type: "s3", Endpoint: fake.URL, Region: "us-east-1", BucketName: "bkt", Location: "img", ACL: "public-read", AccessKeyID: "k", SecretAccessKey: "s"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "a b.png", strings.NewReader("png"), 3, "image/png"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Method != http.MethodPut || got.URL.Path != "/bkt/img/a b.png" {
		t.Errorf("Put sent %s %s, want PUT /bkt/img/a b.png (path style)", got.Method, got.URL.Path)
	}
	for h, want := range map[string]string{"X-Amz-Acl": "public-read", "Content-Type": "image/png"} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("Put sent %s: %q, want %q", h, v, want)
		}
	}
	if !strings.Contains(got.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		t.Errorf("Put is not signed with SigV4: %q", got.Header.Get("Authorization"))
	}
}

// TestS3OpenRequests checks on a fake S3 that Open costs one GET, that
// http.ServeContent's seeks to learn the size cost nothing, and that a
// Seek elsewhere reads with a ranged GET of the same version.
func TestS3OpenRequests(t *testing.T) {
	const content = "0123456789abcdefghij"
	var mu sync.Mutex
	var reqs []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, r.Method+" "+r.URL.Path+" range="+r.Header.Get("Range")+" if-match="+r.Header.Get("If-Match"))
		mu.Unlock()
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(content))
	}))
	defer fake.Close()
	s, err := newS3Storage(storageConfig{Type: "s3", Endpoint: fake.URL, Region: "us-east-1", BucketName: "bkt", AccessKeyID: "k", SecretAccessKey: "s"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rc, fi, err := s.Open(t.Context(), "a.png")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if fi.size != int64(len(content)) || fi.modTime.Year() != 2006 {
		t.Errorf("Open = %+v, want %d bytes from 2006", fi, len(content))
	}
	rs := rc.(readSeekCloser)
	if n, _ := rs.Seek(0, io.SeekEnd); n != int64(len(content)) {
		t.Errorf("Seek(0, End) = %d", n)
	}
	rs.Seek(0, io.SeekStart)
	head := make([]byte, 4)
	io.ReadFull(rs, head)
	rs.Seek(15, io.SeekStart)
	tail, err := io.ReadAll(rs)
	if string(head) != "0123" || string(tail) != "fghij" || err != nil {
		t.Errorf("read %q then, from 15, %q (%v); want 0123 and fghij", head, tail, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"GET /bkt/a.png range= if-match=", `GET /bkt/a.png range=bytes=15- if-match="v1"`}
	if !slices.Equal(reqs, want) {
		t.Errorf("requests = %q, want %q", reqs, want)
	}
}

// storagePair is a source and a destination for end-to-end tests, with
// a raw view (behind picfit's back) of what each holds.
type storagePair struct {
	name  string
	setup func(t *testing.T) pairSetup
}

type pairSetup struct {
	src, dst         storageConfig
	srcKeys, dstKeys func(t *testing.T) []string
}

// storagePairs are fs to fs (always), fs to S3 and S3 to S3 (with the
// test S3 server).
func storagePairs() []storagePair {
	fsSide := func(t *testing.T, baseURL string) (storageConfig, func(*testing.T) []string) {
		dir := t.TempDir()
		return storageConfig{Type: "fs", Location: dir, BaseURL: baseURL}, func(t *testing.T) []string { return fsKeys(t, dir) }
	}
	s3Side := func(t *testing.T, env s3Env, baseURL string) (storageConfig, func(*testing.T) []string) {
		sc := env.config(t, "s3", baseURL)
		return sc, func(t *testing.T) []string { return env.keys(t, sc.Location) }
	}
	return []storagePair{
		{"fs to fs", func(t *testing.T) pairSetup {
			var p pairSetup
			p.src, p.srcKeys = fsSide(t, "http://src.example.com")
			p.dst, p.dstKeys = fsSide(t, "http://cdn.example.com/img/")
			return p
		}},
		{"fs to s3", func(t *testing.T) pairSetup {
			env := testS3Env(t)
			var p pairSetup
			p.src, p.srcKeys = fsSide(t, "http://src.example.com")
			p.dst, p.dstKeys = s3Side(t, env, "http://cdn.example.com/img/")
			return p
		}},
		{"s3 to s3", func(t *testing.T) pairSetup {
			env := testS3Env(t)
			var p pairSetup
			p.src, p.srcKeys = s3Side(t, env, "http://src.example.com")
			p.dst, p.dstKeys = s3Side(t, env, "http://cdn.example.com/img/")
			return p
		}},
	}
}

// newPairEnv starts picfit over p with upload, delete and cascade delete
// on, and the test images in the source.
func newPairEnv(t *testing.T, p pairSetup, edit func(*config)) *testEnv {
	t.Helper()
	e := newTestEnv(t, func(c *config) {
		c.Storage.Src, c.Storage.Dst = p.src, p.dst
		c.Shard = shardConfig{Width: 1, Depth: 2, RestOnly: true}
		c.Options.EnableUpload = true
		c.Options.EnableDelete = true
		c.Options.EnableCascadeDelete = true
		if edit != nil {
			edit(c)
		}
	})
	for _, name := range []string{"avatar.png", "schwarzy.jpg"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.src.Put(context.Background(), name, strings.NewReader(string(data)), int64(len(data)), guessFormat(name).contentType()); err != nil {
			t.Fatalf("seed %s: %v", name, err)
		}
	}
	return e
}

// flushStores waits for the background stores of /display.
func (e *testEnv) flushStores() {
	e.s.stores.close()
	e.s.stores = newStoreQueue(8, 1, e.s.store, e.s.log, time.Minute)
}

// fsKeys lists the files below dir, slash-separated and sorted.
func fsKeys(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		keys = append(keys, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(keys)
	return keys
}

func TestStoragePairsGetRedirectDisplay(t *testing.T) {
	for _, pair := range storagePairs() {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.setup(t)
			e := newPairEnv(t, p, nil)
			const name = "8/9/5b545d9dca01413aec42d6ae3c6197.png" // key 895b545d...
			got := e.getJSON(t, "path=avatar.png&op=resize&w=100&h=100")
			wantPath := name // fs: relative to the folder, as the original
			wantURL := "http://cdn.example.com/img/" + name
			if p.dst.Type == "s3" {
				wantPath = cleanPrefix(p.dst.Location) + "/" + name
				wantURL = "http://cdn.example.com/img/" + wantPath
			}
			if got["path"] != wantPath || got["url"] != wantURL || got["filename"] != path.Base(name) {
				t.Errorf("/get = %v, want path %q url %q", got, wantPath, wantURL)
			}
			if keys := p.dstKeys(t); !contains(strings.Join(keys, " "), name) {
				t.Errorf("destination holds %v, want %s", keys, name)
			}

			resp := e.get(t, "/redirect/resize/100x100/avatar.png")
			readBody(t, resp)
			var body []byte
			if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != wantURL {
				t.Errorf("/redirect = %d %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), wantURL)
			}

			// The first /display processes and stores in the background, the
			// second is served from the destination (a seekable S3 object).
			for i := range 2 {
				resp = e.get(t, "/display?path=schwarzy.jpg&op=resize&w=100")
				body = readBody(t, resp)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
					t.Fatalf("/display #%d = %d %q", i+1, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				if b := decodeAny(t, body).Bounds(); b.Dx() != 100 || b.Dy() != 71 {
					t.Errorf("/display #%d is %v, want 100x71", i+1, b)
				}
				e.flushStores()
			}
			if n := e.opens.Load(); n != 2 {
				t.Errorf("source opened %d times, want 2 (one per result)", n)
			}
			if keys := p.dstKeys(t); len(keys) != 2 {
				t.Errorf("destination holds %v, want 2 results", keys)
			}
			// A range request on a stored result, as browsers and CDNs send.
			resp = e.get(t, "/display?path=schwarzy.jpg&op=resize&w=100", "Range", "bytes=0-9")
			body = readBody(t, resp)
			if resp.StatusCode != http.StatusPartialContent || len(body) != 10 {
				t.Errorf("range request = %d with %d bytes, want 206 with 10", resp.StatusCode, len(body))
			}
		})
	}
}

// versitygwBinary finds versitygw: $PICFIT_TEST_VERSITYGW, the PATH,
// $HOME/go/bin (where .ci/s3.sh builds it).
func versitygwBinary(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("PICFIT_TEST_VERSITYGW")}
	if p, err := exec.LookPath("versitygw"); err == nil {
		candidates = append(candidates, p)
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, "go", "bin", "versitygw"))
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); c != "" && err == nil && !st.IsDir() {
			return c
		}
	}
	if os.Getenv("PICFIT_REQUIRE_BACKENDS") == "1" {
		t.Fatal("versitygw not found (PICFIT_TEST_VERSITYGW, PATH, $HOME/go/bin) and PICFIT_REQUIRE_BACKENDS=1")
	}
	t.Skip("versitygw not found (PICFIT_TEST_VERSITYGW, PATH, $HOME/go/bin): .ci/s3.sh builds it")
	return ""
}

// gateway is a versitygw process this test owns, to stop and restart.
type gateway struct {
	bin, addr, root string
	cmd             *exec.Cmd
}

func (g *gateway) start(t *testing.T) {
	t.Helper()
	g.cmd = exec.Command(g.bin, "--port", g.addr, "--access", "outage-key", "--secret", "outage-secret", "--quiet", "posix", g.root)
	g.cmd.Stdout, g.cmd.Stderr = io.Discard, io.Discard
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", g.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			g.stop()
			t.Fatalf("versitygw did not listen on %s: %v", g.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // a process we do not control: poll
	}
}

func (g *gateway) stop() {
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Kill()
		g.cmd.Wait()
		g.cmd = nil
	}
}

// TestS3Outage stops the S3 server under a running picfit: requests that
// need it answer 502 quickly, and once it is back they succeed again,
// with no restart of picfit.
func TestS3Outage(t *testing.T) {
	bin := versitygwBinary(t)
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "outage"), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	g := &gateway{bin: bin, addr: addr, root: root}
	g.start(t)
	t.Cleanup(g.stop)

	e := newTestEnv(t, func(c *config) {
		c.Storage.Dst = storageConfig{Type: "s3", Endpoint: "http://" + addr, AccessKeyID: "outage-key", SecretAccessKey: "outage-secret",
			BucketName: "outage", Location: "results", BaseURL: "http://cdn.example.com"}
		c.Options.FetchTimeout = duration(2 * time.Second)
	})
	stored := "/display?path=avatar.png&op=resize&w=20"
	if resp := e.get(t, strings.Replace(stored, "/display", "/get", 1)); resp.StatusCode != http.StatusOK {
		t.Fatalf("/get with S3 up = %d %s", resp.StatusCode, readBody(t, resp))
	}

	requests := []string{
		stored, // found in the kv store, then opened in S3
		strings.Replace(stored, "/display", "/get", 1),
		"/get?path=avatar.png&op=resize&w=21",
		"/redirect?path=schwarzy.jpg&op=resize&w=22",
		"/display?path=schwarzy.jpg&op=resize&w=23",
	}
	g.stop()
	for _, q := range requests {
		start := time.Now()
		resp := e.get(t, q)
		body := readBody(t, resp)
		d := time.Since(start)
		if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("S3 down: GET %s = %d %q, want 502 or 503", q, resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("S3 down: GET %s = %d without Retry-After", q, resp.StatusCode)
		}
		if d > 5*time.Second {
			t.Errorf("S3 down: GET %s took %v", q, d)
		}
		t.Logf("S3 down: GET %s = %d in %v", q, resp.StatusCode, d.Round(time.Millisecond))
	}

	g.start(t)
	for _, q := range requests {
		resp := e.get(t, q)
		body := readBody(t, resp)
		want := http.StatusOK
		if strings.HasPrefix(q, "/redirect") {
			want = http.StatusMovedPermanently
		}
		if resp.StatusCode != want {
			t.Errorf("S3 back: GET %s = %d %q, want %d", q, resp.StatusCode, body, want)
		}
	}
}

// TestS3Unresponsive points the destination at a server that accepts
// connections and never answers: requests end with a 502 or 504 within
// the timeouts instead of hanging.
func TestS3Unresponsive(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(blackhole(t))
	e := newTestEnv(t, func(c *config) {
		c.Storage.Dst = storageConfig{Type: "s3", Endpoint: "http://" + addr, Region: "us-east-1",
			AccessKeyID: "k", SecretAccessKey: "s", BucketName: "bkt"}
		c.Options.FetchTimeout = duration(200 * time.Millisecond)
	})
	for _, q := range []string{"/get?path=avatar.png&op=resize&w=20", "/display?path=avatar.png&op=resize&w=20"} {
		start := time.Now()
		resp := e.get(t, q)
		readBody(t, resp)
		d := time.Since(start)
		if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("S3 silent: GET %s = %d, want 502 or 504", q, resp.StatusCode)
		}
		if d > 5*time.Second {
			t.Errorf("S3 silent: GET %s took %v", q, d)
		}
		t.Logf("S3 silent: GET %s = %d in %v", q, resp.StatusCode, d.Round(time.Millisecond))
	}
}

// TestS3ErrorMapping checks the translation of minio's errors.
func TestS3ErrorMapping(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"no such key", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, errNotFound},
		{"head 404", minio.ErrorResponse{Code: "NotFound", StatusCode: 404}, errNotFound},
		{"no such bucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, errUpstream},
		{"access denied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, errUpstream},
		{"refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, errUpstream},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), context.DeadlineExceeded},
	}
	for _, tt := range tests {
		got := s3Error("get", "k", tt.err)
		if !errors.Is(got, tt.want) {
			t.Errorf("%s: s3Error = %v, want %v", tt.name, got, tt.want)
		}
		if tt.want == context.DeadlineExceeded && errors.Is(got, errUpstream) {
			t.Errorf("%s: s3Error = %v, a timeout must stay a timeout (504)", tt.name, got)
		}
	}
}
