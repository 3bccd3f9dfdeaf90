package main

// Encoding a still: the format's encoder, and flattening onto white for
// formats without alpha.

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/gif"
	"io"

	"golang.org/x/image/bmp"
)

// encodeImage writes img to w in format. quality (1..100) is used by JPEG and lossy WebP. WebP is lossy
// unless lossless is set or img has few colours (webpLossless). Formats
// without alpha (JPEG, BMP) get the image flattened onto white first; GIF
// is quantised to an adaptive palette by quantize. Any other format is
// errUnsupportedFormat. The encoders poll ctx once a row (of MCUs,
// macroblocks); those of x/image (GIF, BMP) only before they start.
func encodeImage(ctx context.Context, w io.Writer, img *image.RGBA, format format, quality int, lossless bool) error {
	switch format {
	case formatGIF, formatBMP:
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("encode %s: %w", format, err)
		}
	}
	switch format {
	case formatJPEG:
		// image/jpeg has fast paths for *image.RGBA (it converts each 8x8
		// block straight from Pix) and *image.YCbCr. Converting to YCbCr
		// ourselves (4:4:4 or 4:2:0) was measured no faster overall and
		// costs a full-size allocation, so the RGBA goes in as is.
		return encodeJPEG(ctx, w, flattenWhite(img), jpegOptions{quality: quality})
	case formatPNG:
		// writePNG writes what image/png would (8-bit RGB when opaque,
		// else 8-bit RGBA unpremultiplied row by row), at a cheaper
		// zlib level (see pngLevel).
		if err := writePNG(ctx, w, img); err != nil {
			return fmt.Errorf("encode png: %w", err)
		}
	case formatGIF:
		m := quantize(img)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("encode gif: %w", err)
		}
		if err := gif.Encode(w, m, nil); err != nil {
			return fmt.Errorf("encode gif: %w", err)
		}
	case formatBMP:
		if err := bmp.Encode(w, flattenWhite(img)); err != nil {
			return fmt.Errorf("encode bmp: %w", err)
		}
	case formatWebP:
		return encodeWebP(ctx, w, img, quality, webpLossless(img, lossless))
	default:
		return fmt.Errorf("encode %q: %w", format, errUnsupportedFormat)
	}
	return nil
}

// flattenWhite returns img composited onto opaque white. An image that is
// already opaque is returned as is, without a copy.
func flattenWhite(img *image.RGBA) *image.RGBA {
	if rgbaOpaque(img) {
		return img
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	dst := image.NewRGBA(img.Rect)
	for y := range h {
		src := img.Pix[y*img.Stride : y*img.Stride+w*4]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+w*4]
		for i := 0; i < len(src); i += 4 {
			// Premultiplied "over": c + white*(1-a) = c + 255 - a, and
			// c <= a keeps it within a byte.
			k := 255 - src[i+3]
			out[i+0] = src[i+0] + k
			out[i+1] = src[i+1] + k
			out[i+2] = src[i+2] + k
			out[i+3] = 255
		}
	}
	return dst
}

// rgbaOpaque reports whether every pixel of img has alpha 255. It tests the
// alpha bytes of eight pixels per step with four 64-bit loads, faster than
// (*image.RGBA).Opaque's byte loop on an opaque image, which must be read
// to the end.
func rgbaOpaque(img *image.RGBA) bool {
	const alphas = 0xff000000_ff000000
	w4 := img.Rect.Dx() * 4
	for y := range img.Rect.Dy() {
		row := img.Pix[y*img.Stride : y*img.Stride+w4]
		for len(row) >= 32 {
			a := binary.LittleEndian.Uint64(row) & binary.LittleEndian.Uint64(row[8:]) &
				binary.LittleEndian.Uint64(row[16:]) & binary.LittleEndian.Uint64(row[24:])
			if a&alphas != alphas {
				return false
			}
			row = row[32:]
		}
		for i := 3; i < len(row); i += 4 {
			if row[i] != 0xff {
				return false
			}
		}
	}
	return true
}
