package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanarMatchesRGBA resamples the planes of every JPEG layout of the
// fixtures (grey, 4:2:0, 4:2:2, 4:4:0, 4:1:1, 3:1:1, 4:4:4, chroma
// sampled above luma, progressive, restarts) straight to the output, and
// compares the result with the general path: the full RGBA image at the
// same scale, then resampleArea over the same span.
func TestPlanarMatchesRGBA(t *testing.T) {
	files, err := filepath.Glob("testdata/jpeg/*.jpg")
	if err != nil || len(files) < 10 {
		t.Fatalf("fixtures: %v, %v", files, err)
	}
	// The fixtures the decoder refuses on purpose, with the reason: they
	// must fail with errUnsupportedFormat; any other that does not decode
	// fails the test.
	planarUnsupported := map[string]string{
		"arithmetic.jpg": "arithmetic coding is not supported",
	}
	tests := []struct {
		name  string
		scale int
		x, y  span // of the 61x43 image, in its full-size pixels
		w, h  int
	}{
		{"1/1 to 30x21", 1, span{0, 61}, span{0, 43}, 30, 21},
		{"1/1 to 50x40", 1, span{0, 61}, span{0, 43}, 50, 40},
		{"1/1 crop to 17x17", 1, span{9, 43}, span{0, 43}, 17, 17},
		{"1/2 to 13x9", 2, span{0, 61}, span{0, 43}, 13, 9},
		{"1/4 crop to 5x5", 4, span{9.5, 43}, span{0, 43}, 5, 5},
		{"1/8 to 3x2", 8, span{0, 61}, span{0, 43}, 3, 2},
		{"1/1 to 1x1", 1, span{0, 61}, span{0, 43}, 1, 1},
	}
	for _, file := range files {
		data := readTestdata(t, strings.TrimPrefix(file, "testdata/"))
		for _, tt := range tests {
			t.Run(filepath.Base(file)+"/"+tt.name, func(t *testing.T) {
				d, err := decodeJPEGPlanes(context.Background(), data, tt.scale)
				if reason, ok := planarUnsupported[filepath.Base(file)]; ok {
					if !errors.Is(err, errUnsupportedFormat) {
						t.Fatalf("decodeJPEGPlanes = %v, want %v (%s)", err, errUnsupportedFormat, reason)
					}
					return
				}
				if err != nil {
					t.Fatalf("decodeJPEGPlanes: %v", err)
				}
				if !d.planar() {
					switch filepath.Base(file) {
					case "ycck.jpg", "rgb.jpg", "baseline-chroma-over-luma.jpg": // Cb and Cr sampled differently
						return
					}
					t.Fatal("not planar")
				}
				s := float64(tt.scale)
				x, y := span{tt.x.from / s, tt.x.size / s}, span{tt.y.from / s, tt.y.size / s}
				got := must(d.resampleRGBA(context.Background(), x, y, tt.w, tt.h))
				full, err := d.toRGBA(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				want := must(resampleArea(context.Background(), full, x, y, tt.w, tt.h))
				if got.Rect != want.Rect {
					t.Fatalf("size %v, want %v", got.Rect, want.Rect)
				}
				mad, psnr := rgbaDiff(t, got, want)
				t.Logf("RGBA: mean abs diff %.3f, PSNR %.2f dB", mad, psnr)
				// The fixtures are small and saturated: the chroma
				// upsampling of the general path shows more than on photos.
				if mad > 1.5 || psnr < 38 {
					t.Errorf("planar differs from the RGBA path by %.3f on average (PSNR %.2f dB), want <= 1.5 (>= 38 dB)", mad, psnr)
				}
				cw, ch := (tt.w+1)/2, (tt.h+1)/2
				cx := span{x.from, x.size * float64(2*cw) / float64(tt.w)}
				cy := span{y.from, y.size * float64(2*ch) / float64(tt.h)}
				yc, ok := must(d.resampleYCbCr(context.Background(), x, y, cx, cy, tt.w, tt.h)).(*image.YCbCr)
				if d.ncomp == 1 {
					return
				}
				if !ok || yc.SubsampleRatio != image.YCbCrSubsampleRatio420 || yc.Rect != want.Rect {
					t.Fatalf("resampleYCbCr = %T, want a 4:2:0 *image.YCbCr of %v", yc, want.Rect)
				}
				// Against the RGBA path's result subsampled the way the JPEG
				// encoder does it (chroma averaged over 2x2 pixels).
				mad, psnr = rgbaDiff(t, toRGBA(yc), toRGBA(subsample420(want)))
				t.Logf("4:2:0: mean abs diff %.3f, PSNR %.2f dB", mad, psnr)
				if mad > 2 || psnr < 38 {
					t.Errorf("4:2:0 differs from the RGBA path by %.3f on average (PSNR %.2f dB), want <= 2 (>= 38 dB)", mad, psnr)
				}
			})
		}
	}
}

// subsample420 converts m to YCbCr with color.RGBToYCbCr, averaging the
// chroma of each 2x2 block of pixels (those inside m), as image/jpeg's
// encoder does.
func subsample420(m *image.RGBA) *image.YCbCr {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dst := image.NewYCbCr(m.Rect, image.YCbCrSubsampleRatio420)
	cb := make([]int, len(dst.Cb))
	cr := make([]int, len(dst.Cr))
	n := make([]int, len(dst.Cb))
	for y := range h {
		for x := range w {
			p := m.Pix[y*m.Stride+4*x:]
			yy, b, r := color.RGBToYCbCr(p[0], p[1], p[2])
			dst.Y[y*dst.YStride+x] = yy
			c := y/2*dst.CStride + x/2
			cb[c] += int(b)
			cr[c] += int(r)
			n[c]++
		}
	}
	for i := range n {
		if n[i] > 0 {
			dst.Cb[i] = uint8((cb[i] + n[i]/2) / n[i])
			dst.Cr[i] = uint8((cr[i] + n[i]/2) / n[i])
		}
	}
	return dst
}

// TestOrientPlane checks orientPlane against orient, on a plane whose
// samples all differ.
func TestOrientPlane(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 5, 3))
	for i := range g.Pix {
		g.Pix[i] = uint8(10 * i)
	}
	for o := 2; o <= 8; o++ {
		want := must(orient(context.Background(), toRGBA(g), o))
		pix, w, h := orientPlane(g.Pix, g.Stride, 5, 3, o)
		if image.Rect(0, 0, w, h) != want.Rect {
			t.Errorf("orientPlane(%d) size %dx%d, want %v", o, w, h, want.Rect)
			continue
		}
		for i, v := range pix {
			if want.Pix[4*i] != v {
				t.Errorf("orientPlane(%d) = %v, want the grey of %v", o, pix, want.Pix)
				break
			}
		}
	}
}

// TestPlanarJPEGOutput runs one scaling to JPEG, which goes from the
// planes to the encoder without RGBA, and compares the result with the
// same request to PNG (through RGBA, no loss), next to that PNG's pixels
// encoded as JPEG the way other operations' results are: EXIF
// orientations, a crop, odd sizes, grey.
func TestPlanarJPEGOutput(t *testing.T) {
	tests := []struct {
		file, query string
	}{
		{"medium-blinds-1920x1200.jpg", "op=resize&w=801"},
		{"medium-blinds-1920x1200.jpg", "op=thumbnail&w=99&h=151"},
		{"exif-orient6-blinds-1200x1920.jpg", "op=resize&w=333"},
		{"schwarzy_exif3.jpg", "op=fit&w=201&h=201"},
		{"schwarzy_exif6.jpg", "op=thumbnail&w=101&h=75"},
		{"schwarzy_exif8.jpg", "op=resize&h=123"},
		{"jpeg/gray.jpg", "op=resize&w=31"},
	}
	decodeJPEG := func(data []byte) *image.RGBA {
		m, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return toRGBA(m)
	}
	for _, tt := range tests {
		t.Run(tt.file+"?"+tt.query, func(t *testing.T) {
			src := readTestdata(t, tt.file)
			res, err := transform(context.Background(), src, parseTestRequest(t, "path=x&fmt=jpg&q=90&"+tt.query), testEngine, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeJPEG(res.data)
			exact := transformRGBA(t, src, parseTestRequest(t, "path=x&fmt=png&"+tt.query))
			if got.Rect != exact.Rect {
				t.Fatalf("size %v, want %v", got.Rect, exact.Rect)
			}
			var buf bytes.Buffer
			if err := encodeImage(context.Background(), &buf, exact, formatJPEG, 90, false); err != nil {
				t.Fatal(err)
			}
			mad, psnr := rgbaDiff(t, got, exact)
			rmad, rpsnr := rgbaDiff(t, decodeJPEG(buf.Bytes()), exact)
			t.Logf("mean abs diff %.3f, PSNR %.2f dB; through RGBA %.3f, %.2f dB", mad, psnr, rmad, rpsnr)
			if mad > rmad*1.1+0.1 || psnr < rpsnr-1 {
				t.Errorf("JPEG output differs from the exact result by %.3f on average (PSNR %.2f dB), want <= %.3f (>= %.2f dB) as through RGBA",
					mad, psnr, rmad, rpsnr)
			}
		})
	}
}

// BenchmarkDecodeJPEGPlanes measures decoding to planes alone (what the
// planar path needs), at the scales the corpus benchmarks use.
func BenchmarkDecodeJPEGPlanes(b *testing.B) {
	cases := []struct {
		file  string
		scale int
	}{
		{"medium-blinds-1920x1200.jpg", 1},
		{"large-seeding-5312x2988-progressive.jpg", 2},
		{"large-kleiber-6028x3391.jpg", 8},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/scale%d", strings.TrimSuffix(c.file, ".jpg"), c.scale), func(b *testing.B) {
			data := corpusFile(b, c.file)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := decodeJPEGPlanes(context.Background(), data, c.scale); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPlanarPoolGarbage fills passPool with garbage and checks that the
// planar path's output does not change: nothing stale from a previous
// request's intermediate image may reach the pixels.
func TestPlanarPoolGarbage(t *testing.T) {
	data := readTestdata(t, "jpeg/baseline-422-restart.jpg")
	d, err := decodeJPEGPlanes(context.Background(), data, 1)
	if err != nil {
		t.Fatal(err)
	}
	x, y := span{0, float64(d.width)}, span{0, float64(d.height)}
	w, h := d.width*2/5, d.height*2/5
	dirty := func() {
		for range 4 {
			p := make([]uint64, 1<<16)
			for i := range p {
				p[i] = 0xdeadbeefcafef00d
			}
			passPool.Put(&p)
		}
	}
	clean := must(d.resampleRGBA(context.Background(), x, y, w, h))
	cleanYCbCr := must(d.resampleYCbCr(context.Background(), x, y, x, y, w, h)).(*image.YCbCr)
	dirty()
	got := must(d.resampleRGBA(context.Background(), x, y, w, h))
	dirty()
	gotYCbCr := must(d.resampleYCbCr(context.Background(), x, y, x, y, w, h)).(*image.YCbCr)
	if !bytes.Equal(got.Pix, clean.Pix) {
		t.Error("resampleRGBA differs after a dirty pool")
	}
	if !bytes.Equal(gotYCbCr.Y, cleanYCbCr.Y) || !bytes.Equal(gotYCbCr.Cb, cleanYCbCr.Cb) || !bytes.Equal(gotYCbCr.Cr, cleanYCbCr.Cr) {
		t.Error("resampleYCbCr differs after a dirty pool")
	}
}
