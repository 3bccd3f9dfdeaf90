package main

import (
	"image"
	"math/rand/v2"
	"testing"
)

// maxPixelDiff is the largest difference of one channel between a and b,
// or 256 when their sizes differ.
func maxPixelDiff(a, b *image.RGBA) int {
	if a.Rect.Size() != b.Rect.Size() {
		return 256
	}
	d := 0
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := range h {
		ra := a.Pix[y*a.Stride : y*a.Stride+4*w]
		rb := b.Pix[y*b.Stride : y*b.Stride+4*w]
		for i := range ra {
			d = max(d, absInt(int(ra[i])-int(rb[i])))
		}
	}
	return d
}

// TestDecodePNGScaled checks that scaling a PNG while decoding it gives
// what decoding it whole and then running the operation gives (the same
// bytes, one level at most when resampleArea takes its columns first).
func TestDecodePNGScaled(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	synthetic := testPNG(t, rng, 97, 61, 6, 8, []byte{0, 1, 2, 3, 4}, nil, nil, 1000)
	files := map[string][]byte{
		"alpha-arc-colors": testdataFile(t, "alpha-arc-colors-2140x1200.png"),
		"avatar":           testdataFile(t, "avatar.png"),
		"synthetic":        synthetic,
	}
	queries := []string{
		"op=resize&w=400",
		"op=resize&h=37",
		"op=resize&w=50&h=50",
		"op=resize&w=300&h=20",
		"op=resize&w=1000",
		"op=resize&w=1000&upscale=0",
		"op=fit&w=120&h=120",
		"op=fit&w=5000&h=5000",
		"op=thumbnail&w=100&h=100",
		"op=thumbnail&w=40&h=90",
		"op=thumbnail&w=30",
		"op=pad&w=200&h=200&color=ff000080",
		"op=pad&w=90&h=30",
		"op=resize&w=11&op=op:rotate+deg:90",
	}
	for name, data := range files {
		for _, q := range queries {
			t.Run(name+" "+q, func(t *testing.T) {
				r := parseTestRequest(t, "path=x&"+q)
				got, err := decodePNGScaled(data, testEngine, r.ops)
				if err != nil {
					t.Fatal(err)
				}
				full, err := decode(data, testEngine.decode)
				if err != nil {
					t.Fatal(err)
				}
				want, err := r.ops[0].apply(full.still, nil, testEngine.maxOutputPixels)
				if err != nil {
					t.Fatal(err)
				}
				if got == nil {
					if want != full.still {
						t.Fatalf("decodePNGScaled declined, but %s scales", q)
					}
					return
				}
				if !got.applied {
					t.Errorf("applied not set")
				}
				if d := maxPixelDiff(got.still, want); d > 1 {
					t.Errorf("decodePNGScaled(%s) differs from decode then apply by %d", q, d)
				}
			})
		}
	}
}

func BenchmarkDecodePNGScaled(b *testing.B) {
	data := testdataFile(b, "alpha-arc-colors-2140x1200.png")
	r := parseTestRequest(b, "path=x&op=resize&w=400")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodePNGScaled(data, testEngine, r.ops); err != nil {
			b.Fatal(err)
		}
	}
}
