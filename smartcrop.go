package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
)

// gravity=smart: the crop window that holds the most of what draws the
// eye, as libvips' attention strategy scores it: edge energy, saturated
// colour and skin tones. The score is computed on a copy of the source
// whose long side is saliencySide pixels, made the cheapest way each path
// can (from a JPEG's planes at the DCT scale, from a second streamed pass
// over a PNG, by averaging an RGBA image's pixels in boxes), so it costs
// a few milliseconds whatever the source's size.
//
// libvips blurs the score and centres the window on its single highest
// point; here the window is slid along the side the crop shortens and
// put where the score inside it is largest, which keeps a whole subject
// rather than its brightest spot. Among the positions that score within
// smartTolerance of the best (a subject smaller than the window fits in
// several), the middle one is taken, so the subject is centred in the
// window. Everything is integer or deterministic float arithmetic on the
// source's pixels: the same source always gives the same window.

// saliencySide is the long side of the copy the score is computed on:
// the window is placed to 1/384 of the source's side. At this size the
// copy still tells a sharp subject from a blurred background, which
// libvips' 32-pixel copy cannot (the corpus dragonfly, BENCHMARKS.md);
// 1024 told them apart a little better and cost four times as much.
const saliencySide = 384

// smartTolerance: positions whose score is within this fraction of the
// best count as as good.
const smartTolerance = 0.02

// saliencySize is the size of the copy of a W×H source that the score is
// computed on: the aspect ratio kept, the long side saliencySide, never
// larger than the source.
func saliencySize(W, H int) (int, int) {
	if max(W, H) <= saliencySide {
		return W, H
	}
	if W >= H {
		return saliencySide, max(1, int(math.Round(float64(H)*saliencySide/float64(W))))
	}
	return max(1, int(math.Round(float64(W)*saliencySide/float64(H)))), saliencySide
}

// saliency is the score of a small copy of the image, w×h, summed down
// each column and along each row: all that placing a window that spans
// the whole height or width needs.
type saliency struct {
	w, h       int
	cols, rows []float64
}

// Weights of the score's terms, each in 0..1 a pixel before weighting.
// A pixel's score is the square of their sum, so that a subject that
// stands out a lot outweighs a wide background that stands out a little
// (the leaves behind the corpus' dragonfly).
const (
	edgeWeight       = 1.0
	saturationWeight = 0.2
	skinWeight       = 1.0
	// edgeCap is the Laplacian of luma (0..255) counted as full edge
	// energy: one high-contrast line (a horizon, a frame) is worth no
	// more than a patch of texture.
	edgeCap = 64
)

// saliencyOf scores the pixels of small, premultiplied RGBA (a
// transparent pixel is black, and the outline of an opaque shape on a
// transparent field is an edge, as it shows).
func saliencyOf(small *image.RGBA) saliency {
	w, h := small.Rect.Dx(), small.Rect.Dy()
	s := saliency{w: w, h: h, cols: make([]float64, w), rows: make([]float64, h)}
	// luma in 1/256 of a level: 77r + 150g + 29b.
	luma := make([]int32, w*h)
	for y := range h {
		row := small.Pix[y*small.Stride : y*small.Stride+4*w]
		l := luma[y*w : y*w+w]
		for x := range w {
			p := row[4*x : 4*x+3 : 4*x+3]
			l[x] = 77*int32(p[0]) + 150*int32(p[1]) + 29*int32(p[2])
		}
	}
	const full = edgeCap * 256
	for y := range h {
		row := small.Pix[y*small.Stride : y*small.Stride+4*w]
		up, down := luma[max(y-1, 0)*w:], luma[min(y+1, h-1)*w:]
		l := luma[y*w : y*w+w]
		var sum float32
		for x := range w {
			p := row[4*x : 4*x+3 : 4*x+3]
			r, g, b := int32(p[0]), int32(p[1]), int32(p[2])
			lap := 4*l[x] - l[max(x-1, 0)] - l[min(x+1, w-1)] - up[x] - down[x]
			if lap < 0 {
				lap = -lap
			}
			t := edgeWeight*float32(min(lap, full))/full + saturationWeight*saturation(r, g, b) + skinWeight*skin(r, g, b)
			t *= t
			s.cols[x] += float64(t)
			sum += t
		}
		s.rows[y] = float64(sum)
	}
	return s
}

// saturation is the HSL saturation of r, g, b (0..255) above 0.4,
// scaled to 0..1, where it shows (neither near black nor near white), as
// smartcrop.js counts it.
func saturation(r, g, b int32) float32 {
	hi, lo := max(r, g, b), min(r, g, b)
	sum := hi + lo // lightness × 510
	if hi == lo || sum*20 < 51 || sum*10 > 4590 {
		return 0 // lightness under 0.05 or over 0.9
	}
	d := float32(hi - lo)
	var sat float32
	if sum <= 255 {
		sat = d / float32(sum)
	} else {
		sat = d / float32(510-sum)
	}
	return max(sat-0.4, 0) / 0.6
}

// skin is how close the colour of r, g, b (0..255) is to skin's, as
// smartcrop.js (which libvips' attention follows) measures it: one less
// the distance between the two colours as unit vectors, counted from
// skinThreshold, for pixels lit enough to tell. The distance is under
// 1-skinThreshold only when the cosine between them is over minCos:
// most pixels are turned away on that, without a square root.
func skin(r, g, b int32) float32 {
	const minCos = 1 - (1-skinThreshold)*(1-skinThreshold)/2
	if r+g+b < 153 { // brightness under 0.2
		return 0
	}
	fr, fg, fb := float32(r), float32(g), float32(b)
	dot := fr*skinR + fg*skinG + fb*skinB
	n2 := fr*fr + fg*fg + fb*fb
	if dot*dot <= minCos*minCos*n2 {
		return 0
	}
	cos := dot / float32(math.Sqrt(float64(n2)))
	dist := float32(math.Sqrt(float64(max(2-2*cos, 0))))
	return max(1-dist-skinThreshold, 0) / (1 - skinThreshold)
}

// The skin colour (smartcrop.js's 0.78, 0.57, 0.44) as a unit vector,
// and how close to it counts.
const (
	skinR         = 0.7348
	skinG         = 0.5369
	skinB         = 0.4145
	skinThreshold = 0.8
)

// place is the placement of the window of a w×h box on the W×H source
// of which s scores a small copy: the point the best window is centred
// on.
func (s saliency) place(W, H, w, h int) placement {
	_, _, cw, ch := cropWindow(W, H, w, h, placement{})
	var p placement
	if cw < W {
		p.dx = bestWindow(s.cols, float64(cw)/float64(W))
	}
	if ch < H {
		p.dy = bestWindow(s.rows, float64(ch)/float64(H))
	}
	return p
}

// bestWindow slides a window of frac of len(sums) along sums and returns
// the centre of the best one, as an offset from the middle in fractions
// of the length.
func bestWindow(sums []float64, frac float64) float64 {
	n := len(sums)
	k := min(max(int(math.Round(frac*float64(n))), 1), n)
	if k == n {
		return 0
	}
	win := make([]float64, n-k+1) // win[i]: sum of sums[i:i+k]
	var total float64
	for _, v := range sums[:k] {
		total += v
	}
	win[0] = total
	for i := 1; i < len(win); i++ {
		total += sums[i+k-1] - sums[i-1]
		win[i] = total
	}
	best := 0
	for i, v := range win {
		if v > win[best] {
			best = i
		}
	}
	// The run of as-good positions around the best: its middle.
	good := win[best] * (1 - smartTolerance)
	lo, hi := best, best
	for lo > 0 && win[lo-1] >= good {
		lo--
	}
	for hi < len(win)-1 && win[hi+1] >= good {
		hi++
	}
	centre := (float64(lo+hi)/2 + float64(k)/2) / float64(n)
	return centre - 0.5
}

// boxShrink averages img's pixels in boxes into a w×h image (w, h at
// most img's size): a cheap small copy, every source pixel read once.
func boxShrink(img *image.RGBA, w, h int) *image.RGBA {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	col := make([]int, W) // output column of each source column
	for x := range W {
		col[x] = x * w / W
	}
	acc := make([]uint64, 4*w)
	cnt := make([]uint64, w)
	for x := range W {
		cnt[col[x]]++
	}
	y := 0
	for j := range h {
		clear(acc)
		y1 := (j + 1) * H / h
		rows := uint64(y1 - y)
		for ; y < y1; y++ {
			o := img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+y)
			row := img.Pix[o : o+4*W]
			for x := range W {
				a := acc[4*col[x] : 4*col[x]+4 : 4*col[x]+4]
				p := row[4*x : 4*x+4 : 4*x+4]
				a[0] += uint64(p[0])
				a[1] += uint64(p[1])
				a[2] += uint64(p[2])
				a[3] += uint64(p[3])
			}
		}
		d := dst.Pix[j*dst.Stride : j*dst.Stride+4*w]
		for i := range w {
			n := cnt[i] * rows
			for c := range 4 {
				d[4*i+c] = uint8((acc[4*i+c] + n/2) / n)
			}
		}
	}
	return dst
}

// resolveRGBA returns p with the smart point found on img, when p asks
// for it, for a w×h thumbnail of img.
func (p placement) resolveRGBA(img *image.RGBA, w, h int) placement {
	if !p.smart {
		return p
	}
	W, H := img.Rect.Dx(), img.Rect.Dy()
	sw, sh := saliencySize(W, H)
	small := img
	if sw != W || sh != H {
		small = boxShrink(img, sw, sh)
	}
	return saliencyOf(small).place(W, H, w, h)
}

// resolvePicture returns p with the smart point found on the picture
// decodeSource made smaller or to planes (its part x×y), when p asks for
// it, for a w×h thumbnail of it.
func (p placement) resolvePicture(ctx context.Context, pic *picture, w, h int) (placement, error) {
	if !p.smart {
		return p, nil
	}
	small, err := pic.smallCopy(ctx)
	if err != nil {
		return p, err
	}
	return saliencyOf(small).place(pic.width, pic.height, w, h), nil
}

// smallCopy is the part x×y of a picture that decodeSource made smaller
// or to planes, upright, averaged in boxes to at most saliencySide a
// side: from the planes, the Y plane's boxes with the Cb and Cr samples
// at their centres, never resampled with a filter (a Lanczos pass from
// the planes was a sizable part of the 20 MP corpus JPEG's thumbnail).
func (p *picture) smallCopy(ctx context.Context) (*image.RGBA, error) {
	x, y := p.x, p.y
	d := p.planes
	if d == nil {
		r := image.Rect(int(x.from), int(y.from), int(math.Ceil(x.from+x.size)), int(math.Ceil(y.from+y.size))).Intersect(p.still.Rect)
		img := view(p.still, r.Min.X-p.still.Rect.Min.X, r.Min.Y-p.still.Rect.Min.Y, r.Dx(), r.Dy())
		w, h := saliencySize(r.Dx(), r.Dy())
		return boxShrink(img, w, h), nil
	}
	sw, sh := d.outSize()
	if p.orientation >= 5 {
		x, y = orientSpans(x, y, sh, sw, inverseOrientation(p.orientation))
	} else {
		x, y = orientSpans(x, y, sw, sh, inverseOrientation(p.orientation))
	}
	// The part as stored, in whole samples of the Y plane.
	lum := &d.comp[0]
	x0, y0 := min(int(x.from), lum.vw-1), min(int(y.from), lum.vh-1)
	x1, y1 := min(max(int(math.Ceil(x.from+x.size)), x0+1), lum.vw), min(max(int(math.Ceil(y.from+y.size)), y0+1), lum.vh)
	w, h := saliencySize(x1-x0, y1-y0)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	cols := make([]int, w+1) // column i's box: cols[i]..cols[i+1]
	for i := range cols {
		cols[i] = x0 + i*(x1-x0)/w
	}
	for j := range h {
		ya, yb := y0+j*(y1-y0)/h, y0+(j+1)*(y1-y0)/h
		row := dst.Pix[j*dst.Stride : j*dst.Stride+4*w]
		for i := range w {
			xa, xb := cols[i], cols[i+1]
			var sum uint32
			for yy := ya; yy < yb; yy++ {
				for _, v := range lum.plane[yy*lum.stride+xa : yy*lum.stride+xb] {
					sum += uint32(v)
				}
			}
			n := uint32((xb - xa) * (yb - ya))
			yv := uint8((sum + n/2) / n)
			r, g, b := yv, yv, yv
			if d.ncomp == 3 {
				cb, cr := &d.comp[1], &d.comp[2]
				cx, cy := (xa+xb)/2/cb.rx, (ya+yb)/2/cb.ry
				cx, cy = min(cx, cb.vw-1), min(cy, cb.vh-1)
				r, g, b = color.YCbCrToRGB(yv, cb.plane[cy*cb.stride+cx], cr.plane[cy*cr.stride+cx])
			}
			px := row[4*i : 4*i+4 : 4*i+4]
			px[0], px[1], px[2], px[3] = r, g, b, 0xff
		}
	}
	return orient(ctx, dst, p.orientation)
}

// smartPNG finds the smart placement of a w×h thumbnail of the W×H PNG
// src with a first streamed pass that decodes it straight to the small
// copy, so that the second pass can stream the crop: the full-size image
// never exists on either. ok is false when the PNG does not stream.
func smartPNG(ctx context.Context, src []byte, W, H, w, h int) (p placement, ok bool, err error) {
	sw, sh := saliencySize(W, H)
	d, streamable, err := newPNGDecoder(src)
	if err != nil {
		return p, false, pngError(err)
	}
	if !streamable {
		return p, false, nil
	}
	small, err := d.decodeResampled(ctx, scalePlan{cw: W, ch: H, w: sw, h: sh})
	if err != nil {
		return p, false, pngError(err)
	}
	return saliencyOf(small).place(W, H, w, h), true, nil
}

// resolveFirstFrame returns p with the smart point found on the first
// frame of the animation pic, when p asks for it: every frame is then
// cropped the same way.
func (p placement) resolveFirstFrame(ctx context.Context, pic *picture, w, h int) (placement, error) {
	if !p.smart {
		return p, nil
	}
	err := pic.eachCanvas(ctx, func(img *image.RGBA, _ []canvasRun, _ int) error {
		p = p.resolveRGBA(img, w, h)
		return errStopFrames
	})
	if err != nil && err != errStopFrames {
		return p, err
	}
	return p, nil
}

// pinSmart returns ops with every smart placement of a thumbnail resolved
// on what that operation receives from img, the first frame of an
// animation, so that every frame is cropped the same way. ops is
// returned as it is when none asks for smart.
func pinSmart(ctx context.Context, img *image.RGBA, ops []operation, extras *flatImages, maxPixels int64) ([]operation, error) {
	last := -1
	for i, op := range ops {
		if op.kind == opThumbnail && op.place.smart {
			last = i
		}
	}
	if last < 0 {
		return ops, nil
	}
	pinned := append([]operation(nil), ops...)
	for i, op := range pinned[:last+1] {
		if op.kind == opThumbnail && op.place.smart {
			pinned[i].place = op.place.resolveRGBA(img, op.w, op.h)
		}
		if i == last {
			break
		}
		var err error
		if img, err = pinned[i].apply(ctx, img, extras, maxPixels); err != nil {
			return nil, fmt.Errorf("%s: %w", op.kind, err)
		}
	}
	return pinned, nil
}
