package main

// Scaling an animation's frames: the first operation, when it scales,
// redoes only the rows each frame changed.

import (
	"context"
	"fmt"
	"image"
)

// frameScaler runs a scaling first operation on the frames of an
// animation, redoing for each frame only the output pixels that read a
// pixel the frame changed: most frames of a screen capture or a sticker
// change a small part. It keeps the canvas filtered along x (rows first,
// as resampleArea) and the output between frames; the pixels are those
// that resampling each whole frame gives.
type frameScaler struct {
	plan   scalePlan
	wx, wy *filterWeights
	mid    *wideImage  // canvas rows filtered along x: w × canvas height
	out    *image.RGBA // w × h, the scaled frame
	spread []uint64
	sums   []int32
	// For each canvas column (row), the output columns (rows) that read
	// it: [xFrom[x], xTo[x]).
	xFrom, xTo, yFrom, yTo []int32
	marks                  []bool // output pixels to redo, w × h
}

// newFrameScaler returns the scaler for op, the first operation, on the
// frames of the animation pic, or nil when op does not resample.
func newFrameScaler(ctx context.Context, pic *picture, op operation, maxPixels int64) (*frameScaler, error) {
	if op.scaling().kind == opThumbnail {
		var err error
		if op.place, err = op.place.resolveFirstFrame(ctx, pic, op.w, op.h); err != nil {
			return nil, err
		}
	}
	plan, ok, err := planScale(op, pic.width, pic.height, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.kind, err)
	}
	if !ok || plan.keep {
		return nil, nil
	}
	s := &frameScaler{
		plan:   plan,
		wx:     lanczosSpanWeights(plan.cw, span{0, float64(plan.cw)}, plan.w),
		wy:     lanczosSpanWeights(plan.ch, span{0, float64(plan.ch)}, plan.h),
		mid:    newWideImage(plan.w, pic.height),
		out:    image.NewRGBA(image.Rect(0, 0, plan.w, plan.h)),
		spread: make([]uint64, pic.width*2),
		sums:   make([]int32, plan.w*4),
		marks:  make([]bool, plan.w*plan.h),
	}
	s.xFrom, s.xTo = readers(s.wx, plan.x0, pic.width)
	s.yFrom, s.yTo = readers(s.wy, plan.y0, pic.height)
	return s, nil
}

// readers shifts fw's taps by off and returns, for each of the n source
// samples, the range of output samples that read it.
func readers(fw *filterWeights, off, n int) (from, to []int32) {
	from, to = make([]int32, n), make([]int32, n)
	for i := range n {
		from[i] = int32(len(fw.start)) // empty until an output reads it
	}
	for o := range fw.start {
		fw.start[o] += int32(off)
		start, ws := fw.taps(o)
		for i := start; i < start+len(ws); i++ {
			from[i], to[i] = min(from[i], int32(o)), int32(o)+1
		}
	}
	// Samples outside the crop: an empty range at the right place, so
	// that [from[a], to[b-1]) is the outputs reading samples a..b-1.
	for i := n - 2; i >= 0; i-- {
		from[i] = min(from[i], from[i+1])
	}
	for i := 1; i < n; i++ {
		to[i] = max(to[i], to[i-1])
	}
	return from, to
}

// frame scales canvas, of which only the runs changed since the last
// call (every pixel for the first), and returns the scaled frame after
// the plan's last step. The result is the scaler's own until the next
// call (pad's is a new image).
func (s *frameScaler) frame(canvas *image.RGBA, changed []canvasRun) *image.RGBA {
	w := s.plan.w
	lastY, lastXb := -1, 0
	for _, c := range changed {
		if c.x0 >= c.x1 {
			continue
		}
		xa, xb := int(s.xFrom[c.x0]), int(s.xTo[c.x1-1])
		if c.y == lastY {
			xa = max(xa, lastXb) // a run of the same row may share outputs
		}
		if xa >= xb {
			continue
		}
		lastY, lastXb = c.y, xb
		// Along x: the outputs of this row that read the run.
		lo, _ := s.wx.taps(xa)
		hs, hw := s.wx.taps(xb - 1)
		hi := hs + len(hw)
		o := canvas.PixOffset(lo, c.y)
		spreadRow(s.spread[lo*2:hi*2], canvas.Pix[o:o+(hi-lo)*4])
		for x := xa; x < xb; x++ {
			start, ws := s.wx.taps(x)
			r, g, b, a := unwide(sumWide(s.spread[start*2:(start+len(ws))*2], ws))
			setSums(s.sums, x, r, g, b, a)
		}
		storeRow(nil, s.mid.row(c.y)[xa*2:xb*2], s.sums[xa*4:xb*4], weightBits)
		for j := s.yFrom[c.y]; j < s.yTo[c.y]; j++ {
			m := s.marks[int(j)*w : int(j)*w+w]
			for x := xa; x < xb; x++ {
				m[x] = true
			}
		}
	}
	// Along y: the marked output pixels, a run at a time.
	stride := s.mid.w * 2
	for y := range s.plan.h {
		m := s.marks[y*w : y*w+w]
		start, ws := s.wy.taps(y)
		p := s.mid.pix[start*stride : (start+len(ws)-1)*stride+w*2]
		d := s.out.Pix[y*s.out.Stride : y*s.out.Stride+w*4]
		for x := 0; x < w; {
			if !m[x] {
				x++
				continue
			}
			xa := x
			for x < w && m[x] {
				m[x] = false
				x++
			}
			for i := xa; i < x; i++ {
				r, g, b, a := unwide(sumWideCol(p[i*2:], ws, stride))
				setSums(s.sums, i, r, g, b, a)
			}
			storeRow(d[xa*4:x*4], nil, s.sums[xa*4:x*4], weightBits+wideFracBits)
		}
	}
	return s.plan.finish(s.out)
}
