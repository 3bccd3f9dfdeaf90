package main

import (
	"encoding/binary"
	"image"
	"math"
)

// Reading WebP sources with our own decoders.
//
// webpLayoutOf walks the RIFF container. A lossy picture without alpha
// (the simple format, or VP8X with neither ALPH nor animation) is
// decoded by decodeVP8 to its 4:2:0 planes; what the picture becomes
// then depends on the first operation (decodeWebPPicture):
//   - when it scales the picture down, the planes go to planar.go's
//     resampler, as a JPEG's do: luma and chroma are filtered each at
//     its own resolution and converted to RGB only at the output size,
//     or not at all when the output is a JPEG (4:2:0 straight to the
//     encoder). That beats converting the full-size picture to RGBA and
//     streaming it through stream.go's RGBA resampler: the conversion
//     and the RGBA filtering (4 channels a pixel instead of 1.5) are
//     most of the time after the VP8 decode itself;
//   - otherwise the planes are converted to RGBA at full size with
//     libwebp's upsampling and matrix (webpyuv.go).
// The other layouts (alpha, lossless, animation) still go through
// golang.org/x/image/webp, with the colour conversion of webpyuv.go.

// vp8HalfShrink is the least shrink, both ways, at which a VP8 picture
// is decoded at half size (vp8Options.half): the resample is then left
// a shrink of 2x or more, the rule of the JPEG path.
const vp8HalfShrink = 4

// webpLayout is what webpLayoutOf finds in a WebP file.
type webpLayout struct {
	vp8      []byte // the VP8 chunk's payload, or nil
	alpha    bool   // an ALPH chunk, or a lossless (VP8L) picture
	lossless bool
	animated bool
}

// webpLayoutOf walks the chunks of a RIFF WebP file. It fails on a chunk
// that runs past the end of the data.
func webpLayoutOf(data []byte) (webpLayout, error) {
	var l webpLayout
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return l, corrupt("webp: not a RIFF WebP file")
	}
	riff := int64(binary.LittleEndian.Uint32(data[4:8])) + 8
	if riff < int64(len(data)) {
		data = data[:riff] // trailing bytes after the RIFF chunk are not ours
	}
	p := 12
	for p+8 <= len(data) {
		id := string(data[p : p+4])
		n := int64(binary.LittleEndian.Uint32(data[p+4 : p+8]))
		p += 8
		if n > int64(len(data)-p) {
			return l, corrupt("webp: chunk " + id + " past the end")
		}
		payload := data[p : p+int(n)]
		p += int(n) + int(n&1)
		switch id {
		case "VP8 ":
			if l.vp8 == nil {
				l.vp8 = payload
			}
		case "VP8L":
			l.lossless, l.alpha = true, true
		case "ALPH":
			l.alpha = true
		case "ANIM", "ANMF":
			l.animated = true
		case "VP8X":
			if len(payload) > 0 && payload[0]&(1<<1) != 0 {
				l.animated = true
			}
		}
	}
	return l, nil
}

// ownWebP is the VP8 chunk of a WebP that decodeVP8 decodes whole (a
// lossy picture without alpha or animation), or nil.
func ownWebP(data []byte) []byte {
	l, err := webpLayoutOf(data)
	if err != nil || l.alpha || l.lossless || l.animated {
		return nil
	}
	return l.vp8
}

// decodeWebPPicture decodes the VP8 chunk vp8 of a WebP with header h
// into p: to planes for planar.go's resampler when the first operation
// scales it down to hintW×hintH (displayed), else (0×0) to RGBA at full
// size. Shrunk 4x or more both ways, it is decoded at half size (see
// vp8Options.half), as a JPEG would be.
func decodeWebPPicture(p *picture, vp8 []byte, h header, hintW, hintH int) error {
	// The limits were checked on h, which may come from a VP8X chunk:
	// the frame must be that size before its planes are allocated.
	fi, err := parseVP8Frame(vp8)
	if err != nil {
		return err
	}
	if fi.width != h.width || fi.height != h.height {
		return corrupt("webp: VP8 frame size differs from the canvas's")
	}
	planar := hintW > 0 && hintH > 0
	if h.orientation >= 5 {
		hintW, hintH = hintH, hintW
	}
	half := planar && h.width >= vp8HalfShrink*hintW && h.height >= vp8HalfShrink*hintH
	m, err := decodeVP8(vp8, vp8Options{half: half})
	if err != nil {
		return err
	}
	p.width, p.height = h.width, h.height
	if h.orientation >= 5 {
		p.width, p.height = h.height, h.width
	}
	if !planar {
		p.still = orient(webpPlanesToRGBA(m, nil, 0), h.orientation)
		return nil
	}
	scale := 1.0
	if half {
		scale = 2
	} else {
		webpFullRange(m)
	}
	p.planes, p.orientation, p.shrunk = webpPlanes(m), h.orientation, true
	w, ht := m.Rect.Dx(), m.Rect.Dy()
	p.x, p.y = orientSpans(span{0, float64(h.width) / scale}, span{0, float64(h.height) / scale}, w, ht, h.orientation)
	return nil
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
