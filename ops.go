package main

// The operations on a decoded picture: resize, thumbnail, fit, pad, flip,
// rotate, effect and noop (flat is in flat.go).

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
)

// scaling is op as apply runs it when it scales: thumbnail and pad with
// one side behave like resize.
func (op operation) scaling() operation {
	if (op.kind == opThumbnail || op.kind == opPad) && (op.w == 0 || op.h == 0) {
		op.kind = opResize
	}
	return op
}

func onlyNoop(ops []operation) bool {
	for _, op := range ops {
		if op.kind != opNoop {
			return false
		}
	}
	return true
}

// applyOps runs ops in order on one frame.
func applyOps(ctx context.Context, img *image.RGBA, ops []operation, extras *flatImages, maxPixels int64) (*image.RGBA, error) {
	var err error
	for _, op := range ops {
		if img, err = op.apply(ctx, img, extras, maxPixels); err != nil {
			return nil, fmt.Errorf("%s: %w", op.kind, err)
		}
	}
	return img, nil
}

// apply runs op on img. It may return img itself when nothing changes.
// extras draws flat's images; nil when there are none.
func (op operation) apply(ctx context.Context, img *image.RGBA, extras *flatImages, maxPixels int64) (*image.RGBA, error) {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	switch op.kind {
	case opResize, opThumbnail, opPad, opFit:
		p, ok, err := planScale(op, W, H, maxPixels)
		if err != nil {
			return nil, err
		}
		if !ok {
			return img, nil
		}
		if p.crop && op.place.smart {
			op.place = op.place.resolveRGBA(img, op.w, op.h)
			p, _, _ = planScale(op, W, H, maxPixels)
		}
		return p.resample(ctx, img, maxPixels)
	case opFlip:
		if op.axis == 'h' {
			return flipH(ctx, img)
		}
		return flipV(ctx, img)
	case opRotate:
		switch op.deg {
		case 180:
			return rotate180(ctx, img)
		case 270:
			return rotate270(ctx, img)
		}
		return rotate90(ctx, img)
	case opFlat:
		return flat(ctx, img, op, extras, maxPixels)
	case opEffect:
		sigma := math.Min(50, float64(max(W, H))/20)
		if sigma <= 0 {
			return img, nil
		}
		return gaussianBlur(ctx, img, sigma)
	}
	return img, nil // noop
}

// resizeSize is the size resize makes of W0×H0 for a request of w×h: one
// side 0 keeps the aspect ratio (rounded, at least 1), both 0 keep the size.
func resizeSize(W, H, w, h int) (int, int) {
	switch {
	case w == 0 && h == 0:
		return W, H
	case w == 0:
		return max(1, int(math.Round(float64(W)*float64(h)/float64(H)))), h
	case h == 0:
		return w, max(1, int(math.Round(float64(H)*float64(w)/float64(W))))
	}
	return w, h
}

// fitSize is the largest size with W0×H0's aspect ratio inside w×h (a 0
// side is unbounded); it may exceed the source, callers decide.
func fitSize(W, H, w, h int) (int, int) {
	if w == 0 && h == 0 {
		return W, H
	}
	scale := math.Inf(1)
	if w > 0 {
		scale = float64(w) / float64(W)
	}
	if h > 0 {
		scale = math.Min(scale, float64(h)/float64(H))
	}
	return max(1, int(math.Round(float64(W)*scale))), max(1, int(math.Round(float64(H)*scale)))
}

func checkPixels(w, h int, maxPixels int64) error {
	if maxPixels > 0 && int64(w)*int64(h) > maxPixels {
		return fmt.Errorf("%w: output %dx%d is over max_output_pixels (%d)", errTooLarge, w, h, maxPixels)
	}
	return nil
}

func scaleTo(ctx context.Context, img *image.RGBA, w, h int, maxPixels int64) (*image.RGBA, error) {
	if w == img.Rect.Dx() && h == img.Rect.Dy() {
		return img, nil
	}
	return scaleArea(ctx, img, span{0, float64(img.Rect.Dx())}, span{0, float64(img.Rect.Dy())}, w, h, maxPixels)
}

// scaleArea scales the part x×y of img to w×h.
func scaleArea(ctx context.Context, img *image.RGBA, x, y span, w, h int, maxPixels int64) (*image.RGBA, error) {
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	return resampleArea(ctx, img, x, y, w, h)
}

// view is the cw×ch part of img at (x0, y0) as an image whose bounds start
// at the origin, sharing img's pixels.
func view(img *image.RGBA, x0, y0, cw, ch int) *image.RGBA {
	off := y0*img.Stride + x0*4
	return &image.RGBA{Pix: img.Pix[off:], Stride: img.Stride, Rect: image.Rect(0, 0, cw, ch)}
}

// centre draws inner in the middle of a w×h canvas of fill.
func centre(inner *image.RGBA, w, h int, fill color.NRGBA) *image.RGBA {
	canvas := image.NewRGBA(image.Rect(0, 0, w, h))
	if fill.A != 0 {
		draw.Draw(canvas, canvas.Rect, image.NewUniform(fill), image.Point{}, draw.Src)
	}
	x0, y0 := (w-inner.Rect.Dx())/2, (h-inner.Rect.Dy())/2
	draw.Draw(canvas, inner.Rect.Add(image.Pt(x0, y0)), inner, image.Point{}, draw.Over)
	return canvas
}
