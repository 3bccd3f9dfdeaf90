package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// testStorage is the storage conformance test: every implementation runs
// it. Delete of a missing file is errNotFound everywhere (fs reports it
// natively; S3 answers success, so its adapter looks first).
func testStorage(t *testing.T, s storage) {
	ctx := context.Background()
	put := func(t *testing.T, name string, data []byte) {
		t.Helper()
		if err := s.Put(ctx, name, bytes.NewReader(data), int64(len(data)), "image/png"); err != nil {
			t.Fatalf("Put(%q): %v", name, err)
		}
	}
	readBack := func(t *testing.T, name string) []byte {
		t.Helper()
		rc, fi, err := s.Open(ctx, name)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("read %q: %v", name, err)
		}
		if fi.size != int64(len(data)) {
			t.Errorf("Open(%q) size = %d, read %d bytes", name, fi.size, len(data))
		}
		if fi.modTime.IsZero() {
			t.Errorf("Open(%q) has no modification time", name)
		}
		return data
	}

	t.Run("put stat open delete", func(t *testing.T) {
		data := []byte("not really a png, storages do not care")
		put(t, "a.png", data)
		fi, err := s.Stat(ctx, "a.png")
		if err != nil || fi.size != int64(len(data)) {
			t.Errorf("Stat(a.png) = %d, %v; want %d bytes", fi.size, err, len(data))
		}
		if got := readBack(t, "a.png"); !bytes.Equal(got, data) {
			t.Errorf("Open(a.png) read %q, want %q", got, data)
		}
		if err := s.Delete(ctx, "a.png"); err != nil {
			t.Fatalf("Delete(a.png): %v", err)
		}
		if _, err := s.Stat(ctx, "a.png"); !errors.Is(err, errNotFound) {
			t.Errorf("Stat after Delete = %v, want errNotFound", err)
		}
		if _, _, err := s.Open(ctx, "a.png"); !errors.Is(err, errNotFound) {
			t.Errorf("Open after Delete = %v, want errNotFound", err)
		}
	})

	t.Run("overwrite", func(t *testing.T) {
		put(t, "b.png", []byte("first version, the longer one"))
		put(t, "b.png", []byte("second"))
		if got := readBack(t, "b.png"); string(got) != "second" {
			t.Errorf("after overwrite read %q, want %q", got, "second")
		}
		if fi, err := s.Stat(ctx, "b.png"); err != nil || fi.size != 6 {
			t.Errorf("Stat after overwrite = %d, %v; want 6", fi.size, err)
		}
	})

	t.Run("missing", func(t *testing.T) {
		if _, _, err := s.Open(ctx, "missing.png"); !errors.Is(err, errNotFound) {
			t.Errorf("Open(missing) = %v, want errNotFound", err)
		}
		if _, err := s.Stat(ctx, "missing.png"); !errors.Is(err, errNotFound) {
			t.Errorf("Stat(missing) = %v, want errNotFound", err)
		}
		if err := s.Delete(ctx, "missing.png"); !errors.Is(err, errNotFound) {
			t.Errorf("Delete(missing) = %v, want errNotFound", err)
		}
		if _, _, err := s.Open(ctx, "no/such/folder.png"); !errors.Is(err, errNotFound) {
			t.Errorf("Open(no/such/folder.png) = %v, want errNotFound", err)
		}
	})

	t.Run("names", func(t *testing.T) {
		for _, name := range []string{"with space.png", "été/ünïcödé 日本.png", "deep/er/still deeper/x.png", "plus+and&percent%.png"} {
			data := []byte("content of " + name)
			put(t, name, data)
			if got := readBack(t, name); !bytes.Equal(got, data) {
				t.Errorf("Open(%q) read %q, want %q", name, got, data)
			}
			if fi, err := s.Stat(ctx, name); err != nil || fi.size != int64(len(data)) {
				t.Errorf("Stat(%q) = %d, %v", name, fi.size, err)
			}
			if err := s.Delete(ctx, name); err != nil {
				t.Errorf("Delete(%q): %v", name, err)
			}
		}
		put(t, "dir/inside.png", []byte("x"))
		if _, err := s.Stat(ctx, "dir"); !errors.Is(err, errNotFound) {
			t.Errorf("Stat of a folder = %v, want errNotFound", err)
		}
	})

	t.Run("large", func(t *testing.T) {
		// Past minio's 16 MiB single-PUT size: S3 uploads it in parts.
		data := make([]byte, 17<<20+12345)
		rng := mrand.NewChaCha8([32]byte{1, 2, 3})
		rng.Read(data)
		start := time.Now()
		put(t, "large.bin", data)
		putTime := time.Since(start)
		if fi, err := s.Stat(ctx, "large.bin"); err != nil || fi.size != int64(len(data)) {
			t.Fatalf("Stat(large) = %d, %v; want %d", fi.size, err, len(data))
		}
		start = time.Now()
		rc, _, err := s.Open(ctx, "large.bin")
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil || n != int64(len(data)) {
			t.Fatalf("read large = %d bytes, %v; want %d", n, err, len(data))
		}
		want := sha256.Sum256(data)
		if !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("large object read back differs")
		}
		t.Logf("%d MiB: put %v, read %v", len(data)>>20, putTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if err := s.Delete(ctx, "large.bin"); err != nil {
			t.Error(err)
		}
	})

	t.Run("failed put leaves the old file", func(t *testing.T) {
		put(t, "keep.png", []byte("old content"))
		r := io.MultiReader(bytes.NewReader(make([]byte, 64<<10)), errReader{})
		if err := s.Put(ctx, "keep.png", r, 128<<10, "image/png"); err == nil {
			t.Error("Put with a failing reader succeeded")
		}
		if got := readBack(t, "keep.png"); string(got) != "old content" {
			t.Errorf("after a failed Put read %q, want the old content", got)
		}
		if err := s.Put(ctx, "never.png", io.MultiReader(bytes.NewReader(make([]byte, 1000)), errReader{}), 2000, "image/png"); err == nil {
			t.Error("Put with a failing reader succeeded")
		}
		if _, err := s.Stat(ctx, "never.png"); !errors.Is(err, errNotFound) {
			t.Errorf("Stat after a failed Put = %v, want errNotFound: no partial file", err)
		}
	})

	t.Run("path and url", func(t *testing.T) {
		for _, name := range []string{"x.png", "a/b/x.png"} {
			p := s.Path(name)
			if strings.Contains(p, "//") || !strings.HasSuffix(p, "/"+name) && p != name {
				t.Errorf("Path(%q) = %q: want it to end with the name, without doubled slashes", name, p)
			}
			u := s.URL(name)
			_, rest, _ := strings.Cut(u, "://")
			if u == "" || strings.Contains(rest, "//") || !strings.HasSuffix(u, "/"+name) {
				t.Errorf("URL(%q) = %q: want base_url/.../name without doubled slashes", name, u)
			}
		}
		if u := s.URL("with space/é.png"); !strings.HasSuffix(u, "/with%20space/%C3%A9.png") {
			t.Errorf("URL(with space/é.png) = %q, want escaped segments", u)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by the test") }

func TestStorageFS(t *testing.T) {
	s, err := newFSStorage(t.TempDir(), "http://cdn.example.com/img/")
	if err != nil {
		t.Fatal(err)
	}
	testStorage(t, s)
}

func TestStorageHTTPFS(t *testing.T) {
	dir := t.TempDir()
	origin := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer origin.Close()
	cfg := defaultConfig()
	s, err := newStorage(storageConfig{Type: "http+fs", Location: dir, BaseURL: origin.URL + "/"}, cfg.Options)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*httpStorage); !ok {
		t.Fatalf("http+fs storage is a %T", s)
	}
	testStorage(t, s)
}

func TestStorageS3(t *testing.T) {
	env := testS3Env(t)
	s, err := newStorage(env.config(t, "s3", "http://cdn.example.com/img/"), defaultConfig().Options)
	if err != nil {
		t.Fatal(err)
	}
	testStorage(t, s)
	// handlers serve an opened result with http.ServeContent, ranges
	// included, when it can seek: an S3 object can, with ranged GETs.
	if err := s.Put(t.Context(), "seek.png", strings.NewReader("0123456789"), 10, "image/png"); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Open(t.Context(), "seek.png")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rs, ok := rc.(readSeekCloser)
	if !ok {
		t.Fatalf("S3 Open returned a %T, which cannot seek", rc)
	}
	rs.Seek(6, io.SeekStart)
	if rest, err := io.ReadAll(rs); err != nil || string(rest) != "6789" {
		t.Errorf("read after Seek(6) = %q, %v; want 6789", rest, err)
	}
}

func TestStorageHTTPS3(t *testing.T) {
	env := testS3Env(t)
	sc := env.config(t, "http+s3", "")
	// The bucket's objects over plain HTTP, as a CDN would serve them:
	// signed GETs through the S3 client's own presigning.
	raw := env.client(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := raw.PresignedGetObject(r.Context(), env.bucket, strings.TrimPrefix(r.URL.Path, "/"), time.Minute, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := http.Get(u.String())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for _, h := range []string{"Content-Length", "Last-Modified", "Content-Type"} {
			w.Header().Set(h, resp.Header.Get(h))
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer origin.Close()
	sc.BaseURL = origin.URL
	s, err := newStorage(sc, defaultConfig().Options)
	if err != nil {
		t.Fatal(err)
	}
	testStorage(t, s)
}

// s3Env is the S3-compatible server test.sh starts (.ci/s3.sh).
type s3Env struct {
	endpoint, accessKey, secretKey, bucket string
}

// testS3Env returns the test server from PICFIT_TEST_S3_*, creating the
// bucket if needed. Without PICFIT_TEST_S3_ENDPOINT the test is skipped,
// or fails when PICFIT_REQUIRE_BACKENDS=1.
func testS3Env(t testing.TB) s3Env {
	t.Helper()
	e := s3Env{
		endpoint:  os.Getenv("PICFIT_TEST_S3_ENDPOINT"),
		accessKey: os.Getenv("PICFIT_TEST_S3_ACCESS_KEY"),
		secretKey: os.Getenv("PICFIT_TEST_S3_SECRET_KEY"),
		bucket:    os.Getenv("PICFIT_TEST_S3_BUCKET"),
	}
	if e.endpoint == "" {
		if os.Getenv("PICFIT_REQUIRE_BACKENDS") == "1" {
			t.Fatal("PICFIT_TEST_S3_ENDPOINT is not set and PICFIT_REQUIRE_BACKENDS=1: run ./test.sh, which starts an S3 server")
		}
		t.Skip("PICFIT_TEST_S3_ENDPOINT is not set: no S3 server to test against (./test.sh starts one)")
	}
	if e.bucket == "" {
		e.bucket = "picfit-test"
	}
	c := e.client(t)
	ctx := context.Background()
	ok, err := c.BucketExists(ctx, e.bucket)
	if err != nil {
		t.Fatalf("S3 server at %s: %v", e.endpoint, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, e.bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("make bucket %s: %v", e.bucket, err)
		}
	}
	return e
}

// config is a storage of type typ in the test bucket, under a fresh
// location that is emptied when the test ends.
func (e s3Env) config(t testing.TB, typ, baseURL string) storageConfig {
	t.Helper()
	var rnd [6]byte
	rand.Read(rnd[:])
	location := "t-" + hex.EncodeToString(rnd[:])
	t.Cleanup(func() {
		c := e.client(t)
		for _, k := range e.keys(t, location) {
			c.RemoveObject(context.Background(), e.bucket, location+"/"+k, minio.RemoveObjectOptions{})
		}
	})
	return storageConfig{
		Type:            typ,
		Endpoint:        e.endpoint,
		AccessKeyID:     e.accessKey,
		SecretAccessKey: e.secretKey,
		BucketName:      e.bucket,
		Location:        "/" + location + "/", // slashes to be trimmed
		BaseURL:         baseURL,
	}
}

// client is a raw minio client of the test server, to check what the
// bucket really holds.
func (e s3Env) client(t testing.TB) *minio.Client {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimPrefix(e.endpoint, "http://"), "https://")
	c, err := minio.New(host, &minio.Options{
		Creds:  credentials.NewStaticV4(e.accessKey, e.secretKey, ""),
		Secure: strings.HasPrefix(e.endpoint, "https://"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// keys lists the keys below location, relative to it, sorted.
func (e s3Env) keys(t testing.TB, location string) []string {
	t.Helper()
	location = cleanPrefix(location)
	var keys []string
	for obj := range e.client(t).ListObjects(context.Background(), e.bucket, minio.ListObjectsOptions{Prefix: location + "/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list %s: %v", location, obj.Err)
		}
		keys = append(keys, strings.TrimPrefix(obj.Key, location+"/"))
	}
	sort.Strings(keys)
	return keys
}

// BenchmarkStorage measures a result's round trip through each storage:
// Put, then Open and read (for S3 a HEAD and a GET), of a 20 KB file.
func BenchmarkStorage(b *testing.B) {
	data := make([]byte, 20<<10)
	mrand.NewChaCha8([32]byte{}).Read(data)
	ctx := context.Background()
	for _, kind := range []string{"fs", "s3"} {
		var s storage
		setup := func(b *testing.B) {
			var err error
			if kind == "fs" {
				s, err = newFSStorage(b.TempDir(), "")
			} else {
				s, err = newStorage(testS3Env(b).config(b, "s3", ""), defaultConfig().Options)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		b.Run(kind+"/put", func(b *testing.B) {
			setup(b)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := s.Put(ctx, "r/x.jpg", bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(kind+"/open", func(b *testing.B) {
			setup(b)
			if err := s.Put(ctx, "r/x.jpg", bytes.NewReader(data), int64(len(data)), "image/jpeg"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				rc, _, err := s.Open(ctx, "r/x.jpg")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rc)
				rc.Close()
			}
		})
	}
}

// TestFSStorageNames: a name too long for the file system is the client's
// mistake (errBadParam, a 400), not a 500; a symlink leading out of the
// folder is a file that is not there; a folder in the way of a file is
// errConflict (a 409).
func TestFSStorageNames(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.png")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.png")); err != nil {
		if runtime.GOOS != "windows" { // Windows wants a privilege for symlinks
			t.Fatal(err)
		}
		t.Skipf("no symlinks here: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "taken.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := newFSStorage(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	long := strings.Repeat("a", 256) + ".png"
	put := func(name string) error { return s.Put(ctx, name, strings.NewReader("x"), 1, "image/png") }
	open := func(name string) error {
		rc, _, err := s.Open(ctx, name)
		if err == nil {
			rc.Close()
		}
		return err
	}
	stat := func(name string) error { _, err := s.Stat(ctx, name); return err }
	tests := []struct {
		name string
		do   func(string) error
		file string
		want error
	}{
		{"open a long name", open, long, errBadParam},
		{"stat a long name", stat, long, errBadParam},
		{"put a long name", put, long, errBadParam},
		{"delete a long name", func(n string) error { return s.Delete(ctx, n) }, long, errBadParam},
		{"put a long name in a folder", put, "a/" + long, errBadParam},
		{"put a 255-byte name", put, strings.Repeat("b", 251) + ".png", nil},
		{"open a symlink out", open, "link.png", errNotFound},
		{"stat a symlink out", stat, "link.png", errNotFound},
		{"put onto a folder", put, "taken.png", errConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(tt.file); !errors.Is(err, tt.want) {
				t.Errorf("%s = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
	if fi, err := os.Stat(filepath.Join(dir, "taken.png")); err != nil || !fi.IsDir() {
		t.Errorf("the folder in the way of a put is gone: %v", err)
	}
	if got, _ := os.ReadFile(outside); string(got) != "secret" {
		t.Errorf("the file behind the symlink is now %q", got)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("a refused put left %s behind", p)
		}
		return nil
	})
}

// TestFSStorageFolderReplaced: the storage is the folder at its location
// now. Deleted and recreated, or moved away and replaced, the new folder
// is read and written, never the old one; deleted, it is missing until a
// write makes it again.
func TestFSStorageFolderReplaced(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	s, err := newFSStorage(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(name, content string) {
		t.Helper()
		if err := s.Put(ctx, name, strings.NewReader(content), int64(len(content)), "image/png"); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	read := func(name string) (string, error) {
		rc, _, err := s.Open(ctx, name)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	onDisk := func(path string) string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
	put("a/one.png", "one")

	// Deleted and recreated: writes land in the new folder.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := read("a/one.png"); !errors.Is(err, errNotFound) {
		t.Errorf("read from a recreated folder = %v, want errNotFound", err)
	}
	put("a/two.png", "two")
	if got := onDisk(filepath.Join(dir, "a", "two.png")); got != "two" {
		t.Errorf("put into a recreated folder: the folder holds %q, want %q", got, "two")
	}

	// Moved away and replaced: reads come from the replacement.
	old := filepath.Join(base, "old")
	if err := os.Rename(dir, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "three.png"), []byte("three"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := read("a/two.png"); !errors.Is(err, errNotFound) {
		t.Errorf("read from a replaced folder = %q %v, want errNotFound (not the moved folder's file)", got, err)
	}
	if got, err := read("three.png"); err != nil || got != "three" {
		t.Errorf("read the replacement's file = %q %v, want %q", got, err, "three")
	}
	put("four.png", "four")
	if got := onDisk(filepath.Join(dir, "four.png")); got != "four" {
		t.Errorf("put into a replaced folder: the folder holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(old, "four.png")); err == nil {
		t.Errorf("put went to the moved folder")
	}

	// Deleted: missing for reads, made again by a write.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "three.png"); !errors.Is(err, errNotFound) {
		t.Errorf("stat in a deleted folder = %v, want errNotFound", err)
	}
	put("five.png", "five")
	if got := onDisk(filepath.Join(dir, "five.png")); got != "five" {
		t.Errorf("put into a deleted folder: it holds %q, want it made again", got)
	}
}
