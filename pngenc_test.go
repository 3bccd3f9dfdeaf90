package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"
)

// TestWritePNG checks that writePNG is lossless in image/png's terms:
// image/png decodes its output to the pixels it decodes from its own
// encoding of the same image (opaque images as RGB, others as NRGBA),
// and the layout is the one image/png would pick.
func TestWritePNG(t *testing.T) {
	alpha := encTestLoad(t, "testdata/alpha-arc-colors-2140x1200.png")
	photo := encTestLoad(t, "testdata/schwarzy.jpg")
	tiny := image.NewRGBA(image.Rect(0, 0, 1, 1))
	tiny.Pix[0], tiny.Pix[3] = 0x40, 0x80
	tests := []struct {
		name string
		img  *image.RGBA
	}{
		{"alpha scaled", must(resample(context.Background(), alpha, 400, 224))},
		{"alpha crop", alpha.SubImage(image.Rect(1000, 300, 1333, 517)).(*image.RGBA)},
		{"photo", must(resample(context.Background(), photo, 300, 200))},
		{"photo crop", photo.SubImage(image.Rect(7, 9, 130, 77)).(*image.RGBA)},
		{"1x1 translucent", tiny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ours, theirs bytes.Buffer
			if err := writePNG(context.Background(), &ours, tt.img); err != nil {
				t.Fatalf("writePNG: %v", err)
			}
			if err := png.Encode(&theirs, tt.img); err != nil {
				t.Fatal(err)
			}
			got, err := png.Decode(&ours)
			if err != nil {
				t.Fatalf("decode writePNG output: %v", err)
			}
			want, err := png.Decode(&theirs)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("bounds = %v, want %v", got.Bounds(), want.Bounds())
			}
			switch w := want.(type) {
			case *image.NRGBA:
				g, ok := got.(*image.NRGBA)
				if !ok {
					t.Fatalf("decoded %T, want *image.NRGBA", got)
				}
				if !bytes.Equal(g.Pix, w.Pix) {
					t.Error("NRGBA pixels differ from image/png's")
				}
			case *image.RGBA:
				g, ok := got.(*image.RGBA)
				if !ok {
					t.Fatalf("decoded %T, want *image.RGBA", got)
				}
				if !bytes.Equal(g.Pix, w.Pix) {
					t.Error("RGB pixels differ from image/png's")
				}
			default:
				t.Fatalf("image/png decoded %T", want)
			}
		})
	}
	if err := writePNG(context.Background(), &bytes.Buffer{}, image.NewRGBA(image.Rect(0, 0, 0, 3))); err == nil {
		t.Error("writePNG of an empty image: no error")
	}
}

// TestAbsSum compares absSum with a byte loop, on lengths around its
// 8-byte steps and its 1024-byte blocks, and on the extreme bytes.
func TestAbsSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, n := range []int{0, 1, 7, 8, 9, 1023, 1024, 1025, 5000} {
		for _, fill := range []int{-1, 0x80, 0x7f, 0xff} {
			d := make([]byte, n)
			want := 0
			for i := range d {
				d[i] = byte(fill)
				if fill < 0 {
					d[i] = byte(rng.IntN(256))
				}
				want += absInt(int(int8(d[i])))
			}
			if got := absSum(d); got != want {
				t.Errorf("absSum(%d bytes of %d) = %d, want %d", n, fill, got, want)
			}
		}
	}
}

// TestPNGFilter checks that pngFilter, whichever filter it tries first
// and however early it drops the others, picks the filter with the
// least sum of absolute differences (the lower one on a tie) and fills
// its row as the specification filters it.
func TestPNGFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, bpp := range []int{3, 4} {
		for _, px := range []int{1, 2, 63, 64, 65, 200, 400} {
			for iter := range 20 {
				n := px * bpp
				raw, prev := make([]byte, n), make([]byte, n)
				for i := range raw {
					raw[i], prev[i] = byte(rng.IntN(256)), byte(rng.IntN(256))
					switch iter % 4 {
					case 1: // smooth: small differences, close sums
						raw[i] = prev[i] + byte(rng.IntN(3))
					case 2: // flat: ties
						raw[i], prev[i] = 7, 7
					case 3: // a gradient along x
						raw[i] = byte(i / bpp)
					}
				}
				var want [5][]byte
				var sums [5]int
				for f := range 5 {
					want[f] = refFilter(raw, prev, bpp, f)
					sums[f] = absSum(want[f])
				}
				wantF := 0
				for f := range 5 {
					if sums[f] < sums[wantF] {
						wantF = f
					}
				}
				for first := range 5 {
					var cur [5][]byte
					for i := range cur {
						cur[i] = make([]byte, n+1)
						cur[i][0] = byte(i)
					}
					copy(cur[0][1:], raw)
					f := pngFilter(&cur, append([]byte{0}, prev...), bpp, first)
					if f != wantF {
						t.Fatalf("bpp %d, %d pixels, case %d, first %d: filter %d (sums %v), want %d", bpp, px, iter%4, first, f, sums, wantF)
					}
					if !bytes.Equal(cur[f][1:], want[f]) {
						t.Fatalf("bpp %d, %d pixels, first %d: filter %d row differs", bpp, px, first, f)
					}
				}
			}
		}
	}
}

// refFilter is filter f of the row raw, given the previous row, by the
// specification.
func refFilter(raw, prev []byte, bpp, f int) []byte {
	d := make([]byte, len(raw))
	for i := range raw {
		var a, b, c int
		if i >= bpp {
			a, c = int(raw[i-bpp]), int(prev[i-bpp])
		}
		b = int(prev[i])
		var pred int
		switch f {
		case 1:
			pred = a
		case 2:
			pred = b
		case 3:
			pred = (a + b) / 2
		case 4:
			p := a + b - c
			pa, pb, pc := absInt(p-a), absInt(p-b), absInt(p-c)
			switch {
			case pa <= pb && pa <= pc:
				pred = a
			case pb <= pc:
				pred = b
			default:
				pred = c
			}
		}
		d[i] = raw[i] - byte(pred)
	}
	return d
}
