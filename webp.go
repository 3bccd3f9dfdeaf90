package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"io"
)

// WebP output without cgo: the RIFF container (simple, extended with an
// ALPH chunk, animated), on top of our own VP8L (vp8l.go) and VP8
// (vp8.go) encoders. Why our own rather than a dependency: the only
// pure-Go encoders are either lossless only (HugoSmits86/nativewebp) or
// libwebp compiled to WebAssembly and run by an interpreter
// (gen2brain/webp over wazero: megabytes more binary, a runtime inside
// the process). A few thousand lines that we test against libwebp's
// dwebp and golang.org/x/image/webp keep the binary small and
// auditable.

// webpFewColors is the number of distinct colours up to which "webp"
// output is lossless: such images (logos, drawings, screenshots) code
// exactly through a palette and smaller than lossy.
const webpFewColors = 256

// webpMaxSide is the largest width or height of a WebP: VP8 codes 14
// bits of it (VP8L's 14 bits hold size-1, one more, but libwebp's
// WEBP_MAX_DIMENSION is 16383 for both, and so is ours).
const webpMaxSide = 1<<14 - 1

// encodeWebP writes img as WebP: lossy at quality 1..100, or lossless when
// lossless is true. Transparency is kept in both.
func encodeWebP(ctx context.Context, w io.Writer, img *image.RGBA, quality int, lossless bool) error {
	f, err := encodeWebPFrame(ctx, img, quality, lossless)
	if err != nil {
		return err
	}
	var b []byte
	width, height := img.Rect.Dx(), img.Rect.Dy()
	if f.alph != nil {
		b = appendVP8X(b, width, height, webpFlagAlpha)
	}
	b = f.append(b)
	return writeRIFF(w, b)
}

// webpLossless reports whether img goes out lossless: when asked, or
// when it has few colours.
func webpLossless(img *image.RGBA, asked bool) bool {
	return asked || countColors(img, webpFewColors) <= webpFewColors
}

// webpFrame is one coded image: a VP8L chunk, or a VP8 chunk after an
// optional ALPH chunk.
type webpFrame struct {
	lossless bool
	alpha    bool   // the image has transparent pixels
	alph     []byte // ALPH payload, lossy with alpha only
	data     []byte // VP8 or VP8L payload
}

// append appends the frame's chunks to b.
func (f webpFrame) append(b []byte) []byte {
	if f.lossless {
		return appendChunk(b, "VP8L", f.data)
	}
	if f.alph != nil {
		b = appendChunk(b, "ALPH", f.alph)
	}
	return appendChunk(b, "VP8 ", f.data)
}

// encodeWebPFrame codes one frame. The coders poll ctx once a row of
// macroblocks or tiles, or every vp8lPoll pixels.
func encodeWebPFrame(ctx context.Context, img *image.RGBA, quality int, lossless bool) (webpFrame, error) {
	if err := ctx.Err(); err != nil {
		return webpFrame{}, fmt.Errorf("encode webp: %w", err)
	}
	width, height := img.Rect.Dx(), img.Rect.Dy()
	if width < 1 || height < 1 || width > webpMaxSide || height > webpMaxSide {
		return webpFrame{}, fmt.Errorf("encode webp: %w: %dx%d is outside 1..%d", errTooLarge, width, height, webpMaxSide)
	}
	if quality < 1 || quality > 100 {
		return webpFrame{}, fmt.Errorf("encode webp: %w: quality %d not in 1..100", errBadParam, quality)
	}
	f := webpFrame{lossless: lossless, alpha: !rgbaOpaque(img)}
	if lossless {
		var err error
		if f.data, err = encodeVP8L(ctx, argbPixels(img), width, height, f.alpha, true); err != nil {
			return webpFrame{}, fmt.Errorf("encode webp: %w", err)
		}
		return f, nil
	}
	data, err := encodeVP8(ctx, img, quality)
	if err != nil {
		return webpFrame{}, fmt.Errorf("encode webp: %w", err)
	}
	f.data = data
	if f.alpha {
		// Compression 1 (VP8L without its header), no filter: the
		// predictor transform does a filter's work.
		alph, err := encodeVP8L(ctx, alphaPixels(img), width, height, false, false)
		if err != nil {
			return webpFrame{}, fmt.Errorf("encode webp: %w", err)
		}
		f.alph = append([]byte{1}, alph...)
	}
	return f, nil
}

// argbPixels returns img's pixels as VP8L wants them: ARGB words, not
// premultiplied. A colour whose alpha is neither 0 nor 255 is the one
// that premultiplies back (as toRGBA does) to img's exact value, so a
// lossless round trip gives img again.
func argbPixels(img *image.RGBA) []uint32 {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := make([]uint32, w*h)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		o := out[y*w : y*w+w]
		for x := range o {
			p := row[x*4 : x*4+4 : x*4+4]
			a := uint32(p[3])
			r, g, b := uint32(p[0]), uint32(p[1]), uint32(p[2])
			switch a {
			case 0:
				r, g, b = 0, 0, 0
			case 255:
			default:
				r, g, b = unpremultiply(r, a), unpremultiply(g, a), unpremultiply(b, a)
			}
			o[x] = a<<24 | r<<16 | g<<8 | b
		}
	}
	return out
}

// unpremultiply returns the colour value that premultiplies by alpha a
// (1..254) to c, the way toRGBA and draw.Draw premultiply.
func unpremultiply(c, a uint32) uint32 {
	premul := func(u uint32) uint32 { return u * (a * 0x101) / 0xff >> 8 }
	u := min((c*255+a/2)/a, 255)
	for u > 0 && premul(u) > c {
		u--
	}
	for u < 255 && premul(u) < c {
		u++
	}
	return u
}

// alphaPixels returns img's alpha as the green of VP8L pixels, the way
// an ALPH chunk codes it.
func alphaPixels(img *image.RGBA) []uint32 {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	out := make([]uint32, w*h)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for x := range w {
			out[y*w+x] = uint32(row[x*4+3]) << 8
		}
	}
	return out
}

// countColors counts img's distinct colours, stopping at limit+1.
func countColors(img *image.RGBA, limit int) int {
	const slots = 4096 // key+1 so that 0 is empty; limit must stay well below
	var keys [slots]uint64
	n := 0
	w, h := img.Rect.Dx(), img.Rect.Dy()
	last := uint64(0)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		for x := 0; x < len(row); x += 4 {
			p := binary.LittleEndian.Uint32(row[x:])
			c := uint64(p) + 1
			if c == last {
				continue
			}
			last = c
			s := (p * 0x9e3779b1) >> 20
			for keys[s] != c && keys[s] != 0 {
				s = (s + 1) & (slots - 1)
			}
			if keys[s] == 0 {
				if n == limit {
					return n + 1
				}
				keys[s] = c
				n++
			}
		}
	}
	return n
}

// VP8X flags.
const (
	webpFlagAnimation = 1 << 1
	webpFlagAlpha     = 1 << 4
)

func appendVP8X(b []byte, width, height int, flags byte) []byte {
	p := make([]byte, 10)
	p[0] = flags
	put24(p[4:], width-1)
	put24(p[7:], height-1)
	return appendChunk(b, "VP8X", p)
}

func put24(b []byte, v int) {
	b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16)
}

// appendChunk appends a RIFF chunk, padded to an even size.
func appendChunk(b []byte, fourCC string, payload []byte) []byte {
	b = append(b, fourCC...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	if len(payload)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// writeRIFF writes the RIFF WEBP header, then chunks, given in parts so
// that an animation's frames are not copied once more.
func writeRIFF(w io.Writer, chunks ...[]byte) error {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	if n > 1<<32-1-4 {
		return fmt.Errorf("encode webp: %w: %d bytes is over the RIFF limit", errTooLarge, n)
	}
	head := make([]byte, 0, 12)
	head = append(head, "RIFF"...)
	head = binary.LittleEndian.AppendUint32(head, uint32(4+n))
	head = append(head, "WEBP"...)
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("encode webp: %w", err)
	}
	for _, c := range chunks {
		if _, err := w.Write(c); err != nil {
			return fmt.Errorf("encode webp: %w", err)
		}
	}
	return nil
}

// webpAnimation collects the frames of an animated WebP as they come,
// coded, so that only one decoded frame is alive at a time (and the last
// one's copy). A frame after the first is coded as the rectangle where
// it differs from the one before: blended over the canvas, with the
// unchanged pixels transparent, when it is lossless and turns no pixel
// (semi-)transparent; else replacing the rectangle as it is.
type webpAnimation struct {
	quality  int
	lossless bool // every frame lossless; otherwise frames with few colours are
	width    int
	height   int
	alpha    bool   // some frame has transparent pixels
	frames   []byte // ANMF chunks
	prev     []byte // the last frame's pixels
	n        int
}

func newWebPAnimation(quality int, lossless bool) *webpAnimation {
	return &webpAnimation{quality: quality, lossless: lossless}
}

// add codes a full-canvas frame shown for delay 1/100 s.
func (a *webpAnimation) add(ctx context.Context, img *image.RGBA, delay int) error {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if a.n == 0 {
		a.width, a.height = w, h
		a.prev = make([]byte, w*h*4)
	} else if w != a.width || h != a.height {
		return fmt.Errorf("encode webp: frame %d is %dx%d, want %dx%d", a.n, w, h, a.width, a.height)
	}
	r, blend := image.Rect(0, 0, w, h), false
	sub := img
	if a.n > 0 {
		r, blend = a.changed(img)
		sub = view(img, r.Min.X-img.Rect.Min.X, r.Min.Y-img.Rect.Min.Y, r.Dx(), r.Dy())
		if blend {
			sub = a.masked(img, r)
		}
	}
	lossless := webpLossless(sub, a.lossless)
	if blend && !lossless {
		// Lossy: code the rectangle as it is, over what was there.
		blend = false
		sub = view(img, r.Min.X-img.Rect.Min.X, r.Min.Y-img.Rect.Min.Y, r.Dx(), r.Dy())
		lossless = webpLossless(sub, a.lossless)
	}
	f, err := encodeWebPFrame(ctx, sub, a.quality, lossless)
	if err != nil {
		return err
	}
	for y := range h {
		copy(a.prev[y*w*4:(y+1)*w*4], img.Pix[y*img.Stride:y*img.Stride+w*4])
	}
	a.alpha = a.alpha || f.alpha
	head := make([]byte, 16)
	put24(head[0:], r.Min.X/2)
	put24(head[3:], r.Min.Y/2)
	put24(head[6:], r.Dx()-1)
	put24(head[9:], r.Dy()-1)
	put24(head[12:], min(max(delay, 0)*10, 1<<24-1))
	head[15] = 0x02 // do not blend, no disposal
	if blend {
		head[15] = 0
	}
	a.frames = appendChunk(a.frames, "ANMF", f.append(head))
	a.n++
	return nil
}

// changed returns the rectangle of img that differs from the last frame,
// its corner moved to even coordinates as ANMF wants (a 1x1 corner when
// nothing changed), and whether every changed pixel is opaque, so that
// the rectangle can be blended over the canvas.
func (a *webpAnimation) changed(img *image.RGBA) (r image.Rectangle, opaque bool) {
	w := a.width
	opaque = true
	for y := range a.height {
		cur := img.Pix[y*img.Stride : y*img.Stride+w*4]
		old := a.prev[y*w*4 : (y+1)*w*4]
		x0, x1 := -1, 0
		for x := 0; x < w; x++ {
			if binary.LittleEndian.Uint32(cur[x*4:]) == binary.LittleEndian.Uint32(old[x*4:]) {
				continue
			}
			if x0 < 0 {
				x0 = x
			}
			x1 = x + 1
			opaque = opaque && cur[x*4+3] == 255
		}
		if x0 >= 0 {
			r = r.Union(image.Rect(x0, y, x1, y+1))
		}
	}
	if r.Empty() {
		return image.Rect(0, 0, 1, 1), true
	}
	r.Min.X &^= 1
	r.Min.Y &^= 1
	return r, opaque
}

// masked returns the part r of img with the pixels that did not change
// since the last frame made transparent.
func (a *webpAnimation) masked(img *image.RGBA, r image.Rectangle) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		cur := img.Pix[y*img.Stride+r.Min.X*4 : y*img.Stride+r.Max.X*4]
		old := a.prev[(y*a.width+r.Min.X)*4 : (y*a.width+r.Max.X)*4]
		dst := m.Pix[(y-r.Min.Y)*m.Stride:]
		for i := 0; i < len(cur); i += 4 {
			if binary.LittleEndian.Uint32(cur[i:]) != binary.LittleEndian.Uint32(old[i:]) {
				copy(dst[i:i+4], cur[i:i+4])
			}
		}
	}
	return m
}

// finish writes the animation. loopCount follows image/gif: 0 loops
// forever, -1 plays once, n plays n+1 times.
func (a *webpAnimation) finish(w io.Writer, loopCount int) error {
	if a.n == 0 {
		return fmt.Errorf("encode webp: no frames")
	}
	loops := 0 // WebP: 0 forever, n plays n times
	switch {
	case loopCount < 0:
		loops = 1
	case loopCount > 0:
		loops = min(loopCount+1, 1<<16-1)
	}
	flags := byte(webpFlagAnimation)
	if a.alpha {
		flags |= webpFlagAlpha
	}
	b := appendVP8X(nil, a.width, a.height, flags)
	anim := make([]byte, 6) // background: transparent black
	binary.LittleEndian.PutUint16(anim[4:], uint16(loops))
	b = appendChunk(b, "ANIM", anim)
	return writeRIFF(w, b, a.frames)
}
