package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
