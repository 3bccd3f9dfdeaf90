package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"math"
)

// Reading WebP sources with our own decoders.
//
// webpLayoutOf walks the RIFF container. A still picture is decoded by
// decodeVP8 (lossy: VP8, RFC 6386), with its ALPH alpha, or by
// decodeVP8L (lossless); an animation frame by frame (webpanim.go). What
// a lossy picture without alpha becomes depends on the first operation
// (decodeWebPPicture):
//   - when it scales the picture down, the 4:2:0 planes go to
//     planar.go's resampler, as a JPEG's do: luma and chroma are
//     filtered each at its own resolution and converted to RGB only at
//     the output size, or not at all when the output is a JPEG (4:2:0
//     straight to the encoder). That beats converting the full-size
//     picture to RGBA and streaming it through stream.go's RGBA row
//     resampler: the conversion and the RGBA filtering (4 channels a
//     pixel instead of 1.5) were most of the time after the VP8 decode
//     itself, and the planes take 1.5 bytes a pixel (0.375 at half
//     size), less than the RGBA rows would have cost in full;
//   - otherwise the planes are converted to RGBA at full size with
//     libwebp's upsampling and matrix (webpyuv.go).
// Pictures with alpha and lossless ones are decoded to RGBA at full size.

// vp8HalfShrink is the least shrink, both ways, at which a VP8 picture
// is decoded at half size (vp8Options.half): the resample is then left
// a shrink of 2x or more, the rule of the JPEG path.
const vp8HalfShrink = 4

// webpLayout is what webpLayoutOf finds in a WebP file: the first of
// each chunk that a still picture is made of.
type webpLayout struct {
	vp8, vp8l, alph []byte // chunk payloads, or nil
	vp8x            []byte
	animated        bool
}

// webpLayoutOf walks the chunks of a RIFF WebP file. It fails on a chunk
// that runs past the end of the data.
func webpLayoutOf(data []byte) (webpLayout, error) {
	var l webpLayout
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return l, corrupt(formatWebP, "not a RIFF WebP file")
	}
	riff := int64(binary.LittleEndian.Uint32(data[4:8])) + 8
	if riff < int64(len(data)) {
		data = data[:riff] // trailing bytes after the RIFF chunk are not ours
	}
	first := func(dst *[]byte, b []byte) {
		if *dst == nil {
			*dst = b
		}
	}
	p := 12
	for p+8 <= len(data) {
		id := string(data[p : p+4])
		n := int64(binary.LittleEndian.Uint32(data[p+4 : p+8]))
		p += 8
		if n > int64(len(data)-p) {
			return l, corrupt(formatWebP, "chunk "+id+" past the end")
		}
		payload := data[p : p+int(n) : p+int(n)]
		p += int(n) + int(n&1)
		switch id {
		case "VP8 ":
			first(&l.vp8, payload)
		case "VP8L":
			first(&l.vp8l, payload)
		case "ALPH":
			first(&l.alph, payload)
		case "ANIM", "ANMF":
			l.animated = true
		case "VP8X":
			first(&l.vp8x, payload)
			if len(payload) > 0 && payload[0]&(1<<1) != 0 {
				l.animated = true
			}
		}
	}
	return l, nil
}

// webpConfig is the size of a WebP: its VP8X canvas, or its frame's.
func webpConfig(data []byte) (w, h int, err error) {
	l, err := webpLayoutOf(data)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case l.vp8x != nil:
		if len(l.vp8x) < 10 {
			return 0, 0, corrupt(formatWebP, "short VP8X chunk")
		}
		get24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
		return get24(l.vp8x[4:]) + 1, get24(l.vp8x[7:]) + 1, nil
	case l.vp8 != nil:
		fi, err := parseVP8Frame(l.vp8)
		return fi.width, fi.height, err
	case l.vp8l != nil:
		return vp8lSize(l.vp8l)
	}
	return 0, 0, corrupt(formatWebP, "no image chunk")
}

// decodeWebPPicture decodes a still WebP with header h into p. A lossy
// picture without alpha goes to planes for planar.go's resampler when
// the first operation scales it down to hintW×hintH (displayed); shrunk
// 4x or more both ways, it is decoded at half size (see
// vp8Options.half), as a JPEG would be. Anything else is decoded to RGBA
// at full size: lossy with libwebp's upsampling and matrix, its alpha
// from the ALPH chunk; lossless as it is.
func decodeWebPPicture(ctx context.Context, p *picture, l webpLayout, h header, hintW, hintH int) error {
	p.width, p.height = h.width, h.height
	if h.orientation >= 5 {
		p.width, p.height = h.height, h.width
	}
	if l.vp8 == nil {
		if l.vp8l == nil {
			return corrupt(formatWebP, "no image chunk")
		}
		// The limits were checked on h, which may come from a VP8X
		// chunk: the frame must be that size before it is decoded.
		if w, ht, err := vp8lSize(l.vp8l); err != nil || w != h.width || ht != h.height {
			return corrupt(formatWebP, "VP8L frame size differs from the canvas's")
		}
		img, err := decodeVP8L(l.vp8l, ctx.Err)
		if err != nil {
			return err
		}
		p.still, err = orient(ctx, toRGBA(img), h.orientation)
		return err
	}
	fi, err := parseVP8Frame(l.vp8)
	if err != nil {
		return err
	}
	if fi.width != h.width || fi.height != h.height {
		return corrupt(formatWebP, "VP8 frame size differs from the canvas's")
	}
	planar := hintW > 0 && hintH > 0 && l.alph == nil
	if h.orientation >= 5 {
		hintW, hintH = hintH, hintW
	}
	half := planar && h.width >= vp8HalfShrink*hintW && h.height >= vp8HalfShrink*hintH
	m, err := decodeVP8(l.vp8, vp8Options{half: half, check: ctx.Err})
	if err != nil {
		return err
	}
	if !planar {
		var alpha []byte
		if l.alph != nil {
			if alpha, err = decodeAlpha(l.alph, h.width, h.height); err != nil {
				return err
			}
		}
		p.still, err = orient(ctx, webpPlanesToRGBA(m, alpha, h.width), h.orientation)
		return err
	}
	scale := 1.0
	if half {
		scale = 2
	} else {
		webpFullRange(m)
	}
	p.kind, p.planes, p.orientation = picturePlanes, webpPlanes(m), h.orientation
	w, ht := m.Rect.Dx(), m.Rect.Dy()
	p.x, p.y = orientSpans(span{0, float64(h.width) / scale}, span{0, float64(h.height) / scale}, w, ht, h.orientation)
	return nil
}

// decodeAlpha decodes an ALPH chunk's w×h alpha plane: raw or lossless
// (a VP8L image stream whose green channel is the alpha), then
// unfiltered (none, horizontal, vertical, gradient) as libwebp does.
// The level-reduction flag needs nothing from a decoder.
func decodeAlpha(data []byte, w, h int) ([]byte, error) {
	if len(data) < 1 {
		return nil, corrupt(formatWebP, "empty ALPH chunk")
	}
	method, filter, pre, rsrv := data[0]&3, data[0]>>2&3, data[0]>>4&3, data[0]>>6
	if method > 1 || pre > 1 || rsrv != 0 {
		return nil, corrupt(formatWebP, "bad ALPH header")
	}
	alpha := make([]byte, w*h)
	if method == 0 {
		if len(data)-1 < w*h {
			return nil, corrupt(formatWebP, "truncated alpha")
		}
		copy(alpha, data[1:])
	} else {
		d := &vp8lDec{r: lsbReader{buf: data[1:]}}
		pix, err := d.imageStream(w, h)
		if err != nil {
			return nil, err
		}
		for i, c := range pix {
			alpha[i] = uint8(c >> 8)
		}
	}
	for y := range h {
		row := alpha[y*w : y*w+w]
		var prev []byte
		if y > 0 {
			prev = alpha[(y-1)*w : y*w]
		}
		switch {
		case filter == 0:
		case prev == nil || filter == 1: // horizontal (and the first row of all)
			pred := uint8(0)
			if prev != nil {
				pred = prev[0]
			}
			for i := range row {
				row[i] += pred
				pred = row[i]
			}
		case filter == 2: // vertical
			for i := range row {
				row[i] += prev[i]
			}
		default: // gradient
			left, topLeft := prev[0], prev[0]
			for i := range row {
				top := prev[i]
				g := int(left) + int(top) - int(topLeft)
				row[i] += uint8(min(max(g, 0), 255))
				left, topLeft = row[i], top
			}
		}
	}
	return alpha, nil
}

// webpFullRange moves a VP8 picture's planes from video range to full
// range in place: BT.601 is the matrix of both VP8 and JFIF, so the two
// differ only by a scale and an offset per component (Y' = (Y−16)·255/219,
// C' = (C−128)·255/224 + 128), which this does rounded to bytes: at most
// half a level before the resample.
func webpFullRange(m *image.YCbCr) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	var ylut, clut [256]uint8
	for i := range 256 {
		ylut[i] = uint8(min(max(math.Round(float64(i-16)*255/219), 0), 255))
		clut[i] = uint8(min(max(math.Round(float64(i-128)*255/224+128), 0), 255))
	}
	remap := func(plane []uint8, stride, w, h int, lut *[256]uint8) {
		for y := range h {
			row := plane[y*stride : y*stride+w]
			for i, v := range row {
				row[i] = lut[v]
			}
		}
	}
	remap(m.Y, m.YStride, w, h, &ylut)
	remap(m.Cb, m.CStride, cw, ch, &clut)
	remap(m.Cr, m.CStride, cw, ch, &clut)
}

// webpPlanes hands a VP8 picture's planes, in full range (webpFullRange
// or vp8Options.half), to planar.go, which reads a JPEG decoder's
// components: JFIF Y'CbCr at 4:2:0, chroma centred on its 2x2 pixels (as
// VP8's is); the resampler's output then converts with the JPEG path's
// arithmetic.
func webpPlanes(m *image.YCbCr) *jpegDecoder {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	d := &jpegDecoder{width: w, height: h, scale: 1, bs: 8, ncomp: 3, jfif: true}
	d.comp[0] = jpegComponent{h: 2, v: 2, rx: 1, ry: 1, bs: 8, plane: m.Y, stride: m.YStride, vw: w, vh: h}
	d.comp[1] = jpegComponent{h: 1, v: 1, rx: 2, ry: 2, bs: 8, plane: m.Cb, stride: m.CStride, vw: cw, vh: ch}
	d.comp[2] = jpegComponent{h: 1, v: 1, rx: 2, ry: 2, bs: 8, plane: m.Cr, stride: m.CStride, vw: cw, vh: ch}
	return d
}

// webpRows is the plan's route for the still WebPs that have alpha or
// are lossless (routeWebPRows; the others take the planar path): their
// rows are converted one at a time and pushed into stream.go's
// rowResampler by the first operation, as a PNG's are, so the full-size
// RGBA image is never made.
func (pl *plan) webpRows(ctx context.Context, src []byte) (*picture, error) {
	if pl.firstErr != nil {
		return nil, fmt.Errorf("%s: %w", pl.ops[0].kind, pl.firstErr)
	}
	l, err := webpLayoutOf(src)
	if err != nil {
		return nil, err
	}
	img, err := decodeWebPRows(ctx, l, pl.src.header, pl.first)
	if err != nil {
		return nil, err
	}
	img = pl.first.finish(img)
	return &picture{kind: pictureScaled, format: formatWebP, width: img.Rect.Dx(), height: img.Rect.Dy(), still: img}, nil
}

// decodeWebPRows decodes a lossless WebP, or a lossy one with alpha, and
// resamples it by plan, a row at a time.
func decodeWebPRows(ctx context.Context, l webpLayout, h header, plan scalePlan) (*image.RGBA, error) {
	w := h.width
	rs := newRowResampler(w, plan)
	straight := rs.takeNRGBA() // rows may go unpremultiplied
	if l.vp8 == nil {
		if vw, vh, err := vp8lSize(l.vp8l); err != nil || vw != h.width || vh != h.height {
			return nil, corrupt(formatWebP, "VP8L frame size differs from the canvas's")
		}
		pix, err := decodeVP8LPixels(l.vp8l, ctx.Err)
		if err != nil {
			return nil, err
		}
		for y := range h.height {
			d := rs.rowBuf()
			for x, c := range pix[y*w : y*w+w] {
				u := c&0xff00ff00 | c>>16&0xff | c&0xff<<16 // ARGB to little-endian RGBA
				if !straight {
					u = premulPixel(u)
				}
				binary.LittleEndian.PutUint32(d[4*x:], u)
			}
			rs.push()
		}
		return rs.dst, nil
	}
	fi, err := parseVP8Frame(l.vp8)
	if err != nil {
		return nil, err
	}
	if fi.width != h.width || fi.height != h.height {
		return nil, corrupt(formatWebP, "VP8 frame size differs from the canvas's")
	}
	m, err := decodeVP8(l.vp8, vp8Options{check: ctx.Err})
	if err != nil {
		return nil, err
	}
	alpha, err := decodeAlpha(l.alph, h.width, h.height)
	if err != nil {
		return nil, err
	}
	uv := make([]uint32, w)
	for y := range h.height {
		near, far := webpChromaRows(y, h.height)
		d := rs.rowBuf()
		yo, no, fo := y*m.YStride, near*m.CStride, far*m.CStride
		webpFancyRow(d, m.Y[yo:], m.Cb[no:], m.Cr[no:], m.Cb[fo:], m.Cr[fo:], w, uv)
		a := alpha[y*w : y*w+w]
		if straight {
			for x, av := range a {
				d[4*x+3] = av
			}
		} else {
			webpApplyAlpha(d, a)
		}
		rs.push()
	}
	return rs.dst, nil
}
