package main

// Reading sources: the header (format, size, orientation, frames) without
// the pixels, the decode limits, and decoding into a picture of one kind.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/bmp"
)

// header is what inspectLayout learns without decoding pixels.
type header struct {
	format        format // an image format
	width, height int    // as stored, before EXIF orientation
	frames        int    // 1, or the number of frames of a GIF
	orientation   int    // EXIF orientation 1..8, 1 when absent or invalid
}

// maxGIFFrames bounds the frames of a GIF whatever the pixel limit: each
// frame costs image/gif a few KB besides its pixels (a cloned palette), so
// a GIF of many tiny frames could otherwise allocate far more than its
// pixel count says.
const maxGIFFrames = 10000

// inspectLayout reads data's header; for a GIF it also returns what walkGIF
// learnt of its blocks (zero for the other formats).
func inspectLayout(data []byte) (h header, l gifLayout, err error) {
	format := sniff(data)
	if format == formatNone {
		return header{}, l, fmt.Errorf("read header: %w", errUnsupportedFormat)
	}
	h = header{format: format, frames: 1, orientation: 1}
	if format == formatGIF {
		if l, err = walkGIF(data); err != nil {
			return header{}, l, err
		}
		h.width, h.height, h.frames = l.width, l.height, l.frames
	} else {
		err = guard(format, func() error {
			cfg, err := decodeConfig(format, data)
			h.width, h.height = cfg.Width, cfg.Height
			return err
		})
		if err != nil {
			return header{}, l, err
		}
		if format == formatWebP && webpAnimated(data) {
			h.frames = max(webpFrameCount(data), 1) // for the pixel limit
		}
	}
	if h.width <= 0 || h.height <= 0 {
		return header{}, l, fmt.Errorf("read %s header: %w: size %dx%d", format, errCorruptImage, h.width, h.height)
	}
	h.orientation = exifOrientation(format, data)
	return h, l, nil
}

func decodeConfig(format format, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	var cfg image.Config
	var err error
	switch format {
	case formatJPEG:
		cfg, err = jpeg.DecodeConfig(r)
	case formatPNG:
		cfg, err = png.DecodeConfig(r)
	case formatBMP:
		cfg, err = bmp.DecodeConfig(r)
	case formatWebP:
		w, h, err := webpConfig(data)
		if err != nil {
			return cfg, fmt.Errorf("read webp header: %w", err)
		}
		return image.Config{Width: w, Height: h}, nil
	default:
		return cfg, fmt.Errorf("read header: %w: %s", errUnsupportedFormat, format)
	}
	if err != nil {
		return cfg, decodeError(format, err)
	}
	return cfg, nil
}

// guard runs a call of the x/image or image decoders, turning a panic
// (they have had some on hostile input) into errCorruptImage. Our own
// decoders run unguarded: a panic there is a bug, which flightGroup.run
// turns into a logged 500 with its stack, never a 422 that echoes it.
func guard(format format, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode %s: %w: decoder panic: %v", format, errCorruptImage, r)
		}
	}()
	return f()
}

// decodeError wraps a decoder's error: valid but unsupported features
// become errUnsupportedFormat, everything else errCorruptImage.
func decodeError(format format, err error) error {
	var je jpeg.UnsupportedError
	var pe png.UnsupportedError
	if errors.As(err, &je) || errors.As(err, &pe) || errors.Is(err, bmp.ErrUnsupported) {
		return fmt.Errorf("decode %s: %w: %v", format, errUnsupportedFormat, err)
	}
	return fmt.Errorf("decode %s: %w: %v", format, errCorruptImage, err)
}

// animation is a source decoded frame by frame as it is walked: an
// animated GIF (gif.go) or WebP (webpanim.go).
type animation interface {
	// eachCanvas calls fn for every frame in display order with the
	// composited width×height canvas (the walk's own), the runs of
	// pixels that changed since the last call and the delay in 1/100 s.
	eachCanvas(ctx context.Context, width, height int, fn func(img *image.RGBA, changed []canvasRun, delay int) error) error
	check(ctx context.Context) error // decodes every frame, for the errors
	frameCount() int                 // frames
	loops() int                      // as gif.GIF.LoopCount
}

// webpAnimated tells whether a WebP's VP8X header (always its first
// chunk when present) sets the animation flag: such a WebP is decoded
// frame by frame (webpanim.go).
func webpAnimated(data []byte) bool {
	return len(data) >= 21 && string(data[12:16]) == "VP8X" && data[20]&(1<<1) != 0
}

// decodeLimits bounds what decode is willing to allocate.
type decodeLimits struct {
	maxPixels int64 // width*height*frames of the source; 0 = unlimited
	// maxDimensions refuses a source both wider and taller than it
	// (options.max_image_dimensions); zero: no limit.
	maxDimensions dimensions
}

// check refuses, with errTooLarge, a source whose header h is over lim.
func (lim decodeLimits) check(h header) error {
	if n := sourcePixels(h); lim.maxPixels > 0 && n > lim.maxPixels {
		return fmt.Errorf("decode %s: %w: %d pixels (%dx%d, %d frames), over the limit of %d",
			h.format, errTooLarge, n, h.width, h.height, h.frames, lim.maxPixels)
	}
	return lim.checkDimensions(h)
}

// checkDimensions refuses, with errTooLarge, a source both wider and
// taller than lim.maxDimensions.
func (lim decodeLimits) checkDimensions(h header) error {
	if d := lim.maxDimensions; d.over(h.width, h.height) {
		return fmt.Errorf("decode %s: %w: %dx%d is over options.max_image_dimensions (%dx%d) both ways",
			h.format, errTooLarge, h.width, h.height, d.Width, d.Height)
	}
	return nil
}

// pictureKind says what a picture holds.
type pictureKind int

const (
	// pictureStill: still is the whole source, upright.
	pictureStill pictureKind = iota
	// pictureAnim: anim is an animated GIF or WebP, decoded frame by
	// frame as it is walked.
	pictureAnim
	// pictureShrunk: still is the source decoded smaller (a JPEG at 1/2,
	// 1/4 or 1/8), upright; the source lies in its part x×y, in pixels
	// that may be fractional (a JPEG decoded at 1/8 of a width that 8
	// does not divide holds part of a pixel in its last column). The
	// first operation is finished from it (applyShrunk).
	pictureShrunk
	// picturePlanes: planes holds a JPEG's or a lossy WebP's decoded
	// planes (maybe smaller), stored with EXIF orientation orientation;
	// the source lies in the part x×y of them turned upright. The first
	// operation is finished from them (applyShrunk, or applyShrunkYCbCr
	// straight to JPEG).
	picturePlanes
	// pictureScaled: still is the first operation's result; the decoder
	// ran it on the rows (routePNGRows, routeWebPRows).
	pictureScaled
)

// picture is a decoded source.
type picture struct {
	kind          pictureKind
	format        format
	width, height int         // displayed size, after EXIF orientation
	still         *image.RGBA // pictureStill, pictureShrunk, pictureScaled
	anim          animation   // pictureAnim
	x, y          span        // pictureShrunk, picturePlanes
	planes        *jpegDecoder
	orientation   int // picturePlanes
}

// checkSource is check, and refuses a GIF of more than maxGIFFrames.
func (lim decodeLimits) checkSource(h header) error {
	if h.frames > maxGIFFrames {
		return fmt.Errorf("decode gif: %w: %d frames, over the limit of %d", errTooLarge, h.frames, maxGIFFrames)
	}
	return lim.check(h)
}

// decodeSource decodes data, whose header inspectSource read into in and
// the limits accepted, for a first operation that shrinks it to hint
// (displayed; 0×0 for none): a JPEG at least four times that size both
// ways decodes at 1/2, 1/4 or 1/8 of its size (see shrinkOnLoad), and a
// grey or YCbCr JPEG or a lossy WebP without alpha stays in planes that
// applyShrunk resamples without making the full-size RGBA image. toJPEG
// says that applyShrunkYCbCr will take a JPEG's planes to 4:2:0
// (straightToJPEG): the chroma is then decoded only as large as that
// needs (see chromaScale). An animation is decoded as it is walked.
// cmyk, when not nil, is the CMYK JPEG's own profile (icc.go): its pixels
// are converted with it instead of the naive inversion.
func decodeSource(ctx context.Context, data []byte, in source, hint image.Point, toJPEG bool, cmyk *colourTransform) (*picture, error) {
	h := in.header
	p := &picture{kind: pictureStill, format: h.format, width: h.width, height: h.height}
	switch {
	case in.animated && h.format == formatWebP:
		a, err := newWebPAnim(data, h.width, h.height)
		if err != nil {
			return nil, fmt.Errorf("decode webp: %w", err)
		}
		p.kind, p.anim = pictureAnim, a
		return p, nil
	case h.format == formatGIF:
		a := &gifAnim{data: data, noTrailer: !in.gif.trailer, frames: h.frames, loopCount: in.gif.loopCount}
		if h.frames > 1 {
			p.kind, p.anim = pictureAnim, a
			return p, nil
		}
		// A single frame is composited now.
		err := a.eachCanvas(ctx, p.width, p.height, func(img *image.RGBA, _ []canvasRun, _ int) error {
			p.still = img // the walk ends after the only frame: the canvas is ours
			return nil
		})
		if err != nil {
			return nil, err
		}
		return p, nil
	case h.format == formatJPEG:
		if n := jpegScanCount(data); n > maxJPEGScans {
			return nil, fmt.Errorf("decode jpeg: %w: %d scans, over the limit of %d (maxJPEGScans)", errTooLarge, n, maxJPEGScans)
		}
		hinted := hint.X > 0 && hint.Y > 0
		var chroma image.Point // 4:2:0 of the hinted size, as stored
		if hinted && toJPEG {
			chroma = image.Pt((hint.X+1)/2, (hint.Y+1)/2)
			if h.orientation >= 5 {
				chroma.X, chroma.Y = chroma.Y, chroma.X
			}
		}
		if err := decodeJPEGPicture(ctx, p, data, h, shrinkOnLoad(h, hint.X, hint.Y), hinted, chroma, cmyk); err != nil {
			return nil, err
		}
		return p, nil
	case h.format == formatWebP: // our own decoder: a panic in it is a bug, a 500
		l, err := webpLayoutOf(data)
		if err == nil {
			err = decodeWebPPicture(ctx, p, l, h, hint.X, hint.Y)
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	case h.format == formatPNG:
		img, err := decodePNG(ctx, data)
		if err != nil {
			return nil, err
		}
		if p.still, err = orient(ctx, img, h.orientation); err != nil {
			return nil, fmt.Errorf("decode png: %w", err)
		}
		p.width, p.height = p.still.Rect.Dx(), p.still.Rect.Dy()
		return p, nil
	}
	return decodeBMP(ctx, p, data, h)
}

// decodeBMP decodes a BMP (with x/image's decoder, guarded) into p.
func decodeBMP(ctx context.Context, p *picture, data []byte, h header) (*picture, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("decode %s: %w", h.format, err)
	}
	var m image.Image
	err := guard(h.format, func() error {
		var err error
		r := bytes.NewReader(data)
		switch h.format {
		case formatBMP:
			m, err = bmp.Decode(r)
		}
		if err != nil {
			return decodeError(h.format, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // x/image decoders do not look at it
		return nil, fmt.Errorf("decode %s: %w", h.format, err)
	}
	if p.still, err = orient(ctx, toRGBA(m), h.orientation); err != nil {
		return nil, fmt.Errorf("decode %s: %w", h.format, err)
	}
	p.width, p.height = p.still.Rect.Dx(), p.still.Rect.Dy()
	return p, nil
}

// decodeJPEGPicture decodes a JPEG at 1/scale with our decoder (at scale
// 1 too: it measured faster than image/jpeg plus the conversion to RGBA),
// turned upright; with planar, to planes when resampleRGBA takes them,
// with the chroma only as large as chroma (decodeJPEGPlanesChroma).
func decodeJPEGPicture(ctx context.Context, p *picture, data []byte, h header, scale int, planar bool, chroma image.Point, cmyk *colourTransform) error {
	d, err := decodeJPEGPlanesChroma(ctx, data, scale, chroma)
	if err != nil {
		return err
	}
	p.width, p.height = h.width, h.height
	if h.orientation >= 5 {
		p.width, p.height = h.height, h.width
	}
	w, ht := d.outSize()
	spans := func() (span, span) {
		s := float64(scale)
		return orientSpans(span{0, float64(h.width) / s}, span{0, float64(h.height) / s}, w, ht, h.orientation)
	}
	if planar && d.planar() {
		p.kind, p.planes, p.orientation = picturePlanes, d, h.orientation
		p.x, p.y = spans()
		return nil
	}
	var img *image.RGBA
	if d.ncomp == 4 && cmyk != nil {
		img, err = cmyk.cmykToRGBA(ctx, d)
	} else {
		img, err = d.toRGBA(ctx)
	}
	if err != nil {
		return err
	}
	if p.still, err = orient(ctx, img, h.orientation); err != nil {
		return fmt.Errorf("decode jpeg: %w", err)
	}
	if scale > 1 {
		p.kind = pictureShrunk
		p.x, p.y = spans()
	}
	return nil
}

// scaleArea scales the part x×y of the picture's image (upright, in the
// pixels of still or of the planes) to w×h.
func (p *picture) scaleArea(ctx context.Context, x, y span, w, h int, maxPixels int64) (*image.RGBA, error) {
	if p.planes == nil {
		return scaleArea(ctx, p.still, x, y, w, h, maxPixels)
	}
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	// Resample as stored, then turn the small result upright.
	sw, sh := p.planes.outSize()
	uw, uh := sw, sh // upright size
	if p.orientation >= 5 {
		uw, uh = sh, sw
		w, h = h, w
	}
	x, y = orientSpans(x, y, uw, uh, inverseOrientation(p.orientation))
	m, err := p.planes.resampleRGBA(ctx, x, y, w, h)
	if err != nil {
		return nil, err
	}
	return orient(ctx, m, p.orientation)
}

// scaleYCbCr is scaleArea for a picture in planes whose result goes to
// the JPEG encoder: grey, or YCbCr 4:2:0. Each chroma sample covers two
// by two pixels of the upright result, so its span is set upright, then
// turned as stored with the luma's.
func (p *picture) scaleYCbCr(ctx context.Context, x, y span, w, h int, maxPixels int64) (image.Image, error) {
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	cw, ch := (w+1)/2, (h+1)/2
	cx := span{x.from, x.size * float64(2*cw) / float64(w)}
	cy := span{y.from, y.size * float64(2*ch) / float64(h)}
	sw, sh := p.planes.outSize()
	uw, uh := sw, sh // upright size
	if p.orientation >= 5 {
		uw, uh = sh, sw
		w, h = h, w
	}
	inv := inverseOrientation(p.orientation)
	x, y = orientSpans(x, y, uw, uh, inv)
	cx, cy = orientSpans(cx, cy, uw, uh, inv)
	m, err := p.planes.resampleYCbCr(ctx, x, y, cx, cy, w, h)
	if err != nil {
		return nil, err
	}
	return orientPlanes(m, p.orientation), nil
}

// shrinkOnLoad is the scale at which to decode a source with header h
// that is shrunk to hintW×hintH (displayed) next: for a JPEG, the largest
// that leaves the resample a factor of two or more to do, as libvips does:
// scaling in the DCT domain works block by block and shows on hard edges
// when the Lanczos resample has little left to do.
func shrinkOnLoad(h header, hintW, hintH int) int {
	if h.format != formatJPEG || hintW <= 0 || hintH <= 0 {
		return 1
	}
	if h.orientation >= 5 { // stored turned a quarter
		hintW, hintH = hintH, hintW
	}
	return jpegScale(h.width, h.height, 2*hintW, 2*hintH)
}

// sourcePixels is width*height*frames, saturating instead of overflowing.
func sourcePixels(h header) int64 {
	const maxInt64 = 1<<63 - 1
	n := int64(h.width) * int64(h.height) // each side fits in 32 bits
	if h.frames > 1 && n > maxInt64/int64(h.frames) {
		return maxInt64
	}
	return n * int64(max(h.frames, 1))
}

func (p *picture) frameCount() int {
	if p.kind == pictureAnim {
		return p.anim.frameCount()
	}
	return 1
}

// loopCount has the meaning of gif.GIF.LoopCount (0 loops forever, -1
// plays once, n plays n+1 times); it is 0 for stills.
func (p *picture) loopCount() int {
	if p.kind == pictureAnim {
		return p.anim.loops()
	}
	return 0
}

// eachFrame calls fn for every frame in display order with the frame
// composited on the full canvas and its delay in 1/100 s, and stops at the
// first error fn returns, returning it. Animated frames are fresh images
// that fn may keep or modify. A still yields one frame, delay 0: the
// picture's own image, handed over without a copy (fn may keep or modify
// it; the picture then holds the change).
func (p *picture) eachFrame(ctx context.Context, fn func(img *image.RGBA, delay int) error) error {
	if p.kind != pictureAnim {
		return fn(p.still, 0)
	}
	return p.anim.eachCanvas(ctx, p.width, p.height, func(img *image.RGBA, _ []canvasRun, delay int) error {
		out := image.NewRGBA(img.Rect)
		copy(out.Pix, img.Pix)
		return fn(out, delay)
	})
}

// eachCanvas is eachFrame without the copies: fn gets the canvas of the
// walk, which it must not modify and may keep only if it stops the walk,
// and the runs of pixels that changed since the previous frame (every
// row for the first).
func (p *picture) eachCanvas(ctx context.Context, fn func(img *image.RGBA, changed []canvasRun, delay int) error) error {
	if p.kind != pictureAnim {
		return fn(p.still, wholeRuns(nil, p.still.Rect), 0)
	}
	return p.anim.eachCanvas(ctx, p.width, p.height, fn)
}
