package main

import (
	"context"
	"image"
	"math"
	"sync"
)

// Resampling a JPEG's decoded planes straight to the output size.
//
// The general path makes the full-size image first: it upsamples the
// chroma of a subsampled JPEG, converts every pixel to RGBA and then
// resamples four channels. When the first operation scales a JPEG down,
// the planar path resamples the Y plane and the Cb and Cr planes instead,
// each from its own resolution, and converts to RGB only at the output
// size (or not at all: the JPEG encoder takes YCbCr). For a 4:2:0 photo
// that is 1.5 samples a pixel to filter instead of 4, and neither the
// upsampled chroma nor the full-size RGBA image is ever made.
//
// Chroma siting: a sample of a plane subsampled by r covers r pixels of
// the image and sits at their centre (JFIF's centred siting, which the
// upsampler of toRGBA follows too), so a span of the image is the same
// span divided by r in the plane, and the Lanczos weights come out of
// lanczosSpanWeights as for any other resample.
//
// The filter is the same Lanczos-3, in the same fixed point, as
// resampleArea's. YCbCr is an affine function of RGB, so filtering it is
// filtering RGB, but for the rounding and where the ringing is clamped
// (to 0..255 in YCbCr rather than in RGB).
//
// Each pass multiplies two samples at once, one in each 32-bit lane of a
// 64-bit word (see wideImage for the bounds that keep the lanes exact):
// the horizontal pass over Y carries two rows, its vertical pass two
// columns; the chroma passes carry Cb in the low lane and Cr in the high
// one. Between the passes the samples keep wideFracBits fractional bits
// and are not clamped.

// planar reports whether resampleRGBA and resampleYCbCr can take d's planes: grey, or
// YCbCr whose two chroma components have the same sampling.
func (d *jpegDecoder) planar() bool {
	model, err := d.colourModel()
	if err != nil {
		return false
	}
	switch model {
	case jpegGray:
		return true
	case jpegYCbCr:
		cb, cr := &d.comp[1], &d.comp[2]
		return cb.rx == cr.rx && cb.ry == cr.ry && cb.vw == cr.vw && cb.vh == cr.vh
	}
	return false
}

// inOrder runs fn over [0, n) on the calling goroutine. The planar
// passes do not split across processors as resize.go's filters do: the
// server already runs as many transforms at once as there are CPUs
// (max_processor_concurrent), so under load a split gains nothing and
// costs CPU time (the other core reads what this one wrote, threads wake
// and spin): for blinds w=800, 101 against 86 ms of server CPU a request
// in one bench/compare.sh run, though the machine's noise is as large.
// fn polls ctx once a row and returns early once it ends: inOrder then
// returns ctx's error.
func inOrder(ctx context.Context, n int, fn func(lo, hi int)) error {
	fn(0, n)
	return ctx.Err()
}

// planeSums is the precision of what the vertical passes return: sums
// with this many fractional bits.
const planeSums = weightBits + wideFracBits

// resampleRGBA scales the part x×y of the decoded image (in its pixels at
// the decoded scale, as stored, before any EXIF orientation) to w×h (both
// at least 1) with a Lanczos-3 filter, into an opaque RGBA image. d must
// be planar. Y, Cb and Cr go into the conversion to RGB with the
// precision of the sums, so that the only rounding is to the output
// bytes, as when the image is resampled in RGB.
func (d *jpegDecoder) resampleRGBA(ctx context.Context, x, y span, w, h int) (*image.RGBA, error) {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	lum, err := newLumaPass(ctx, &d.comp[0], x, y, w, h)
	if err != nil {
		return nil, err
	}
	defer lum.release()
	var chroma *chromaPass
	if d.ncomp == 3 {
		if chroma, err = newChromaPass(ctx, &d.comp[1], &d.comp[2], x, y, w, h); err != nil {
			return nil, err
		}
		defer chroma.release()
	}
	err = inOrder(ctx, h, func(lo, hi int) {
		ys := make([]int32, w)
		var cbs, crs []int32
		if chroma != nil {
			cbs, crs = make([]int32, w), make([]int32, w)
		}
		for j := lo; j < hi && ctx.Err() == nil; j++ {
			d := dst.Pix[j*dst.Stride : j*dst.Stride+4*w]
			lum.row(j, ys)
			if chroma == nil {
				for i, v := range ys {
					g := clamp8(v, planeSums)
					p := d[4*i : 4*i+4 : 4*i+4]
					p[0], p[1], p[2], p[3] = g, g, g, 0xff
				}
				continue
			}
			chroma.row(j, cbs, crs)
			ycbcrSumsRow(d, ys, cbs, crs)
		}
	})
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// ycbcrSumsRow converts a row of Y, Cb and Cr sums (planeSums fractional
// bits, not clamped) to opaque RGBA pixels with ycbcrToRGB's arithmetic
// carried out at their precision.
func ycbcrSumsRow(d []byte, ys, cbs, crs []int32) {
	cbs, crs = cbs[:len(ys)], crs[:len(ys)]
	const half = 128 << planeSums
	for x, yv := range ys {
		yy := int64(yv) * 0x10101
		cb1, cr1 := int64(cbs[x])-half, int64(crs[x])-half
		p := d[4*x : 4*x+4 : 4*x+4]
		p[0] = clip16(int32((yy + 91881*cr1) >> planeSums))
		p[1] = clip16(int32((yy - 22554*cb1 - 46802*cr1) >> planeSums))
		p[2] = clip16(int32((yy + 116130*cb1) >> planeSums))
		p[3] = 0xff
	}
}

// resampleYCbCr is resampleRGBA for the JPEG encoder: grey, or Y at w×h
// from the span x×y and the chroma at 4:2:0 (half the size, rounded up)
// from the span cx×cy, which covers two output pixels a chroma sample
// (past the image's last pixel when w or h is odd).
func (d *jpegDecoder) resampleYCbCr(ctx context.Context, x, y, cx, cy span, w, h int) (image.Image, error) {
	rect := image.Rect(0, 0, w, h)
	lum, err := newLumaPass(ctx, &d.comp[0], x, y, w, h)
	if err != nil {
		return nil, err
	}
	defer lum.release()
	var pix []byte
	var stride int
	var dst image.Image
	if d.ncomp == 1 {
		g := image.NewGray(rect)
		pix, stride, dst = g.Pix, g.Stride, g
	} else {
		m := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
		pix, stride, dst = m.Y, m.YStride, m
		cw, ch := (w+1)/2, (h+1)/2
		chroma, err := newChromaPass(ctx, &d.comp[1], &d.comp[2], cx, cy, cw, ch)
		if err != nil {
			return nil, err
		}
		err = inOrder(ctx, ch, func(lo, hi int) {
			cbs, crs := make([]int32, cw), make([]int32, cw)
			for j := lo; j < hi && ctx.Err() == nil; j++ {
				chroma.row(j, cbs, crs)
				o := j * m.CStride
				clampRow(m.Cb[o:o+cw], cbs)
				clampRow(m.Cr[o:o+cw], crs)
			}
		})
		chroma.release()
		if err != nil {
			return nil, err
		}
	}
	err = inOrder(ctx, h, func(lo, hi int) {
		ys := make([]int32, w)
		for j := lo; j < hi && ctx.Err() == nil; j++ {
			lum.row(j, ys)
			clampRow(pix[j*stride:j*stride+w], ys)
		}
	})
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// orientPlanes turns m, an *image.Gray or a 4:2:0 *image.YCbCr from
// resampleYCbCr, upright by EXIF orientation o: each plane's samples are
// moved, none is changed.
func orientPlanes(m image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return m
	}
	switch m := m.(type) {
	case *image.Gray:
		pix, w, h := orientPlane(m.Pix, m.Stride, m.Rect.Dx(), m.Rect.Dy(), o)
		return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
	case *image.YCbCr:
		y, w, h := orientPlane(m.Y, m.YStride, m.Rect.Dx(), m.Rect.Dy(), o)
		cw, ch := (m.Rect.Dx()+1)/2, (m.Rect.Dy()+1)/2
		cb, ocw, _ := orientPlane(m.Cb, m.CStride, cw, ch, o)
		cr, _, _ := orientPlane(m.Cr, m.CStride, cw, ch, o)
		return &image.YCbCr{Y: y, Cb: cb, Cr: cr, YStride: w, CStride: ocw,
			SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, w, h)}
	}
	return m
}

// orientPlane is the w×h plane src (rows stride bytes apart) turned
// upright by EXIF orientation o (2 to 8), as orient turns an image, and
// its size.
func orientPlane(src []byte, stride, w, h, o int) (dst []byte, dw, dh int) {
	dw, dh = w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst = make([]byte, dw*dh)
	for Y := range dh {
		row := dst[Y*dw : Y*dw+dw]
		for X := range row {
			var x, y int // the stored sample shown at (X, Y)
			switch o {
			case 2:
				x, y = w-1-X, Y
			case 3:
				x, y = w-1-X, h-1-Y
			case 4:
				x, y = X, h-1-Y
			case 5:
				x, y = Y, X
			case 6:
				x, y = Y, h-1-X
			case 7:
				x, y = w-1-Y, h-1-X
			case 8:
				x, y = w-1-Y, X
			}
			row[X] = src[y*stride+x]
		}
	}
	return dst, dw, dh
}

// clampRow rounds and clamps sums with planeSums fractional bits to bytes.
func clampRow(d []byte, sums []int32) {
	d = d[:len(sums)]
	for i, v := range sums {
		d[i] = clamp8(v, planeSums)
	}
}

// planeWeights are the filter weights that map the span s of the decoded
// image onto m samples, for a plane of n samples subsampled by r.
func planeWeights(s span, r, n, m int) *filterWeights {
	f := float64(r)
	return lanczosSpanWeights(n, span{s.from / f, s.size / f}, m)
}

// tapRows is the range of source rows that the taps of fw read.
func tapRows(fw *filterWeights) (lo, hi int) {
	lo, hi = math.MaxInt, 0
	for i := range fw.start {
		start, ws := fw.taps(i)
		lo, hi = min(lo, start), max(hi, start+len(ws))
	}
	return lo, hi
}

// wideRound rounds a weighted sum of 8-bit samples to wideFracBits
// fractional bits, as the intermediate image between the passes holds it.
func wideRound(v int32) int64 {
	const down = weightBits - wideFracBits
	return int64((v + 1<<(down-1)) >> down)
}

// lanes packs two signed samples into a word, a in the low lane.
func lanes(a, b int64) uint64 { return uint64(a + b<<32) }

// unlane splits a two-lane sum into its lanes (see unwide).
func unlane(s int64) (a, b int32) {
	a = int32(s)
	return a, int32((s - int64(a)) >> 32)
}

// lumaPass is one plane (Y, or grey) filtered horizontally, waiting for
// the vertical pass: tmp holds source rows r0 and on, a word per pair of
// output columns (column 2q in the low lane), pw words a row (rounded up
// to whole groups of four words; the last ones of a row may be unused).
type lumaPass struct {
	tmp   []uint64
	pw, w int
	r0    int
	wy    *filterWeights
}

// The passes filter four words at once, with one read of each weight:
// eight rows of a plane, or four rows of Cb and Cr, in the horizontal
// passes; four words of a row in the vertical ones.
const (
	lumaGroup   = 8 // rows per horizontal step over a plane
	chromaGroup = 4 // rows per horizontal step over Cb and Cr
)

// passPool keeps the passes' intermediate images (about 4 MB each for a
// 1920x1200 JPEG resized to 800 wide) from one request to the next:
// allocating them anew cost their clearing and most of the planar
// path's garbage. A cache of scratch memory, not state. Nothing stale
// reaches an output: the horizontal passes write every word that a
// vertical pass keeps a sum of; the padding words at the end of a row
// are read, and their sums dropped.
var passPool sync.Pool

// passWords returns n words from passPool, or new ones, not cleared.
func passWords(n int) []uint64 {
	if p, ok := passPool.Get().(*[]uint64); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]uint64, n)
}

// release returns the intermediate image to passPool.
func (l *lumaPass) release() {
	tmp := l.tmp
	passPool.Put(&tmp)
	l.tmp = nil
}

// release returns the intermediate image to passPool.
func (c *chromaPass) release() {
	tmp := c.tmp
	passPool.Put(&tmp)
	c.tmp = nil
}

// roundUp4 is n rounded up to a multiple of 4.
func roundUp4(n int) int { return (n + 3) &^ 3 }

// newLumaPass runs the horizontal pass over the rows of c's plane that
// the vertical pass will read, for scaling the span x×y to w×h.
func newLumaPass(ctx context.Context, c *jpegComponent, x, y span, w, h int) (*lumaPass, error) {
	wx := planeWeights(x, c.rx, c.vw, w)
	wy := planeWeights(y, c.ry, c.vh, h)
	r0, r1 := tapRows(wy)
	pw := roundUp4((w + 1) / 2)
	rows := r1 - r0
	groups := (rows + lumaGroup - 1) / lumaGroup // the last may repeat a row
	tmp := passWords(groups * lumaGroup * pw)
	err := inOrder(ctx, groups, func(lo, hi int) {
		// buf holds the group's rows, column by column: word 4x+j has
		// rows 2j and 2j+1 of column x.
		buf := make([]uint64, 4*c.vw)
		var src [lumaGroup][]byte
		for g := lo; g < hi && ctx.Err() == nil; g++ {
			top := r0 + g*lumaGroup
			for i := range src {
				r := min(top+i, r1-1)
				src[i] = c.plane[r*c.stride : r*c.stride+c.vw]
			}
			spreadRows(buf, &src)
			t := tmp[g*lumaGroup*pw : (g+1)*lumaGroup*pw]
			for q := range (w + 1) / 2 {
				start, ws := wx.taps(2 * q)
				a0, a1, a2, a3 := sum4(buf[4*start:4*(start+len(ws))], ws)
				var b0, b1, b2, b3 int64
				if 2*q+1 < w {
					start, ws = wx.taps(2*q + 1)
					b0, b1, b2, b3 = sum4(buf[4*start:4*(start+len(ws))], ws)
				}
				// Each row's two columns in one word.
				packPair(t[q:], pw, a0, b0)
				packPair(t[2*pw+q:], pw, a1, b1)
				packPair(t[4*pw+q:], pw, a2, b2)
				packPair(t[6*pw+q:], pw, a3, b3)
			}
		}
	})
	l := &lumaPass{tmp: tmp, pw: pw, w: w, r0: r0, wy: wy}
	if err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// spreadRows interleaves eight rows of bytes into buf: word 4x+j holds
// rows 2j and 2j+1 of column x, one a lane.
func spreadRows(buf []uint64, src *[lumaGroup][]byte) {
	n := len(src[0])
	buf = buf[:4*n]
	s0, s1, s2, s3 := src[0][:n], src[1][:n], src[2][:n], src[3][:n]
	s4, s5, s6, s7 := src[4][:n], src[5][:n], src[6][:n], src[7][:n]
	for x := range n {
		d := buf[4*x : 4*x+4 : 4*x+4]
		d[0] = uint64(s0[x]) | uint64(s1[x])<<32
		d[1] = uint64(s2[x]) | uint64(s3[x])<<32
		d[2] = uint64(s4[x]) | uint64(s5[x])<<32
		d[3] = uint64(s6[x]) | uint64(s7[x])<<32
	}
}

// spreadChroma interleaves four rows of Cb and Cr into buf: word 4x+j
// holds Cb (low lane) and Cr of row j, column x. One pass writing whole
// groups, as spreadRows: four passes of strided stores, one a row, took
// a third of the chroma pass's own time.
func spreadChroma(buf []uint64, cb, cr *[chromaGroup][]byte) {
	n := len(cb[0])
	buf = buf[:4*n]
	b0, b1, b2, b3 := cb[0][:n], cb[1][:n], cb[2][:n], cb[3][:n]
	r0, r1, r2, r3 := cr[0][:n], cr[1][:n], cr[2][:n], cr[3][:n]
	for x := range n {
		d := buf[4*x : 4*x+4 : 4*x+4]
		d[0] = uint64(b0[x]) | uint64(r0[x])<<32
		d[1] = uint64(b1[x]) | uint64(r1[x])<<32
		d[2] = uint64(b2[x]) | uint64(r2[x])<<32
		d[3] = uint64(b3[x]) | uint64(r3[x])<<32
	}
}

// packPair stores the sums a (column 2q) and b (column 2q+1), each with
// two rows in its lanes, as the two rows' words t[0] and t[stride],
// rounded to wideFracBits.
func packPair(t []uint64, stride int, a, b int64) {
	a0, a1 := unlane(a)
	b0, b1 := unlane(b)
	t[0] = lanes(wideRound(a0), wideRound(b0))
	t[stride] = lanes(wideRound(a1), wideRound(b1))
}

// row is the vertical pass for output row j: its w sums, planeSums
// fractional bits, not clamped.
func (l *lumaPass) row(j int, out []int32) {
	start, ws := l.wy.taps(j)
	pw := l.pw
	col := l.tmp[(start-l.r0)*pw : (start-l.r0+len(ws)-1)*pw+pw]
	out = out[:l.w]
	for q := 0; q < pw; q += 4 {
		s0, s1, s2, s3 := sum4Col(col[q:], ws, pw)
		for i, s := range [4]int64{s0, s1, s2, s3} {
			a, b := unlane(s)
			if x := 2 * (q + i); x+1 < len(out) {
				out[x], out[x+1] = a, b
			} else if x < len(out) {
				out[x] = a
			}
		}
	}
}

// chromaPass is lumaPass for the two chroma planes together: Cb in the
// low lane of each word of tmp, Cr in the high one, cw words a row (w
// rounded up to whole groups of four).
type chromaPass struct {
	tmp   []uint64
	w, cw int
	r0    int
	wy    *filterWeights
}

// newChromaPass runs the horizontal pass over the rows of the planes of
// cb and cr (which have the same sampling) that the vertical pass will
// read, for scaling the span x×y to w×h.
func newChromaPass(ctx context.Context, cb, cr *jpegComponent, x, y span, w, h int) (*chromaPass, error) {
	wx := planeWeights(x, cb.rx, cb.vw, w)
	wy := planeWeights(y, cb.ry, cb.vh, h)
	r0, r1 := tapRows(wy)
	cw := roundUp4(w)
	rows := r1 - r0
	groups := (rows + chromaGroup - 1) / chromaGroup
	tmp := passWords(groups * chromaGroup * cw)
	err := inOrder(ctx, groups, func(lo, hi int) {
		// buf holds the group's rows, column by column: word 4x+j has
		// Cb and Cr of row j, column x.
		buf := make([]uint64, 4*cb.vw)
		var rb, rr [chromaGroup][]byte
		for g := lo; g < hi && ctx.Err() == nil; g++ {
			top := r0 + g*chromaGroup
			for j := range chromaGroup {
				r := min(top+j, r1-1)
				rb[j] = cb.plane[r*cb.stride : r*cb.stride+cb.vw]
				rr[j] = cr.plane[r*cr.stride : r*cr.stride+cb.vw]
			}
			spreadChroma(buf, &rb, &rr)
			t := tmp[g*chromaGroup*cw : (g+1)*chromaGroup*cw]
			for q := range w {
				start, ws := wx.taps(q)
				s0, s1, s2, s3 := sum4(buf[4*start:4*(start+len(ws))], ws)
				for j, s := range [4]int64{s0, s1, s2, s3} {
					b, r := unlane(s)
					t[j*cw+q] = lanes(wideRound(b), wideRound(r))
				}
			}
		}
	})
	c := &chromaPass{tmp: tmp, w: w, cw: cw, r0: r0, wy: wy}
	if err != nil {
		c.release()
		return nil, err
	}
	return c, nil
}

// row is the vertical pass for output row j: the w sums of each plane,
// planeSums fractional bits, not clamped.
func (c *chromaPass) row(j int, cb, cr []int32) {
	start, ws := c.wy.taps(j)
	cw := c.cw
	col := c.tmp[(start-c.r0)*cw : (start-c.r0+len(ws)-1)*cw+cw]
	cb, cr = cb[:c.w], cr[:c.w]
	for q := 0; q < cw; q += 4 {
		s0, s1, s2, s3 := sum4Col(col[q:], ws, cw)
		for i, s := range [4]int64{s0, s1, s2, s3} {
			if q+i < len(cb) {
				cb[q+i], cr[q+i] = unlane(s)
			}
		}
	}
}

// sum4 is the weighted sum of the len(ws) consecutive groups of four
// two-lane words in p: four sums, one per word of a group. The planar
// passes use it for four chroma samples, stream.go for two rows of
// pixels interleaved (two words a pixel each).
//
//go:noinline
func sum4(p []uint64, ws []int32) (s0, s1, s2, s3 int64) {
	p = p[:4*len(ws)]
	for k, w := range ws {
		q := p[4*k : 4*k+4 : 4*k+4]
		c := int64(w)
		s0 += int64(q[0]) * c
		s1 += int64(q[1]) * c
		s2 += int64(q[2]) * c
		s3 += int64(q[3]) * c
	}
	return s0, s1, s2, s3
}

// sum4Col is the weighted sum of the len(ws) groups of four consecutive
// two-lane words, stride words apart, starting at p[0].
//
//go:noinline
func sum4Col(p []uint64, ws []int32, stride int) (s0, s1, s2, s3 int64) {
	i := 0
	for _, w := range ws {
		q := p[i : i+4 : i+4]
		c := int64(w)
		s0 += int64(q[0]) * c
		s1 += int64(q[1]) * c
		s2 += int64(q[2]) * c
		s3 += int64(q[3]) * c
		i += stride
	}
	return s0, s1, s2, s3
}
