package main

import (
	"net/url"
	"testing"
)

func TestSignVectors(t *testing.T) {
	tests := []struct {
		key, query, want string
	}{
		{"abcdef", "x=1&y=2&z=3", "c9516346abf62876b6345817dba2f9a0c797ef26"},
		{"abcdef", "w=100&h=100&op=resize", "954eec9dfa9390f8f4264e15bb95f5f54e6fe953"},
		{"abcdef", "op=resize&h=100&w=100", "954eec9dfa9390f8f4264e15bb95f5f54e6fe953"},
		{"abcdef", "w=100&h=100&op=resize&sig=whatever", "954eec9dfa9390f8f4264e15bb95f5f54e6fe953"},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := sign(tt.key, v); got != tt.want {
			t.Errorf("sign(%q, %q) = %s, want %s", tt.key, tt.query, got, tt.want)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	v, _ := url.ParseQuery("w=100&h=100&op=resize")
	good := "954eec9dfa9390f8f4264e15bb95f5f54e6fe953"
	tests := []struct {
		name string
		keys []string
		sig  string
		want bool
	}{
		{"right", []string{"abcdef"}, good, true},
		{"rotated key", []string{"new", "abcdef"}, good, true},
		{"wrong key", []string{"other"}, good, false},
		{"missing", []string{"abcdef"}, "", false},
		{"not hex", []string{"abcdef"}, "zz", false},
		{"truncated", []string{"abcdef"}, good[:38], false},
		{"uppercase hex is refused, as the original", []string{"abcdef"}, "954EEC9DFA9390F8F4264E15BB95F5F54E6FE953", false},
		{"mixed case hex is refused", []string{"abcdef"}, "954eec9dfa9390f8f4264e15bb95f5f54e6fE953", false},
	}
	for _, tt := range tests {
		if got := verifySignature(tt.keys, v, tt.sig); got != tt.want {
			t.Errorf("%s: verifySignature(%v, %q) = %v, want %v", tt.name, tt.keys, tt.sig, got, tt.want)
		}
	}
}

func FuzzCanonicalQuery(f *testing.F) {
	f.Add("w=100&h=100&op=resize&sig=x")
	f.Add("op=a&op=b&z=%26&y=+")
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		c := canonicalQuery(v)
		back, err := url.ParseQuery(c)
		if err != nil {
			t.Fatalf("canonicalQuery(%q) = %q does not parse: %v", q, c, err)
		}
		if back.Has("sig") {
			t.Fatalf("canonicalQuery(%q) = %q keeps sig", q, c)
		}
		if canonicalQuery(back) != c {
			t.Fatalf("canonicalQuery is not stable on %q: %q then %q", q, c, canonicalQuery(back))
		}
	})
}
