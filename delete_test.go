package main

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func (e *testEnv) delete(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(readBody(t, resp))
}

// getResult makes a result with /get and returns its key and stored name.
func (e *testEnv) getResult(t *testing.T, query string) (key, name string) {
	t.Helper()
	got := e.getJSON(t, query)
	name, err := e.s.kv.Get(t.Context(), e.s.prefix+got["key"])
	if err != nil {
		t.Fatalf("kv has no entry for %s: %v", got["key"], err)
	}
	return got["key"], name
}

func TestDeleteResult(t *testing.T) {
	for _, pair := range storagePairs() {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.setup(t)
			e := newPairEnv(t, p, nil)
			tests := []struct {
				name, make, delete string
				forgetKV           bool // drop the kv entry first: the deterministic name must do
			}{
				{"path style", "path=avatar.png&op=resize&w=50", "/display/resize/50x/avatar.png", false},
				{"path style, other method", "path=avatar.png&op=resize&w=51&h=40", "/get/resize/51x40/avatar.png", false},
				{"path and query", "path=avatar.png&op=thumbnail&w=30&h=30", "/avatar.png?op=thumbnail&w=30&h=30", false},
				{"query only", "path=schwarzy.jpg&op=fit&w=60&h=60&fmt=png", "/?path=schwarzy.jpg&op=fit&w=60&h=60&fmt=png", false},
				{"query style on /display", "path=schwarzy.jpg&op=resize&w=48", "/display?path=schwarzy.jpg&op=resize&w=48", false},
				{"query style on /get", "op=resize&w=47&path=avatar.png", "/get?path=avatar.png&op=resize&w=47", false},
				{"kv forgotten", "path=schwarzy.jpg&op=resize&w=70", "/schwarzy.jpg?op=resize&w=70", true},
			}
			for _, tt := range tests {
				key, name := e.getResult(t, tt.make)
				if tt.forgetKV {
					e.s.kv.Delete(t.Context(), e.s.prefix+key)
				}
				if code, body := e.delete(t, tt.delete); code != http.StatusOK || body != "Ok" {
					t.Errorf("%s: DELETE %s = %d %q, want 200 Ok", tt.name, tt.delete, code, body)
				}
				if keys := p.dstKeys(t); slices.Contains(keys, name) {
					t.Errorf("%s: %s still in the destination: %q", tt.name, name, keys)
				}
				if _, err := e.s.kv.Get(t.Context(), e.s.prefix+key); !errors.Is(err, errNotFound) {
					t.Errorf("%s: kv entry of %s = %v after delete, want errNotFound", tt.name, key, err)
				}
				// Gone already: 200, as the original answers.
				if code, body := e.delete(t, tt.delete); code != http.StatusOK || body != "Ok" {
					t.Errorf("%s: DELETE %s again = %d %q, want 200 Ok", tt.name, tt.delete, code, body)
				}
			}
			if keys := p.srcKeys(t); !slices.Equal(keys, []string{"avatar.png", "schwarzy.jpg"}) {
				t.Errorf("deleting results touched the sources: %q", keys)
			}
			if keys := p.dstKeys(t); len(keys) != 0 {
				t.Errorf("destination still holds %q", keys)
			}
			// Deleted results are made again on request.
			resp := e.get(t, "/display/resize/50x/avatar.png")
			if readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Errorf("display after delete = %d", resp.StatusCode)
			}
		})
	}
}

func TestDeleteSourceCascade(t *testing.T) {
	for _, pair := range storagePairs() {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.setup(t)
			e := newPairEnv(t, p, nil)
			resp := uploadRequest(t, e, "data", "cascade me.png", testdataBytes(t, "avatar.png"))
			if readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("upload = %d", resp.StatusCode)
			}
			const src = "cascade%20me.png"
			var keys []string
			for _, q := range []string{"op=resize&w=40", "op=thumbnail&w=20&h=20&fmt=jpg", "op=flip&pos=h&fmt=gif"} {
				key, _ := e.getResult(t, "path="+src+"&"+q)
				keys = append(keys, key)
			}
			resp = e.get(t, "/display?path="+src+"&op=resize&w=41") // stored in the background
			readBody(t, resp)
			e.flushStores()
			e.getResult(t, "path=avatar.png&op=resize&w=40") // another source's result stays
			if got := p.dstKeys(t); len(got) != 5 {
				t.Fatalf("destination holds %q, want 5 results", got)
			}
			// A child whose kv entry expired is still found by its name.
			e.s.kv.Delete(t.Context(), e.s.prefix+keys[2])

			if code, body := e.delete(t, "/"+src); code != http.StatusOK || body != "Ok" {
				t.Fatalf("DELETE /%s = %d %q, want 200 Ok", src, code, body)
			}
			if got := p.srcKeys(t); !slices.Equal(got, []string{"avatar.png", "schwarzy.jpg"}) {
				t.Errorf("source holds %q after delete", got)
			}
			if got := p.dstKeys(t); len(got) != 1 {
				t.Errorf("destination holds %q, want only the other source's result", got)
			}
			for _, key := range keys {
				if _, err := e.s.kv.Get(t.Context(), e.s.prefix+key); !errors.Is(err, errNotFound) {
					t.Errorf("kv entry %s = %v after cascade delete, want errNotFound", key, err)
				}
			}
			if m, err := e.s.kv.SetMembers(t.Context(), e.s.prefix+childrenKey("cascade me.png")); err != nil || len(m) != 0 {
				t.Errorf("children set = %q, %v after cascade delete, want empty", m, err)
			}
			if code, _ := e.delete(t, "/"+src); code != http.StatusNotFound {
				t.Errorf("DELETE of a deleted source = %d, want 404", code)
			}
			resp = e.get(t, "/display?path="+src+"&op=resize&w=40")
			if readBody(t, resp); resp.StatusCode != http.StatusNotFound {
				t.Errorf("display of a deleted source = %d, want 404", resp.StatusCode)
			}
		})
	}
}

// TestDeleteRefused sends traversal attempts and malformed deletes; none
// may touch a file.
func TestDeleteRefused(t *testing.T) {
	for _, pair := range storagePairs() {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.setup(t)
			e := newPairEnv(t, p, nil)
			e.getResult(t, "path=avatar.png&op=resize&w=40")
			var sentinel string
			if p.src.Type == "fs" {
				sentinel = filepath.Join(filepath.Dir(p.src.Location), "secret.png")
				if err := os.WriteFile(sentinel, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			src, dst := p.srcKeys(t), p.dstKeys(t)
			tests := []struct {
				path string
				code int
			}{
				{"/..%2Fsecret.png", http.StatusBadRequest},
				{"/x/..%2F..%2Fsecret.png", http.StatusBadRequest},
				{"/%2Fetc%2Fpasswd", http.StatusBadRequest},
				{"/a%5C..%5Csecret.png", http.StatusBadRequest},
				{"/x/../../secret.png", http.StatusTemporaryRedirect},
				{"/display/resize/10x10/..%2Fsecret.png", http.StatusBadRequest},
				{"/?path=../secret.png&op=resize&w=10", http.StatusBadRequest},
				{"/?url=http://example.com/a.png&op=resize&w=10", http.StatusOK}, // never made: nothing to do
				{"/avatar.png?path=schwarzy.jpg&op=resize&w=40", http.StatusBadRequest},
				{"/avatar.png?op=explode", http.StatusBadRequest},
				{"/", http.StatusBadRequest},
				{"/missing.png", http.StatusNotFound},
				{"/display/resize/40x/missing.png", http.StatusOK},
				{"/display?path=missing.png&op=resize&w=480", http.StatusOK},
				{"/display?path=../secret.png&op=resize&w=10", http.StatusBadRequest},
			}
			for _, tt := range tests {
				code, body := e.delete(t, tt.path)
				if code != tt.code {
					t.Errorf("DELETE %s = %d %q, want %d", tt.path, code, body, tt.code)
				}
			}
			if got := p.srcKeys(t); !slices.Equal(got, src) {
				t.Errorf("source changed: %q, then %q", src, got)
			}
			if got := p.dstKeys(t); !slices.Equal(got, dst) {
				t.Errorf("destination changed: %q, then %q", dst, got)
			}
			if sentinel != "" {
				if _, err := os.Stat(sentinel); err != nil {
					t.Errorf("a file outside the source folder was touched: %v", err)
				}
			}
		})
	}
}

// TestDeleteEnabledGetUnknownIs404: enable_delete must not turn a GET of
// an unknown path into a 405 that advertises DELETE.
func TestDeleteEnabledGetUnknownIs404(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.EnableDelete = true })
	for _, p := range []string{"/nope.png", "/a/b/c", "/favicon.ico"} {
		resp := e.get(t, p)
		readBody(t, resp)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Allow") != "" {
			t.Errorf("GET %s = %d Allow %q, want 404 and no Allow", p, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	resp := e.get(t, "/display?path=avatar.png&op=resize&w=20")
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /display with enable_delete = %d, want 200", resp.StatusCode)
	}
	if code, body := e.delete(t, "/display?path=avatar.png&op=resize&w=20"); code != http.StatusOK || body != "Ok" {
		t.Errorf("DELETE /display?... = %d %q, want 200 Ok", code, body)
	}
}
