package main

// Turning images: flips, rotations, and EXIF orientation.

import (
	"context"
	"encoding/binary"
	"image"
)

// The primitives below take any *image.RGBA (Rect.Min need not be (0,0))
// and return a new image whose Rect.Min is (0,0). They index Pix directly:
// row y of src starts at Pix[y*Stride] whatever Rect.Min is. They poll
// ctx once a row (of tiles, for the quarter turns) and stop with its
// error once it ends.

// flipH mirrors src left-right.
func flipH(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	return mirror(ctx, src, false, true)
}

// flipV mirrors src top-bottom.
func flipV(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	return mirror(ctx, src, true, false)
}

// rotate180 turns src upside down.
func rotate180(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	return mirror(ctx, src, true, true)
}

// mirror copies src with its rows in reverse order when rows is set, and
// the pixels of each row in reverse order when cols is set.
func mirror(ctx context.Context, src *image.RGBA, rows, cols bool) (*image.RGBA, error) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dy := y
		if rows {
			dy = h - 1 - y
		}
		s := src.Pix[y*src.Stride : y*src.Stride+4*w]
		d := dst.Pix[dy*dst.Stride : dy*dst.Stride+4*w]
		if !cols {
			copy(d, s)
			continue
		}
		for x, j := 0, 4*(w-1); x < 4*w; x, j = x+4, j-4 {
			binary.LittleEndian.PutUint32(d[j:], binary.LittleEndian.Uint32(s[x:]))
		}
	}
	return dst, nil
}

// rotate90 turns src 90° counter-clockwise: its top-right corner becomes
// the top-left one. dst(x, y) = src(w-1-y, x).
func rotate90(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	w := src.Rect.Dx()
	return swapAxes(ctx, src, func(y int) int { return 4 * (w - 1 - y) }, src.Stride)
}

// rotate270 turns src 270° counter-clockwise (90° clockwise): its top-left
// corner becomes the top-right one. dst(x, y) = src(y, h-1-x).
func rotate270(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	h := src.Rect.Dy()
	return swapAxes(ctx, src, func(y int) int { return 4*y + (h-1)*src.Stride }, -src.Stride)
}

// transpose mirrors src across its main diagonal (EXIF orientation 5):
// dst(x, y) = src(y, x).
func transpose(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	return swapAxes(ctx, src, func(y int) int { return 4 * y }, src.Stride)
}

// transverse mirrors src across its anti-diagonal (EXIF orientation 7):
// dst(x, y) = src(w-1-y, h-1-x).
func transverse(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	return swapAxes(ctx, src, func(y int) int { return 4*(w-1-y) + (h-1)*src.Stride }, -src.Stride)
}

// swapAxes builds the h x w image whose row y is read from src starting at
// Pix offset start(y) and moving step bytes per pixel (a column of src, up
// or down). It walks 64x64 tiles so that both images stay in cache.
func swapAxes(ctx context.Context, src *image.RGBA, start func(y int) int, step int) (*image.RGBA, error) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, sh, sw))
	const tile = 64
	for ty := 0; ty < sw; ty += tile {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		yEnd := min(ty+tile, sw)
		for tx := 0; tx < sh; tx += tile {
			xEnd := min(tx+tile, sh)
			for y := ty; y < yEnd; y++ {
				s := start(y) + tx*step
				d := dst.Pix[y*dst.Stride+4*tx : y*dst.Stride+4*xEnd]
				for i := 0; i < len(d); i += 4 {
					binary.LittleEndian.PutUint32(d[i:], binary.LittleEndian.Uint32(src.Pix[s:]))
					s += step
				}
			}
		}
	}
	return dst, nil
}

// orient turns an image stored with EXIF orientation 1..8 upright. Any
// other value, and 1, return src itself.
func orient(ctx context.Context, src *image.RGBA, orientation int) (*image.RGBA, error) {
	switch orientation {
	case 2: // row 0 at the top, column 0 on the right
		return flipH(ctx, src)
	case 3: // row 0 at the bottom, column 0 on the right
		return rotate180(ctx, src)
	case 4: // row 0 at the bottom, column 0 on the left
		return flipV(ctx, src)
	case 5: // row 0 on the left, column 0 at the top
		return transpose(ctx, src)
	case 6: // row 0 on the right, column 0 at the top: turn 90° clockwise
		return rotate270(ctx, src)
	case 7: // row 0 on the right, column 0 at the bottom
		return transverse(ctx, src)
	case 8: // row 0 on the left, column 0 at the bottom: turn 90° counter-clockwise
		return rotate90(ctx, src)
	}
	return src, nil
}

// inverseOrientation is the orientation that undoes o's turn: 6 and 8
// turn a quarter each way, the others are their own inverse.
func inverseOrientation(o int) int {
	switch o {
	case 6:
		return 8
	case 8:
		return 6
	}
	return o
}

// orientSpans is where the spans x and y of a w×h image lie once orient
// has turned it upright.
func orientSpans(x, y span, w, h, orientation int) (span, span) {
	flip := func(s span, n int) span { return span{float64(n) - s.from - s.size, s.size} }
	switch orientation {
	case 2:
		return flip(x, w), y
	case 3:
		return flip(x, w), flip(y, h)
	case 4:
		return x, flip(y, h)
	case 5:
		return y, x
	case 6:
		return flip(y, h), x
	case 7:
		return flip(y, h), flip(x, w)
	case 8:
		return y, flip(x, w)
	}
	return x, y
}
