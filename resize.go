package main

import (
	"context"
	"encoding/binary"
	"image"
	"math"
	"runtime"
	"sync"
)

// Resampling and blurring of premultiplied *image.RGBA images.
//
// Both filters are separable: one pass along rows, one along columns, each
// a weighted sum in fixed point over the Pix bytes. Because image.RGBA is
// premultiplied, filtering all four channels with the same weights keeps
// transparent pixels from bleeding their (zero) colour into their
// neighbours; every result is clamped to 0..255 and to colour <= alpha so
// it stays a valid premultiplied pixel.

const (
	// weightBits is the fixed-point precision of the filter weights: the
	// weights of one output sample are integers summing to 1<<weightBits,
	// so a uniform input stays exactly uniform.
	weightBits = 14
	// parallelWork is the amount of work (output samples times taps) under
	// which a pass runs on the calling goroutine alone.
	parallelWork = 1 << 18
	// maxBlurSigma bounds the sigma gaussianBlur honours, which keeps its
	// box sums inside uint32; far larger than any image it is used on.
	maxBlurSigma = 10000
	// boxBlurSigma is the sigma from which gaussianBlur uses box blurs.
	boxBlurSigma = 3
	// wideFracBits is the number of fractional bits of the samples of the
	// intermediate image between two passes. Those samples are neither
	// rounded to bytes nor clamped, so the two passes make the same image
	// in either order and ringing is clipped only once, at the end. The
	// lane bound of wideImage holds for weights whose absolute values sum
	// to less than 2.8 (Lanczos-3's reach at most 1.6).
	wideFracBits = 6
)

// resample returns src scaled to exactly w×h (w,h >= 1) with a Lanczos-3
// filter, widened by the scale factor when shrinking so that the result
// is antialiased. Edges renormalise the weights over the pixels that
// exist, so borders neither darken nor brighten. A size that does not
// change returns a copy. It stops with ctx's error once ctx ends.
func resample(ctx context.Context, src *image.RGBA, w, h int) (*image.RGBA, error) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	return resampleArea(ctx, src, span{0, float64(sw)}, span{0, float64(sh)}, w, h)
}

// span is a stretch of an image along one axis, in pixels that may be
// fractional: from from to from+size.
type span struct{ from, size float64 }

// resampleArea is resample of the part x×y of src: a JPEG decoded at 1/8
// of a width that 8 does not divide holds a fraction of a pixel in its
// last column, which must not count as a whole one.
func resampleArea(ctx context.Context, src *image.RGBA, x, y span, w, h int) (*image.RGBA, error) {
	w, h = max(w, 0), max(h, 0)
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	if w == 0 || h == 0 || sw == 0 || sh == 0 {
		return dst, nil
	}
	wholeX := x == span{0, float64(sw)} && w == sw
	wholeY := y == span{0, float64(sh)} && h == sh
	switch {
	case wholeX && wholeY:
		copyRGBA(dst, src)
		return dst, nil
	case wholeY:
		return dst, filterRows(ctx, dst, nil, src, nil, lanczosSpanWeights(sw, x, w))
	case wholeX:
		return dst, filterCols(ctx, dst, nil, src, nil, lanczosSpanWeights(sh, y, h))
	}
	wx, wy := lanczosSpanWeights(sw, x, w), lanczosSpanWeights(sh, y, h)
	// Taps summed by each order: rows first filters sh rows then w
	// columns; columns first filters sw columns then h rows. A column
	// pass straight from the RGBA source costs about twice a pass over
	// wide pixels. For a resize that keeps the aspect ratio both orders
	// sum about as many taps, and rows first wins.
	rowsFirst := int64(sh)*int64(len(wx.w)) + int64(w)*int64(len(wy.w))
	colsFirst := 2*int64(sw)*int64(len(wy.w)) + int64(h)*int64(len(wx.w))
	if rowsFirst <= colsFirst {
		tmp := newWideImage(w, sh)
		if err := filterRows(ctx, nil, tmp, src, nil, wx); err != nil {
			return nil, err
		}
		return dst, filterCols(ctx, dst, nil, nil, tmp, wy)
	}
	tmp := newWideImage(sw, h)
	if err := filterCols(ctx, nil, tmp, src, nil, wy); err != nil {
		return nil, err
	}
	return dst, filterRows(ctx, dst, nil, nil, tmp, wx)
}

// gaussianBlur returns a Gaussian blur of src with the given sigma
// (sigma > 0), same size, edges clamped (the border pixels extend
// outwards).
//
// Below sigma 3 it convolves with the exact kernel of radius ceil(3σ).
// From sigma 3 on it applies three successive box blurs per axis whose
// odd widths match the Gaussian's variance (the approximation SVG's
// feGaussianBlur describes, with the same ~3σ reach; on test pictures
// within 0.6 level on average of the true Gaussian): the cost no longer
// depends on sigma, so sigma 50 on a 2000×2000 image takes a fraction
// of a second. Box sums keep 8 fractional bits between passes, so faint
// tails are not rounded away. Below sigma 3 odd box widths are too
// coarse to match the variance, hence the exact kernel there. It stops
// with ctx's error once ctx ends.
func gaussianBlur(ctx context.Context, src *image.RGBA, sigma float64) (*image.RGBA, error) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, sw, sh))
	if sw == 0 || sh == 0 {
		return dst, nil
	}
	if !(sigma > 0) { // also NaN
		copyRGBA(dst, src)
		return dst, nil
	}
	sigma = min(sigma, maxBlurSigma)
	if sigma < boxBlurSigma {
		tmp := newWideImage(sw, sh)
		if err := filterRows(ctx, nil, tmp, src, nil, gaussWeights(sw, sigma)); err != nil {
			return nil, err
		}
		return dst, filterCols(ctx, dst, nil, nil, tmp, gaussWeights(sh, sigma))
	}
	return dst, boxBlur3(ctx, dst, src, boxSizes(sigma))
}

// copyRGBA copies src's pixels into dst, which has the same size and a
// tight stride.
func copyRGBA(dst, src *image.RGBA) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	for y := range h {
		s := src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y)
		copy(dst.Pix[y*dst.Stride:y*dst.Stride+w*4], src.Pix[s:s+w*4])
	}
}

// parallel runs fn over [0, n) split into contiguous ranges, one per
// processor, when work is large enough to pay for the goroutines, and
// on the calling goroutine otherwise. fn polls ctx (once a row) and
// returns early once it ends: parallel then returns ctx's error. A panic
// in fn comes back as a *panicError with the stack where it happened,
// the first one when several ranges panic.
func parallel(ctx context.Context, n int, work int64, fn func(lo, hi int)) error {
	var once sync.Once
	var panicked error
	run := func(lo, hi int) {
		defer func() {
			if v := recover(); v != nil {
				err := recovered(v)
				once.Do(func() { panicked = err })
			}
		}()
		fn(lo, hi)
	}
	procs := min(runtime.GOMAXPROCS(0), n)
	if procs < 2 || work < parallelWork {
		run(0, n)
	} else {
		var wg sync.WaitGroup
		for i := range procs {
			lo, hi := n*i/procs, n*(i+1)/procs
			wg.Go(func() { run(lo, hi) })
		}
		wg.Wait()
	}
	if panicked != nil {
		return panicked
	}
	return ctx.Err()
}

// filterWeights holds, for each output sample i along one axis, the
// source samples start[i] .. start[i]+n-1 it reads and their fixed-point
// weights w[off[i]:off[i+1]] (n = off[i+1]-off[i]), summing to
// 1<<weightBits.
type filterWeights struct {
	start []int32
	off   []int32
	w     []int32
}

func (fw *filterWeights) taps(i int) (start int, w []int32) {
	return int(fw.start[i]), fw.w[fw.off[i]:fw.off[i+1]]
}

// lanczos3 is the Lanczos kernel with a = 3.
func lanczos3(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x >= 3 {
		return 0
	}
	if x < 1e-8 {
		return 1
	}
	px := math.Pi * x
	return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
}

// lanczosSpanWeights maps the span s of n source samples onto m output
// samples (output sample centres at i+0.5), the kernel stretched by
// s.size/m when shrinking so that it also low-passes; taps outside the n samples are dropped (and the
// weights renormalised).
func lanczosSpanWeights(n int, s span, m int) *filterWeights {
	scale := s.size / float64(m)
	fscale := max(scale, 1)
	support := 3 * fscale
	fw := newFilterWeights(m, int(math.Ceil(2*support))+1)
	var buf []float64
	for i := range m {
		center := s.from + (float64(i)+0.5)*scale
		lo := max(int(math.Floor(center-support-0.5)), 0)
		hi := min(int(math.Ceil(center+support-0.5)), n-1)
		buf = buf[:0]
		for j := lo; j <= hi; j++ {
			buf = append(buf, lanczos3((float64(j)+0.5-center)/fscale))
		}
		fw.add(lo, buf, min(max(int(center), 0), n-1))
	}
	return fw
}

// gaussWeights is a Gaussian of radius ceil(3σ) over n samples, without
// scaling. Taps past an end weigh on the end sample, as if the border
// extended outwards.
func gaussWeights(n int, sigma float64) *filterWeights {
	r := int(math.Ceil(3 * sigma))
	fw := newFilterWeights(n, 2*r+1)
	k := make([]float64, 2*r+1)
	for d := -r; d <= r; d++ {
		k[d+r] = math.Exp(-float64(d*d) / (2 * sigma * sigma))
	}
	buf := make([]float64, 0, 2*r+1)
	for i := range n {
		lo, hi := max(i-r, 0), min(i+r, n-1)
		buf = buf[:hi-lo+1]
		clear(buf)
		for d, v := range k {
			j := min(max(i+d-r, lo), hi)
			buf[j-lo] += v
		}
		fw.add(lo, buf, i)
	}
	return fw
}

func newFilterWeights(m, tapsHint int) *filterWeights {
	return &filterWeights{
		start: make([]int32, 0, m),
		off:   append(make([]int32, 0, m+1), 0),
		w:     make([]int32, 0, m*tapsHint),
	}
}

// add appends the output sample whose float weights k apply to source
// samples lo, lo+1, ...: they are renormalised to sum to one (which is
// what makes edges neither dark nor bright), converted to fixed point
// with the rounding error put on the largest weight so that they sum to
// exactly 1<<weightBits, and trimmed of zeros at both ends. nearest is
// used alone if the weights cancel out.
func (fw *filterWeights) add(lo int, k []float64, nearest int) {
	var sum float64
	for _, v := range k {
		sum += v
	}
	if !(sum > 1e-9) {
		k, lo, sum = []float64{1}, nearest, 1
	}
	base := len(fw.w)
	var isum int32
	big := base
	for j, v := range k {
		q := int32(math.Round(v / sum * (1 << weightBits)))
		fw.w = append(fw.w, q)
		isum += q
		if q > fw.w[big] {
			big = base + j
		}
	}
	fw.w[big] += 1<<weightBits - isum
	// Trim zero weights: trailing ones, then leading ones.
	for len(fw.w) > base+1 && fw.w[len(fw.w)-1] == 0 {
		fw.w = fw.w[:len(fw.w)-1]
	}
	skip := 0
	for base+skip < len(fw.w)-1 && fw.w[base+skip] == 0 {
		skip++
	}
	if skip > 0 {
		fw.w = append(fw.w[:base], fw.w[base+skip:]...)
	}
	fw.start = append(fw.start, int32(lo+skip))
	fw.off = append(fw.off, int32(len(fw.w)))
}

// wideImage is the intermediate image between the two passes of a
// separable filter, with each pixel spread over two words so that one
// 64-bit multiply weighs two channels at once: R + B<<32, then G + A<<32,
// each channel a signed sample with wideFracBits fractional bits. A lane
// stays exact while its weighted sums fit in 32 bits signed: samples up
// to 255·1.6 (ringing included) times 2^6, times weights summing in
// absolute value to 1.6·2^14, stays under 2^30.
type wideImage struct {
	pix  []uint64
	w, h int
}

func newWideImage(w, h int) *wideImage {
	return &wideImage{pix: make([]uint64, w*h*2), w: w, h: h}
}

func (m *wideImage) row(y int) []uint64 { return m.pix[y*m.w*2 : (y+1)*m.w*2] }

// laneMask keeps bits 0-7 and 32-39: a byte in each 32-bit lane.
const laneMask = 0x000000ff_000000ff

// spreadRow writes the RGBA pixels of src into dst as wide pixels
// without fractional bits (the pass reading them knows).
func spreadRow(dst []uint64, src []uint8) {
	dst = dst[:len(src)/4*2]
	for i := 0; i+1 < len(dst); i += 2 {
		v := binary.LittleEndian.Uint32(src[i*2:])
		x := uint64(v & 0x00ff00ff)      // R, B
		y := uint64(v >> 8 & 0x00ff00ff) // G, A
		dst[i] = (x | x<<16) & laneMask
		dst[i+1] = (y | y<<16) & laneMask
	}
}

// unwide splits two-lane sums back into four channel sums. Each lane's
// true sum fits in 32 bits signed, so the low lane is the low word read
// as int32, and removing it leaves the high lane exactly.
func unwide(lo, hi int64) (r, g, b, a int32) {
	r, g = int32(lo), int32(hi)
	return r, g, int32((lo - int64(r)) >> 32), int32((hi - int64(g)) >> 32)
}

// clamp8 turns a weighted sum with shift fractional bits into a byte,
// rounding and clamping to 0..255.
func clamp8(v int32, shift uint) uint8 {
	v = (v + 1<<(shift-1)) >> shift
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// storeRow stores a row of filtered sums (four per pixel, shift
// fractional bits) into the RGBA row d8, rounded and clamped to valid
// premultiplied pixels (each channel in 0..255, no colour above alpha),
// or, when d8 is nil, into the wide row dw, rounded to wideFracBits and
// not clamped.
func storeRow(d8 []uint8, dw []uint64, sums []int32, shift uint) {
	if d8 != nil {
		d8 = d8[:len(sums)]
		for i := 0; i+3 < len(sums); i += 4 {
			q := sums[i : i+4 : i+4]
			d := d8[i : i+4 : i+4]
			a := clamp8(q[3], shift)
			d[0] = min(clamp8(q[0], shift), a)
			d[1] = min(clamp8(q[1], shift), a)
			d[2] = min(clamp8(q[2], shift), a)
			d[3] = a
		}
		return
	}
	down := shift - wideFracBits
	half := int32(1) << (down - 1)
	dw = dw[:len(sums)/2]
	for i := 0; i+3 < len(sums); i += 4 {
		q := sums[i : i+4 : i+4]
		d := dw[i/2 : i/2+2 : i/2+2]
		r, g, b, a := (q[0]+half)>>down, (q[1]+half)>>down, (q[2]+half)>>down, (q[3]+half)>>down
		d[0] = uint64(int64(r) + int64(b)<<32)
		d[1] = uint64(int64(g) + int64(a)<<32)
	}
}

func setSums(sums []int32, x int, r, g, b, a int32) {
	q := sums[x*4 : x*4+4 : x*4+4]
	q[0], q[1], q[2], q[3] = r, g, b, a
}

// filterRows filters each row of src horizontally with fw. Exactly one
// of src and srcW is the input, one of dst and dstW the output (the one
// not nil); the output has the input's height and fw's width.
func filterRows(ctx context.Context, dst *image.RGBA, dstW *wideImage, src *image.RGBA, srcW *wideImage, fw *filterWeights) error {
	w, h := len(fw.start), 0
	var shift uint = weightBits
	if src != nil {
		h = src.Rect.Dy()
	} else {
		h, shift = srcW.h, weightBits+wideFracBits
	}
	return parallel(ctx, h, int64(h)*int64(len(fw.w)), func(y0, y1 int) {
		var buf []uint64
		if src != nil {
			buf = make([]uint64, src.Rect.Dx()*2)
		}
		sums := make([]int32, w*4)
		var d8 []uint8
		var dw []uint64
		for y := y0; y < y1 && ctx.Err() == nil; y++ {
			row := buf
			if src != nil {
				s := src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y)
				spreadRow(buf, src.Pix[s:s+src.Rect.Dx()*4])
			} else {
				row = srcW.row(y)
			}
			if dst != nil {
				d8 = dst.Pix[y*dst.Stride : y*dst.Stride+w*4]
			} else {
				dw = dstW.row(y)
			}
			for x := range w {
				start, ws := fw.taps(x)
				r, g, b, a := unwide(sumWide(row[start*2:(start+len(ws))*2], ws))
				setSums(sums, x, r, g, b, a)
			}
			storeRow(d8, dw, sums, shift)
		}
	})
}

// filterCols filters each column of src vertically with fw. Exactly one
// of src and srcW is the input, one of dst and dstW the output; the
// output has the input's width and fw's height. It walks output rows so
// that the source rows it reads stay in cache across neighbouring
// columns.
func filterCols(ctx context.Context, dst *image.RGBA, dstW *wideImage, src *image.RGBA, srcW *wideImage, fw *filterWeights) error {
	h, w := len(fw.start), 0
	var shift uint = weightBits
	if src != nil {
		w = src.Rect.Dx()
	} else {
		w, shift = srcW.w, weightBits+wideFracBits
	}
	return parallel(ctx, h, int64(w)*int64(len(fw.w)), func(y0, y1 int) {
		sums := make([]int32, w*4)
		var d8 []uint8
		var dw []uint64
		for y := y0; y < y1 && ctx.Err() == nil; y++ {
			start, ws := fw.taps(y)
			if dst != nil {
				d8 = dst.Pix[y*dst.Stride : y*dst.Stride+w*4]
			} else {
				dw = dstW.row(y)
			}
			if src != nil {
				stride := src.Stride
				top := src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+start)
				// From the first row read to the end of the last pixel.
				p := src.Pix[top : top+(len(ws)-1)*stride+w*4]
				for x := range w {
					r, g, b, a := sumCol(p[x*4:], ws, stride)
					setSums(sums, x, r, g, b, a)
				}
			} else {
				stride := w * 2
				p := srcW.pix[start*stride : (start+len(ws)-1)*stride+w*2]
				for x := range w {
					r, g, b, a := unwide(sumWideCol(p[x*2:], ws, stride))
					setSums(sums, x, r, g, b, a)
				}
			}
			storeRow(d8, dw, sums, shift)
		}
	})
}

// The inner loops below live in their own small functions, not inlined,
// so that the compiler keeps the sums in registers.

// sumWide is the weighted sum of the len(ws) consecutive wide pixels in
// p, two taps a step.
//
//go:noinline
func sumWide(p []uint64, ws []int32) (lo, hi int64) {
	p = p[:len(ws)*2]
	var lo2, hi2 int64
	k := 0
	for ; k+1 < len(ws); k += 2 {
		q := p[k*2 : k*2+4 : k*2+4]
		c0, c1 := int64(ws[k]), int64(ws[k+1])
		lo += int64(q[0]) * c0
		hi += int64(q[1]) * c0
		lo2 += int64(q[2]) * c1
		hi2 += int64(q[3]) * c1
	}
	if k < len(ws) {
		c := int64(ws[k])
		lo += int64(p[k*2]) * c
		hi += int64(p[k*2+1]) * c
	}
	return lo + lo2, hi + hi2
}

// sumWideCol is the weighted sum of the len(ws) wide pixels stride words
// apart starting at p[0].
//
//go:noinline
func sumWideCol(p []uint64, ws []int32, stride int) (lo, hi int64) {
	i := 0
	for _, c := range ws {
		q := p[i : i+2 : i+2]
		lo += int64(q[0]) * int64(c)
		hi += int64(q[1]) * int64(c)
		i += stride
	}
	return lo, hi
}

// sumCol is the weighted sum of the len(ws) RGBA pixels stride bytes
// apart starting at p[0].
//
//go:noinline
func sumCol(p []uint8, ws []int32, stride int) (r, g, b, a int32) {
	i := 0
	for _, c := range ws {
		q := p[i : i+4 : i+4]
		r += c * int32(q[0])
		g += c * int32(q[1])
		b += c * int32(q[2])
		a += c * int32(q[3])
		i += stride
	}
	return r, g, b, a
}

// boxSizes returns the widths (odd, so each box is centred) of three
// successive box blurs whose combined variance is as close to sigma² as
// odd widths allow.
func boxSizes(sigma float64) [3]int {
	const n = 3
	ideal := math.Sqrt(12*sigma*sigma/n + 1)
	wl := int(math.Floor(ideal))
	if wl%2 == 0 {
		wl--
	}
	wu := wl + 2
	fl := float64(wl)
	m := int(math.Round((12*sigma*sigma - n*fl*fl - 4*n*fl - 3*n) / (-4*fl - 4)))
	var sizes [3]int
	for i := range sizes {
		sizes[i] = wu
		if i < m {
			sizes[i] = wl
		}
	}
	return sizes
}

// blurStrip is the number of columns the vertical box passes handle at
// once: the strip of one row is one or two cache lines.
const blurStrip = 16

// boxBlur3 blurs src into dst (same size) with three box blurs of the
// given widths along rows, then along columns. Samples are held with 8
// fractional bits from the first pass to the last; the row result waits
// in a uint16 image.
func boxBlur3(ctx context.Context, dst, src *image.RGBA, sizes [3]int) error {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	var radii [3]int
	var recips [3]uint64
	for i, s := range sizes {
		radii[i] = s / 2
		recips[i] = uint64(math.Round((1 << 32) / float64(s)))
	}
	tmp := make([]uint16, w*h*4)
	work := int64(w) * int64(h) * 3
	err := parallel(ctx, h, work, func(y0, y1 int) {
		a, b := make([]uint32, w*4), make([]uint32, w*4)
		for y := y0; y < y1 && ctx.Err() == nil; y++ {
			s := src.PixOffset(src.Rect.Min.X, src.Rect.Min.Y+y)
			for i, v := range src.Pix[s : s+w*4] {
				a[i] = uint32(v) << 8
			}
			boxPass4(b, a, radii[0], recips[0])
			boxPass4(a, b, radii[1], recips[1])
			boxPass4(b, a, radii[2], recips[2])
			t := tmp[y*w*4 : (y+1)*w*4]
			for i, v := range b {
				t[i] = uint16(v)
			}
		}
	})
	if err != nil {
		return err
	}
	strips := (w + blurStrip - 1) / blurStrip
	return parallel(ctx, strips, work, func(s0, s1 int) {
		a, b := make([]uint32, h*blurStrip*4), make([]uint32, h*blurStrip*4)
		sums := make([]uint32, blurStrip*4)
		for s := s0; s < s1 && ctx.Err() == nil; s++ {
			x0 := s * blurStrip
			k := (min(x0+blurStrip, w) - x0) * 4
			a, b := a[:h*k], b[:h*k]
			for y := range h {
				t := tmp[(y*w+x0)*4 : (y*w+x0)*4+k]
				for i, v := range t {
					a[y*k+i] = uint32(v)
				}
			}
			boxPass(b, a, k, radii[0], recips[0], sums[:k])
			boxPass(a, b, k, radii[1], recips[1], sums[:k])
			boxPass(b, a, k, radii[2], recips[2], sums[:k])
			for y := range h {
				d := dst.Pix[y*dst.Stride+x0*4 : y*dst.Stride+x0*4+k]
				v := b[y*k : y*k+k]
				for i := 0; i+3 < k; i += 4 {
					q := v[i : i+4 : i+4]
					al := uint8(min((q[3]+128)>>8, 255))
					d[i] = min(uint8(min((q[0]+128)>>8, 255)), al)
					d[i+1] = min(uint8(min((q[1]+128)>>8, 255)), al)
					d[i+2] = min(uint8(min((q[2]+128)>>8, 255)), al)
					d[i+3] = al
				}
			}
		}
	})
}

// boxPass box-blurs in into out along their length: both hold
// len(in)/k elements of k interleaved values, each value blurred with
// the values at the same place in the r elements either side, indices
// clamped to the ends. recip is 2^32 divided by the box width.
func boxPass(out, in []uint32, k, r int, recip uint64, sums []uint32) {
	n := len(in) / k
	clear(sums)
	for t := -r; t <= r; t++ {
		e := min(max(t, 0), n-1) * k
		for j, v := range in[e : e+k] {
			sums[j] += v
		}
	}
	for i := range n {
		o := out[i*k : i*k+k]
		add := min(i+r+1, n-1) * k
		sub := max(i-r, 0) * k
		in1 := in[add : add+k]
		in0 := in[sub : sub+k]
		s := sums[:k]
		for j := range o {
			v := s[j]
			o[j] = uint32((uint64(v)*recip + 1<<31) >> 32)
			s[j] = v + in1[j] - in0[j]
		}
	}
}

// boxPass4 is boxPass for k = 4, one pixel per element, with the sums in
// registers.
func boxPass4(out, in []uint32, r int, recip uint64) {
	n := len(in) / 4
	var s0, s1, s2, s3 uint32
	for t := -r; t <= r; t++ {
		e := min(max(t, 0), n-1) * 4
		p := in[e : e+4 : e+4]
		s0 += p[0]
		s1 += p[1]
		s2 += p[2]
		s3 += p[3]
	}
	const half = 1 << 31
	for i := range n {
		o := out[i*4 : i*4+4 : i*4+4]
		o[0] = uint32((uint64(s0)*recip + half) >> 32)
		o[1] = uint32((uint64(s1)*recip + half) >> 32)
		o[2] = uint32((uint64(s2)*recip + half) >> 32)
		o[3] = uint32((uint64(s3)*recip + half) >> 32)
		add := min(i+r+1, n-1) * 4
		sub := max(i-r, 0) * 4
		p := in[add : add+4 : add+4]
		q := in[sub : sub+4 : sub+4]
		s0 += p[0] - q[0]
		s1 += p[1] - q[1]
		s2 += p[2] - q[2]
		s3 += p[3] - q[3]
	}
}
