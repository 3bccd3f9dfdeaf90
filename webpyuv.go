package main

import (
	"image"
)

// Converting a VP8 picture's planes to RGB as libwebp does.
//
// VP8 stores BT.601 Y'CbCr in video range (luma 16..235, chroma
// 16..240), not JFIF's full range: reading it with the JPEG conversion
// lifts blacks and dims whites. libwebp (dwebp, browsers) converts with
// 14-bit fixed-point coefficients (src/dsp/yuv.h) after upsampling the
// 4:2:0 chroma "fancily": each pixel's chroma is a 9-3-3-1 blend of the
// four nearest chroma samples (src/dsp/upsampling.c), the samples sitting
// at the centre of their 2x2 pixels. webpFancyRow reproduces both,
// rounding included, so that a decoded VP8 picture matches dwebp's bit
// for bit.

// webpYUVToR, webpYUVToG and webpYUVToB are libwebp's VP8YUVToR, ..G and
// ..B: mulhi(y·19077) + mulhi(v·26149) − 14234 and so on, with 6
// fractional bits, clipped to 0..255.
func webpYUVToR(y, v int32) uint8 {
	return webpClip8((y*19077)>>8 + (v*26149)>>8 - 14234)
}

func webpYUVToG(y, u, v int32) uint8 {
	return webpClip8((y*19077)>>8 - (u*6419)>>8 - (v*13320)>>8 + 8708)
}

func webpYUVToB(y, u int32) uint8 {
	return webpClip8((y*19077)>>8 + (u*33050)>>8 - 17685)
}

func webpClip8(v int32) uint8 {
	if uint32(v) < 256<<6 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// webpFancyRow converts one row of w pixels to opaque RGBA in dst (4·w
// bytes): y is the row's luma, nu/nv the chroma row nearest to it and
// fu/fv the other one that the row lies between (the same row at the top
// and bottom edges). Pixel 2x−1 and 2x take 9/16 of their nearest chroma
// sample (nu[x−1] and nu[x]), 3/16 of each of the two next and 1/16 of
// the farthest, with libwebp's two-step rounding; the first pixel, and
// the last of an even row, blend only vertically. uv is scratch of w
// words: the row's chroma is upsampled into it first (u in the low
// half), then converted with the luma in one tight loop.
func webpFancyRow(dst, y, nu, nv, fu, fv []byte, w int, uv []uint32) {
	if w <= 0 {
		return
	}
	dst = dst[:4*w]
	y = y[:w]
	uv = uv[:w]
	cw := (w + 1) / 2
	nu, nv, fu, fv = nu[:cw], nv[:cw], fu[:cw], fv[:cw]
	tl := uint32(nu[0]) | uint32(nv[0])<<16 // near row, column x−1
	l := uint32(fu[0]) | uint32(fv[0])<<16  // far row, column x−1
	uv[0] = (3*tl + l + 0x00020002) >> 2 & 0x00ff00ff
	last := (w - 1) >> 1
	for x := 1; x <= last; x++ {
		t := uint32(nu[x]) | uint32(nv[x])<<16
		c := uint32(fu[x]) | uint32(fv[x])<<16
		avg := tl + t + l + c + 0x00080008
		d12 := (avg + 2*(t+l)) >> 3
		d03 := (avg + 2*(tl+c)) >> 3
		uv[2*x-1] = (d12 + tl) >> 1 & 0x00ff00ff
		uv[2*x] = (d03 + t) >> 1 & 0x00ff00ff
		tl, l = t, c
	}
	if w&1 == 0 {
		uv[w-1] = (3*tl + l + 0x00020002) >> 2 & 0x00ff00ff
	}
	for i, c := range uv {
		yy, u, v := int32(y[i]), int32(c&0xff), int32(c>>16)
		p := dst[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = webpYUVToR(yy, v), webpYUVToG(yy, u, v), webpYUVToB(yy, u), 0xff
	}
}

// webpChromaRows are the chroma rows that pixel row y of an image h rows
// high lies between: near, then far (libwebp's EmitFancyRGB pairs rows
// 2k−1 and 2k around chroma rows k−1 and k).
func webpChromaRows(y, h int) (near, far int) {
	ch := (h + 1) / 2
	near = y >> 1
	if y&1 == 0 {
		far = near - 1
	} else {
		far = near + 1
	}
	far = min(max(far, 0), ch-1)
	return near, far
}

// webpPlanesToRGBA converts a decoded VP8 picture (4:2:0 planes, and an
// alpha plane or nil) to premultiplied RGBA with webpFancyRow.
func webpPlanesToRGBA(m *image.YCbCr, alpha []byte, astride int) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	uv := make([]uint32, w)
	for y := range h {
		near, far := webpChromaRows(y, h)
		d := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		yo, no, fo := y*m.YStride, near*m.CStride, far*m.CStride
		webpFancyRow(d, m.Y[yo:], m.Cb[no:], m.Cr[no:], m.Cb[fo:], m.Cr[fo:], w, uv)
		if alpha != nil {
			webpApplyAlpha(d, alpha[y*astride:y*astride+w])
		}
	}
	return dst
}

// webpApplyAlpha sets the alpha of the opaque RGBA row d from a and
// premultiplies it.
func webpApplyAlpha(d, a []byte) {
	d = d[:4*len(a)]
	for i, av := range a {
		if av == 0xff {
			continue
		}
		p := d[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = premul(p[0], av), premul(p[1], av), premul(p[2], av), av
	}
}
