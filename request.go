package main

// The request grammar: operations, parameters, and the key the original
// picfit computes from them.

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/color"
	"net/url"
	"strconv"
	"strings"
)

// request is a parsed /display, /redirect or /get request.
//
// The URL grammar, query style:
//
//	/{display,redirect,get}?(path=P|url=U)&op=OP[&op=OP...][&w=W][&h=H]
//	    [&upscale=B][&fmt=F][&q=Q][&lossless=B][&deg=D][&pos=P][&color=C]
//	    [&stick=S][&filter=blur][&gravity=G][&focus=X,Y][&dpr=D]
//	    [&sig=SIG][&force=1]
//
// and path style, when a source storage is configured:
//
//	/{display,redirect,get}/[SIG/]OP/[W]x[H]/PATH[?more=params]
//
// Path style is rewritten into the same parameters (sig, op, w, h, path;
// an empty side is left out), then the query's parameters are merged in:
// a query value replaces a path value, query ops follow the path's op.
//
// An op value is either an operation name, which takes the global
// parameters, or an element "op:NAME k:v k:v" (the "+" of a query decodes
// to a space) carrying its own parameters; "path:X" may repeat in a flat
// element (maxFlatImages times, maxRequestImages in all the request's
// elements). For every other parameter the first value counts. Unknown
// parameters are kept: they change the key and must be signed.
type request struct {
	params  url.Values // every parameter as received, path-style ones first
	key     string     // cache key: see requestKey
	path    string     // source file in the source storage, or ""
	url     *url.URL   // source URL, or nil
	ops     []operation
	format  format // requested output: an image format, formatNone or formatAuto
	quality int    // 1..100, or 0 for the engine default
	force   bool   // regenerate, ignoring the kv store
	// lossless asks for lossless WebP (photos are otherwise lossy).
	lossless bool
	// negotiated is set when fmt=auto was resolved from the Accept
	// header: the response varies with it.
	negotiated bool
}

// operation is one step of a chain, with its own parameters resolved.
type operation struct {
	kind    opKind // resize thumbnail fit pad flip rotate flat effect noop
	w, h    int    // 0 = derive from the other side
	upscale bool
	deg     int         // rotate: 90, 180 or 270, counter-clockwise
	axis    byte        // flip: 'h' or 'v'
	rect    [4]int      // flat: x0, y0, x1, y1 in percent of the image
	color   color.NRGBA // flat and pad fill
	filled  bool        // color was given
	stick   string      // flat: top-left top-right bottom-left bottom-right
	images  []string    // flat: paths of the images to draw
	place   placement   // thumbnail: where the crop window sits (crop.go)
}

// requestLimits bounds what a request may ask for.
type requestLimits struct {
	maxDimension  int   // w and h
	maxPixels     int64 // flat's w×h (max_output_pixels), 0 = unlimited
	maxOperations int
}

// Bounds on the path: images of flat operations, each read from the
// source storage and decoded: maxFlatImages in one operation,
// maxRequestImages in a whole request.
const (
	maxFlatImages    = 8
	maxRequestImages = 16
)

// images is the number of path: images of r's flat operations.
func (r *request) images() int {
	n := 0
	for _, op := range r.ops {
		n += len(op.images)
	}
	return n
}

// opKind is an operation of the URL grammar. Its String is the name
// used in URLs, in options.max_processor_concurrent_operations, in
// metrics and in error messages; the zero value is no operation.
type opKind uint8

const (
	_ opKind = iota
	opResize
	opThumbnail
	opFit
	opPad
	opFlip
	opRotate
	opFlat
	opEffect
	opNoop
)

var opNames = [...]string{
	opResize: "resize", opThumbnail: "thumbnail", opFit: "fit", opPad: "pad",
	opFlip: "flip", opRotate: "rotate", opFlat: "flat", opEffect: "effect", opNoop: "noop",
}

func (k opKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return ""
}

// parseOpKind reads an operation name, case sensitive as in the original.
func parseOpKind(name string) (opKind, bool) {
	for k, n := range opNames {
		if n != "" && n == name {
			return opKind(k), true
		}
	}
	return 0, false
}

// parsePathStyle turns the part of a path-style URL after the method
// ("[SIG/]OP/[W]x[H]/PATH") into parameters.
func parsePathStyle(rest string) (url.Values, error) {
	segs := strings.SplitN(rest, "/", 4)
	v := url.Values{}
	switch {
	case len(segs) >= 3 && isSizeSegment(segs[1]):
		v.Set("op", segs[0])
		setSize(v, segs[1])
		v.Set("path", strings.Join(segs[2:], "/"))
	case len(segs) == 4 && isSizeSegment(segs[2]):
		v.Set("sig", segs[0])
		v.Set("op", segs[1])
		setSize(v, segs[2])
		v.Set("path", segs[3])
	default:
		return nil, fmt.Errorf("%w: path: want /[SIG/]OP/[W]x[H]/PATH, got %q", errBadParam, rest)
	}
	if v.Get("op") == "" || v.Get("path") == "" {
		return nil, fmt.Errorf("%w: path: want /[SIG/]OP/[W]x[H]/PATH, got %q", errBadParam, rest)
	}
	return v, nil
}

func isSizeSegment(s string) bool {
	w, h, ok := strings.Cut(s, "x")
	return ok && isDigits(w) && isDigits(h)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func setSize(v url.Values, s string) {
	w, h, _ := strings.Cut(s, "x") // isSizeSegment checked the "x"
	if w != "" {
		v.Set("w", w)
	}
	if h != "" {
		v.Set("h", h)
	}
}

// mergeParams returns the path-style parameters with the query's merged
// in, as the original picfit does: a query value replaces a path value,
// and query ops come after the path's op.
func mergeParams(path, query url.Values) url.Values {
	m := url.Values{}
	for k, v := range path {
		m[k] = append([]string(nil), v...)
	}
	for k, v := range query {
		if k == "op" {
			m[k] = append(m[k], v...)
			continue
		}
		m[k] = append([]string(nil), v...)
	}
	return m
}

// requestKey is the cache key of params, identical to the original
// picfit's: the lowercase hex MD5 of the parameters minus sig and force,
// as a JSON object with sorted keys, first values as strings and op as an
// array when there are several, escaped as encoding/json does.
func requestKey(params url.Values) string {
	m := make(map[string]any, len(params))
	for k, v := range params {
		if k == "sig" || k == "force" || len(v) == 0 {
			continue
		}
		if k == "op" && len(v) > 1 {
			m[k] = v
			continue
		}
		m[k] = v[0]
	}
	// A map of strings cannot fail to marshal (invalid UTF-8 becomes
	// U+FFFD, as in the original), so the error is always nil.
	b, _ := json.Marshal(m)
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// parseRequest checks params strictly and returns the typed request. Every
// error wraps errBadParam and names the parameter.
func parseRequest(params url.Values, lim requestLimits) (*request, error) {
	r := &request{params: params, key: requestKey(params)}
	_, r.force = params["force"]

	path, rawURL := params.Get("path"), params.Get("url")
	switch {
	case path != "" && rawURL != "":
		return nil, fmt.Errorf("%w: give url or path, not both", errBadParam)
	case path != "":
		p, err := cleanPath(path)
		if err != nil {
			return nil, fmt.Errorf("%w: path: %v", errBadParam, err)
		}
		r.path = p
	case rawURL != "":
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: url: want an absolute http or https URL, got %q", errBadParam, rawURL)
		}
		r.url = u
	default:
		return nil, fmt.Errorf("%w: missing url or path", errBadParam)
	}

	if f := params.Get("fmt"); f != "" {
		name, ok := parseFormat(f, true)
		if !ok {
			return nil, fmt.Errorf("%w: fmt: want jpg, jpeg, png, gif, bmp, webp or auto, got %q", errBadParam, f)
		}
		r.format = name
	}
	if q := params.Get("q"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Errorf("%w: q: want 1..100, got %q", errBadParam, q)
		}
		r.quality = n
	}
	if s := params.Get("lossless"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%w: lossless: want a boolean, got %q", errBadParam, s)
		}
		r.lossless = b
	}

	dpr, err := parseDPR(params.Get("dpr"))
	if err != nil {
		return nil, err
	}

	global := func(k string) string { return params.Get(k) }
	ops := params["op"]
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: op: missing", errBadParam)
	}
	if lim.maxOperations > 0 && len(ops) > lim.maxOperations {
		return nil, fmt.Errorf("%w: op: %d operations, at most %d allowed", errBadParam, len(ops), lim.maxOperations)
	}
	for _, v := range ops {
		var op operation
		var err error
		if name, ok := strings.CutPrefix(v, "op:"); ok {
			op, err = parseElement(name, lim)
		} else {
			op, err = parseOperation(v, global, nil, lim)
		}
		if err != nil {
			return nil, err
		}
		if op, err = op.withDPR(dpr, lim.maxDimension); err != nil {
			return nil, err
		}
		r.ops = append(r.ops, op)
		if n := r.images(); n > maxRequestImages {
			return nil, fmt.Errorf("%w: op: flat path: more than %d images in a request (maxRequestImages)", errBadParam, maxRequestImages)
		}
	}
	return r, nil
}

// parseElement parses the rest of an "op:NAME k:v k:v" chain element.
func parseElement(s string, lim requestLimits) (operation, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return operation{}, fmt.Errorf("%w: op: empty element", errBadParam)
	}
	kv := map[string]string{}
	var images []string
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			return operation{}, fmt.Errorf("%w: op: element %q: want k:v, got %q", errBadParam, s, f)
		}
		if k == "path" {
			if len(images) == maxFlatImages {
				return operation{}, fmt.Errorf("%w: op: flat path: more than %d images in one operation (maxFlatImages)", errBadParam, maxFlatImages)
			}
			p, err := cleanPath(v)
			if err != nil {
				return operation{}, fmt.Errorf("%w: op: path: %v", errBadParam, err)
			}
			images = append(images, p)
			continue
		}
		if _, dup := kv[k]; !dup {
			kv[k] = v
		}
	}
	// q inside an element is checked as the top-level q is, though the
	// output's quality comes from the top-level q alone.
	if q, ok := kv["q"]; ok {
		if n, err := strconv.Atoi(q); err != nil || n < 1 || n > 100 {
			return operation{}, fmt.Errorf("%w: op: element %q: q: want 1..100, got %q", errBadParam, s, q)
		}
	}
	return parseOperation(fields[0], func(k string) string { return kv[k] }, images, lim)
}

// parseOperation builds an operation named name whose parameters come
// from get.
func parseOperation(name string, get func(string) string, images []string, lim requestLimits) (operation, error) {
	kind, ok := parseOpKind(name)
	if !ok {
		return operation{}, fmt.Errorf("%w: op: unknown operation %q", errBadParam, name)
	}
	op := operation{kind: kind, upscale: true, images: images}
	var err error
	if op.w, err = parseDimension("w", get("w"), lim.maxDimension); err != nil {
		return op, err
	}
	if op.h, err = parseDimension("h", get("h"), lim.maxDimension); err != nil {
		return op, err
	}
	if s := get("upscale"); s != "" {
		if op.upscale, err = strconv.ParseBool(s); err != nil {
			return op, fmt.Errorf("%w: upscale: want a boolean, got %q", errBadParam, s)
		}
	}
	if s := get("color"); s != "" {
		if op.color, err = parseColor(s); err != nil {
			return op, err
		}
		op.filled = true
	}
	if op.place, err = parsePlacement(get("gravity"), get("focus")); err != nil {
		return op, err
	}
	switch op.kind {
	case opRotate:
		op.deg = 90
		if s := get("deg"); s != "" {
			op.deg, err = strconv.Atoi(s)
			if err != nil || (op.deg != 90 && op.deg != 180 && op.deg != 270) {
				return op, fmt.Errorf("%w: deg: want 90, 180 or 270, got %q", errBadParam, s)
			}
		}
	case opFlip:
		switch s := get("pos"); s {
		case "h", "v":
			op.axis = s[0]
		default:
			return op, fmt.Errorf("%w: pos: flip wants h or v, got %q", errBadParam, s)
		}
	case opFlat:
		if lim.maxPixels > 0 && int64(op.w)*int64(op.h) > lim.maxPixels {
			return op, fmt.Errorf("%w: w, h: flat %dx%d is over max_output_pixels (%d)", errBadParam, op.w, op.h, lim.maxPixels)
		}
		op.rect = [4]int{0, 0, 100, 100}
		if s := get("pos"); s != "" {
			if op.rect, err = parseRect(s); err != nil {
				return op, err
			}
		}
		switch s := get("stick"); s {
		case "", "top-left", "top-right", "bottom-left", "bottom-right":
			op.stick = s
		default:
			return op, fmt.Errorf("%w: stick: want top-left, top-right, bottom-left or bottom-right, got %q", errBadParam, s)
		}
	case opEffect:
		if s := get("filter"); s != "blur" {
			return op, fmt.Errorf("%w: filter: effect wants blur, got %q", errBadParam, s)
		}
	}
	return op, nil
}

func parseDimension(name, s string, max int) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s: want a whole number of pixels, got %q", errBadParam, name, s)
	}
	if max > 0 && n > max {
		return 0, fmt.Errorf("%w: %s: %d is over the limit of %d pixels (max_output_dimension)", errBadParam, name, n, max)
	}
	return n, nil
}

// parseColor reads a hex colour without "#": RGB, RRGGBB or RRGGBBAA.
func parseColor(s string) (color.NRGBA, error) {
	bad := fmt.Errorf("%w: color: want 3, 6 or 8 hex digits, got %q", errBadParam, s)
	if len(s) == 3 {
		s = string([]byte{s[0], s[0], s[1], s[1], s[2], s[2]})
	}
	if len(s) == 6 {
		s += "ff"
	}
	if len(s) != 8 {
		return color.NRGBA{}, bad
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return color.NRGBA{}, bad
	}
	return color.NRGBA{R: uint8(n >> 24), G: uint8(n >> 16), B: uint8(n >> 8), A: uint8(n)}, nil
}

// parseRect reads a flat rectangle "x0.y0.x1.y1" in percent.
func parseRect(s string) ([4]int, error) {
	var r [4]int
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return r, fmt.Errorf("%w: pos: flat wants x0.y0.x1.y1 in percent, got %q", errBadParam, s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 100 {
			return r, fmt.Errorf("%w: pos: flat wants x0.y0.x1.y1 in percent, got %q", errBadParam, s)
		}
		r[i] = n
	}
	if r[0] > r[2] || r[1] > r[3] {
		return r, fmt.Errorf("%w: pos: x0 must not exceed x1 nor y0 y1, got %q", errBadParam, s)
	}
	return r, nil
}

// cleanPath checks a storage path: relative, no "..", no NUL or
// backslash, no empty segment.
func cleanPath(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("empty")
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%q must be relative", p)
	case strings.ContainsAny(p, "\x00\\"):
		return "", fmt.Errorf("%q holds a NUL or a backslash", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%q has an empty, . or .. segment", p)
		}
	}
	return p, nil
}

// negotiate resolves fmt=auto from an Accept header: WebP when it lists
// image/webp, otherwise the usual rules (engine.format, the source's
// format). The key becomes that of the same request with fmt=webp, or
// without fmt, so caches hold each variant once and never mix them. A
// request without fmt=auto is left as it is.
func (r *request) negotiate(accept string) {
	if r.format != formatAuto {
		return
	}
	params := make(url.Values, len(r.params))
	for k, v := range r.params {
		params[k] = v
	}
	r.format = formatNone
	delete(params, "fmt")
	if acceptsWebP(accept) {
		r.format = formatWebP
		params["fmt"] = []string{formatWebP.String()}
	}
	r.key = requestKey(params)
	r.negotiated = true
}

// acceptsWebP reports whether an Accept header lists image/webp with a
// non-zero quality. Wildcards do not count: many clients that send */*
// cannot show WebP.
func acceptsWebP(accept string) bool {
	for _, item := range strings.Split(accept, ",") {
		mediaType, params, _ := strings.Cut(item, ";")
		if !strings.EqualFold(strings.TrimSpace(mediaType), "image/webp") {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0 // a malformed weight: ignore the entry
				}
				q = f
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}
