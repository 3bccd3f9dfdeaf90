package main

import (
	"net/http"
	"testing"
)

// TestCORSOriginalForms checks the forms of allowed_origins the original
// README uses: without a scheme, matching http and https.
func TestCORSOriginalForms(t *testing.T) {
	tests := []struct {
		name    string
		origins []string
		origin  string
		want    bool
	}{
		{"bare pattern, https subdomain", []string{"*.ulule.com"}, "https://www.ulule.com", true},
		{"bare pattern, http subdomain", []string{"*.ulule.com"}, "http://fr.ulule.com", true},
		{"bare pattern, deeper subdomain", []string{"*.ulule.com"}, "https://a.b.ulule.com", true},
		{"bare pattern, upper case origin", []string{"*.ulule.com"}, "https://WWW.Ulule.com", true},
		{"bare pattern, not the domain itself", []string{"*.ulule.com"}, "https://ulule.com", false},
		{"bare pattern, not a lookalike", []string{"*.ulule.com"}, "https://evilulule.com", false},
		{"bare pattern, not a suffix of another label", []string{"*.ulule.com"}, "https://www.ulule.com.evil.com", false},
		{"bare pattern, other port", []string{"*.ulule.com"}, "https://www.ulule.com:8443", false},
		{"bare pattern, not another scheme", []string{"*.ulule.com"}, "ftp://www.ulule.com", false},
		{"bare pattern with port", []string{"*.example.com:8080"}, "http://a.example.com:8080", true},
		{"bare host, https", []string{"www.example.com"}, "https://www.example.com", true},
		{"bare host, http", []string{"www.example.com"}, "http://www.example.com", true},
		{"bare host, not a subdomain", []string{"www.example.com"}, "https://a.www.example.com", false},
		{"full origin keeps its scheme", []string{"https://www.example.com"}, "http://www.example.com", false},
		{"full pattern keeps its scheme", []string{"https://*.example.com"}, "http://a.example.com", false},
		{"null origin", []string{"*.example.com"}, "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newCORSPolicy(tt.origins, []string{"GET"}, nil)
			if err != nil {
				t.Fatalf("newCORSPolicy(%q): %v", tt.origins, err)
			}
			if got := p.allows(tt.origin); got != tt.want {
				t.Errorf("newCORSPolicy(%q).allows(%q) = %v, want %v", tt.origins, tt.origin, got, tt.want)
			}
		})
	}
}

// TestCORSOriginalREADME serves the original README's CORS config
// unchanged and checks the headers over HTTP.
func TestCORSOriginalREADME(t *testing.T) {
	cfg := mustLoad(t, exampleCORS)
	e := newTestEnv(t, func(c *config) {
		c.AllowedOrigins, c.AllowedMethods, c.AllowedHeaders = cfg.AllowedOrigins, cfg.AllowedMethods, cfg.AllowedHeaders
	})
	for _, tt := range []struct{ origin, want string }{
		{"https://www.ulule.com", "https://www.ulule.com"},
		{"http://www.ulule.com", "http://www.ulule.com"},
		{"https://ulule.org", ""},
	} {
		resp := e.get(t, "/display?path=avatar.png&op=resize&w=10", "Origin", tt.origin)
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET with Origin %s = %d, want 200", tt.origin, resp.StatusCode)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.want {
			t.Errorf("Origin %s: Access-Control-Allow-Origin = %q, want %q", tt.origin, got, tt.want)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, e.ts.URL+"/display", nil)
	req.Header.Set("Origin", "https://fr.ulule.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Methods") != "GET, HEAD" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "Content-Type, Authorization, Accept, Accept-Encoding, Accept-Language" {
		t.Errorf("preflight = %d, methods %q, headers %q", resp.StatusCode,
			resp.Header.Get("Access-Control-Allow-Methods"), resp.Header.Get("Access-Control-Allow-Headers"))
	}
}
