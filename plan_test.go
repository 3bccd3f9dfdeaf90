package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"testing"
)

// encodedGradient is a w×h gradient encoded as format; alpha makes its
// right half translucent.
func encodedGradient(t *testing.T, w, h int, format string, lossless, alpha bool) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255}
			if alpha && x >= w/2 {
				c.A = 128
			}
			m.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := encodeImage(context.Background(), &buf, m, testFormat(t, format), 90, lossless); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPlanRoutes: newPlan picks the route from the header and the first
// operation, before decoding, and transform's result through that route
// has the size and format the request asks for.
func TestPlanRoutes(t *testing.T) {
	png := encodedGradient(t, 300, 200, "png", false, false)
	jpg := encodedGradient(t, 800, 600, "jpeg", false, false)
	webpLossless := encodedGradient(t, 300, 200, "webp", true, false)
	webpLossy := encodedGradient(t, 300, 200, "webp", false, false)
	gif := readTestdata(t, "giphy.gif")
	tests := []struct {
		name, query string
		src         []byte
		want        route
		w, h        int    // of the result
		format      string // of the result
	}{
		{"png resize: rows", "op=resize&w=100", png, routePNGRows, 100, 67, "png"},
		{"png thumbnail: rows", "op=thumbnail&w=50&h=50", png, routePNGRows, 50, 50, "png"},
		{"png small smart thumbnail: whole", "op=thumbnail&w=50&h=50&gravity=smart", png, routeCanvas, 50, 50, "png"},
		{"png enlargement refused: whole, untouched size", "op=resize&w=600&upscale=false", png, routeCanvas, 300, 200, "png"},
		{"png pad that fits: whole, canvas only", "op=pad&w=300&h=300", png, routeCanvas, 300, 300, "png"},
		{"png flip first: whole", "op=op:flip+pos:h&op=op:resize+w:100", png, routeCanvas, 100, 67, "png"},
		{"jpeg thumbnail to png: shrunk", "op=thumbnail&w=100&h=100&fmt=png", jpg, routeShrunk, 100, 100, "png"},
		{"jpeg thumbnail to jpeg: planes to jpeg", "op=thumbnail&w=100&h=100", jpg, routePlanesToJPEG, 100, 100, "jpeg"},
		{"jpeg pad to jpeg: shrunk, not straight", "op=pad&w=100&h=100", jpg, routeShrunk, 100, 100, "jpeg"},
		{"jpeg resize then rotate: shrunk", "op=op:resize+w:200&op=op:rotate+deg:90", jpg, routeShrunk, 150, 200, "jpeg"},
		{"jpeg enlargement: whole", "op=resize&w=1600", jpg, routeCanvas, 1600, 1200, "jpeg"},
		{"lossless webp: rows", "op=resize&w=100", webpLossless, routeWebPRows, 100, 67, "webp"},
		{"lossy webp: planes", "op=resize&w=100&fmt=png", webpLossy, routeShrunk, 100, 67, "png"},
		{"lossy webp to jpeg: planes to jpeg", "op=resize&w=100&fmt=jpg", webpLossy, routePlanesToJPEG, 100, 67, "jpeg"},
		{"animated gif: frames", "op=resize&w=50", gif, routeAnimation, 50, 0, "gif"},
		{"noop: untouched", "op=noop", png, routeUntouched, 300, 200, "png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseTestRequest(t, "path=x&"+tt.query)
			in, err := inspectSource(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			pl, err := newPlan(in, r, testEngine)
			if err != nil {
				t.Fatal(err)
			}
			if pl.route != tt.want {
				t.Errorf("route %d, want %d", pl.route, tt.want)
			}
			res, err := transform(context.Background(), tt.src, r, testEngine, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.format.String() != tt.format || sniff(res.data).String() != tt.format {
				t.Errorf("format %s (bytes: %s), want %s", res.format, sniff(res.data), tt.format)
			}
			out, err := readHeader(res.data)
			if err != nil {
				t.Fatal(err)
			}
			if out.width != tt.w || tt.h > 0 && out.height != tt.h {
				t.Errorf("result %dx%d, want %dx%d", out.width, out.height, tt.w, tt.h)
			}
			if tt.want == routeAnimation && out.frames != in.frames {
				t.Errorf("%d frames, want the source's %d", out.frames, in.frames)
			}
		})
	}
}

// TestPlanRefusesBeforeDecoding: the limits are checked on the header for
// every route, the WebP rows too (they once skipped
// max_image_dimensions).
func TestPlanRefusesBeforeDecoding(t *testing.T) {
	eo := testEngine
	eo.decode.maxDimensions = dimensions{Width: 100, Height: 100}
	for _, src := range map[string][]byte{
		"png":           encodedGradient(t, 300, 200, "png", false, false),
		"lossless webp": encodedGradient(t, 300, 200, "webp", true, false),
		"alpha webp":    encodedGradient(t, 300, 200, "webp", false, true),
		"jpeg":          encodedGradient(t, 300, 200, "jpeg", false, false),
	} {
		_, err := transform(context.Background(), src, parseTestRequest(t, "path=x&op=resize&w=50"), eo, nil)
		if !errors.Is(err, errTooLarge) {
			t.Errorf("%s over max_image_dimensions: %v, want errTooLarge", sniff(src), err)
		}
	}
}

// TestWalkGIFLoopCount: the loop count comes from the one walk of the
// blocks, as image/gif reports it.
func TestWalkGIFLoopCount(t *testing.T) {
	frames := []*image.RGBA{gradientFrame(20, 10, 0, 0), gradientFrame(20, 10, 5, 2)}
	for _, loops := range []int{0, 3} {
		var buf bytes.Buffer
		a := newGIFAnimation(&buf, loops)
		for _, f := range frames {
			if err := a.add(f, 10); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.finish(); err != nil {
			t.Fatal(err)
		}
		l, err := walkGIF(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if l.loopCount != loops || l.frames != 2 {
			t.Errorf("loops %d: walkGIF = %+v", loops, l)
		}
	}
}
