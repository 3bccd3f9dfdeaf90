package main

// Shorthands that only tests use, over the engine's functions: the engine
// itself calls what they wrap with more arguments.

import (
	"context"
	"fmt"
	"image"
	"io"
)

// decodeJPEG decodes data at 1/scale of its size to RGBA, through the
// planes (see decodeJPEGPlanesChroma).
func decodeJPEG(ctx context.Context, data []byte, scale int) (*image.RGBA, error) {
	d, err := decodeJPEGPlanes(ctx, data, scale)
	if err != nil {
		return nil, err
	}
	return d.toRGBA(ctx)
}

// decodeJPEGPlanes decodes data into its component planes at 1/scale,
// chroma at full size.
func decodeJPEGPlanes(ctx context.Context, data []byte, scale int) (*jpegDecoder, error) {
	return decodeJPEGPlanesChroma(ctx, data, scale, image.Point{})
}

// lanczosWeights maps n source samples onto m output samples. Sample
// centres sit at i+0.5; when shrinking the kernel is stretched by n/m so
// that it also low-passes.
func lanczosWeights(n, m int) *filterWeights {
	return lanczosSpanWeights(n, span{0, float64(n)}, m)
}

// encodeAnimatedWebP writes full-canvas frames with delays in 1/100 s and
// a GIF loop count. Frames with few colours are lossless, the others lossy
// at quality unless lossless is set.
func encodeAnimatedWebP(ctx context.Context, w io.Writer, frames []*image.RGBA, delays []int, loopCount int, quality int, lossless bool) error {
	if len(delays) != len(frames) {
		return fmt.Errorf("encode webp: %d frames but %d delays", len(frames), len(delays))
	}
	a := newWebPAnimation(quality, lossless)
	for i, f := range frames {
		if err := a.add(ctx, f, delays[i]); err != nil {
			return err
		}
	}
	return a.finish(w, loopCount)
}

// close stops accepting jobs and waits until the queued ones are stored.
func (q *storeQueue) close() { q.stop(context.Background()) }

// inUse is the number of bytes taken now.
func (b *memBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// readHeader identifies the format from the magic bytes (never the file
// name) and reads the stored size, the frame count of a GIF (walking its
// blocks without decompressing them) and the EXIF orientation. It fails
// with errUnsupportedFormat for bytes it does not recognise (empty input
// included) and errCorruptImage for a truncated or invalid header.
func readHeader(data []byte) (header, error) {
	h, _, err := inspectLayout(data)
	return h, err
}

// inspect is readHeader; for a GIF it also tells whether the trailer is
// missing after the last complete block (image/gif insists on it, browsers
// do not).
func inspect(data []byte) (h header, noTrailer bool, err error) {
	h, l, err := inspectLayout(data)
	return h, !l.trailer, err
}

// decode reads the header, refuses a source whose width*height*frames is
// over lim.maxPixels with errTooLarge before decoding anything, decodes,
// converts to *image.RGBA and turns the result upright by its EXIF
// orientation. Callers always set lim.maxPixels: the decoders allocate
// what the header claims, so with no limit a few hostile bytes can ask for
// tens of gigabytes (a failed allocation of that size kills the process,
// it is no error or panic that could be recovered).
func decode(ctx context.Context, data []byte, lim decodeLimits) (*picture, error) {
	p, err := decodeScaled(ctx, data, lim, 0, 0, false)
	if err == nil && p.kind == pictureAnim {
		err = p.anim.check(ctx) // decodeScaled leaves that to the walk over the frames
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// decodeScaled is decode for a source that the caller shrinks to
// hintW×hintH (displayed; 0×0 for no hint) next, with applyShrunk: see
// decodeSource.
func decodeScaled(ctx context.Context, data []byte, lim decodeLimits, hintW, hintH int, toJPEG bool) (*picture, error) {
	in, err := inspectSource(data)
	if err != nil {
		return nil, err
	}
	if err := lim.checkSource(in.header); err != nil {
		return nil, err
	}
	return decodeSource(ctx, data, in, image.Pt(hintW, hintH), toJPEG, nil)
}

// shrinkHint is the size to which the first of ops scales a JPEG or WebP
// src down (see hintFor), for callers that have only the bytes.
func shrinkHint(src []byte, ops []operation) (w, h int) {
	if f := sniff(src); len(ops) == 0 || f != formatJPEG && f != formatWebP {
		return 0, 0
	}
	hd, err := readHeader(src)
	if err != nil {
		return 0, 0
	}
	return hintFor(hd, ops)
}

// hintFor is the upright size to which the first of ops scales a JPEG or
// WebP source with header hd down (its crop's cover size for a
// thumbnail), or 0×0 when it does not scale it down: the plan's hint.
func hintFor(hd header, ops []operation) (w, h int) {
	if len(ops) == 0 || hd.format != formatJPEG && hd.format != formatWebP {
		return 0, 0
	}
	W, H := source{header: hd}.upright()
	p, ok, _ := planScale(ops[0], W, H, 0)
	t := p.shrinkTarget(ok, W, H)
	return t.X, t.Y
}

// transform is transformSource of src, its header inspected first, as
// process does.
func transform(ctx context.Context, src []byte, r *request, eo engineOptions, images func(path string) ([]byte, error)) (result, error) {
	in, err := inspectSource(src)
	if err != nil {
		return result{}, err
	}
	return transformSource(ctx, in, src, r, eo, images)
}
