package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testCard is a deterministic w×h picture with what stresses a JPEG
// codec: smooth gradients, hard-edged saturated shapes and noise.
func testCard(w, h int) *image.RGBA {
	r := rand.New(rand.NewSource(int64(w*1000 + h)))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(255 * x / max(w-1, 1)), uint8(255 * y / max(h-1, 1)), 128, 255}
			switch {
			case x > w/4 && x < w/2 && y > h/4 && y < h/2:
				c = color.RGBA{250, 20, 30, 255}
			case (x-3*w/4)*(x-3*w/4)+(y-3*h/4)*(y-3*h/4) < w*h/40:
				c = color.RGBA{10, 30, 240, 255}
			case y > 7*h/8:
				v := uint8(r.Intn(256))
				c = color.RGBA{v, v / 2, 255 - v, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// goJPEG encodes m with image/jpeg: test inputs from another encoder.
func goJPEG(t testing.TB, m image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// jpegSegments splits a JPEG written by image/jpeg into its DQT and DHT
// segments (marker included) and the entropy-coded data of its one scan.
func jpegSegments(t testing.TB, data []byte) (dqt, dht, scan []byte) {
	t.Helper()
	p := 2
	for p+4 <= len(data) {
		marker, n := data[p+1], int(binary.BigEndian.Uint16(data[p+2:]))
		seg := data[p : p+2+n]
		switch marker {
		case jpegDQT:
			dqt = seg
		case jpegDHT:
			dht = seg
		case jpegSOS:
			return dqt, dht, data[p+2+n : len(data)-2] // up to EOI
		}
		p += 2 + n
	}
	t.Fatal("jpegSegments: no SOS")
	return nil, nil, nil
}

// spliceCMYK builds an Adobe CMYK JPEG (transform 0, the inverted
// convention) from four grey planes: each plane encoded by image/jpeg as a
// greyscale JPEG, the four scans then put one after the other as the
// non-interleaved scans of one baseline 4-component frame sharing the
// greyscale files' tables.
func spliceCMYK(t testing.TB, planes [4]*image.Gray, quality int) []byte {
	t.Helper()
	w, h := planes[0].Rect.Dx(), planes[0].Rect.Dy()
	var out bytes.Buffer
	out.Write([]byte{0xff, jpegSOI})
	out.Write([]byte{0xff, jpegAPPE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0})
	for i, pl := range planes {
		dqt, dht, scan := jpegSegments(t, goJPEG(t, pl, quality))
		if i == 0 {
			out.Write(dqt)
			sof := []byte{0xff, jpegSOF0, 0, 8 + 3*4, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 4}
			for c := range 4 {
				sof = append(sof, byte(c+1), 0x11, 0)
			}
			out.Write(sof)
			out.Write(dht)
		}
		out.Write([]byte{0xff, jpegSOS, 0, 8, 1, byte(i + 1), 0x00, 0, 63, 0})
		out.Write(scan)
	}
	out.Write([]byte{0xff, jpegEOI})
	return out.Bytes()
}

// cmykPlanes are four different grey pictures of w×h.
func cmykPlanes(w, h int) [4]*image.Gray {
	card := testCard(w, h)
	var planes [4]*image.Gray
	for c := range planes {
		planes[c] = image.NewGray(card.Rect)
		for i := range planes[c].Pix {
			switch c {
			case 3:
				planes[c].Pix[i] = 255 - card.Pix[4*i]/3 // little black
			default:
				planes[c].Pix[i] = card.Pix[4*i+c]
			}
		}
	}
	return planes
}

// jpegInput is a JPEG that the tests decode.
type jpegInput struct {
	name string
	data []byte
}

// jpegInputs are the test JPEGs: the testdata files, the fixtures of
// testdata/jpeg (but arithmetic.jpg), and synthetic ones written by
// image/jpeg at several sizes and qualities (4:2:0 and grey) and spliced
// into CMYK.
func jpegInputs(t testing.TB) []jpegInput {
	t.Helper()
	var in []jpegInput
	for _, pattern := range []string{"testdata/*.jpg", "testdata/jpeg/*.jpg"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "arithmetic.jpg") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, jpegInput{strings.TrimPrefix(f, "testdata/"), data})
		}
	}
	for _, sz := range []image.Point{{1, 1}, {9, 7}, {17, 16}, {64, 48}, {101, 75}} {
		for _, q := range []int{1, 25, 75, 100} {
			in = append(in, jpegInput{fmt.Sprintf("go-%dx%d-q%d.jpg", sz.X, sz.Y, q), goJPEG(t, testCard(sz.X, sz.Y), q)})
		}
		gray := image.NewGray(image.Rect(0, 0, sz.X, sz.Y))
		copy(gray.Pix, cmykPlanes(sz.X, sz.Y)[0].Pix)
		in = append(in, jpegInput{fmt.Sprintf("go-gray-%dx%d.jpg", sz.X, sz.Y), goJPEG(t, gray, 80)})
		in = append(in, jpegInput{fmt.Sprintf("spliced-cmyk-%dx%d.jpg", sz.X, sz.Y), spliceCMYK(t, cmykPlanes(sz.X, sz.Y), 90)})
	}
	return in
}

// refPlanes are the component planes of image/jpeg's decode, for the
// colour models it returns them in.
func refPlanes(m image.Image) (planes [][]byte, strides []int, ok bool) {
	switch m := m.(type) {
	case *image.YCbCr:
		return [][]byte{m.Y, m.Cb, m.Cr}, []int{m.YStride, m.CStride, m.CStride}, true
	case *image.Gray:
		return [][]byte{m.Pix}, []int{m.Stride}, true
	}
	return nil, nil, false
}

// planeDiff compares plane c of our decode at 1/scale with the box
// average of image/jpeg's plane (scale×scale samples per sample), over
// the samples whose box lies inside the component.
func planeDiff(c *jpegComponent, ref []byte, refStride, scale int) (mean float64, maxd int) {
	w, h := c.cbw*8/scale, c.cbh*8/scale
	n := 0
	for y := range h {
		for x := range w {
			sum := 0
			for yy := y * scale; yy < (y+1)*scale; yy++ {
				for xx := x * scale; xx < (x+1)*scale; xx++ {
					sum += int(ref[yy*refStride+xx])
				}
			}
			d := int(c.plane[y*c.stride+x]) - (sum+scale*scale/2)/(scale*scale)
			d = max(d, -d)
			mean += float64(d)
			maxd = max(maxd, d)
			n++
		}
	}
	return mean / float64(max(n, 1)), maxd
}

// rgbaDiff is the mean absolute difference and the PSNR (RGB only) of two
// same-sized opaque images.
func rgbaDiff(t testing.TB, a, b *image.RGBA) (mad, psnr float64) {
	t.Helper()
	if a.Rect.Size() != b.Rect.Size() {
		t.Fatalf("rgbaDiff: sizes %v and %v differ", a.Rect.Size(), b.Rect.Size())
	}
	w, h := a.Rect.Dx(), a.Rect.Dy()
	var sum, sq float64
	for y := range h {
		ra, rb := a.Pix[y*a.Stride:][:4*w], b.Pix[y*b.Stride:][:4*w]
		for i := range ra {
			if i%4 == 3 {
				continue
			}
			d := float64(ra[i]) - float64(rb[i])
			sum += math.Abs(d)
			sq += d * d
		}
	}
	n := float64(3 * w * h)
	return sum / n, 10 * math.Log10(255*255/max(sq/n, 1e-10))
}

// fancyRGBA converts image/jpeg's YCbCr result to RGBA with chroma
// interpolated in floating point the way the decoder's upsampler defines
// it (sample i of a component subsampled by r at r·i + (r-1)/2,
// bilinear, edges clamped), where toRGBA replicates chroma.
func fancyRGBA(m *image.YCbCr) *image.RGBA {
	hs, vs, _ := chromaShifts(m.SubsampleRatio)
	rx, ry := 1<<hs, 1<<vs
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+rx-1)/rx, (h+ry-1)/ry
	sample := func(p []byte, x, y int) float64 {
		return float64(p[min(max(y, 0), ch-1)*m.CStride+min(max(x, 0), cw-1)])
	}
	chroma := func(p []byte, x, y int) uint8 {
		fx := (float64(x)+0.5)/float64(rx) - 0.5
		fy := (float64(y)+0.5)/float64(ry) - 0.5
		x0, y0 := int(math.Floor(fx)), int(math.Floor(fy))
		ax, ay := fx-float64(x0), fy-float64(y0)
		top := sample(p, x0, y0)*(1-ax) + sample(p, x0+1, y0)*ax
		bottom := sample(p, x0, y0+1)*(1-ax) + sample(p, x0+1, y0+1)*ax
		return uint8(math.Round(top*(1-ay) + bottom*ay))
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			r, g, b := color.YCbCrToRGB(m.Y[y*m.YStride+x], chroma(m.Cb, x, y), chroma(m.Cr, x, y))
			out.SetRGBA(x, y, color.RGBA{r, g, b, 255})
		}
	}
	return out
}

// TestDecodeJPEGMatchesImageJPEG decodes every test JPEG that image/jpeg
// reads at full size and compares the planes within ±1 (the two integer
// IDCTs round differently), and the RGBA result with image/jpeg's
// converted by toRGBA, or for YCbCr by fancyRGBA, within a mean of 0.2.
func TestDecodeJPEGMatchesImageJPEG(t *testing.T) {
	// The samplings image/jpeg refuses ("unsupported JPEG feature:
	// luma/chroma subsampling ratio"); TestDecodeJPEGFixtures compares
	// them with djpeg's decodes instead. Any other refusal fails.
	notByImageJPEG := map[string]bool{
		"jpeg/baseline-311.jpg":                   true,
		"jpeg/baseline-chroma-over-luma.jpg":      true,
		"jpeg/progressive-441-noninterleaved.jpg": true,
	}
	for _, in := range jpegInputs(t) {
		t.Run(in.name, func(t *testing.T) {
			ref, err := jpeg.Decode(bytes.NewReader(in.data))
			if notByImageJPEG[in.name] {
				if err == nil {
					t.Errorf("image/jpeg reads %s now: take it off the list", in.name)
				}
				return
			}
			if err != nil {
				t.Fatalf("image/jpeg: %v", err)
			}
			d, err := decodeJPEGPlanes(context.Background(), in.data, 1)
			if err != nil {
				t.Fatalf("decodeJPEGPlanes: %v", err)
			}
			if planes, strides, ok := refPlanes(ref); ok {
				for i := range planes {
					if mean, maxd := planeDiff(&d.comp[i], planes[i], strides[i], 1); mean > 0.1 || maxd > 1 {
						t.Errorf("component %d differs from image/jpeg's by %.3f on average, %d at most; want <= 0.1, 1", i, mean, maxd)
					}
				}
			}
			got, err := decodeJPEG(context.Background(), in.data, 1)
			if err != nil {
				t.Fatalf("decodeJPEG: %v", err)
			}
			want := toRGBA(ref)
			if m, ok := ref.(*image.YCbCr); ok {
				want = fancyRGBA(m)
			}
			if mad, _ := rgbaDiff(t, got, want); mad > 0.2 {
				t.Errorf("RGBA differs from image/jpeg's by %.3f on average, want <= 0.2", mad)
			}
		})
	}
}

// TestDecodeJPEGScaled decodes every test JPEG at 1/2, 1/4 and 1/8 and
// checks the size (rounded up), then, for the photos, each plane against
// the box average of image/jpeg's: at 1/8 the DC coefficient is the exact
// average (±2 for rounding and clamping); at 1/2 and 1/4 the scaled IDCTs
// keep the low frequencies instead of averaging, so only a loose bound
// holds there (a misplaced block or a wrong coefficient is far above it).
// The synthetic pictures are hard-edged enough that neither bound holds
// for them (clamped ringing).
func TestDecodeJPEGScaled(t *testing.T) {
	for _, in := range jpegInputs(t) {
		ref, refErr := jpeg.Decode(bytes.NewReader(in.data))
		for _, scale := range []int{2, 4, 8} {
			t.Run(fmt.Sprintf("%s/%d", in.name, scale), func(t *testing.T) {
				d, err := decodeJPEGPlanes(context.Background(), in.data, scale)
				if err != nil {
					t.Fatalf("decodeJPEGPlanes: %v", err)
				}
				img, err := d.toRGBA(context.Background())
				if err != nil {
					t.Fatalf("toRGBA: %v", err)
				}
				wantW, wantH := (d.width+scale-1)/scale, (d.height+scale-1)/scale
				if img.Rect != image.Rect(0, 0, wantW, wantH) {
					t.Errorf("size %v, want %dx%d", img.Rect, wantW, wantH)
				}
				if refErr != nil || strings.HasPrefix(in.name, "go-") || strings.HasPrefix(in.name, "spliced-") {
					return
				}
				planes, strides, ok := refPlanes(ref)
				if !ok {
					return
				}
				maxMean, maxMax := 2.5, 255
				if scale == 8 {
					maxMean, maxMax = 0.2, 2
				}
				for i := range planes {
					if mean, maxd := planeDiff(&d.comp[i], planes[i], strides[i], scale); mean > maxMean || maxd > maxMax {
						t.Errorf("component %d differs from the box average of image/jpeg's by %.3f on average, %d at most; want <= %.1f, %d",
							i, mean, maxd, maxMean, maxMax)
					}
				}
			})
		}
	}
}

// TestDecodeJPEGProgressiveCoefficients checks that a progressive decode
// at 1/2, 1/4 and 1/8 keeps exactly the lowest 4x4, 2x2 and 1x1
// coefficients of the full-size decode (the scans are decoded alike, but
// at 1/8 the AC scans are skipped), and at 1/2 and 1/4 the same non-zero
// bits, which refinement scans depend on.
func TestDecodeJPEGProgressiveCoefficients(t *testing.T) {
	for _, in := range jpegInputs(t) {
		full, err := decodeJPEGPlanes(context.Background(), in.data, 1)
		if err != nil || !full.progressive {
			continue
		}
		for _, scale := range []int{2, 4, 8} {
			d, err := decodeJPEGPlanes(context.Background(), in.data, scale)
			if err != nil {
				t.Fatalf("%s at 1/%d: %v", in.name, scale, err)
			}
			bs := 8 / scale
			for i := range d.ncomp {
				want, got := full.comp[i].coefs, d.comp[i].coefs
				if len(got) != len(want)/64*bs*bs {
					t.Fatalf("%s at 1/%d: component %d keeps %d coefficients, want %d", in.name, scale, i, len(got), len(want)/64*bs*bs)
				}
				for b := range len(want) / 64 {
					for v := range bs {
						for u := range bs {
							if g, w := got[b*bs*bs+v*bs+u], want[64*b+8*v+u]; g != w {
								t.Fatalf("%s at 1/%d: component %d block %d coefficient (%d, %d) = %d, want %d", in.name, scale, i, b, u, v, g, w)
							}
						}
					}
				}
				if scale < 8 && !slices.Equal(d.comp[i].nz, full.comp[i].nz) {
					t.Fatalf("%s at 1/%d: component %d: non-zero bits differ from the full-size decode's", in.name, scale, i)
				}
			}
		}
	}
}

// refIDCT is the inverse DCT in floating point: the n-point IDCT (n = 8,
// 4, 2) of the block's n×n lowest coefficients, level-shifted, rounded and
// clamped.
func refIDCT(b *[64]int16, q *[64]int32, n int) []int {
	c := func(k int) float64 {
		if k == 0 {
			return 1 / (2 * math.Sqrt2)
		}
		return 0.5
	}
	out := make([]int, n*n)
	for y := range n {
		for x := range n {
			s := 0.0
			for v := range n {
				for u := range n {
					f := float64(b[8*v+u]) * float64(q[8*v+u])
					s += c(v) * c(u) * f *
						math.Cos(float64((2*y+1)*v)*math.Pi/float64(2*n)) *
						math.Cos(float64((2*x+1)*u)*math.Pi/float64(2*n))
				}
			}
			out[y*n+x] = int(math.Max(0, math.Min(255, math.Round(s+128))))
		}
	}
	return out
}

func TestIDCTMatchesFloat(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	var q [64]int32
	for i := range q {
		q[i] = int32(1 + r.Intn(30))
	}
	idcts := []struct {
		name string
		n    int // output size
		last int // the last zig-zag index it reads
		idct func(dst []byte, stride int, b *[64]int16, q *[64]int32)
	}{
		{"idct8", 8, 63, idct8},
		{"idct8Low", 8, jpegLowLast, idct8Low},
		{"idct4", 4, 63, func(dst []byte, stride int, b *[64]int16, q *[64]int32) {
			var w [16]int16
			for v := range 4 {
				copy(w[4*v:4*v+4], b[8*v:8*v+4])
			}
			idct4(dst, stride, &w, q)
		}},
		{"idct2", 2, 63, func(dst []byte, stride int, b *[64]int16, q *[64]int32) {
			idct2(dst, stride, &[4]int16{b[0], b[1], b[8], b[9]}, q)
		}},
		{"idctDC", 1, 63, func(dst []byte, _ int, b *[64]int16, q *[64]int32) { dst[0] = idctDC(int(b[0]) * int(q[0])) }},
	}
	for _, tt := range idcts {
		t.Run(tt.name, func(t *testing.T) {
			worst := 0
			for range 2000 {
				var b [64]int16
				for k := range tt.last + 1 {
					if r.Intn(4) == 0 {
						b[jpegUnzig[k]] = int16(r.Intn(61) - 30)
					}
				}
				b[0] = int16(r.Intn(301) - 150)
				dst := make([]byte, 8*8)
				tt.idct(dst, 8, &b, &q)
				want := refIDCT(&b, &q, tt.n)
				for y := range tt.n {
					for x := range tt.n {
						worst = max(worst, absDiff(dst[8*y+x], uint8(want[tt.n*y+x])))
					}
				}
			}
			if worst > 1 {
				t.Errorf("%s differs from the float IDCT by up to %d, want <= 1", tt.name, worst)
			}
		})
	}
}

func readPNG(t testing.TB, name string) *image.RGBA {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(readTestdata(t, name)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return toRGBA(m)
}

// TestDecodeJPEGFixtures decodes the fixtures of testdata/jpeg (made by
// cjpeg and ImageMagick from testdata/jpeg/source.png, see the README) at
// every scale, and compares the full-size decode with the source and, for
// the samplings that image/jpeg does not read, with libjpeg-turbo's djpeg
// (testdata/jpeg/djpeg; djpeg replicates chroma subsampled other than by
// 2 where we interpolate, hence the tolerance).
func TestDecodeJPEGFixtures(t *testing.T) {
	src := readPNG(t, "jpeg/source.png")
	files, err := filepath.Glob("testdata/jpeg/*.jpg")
	if err != nil || len(files) < 10 {
		t.Fatalf("fixtures: %v, %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data := readTestdata(t, strings.TrimPrefix(file, "testdata/"))
			if strings.HasSuffix(file, "arithmetic.jpg") {
				if _, err := decodeJPEG(context.Background(), data, 1); !errors.Is(err, errUnsupportedFormat) {
					t.Errorf("decodeJPEG(context.Background(), arithmetic) = %v, want %v", err, errUnsupportedFormat)
				}
				return
			}
			for _, scale := range []int{1, 2, 4, 8} {
				img, err := decodeJPEG(context.Background(), data, scale)
				if err != nil {
					t.Fatalf("decodeJPEG at 1/%d: %v", scale, err)
				}
				if want := image.Rect(0, 0, (61+scale-1)/scale, (43+scale-1)/scale); img.Rect != want {
					t.Errorf("decodeJPEG at 1/%d: size %v, want %v", scale, img.Rect, want)
				}
				if scale > 1 {
					continue
				}
				want := src
				if strings.HasPrefix(filepath.Base(file), "gray") {
					want = grayOfRGBA(src)
				}
				if mad, psnr := rgbaDiff(t, img, want); mad > 6 || psnr < 30 {
					t.Errorf("full-size decode differs from the source by %.2f on average (PSNR %.1f dB), want <= 6 (>= 30 dB)", mad, psnr)
				}
				djpeg := "jpeg/djpeg/" + strings.TrimSuffix(filepath.Base(file), ".jpg") + ".png"
				if _, err := os.Stat(filepath.Join("testdata", djpeg)); err != nil {
					continue
				}
				if mad, psnr := rgbaDiff(t, img, readPNG(t, djpeg)); mad > 1.5 || psnr < 38 {
					t.Errorf("full-size decode differs from djpeg's by %.2f on average (PSNR %.1f dB), want <= 1.5 (>= 38 dB)", mad, psnr)
				}
			}
		})
	}
}

// grayOfRGBA is the BT.601 luma of m, as cjpeg -grayscale computes it.
func grayOfRGBA(m *image.RGBA) *image.RGBA {
	out := image.NewRGBA(m.Rect)
	for i := 0; i < len(m.Pix); i += 4 {
		y := (299*int(m.Pix[i]) + 587*int(m.Pix[i+1]) + 114*int(m.Pix[i+2]) + 500) / 1000
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(y), uint8(y), uint8(y), 255
	}
	return out
}

func TestDecodeJPEGErrors(t *testing.T) {
	base := readTestdata(t, "jpeg/baseline-422-restart.jpg")
	prog := readTestdata(t, "jpeg/progressive-444-restart.jpg")
	patch := func(data []byte, find string, at int, b byte) []byte {
		i := bytes.Index(data, []byte(find))
		if i < 0 {
			t.Fatalf("patch: %q not found", find)
		}
		out := bytes.Clone(data)
		out[i+at] = b
		return out
	}
	insert := func(data []byte, find string, seg []byte) []byte {
		i := bytes.Index(data, []byte(find))
		if i < 0 {
			t.Fatalf("insert: %q not found", find)
		}
		return append(append(bytes.Clone(data[:i]), seg...), data[i:]...)
	}
	sof := string([]byte{0xff, jpegSOF0})
	sos := string([]byte{0xff, jpegSOS})
	tests := []struct {
		name  string
		data  []byte
		scale int
		want  error
	}{
		{"empty", nil, 1, errCorruptImage},
		{"no SOI", []byte("GIF89a"), 1, errCorruptImage},
		{"SOI only", []byte{0xff, 0xd8}, 1, errCorruptImage},
		{"arithmetic coding", readTestdata(t, "jpeg/arithmetic.jpg"), 1, errUnsupportedFormat},
		{"12-bit precision", patch(base, sof, 4, 12), 1, errUnsupportedFormat},
		{"two components", patch(base, sof, 9, 2), 1, errUnsupportedFormat},
		{"zero width", patch(patch(base, sof, 7, 0), sof, 8, 0), 1, errUnsupportedFormat},
		{"sampling factor 0", patch(base, sof, 11, 0x01), 1, errCorruptImage},
		{"non-integral sampling ratio", patch(patch(base, sof, 11, 0x31), sof, 14, 0x21), 1, errUnsupportedFormat},
		{"two SOF markers", insert(base, sos, base[bytes.Index(base, []byte(sof)):][:19]), 1, errCorruptImage},
		{"SOS before SOF", insert(base, sof, []byte{0xff, jpegSOS, 0, 8, 1, 1, 0, 0, 63, 0}), 1, errCorruptImage},
		{"scan of an unknown component", patch(base, sos, 5, 9), 1, errCorruptImage},
		{"undefined Huffman table", patch(base, sos, 6, 0x33), 1, errCorruptImage},
		{"bad restart marker", patch(base, "\xff\xd1", 1, 0xd5), 1, errCorruptImage},
		{"unknown marker", insert(base, sof, []byte{0xff, 0x01, 0, 2}), 1, errCorruptImage},
		{"lossless SOF", patch(base, sof, 1, 0xc3), 1, errUnsupportedFormat},
		// spliceCMYK's Adobe segment is bytes 2 to 17.
		{"4 components without Adobe marker", append([]byte{0xff, jpegSOI}, spliceCMYK(t, cmykPlanes(9, 9), 90)[18:]...), 1, errUnsupportedFormat},
		{"scale 3", base, 3, errBadParam},
	}
	for _, data := range [][]byte{base, prog} {
		for _, cut := range []int{3, 20, 200, len(data) / 2, len(data) - 40, len(data) - 3, len(data) - 2, len(data) - 1} {
			for _, scale := range []int{1, 8} {
				tests = append(tests, struct {
					name  string
					data  []byte
					scale int
					want  error
				}{fmt.Sprintf("cut at %d of %d, 1/%d", cut, len(data), scale), data[:cut], scale, errCorruptImage})
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := decodeJPEG(context.Background(), tt.data, tt.scale)
			if !errors.Is(err, tt.want) {
				t.Errorf("decodeJPEG(context.Background(), %s) = %v, %v; want %v", tt.name, img != nil, err, tt.want)
			}
		})
	}
}

func TestJPEGScale(t *testing.T) {
	tests := []struct {
		srcW, srcH, w, h, want int
	}{
		{6028, 3391, 200, 200, 8},
		{6028, 3391, 712, 400, 8},
		{6028, 3391, 755, 100, 4},
		{6028, 3391, 100, 425, 4},
		{5312, 2988, 800, 450, 4},
		{5312, 2988, 1600, 900, 2},
		{1920, 1200, 960, 600, 2},
		{1920, 1200, 961, 1, 1},
		{1921, 1201, 961, 601, 2}, // 1921/2 rounds up to 961
		{7, 7, 1, 1, 8},
		{100, 100, 100, 100, 1},
		{100, 100, 200, 200, 1},
	}
	for _, tt := range tests {
		if got := jpegScale(tt.srcW, tt.srcH, tt.w, tt.h); got != tt.want {
			t.Errorf("jpegScale(%d, %d, %d, %d) = %d, want %d", tt.srcW, tt.srcH, tt.w, tt.h, got, tt.want)
		}
	}
}

func TestShrinkOnLoad(t *testing.T) {
	tests := []struct {
		name         string
		h            header
		hintW, hintH int
		want         int
	}{
		{"kleiber thumbnail", header{format: formatJPEG, width: 6028, height: 3391, orientation: 1}, 356, 200, 8},
		{"seeding w=800", header{format: formatJPEG, width: 5312, height: 2988, orientation: 1}, 800, 450, 2},
		{"blinds w=800", header{format: formatJPEG, width: 1920, height: 1200, orientation: 1}, 800, 500, 1},
		{"blinds w=480", header{format: formatJPEG, width: 1920, height: 1200, orientation: 1}, 480, 300, 2},
		{"no hint", header{format: formatJPEG, width: 6028, height: 3391, orientation: 1}, 0, 0, 1},
		{"png", header{format: formatPNG, width: 6028, height: 3391, orientation: 1}, 100, 100, 1},
		// Stored 1200x1920, displayed 1920x1200: the hint is displayed.
		{"orientation 6", header{format: formatJPEG, width: 1200, height: 1920, orientation: 6}, 480, 300, 2},
		{"orientation 6, hint not turned", header{format: formatJPEG, width: 1200, height: 1920, orientation: 6}, 300, 480, 1},
	}
	for _, tt := range tests {
		if got := shrinkOnLoad(tt.h, tt.hintW, tt.hintH); got != tt.want {
			t.Errorf("shrinkOnLoad(%s, %d, %d) = %d, want %d", tt.name, tt.hintW, tt.hintH, got, tt.want)
		}
	}
}

func TestShrinkHint(t *testing.T) {
	blinds := readTestdata(t, "medium-blinds-1920x1200.jpg")       // 1920x1200
	turned := readTestdata(t, "exif-orient6-blinds-1200x1920.jpg") // displays 1920x1200
	tests := []struct {
		name         string
		src          []byte
		query        string
		hintW, hintH int
	}{
		{"resize w", blinds, "op=resize&w=400", 400, 250},
		{"resize on a turned source", turned, "op=resize&w=400", 400, 250},
		{"resize h", blinds, "op=resize&h=100", 160, 100},
		{"resize to more than half", blinds, "op=resize&w=1000", 1000, 625},
		{"resize to the same size", blinds, "op=resize&w=1920", 0, 0},
		{"resize up", blinds, "op=resize&w=2000&upscale=1", 0, 0},
		{"pad wider than the image", blinds, "op=pad&w=2000&h=100", 160, 100},
		{"pad wider than the image, no upscale", blinds, "op=pad&w=2000&h=100&upscale=0", 0, 0},
		{"fit", blinds, "op=fit&w=300&h=300", 300, 188},
		{"thumbnail covers the box", blinds, "op=thumbnail&w=100&h=100", 160, 100},
		{"thumbnail with one side", blinds, "op=thumbnail&w=100", 100, 63},
		{"pad", blinds, "op=pad&w=200&h=200&color=000000", 200, 125},
		{"flip first", blinds, "op=flip&pos=h&op=resize&w=100", 0, 0},
		{"png", readTestdata(t, "avatar.png"), "op=resize&w=100", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseTestRequest(t, "path=x&"+tt.query)
			if w, h := shrinkHint(tt.src, r.ops); w != tt.hintW || h != tt.hintH {
				t.Errorf("shrinkHint(%s) = %d, %d; want %d, %d", tt.query, w, h, tt.hintW, tt.hintH)
			}
		})
	}
}

func TestOrientSpans(t *testing.T) {
	// A 10x4 image whose content spans x 0..9.5 and y 0..3.25: the
	// missing parts move with the last column and row.
	x, y := span{0, 9.5}, span{0, 3.25}
	tests := []struct {
		orientation int
		x, y        span
	}{
		{1, span{0, 9.5}, span{0, 3.25}},
		{2, span{0.5, 9.5}, span{0, 3.25}},
		{3, span{0.5, 9.5}, span{0.75, 3.25}},
		{4, span{0, 9.5}, span{0.75, 3.25}},
		{5, span{0, 3.25}, span{0, 9.5}},
		{6, span{0.75, 3.25}, span{0, 9.5}},
		{7, span{0.75, 3.25}, span{0.5, 9.5}},
		{8, span{0, 3.25}, span{0.5, 9.5}},
	}
	for _, tt := range tests {
		if gx, gy := orientSpans(x, y, 10, 4, tt.orientation); gx != tt.x || gy != tt.y {
			t.Errorf("orientSpans(orientation %d) = %v, %v; want %v, %v", tt.orientation, gx, gy, tt.x, tt.y)
		}
	}
}

// referenceTransform runs r's operations on src decoded at full size by
// image/jpeg: the path without shrink on load.
func referenceTransform(t testing.TB, src []byte, r *request) *image.RGBA {
	t.Helper()
	out, err := applyOps(context.Background(), referenceDecode(t, src), r.ops, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// transformRGBA runs the engine and decodes its PNG output.
func transformRGBA(t testing.TB, src []byte, r *request) *image.RGBA {
	t.Helper()
	res, err := transform(context.Background(), src, r, testEngine, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(bytes.NewReader(res.data))
	if err != nil {
		t.Fatal(err)
	}
	return toRGBA(m)
}

// TestShrinkOnLoadQuality compares the engine's output (decoded at 1/2,
// 1/4 or 1/8, then resampled) with the reference path (image/jpeg at full
// size, then the same operations), on photos.
func TestShrinkOnLoadQuality(t *testing.T) {
	tests := []struct {
		file, query string
	}{
		{"medium-blinds-1920x1200.jpg", "op=resize&w=400"},
		{"medium-blinds-1920x1200.jpg", "op=thumbnail&w=120&h=120"},
		{"medium-blinds-1920x1200.jpg", "op=fit&w=200&h=200"},
		{"medium-blinds-1920x1200.jpg", "op=pad&w=150&h=150&color=ffffff"},
		{"exif-orient6-blinds-1200x1920.jpg", "op=resize&w=300&op=rotate&deg=90"},
		{"progressive-picture1a-1365x1074.jpg", "op=thumbnail&w=100&h=160"},
		{"cmyk-blinds-1920x1200.jpg", "op=resize&h=150"},
		// Planes resampled at 1/1: less than half the size.
		{"medium-blinds-1920x1200.jpg", "op=resize&w=1000"},
		{"exif-orient6-blinds-1200x1920.jpg", "op=thumbnail&w=1000&h=700"},
		{"schwarzy_exif3.jpg", "op=fit&w=300&h=300"},
		{"schwarzy_exif8.jpg", "op=resize&w=200"},
		{"jpeg/gray.jpg", "op=resize&w=40"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"?"+tt.query, func(t *testing.T) {
			src := readTestdata(t, tt.file)
			r := parseTestRequest(t, "path=x&fmt=png&"+tt.query)
			if w, h := shrinkHint(src, r.ops); w == 0 || h == 0 {
				t.Fatalf("%s: no shrink on load", tt.query)
			}
			mad, psnr := rgbaDiff(t, transformRGBA(t, src, r), referenceTransform(t, src, r))
			t.Logf("mean abs diff %.3f, PSNR %.2f dB", mad, psnr)
			if mad > 1.5 || psnr < 38 {
				t.Errorf("differs from the full-size path by %.3f on average (PSNR %.2f dB), want <= 1.5 (>= 38 dB)", mad, psnr)
			}
		})
	}
}

// TestShrinkOnLoadCorpus measures the same on photos: testdata's two in
// every run, the corpus' large ones (the figures of BENCHMARKS.md) when
// PICFIT_CORPUS names it.
func TestShrinkOnLoadCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("large images")
	}
	tests := []struct {
		file, query string
		large       bool // only in the corpus: run with PICFIT_CORPUS
	}{
		{"large-kleiber-6028x3391.jpg", "op=thumbnail&w=200&h=200", true},
		{"medium-blinds-1920x1200.jpg", "op=resize&w=800", false},
		{"progressive-picture1a-1365x1074.jpg", "op=resize&w=300", false},
		{"large-seeding-5312x2988-progressive.jpg", "op=resize&w=800", true},
		{"large-dragonfly-4224x3168-progressive.jpg", "op=resize&w=800", true},
	}
	for _, tt := range tests {
		t.Run(tt.file+"?"+tt.query, func(t *testing.T) {
			var src []byte
			if tt.large {
				src = largeCorpusFile(t, tt.file)
			} else {
				src = readTestdata(t, tt.file)
			}
			r := parseTestRequest(t, "path=x&fmt=png&"+tt.query)
			h, err := readHeader(src)
			if err != nil {
				t.Fatal(err)
			}
			w, ht := shrinkHint(src, r.ops)
			mad, psnr := rgbaDiff(t, transformRGBA(t, src, r), referenceTransform(t, src, r))
			t.Logf("decoded at 1/%d: mean abs diff %.3f, PSNR %.2f dB", shrinkOnLoad(h, w, ht), mad, psnr)
			if mad > 1.5 || psnr < 38 {
				t.Errorf("differs from the full-size path by %.3f on average (PSNR %.2f dB), want <= 1.5 (>= 38 dB)", mad, psnr)
			}
		})
	}
}

func FuzzDecodeJPEG(f *testing.F) {
	var seeds [][]byte
	for _, name := range []string{"tiny-1x1.jpg", "schwarzy.jpg"} {
		seeds = append(seeds, testdataFile(f, name))
	}
	fixtures, err := filepath.Glob("testdata/jpeg/*.jpg")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range fixtures {
		seeds = append(seeds, readTestdata(f, strings.TrimPrefix(name, "testdata/")))
	}
	seeds = append(seeds, spliceCMYK(f, cmykPlanes(9, 7), 50))
	for _, s := range seeds {
		f.Add(s, uint8(0))
		f.Add(s, uint8(4))
		f.Add(s[:len(s)/2], uint8(3))
		f.Add(s[:len(s)-3], uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, scaleBits uint8) {
		scale := 1 << (scaleBits & 3)
		// Like decode, refuse before decoding what readHeader refuses or
		// says is large: the decoder allocates what the frame claims.
		h, err := readHeader(data)
		if err != nil || h.format != formatJPEG || h.width*h.height > 1<<20 {
			return
		}
		img, err := decodeJPEG(context.Background(), data, scale)
		if err != nil {
			if !errors.Is(err, errUnsupportedFormat) && !errors.Is(err, errCorruptImage) {
				t.Fatalf("decodeJPEG error %q wraps none of the sentinels", err)
			}
			return
		}
		var chroma image.Point // with bit 2: the chroma as small as chromaScale allows
		if scaleBits&4 != 0 {
			chroma = image.Pt(1, 1)
		}
		d, err := decodeJPEGPlanesChroma(context.Background(), data, scale, chroma)
		if err != nil {
			t.Fatalf("decodeJPEGPlanesChroma(context.Background(), %v) failed where decodeJPEG did not: %v", chroma, err)
		}
		if want := image.Rect(0, 0, (d.width+scale-1)/scale, (d.height+scale-1)/scale); img.Rect != want {
			t.Fatalf("decodeJPEG at 1/%d = %v, want %v", scale, img.Rect, want)
		}
		m, err := d.toRGBA(context.Background())
		if err != nil {
			t.Fatalf("planes with chroma %v to RGBA: %v", chroma, err)
		}
		if m.Rect != img.Rect {
			t.Fatalf("planes with chroma %v to RGBA: %v, want %v", chroma, m.Rect, img.Rect)
		}
	})
}

// BenchmarkDecodeJPEGScaled measures decodeJPEG at each scale against
// image/jpeg (with and without the conversion to RGBA that the engine
// needs), on the corpus.
func BenchmarkDecodeJPEGScaled(b *testing.B) {
	files := []string{
		"large-kleiber-6028x3391.jpg",
		"medium-blinds-1920x1200.jpg",
		"large-seeding-5312x2988-progressive.jpg",
		"large-dragonfly-4224x3168-progressive.jpg",
		"progressive-picture1a-1365x1074.jpg",
	}
	for _, file := range files {
		name := strings.TrimSuffix(file, ".jpg")
		b.Run(name+"/image-jpeg", func(b *testing.B) {
			data := corpusFile(b, file)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/image-jpeg+toRGBA", func(b *testing.B) {
			data := corpusFile(b, file)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				m, err := jpeg.Decode(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				toRGBA(m)
			}
		})
		for _, scale := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("%s/scale%d", name, scale), func(b *testing.B) {
				data := corpusFile(b, file)
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := decodeJPEG(context.Background(), data, scale); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// chromaPlanes is the 4:2:0 chroma that a JPEG straight from src by r
// goes to the encoder with: decoded with or without chromaScale.
func chromaPlanes(t testing.TB, src []byte, r *request, scaled bool) (*image.YCbCr, int) {
	t.Helper()
	w, h := shrinkHint(src, r.ops)
	if w == 0 || !straightToJPEG(formatJPEG, r.ops) {
		t.Fatalf("%v: not a shrink straight to JPEG", r.ops)
	}
	pic, err := decodeScaled(context.Background(), src, testEngine.decode, w, h, scaled)
	if err != nil {
		t.Fatal(err)
	}
	if pic.planes == nil {
		t.Fatal("not decoded to planes")
	}
	m, err := r.ops[0].applyShrunkYCbCr(context.Background(), pic, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := pic.planes
	return m.(*image.YCbCr), d.comp[1].rx / (d.hmax / d.comp[1].h)
}

// referenceChroma is the 4:2:0 chroma of the full-size path's result
// (referenceTransform, in RGB): each pixel converted to YCbCr in floating
// point, then two by two averaged, as the encoder's input would be.
func referenceChroma(t testing.TB, src []byte, r *request) (cb, cr []float64, cw, ch int) {
	ref := referenceTransform(t, src, r)
	w, h := ref.Rect.Dx(), ref.Rect.Dy()
	cw, ch = (w+1)/2, (h+1)/2
	cb, cr = make([]float64, cw*ch), make([]float64, cw*ch)
	n := make([]float64, cw*ch)
	for y := range h {
		for x := range w {
			p := ref.Pix[y*ref.Stride+4*x:]
			R, G, B := float64(p[0]), float64(p[1]), float64(p[2])
			i := y/2*cw + x/2
			cb[i] += -0.168736*R - 0.331264*G + 0.5*B + 128
			cr[i] += 0.5*R - 0.418688*G - 0.081312*B + 128
			n[i]++
		}
	}
	for i := range n {
		cb[i] /= n[i]
		cr[i] /= n[i]
	}
	return cb, cr, cw, ch
}

// chromaPSNR is the PSNR of m's Cb and Cr planes against ref's.
func chromaPSNR(m *image.YCbCr, cb, cr []float64, cw, ch int) float64 {
	var sq float64
	for y := range ch {
		for x := range cw {
			o := m.COffset(2*x, 2*y)
			d1 := float64(m.Cb[o]) - cb[y*cw+x]
			d2 := float64(m.Cr[o]) - cr[y*cw+x]
			sq += d1*d1 + d2*d2
		}
	}
	return 10 * math.Log10(255*255/max(sq/float64(2*cw*ch), 1e-10))
}

// TestChromaScale checks the chroma decoded at a further scale for a
// resample straight to 4:2:0 (chromaScale): the luma is the same to the
// byte, the chroma decoded as small as it says, and as close to the
// full-size path's (in floating point RGB) as the chroma decoded at the
// luma's scale, within a decibel and a half. The figures are
// BENCHMARKS.md's.
func TestChromaScale(t *testing.T) {
	tests := []struct {
		file, query string
		k           int // the further scale of the chroma
	}{
		{"medium-blinds-1920x1200.jpg", "op=resize&w=800", 2}, // 4:2:2
		{"medium-blinds-1920x1200.jpg", "op=resize&w=400", 1}, // luma at 1/2: 2x2 blocks need 2x
		{"medium-blinds-1920x1200.jpg", "op=resize&w=200", 1},
		{"medium-blinds-1920x1200.jpg", "op=resize&w=100", 1},          // luma at 1/8
		{"medium-blinds-1920x1200.jpg", "op=thumbnail&w=150&h=150", 1}, // luma at 1/4
		{"exif-orient6-blinds-1200x1920.jpg", "op=resize&w=500", 2},    // turned
		{"exif-orient6-blinds-1200x1920.jpg", "op=fit&w=300&h=300", 1},
		{"schwarzy.jpg", "op=resize&w=200", 2}, // 4:2:0
		{"schwarzy_exif8.jpg", "op=thumbnail&w=100&h=100", 2},
		{"progressive-picture1a-1365x1074.jpg", "op=resize&w=600", 2}, // 4:4:4
		{"progressive-picture1a-1365x1074.jpg", "op=resize&w=300", 2},
		{"progressive-picture1a-1365x1074.jpg", "op=thumbnail&w=100&h=160", 2},
		{"jpeg/progressive-420.jpg", "op=resize&w=20", 2},
	}
	for _, tt := range tests {
		t.Run(tt.file+"?"+tt.query, func(t *testing.T) {
			src := readTestdata(t, tt.file)
			r := parseTestRequest(t, "path=x&"+tt.query)
			full, k1 := chromaPlanes(t, src, r, false)
			got, k := chromaPlanes(t, src, r, true)
			if k1 != 1 || k != tt.k {
				t.Fatalf("chroma decoded at a further 1/%d (1/%d without the hint), want 1/%d", k, k1, tt.k)
			}
			if got.Rect != full.Rect || !bytes.Equal(got.Y, full.Y) {
				t.Fatal("the luma differs")
			}
			cb, cr, cw, ch := referenceChroma(t, src, r)
			pFull, pGot := chromaPSNR(full, cb, cr, cw, ch), chromaPSNR(got, cb, cr, cw, ch)
			t.Logf("chroma PSNR against the full-size path: %.2f dB at 1/%d, %.2f dB at the luma's scale", pGot, k, pFull)
			if pGot < pFull-1.5 || pGot < 40 {
				t.Errorf("chroma PSNR %.2f dB, want at least %.2f dB (and 40)", pGot, pFull-1.5)
			}
		})
	}
}
