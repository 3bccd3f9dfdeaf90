package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUploadName(t *testing.T) {
	tests := []struct {
		raw, want string // want "" = refused
	}{
		{"photo.png", "photo.png"},
		{"my photo été.png", "my photo été.png"},
		{"../../etc/passwd", "passwd"},
		{"/abs/path/x.jpg", "x.jpg"},
		{"dir/", "dir"},
		{"", ""},
		{".", ""},
		{"..", ""},
		{"a/..", ""},
		{"/", ""},
		{".hidden.png", ""},
		{"../.env", ""},
		{`..\..\win.png`, ""},
		{"nul\x00.png", ""},
		{"tab\there.png", ""},
		{"bad\xff.png", ""},
		{strings.Repeat("a", 252) + ".png", ""},
	}
	for _, tt := range tests {
		got, err := uploadName(tt.raw)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("uploadName(%q) = %q, want it refused", tt.raw, got)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("uploadName(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

// uploadRequest is a POST /upload of data as the multipart field field
// with the raw file name filename (only \ and " escaped, as browsers do).
func uploadRequest(t *testing.T, e *testEnv, field, filename string, data []byte, header ...string) *http.Response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("comment", "a field before the file")
	h := textproto.MIMEHeader{}
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, esc(field), esc(filename)))
	h.Set("Content-Type", "application/octet-stream")
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(data)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+"/upload", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func testdataBytes(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestUpload(t *testing.T) {
	for _, pair := range storagePairs() {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.setup(t)
			e := newPairEnv(t, p, nil)
			data := testdataBytes(t, "avatar.png")
			resp := uploadRequest(t, e, "data", "../../up load é.png", data)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("upload = %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var got map[string]string
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			const name = "up load é.png"
			want := map[string]string{"filename": name, "path": name, "url": "http://src.example.com/"}
			if p.src.Type == "s3" { // the object key, as the original
				want["url"] += cleanPrefix(p.src.Location) + "/"
				want["path"] = cleanPrefix(p.src.Location) + "/" + name
			}
			want["url"] += "up%20load%20%C3%A9.png"
			for k, v := range want {
				if got[k] != v {
					t.Errorf("upload %s = %q, want %q", k, got[k], v)
				}
			}
			if keys := p.srcKeys(t); !slices.Contains(keys, name) {
				t.Fatalf("source holds %q, want %q", keys, name)
			}
			rc, fi, err := e.s.src.Open(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(stored, data) || fi.size != int64(len(data)) {
				t.Errorf("stored upload is %d bytes, want the %d uploaded", len(stored), len(data))
			}

			resp = e.get(t, "/display?path="+url.QueryEscape(name)+"&op=resize&w=50")
			body = readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("display of the upload = %d %s", resp.StatusCode, body)
			}
			if b := decodeAny(t, body).Bounds(); b.Dx() != 50 || b.Dy() != 50 {
				t.Errorf("display of the upload is %v, want 50x50", b)
			}
		})
	}
}

// TestUploadRefused sends what must be refused and checks that nothing
// reached the source storage.
func TestUploadRefused(t *testing.T) {
	png := testdataBytes(t, "avatar.png") // 400x400, 70 KB
	for _, pair := range storagePairs() {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.setup(t)
			e := newPairEnv(t, p, func(c *config) {
				c.Options.MaxSourceBytes = 100_000
				c.Options.MaxSourcePixels = 150_000
			})
			before := p.srcKeys(t)
			tests := []struct {
				name, field, filename string
				data                  []byte
				code                  int
			}{
				{"not an image", "data", "notes.png", []byte("hello, I am text"), http.StatusUnsupportedMediaType},
				{"empty file", "data", "empty.png", nil, http.StatusUnsupportedMediaType},
				{"broken header", "data", "broken.png", png[:30], http.StatusUnprocessableEntity},
				{"too many bytes", "data", "big.png", testdataBytes(t, "alpha-arc-colors-2140x1200.png"), http.StatusRequestEntityTooLarge},
				{"too many pixels", "data", "avatar2.png", png, http.StatusRequestEntityTooLarge},
				{"wrong field", "file", "tiny.png", testdataBytes(t, "tiny-1x1.png"), http.StatusBadRequest},
				{"no name", "data", "", testdataBytes(t, "tiny-1x1.png"), http.StatusBadRequest},
				{"dot dot", "data", "..", testdataBytes(t, "tiny-1x1.png"), http.StatusBadRequest},
				{"ends in dot dot", "data", "a/b/..", testdataBytes(t, "tiny-1x1.png"), http.StatusBadRequest},
				{"hidden", "data", ".htaccess", testdataBytes(t, "tiny-1x1.png"), http.StatusBadRequest},
				{"backslashes", "data", `..\..\x.png`, testdataBytes(t, "tiny-1x1.png"), http.StatusBadRequest},
				{"nul", "data", "x\x00.png", testdataBytes(t, "tiny-1x1.png"), http.StatusBadRequest},
			}
			if p.src.Type == "fs" && p.dst.Type == "fs" {
				// Past the body limit too (the server then closes the
				// connection, which costs it half a second).
				tests = append(tests, struct {
					name, field, filename string
					data                  []byte
					code                  int
				}{"body over the limit", "data", "huge.jpg", make([]byte, 1200_000), http.StatusRequestEntityTooLarge})
			}
			for _, tt := range tests {
				resp := uploadRequest(t, e, tt.field, tt.filename, tt.data)
				body := readBody(t, resp)
				if resp.StatusCode != tt.code {
					t.Errorf("%s: upload = %d %q, want %d", tt.name, resp.StatusCode, body, tt.code)
				}
			}
			resp, err := http.Post(e.ts.URL+"/upload", "image/png", bytes.NewReader(png))
			if err != nil {
				t.Fatal(err)
			}
			if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("non-multipart upload = %d, want 400", resp.StatusCode)
			}
			if after := p.srcKeys(t); !slices.Equal(before, after) {
				t.Errorf("refused uploads changed the source: %q, then %q", before, after)
			}
			if p.src.Type == "fs" {
				if _, err := os.Stat(filepath.Join(filepath.Dir(p.src.Location), "x.png")); err == nil {
					t.Errorf("an upload escaped the source folder")
				}
			}
		})
	}
}

// TestUploadDeleteRestricted checks allowed_ip_addresses and
// trusted_proxies on upload and delete.
func TestUploadDeleteRestricted(t *testing.T) {
	e := newTestEnv(t, func(c *config) {
		c.Options.EnableUpload, c.Options.EnableDelete = true, true
		c.Options.EnableStats, c.Options.EnablePprof, c.Options.EnableHealth, c.Options.EnablePrometheus = true, true, true, true
		c.Options.AllowedIPAddresses = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		c.Options.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	tiny := testdataBytes(t, "tiny-1x1.png")
	tests := []struct {
		name, xff string
		code      int
	}{
		{"direct", "", http.StatusForbidden},
		{"through the proxy, allowed client", "203.0.113.9", http.StatusOK},
		{"through the proxy, other client", "198.51.100.1", http.StatusForbidden},
		{"forged left-most address", "203.0.113.9, 198.51.100.1", http.StatusForbidden},
	}
	for _, tt := range tests {
		var h []string
		if tt.xff != "" {
			h = []string{"X-Forwarded-For", tt.xff}
		}
		resp := uploadRequest(t, e, "data", "r.png", tiny, h...)
		readBody(t, resp)
		if resp.StatusCode != tt.code {
			t.Errorf("%s: upload = %d, want %d", tt.name, resp.StatusCode, tt.code)
		}
		req, _ := http.NewRequest(http.MethodDelete, e.ts.URL+"/tiny-1x1.png", nil)
		if tt.xff != "" {
			req.Header.Set("X-Forwarded-For", tt.xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != tt.code {
			t.Errorf("%s: delete = %d, want %d", tt.name, resp.StatusCode, tt.code)
		}
	}
	// Off unless enabled.
	e = newTestEnv(t, nil)
	resp := uploadRequest(t, e, "data", "r.png", tiny)
	readBody(t, resp)
	if resp.StatusCode == http.StatusOK {
		t.Errorf("upload without enable_upload = %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.ts.URL+"/avatar.png", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode == http.StatusOK {
		t.Errorf("delete without enable_delete = %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(e.srcDir, "avatar.png")); err != nil {
		t.Errorf("delete without enable_delete removed the file: %v", err)
	}
}

// TestUploadBounded: an upload is decoded whole before it is stored (a
// file truncated past its header is a 422), goes through admission like
// an image request (429 when the server is full), and a folder of the
// upload's name is a 409. Nothing refused reaches the source folder.
func TestUploadBounded(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.EnableUpload = true })
	if err := os.Mkdir(filepath.Join(e.srcDir, "folder.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(e.srcDir)
	png, jpeg := testdataBytes(t, "avatar.png"), testdataBytes(t, "schwarzy.jpg")
	progressive := testdataBytes(t, "progressive-picture1a-1365x1074.jpg")
	garbled := bytes.Clone(jpeg)
	for i := len(garbled) / 2; i < len(garbled)-2; i++ {
		garbled[i] = 0xff // markers where the last half of the scan was
	}
	if _, err := readHeader(png[:len(png)/2]); err != nil {
		t.Fatalf("the truncated PNG's header does not read: %v", err)
	}
	if _, err := readHeader(jpeg[:len(jpeg)/2]); err != nil {
		t.Fatalf("the truncated JPEG's header does not read: %v", err)
	}
	tests := []struct {
		name, file string
		data       []byte
		full       bool // every place of the limiter taken
		code       int
		mention    string
	}{
		{"png truncated past its header", "half.png", png[:len(png)/2], false, http.StatusUnprocessableEntity, "corrupt"},
		{"jpeg truncated past its header", "half.jpg", jpeg[:len(jpeg)/2], false, http.StatusUnprocessableEntity, "corrupt"},
		{"progressive jpeg truncated", "half-progressive.jpg", progressive[:len(progressive)*3/4], false, http.StatusUnprocessableEntity, "corrupt"},
		{"jpeg with its entropy data garbled", "garbled.jpg", garbled, false, http.StatusUnprocessableEntity, "corrupt"},
		{"onto a folder", "folder.png", png, false, http.StatusConflict, "folder"},
		{"server full", "full.png", png, true, http.StatusTooManyRequests, "retry later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.full {
				for range cap(e.s.limiter.admitted) {
					e.s.limiter.admitted <- struct{}{}
				}
				defer func() {
					for range cap(e.s.limiter.admitted) {
						<-e.s.limiter.admitted
					}
				}()
			}
			resp := uploadRequest(t, e, "data", tt.file, tt.data)
			body := string(readBody(t, resp))
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.mention) {
				t.Errorf("upload = %d %q, want %d mentioning %q", resp.StatusCode, body, tt.code, tt.mention)
			}
		})
	}
	if after, _ := os.ReadDir(e.srcDir); len(after) != len(before) {
		t.Errorf("refused uploads changed the source folder: %d entries, then %d", len(before), len(after))
	}
	// Still an upload that is whole goes through.
	resp := uploadRequest(t, e, "data", "whole.png", png)
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("whole upload = %d %q, want 200", resp.StatusCode, body)
	}
}

// TestUploadReadOnce: the file is read into one buffer sized from the
// request's Content-Length, not grown by doubling.
func TestUploadReadOnce(t *testing.T) {
	if raceDetector {
		t.Skip("-race allocates a growing buffer twice over")
	}
	e := newTestEnv(t, func(c *config) { c.Options.MaxSourceBytes = 64 << 20 })
	data := bytes.Repeat([]byte("picfit"), 1<<20) // 6 MB
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	pw, err := mw.CreateFormFile("data", "big.png")
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(data)
	mw.Close()
	raw := body.Bytes()
	var got []byte
	alloc := allocatedDuring(func() {
		req := httptest.NewRequest(http.MethodPost, "/upload", bytes.NewReader(raw))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		_, got, _, err = e.s.readUpload(t.Context(), httptest.NewRecorder(), req)
	})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("readUpload = %d bytes, %v; want the %d sent", len(got), err, len(data))
	}
	// One buffer of the body's size, plus the multipart reader's own.
	if limit := uint64(len(raw)) + 1<<20; alloc > limit {
		t.Errorf("reading a %d-byte upload allocated %d bytes, want at most %d (one buffer)", len(data), alloc, limit)
	}
}

// TestUploadSlowBody: a body that stops arriving is given up at
// request_timeout, with a 400 saying so, instead of holding a place in
// the queue for as long as the client keeps the connection open.
func TestUploadSlowBody(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.EnableUpload = true })
	e.s.requestTimeout = 300 * time.Millisecond
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	pw, err := mw.CreateFormFile("data", "slow.png")
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(testdataBytes(t, "avatar.png"))
	mw.Close()
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: picfit\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", mw.FormDataContentType(), body.Len())
	conn.Write(body.Bytes()[:body.Len()/2]) // and no more
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to an upload that stopped half-way: %v", err)
	}
	got := string(readBody(t, resp))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(got, "request_timeout") {
		t.Errorf("upload that stopped half-way = %d %q, want 400 naming request_timeout", resp.StatusCode, got)
	}
	if _, err := os.Stat(filepath.Join(e.srcDir, "slow.png")); err == nil {
		t.Errorf("half an upload was stored")
	}
}
