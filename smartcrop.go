package main

import (
	"fmt"
	"image"
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
// the window is placed to 1/256 of the source's side.
const saliencySide = 1024

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

// saliency is the score of each pixel of the small copy, w×h.
type saliency struct {
	w, h int
	v    []float32
}

// Weights of the score's terms, each in 0..1 a pixel before weighting.
const (
	edgeWeight       = 1.0
	saturationWeight = 0.2
	skinWeight       = 1.0
	// edgeCap is the Laplacian of luma (0..255) counted as full edge
	// energy: one high-contrast line (a horizon, a frame) is worth no
	// more than a patch of texture.
	edgeCap = 64.0
)

// saliencyOf scores the pixels of small, premultiplied RGBA (a
// transparent pixel is black, and the outline of an opaque shape on a
// transparent field is an edge, as it shows).
func saliencyOf(small *image.RGBA) saliency {
	w, h := small.Rect.Dx(), small.Rect.Dy()
	s := saliency{w: w, h: h, v: make([]float32, w*h)}
	luma := make([]float32, w*h)
	for y := range h {
		row := small.Pix[y*small.Stride : y*small.Stride+4*w]
		for x := range w {
			r, g, b := float32(row[4*x]), float32(row[4*x+1]), float32(row[4*x+2])
			luma[y*w+x] = 0.299*r + 0.587*g + 0.114*b
			s.v[y*w+x] = saturationWeight*saturation(r, g, b) + skinWeight*skin(r, g, b)
		}
	}
	at := func(x, y int) float32 { // edges repeat the border
		return luma[min(max(y, 0), h-1)*w+min(max(x, 0), w-1)]
	}
	for y := range h {
		for x := range w {
			lap := 4*at(x, y) - at(x-1, y) - at(x+1, y) - at(x, y-1) - at(x, y+1)
			e := min(float32(math.Abs(float64(lap))), edgeCap) / edgeCap
			v := s.v[y*w+x] + edgeWeight*e
			s.v[y*w+x] = v * v
		}
	}
	return s
}

// saturation is the HSL saturation of r, g, b (0..255) above 0.4,
// scaled to 0..1, where it shows (neither near black nor near white), as
// smartcrop.js counts it.
func saturation(r, g, b float32) float32 {
	hi, lo := max(r, g, b)/255, min(r, g, b)/255
	l := (hi + lo) / 2
	if l < 0.05 || l > 0.9 || hi == lo {
		return 0
	}
	d := hi - lo
	s := d / (hi + lo)
	if l > 0.5 {
		s = d / (2 - hi - lo)
	}
	return max(s-0.4, 0) / 0.6
}

// skin is how close the colour of r, g, b (0..255) is to skin's, as
// smartcrop.js (which libvips' attention follows) measures it: the
// distance between the two colours as unit vectors, counted from 0.8 of
// the way, for pixels lit enough to tell.
func skin(r, g, b float32) float32 {
	n := float32(math.Sqrt(float64(r*r + g*g + b*b)))
	if n == 0 || (r+g+b)/(3*255) < 0.2 {
		return 0
	}
	dr, dg, db := r/n-skinR, g/n-skinG, b/n-skinB
	v := 1 - float32(math.Sqrt(float64(dr*dr+dg*dg+db*db)))
	return max(v-skinThreshold, 0) / (1 - skinThreshold)
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
		sums := make([]float64, s.w)
		for y := range s.h {
			for x, v := range s.v[y*s.w : y*s.w+s.w] {
				sums[x] += float64(v)
			}
		}
		p.dx = bestWindow(sums, float64(cw)/float64(W))
	}
	if ch < H {
		sums := make([]float64, s.h)
		for y := range s.h {
			for _, v := range s.v[y*s.w : y*s.w+s.w] {
				sums[y] += float64(v)
			}
		}
		p.dy = bestWindow(sums, float64(ch)/float64(H))
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
// decodeScaled made smaller or to planes (its part x×y), when p asks for
// it, for a w×h thumbnail of it.
func (p placement) resolvePicture(pic *picture, w, h int) (placement, error) {
	if !p.smart {
		return p, nil
	}
	sw, sh := saliencySize(int(math.Round(pic.x.size)), int(math.Round(pic.y.size)))
	small, err := pic.scaleArea(pic.x, pic.y, max(sw, 1), max(sh, 1), 0)
	if err != nil {
		return p, err
	}
	return saliencyOf(small).place(pic.width, pic.height, w, h), nil
}

// smartPNG finds the smart placement of a w×h thumbnail of the W×H PNG
// src with a first streamed pass that decodes it straight to the small
// copy, so that the second pass can stream the crop: the full-size image
// never exists on either. ok is false when the PNG does not stream.
func smartPNG(src []byte, W, H, w, h int) (p placement, ok bool, err error) {
	sw, sh := saliencySize(W, H)
	var small *image.RGBA
	err = guard("png", func() error {
		d, streamable, err := newPNGDecoder(src)
		if err != nil {
			return pngError(err)
		}
		if !streamable {
			return errNotStreamable
		}
		if small, err = d.decodeResampled(scalePlan{cw: W, ch: H, w: sw, h: sh}); err != nil {
			return pngError(err)
		}
		return nil
	})
	if err == errNotStreamable {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	return saliencyOf(small).place(W, H, w, h), true, nil
}

// resolveFirstFrame returns p with the smart point found on the first
// frame of the animation pic, when p asks for it: every frame is then
// cropped the same way.
func (p placement) resolveFirstFrame(pic *picture, w, h int) (placement, error) {
	if !p.smart {
		return p, nil
	}
	err := pic.eachCanvas(func(img *image.RGBA, _ []canvasRun, _ int) error {
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
func pinSmart(img *image.RGBA, ops []operation, extras map[string]*image.RGBA, maxPixels int64) ([]operation, error) {
	last := -1
	for i, op := range ops {
		if op.name == "thumbnail" && op.place.smart {
			last = i
		}
	}
	if last < 0 {
		return ops, nil
	}
	pinned := append([]operation(nil), ops...)
	for i, op := range pinned[:last+1] {
		if op.name == "thumbnail" && op.place.smart {
			pinned[i].place = op.place.resolveRGBA(img, op.w, op.h)
		}
		if i == last {
			break
		}
		var err error
		if img, err = pinned[i].apply(img, extras, maxPixels); err != nil {
			return nil, fmt.Errorf("%s: %w", op.name, err)
		}
	}
	return pinned, nil
}
