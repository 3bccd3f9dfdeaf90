package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"

	"golang.org/x/image/bmp"
)

// encTestLoad decodes a testdata file (JPEG, PNG or GIF) into an *image.RGBA
// at (0,0).
func encTestLoad(tb testing.TB, name string) *image.RGBA {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	m, _, err := image.Decode(f)
	if err != nil {
		tb.Fatalf("decode %s: %v", name, err)
	}
	b := m.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Rect, m, b.Min, draw.Src)
	return dst
}

// encTestAlpha returns a w x h image: a colour gradient whose left quarter
// is fully transparent and whose second quarter is translucent (alpha 128).
func encTestAlpha(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) * 255 / (w + h)), 255}
			switch {
			case x < w/4:
				c.A = 0
			case x < w/2:
				c.A = 128
			}
			img.Set(x, y, c)
		}
	}
	return img
}

// encTestStripes returns a w x h opaque image of n vertical stripes of
// distinct colours.
func encTestStripes(w, h, n int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			k := x * n / w
			img.SetRGBA(x, y, color.RGBA{uint8(k * 25), uint8(255 - k*20), uint8(k * 7 % 256), 255})
		}
	}
	return img
}

// encTestMAE returns the mean absolute error per RGB channel of q against src.
func encTestMAE(src *image.RGBA, q *image.Paletted) float64 {
	var sum int64
	w, h := src.Rect.Dx(), src.Rect.Dy()
	for y := range h {
		for x := range w {
			p := src.Pix[y*src.Stride+x*4:]
			r, g, b, _ := q.Palette[q.Pix[y*q.Stride+x]].RGBA()
			for k, v := range [3]uint32{r >> 8, g >> 8, b >> 8} {
				d := int64(p[k]) - int64(v)
				sum += max(d, -d)
			}
		}
	}
	return float64(sum) / float64(3*w*h)
}

func encTestDecode(t *testing.T, format string, data []byte) image.Image {
	t.Helper()
	var m image.Image
	var err error
	r := bytes.NewReader(data)
	switch format {
	case "jpeg":
		m, err = jpeg.Decode(r)
	case "png":
		m, err = png.Decode(r)
	case "gif":
		m, err = gif.Decode(r)
	case "bmp":
		m, err = bmp.Decode(r)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", format, err)
	}
	return m
}

func TestEncodeImageRoundTrip(t *testing.T) {
	photo := encTestLoad(t, "testdata/schwarzy.jpg")
	stripes := encTestStripes(37, 23, 10)
	tests := []struct {
		name   string
		img    *image.RGBA
		format string
		exact  bool // lossless: every pixel must come back
	}{
		{"jpeg photo", photo, "jpeg", false},
		{"png photo", photo, "png", true},
		{"gif photo", photo, "gif", false},
		{"bmp photo", photo, "bmp", true},
		{"jpeg alpha", encTestAlpha(64, 40), "jpeg", false},
		{"png alpha", encTestAlpha(64, 40), "png", false},
		{"gif alpha", encTestAlpha(64, 40), "gif", false},
		{"bmp alpha", encTestAlpha(64, 40), "bmp", false},
		{"gif stripes", stripes, "gif", true},
		{"png stripes", stripes, "png", true},
		{"bmp 1x1", encTestStripes(1, 1, 1), "bmp", true},
		{"gif 1x1", encTestStripes(1, 1, 1), "gif", true},
		{"jpeg 1x1", encTestStripes(1, 1, 1), "jpeg", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeImage(context.Background(), &buf, tt.img, testFormat(t, tt.format), 90, false); err != nil {
				t.Fatalf("encodeImage(context.Background(), %s): %v", tt.format, err)
			}
			m := encTestDecode(t, tt.format, buf.Bytes())
			if got, want := m.Bounds().Size(), tt.img.Rect.Size(); got != want {
				t.Errorf("decoded %s = %v, want %v", tt.format, got, want)
			}
			if !tt.exact {
				return
			}
			for y := range tt.img.Rect.Dy() {
				for x := range tt.img.Rect.Dx() {
					want := tt.img.RGBAAt(x, y)
					if got := color.RGBAModel.Convert(m.At(x, y)).(color.RGBA); got != want {
						t.Fatalf("decoded %s at (%d,%d) = %v, want %v", tt.format, x, y, got, want)
					}
				}
			}
		})
	}
}

func TestEncodeImageFlattensOnWhite(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 32, 16))
	// Left half transparent, right half red at alpha 128.
	draw.Draw(img, image.Rect(16, 0, 32, 16), image.NewUniform(color.NRGBA{255, 0, 0, 128}), image.Point{}, draw.Src)
	// Premultiplied red at 128 is (128,0,0,128); over white: 128+127, 0+127.
	wantTransparent := color.RGBA{255, 255, 255, 255}
	wantRed := color.RGBA{255, 127, 127, 255}
	tests := []struct {
		name   string
		format string
		tol    int
	}{
		{"jpeg", "jpeg", 4},
		{"bmp", "bmp", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeImage(context.Background(), &buf, img, testFormat(t, tt.format), 95, false); err != nil {
				t.Fatalf("encodeImage(context.Background(), %s): %v", tt.format, err)
			}
			m := encTestDecode(t, tt.format, buf.Bytes())
			for _, c := range []struct {
				x, y int
				want color.RGBA
			}{{4, 8, wantTransparent}, {0, 0, wantTransparent}, {27, 8, wantRed}} {
				got := color.RGBAModel.Convert(m.At(c.x, c.y)).(color.RGBA)
				if !encTestNear(got, c.want, tt.tol) {
					t.Errorf("%s pixel (%d,%d) = %v, want %v ±%d", tt.format, c.x, c.y, got, c.want, tt.tol)
				}
			}
		})
	}
	if img.RGBAAt(4, 8).A != 0 {
		t.Errorf("encodeImage modified its input")
	}
}

func encTestNear(a, b color.RGBA, tol int) bool {
	for _, d := range []int{int(a.R) - int(b.R), int(a.G) - int(b.G), int(a.B) - int(b.B), int(a.A) - int(b.A)} {
		if d > tol || -d > tol {
			return false
		}
	}
	return true
}

func TestFlattenWhite(t *testing.T) {
	opaque := encTestStripes(20, 10, 3)
	if got := flattenWhite(opaque); got != opaque {
		t.Errorf("flattenWhite(opaque) made a copy, want the same image")
	}
	alpha := encTestAlpha(20, 10)
	before := append([]uint8(nil), alpha.Pix...)
	flat := flattenWhite(alpha)
	if flat == alpha {
		t.Fatalf("flattenWhite(translucent) returned its input")
	}
	if !bytes.Equal(alpha.Pix, before) {
		t.Errorf("flattenWhite modified its input")
	}
	if !rgbaOpaque(flat) {
		t.Errorf("flattenWhite(translucent) is not opaque")
	}
	if got, want := flat.RGBAAt(0, 0), (color.RGBA{255, 255, 255, 255}); got != want {
		t.Errorf("flattenWhite transparent pixel = %v, want %v", got, want)
	}
	if got, want := flat.RGBAAt(19, 9), alpha.RGBAAt(19, 9); got != want {
		t.Errorf("flattenWhite opaque pixel = %v, want %v", got, want)
	}
}

func TestRGBAOpaque(t *testing.T) {
	wide := image.NewRGBA(image.Rect(0, 0, 21, 5)) // 21: 2 blocks of 8 + a tail of 5
	draw.Draw(wide, wide.Rect, image.Black, image.Point{}, draw.Src)
	tests := []struct {
		name string
		x, y int // pixel made translucent, or -1
		sub  image.Rectangle
	}{
		{"all opaque", -1, -1, image.Rectangle{}},
		{"first pixel", 0, 0, image.Rectangle{}},
		{"inside a block", 9, 2, image.Rectangle{}},
		{"in the tail", 19, 3, image.Rectangle{}},
		{"last pixel", 20, 4, image.Rectangle{}},
		{"outside a sub-image", 20, 4, image.Rect(0, 0, 20, 5)},
		{"inside a sub-image", 3, 1, image.Rect(2, 1, 19, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := image.NewRGBA(wide.Rect)
			copy(img.Pix, wide.Pix)
			if tt.x >= 0 {
				img.SetRGBA(tt.x, tt.y, color.RGBA{0, 0, 0, 254})
			}
			if !tt.sub.Empty() {
				img = img.SubImage(tt.sub).(*image.RGBA)
			}
			if got, want := rgbaOpaque(img), img.Opaque(); got != want {
				t.Errorf("rgbaOpaque = %v, want %v", got, want)
			}
		})
	}
}

func TestEncodePNGAlpha(t *testing.T) {
	src := []color.NRGBA{
		{255, 0, 0, 255}, {10, 200, 30, 200}, {90, 80, 250, 128}, {255, 255, 255, 64}, {3, 7, 11, 1}, {0, 0, 0, 0},
	}
	img := image.NewRGBA(image.Rect(0, 0, len(src), 1))
	for x, c := range src {
		img.Set(x, 0, c)
	}
	var buf bytes.Buffer
	if err := encodeImage(context.Background(), &buf, img, formatPNG, 0, false); err != nil {
		t.Fatalf("encodeImage(context.Background(), png): %v", err)
	}
	if got := buf.Bytes()[25]; got != 6 {
		t.Errorf("png colour type = %d, want 6 (RGBA)", got)
	}
	m := encTestDecode(t, "png", buf.Bytes())
	for x, c := range src {
		got := color.RGBAModel.Convert(m.At(x, 0)).(color.RGBA)
		want := img.RGBAAt(x, 0)
		if got.A != c.A {
			t.Errorf("png alpha at %d = %d, want %d", x, got.A, c.A)
		}
		if !encTestNear(got, want, 1) {
			t.Errorf("png pixel %d = %v, want %v ±1 (premultiplied)", x, got, want)
		}
	}

	buf.Reset()
	if err := encodeImage(context.Background(), &buf, encTestStripes(8, 8, 3), formatPNG, 0, false); err != nil {
		t.Fatalf("encodeImage(context.Background(), png): %v", err)
	}
	if got := buf.Bytes()[25]; got != 2 {
		t.Errorf("opaque png colour type = %d, want 2 (RGB, no alpha)", got)
	}
}

// encTestTransparentIndex returns the palette index with alpha 0, or -1.
func encTestTransparentIndex(p color.Palette) int {
	for i, c := range p {
		if _, _, _, a := c.RGBA(); a == 0 {
			return i
		}
	}
	return -1
}

func TestQuantizeExact(t *testing.T) {
	withHoles := func(img *image.RGBA, holes ...image.Point) *image.RGBA {
		for _, p := range holes {
			img.SetRGBA(p.X, p.Y, color.RGBA{})
		}
		return img
	}
	translucent := encTestStripes(30, 10, 10)
	translucent.Set(1, 1, color.NRGBA{100, 50, 200, 200}) // treated as opaque, unpremultiplied
	translucent.Set(2, 1, color.NRGBA{100, 50, 200, 100}) // treated as transparent
	// Close colours share cells of the quantiser's 5-bit histogram, so only
	// the exact path reproduces them.
	greys := image.NewRGBA(image.Rect(0, 0, 256, 3))
	close10 := image.NewRGBA(image.Rect(0, 0, 40, 7))
	for y := range 3 {
		for x := range 256 {
			greys.SetRGBA(x, y, color.RGBA{uint8(x), uint8(x), uint8(x), 255})
		}
	}
	for y := range 7 {
		for x := range 40 {
			close10.SetRGBA(x, y, color.RGBA{uint8(100 + (x+y)%10), 100, 101, 255})
		}
	}
	tests := []struct {
		name        string
		img         *image.RGBA
		colours     int
		transparent int // transparent pixels
	}{
		{"10 colours", encTestStripes(30, 10, 10), 10, 0},
		{"10 close colours", close10, 10, 0},
		{"256 greys", greys, 256, 0},
		{"256 colours", encTestStripes(256, 2, 256), 256, 0},
		{"transparent first", withHoles(encTestStripes(30, 10, 10), image.Pt(0, 0), image.Pt(29, 9)), 11, 2},
		{"transparent late", withHoles(encTestStripes(30, 10, 10), image.Pt(29, 9)), 11, 1},
		{"translucent", translucent, 12, 1},
		{"all transparent", withHoles(encTestStripes(2, 1, 1), image.Pt(0, 0), image.Pt(1, 0)), 1, 2},
		{"1x1", encTestStripes(1, 1, 1), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := quantize(tt.img)
			if got := len(q.Palette); got != tt.colours {
				t.Errorf("quantize palette has %d colours, want %d", got, tt.colours)
			}
			ti := encTestTransparentIndex(q.Palette)
			if tt.transparent > 0 && ti != 0 {
				t.Errorf("quantize transparent index = %d, want 0", ti)
			}
			if q.Rect != tt.img.Rect {
				t.Fatalf("quantize rect = %v, want %v", q.Rect, tt.img.Rect)
			}
			transparent := 0
			for y := range tt.img.Rect.Dy() {
				for x := range tt.img.Rect.Dx() {
					src := tt.img.RGBAAt(x, y)
					i := q.ColorIndexAt(x, y)
					if src.A < 128 {
						transparent++
						if int(i) != ti {
							t.Errorf("quantize (%d,%d) alpha %d -> index %d, want transparent %d", x, y, src.A, i, ti)
						}
						continue
					}
					want := color.NRGBAModel.Convert(src).(color.NRGBA)
					want.A = 255
					got := color.NRGBAModel.Convert(q.Palette[i]).(color.NRGBA)
					if !encTestNear(color.RGBA(got), color.RGBA(want), 1) {
						t.Errorf("quantize (%d,%d) = %v, want %v", x, y, got, want)
					}
				}
			}
			if transparent != tt.transparent {
				t.Errorf("%d transparent pixels, want %d", transparent, tt.transparent)
			}
		})
	}
}

func TestQuantizeOver256(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 257, 4))
	for y := range 4 {
		for x := range 257 {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(x), uint8(x), 255})
		}
	}
	img.SetRGBA(256, 0, color.RGBA{255, 0, 0, 255}) // colour 257
	q := quantize(img)
	if n := len(q.Palette); n > 256 {
		t.Fatalf("quantize palette has %d colours, want <= 256", n)
	}
	if got := encTestMAE(img, q); got > 4 {
		t.Errorf("quantize mean abs error = %.2f, want <= 4", got)
	}
}

func TestQuantizeTransparentPhoto(t *testing.T) {
	img := encTestLoad(t, "testdata/schwarzy.jpg")
	hole := image.Rect(100, 50, 300, 200)
	draw.Draw(img, hole, image.Transparent, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(0, 0, 50, 50), image.NewUniform(color.NRGBA{0, 0, 255, 127}), image.Point{}, draw.Src)
	q := quantize(img)
	if n := len(q.Palette); n > 256 || n < 200 {
		t.Errorf("quantize palette has %d colours, want 200..256", n)
	}
	ti := encTestTransparentIndex(q.Palette)
	if ti != 0 {
		t.Fatalf("quantize transparent index = %d, want 0", ti)
	}
	for i, c := range q.Palette[1:] {
		if _, _, _, a := c.RGBA(); a != 0xffff {
			t.Fatalf("palette[%d] alpha = %d, want opaque", i+1, a>>8)
		}
	}
	bad := 0
	for y := range img.Rect.Dy() {
		for x := range img.Rect.Dx() {
			transparent := img.RGBAAt(x, y).A < 128
			if got := q.ColorIndexAt(x, y) == 0; got != transparent {
				bad++
			}
		}
	}
	if bad != 0 {
		t.Errorf("%d pixels with the wrong transparency", bad)
	}
}

// TestQuantizePhotoQuality measures the mean absolute error per channel of
// the dithered result on a photo. Measured: 3.55 (image/draw's
// Floyd-Steinberg onto Plan9: 9.32; the same palette without dithering:
// 2.90). The bound 4.5 leaves room for small changes to the palette or the
// lookup grid while failing on a degraded palette or dither.
func TestQuantizePhotoQuality(t *testing.T) {
	src := encTestLoad(t, "testdata/schwarzy.jpg")
	q := quantize(src)
	if n := len(q.Palette); n != 256 {
		t.Errorf("quantize photo palette has %d colours, want 256", n)
	}
	if ti := encTestTransparentIndex(q.Palette); ti >= 0 {
		t.Errorf("quantize opaque photo has transparent index %d", ti)
	}
	got := encTestMAE(src, q)
	plan9 := image.NewPaletted(src.Rect, palette.Plan9)
	draw.FloydSteinberg.Draw(plan9, src.Rect, src, image.Point{})
	ref := encTestMAE(src, plan9)
	t.Logf("mean abs error per channel: quantize %.3f, Plan9 Floyd-Steinberg %.3f", got, ref)
	if got >= 4.5 {
		t.Errorf("quantize mean abs error = %.3f, want < 4.5", got)
	}
	if got >= ref {
		t.Errorf("quantize mean abs error = %.3f, want < %.3f (Plan9 Floyd-Steinberg)", got, ref)
	}

	again := quantize(src)
	if !bytes.Equal(again.Pix, q.Pix) || len(again.Palette) != len(q.Palette) {
		t.Fatalf("quantize is not deterministic")
	}
	for i := range q.Palette {
		if again.Palette[i] != q.Palette[i] {
			t.Fatalf("quantize palette[%d] = %v then %v", i, q.Palette[i], again.Palette[i])
		}
	}
}

// TestNearestLookup checks that the candidate lists never miss the true
// nearest colour: at grid-cell centres (which is what lookup searches for),
// the result is as close as a search of the whole palette.
func TestNearestLookup(t *testing.T) {
	src := encTestLoad(t, "testdata/schwarzy.jpg")
	h := new(wuHist)
	h.add(src)
	pal := h.palette(256)
	f := newNearestColor(pal, 0)
	for r := int32(4); r < 256; r += 8 {
		for g := int32(4); g < 256; g += 24 {
			for b := int32(4); b < 256; b += 40 {
				got := f.lookup(r, g, b)
				best, bd := 0, int32(1<<30)
				for i := range pal {
					c := f.col[i]
					dr, dg, db := c[0]-r, c[1]-g, c[2]-b
					if d := dr*dr + dg*dg + db*db; d < bd {
						best, bd = i, d
					}
				}
				c := f.col[got]
				dr, dg, db := c[0]-r, c[1]-g, c[2]-b
				if d := dr*dr + dg*dg + db*db; d != bd {
					t.Errorf("lookup(%d,%d,%d) = %d at distance² %d, want %d at %d", r, g, b, got, d, best, bd)
				}
			}
		}
	}
}

func TestEncodeImageErrors(t *testing.T) {
	img := encTestStripes(4, 4, 2)
	tests := []struct {
		name    string
		format  format
		quality int
		want    error
	}{
		{"webp quality 0", formatWebP, 0, errBadParam},
		{"unknown", format(99), 80, errUnsupportedFormat},
		{"auto", formatAuto, 80, errUnsupportedFormat},
		{"empty", formatNone, 80, errUnsupportedFormat},
		{"jpeg quality 0", formatJPEG, 0, errBadParam},
		{"jpeg quality 101", formatJPEG, 101, errBadParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := encodeImage(context.Background(), &buf, img, tt.format, tt.quality, false)
			if !errors.Is(err, tt.want) {
				t.Errorf("encodeImage(context.Background(), %q, %d) = %v, want %v", tt.format, tt.quality, err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("encodeImage(context.Background(), %q) wrote %d bytes on error", tt.format, buf.Len())
			}
		})
	}
}

func TestContentTypeExtension(t *testing.T) {
	tests := []struct {
		format    format
		mime, ext string
	}{
		{formatJPEG, "image/jpeg", "jpg"},
		{formatPNG, "image/png", "png"},
		{formatGIF, "image/gif", "gif"},
		{formatBMP, "image/bmp", "bmp"},
		{formatWebP, "image/webp", "webp"},
		{formatNone, "application/octet-stream", ""},
		{formatAuto, "application/octet-stream", ""},
	}
	for _, tt := range tests {
		t.Run(tt.format.String(), func(t *testing.T) {
			if got := tt.format.contentType(); got != tt.mime {
				t.Errorf("%q.contentType() = %q, want %q", tt.format, got, tt.mime)
			}
			if got := tt.format.extension(); got != tt.ext {
				t.Errorf("%q.extension() = %q, want %q", tt.format, got, tt.ext)
			}
		})
	}
}

func BenchmarkEncodeJPEG(b *testing.B) {
	img := encTestLoad(b, "testdata/medium-blinds-1920x1200.jpg")
	for _, q := range []int{95, 80} {
		b.Run(fmt.Sprintf("q%d", q), func(b *testing.B) {
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := encodeImage(context.Background(), &buf, img, formatJPEG, q, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "bytes")
		})
	}
}

// BenchmarkEncodePNG encodes the 2140x1200 translucent testdata image with
// the chosen level, and with BestSpeed for comparison (see pngLevel).
func BenchmarkEncodePNG(b *testing.B) {
	img := encTestLoad(b, "testdata/alpha-arc-colors-2140x1200.png")
	b.Run("encodeImage", func(b *testing.B) {
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := encodeImage(context.Background(), &buf, img, formatPNG, 0, false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	b.Run("BestSpeed", func(b *testing.B) {
		var buf bytes.Buffer
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&buf, img); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
}

// BenchmarkQuantize quantises a 400x300 frame: a crop of a photo (Wu +
// dithering) and a frame of an animated GIF (<= 256 colours: exact path).
func BenchmarkQuantize(b *testing.B) {
	photo := encTestLoad(b, "testdata/schwarzy.jpg").SubImage(image.Rect(0, 0, 400, 300)).(*image.RGBA)
	frame := encTestLoad(b, "testdata/giphy.gif")
	for _, bc := range []struct {
		name string
		img  *image.RGBA
	}{{"photo", photo}, {"gif-frame", frame}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				quantize(bc.img)
			}
		})
	}
}

func BenchmarkEncodeImageGIF(b *testing.B) {
	img := encTestLoad(b, "testdata/schwarzy.jpg")
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := encodeImage(context.Background(), &buf, img, formatGIF, 0, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}
