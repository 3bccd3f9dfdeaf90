package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand"
	"testing"
)

// TestEncodeJPEGMatchesImageJPEG holds encodeJPEG to image/jpeg's bytes,
// for grey, 4:2:0 YCbCr and opaque RGBA images of sizes around the block
// and MCU sizes, smooth and noisy, at several qualities.
func TestEncodeJPEGMatchesImageJPEG(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	sizes := []image.Point{{1, 1}, {7, 9}, {8, 8}, {16, 16}, {17, 33}, {31, 15}, {64, 48}, {101, 77}}
	for _, sz := range sizes {
		rect := image.Rect(0, 0, sz.X, sz.Y)
		g := image.NewGray(rect)
		yc := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
		rgba := image.NewRGBA(rect)
		// Half smooth gradients, half noise: small and large coefficients.
		fill := func(p []byte, i int) byte {
			if i%5 < 2 {
				return byte(r.Intn(256))
			}
			return byte(i * 7)
		}
		for i := range g.Pix {
			g.Pix[i] = fill(g.Pix, i)
		}
		for i := range yc.Y {
			yc.Y[i] = fill(yc.Y, i)
		}
		for i := range yc.Cb {
			yc.Cb[i], yc.Cr[i] = fill(yc.Cb, i), fill(yc.Cr, i+3)
		}
		for i := range rgba.Pix {
			rgba.Pix[i] = fill(rgba.Pix, i)
			if i%4 == 3 {
				rgba.Pix[i] = 255
			}
		}
		for _, m := range []image.Image{g, yc, rgba} {
			for _, q := range []int{1, 30, 50, 80, 95, 100} {
				t.Run(fmt.Sprintf("%T/%v/q%d", m, sz, q), func(t *testing.T) {
					var got, want bytes.Buffer
					if err := encodeJPEG(context.Background(), &got, m, q); err != nil {
						t.Fatal(err)
					}
					if err := jpeg.Encode(&want, m, &jpeg.Options{Quality: q}); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got.Bytes(), want.Bytes()) {
						i := 0
						for i < min(got.Len(), want.Len()) && got.Bytes()[i] == want.Bytes()[i] {
							i++
						}
						t.Errorf("encodeJPEG: %d bytes, image/jpeg %d, first difference at %d", got.Len(), want.Len(), i)
					}
				})
			}
		}
	}
}

// TestEncodeJPEGCorpus does the same on a real photo, scaled as the
// planar path scales it.
func TestEncodeJPEGCorpus(t *testing.T) {
	d, err := decodeJPEGPlanes(context.Background(), readTestdata(t, "medium-blinds-1920x1200.jpg"), 1)
	if err != nil {
		t.Fatal(err)
	}
	x, y := span{0, 1920}, span{0, 1200}
	m := must(d.resampleYCbCr(context.Background(), x, y, span{0, 1920}, span{0, 1200}, 803, 501))
	for _, img := range []image.Image{m, toRGBA(m)} {
		var got, want bytes.Buffer
		if err := encodeJPEG(context.Background(), &got, img, 80); err != nil {
			t.Fatal(err)
		}
		if err := jpeg.Encode(&want, img, &jpeg.Options{Quality: 80}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%T: encodeJPEG wrote %d bytes, image/jpeg %d, not the same", img, got.Len(), want.Len())
		}
	}
}

// TestQuantiseExact checks quantise against image/jpeg's division for
// every quantiser and every dividend the DCT can give.
func TestQuantiseExact(t *testing.T) {
	for q := 1; q <= 255; q++ {
		d := int32(8 * q)
		recip := (1<<32 + uint64(d) - 1) / uint64(d)
		for a := int32(-1 << 14); a <= 1<<14; a++ {
			want := int32(0)
			if a >= 0 {
				want = (a + d>>1) / d
			} else {
				want = -((-a + d>>1) / d)
			}
			if got := quantise(a, recip, d/2); got != want {
				t.Fatalf("quantise(%d) by %d = %d, want %d", a, d, got, want)
			}
		}
	}
}

// BenchmarkEncodeJPEGAgainstImageJPEG encodes an 800x500 photo, as 4:2:0
// YCbCr and as RGBA, with encodeJPEG and with image/jpeg.
func BenchmarkEncodeJPEGAgainstImageJPEG(b *testing.B) {
	d, err := decodeJPEGPlanes(context.Background(), readTestdata(b, "medium-blinds-1920x1200.jpg"), 1)
	if err != nil {
		b.Fatal(err)
	}
	m := must(d.resampleYCbCr(context.Background(), span{0, 1920}, span{0, 1200}, span{0, 1920}, span{0, 1200}, 800, 500))
	rgba := toRGBA(m)
	for _, c := range []struct {
		name string
		m    image.Image
	}{{"ycbcr420", m}, {"rgba", rgba}} {
		b.Run(c.name+"/image-jpeg", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				jpeg.Encode(&bytes.Buffer{}, c.m, &jpeg.Options{Quality: 80})
			}
		})
		b.Run(c.name+"/ours", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				encodeJPEG(context.Background(), &bytes.Buffer{}, c.m, 80)
			}
		})
	}
}
