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
