package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"os"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// uniformRGBA is a w×h image filled with the premultiplied colour c.
func uniformRGBA(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// synthRGBA is a deterministic w×h test picture: gradients, stripes and
// noise, premultiplied, with varying alpha when alpha is set.
func synthRGBA(w, h int, alpha bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(2463534242)
	for y := range h {
		for x := range w {
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			a := uint32(255)
			if alpha {
				a = uint32((x*255/w + y*255/h) / 2)
			}
			r := uint32(x*255/w) ^ (seed & 15)
			g := uint32(y * 255 / h)
			b := uint32(((x / 7) + (y / 5)) % 2 * 255)
			i := img.PixOffset(x, y)
			img.Pix[i] = uint8(r * a / 255)
			img.Pix[i+1] = uint8(g * a / 255)
			img.Pix[i+2] = uint8(b * a / 255)
			img.Pix[i+3] = uint8(a)
		}
	}
	return img
}

// checkValid reports pixels of img that are not valid premultiplied
// colours and bounds that do not start at the origin.
func checkValid(t *testing.T, what string, img *image.RGBA) {
	t.Helper()
	if img.Rect.Min != (image.Point{}) {
		t.Errorf("%s: bounds %v do not start at the origin", what, img.Rect)
	}
	for i := 0; i < len(img.Pix); i += 4 {
		p := img.Pix[i : i+4]
		if p[0] > p[3] || p[1] > p[3] || p[2] > p[3] {
			t.Errorf("%s: pixel %d = %v has colour over alpha", what, i/4, p)
			return
		}
	}
}

// findPixel returns the first pixel of img, in reading order, for which
// bad is true.
func findPixel(img *image.RGBA, bad func(x, y int, p color.RGBA) bool) (image.Point, color.RGBA, bool) {
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			if p := pixelAt(img, x, y); bad(x, y, p) {
				return image.Pt(x, y), p, true
			}
		}
	}
	return image.Point{}, color.RGBA{}, false
}

func pixelAt(img *image.RGBA, x, y int) color.RGBA {
	i := img.PixOffset(x, y)
	return color.RGBA{img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3]}
}

func TestResampleSize(t *testing.T) {
	tests := []struct {
		name         string
		sw, sh, w, h int
	}{
		{"identity", 40, 30, 40, 30},
		{"down", 500, 357, 100, 71},
		{"up", 10, 7, 33, 29},
		{"width only", 50, 20, 17, 20},
		{"height only", 50, 20, 50, 61},
		{"down one up other", 300, 10, 7, 90},
		{"1xN", 1, 100, 1, 9},
		{"Nx1", 100, 1, 9, 1},
		{"1xN to 5x5", 1, 100, 5, 5},
		{"to 1x1", 123, 77, 1, 1},
		{"1x1 up", 1, 1, 50, 50},
		{"huge reduction", 1000, 800, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := synthRGBA(tt.sw, tt.sh, true)
			got := must(resample(context.Background(), src, tt.w, tt.h))
			if got.Rect.Dx() != tt.w || got.Rect.Dy() != tt.h {
				t.Errorf("must(resample(context.Background(), %dx%d)) = %dx%d, want %dx%d", tt.sw, tt.sh, got.Rect.Dx(), got.Rect.Dy(), tt.w, tt.h)
			}
			if got.Stride != 4*tt.w || len(got.Pix) != 4*tt.w*tt.h {
				t.Errorf("must(resample(context.Background(), %dx%d)) to %dx%d: stride %d, %d bytes", tt.sw, tt.sh, tt.w, tt.h, got.Stride, len(got.Pix))
			}
			checkValid(t, "resample", got)
		})
	}
}

func TestResampleIdentityCopies(t *testing.T) {
	src := synthRGBA(20, 10, true)
	got := must(resample(context.Background(), src, 20, 10))
	if &got.Pix[0] == &src.Pix[0] {
		t.Fatal("resample to the same size returned the source's pixels, want a copy")
	}
	for i := range src.Pix {
		if got.Pix[i] != src.Pix[i] {
			t.Errorf("resample to the same size: byte %d = %d, want %d", i, got.Pix[i], src.Pix[i])
			break
		}
	}
}

func TestResampleUniform(t *testing.T) {
	colours := []struct {
		name string
		c    color.RGBA
	}{
		{"opaque", color.RGBA{200, 100, 37, 255}},
		{"alpha 128", color.RGBA{100, 50, 17, 128}},
		{"alpha 1", color.RGBA{1, 0, 1, 1}},
		{"white", color.RGBA{255, 255, 255, 255}},
		{"transparent", color.RGBA{}},
	}
	sizes := []struct{ sw, sh, w, h int }{
		{97, 61, 20, 13},
		{97, 61, 200, 150},
		{97, 61, 96, 60},
		{640, 480, 7, 3},
		{1, 1, 50, 50},
		{1, 40, 1, 13},
		{40, 1, 100, 1},
		{3, 3, 2, 500},
		{100, 2000, 95, 40}, // columns first
	}
	for _, cc := range colours {
		for _, sz := range sizes {
			name := fmt.Sprintf("%s %dx%d to %dx%d", cc.name, sz.sw, sz.sh, sz.w, sz.h)
			t.Run(name, func(t *testing.T) {
				got := must(resample(context.Background(), uniformRGBA(sz.sw, sz.sh, cc.c), sz.w, sz.h))
				if got.Rect.Dx() != sz.w || got.Rect.Dy() != sz.h {
					t.Fatalf("must(resample(context.Background(), %dx%d)) = %dx%d, want %dx%d", sz.sw, sz.sh, got.Rect.Dx(), got.Rect.Dy(), sz.w, sz.h)
				}
				if at, p, bad := findPixel(got, func(_, _ int, p color.RGBA) bool { return p != cc.c }); bad {
					t.Errorf("must(resample(context.Background(), uniform %v)) pixel %v = %v, want %v", cc.c, at, p, cc.c)
				}
			})
		}
	}
}

// notRed is true for a pixel that is not premultiplied pure red (or
// transparent).
func notRed(_, _ int, p color.RGBA) bool { return p.G != 0 || p.B != 0 || p.R != p.A }

func TestResampleCheckerboardKeepsHue(t *testing.T) {
	red := color.RGBA{255, 0, 0, 255}
	tests := []struct {
		name       string
		cell, n    int
		w, h       int
		wantBlends bool // some output pixels must be partly transparent
	}{
		{"1px cells down 3x", 1, 60, 20, 20, true},
		{"1px cells odd", 1, 64, 13, 7, true},
		{"3px cells down", 3, 90, 37, 41, true},
		{"8px cells down", 8, 128, 50, 50, true},
		{"4px cells up", 4, 16, 45, 45, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := image.NewRGBA(image.Rect(0, 0, tt.n, tt.n))
			for y := range tt.n {
				for x := range tt.n {
					if (x/tt.cell+y/tt.cell)%2 == 0 {
						src.SetRGBA(x, y, red)
					}
				}
			}
			got := must(resample(context.Background(), src, tt.w, tt.h))
			if at, p, bad := findPixel(got, notRed); bad {
				t.Errorf("must(resample(context.Background(), red/transparent checkerboard)) pixel %v = %v, want pure red at some alpha", at, p)
			}
			_, _, blends := findPixel(got, func(_, _ int, p color.RGBA) bool { return p.A > 0 && p.A < 255 })
			if tt.wantBlends && !blends {
				t.Errorf("must(resample(context.Background(), red/transparent checkerboard)) has no partly transparent pixel, want blending")
			}
		})
	}
}

// TestResampleAntialias shrinks a one-pixel black/white checkerboard,
// whose detail is finer than the output can hold: a properly widened
// kernel averages it to an even grey instead of aliasing into patterns.
func TestResampleAntialias(t *testing.T) {
	src := uniformRGBA(240, 240, color.RGBA{0, 0, 0, 255})
	for y := range 240 {
		for x := y % 2; x < 240; x += 2 {
			src.SetRGBA(x, y, color.RGBA{255, 255, 255, 255})
		}
	}
	for _, sz := range []image.Point{{60, 60}, {37, 23}, {97, 80}, {7, 240}} {
		got := must(resample(context.Background(), src, sz.X, sz.Y))
		at, p, bad := findPixel(got, func(_, _ int, p color.RGBA) bool { return p.R < 117 || p.R > 138 })
		if bad {
			t.Errorf("must(resample(context.Background(), 1px checkerboard)) to %v: pixel %v = %v, want grey 127±10", sz, at, p)
		}
	}
}

// TestResampleThin scales one-pixel-wide and one-pixel-high gradients:
// the result keeps the gradient's direction and ends.
func TestResampleThin(t *testing.T) {
	tests := []struct {
		name         string
		sw, sh, w, h int
	}{
		{"1xN down", 1, 256, 1, 16},
		{"Nx1 down", 256, 1, 16, 1},
		{"1xN up", 1, 16, 1, 100},
		{"Nx1 up", 16, 1, 100, 1},
		{"1xN widened", 1, 256, 4, 32},
		{"Nx1 heightened", 256, 1, 32, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := max(tt.sw, tt.sh)
			src := image.NewRGBA(image.Rect(0, 0, tt.sw, tt.sh))
			for i := range n {
				v := uint8(i * 255 / (n - 1))
				src.Pix[i*4], src.Pix[i*4+1], src.Pix[i*4+2], src.Pix[i*4+3] = v, v, v, 255
			}
			got := must(resample(context.Background(), src, tt.w, tt.h))
			if got.Rect.Dx() != tt.w || got.Rect.Dy() != tt.h {
				t.Fatalf("must(resample(context.Background(), %dx%d)) = %dx%d, want %dx%d", tt.sw, tt.sh, got.Rect.Dx(), got.Rect.Dy(), tt.w, tt.h)
			}
			m := max(tt.w, tt.h)
			at := func(i int) color.RGBA {
				if tt.sw == 1 {
					return pixelAt(got, tt.w/2, i)
				}
				return pixelAt(got, i, tt.h/2)
			}
			// A linear ramp has no edges to ring on, so it stays monotone.
			for i := 1; i < m; i++ {
				if a, b := at(i-1), at(i); b.R < a.R || b.A != 255 {
					t.Errorf("must(resample(context.Background(), ramp)) sample %d = %v after %v, want non-decreasing opaque", i, b, a)
				}
			}
			if first, last := at(0), at(m-1); first.R > 20 || last.R < 235 {
				t.Errorf("must(resample(context.Background(), ramp)) ends = %d..%d, want about 0..255", first.R, last.R)
			}
		})
	}
}

func TestResampleUpscaleSinglePixel(t *testing.T) {
	for _, c := range []color.RGBA{{10, 200, 30, 255}, {60, 0, 90, 128}} {
		got := must(resample(context.Background(), uniformRGBA(1, 1, c), 50, 50))
		if got.Rect.Dx() != 50 || got.Rect.Dy() != 50 {
			t.Fatalf("must(resample(context.Background(), 1x1)) = %dx%d, want 50x50", got.Rect.Dx(), got.Rect.Dy())
		}
		if at, p, bad := findPixel(got, func(_, _ int, p color.RGBA) bool { return p != c }); bad {
			t.Errorf("must(resample(context.Background(), 1x1 %v)) pixel %v = %v, want %v", c, at, p, c)
		}
	}
}

// TestResampleEdge shrinks a vertical black/white edge: the transition
// rises from black to white (Lanczos' small ringing aside), is the same
// on every row, and is point-symmetric about the centre.
func TestResampleEdge(t *testing.T) {
	tests := []struct {
		name         string
		sw, sh, w, h int
	}{
		{"200 to 20", 200, 30, 20, 10},
		{"200 to 21", 200, 30, 21, 10},
		{"201 to 20", 201, 20, 20, 20},
		{"120 to 37", 120, 9, 37, 9},
		{"60 to 59", 60, 4, 59, 4},
	}
	// ringing is the most a Lanczos-3 step response dips against the
	// direction of the edge, in levels (its lobes reach about 3% of the
	// step when the scale is near 1).
	const ringing = 8
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := uniformRGBA(tt.sw, tt.sh, color.RGBA{0, 0, 0, 255})
			for y := range tt.sh {
				for x := range tt.sw {
					// The right half is white; an odd middle column is grey.
					var v uint8
					switch {
					case 2*x+1 > tt.sw:
						v = 255
					case 2*x+1 == tt.sw:
						v = 128
					}
					i := src.PixOffset(x, y)
					src.Pix[i], src.Pix[i+1], src.Pix[i+2] = v, v, v
				}
			}
			got := must(resample(context.Background(), src, tt.w, tt.h))
			if got.Rect.Dx() != tt.w || got.Rect.Dy() != tt.h {
				t.Fatalf("must(resample(context.Background(), %dx%d)) = %dx%d, want %dx%d", tt.sw, tt.sh, got.Rect.Dx(), got.Rect.Dy(), tt.w, tt.h)
			}
			row := make([]int, tt.w)
			for x := range tt.w {
				row[x] = int(pixelAt(got, x, 0).R)
			}
			at, p, bad := findPixel(got, func(x, _ int, p color.RGBA) bool {
				return int(p.R) != row[x] || p.G != p.R || p.B != p.R || p.A != 255
			})
			if bad {
				t.Errorf("must(resample(context.Background(), edge)) pixel %v = %v, want opaque grey %d like row 0", at, p, row[at.X])
			}
			if row[0] != 0 || row[tt.w-1] != 255 {
				t.Errorf("must(resample(context.Background(), edge)) row ends = %d, %d, want 0, 255 (row %v)", row[0], row[tt.w-1], row)
			}
			for x := 1; x < tt.w; x++ {
				if row[x] < row[x-1]-ringing {
					t.Errorf("must(resample(context.Background(), edge)) column %d = %d after %d, want a rising edge (row %v)", x, row[x], row[x-1], row)
				}
			}
			for x := range tt.w {
				if d := row[x] + row[tt.w-1-x] - 255; d < -1 || d > 1 {
					t.Errorf("must(resample(context.Background(), edge)) columns %d and %d = %d, %d, want summing to 255 (row %v)", x, tt.w-1-x, row[x], row[tt.w-1-x], row)
				}
			}
			// The transition is where the edge is: dark left of the
			// middle, light right of it.
			if mid := tt.w / 2; row[mid-1] >= 128 || row[tt.w-mid] <= 127 {
				t.Errorf("must(resample(context.Background(), edge)) middle = %d, %d, want below and above mid-grey (row %v)", row[mid-1], row[tt.w-mid], row)
			}
		})
	}
}

// TestResampleView scales a sub-image that shares its parent's pixels
// (stride wider than the view, as thumbnail's crop makes) and gets the
// same result as from a compact copy.
func TestResampleView(t *testing.T) {
	parent := synthRGBA(120, 90, true)
	x0, y0, cw, ch := 17, 9, 80, 60
	off := parent.PixOffset(x0, y0)
	v := &image.RGBA{Pix: parent.Pix[off:], Stride: parent.Stride, Rect: image.Rect(0, 0, cw, ch)}
	compact := image.NewRGBA(image.Rect(0, 0, cw, ch))
	draw.Draw(compact, compact.Rect, parent, image.Pt(x0, y0), draw.Src)
	sub := parent.SubImage(image.Rect(x0, y0, x0+cw, y0+ch)).(*image.RGBA)
	for _, sz := range []image.Point{{31, 23}, {80, 17}, {13, 60}, {160, 120}, {80, 60}, {78, 4}} {
		want := must(resample(context.Background(), compact, sz.X, sz.Y))
		for name, src := range map[string]*image.RGBA{"view": v, "subimage": sub} {
			got := must(resample(context.Background(), src, sz.X, sz.Y))
			for i := range want.Pix {
				if got.Pix[i] != want.Pix[i] {
					t.Errorf("must(resample(context.Background(), %s %dx%d)) to %v: byte %d = %d, want %d as from a copy", name, cw, ch, sz, i, got.Pix[i], want.Pix[i])
					break
				}
			}
		}
	}
}

// TestResampleOrdersAgree filters the same picture rows first and
// columns first (resample picks whichever sums fewer taps): with the
// intermediate image neither rounded to bytes nor clamped, the two
// differ by a rounding at most.
func TestResampleOrdersAgree(t *testing.T) {
	src := synthRGBA(150, 110, true)
	for _, sz := range []image.Point{{40, 30}, {149, 20}, {300, 50}, {7, 200}} {
		sw, sh := src.Rect.Dx(), src.Rect.Dy()
		wx, wy := lanczosWeights(sw, sz.X), lanczosWeights(sh, sz.Y)
		rows := image.NewRGBA(image.Rect(0, 0, sz.X, sz.Y))
		tmp := newWideImage(sz.X, sh)
		filterRows(context.Background(), nil, tmp, src, nil, wx)
		filterCols(context.Background(), rows, nil, nil, tmp, wy)
		cols := image.NewRGBA(image.Rect(0, 0, sz.X, sz.Y))
		tmp = newWideImage(sw, sz.Y)
		filterCols(context.Background(), nil, tmp, src, nil, wy)
		filterRows(context.Background(), cols, nil, nil, tmp, wx)
		checkValid(t, "rows first", rows)
		checkValid(t, "columns first", cols)
		for c, d := range meanChannelDiff(rows, cols) {
			if d > 0.05 {
				t.Errorf("resample to %v: channel %d differs by %.3f on average between rows first and columns first, want <= 0.05", sz, c, d)
			}
		}
		if got := must(resample(context.Background(), src, sz.X, sz.Y)); !bytes.Equal(got.Pix, rows.Pix) && !bytes.Equal(got.Pix, cols.Pix) {
			t.Errorf("resample to %v matches neither order", sz)
		}
	}
}

func decodeTestJPEG(t *testing.T, name string) *image.RGBA {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
	return rgba
}

// meanChannelDiff is the mean absolute difference of a and b (same size)
// for each of R, G, B and A.
func meanChannelDiff(a, b *image.RGBA) [4]float64 {
	var sum [4]float64
	n := 0
	for y := range a.Rect.Dy() {
		for x := range a.Rect.Dx() {
			i, j := a.PixOffset(x, y), b.PixOffset(x, y)
			for c := range 4 {
				sum[c] += math.Abs(float64(a.Pix[i+c]) - float64(b.Pix[j+c]))
			}
			n++
		}
	}
	for c := range sum {
		sum[c] /= float64(n)
	}
	return sum
}

func TestResamplePhotoMatchesCatmullRom(t *testing.T) {
	src := decodeTestJPEG(t, "testdata/schwarzy.jpg")
	tests := []struct {
		name string
		w, h int
	}{
		{"down to 100x71", 100, 71},
		{"down to 333x238", 333, 238},
		{"up to 700x500", 700, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := must(resample(context.Background(), src, tt.w, tt.h))
			if got.Rect.Dx() != tt.w || got.Rect.Dy() != tt.h {
				t.Fatalf("must(resample(context.Background(), %v)) = %dx%d, want %dx%d", src.Rect.Size(), got.Rect.Dx(), got.Rect.Dy(), tt.w, tt.h)
			}
			want := image.NewRGBA(image.Rect(0, 0, tt.w, tt.h))
			xdraw.CatmullRom.Scale(want, want.Rect, src, src.Rect, xdraw.Src, nil)
			diff := meanChannelDiff(got, want)
			for c, d := range diff {
				if d >= 3 {
					t.Errorf("must(resample(context.Background(), schwarzy)) to %dx%d: channel %d differs from CatmullRom by %.2f on average, want < 3", tt.w, tt.h, c, d)
				}
			}
			t.Logf("mean |lanczos3 - catmullrom| per channel: %.2f", diff)
		})
	}
}

// lanczosReference is resample computed the slow way, in float64 with
// no intermediate rounding, to measure the fixed-point passes against.
func lanczosReference(src *image.RGBA, w, h int) *image.RGBA {
	type tap struct {
		lo int
		w  []float64
	}
	weights := func(n, m int) []tap {
		scale := float64(n) / float64(m)
		fs := math.Max(scale, 1)
		taps := make([]tap, m)
		for i := range taps {
			c := (float64(i) + 0.5) * scale
			lo, hi := max(0, int(c-3*fs-1)), min(n-1, int(c+3*fs+1))
			var sum float64
			for j := lo; j <= hi; j++ {
				v := lanczosKernel((float64(j) + 0.5 - c) / fs)
				taps[i].w = append(taps[i].w, v)
				sum += v
			}
			for j := range taps[i].w {
				taps[i].w[j] /= sum
			}
			taps[i].lo = lo
		}
		return taps
	}
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	wx, wy := weights(sw, w), weights(sh, h)
	tmp := make([]float64, w*sh*4)
	for y := range sh {
		for x, t := range wx {
			for j, c := range t.w {
				for k := range 4 {
					tmp[(y*w+x)*4+k] += c * float64(src.Pix[src.PixOffset(t.lo+j, y)+k])
				}
			}
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y, t := range wy {
		for x := range w {
			var acc [4]float64
			for j, c := range t.w {
				for k := range 4 {
					acc[k] += c * tmp[((t.lo+j)*w+x)*4+k]
				}
			}
			i := dst.PixOffset(x, y)
			a := math.Min(255, math.Max(0, math.Round(acc[3])))
			for k := range 3 {
				dst.Pix[i+k] = uint8(math.Min(a, math.Max(0, math.Round(acc[k]))))
			}
			dst.Pix[i+3] = uint8(a)
		}
	}
	return dst
}

// lanczosKernel is sinc(x)·sinc(x/3) on (-3, 3), written independently
// of lanczos3.
func lanczosKernel(x float64) float64 {
	sinc := func(x float64) float64 {
		if x == 0 {
			return 1
		}
		return math.Sin(math.Pi*x) / (math.Pi * x)
	}
	if math.Abs(x) >= 3 {
		return 0
	}
	return sinc(x) * sinc(x/3)
}

// TestResampleMatchesFloat checks the fixed-point Lanczos-3 against the
// same filter in float64: fixed point may change a sample by a rounding.
func TestResampleMatchesFloat(t *testing.T) {
	photo := decodeTestJPEG(t, "testdata/schwarzy.jpg")
	synth := synthRGBA(230, 170, true)
	tests := []struct {
		name string
		src  *image.RGBA
		w, h int
	}{
		{"photo down", photo, 100, 71},
		{"photo up", photo, 611, 403},
		{"alpha down", synth, 61, 44},
		{"alpha stretch", synth, 400, 30},
		{"alpha huge reduction", synth, 5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := must(resample(context.Background(), tt.src, tt.w, tt.h)), lanczosReference(tt.src, tt.w, tt.h)
			for i := range want.Pix {
				if d := int(got.Pix[i]) - int(want.Pix[i]); d < -1 || d > 1 {
					t.Errorf("resample to %dx%d: byte %d = %d, float Lanczos-3 gives %d, want within 1", tt.w, tt.h, i, got.Pix[i], want.Pix[i])
					break
				}
			}
			for c, d := range meanChannelDiff(got, want) {
				if d > 0.05 {
					t.Errorf("resample to %dx%d: channel %d differs from float Lanczos-3 by %.3f on average, want <= 0.05", tt.w, tt.h, c, d)
				}
			}
		})
	}
}

func TestGaussianBlurUniform(t *testing.T) {
	colours := []color.RGBA{{200, 100, 37, 255}, {100, 50, 17, 128}, {255, 255, 255, 255}, {}}
	for _, c := range colours {
		for _, sigma := range []float64{0.3, 1, 1.99, 2, 3.7, 20, 50, 500} {
			for _, sz := range []image.Point{{37, 23}, {1, 9}, {9, 1}, {1, 1}} {
				got := must(gaussianBlur(context.Background(), uniformRGBA(sz.X, sz.Y, c), sigma))
				if got.Rect.Size() != sz {
					t.Fatalf("must(gaussianBlur(context.Background(), %v, %g)) = %v, want %v", sz, sigma, got.Rect.Size(), sz)
				}
				if at, p, bad := findPixel(got, func(_, _ int, p color.RGBA) bool { return p != c }); bad {
					t.Errorf("must(gaussianBlur(context.Background(), uniform %v %v, %g)) pixel %v = %v, want unchanged", c, sz, sigma, at, p)
				}
			}
		}
	}
}

// TestGaussianBlurDot blurs one white pixel on black: the spot is centred,
// mirror- and transpose-symmetric, falls off from the middle and keeps
// the dot's energy roughly.
func TestGaussianBlurDot(t *testing.T) {
	tests := []struct {
		name  string
		sigma float64
	}{
		{"exact kernel", 1},
		{"exact kernel wider", 1.5},
		{"exact kernel widest", 2.9},
		{"three boxes", 3},
		{"three boxes wider", 4},
	}
	const n, c = 61, 30
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := uniformRGBA(n, n, color.RGBA{0, 0, 0, 255})
			src.SetRGBA(c, c, color.RGBA{255, 255, 255, 255})
			got := must(gaussianBlur(context.Background(), src, tt.sigma))
			checkValid(t, "gaussianBlur", got)
			v := func(x, y int) int { return int(got.Pix[got.PixOffset(x, y)]) }
			if at, p, bad := findPixel(got, func(_, _ int, p color.RGBA) bool { return p.R != p.G || p.R != p.B || p.A != 255 }); bad {
				t.Errorf("must(gaussianBlur(context.Background(), dot, %g)) pixel %v = %v, want opaque grey", tt.sigma, at, p)
			}
			energy := 0
			for y := range n {
				for x := range n {
					p := pixelAt(got, x, y)
					energy += int(p.R)
					dx, dy := x-c, y-c
					if m := v(c-dx, y); m != int(p.R) {
						t.Errorf("must(gaussianBlur(context.Background(), dot, %g)) at (%d,%d) = %d, mirrored = %d, want equal", tt.sigma, x, y, p.R, m)
					}
					if m := v(c+dy, c+dx); m < int(p.R)-1 || m > int(p.R)+1 {
						t.Errorf("must(gaussianBlur(context.Background(), dot, %g)) at (%d,%d) = %d, transposed = %d, want within 1", tt.sigma, x, y, p.R, m)
					}
				}
			}
			if math.Abs(float64(energy-255)) > 0.1*255 {
				t.Errorf("must(gaussianBlur(context.Background(), dot, %g)) energy = %d, want 255 within 10%%", tt.sigma, energy)
			}
			peak := 255 / (2 * math.Pi * tt.sigma * tt.sigma)
			if got := float64(v(c, c)); math.Abs(got-peak) > 0.2*peak+1 {
				t.Errorf("must(gaussianBlur(context.Background(), dot, %g)) peak = %g, want about %.1f", tt.sigma, got, peak)
			}
			for d := 1; d < c; d++ {
				if v(c+d, c) > v(c+d-1, c) {
					t.Errorf("must(gaussianBlur(context.Background(), dot, %g)) rises at distance %d: %d after %d", tt.sigma, d, v(c+d, c), v(c+d-1, c))
				}
			}
			if v(c+1, c) == 0 {
				t.Errorf("must(gaussianBlur(context.Background(), dot, %g)) did not spread", tt.sigma)
			}
		})
	}
}

// blurReference is a float Gaussian blur with radius ceil(3σ) and
// clamped edges, to measure the fixed-point kernel and the box
// approximation against.
func blurReference(src *image.RGBA, sigma float64) *image.RGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float64, w*h*4)
	for y := range h {
		for x := range w {
			for i, kv := range k {
				xx := min(max(x+i-r, 0), w-1)
				for c := range 4 {
					tmp[(y*w+x)*4+c] += kv * float64(src.Pix[src.PixOffset(xx, y)+c])
				}
			}
		}
	}
	dst := image.NewRGBA(src.Rect)
	for y := range h {
		for x := range w {
			for c := range 4 {
				var acc float64
				for i, kv := range k {
					yy := min(max(y+i-r, 0), h-1)
					acc += kv * tmp[(yy*w+x)*4+c]
				}
				dst.Pix[dst.PixOffset(x, y)+c] = uint8(math.Round(acc))
			}
		}
	}
	return dst
}

func TestGaussianBlurCloseToExact(t *testing.T) {
	tests := []struct {
		sigma float64
		w, h  int
	}{
		{0.7, 60, 40}, {1.5, 60, 40}, {2, 60, 40}, {2.9, 60, 40},
		{3, 60, 40}, {3.3, 60, 40}, {8, 96, 64}, {20, 240, 160},
	}
	for _, tt := range tests {
		src, sigma := synthRGBA(tt.w, tt.h, true), tt.sigma
		got := must(gaussianBlur(context.Background(), src, sigma))
		checkValid(t, "gaussianBlur", got)
		for c, d := range meanChannelDiff(got, blurReference(src, sigma)) {
			if d >= 1 {
				t.Errorf("must(gaussianBlur(context.Background(), synthetic %dx%d, %g)): channel %d differs from the exact Gaussian by %.2f on average, want < 1", tt.w, tt.h, sigma, c, d)
			}
		}
	}
}

func TestGaussianBlurKeepsHue(t *testing.T) {
	red := color.RGBA{255, 0, 0, 255}
	src := image.NewRGBA(image.Rect(0, 0, 40, 40))
	for y := range 40 {
		for x := range 40 {
			if (x/3+y/3)%2 == 0 {
				src.SetRGBA(x, y, red)
			}
		}
	}
	for _, sigma := range []float64{0.8, 5} {
		got := must(gaussianBlur(context.Background(), src, sigma))
		if at, p, bad := findPixel(got, notRed); bad {
			t.Errorf("must(gaussianBlur(context.Background(), red/transparent checkerboard, %g)) pixel %v = %v, want pure red at some alpha", sigma, at, p)
		}
	}
}

func TestGaussianBlurView(t *testing.T) {
	parent := synthRGBA(70, 50, false)
	sub := parent.SubImage(image.Rect(5, 7, 55, 47)).(*image.RGBA)
	compact := image.NewRGBA(image.Rect(0, 0, 50, 40))
	draw.Draw(compact, compact.Rect, sub, sub.Rect.Min, draw.Src)
	for _, sigma := range []float64{1, 4} {
		got, want := must(gaussianBlur(context.Background(), sub, sigma)), must(gaussianBlur(context.Background(), compact, sigma))
		if got.Rect != want.Rect {
			t.Fatalf("must(gaussianBlur(context.Background(), subimage)) bounds = %v, want %v", got.Rect, want.Rect)
		}
		for i := range want.Pix {
			if got.Pix[i] != want.Pix[i] {
				t.Errorf("must(gaussianBlur(context.Background(), subimage, %g)) byte %d = %d, want %d as from a copy", sigma, i, got.Pix[i], want.Pix[i])
				break
			}
		}
	}
}

func benchmarkResample(b *testing.B, sw, sh, w, h int, alpha bool) {
	src := synthRGBA(sw, sh, alpha)
	b.ReportAllocs()
	b.SetBytes(int64(sw) * int64(sh) * 4)
	for b.Loop() {
		must(resample(context.Background(), src, w, h))
	}
}

func BenchmarkResample6028x3391To200x113(b *testing.B) {
	benchmarkResample(b, 6028, 3391, 200, 113, false)
}

func BenchmarkResample1920x1200To800x500(b *testing.B) {
	benchmarkResample(b, 1920, 1200, 800, 500, false)
}

func BenchmarkResample2140x1200To400x224(b *testing.B) {
	benchmarkResample(b, 2140, 1200, 400, 224, true)
}

func BenchmarkResample500x357To1000x714(b *testing.B) {
	benchmarkResample(b, 500, 357, 1000, 714, false)
}

func benchmarkBlur(b *testing.B, n int, sigma float64) {
	src := synthRGBA(n, n, false)
	b.ReportAllocs()
	b.SetBytes(int64(n) * int64(n) * 4)
	for b.Loop() {
		must(gaussianBlur(context.Background(), src, sigma))
	}
}

func BenchmarkGaussianBlurSigma20On1000x1000(b *testing.B) { benchmarkBlur(b, 1000, 20) }
func BenchmarkGaussianBlurSigma50On2000x2000(b *testing.B) { benchmarkBlur(b, 2000, 50) }
func BenchmarkGaussianBlurSigma1_5On1000x1000(b *testing.B) {
	benchmarkBlur(b, 1000, 1.5)
}
