package main

// CORS: allowed origins, methods and headers, as the original's options.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// corsPolicy answers cross-origin requests as allowed_origins,
// allowed_methods and allowed_headers say. An origin entry is "*", a full
// origin ("https://example.com", "http://localhost:3000") or a pattern
// whose host starts with "*." ("https://*.example.com" matches
// https://a.example.com and https://a.b.example.com, not
// https://example.com). Without a scheme, as the original README writes
// them ("*.ulule.com", "www.example.com"), an entry matches on http and
// https alike.
type corsPolicy struct {
	any      bool
	exact    map[string]bool // "https://example.com", "//example.com" for any scheme
	patterns []originPattern
	methods  string
	headers  string
}

type originPattern struct {
	scheme string // "" for http and https
	suffix string // ".example.com"
	port   string
}

// newCORSPolicy checks the configured origins; nil means CORS is off.
func newCORSPolicy(origins, methods, headers []string) (*corsPolicy, error) {
	if len(origins) == 0 {
		return nil, nil
	}
	p := &corsPolicy{exact: map[string]bool{}, methods: strings.Join(methods, ", "), headers: strings.Join(headers, ", ")}
	for _, o := range origins {
		if o == "*" {
			p.any = true
			continue
		}
		full := o
		anyScheme := !strings.Contains(o, "://")
		if anyScheme {
			full = "http://" + o
		}
		u, err := url.Parse(full)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("allowed_origins: %q is not *, an origin like https://example.com or a pattern like https://*.example.com or *.example.com", o)
		}
		scheme := u.Scheme
		if anyScheme {
			scheme = ""
		}
		host := strings.ToLower(u.Hostname())
		if suffix, ok := strings.CutPrefix(host, "*."); ok {
			if suffix == "" || strings.Contains(suffix, "*") {
				return nil, fmt.Errorf("allowed_origins: %q: a pattern needs a domain after its *. prefix", o)
			}
			p.patterns = append(p.patterns, originPattern{scheme: scheme, suffix: "." + suffix, port: u.Port()})
			continue
		}
		if strings.Contains(host, "*") {
			return nil, fmt.Errorf("allowed_origins: %q: * may only start the host", o)
		}
		key := "//" + strings.ToLower(u.Host)
		if scheme != "" {
			key = scheme + ":" + key
		}
		p.exact[key] = true
	}
	return p, nil
}

// allows reports whether a request's Origin header is allowed.
func (p *corsPolicy) allows(origin string) bool {
	if p.any {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	if h := "//" + strings.ToLower(u.Host); p.exact[u.Scheme+":"+h] || p.exact[h] {
		return true
	}
	host := strings.ToLower(u.Hostname())
	for _, pt := range p.patterns {
		if (pt.scheme == "" || u.Scheme == pt.scheme) && u.Port() == pt.port && strings.HasSuffix(host, pt.suffix) && len(host) > len(pt.suffix) {
			return true
		}
	}
	return false
}

// wrap adds the CORS headers to next's answers and answers preflight
// requests itself.
func (p *corsPolicy) wrap(next http.Handler) http.Handler {
	if p == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if origin == "" || !p.allows(origin) {
			next.ServeHTTP(w, r)
			return
		}
		if p.any {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		} else {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", p.methods)
			if p.headers != "" {
				w.Header().Set("Access-Control-Allow-Headers", p.headers)
			}
			w.Header().Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
