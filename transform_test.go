package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"strings"
	"testing"
)

// letterImage builds an image from rows of letters ("abc/def"), each
// letter an opaque pixel whose red channel is the letter.
func letterImage(rows string) *image.RGBA {
	lines := strings.Split(rows, "/")
	m := image.NewRGBA(image.Rect(0, 0, len(lines[0]), len(lines)))
	for y, line := range lines {
		for x := range len(line) {
			m.SetRGBA(x, y, color.RGBA{line[x], 0, 0, 0xff})
		}
	}
	return m
}

// letters renders an image built by letterImage back to its rows.
func letters(m *image.RGBA) string {
	var sb strings.Builder
	for y := 0; y < m.Rect.Dy(); y++ {
		if y > 0 {
			sb.WriteByte('/')
		}
		for x := 0; x < m.Rect.Dx(); x++ {
			sb.WriteByte(m.Pix[y*m.Stride+4*x])
		}
	}
	return sb.String()
}

func TestPrimitives(t *testing.T) {
	const src = "abc/def" // 3x2: a top-left, c top-right, d bottom-left, f bottom-right
	tests := []struct {
		name string
		fn   func(context.Context, *image.RGBA) (*image.RGBA, error)
		want string
	}{
		{"flipH", flipH, "cba/fed"},
		{"flipV", flipV, "def/abc"},
		{"rotate90", rotate90, "cf/be/ad"}, // counter-clockwise: top-right c goes top-left
		{"rotate180", rotate180, "fed/cba"},
		{"rotate270", rotate270, "da/eb/fc"}, // clockwise: top-left a goes top-right
		{"transpose", transpose, "ad/be/cf"},
		{"transverse", transverse, "fc/eb/da"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := letterImage(src)
			got := must(tt.fn(context.Background(), in))
			if got.Rect.Min != (image.Point{}) {
				t.Errorf("%s: Rect.Min = %v, want (0,0)", tt.name, got.Rect.Min)
			}
			if g := letters(got); g != tt.want {
				t.Errorf("%s(%s) = %s, want %s", tt.name, src, g, tt.want)
			}
			if letters(in) != src {
				t.Errorf("%s modified its source: %s", tt.name, letters(in))
			}
			// The same on a sub-image whose Rect.Min is not (0,0) and whose
			// Stride is wider than its rows.
			big := letterImage("xxxxx/xabcx/xdefx/xxxxx")
			sub := big.SubImage(image.Rect(1, 1, 4, 3)).(*image.RGBA)
			if g := letters(must(tt.fn(context.Background(), sub))); g != tt.want {
				t.Errorf("%s(sub-image %s) = %s, want %s", tt.name, src, g, tt.want)
			}
		})
	}
}

// exifLayout says where row 0 and column 0 of a stored image are shown,
// straight from the EXIF 2.3 definition of the Orientation tag.
var exifLayout = map[int][2]string{
	1: {"top", "left"},
	2: {"top", "right"},
	3: {"bottom", "right"},
	4: {"bottom", "left"},
	5: {"left", "top"},
	6: {"right", "top"},
	7: {"right", "bottom"},
	8: {"left", "bottom"},
}

// storeAs builds the image a camera would store for the upright image u
// under orientation o, using only exifLayout.
func storeAs(u *image.RGBA, o int) *image.RGBA {
	W, H := u.Rect.Dx(), u.Rect.Dy()
	row, col := exifLayout[o][0], exifLayout[o][1]
	sw, sh := W, H
	if row == "left" || row == "right" {
		sw, sh = H, W
	}
	s := image.NewRGBA(image.Rect(0, 0, sw, sh))
	for sy := 0; sy < sh; sy++ {
		for sx := 0; sx < sw; sx++ {
			var dx, dy int
			switch row { // where stored row sy is shown
			case "top":
				dy = sy
			case "bottom":
				dy = H - 1 - sy
			case "left":
				dx = sy
			case "right":
				dx = W - 1 - sy
			}
			switch col { // where stored column sx is shown
			case "left":
				dx = sx
			case "right":
				dx = W - 1 - sx
			case "top":
				dy = sx
			case "bottom":
				dy = H - 1 - sx
			}
			s.SetRGBA(sx, sy, u.RGBAAt(dx, dy))
		}
	}
	return s
}

func TestOrient(t *testing.T) {
	const upright = "abc/def"
	u := letterImage(upright)
	for o := 1; o <= 8; o++ {
		t.Run(fmt.Sprint(o), func(t *testing.T) {
			stored := storeAs(u, o)
			got := must(orient(context.Background(), stored, o))
			if g := letters(got); g != upright {
				t.Errorf("must(orient(context.Background(), %s, %d)) = %s, want %s", letters(stored), o, g, upright)
			}
		})
	}
	for _, o := range []int{0, 1, 9, -1} {
		if got := must(orient(context.Background(), u, o)); got != u {
			t.Errorf("must(orient(context.Background(), img, %d)) returned a new image, want src itself", o)
		}
	}
}

// randomRGBA is a w x h image of random premultiplied pixels.
func randomRGBA(rng *rand.Rand, w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		a := uint8(rng.IntN(256))
		m.Pix[i+3] = a
		for j := range 3 {
			m.Pix[i+j] = uint8(rng.IntN(int(a) + 1))
		}
	}
	return m
}

func TestPrimitiveIdentities(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := randomRGBA(rng, 131, 70) // wider than two 64-pixel tiles, odd sizes
	tests := []struct {
		name string
		a, b *image.RGBA
	}{
		{"rotate90 x4", must(rotate90(context.Background(), must(rotate90(context.Background(), must(rotate90(context.Background(), must(rotate90(context.Background(), m)))))))), m},
		{"rotate90 then rotate270", must(rotate270(context.Background(), must(rotate90(context.Background(), m)))), m},
		{"rotate90 x2 = rotate180", must(rotate90(context.Background(), must(rotate90(context.Background(), m)))), must(rotate180(context.Background(), m))},
		{"rotate270 = rotate90 x3", must(rotate270(context.Background(), m)), must(rotate90(context.Background(), must(rotate90(context.Background(), must(rotate90(context.Background(), m))))))},
		{"flipH then flipV = rotate180", must(flipV(context.Background(), must(flipH(context.Background(), m)))), must(rotate180(context.Background(), m))},
		{"transpose x2", must(transpose(context.Background(), must(transpose(context.Background(), m)))), m},
		{"transpose = flipH of rotate270", must(transpose(context.Background(), m)), must(flipH(context.Background(), must(rotate270(context.Background(), m))))},
		{"transverse = rotate180 of transpose", must(transverse(context.Background(), m)), must(rotate180(context.Background(), must(transpose(context.Background(), m))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a.Rect != tt.b.Rect || !bytes.Equal(tt.a.Pix, tt.b.Pix) {
				t.Errorf("%s: images differ (%v vs %v)", tt.name, tt.a.Rect, tt.b.Rect)
			}
		})
	}
}

func TestToRGBA(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(b []byte) {
		for i := range b {
			b[i] = uint8(rng.IntN(256))
		}
	}
	r := image.Rect(3, 5, 3+37, 5+23) // odd size, odd origin
	ycbcr := func(ratio image.YCbCrSubsampleRatio) image.Image {
		m := image.NewYCbCr(r, ratio)
		fill(m.Y)
		fill(m.Cb)
		fill(m.Cr)
		return m
	}
	nycbcra := func(ratio image.YCbCrSubsampleRatio) image.Image {
		m := image.NewNYCbCrA(r, ratio)
		fill(m.Y)
		fill(m.Cb)
		fill(m.Cr)
		fill(m.A)
		for i := range m.A[:40] { // make sure 0 and 255 alpha are covered
			m.A[i] = uint8(i%2) * 0xff
		}
		return m
	}
	withPix := func(m interface{ Bounds() image.Rectangle }, pix []byte) image.Image {
		fill(pix)
		return m.(image.Image)
	}
	gray := image.NewGray(r)
	gray16 := image.NewGray16(r)
	nrgba := image.NewNRGBA(r)
	nrgba64 := image.NewNRGBA64(r)
	rgba := image.NewRGBA(r)
	rgba64 := image.NewRGBA64(r)
	cmyk := image.NewCMYK(r)
	alpha16 := image.NewAlpha16(r)
	pal := image.NewPaletted(r, color.Palette{color.RGBA{1, 2, 3, 255}, color.NRGBA{200, 100, 50, 128}, color.Gray{77}, color.Transparent})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.IntN(len(pal.Palette)))
	}
	// An RGBA64 with valid premultiplied values.
	fill(rgba64.Pix)
	for i := 0; i < len(rgba64.Pix); i += 8 {
		for j := range 3 {
			if rgba64.Pix[i+2*j] > rgba64.Pix[i+6] {
				rgba64.Pix[i+2*j] = rgba64.Pix[i+6]
			}
		}
	}

	big := image.NewYCbCr(image.Rect(0, 0, 64, 48), image.YCbCrSubsampleRatio420)
	fill(big.Y)
	fill(big.Cb)
	fill(big.Cr)

	tests := []struct {
		name string
		m    image.Image
		tol  int
	}{
		{"YCbCr 4:4:4", ycbcr(image.YCbCrSubsampleRatio444), 0},
		{"YCbCr 4:2:2", ycbcr(image.YCbCrSubsampleRatio422), 0},
		{"YCbCr 4:2:0", ycbcr(image.YCbCrSubsampleRatio420), 0},
		{"YCbCr 4:4:0", ycbcr(image.YCbCrSubsampleRatio440), 0},
		{"YCbCr 4:1:1", ycbcr(image.YCbCrSubsampleRatio411), 0},
		{"YCbCr 4:1:0", ycbcr(image.YCbCrSubsampleRatio410), 0},
		{"YCbCr 4:2:0 sub-image at odd origin", big.SubImage(image.Rect(5, 3, 60, 47)), 0},
		{"NYCbCrA 4:2:0", nycbcra(image.YCbCrSubsampleRatio420), 0},
		{"NYCbCrA 4:4:4", nycbcra(image.YCbCrSubsampleRatio444), 0},
		{"Gray", withPix(gray, gray.Pix), 0},
		{"Gray16", withPix(gray16, gray16.Pix), 0},
		{"NRGBA", withPix(nrgba, nrgba.Pix), 0},
		{"NRGBA64", withPix(nrgba64, nrgba64.Pix), 0},
		{"RGBA at odd origin", withPix(rgba, rgba.Pix), 0},
		{"RGBA64", rgba64, 0},
		{"CMYK", withPix(cmyk, cmyk.Pix), 0},
		{"Paletted", pal, 0},
		{"Alpha16 (generic path)", withPix(alpha16, alpha16.Pix), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.m.Bounds()
			want := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
			draw.Draw(want, want.Rect, tt.m, b.Min, draw.Src)
			got := toRGBA(tt.m)
			if got.Rect != want.Rect {
				t.Fatalf("toRGBA(%s %v) bounds = %v, want %v", tt.name, b, got.Rect, want.Rect)
			}
			worst, at := 0, -1
			for i := range want.Pix {
				if d := absDiff(got.Pix[i], want.Pix[i]); d > worst {
					worst, at = d, i
				}
			}
			if worst > tt.tol {
				t.Errorf("toRGBA(%s) differs from draw.Draw by %d at byte %d (got %d, want %d), tolerance %d",
					tt.name, worst, at, got.Pix[at], want.Pix[at], tt.tol)
			}
		})
	}
}

func TestToRGBAReuse(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 4, 3))
	if got := toRGBA(m); got != m {
		t.Error("toRGBA(*image.RGBA at (0,0)) made a copy, want the image itself")
	}
}

func TestToRGBAPalettedOutOfRange(t *testing.T) {
	m := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{10, 20, 30, 255}})
	m.Pix[1] = 7 // past the palette: draw.Draw would panic
	got := toRGBA(m)
	if c := got.RGBAAt(0, 0); c != (color.RGBA{10, 20, 30, 255}) {
		t.Errorf("toRGBA(paletted) (0,0) = %v, want {10 20 30 255}", c)
	}
	if c := got.RGBAAt(1, 0); c != (color.RGBA{}) {
		t.Errorf("toRGBA(paletted) index past palette = %v, want transparent", c)
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func BenchmarkToRGBAYCbCr(b *testing.B) {
	m, err := jpeg.Decode(bytes.NewReader(testdataFile(b, "medium-blinds-1920x1200.jpg"))) // 4:2:2
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(1920 * 1200 * 4)
	for b.Loop() {
		toRGBA(m)
	}
}

func BenchmarkRotate90(b *testing.B) {
	m := image.NewRGBA(image.Rect(0, 0, 1920, 1200))
	b.ReportAllocs()
	b.SetBytes(1920 * 1200 * 4)
	for b.Loop() {
		must(rotate90(context.Background(), m))
	}
}
