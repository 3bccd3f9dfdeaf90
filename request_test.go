package main

import (
	"errors"
	"net/url"
	"reflect"
	"testing"
)

func TestRequestKeyVectors(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{"spec example", "path=avatar.png&op=resize&w=100&h=100", "895b545d9dca01413aec42d6ae3c6197"},
		{"order does not matter", "h=100&w=100&op=resize&path=avatar.png", "895b545d9dca01413aec42d6ae3c6197"},
		{"sig and force left out", "path=avatar.png&op=resize&w=100&h=100&sig=abc&force=1", "895b545d9dca01413aec42d6ae3c6197"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := requestKey(v); got != tt.want {
				t.Errorf("requestKey(%q) = %s, want %s", tt.query, got, tt.want)
			}
		})
	}
}

func TestRequestKeySerialisation(t *testing.T) {
	// The key is md5 of exactly this JSON; check the JSON shape through
	// known md5 sums of the serialised forms.
	tests := []struct {
		query, json string
	}{
		{"path=avatar.png&op=resize&w=100&h=100", `{"h":"100","op":"resize","path":"avatar.png","w":"100"}`},
		{"url=http://x/a.png?b=1%26c%3C%3E&op=resize&op=op:rotate+deg:90", `{"op":["resize","op:rotate deg:90"],"url":"http://x/a.png?b=1\u0026c\u003c\u003e"}`},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := requestKey(v), md5hex(tt.json); got != want {
			t.Errorf("requestKey(%q) = %s, want md5(%s) = %s", tt.query, got, tt.json, want)
		}
	}
}

func TestPathStyleSameKeyAsQuery(t *testing.T) {
	tests := []struct {
		name, rest, query, equivalent string
	}{
		{"plain", "resize/100x100/path/to/file.png", "", "op=resize&w=100&h=100&path=path/to/file.png"},
		{"empty width", "resize/x50/a.png", "", "op=resize&h=50&path=a.png"},
		{"empty height", "thumbnail/50x/a.png", "", "op=thumbnail&w=50&path=a.png"},
		{"with signature", "abcdef0123/resize/100x100/a.png", "", "op=resize&w=100&h=100&path=a.png"},
		{"query extras", "resize/100x100/a.png", "fmt=webp&op=op:rotate+deg:90", "op=resize&op=op:rotate+deg:90&w=100&h=100&path=a.png&fmt=webp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePathStyle(tt.rest)
			if err != nil {
				t.Fatalf("parsePathStyle(%q): %v", tt.rest, err)
			}
			q, _ := url.ParseQuery(tt.query)
			e, _ := url.ParseQuery(tt.equivalent)
			if got, want := requestKey(mergeParams(p, q)), requestKey(e); got != want {
				t.Errorf("key of %q?%s = %s, want %s (the key of %s)", tt.rest, tt.query, got, want, tt.equivalent)
			}
		})
	}
}

func TestParsePathStyleErrors(t *testing.T) {
	for _, rest := range []string{"", "resize", "resize/100x100", "resize/100y100/a.png", "a/b/c/d"} {
		if _, err := parsePathStyle(rest); !errors.Is(err, errBadParam) {
			t.Errorf("parsePathStyle(%q) = %v, want errBadParam", rest, err)
		}
	}
}

func TestParseRequest(t *testing.T) {
	lim := requestLimits{maxDimension: 8192, maxOperations: 10}
	tests := []struct {
		name  string
		query string
		want  []operation
	}{
		{"resize", "path=a.png&op=resize&w=100&h=50",
			[]operation{{kind: opResize, w: 100, h: 50, upscale: true}}},
		{"chain with own parameters", "path=a.png&op=resize&w=100&h=50&op=op:rotate+deg:180",
			[]operation{{kind: opResize, w: 100, h: 50, upscale: true}, {kind: opRotate, deg: 180, upscale: true}}},
		{"element ignores globals", "path=a.png&w=100&op=op:resize+h:20",
			[]operation{{kind: opResize, h: 20, upscale: true}}},
		{"rotate default", "path=a.png&op=rotate", []operation{{kind: opRotate, deg: 90, upscale: true}}},
		{"upscale off", "path=a.png&op=thumbnail&w=10&h=10&upscale=0",
			[]operation{{kind: opThumbnail, w: 10, h: 10}}},
		{"flip", "path=a.png&op=flip&pos=v", []operation{{kind: opFlip, axis: 'v', upscale: true}}},
		{"flat", "path=a.png&op=op:flat+path:b.png+path:c.png+pos:10.10.90.50+color:f00",
			[]operation{{kind: opFlat, upscale: true, rect: [4]int{10, 10, 90, 50}, images: []string{"b.png", "c.png"},
				color: colorOf(0xff, 0, 0, 0xff), filled: true}}},
		{"first value counts", "path=a.png&op=resize&w=100&w=200", []operation{{kind: opResize, w: 100, upscale: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			r, err := parseRequest(v, lim)
			if err != nil {
				t.Fatalf("parseRequest(%q): %v", tt.query, err)
			}
			if !reflect.DeepEqual(r.ops, tt.want) {
				t.Errorf("parseRequest(%q).ops = %+v, want %+v", tt.query, r.ops, tt.want)
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	lim := requestLimits{maxDimension: 8192, maxOperations: 3}
	tests := []struct {
		name, query, mention string
	}{
		{"no source", "op=resize&w=10", "url or path"},
		{"both sources", "path=a.png&url=http://x/a.png&op=resize", "not both"},
		{"no op", "path=a.png&w=10", "op"},
		{"unknown op", "path=a.png&op=explode", "op"},
		{"bad width", "path=a.png&op=resize&w=abc", "w:"},
		{"negative height", "path=a.png&op=resize&h=-1", "h:"},
		{"width over limit", "path=a.png&op=resize&w=9000", "max_output_dimension"},
		{"bad quality", "path=a.png&op=resize&q=101", "q:"},
		{"bad quality in an element", "path=a.png&op=resize&w=10&op=op:rotate+deg:90+q:101", "q: want 1..100"},
		{"zero quality in an element", "path=a.png&op=op:resize+w:10+q:0", "q: want 1..100"},
		{"word quality in an element", "path=a.png&op=op:resize+w:10+q:high", "q: want 1..100"},
		{"bad format", "path=a.png&op=resize&fmt=tiff", "fmt:"},
		{"bad degree", "path=a.png&op=rotate&deg=45", "deg:"},
		{"bad flip", "path=a.png&op=flip&pos=x", "pos:"},
		{"bad color", "path=a.png&op=op:flat+color:zzz", "color:"},
		{"bad upscale", "path=a.png&op=resize&upscale=maybe", "upscale:"},
		{"bad filter", "path=a.png&op=effect&filter=sharpen", "filter:"},
		{"too many ops", "path=a.png&op=noop&op=noop&op=noop&op=noop", "at most 3"},
		{"traversal", "path=../etc/passwd&op=noop", "path:"},
		{"absolute", "path=/etc/passwd&op=noop", "path:"},
		{"nul", "path=a%00.png&op=noop", "path:"},
		{"backslash", "path=..%5Cwin.ini&op=noop", "path:"},
		{"flat traversal", "path=a.png&op=op:flat+path:../b.png", "path:"},
		{"url scheme", "url=file:///etc/passwd&op=noop", "url:"},
		{"bad rect", "path=a.png&op=op:flat+pos:1.2.3", "pos:"},
		{"bad stick", "path=a.png&op=op:flat+stick:middle", "stick:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseRequest(v, lim)
			if !errors.Is(err, errBadParam) {
				t.Fatalf("parseRequest(%q) = %v, want errBadParam", tt.query, err)
			}
			if !contains(err.Error(), tt.mention) {
				t.Errorf("parseRequest(%q) = %q, want it to mention %q", tt.query, err, tt.mention)
			}
		})
	}
}

func TestParseColor(t *testing.T) {
	tests := []struct {
		in   string
		want [4]uint8
	}{
		{"fff", [4]uint8{255, 255, 255, 255}},
		{"ff8000", [4]uint8{255, 128, 0, 255}},
		{"ff800080", [4]uint8{255, 128, 0, 128}},
		{"00000000", [4]uint8{0, 0, 0, 0}},
	}
	for _, tt := range tests {
		c, err := parseColor(tt.in)
		if err != nil {
			t.Fatalf("parseColor(%q): %v", tt.in, err)
		}
		if got := [4]uint8{c.R, c.G, c.B, c.A}; got != tt.want {
			t.Errorf("parseColor(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "f", "ffff", "gggggg", "#ffffff", "fffffffff"} {
		if _, err := parseColor(bad); err == nil {
			t.Errorf("parseColor(%q) = nil error, want one", bad)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"path=avatar.png&op=resize&w=100&h=100",
		"url=http://x/a.png&op=resize&op=op:rotate+deg:90&fmt=webp&q=80",
		"path=a.png&op=op:flat+path:b.png+pos:0.0.50.50+color:ff000080+stick:top-left",
		"path=a/b&op=flip&pos=h&upscale=false",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		r, err := parseRequest(v, requestLimits{maxDimension: 8192, maxOperations: 10})
		if err != nil {
			if !errors.Is(err, errBadParam) {
				t.Fatalf("parseRequest(%q) = %v, want errBadParam", q, err)
			}
			return
		}
		if r.key != requestKey(v) || len(r.key) != 32 {
			t.Fatalf("parseRequest(%q).key = %q", q, r.key)
		}
		for _, op := range r.ops {
			if op.w < 0 || op.h < 0 || op.w > 8192 || op.h > 8192 {
				t.Fatalf("parseRequest(%q) op %+v out of range", q, op)
			}
		}
	})
}

func FuzzParsePathStyle(f *testing.F) {
	for _, s := range []string{"resize/100x100/a.png", "sig/resize/x50/a/b.png", "op/x/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		p, err := parsePathStyle(rest)
		if err != nil {
			return
		}
		if p.Get("op") == "" || p.Get("path") == "" {
			t.Fatalf("parsePathStyle(%q) = %v, want op and path", rest, p)
		}
	})
}

func TestParseOpKind(t *testing.T) {
	for _, name := range []string{"resize", "thumbnail", "fit", "pad", "flip", "rotate", "flat", "effect", "noop"} {
		k, ok := parseOpKind(name)
		if !ok || k.String() != name {
			t.Errorf("parseOpKind(%q) = %v, %v, want %q, true", name, k, ok, name)
		}
	}
	for _, name := range []string{"", "Resize", "crop", "op"} {
		if k, ok := parseOpKind(name); ok {
			t.Errorf("parseOpKind(%q) = %v, true, want false", name, k)
		}
	}
}
