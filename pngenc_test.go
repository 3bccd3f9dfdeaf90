package main

import (
	"bytes"
	"image"
	"image/png"
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
		{"alpha scaled", resample(alpha, 400, 224)},
		{"alpha crop", alpha.SubImage(image.Rect(1000, 300, 1333, 517)).(*image.RGBA)},
		{"photo", resample(photo, 300, 200)},
		{"photo crop", photo.SubImage(image.Rect(7, 9, 130, 77)).(*image.RGBA)},
		{"1x1 translucent", tiny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ours, theirs bytes.Buffer
			if err := writePNG(&ours, tt.img); err != nil {
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
	if err := writePNG(&bytes.Buffer{}, image.NewRGBA(image.Rect(0, 0, 0, 3))); err == nil {
		t.Error("writePNG of an empty image: no error")
	}
}
