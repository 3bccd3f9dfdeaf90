package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"testing"
)

// moireChart is a 2400x1600 test chart made to alias: square-wave
// gratings of periods around the 8 pixels that a resize to 300 wide
// averages (vertical bars on the left third, horizontal on the middle),
// checkerboards of three cell sizes in colour, a zone plate whose rings
// reach the source's Nyquist frequency, and text-like strokes one to
// three pixels wide. Each pixel is the mean of 2x2 samples.
func moireChart() *image.RGBA {
	const w, h = 2400, 1600
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	periods := []float64{3, 5, 6.5, 7, 8, 9, 11, 13, 17, 24, 33, 48, 64, 96, 128, 160}
	grating := func(u, v float64) float64 { // u across the bars, v along
		p := periods[min(int(v/100), len(periods)-1)]
		if math.Mod(u, p) < p/2 {
			return 1
		}
		return 0
	}
	sample := func(x, y float64) (r, g, b float64) {
		switch {
		case x < 800: // vertical bars, period by row band
			c := grating(x, y)
			return c, c, c
		case x < 1600: // horizontal bars, period by column band
			c := grating(y, (x-800)*2)
			return c, c, c
		case y < 800: // checkerboards: cells 3, 5 and 12 pixels
			cell := []float64{3, 5, 12}[min(int(y/267), 2)]
			if (int(x/cell)+int(y/cell))%2 == 0 {
				return 0.9, 0.2, 0.2
			}
			return 0.1, 0.2, 0.9
		case y < 1200: // zone plate: cos(pi r^2 / R) reaches 0.5 cycle/px at r = R
			dx, dy := x-2000, y-1000
			const big = 400.0
			c := 0.5 + 0.5*math.Cos(math.Pi*(dx*dx+dy*dy)/big)
			return c, c, c
		default: // strokes: letter-sized cells of 1-3 px lines
			cx, cy := math.Mod(x-1600, 40), math.Mod(y-1200, 48)
			k := int((x-1600)/40) + 7*int((y-1200)/48)
			sw := float64(1 + k%3)
			ink := (cx >= 6 && cx < 6+sw) || // stem
				(cy >= 8 && cy < 8+sw && cx < 30) || // top bar
				(k%2 == 0 && cy >= 22 && cy < 22+sw && cx < 26) || // middle bar
				(k%3 != 1 && math.Abs(cx-6-(cy-8)*0.6) < sw/2 && cy < 40) // diagonal
			if ink {
				return 0.05, 0.05, 0.05
			}
			return 0.95, 0.95, 0.95
		}
	}
	for y := range h {
		row := m.Pix[y*m.Stride:]
		for x := range w {
			var r, g, b float64
			for _, o := range [4][2]float64{{0.25, 0.25}, {0.75, 0.25}, {0.25, 0.75}, {0.75, 0.75}} {
				sr, sg, sb := sample(float64(x)+o[0], float64(y)+o[1])
				r, g, b = r+sr, g+sg, b+sb
			}
			row[4*x] = uint8(r/4*255 + 0.5)
			row[4*x+1] = uint8(g/4*255 + 0.5)
			row[4*x+2] = uint8(b/4*255 + 0.5)
			row[4*x+3] = 255
		}
	}
	return m
}

// moireCase is the chart, and the chart as JPEG q90 and as PNG.
type moireCase struct {
	chart    *image.RGBA
	jpg, png []byte
}

func newMoireCase(t testing.TB) moireCase {
	t.Helper()
	c := moireCase{chart: moireChart()}
	var jb, pb bytes.Buffer
	if err := encodeJPEG(context.Background(), &jb, c.chart, jpegOptions{quality: 90}); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&pb, c.chart); err != nil {
		t.Fatal(err)
	}
	c.jpg, c.png = jb.Bytes(), pb.Bytes()
	return c
}

// truth is the chart resized to w wide by the reference path: its own
// pixels (no shrink-on-load, no JPEG) through the Lanczos-3 of applyOps,
// as TestShrinkOnLoadQuality.
func (c moireCase) truth(t testing.TB, w int) *image.RGBA {
	t.Helper()
	m, err := applyOps(context.Background(), c.chart, parseTestRequest(t, fmt.Sprintf("path=x&op=resize&w=%d", w)).ops, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// oursSSIM is the luma SSIM against the truth of the engine's w-wide PNG
// of src.
func (c moireCase) oursSSIM(t testing.TB, src []byte, w int) float64 {
	t.Helper()
	got := transformRGBA(t, src, parseTestRequest(t, fmt.Sprintf("path=x&op=resize&w=%d&fmt=png", w)))
	if got.Rect.Dx() != w || got.Rect.Dy() != w*2/3 {
		t.Fatalf("resized to %v, want %dx%d", got.Rect.Size(), w, w*2/3)
	}
	return ssimLuma(c.truth(t, w), got)
}

// TestNoMoireFromJPEG resizes the chart to 300 wide from JPEG q90 and from
// PNG: the DCT-domain shrink-on-load must leave the Lanczos enough to
// filter, so that the JPEG source loses no more than the q90 encode
// itself costs, and must do no worse than libvips (vipsthumbnail -s 300:
// 0.9180 from the JPEG, bench/quality.sh). Today it decodes the chart at
// 1/4 (2-point IDCT) and leaves the Lanczos a factor of 2; decoding at
// 1/8 instead (the DC alone) drops it to 0.742.
func TestNoMoireFromJPEG(t *testing.T) {
	c := newMoireCase(t)
	fromJPEG, fromPNG := c.oursSSIM(t, c.jpg, 300), c.oursSSIM(t, c.png, 300)
	t.Logf("luma SSIM against the reference Lanczos-3 of the chart: from JPEG q90 %.4f, from PNG %.4f", fromJPEG, fromPNG)
	if fromJPEG < moireBound || fromJPEG < fromPNG-0.005 {
		t.Errorf("from JPEG: SSIM %.4f, want >= %.4f and within 0.005 of the PNG's %.4f", fromJPEG, moireBound, fromPNG)
	}
}

// moireBound is the least luma SSIM of the chart from JPEG: libvips'
// measured figure (bench/quality.sh). The pipeline is deterministic, so
// the figure does not move between runs.
const moireBound = 0.918
