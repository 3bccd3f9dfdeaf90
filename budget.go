package main

// The memory budget: options.max_memory bounds the bytes that image work
// holds at once. Each request's peak is estimated from the headers of its
// sources before anything is decoded (footprint), and admitted against
// the budget (memBudget): a request over the whole budget is refused with
// a 413 naming the limit, others wait their turn in the queue.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// memBudget is a weighted semaphore of bytes, served first come first
// served, so a large request is not starved by a stream of small ones.
type memBudget struct {
	mu      sync.Mutex
	total   int64
	used    int64
	waiters []*budgetWaiter
	onQueue func() // tests: called when a request starts to wait
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once the bytes are granted
}

func newMemBudget(total int64) *memBudget { return &memBudget{total: total} }

// acquire waits until n bytes are free and takes them. n over the whole
// budget fails at once with errOverBudget; ctx ending while it waits
// returns ctx.Err(). release gives the bytes back; it may be called once.
func (b *memBudget) acquire(ctx context.Context, n int64) (release func(), err error) {
	if n > b.total {
		return nil, fmt.Errorf("%w: needs about %s, options.max_memory is %s", errOverBudget, formatBytes(n), formatBytes(b.total))
	}
	n = max(n, 0)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.total {
		b.used += n
		b.mu.Unlock()
		return b.releaser(n), nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	if b.onQueue != nil {
		b.onQueue()
	}

	select {
	case <-w.ready:
		return b.releaser(n), nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			b.used -= n
		default:
			for i, o := range b.waiters {
				if o == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
		}
		b.grant() // a removed head may have been holding others back
		b.mu.Unlock()
		return nil, ctx.Err()
	}
}

// hold takes n bytes without waiting, even past the budget: for bytes
// already in memory (a response being sent, a result waiting to be
// stored), so that new work waits until they are gone.
func (b *memBudget) hold(n int64) (release func()) {
	b.mu.Lock()
	b.used += max(n, 0)
	b.mu.Unlock()
	return b.releaser(max(n, 0))
}

func (b *memBudget) releaser(n int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.used -= n
			b.grant()
			b.mu.Unlock()
		})
	}
}

// grant wakes the waiters at the head of the line whose bytes are free.
// b.mu is held.
func (b *memBudget) grant() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if b.used+w.n > b.total {
			return
		}
		b.used += w.n
		b.waiters = b.waiters[1:]
		close(w.ready)
	}
}

// Bytes a pixel costs on each path, from what the decoders, operations
// and encoders allocate (see footprint).
const (
	rgbaBytes       = 4       // one RGBA pixel
	wideBytes       = 16      // one pixel of resampleArea's intermediate image
	blurBytes       = 8       // one pixel of gaussianBlur's box sums
	jpegPlaneBytes  = 1       // one component's plane
	jpegCoefBytes   = 2       // one component's coefficients, progressive: int16
	pngStdBytes     = 13      // image/png (interlaced, 16-bit): rows, NRGBA64, RGBA
	xImageBytes     = 8       // the x/image decoders' own image, then RGBA
	gifScreenBytes  = 9       // the canvas, the previous canvas, a frame's indices
	webpPlaneBytes  = 2       // a lossy WebP's 4:2:0 planes and the decoder's rows
	streamRowsCount = 32      // rows a streamed PNG holds while resampling
	gifAnimBytes    = 14      // gifAnimation: the shown canvas, the pending frame, indices, masks
	webpAnimBytes   = 8       // webpAnimation: the previous frame, the changed rectangle
	webpLossyBytes  = 8       // the lossy WebP encoder's working images
	webpVP8LBytes   = 36      // the lossless one's: hash chains, references, transforms
	pngEncodeBytes  = 1 << 20 // compress/flate's window and hash tables
)

// source is what footprint knows of a source: its header and the facts
// of its layout that change what decoding it costs, all read without
// decoding.
type source struct {
	header
	bytes       int
	progressive bool // a progressive JPEG
	components  int  // a JPEG's components: 1 grey, 3 YCbCr, 4 CMYK
	lossless    bool // a WebP coded lossless (VP8L)
	alpha       bool // a lossy WebP with an alpha plane (ALPH)
	rowByRow    bool // a PNG our decoder reads row by row (not interlaced, not 16-bit)
	animated    bool // an animated GIF (frames > 1) or WebP: decoded as walked
	gif         gifLayout
	// colour is the colour information the header carries (icc.go);
	// colourErr says why it cannot be read (the source is then taken as
	// sRGB, and newPlan logs it).
	colour    sourceColour
	colourErr error
	channels  int // colour channels the pixels have: 1, 3 or 4 (sourceChannels)
}

// inspectSource reads data's header for footprint and newPlan: each
// request reads it once.
func inspectSource(data []byte) (source, error) {
	h, l, err := inspectLayout(data)
	if err != nil {
		return source{}, err
	}
	s := source{header: h, bytes: len(data), gif: l}
	switch h.format {
	case formatGIF:
		s.animated = h.frames > 1
	case formatJPEG:
		s.progressive, s.components = jpegFrame(data)
	case formatWebP:
		s.animated = webpAnimated(data)
		if l, err := webpLayoutOf(data); err == nil {
			s.lossless, s.alpha = l.vp8 == nil, l.alph != nil
		}
	case formatPNG: // IHDR: depth at 24, colour type at 25, interlace at 28
		if len(data) > 28 {
			depth, ct := data[24], data[25]
			s.rowByRow = data[28] == 0 && depth != 16 && (ct == 3 || depth == 8)
		}
	}
	s.colour, s.colourErr = readColour(h.format, data)
	s.channels = sourceChannels(h.format, data)
	return s, nil
}

// footprint estimates the most bytes that transforming r holds at once:
// the source bytes, the decoded source (after shrink-on-load), the extra
// images of flat operations, the largest step of the operation chain
// (its input, output and scratch images) and the encoded output (every
// frame of an animation, in a buffer that grows by doubling). It is
// read from the headers, meant as an upper bound for the paths picfit
// takes; BENCHMARKS.md holds it against measured peaks.
func footprint(src source, extras []source, r *request, eo engineOptions, format format) estimate {
	total, shrink := decodeFootprint(src, r.ops, eo)
	total += int64(src.bytes)
	W, H := src.width, src.height // upright
	if src.orientation >= 5 {
		W, H = H, W
	}
	first := 0 // the first operation whose input is a new image
	if src.format == formatGIF {
		first = -1 // every frame's canvas is copied into the chain
	}

	var extra int64 // flat's images: their bytes, and one decoded at a time
	for _, e := range extras {
		total += int64(e.bytes)
		extra = max(extra, int64(e.width)*int64(e.height)*xImageBytes)
	}
	total += extra

	// The operation chain on one frame: its largest step.
	w, h := W, H
	var step int64
	for i, op := range r.ops {
		s := int64(1)
		if i == 0 {
			s = shrink
		}
		ow, oh, scratch := opOutput(op, w, h, max(s, 1), eo.maxOutputPixels)
		if s == 0 { // streamed: no scratch image, no input image
			scratch = 0
		}
		cost := int64(ow)*int64(oh)*rgbaBytes + scratch
		if i > first && s > 0 {
			cost += int64(w) * int64(h) * rgbaBytes / (s * s)
		}
		step = max(step, cost)
		w, h = ow, oh
	}
	total += step

	e := estimate{width: w, height: h, frames: 1}
	if (format == formatGIF || format == formatWebP) && src.frames > 1 {
		e.animated, e.frames = true, src.frames
		per := int64(webpAnimBytes)
		if format == formatGIF {
			per = gifAnimBytes
		}
		total += int64(w) * int64(h) * per
	}
	e.bytes = total + 2*int64(e.frames)*encodedBound(format, w, h)
	switch format {
	case formatPNG:
		e.bytes += pngEncodeBytes
	case formatWebP:
		// Lossless when asked, or for a picture of few colours: not
		// known before decoding, so for any source but a photo.
		per := int64(webpVP8LBytes)
		if src.format == formatJPEG && !r.lossless {
			per = webpLossyBytes
		}
		e.bytes += int64(w) * int64(h) * per
	}
	return e
}

// estimate is footprint's answer: the bytes, and the output's size.
type estimate struct {
	bytes         int64
	width, height int
	frames        int
	animated      bool
}

// totalPixels is width*height*frames, saturating.
func (e estimate) totalPixels() int64 {
	n := int64(e.width) * int64(e.height)
	if n > 0 && int64(e.frames) > (1<<63-1)/n {
		return 1<<63 - 1
	}
	return n * int64(e.frames)
}

// decodeFootprint is what decoding src for ops holds on the route its
// plan takes: the decoder's planes or rows and the image it leaves,
// 1/shrink of the source's size (shrink 0: resampled by ops' first
// operation as its rows come).
func decodeFootprint(src source, ops []operation, eo engineOptions) (bytes, shrink int64) {
	pl := planDecode(src, ops, eo, nil)
	W, H := src.upright()
	turned := int64(0) // a copy to turn the image upright
	if src.orientation != 1 {
		turned = rgbaBytes
	}
	px := int64(W) * int64(H)
	switch src.format {
	case formatJPEG:
		hintW, hintH := pl.hint.X, pl.hint.Y
		shrink = int64(shrinkOnLoad(src.header, hintW, hintH))
		dpx := (int64(src.width)/shrink + 1) * (int64(src.height)/shrink + 1)
		n := int64(max(src.components, 1))
		bytes = dpx * n * jpegPlaneBytes
		if src.progressive {
			bytes += dpx * n * jpegCoefBytes
		}
		if hintW == 0 || hintH == 0 || n == 4 { // to RGBA, not resampled from planes
			bytes += dpx * (rgbaBytes + turned)
		}
		return bytes, shrink
	case formatPNG:
		switch {
		case pl.route == routePNGRows:
			return int64(W) * streamRowsCount * (rgbaBytes + wideBytes), 0
		case src.rowByRow:
			return px * (rgbaBytes + turned), 1
		}
		return px * (pngStdBytes + turned), 1
	case formatGIF:
		return px * gifScreenBytes, 1
	case formatWebP:
		return webpDecodeFootprint(pl)
	}
	return px * (xImageBytes + turned), 1 // bmp
}

// webpDecodeFootprint is decodeFootprint for a WebP (webpdec.go) planned
// by pl: a lossy one without alpha goes to 4:2:0 planes when the first
// operation shrinks it (at half size from 4x), a lossless one or one with
// alpha is streamed row by row from the whole decoded picture when the
// first operation resamples it; others are decoded whole to RGBA.
func webpDecodeFootprint(pl *plan) (bytes, shrink int64) {
	src := pl.src
	W, H := src.width, src.height
	px := int64(W) * int64(H)
	turned := int64(0)
	if src.orientation != 1 {
		turned = rgbaBytes
	}
	switch {
	case pl.route == routeShrunk || pl.route == routePlanesToJPEG:
		shrink = 1
		if W >= vp8HalfShrink*pl.hint.X && H >= vp8HalfShrink*pl.hint.Y {
			shrink = 2
		}
		return px / (shrink * shrink) * webpPlaneBytes, shrink
	case pl.route == routeWebPRows:
		if src.lossless {
			return px * rgbaBytes, 0 // its ARGB pixels, then rows
		}
		return px * (webpPlaneBytes + 1 + rgbaBytes), 0 // planes, alpha (decoded as VP8L pixels), then rows
	case src.lossless:
		return px * (2*rgbaBytes + turned), 1 // ARGB pixels, RGBA
	}
	return px * (webpPlaneBytes + 1 + 2*rgbaBytes + turned), 1
}

// uploadFootprint is what checkUpload's decode of an upload holds besides
// its bytes: a JPEG decoded at 1/8 to planes, anything else whole.
func uploadFootprint(src source, eo engineOptions) int64 {
	var ops []operation
	if src.format == formatJPEG {
		ops = []operation{{kind: opResize, w: 1, h: 1}} // as checkUpload decodes a JPEG: at 1/8
	}
	bytes, _ := decodeFootprint(src, ops, eo)
	return bytes
}

// opOutput is the size op makes of a w×h frame, and the scratch bytes it
// allocates on the way; the frame may be held 1/shrink as large, as a
// JPEG decoded smaller is.
func opOutput(op operation, w, h int, shrink int64, maxPixels int64) (ow, oh int, scratch int64) {
	switch op.kind {
	case opResize, opThumbnail, opFit, opPad:
		p, ok, err := planScale(op, w, h, maxPixels)
		if err != nil || !ok || p.keep {
			return w, h, 0 // unchanged, or refused before it allocates
		}
		ow, oh = p.w, p.h
		scratch = max(int64(ow)*int64(p.ch), int64(p.cw)*int64(oh)) / shrink * wideBytes
		if p.padW > 0 {
			scratch += int64(ow) * int64(oh) * rgbaBytes
			ow, oh = p.padW, p.padH
		}
		return ow, oh, scratch
	case opRotate:
		if op.deg != 180 {
			return h, w, 0
		}
	case opEffect:
		return w, h, int64(w) * int64(h) * max(blurBytes, wideBytes)
	case opFlat:
		return w, h, int64(w) * int64(h) * rgbaBytes // the images scaled to their cells
	}
	return w, h, 0
}

// encodedBound is at most the bytes an encoder writes for one w×h frame.
func encodedBound(format format, w, h int) int64 {
	px := int64(w) * int64(h)
	switch format {
	case formatGIF:
		return px*3/2 + 1024 // LZW can grow incompressible indices by half
	case formatJPEG:
		return px*2 + 1024
	}
	return px*rgbaBytes + px/8 + 1024 // bmp, png, lossless webp: raw and overheads
}

// jpegFrame reads a JPEG's frame header (the first SOFn marker segment,
// found by walking the segments before it): whether it is progressive,
// and its number of components; 0 components when there is none.
func jpegFrame(data []byte) (progressive bool, components int) {
	for p := 2; p+4 <= len(data); {
		if data[p] != 0xff {
			return false, 0
		}
		m := data[p+1]
		if m == 0xff { // fill byte
			p++
			continue
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			if p+9 < len(data) {
				components = int(data[p+9]) // length 2, precision 1, height 2, width 2
			}
			return m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce, components
		}
		p += 2 + (int(data[p+2])<<8 | int(data[p+3]))
	}
	return false, 0
}

// byteSize is a number of bytes written in JSON as a number or a string
// with a unit: "512MiB", "1.5GB", "200000000".
type byteSize int64

func (b *byteSize) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	const want = `want a number of bytes or a size like "512MiB"`
	s := string(data)
	if data[0] == '"' {
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("%s: %v", want, err)
		}
	}
	n, err := parseByteSize(s)
	if err != nil {
		return fmt.Errorf("%s: %v", want, err)
	}
	*b = byteSize(n)
	return nil
}

// byteUnits are the units parseByteSize takes, SI and binary.
var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseByteSize reads "512MiB", "1.5 GB", "64m" or "1048576".
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	v, err := strconv.ParseFloat(num, 64)
	mult, ok := byteUnits[unit]
	if err != nil || !ok || v < 0 || v*mult >= 1<<62 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return int64(v * mult), nil
}

// formatBytes writes n in binary units, as people read them.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// memoryHeadroom is what the Go runtime's soft memory limit leaves above
// the budget for everything else picfit holds: connections, the kv
// cache, buffers of responses being written.
const memoryHeadroom = 64 << 20

// memoryBudget is options.max_memory, or its default.
func memoryBudget(o optionsConfig) int64 {
	if o.MaxMemory > 0 {
		return int64(o.MaxMemory)
	}
	return defaultMaxMemory()
}

// fallbackMemory is the machine memory assumed where it cannot be read.
const fallbackMemory = 2 << 30

// defaultMaxMemory is the budget when options.max_memory is not set:
// half of the machine's memory, or of the cgroup's limit when the process
// runs under a smaller one (a container), leaving the rest to the kernel,
// the page cache and what picfit holds besides images.
func defaultMaxMemory() int64 {
	return machineMemory() / 2
}

// machineMemory reads the memory the process may use on Linux; elsewhere
// (or when it cannot be read) it is fallbackMemory.
func machineMemory() int64 {
	total := int64(fallbackMemory)
	if n, err := memInfoTotal("/proc/meminfo"); err == nil {
		total = n
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && n < total {
			total = n
		}
	}
	return total
}

// memInfoTotal reads MemTotal from a /proc/meminfo file.
func memInfoTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no MemTotal")
}
