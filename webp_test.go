package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"math"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/image/webp"
)

// webpDecodeRGBA decodes a WebP with golang.org/x/image/webp and returns
// it premultiplied. Lossy pictures are converted from Y'CbCr with
// libwebp's (and browsers') BT.601 limited-range formula, not Go's JFIF
// one, so that colours compare with the source.
func webpDecodeRGBA(t testing.TB, data []byte) *image.RGBA {
	t.Helper()
	m, err := webp.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("x/image/webp: %v", err)
	}
	var yc *image.YCbCr
	var alpha []uint8
	switch m := m.(type) {
	case *image.YCbCr:
		yc = m
	case *image.NYCbCrA:
		yc, alpha = &m.YCbCr, m.A
	default:
		return toRGBA(m)
	}
	b := yc.Rect
	n := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			Y, cb, cr := int32(yc.Y[yc.YOffset(x, y)]), int32(yc.Cb[yc.COffset(x, y)]), int32(yc.Cr[yc.COffset(x, y)])
			a := uint8(255)
			if alpha != nil {
				a = alpha[y*b.Dx()+x]
			}
			n.SetNRGBA(x, y, libwebpRGB(Y, cb, cr, a))
		}
	}
	return toRGBA(n)
}

// libwebpRGB is libwebp's YUV to RGB conversion (VP8YUVToR and friends).
func libwebpRGB(y, u, v int32, a uint8) color.NRGBA {
	mulHi := func(v, c int32) int32 { return (v * c) >> 8 }
	clip := func(v int32) uint8 { return uint8(min(max(v>>6, 0), 255)) }
	return color.NRGBA{
		R: clip(mulHi(y, 19077) + mulHi(v, 26149) - 14234),
		G: clip(mulHi(y, 19077) - mulHi(u, 6419) - mulHi(v, 13320) + 8708),
		B: clip(mulHi(y, 19077) + mulHi(u, 33050) - 17685),
		A: a,
	}
}

// psnrOpaque is the PSNR over R, G and B of b against a, counting only
// pixels that are opaque in a.
func psnrOpaque(a, b *image.RGBA) float64 {
	var se float64
	n := 0
	for y := range a.Rect.Dy() {
		for x := range a.Rect.Dx() {
			i := y*a.Stride + 4*x
			if a.Pix[i+3] != 255 {
				continue
			}
			for c := range 3 {
				d := float64(a.Pix[i+c]) - float64(b.Pix[i+c])
				se += d * d
			}
			n += 3
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255*float64(n)/se)
}

func webpTestImage(t *testing.T, name string) *image.RGBA {
	t.Helper()
	p, err := decode(context.Background(), readTestdata(t, name), decodeLimits{maxPixels: 1e8})
	if err != nil {
		t.Fatal(err)
	}
	return p.still
}

// crop returns a copy of the w×h part of img at (x, y).
func cropRGBA(img *image.RGBA, x, y, w, h int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for j := range h {
		copy(out.Pix[j*out.Stride:j*out.Stride+4*w], img.Pix[(y+j)*img.Stride+4*x:])
	}
	return out
}

// webpChunks parses a RIFF WEBP file into its chunks, in order.
func webpChunks(t testing.TB, data []byte) []webpTestChunk {
	t.Helper()
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		t.Fatalf("not a RIFF WEBP file: % x", data[:min(len(data), 12)])
	}
	if got := binary.LittleEndian.Uint32(data[4:]); int(got) != len(data)-8 {
		t.Fatalf("RIFF size %d, file has %d bytes after it", got, len(data)-8)
	}
	return parseChunks(t, data[12:])
}

type webpTestChunk struct {
	id   string
	data []byte
}

func parseChunks(t testing.TB, b []byte) []webpTestChunk {
	t.Helper()
	var out []webpTestChunk
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("truncated chunk header")
		}
		n := int(binary.LittleEndian.Uint32(b[4:]))
		if 8+n > len(b) {
			t.Fatalf("chunk %q of %d bytes overruns", b[:4], n)
		}
		out = append(out, webpTestChunk{string(b[:4]), b[8 : 8+n]})
		b = b[8+n+n%2:]
	}
	return out
}

func chunkIDs(chunks []webpTestChunk) []string {
	var ids []string
	for _, c := range chunks {
		ids = append(ids, c.id)
	}
	return ids
}

// riffWrap makes a still WebP file of chunks, with a VP8X header first
// when there is an ALPH chunk.
func riffWrap(w, h int, chunks []webpTestChunk) []byte {
	var b []byte
	for _, c := range chunks {
		if c.id == "ALPH" {
			b = appendVP8X(b, w, h, webpFlagAlpha)
			break
		}
	}
	for _, c := range chunks {
		b = appendChunk(b, c.id, c.data)
	}
	var out bytes.Buffer
	writeRIFF(&out, b)
	return out.Bytes()
}

func TestWebPLosslessRoundTrip(t *testing.T) {
	arc := webpTestImage(t, "alpha-arc-colors-2140x1200.png")
	tests := []struct {
		name string
		img  *image.RGBA
	}{
		{"photo", webpTestImage(t, "schwarzy.jpg")},
		{"RGB drawing", webpTestImage(t, "avatar.png")},
		{"translucent, few colours", cropRGBA(arc, 900, 500, 300, 200)},
		{"stripes", encTestStripes(37, 23, 3)},
		{"1x1", encTestStripes(1, 1, 1)},
		{"alpha ramp", alphaRamp(64, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeWebP(context.Background(), &buf, tt.img, 90, true); err != nil {
				t.Fatal(err)
			}
			if ids := chunkIDs(webpChunks(t, buf.Bytes())); !slices.Equal(ids, []string{"VP8L"}) {
				t.Errorf("chunks %v, want [VP8L]", ids)
			}
			got := webpDecodeRGBA(t, buf.Bytes())
			if got.Rect != tt.img.Rect {
				t.Fatalf("decoded %v, want %v", got.Rect, tt.img.Rect)
			}
			if !bytes.Equal(got.Pix, tt.img.Pix) {
				t.Errorf("lossless round trip changed pixels")
			}
		})
	}
}

// alphaRamp is white with alpha rising from 0 to 255 left to right,
// premultiplied: every partial alpha.
func alphaRamp(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8((x*255/(w-1) + y*7) % 256)
			img.SetRGBA(x, y, color.RGBA{a, a / 2, a, a})
		}
	}
	return img
}

func TestWebPLossyRoundTrip(t *testing.T) {
	photo := webpTestImage(t, "schwarzy.jpg")
	tests := []struct {
		name     string
		img      *image.RGBA
		quality  int
		minPSNR  float64
		maxBytes int
	}{
		{"photo q90", photo, 90, 35, 60_000},
		{"photo q75", photo, 75, 32, 35_000},
		{"photo q20", photo, 20, 27, 16_000},
		{"odd size", cropRGBA(photo, 3, 5, 101, 37), 80, 30, 10_000},
		{"1x1", cropRGBA(photo, 250, 150, 1, 1), 80, 30, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeWebP(context.Background(), &buf, tt.img, tt.quality, false); err != nil {
				t.Fatal(err)
			}
			if ids := chunkIDs(webpChunks(t, buf.Bytes())); !slices.Equal(ids, []string{"VP8 "}) {
				t.Errorf("chunks %v, want [VP8 ]", ids)
			}
			got := webpDecodeRGBA(t, buf.Bytes())
			if got.Rect != tt.img.Rect {
				t.Fatalf("decoded %v, want %v", got.Rect, tt.img.Rect)
			}
			if p := psnrOpaque(tt.img, got); p < tt.minPSNR {
				t.Errorf("PSNR %.2f dB, want > %.0f", p, tt.minPSNR)
			}
			if buf.Len() > tt.maxBytes {
				t.Errorf("%d bytes, want at most %d", buf.Len(), tt.maxBytes)
			}
		})
	}
}

func TestWebPLossyKeepsAlpha(t *testing.T) {
	// An opaque photo with a transparent band and a translucent one.
	img := cropRGBA(webpTestImage(t, "schwarzy.jpg"), 100, 50, 120, 90)
	for y := range 90 {
		for x := range 120 {
			i := y*img.Stride + 4*x
			switch {
			case x < 30:
				copy(img.Pix[i:i+4], []uint8{0, 0, 0, 0})
			case x < 60:
				for c := range 3 {
					img.Pix[i+c] /= 2
				}
				img.Pix[i+3] = 128
			}
		}
	}
	var buf bytes.Buffer
	if err := encodeWebP(context.Background(), &buf, img, 80, false); err != nil {
		t.Fatal(err)
	}
	chunks := webpChunks(t, buf.Bytes())
	if ids := chunkIDs(chunks); !slices.Equal(ids, []string{"VP8X", "ALPH", "VP8 "}) {
		t.Fatalf("chunks %v, want [VP8X ALPH VP8 ]", ids)
	}
	if chunks[0].data[0]&webpFlagAlpha == 0 {
		t.Errorf("VP8X flags %#x lack alpha", chunks[0].data[0])
	}
	got := webpDecodeRGBA(t, buf.Bytes())
	for y := range 90 {
		for x := range 120 {
			i := y*img.Stride + 4*x
			if got.Pix[i+3] != img.Pix[i+3] {
				t.Fatalf("alpha at (%d,%d) = %d, want %d (alpha is lossless)", x, y, got.Pix[i+3], img.Pix[i+3])
			}
		}
	}
	if p := psnrOpaque(img, got); p < 30 {
		t.Errorf("PSNR of the opaque part %.2f dB, want > 30", p)
	}
}

func TestEncodeImageWebPChoosesLossless(t *testing.T) {
	tests := []struct {
		name     string
		img      *image.RGBA
		lossless bool
		want     string // first chunk
	}{
		{"photo", webpTestImage(t, "schwarzy.jpg"), false, "VP8 "},
		{"photo, lossless asked", webpTestImage(t, "schwarzy.jpg"), true, "VP8L"},
		{"few colours", encTestStripes(50, 40, 7), false, "VP8L"},
		{"256 colours", paletteImage(256), false, "VP8L"},
		{"257 colours", paletteImage(257), false, "VP8 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeImage(context.Background(), &buf, tt.img, formatWebP, 75, tt.lossless); err != nil {
				t.Fatal(err)
			}
			chunks := webpChunks(t, buf.Bytes())
			if chunks[0].id != tt.want {
				t.Errorf("first chunk %q, want %q", chunks[0].id, tt.want)
			}
			got := webpDecodeRGBA(t, buf.Bytes())
			if tt.want == "VP8L" && !bytes.Equal(got.Pix, tt.img.Pix) {
				t.Errorf("lossless output differs from the source")
			}
		})
	}
}

// paletteImage has exactly n distinct opaque colours.
func paletteImage(n int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 40, (n+39)/40))
	for i := range img.Rect.Dx() * img.Rect.Dy() {
		k := min(i, n-1)
		img.SetRGBA(i%40, i/40, color.RGBA{uint8(k), uint8(k * 7), uint8(k >> 8), 255})
	}
	return img
}

func TestEncodeAnimatedWebP(t *testing.T) {
	photo := webpTestImage(t, "schwarzy.jpg")
	corner := cropRGBA(photo, 200, 100, 64, 48) // with a transparent corner
	for y := range 10 {
		copy(corner.Pix[y*corner.Stride:y*corner.Stride+40], make([]byte, 40))
	}
	frames := []*image.RGBA{
		cropRGBA(photo, 0, 0, 64, 48),
		encTestStripes(64, 48, 4),
		corner,
		cropRGBA(corner, 0, 0, 64, 48), // unchanged
		cropRGBA(corner, 0, 0, 64, 48),
		encTestStripes(64, 48, 4),
	}
	// The fifth frame gets a lossy rectangle at an odd corner, the
	// sixth a rectangle of few colours.
	for y := 21; y < 41; y++ {
		for x := 11; x < 41; x++ {
			frames[4].SetRGBA(x, y, color.RGBA{uint8(x * 4), uint8(y * 6), uint8((x + y) * 3), 255})
		}
	}
	for y := 5; y < 9; y++ {
		for x := 7; x < 12; x++ {
			frames[5].SetRGBA(x, y, color.RGBA{0, 0, 0, 255})
		}
	}
	delays := []int{10, 25, 0, 5, 5, 5}
	// The largest rectangle each frame may have, and whether it blends.
	rects := []image.Rectangle{image.Rect(0, 0, 64, 48), image.Rect(0, 0, 64, 48), image.Rect(0, 0, 64, 48),
		image.Rect(0, 0, 1, 1), image.Rect(10, 20, 41, 41), image.Rect(0, 0, 64, 48)}
	blends := []bool{false, true, false, true, false, true}
	tests := []struct{ gifLoops, webpLoops int }{{0, 0}, {-1, 1}, {2, 3}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("loop %d", tt.gifLoops), func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeAnimatedWebP(context.Background(), &buf, frames, delays, tt.gifLoops, 85, false); err != nil {
				t.Fatal(err)
			}
			chunks := webpChunks(t, buf.Bytes())
			if ids := chunkIDs(chunks); !slices.Equal(ids, []string{"VP8X", "ANIM", "ANMF", "ANMF", "ANMF", "ANMF", "ANMF", "ANMF"}) {
				t.Fatalf("chunks %v", ids)
			}
			if f := chunks[0].data[0]; f&webpFlagAnimation == 0 || f&webpFlagAlpha == 0 {
				t.Errorf("VP8X flags %#x, want animation and alpha", f)
			}
			if w, h := get24(chunks[0].data[4:])+1, get24(chunks[0].data[7:])+1; w != 64 || h != 48 {
				t.Errorf("canvas %dx%d, want 64x48", w, h)
			}
			if got := int(binary.LittleEndian.Uint16(chunks[1].data[4:])); got != tt.webpLoops {
				t.Errorf("loop count %d, want %d", got, tt.webpLoops)
			}
			canvas := image.NewRGBA(image.Rect(0, 0, 64, 48))
			before := image.NewRGBA(canvas.Rect)
			for i, c := range chunks[2:] {
				copy(before.Pix, canvas.Pix)
				r, blend, lossless := compositeANMF(t, canvas, c.data, delays[i]*10)
				if !r.In(rects[i]) || r.Min.X%2 != 0 || r.Min.Y%2 != 0 {
					t.Errorf("frame %d at %v, want even corner, inside %v", i, r, rects[i])
				}
				if blend != blends[i] {
					t.Errorf("frame %d blends %v, want %v", i, blend, blends[i])
				}
				if p := psnrOpaque(frames[i], canvas); p < 28 {
					t.Errorf("frame %d PSNR %.2f dB, want > 28", i, p)
				}
				for k := 3; k < len(canvas.Pix); k += 4 {
					if canvas.Pix[k] != frames[i].Pix[k] {
						t.Fatalf("frame %d alpha differs at byte %d", i, k)
					}
				}
				// Outside the rectangle the canvas stays; inside, a
				// lossless frame's changed pixels are exact.
				for y := range 48 {
					for x := range 64 {
						o := y*canvas.Stride + x*4
						px := canvas.Pix[o : o+4]
						switch {
						case !image.Pt(x, y).In(r):
							if !bytes.Equal(px, before.Pix[o:o+4]) {
								t.Fatalf("frame %d changed (%d,%d), outside its rectangle %v", i, x, y, r)
							}
						case lossless && (i == 0 || !bytes.Equal(frames[i].Pix[o:o+4], frames[i-1].Pix[o:o+4])):
							if !bytes.Equal(px, frames[i].Pix[o:o+4]) {
								t.Fatalf("frame %d (lossless) shows %v at (%d,%d), want %v", i, px, x, y, frames[i].Pix[o:o+4])
							}
						}
					}
				}
			}
		})
	}
}

// compositeANMF checks an ANMF chunk's duration (unless ms < 0) and draws its frame on
// canvas as libwebp's animation decoder does (no disposal: ours never
// disposes); it returns the frame's rectangle, whether it blends, and
// whether it is lossless.
func compositeANMF(t *testing.T, canvas *image.RGBA, data []byte, ms int) (r image.Rectangle, blend, lossless bool) {
	t.Helper()
	x, y := get24(data)*2, get24(data[3:])*2
	w, h := get24(data[6:])+1, get24(data[9:])+1
	r = image.Rect(x, y, x+w, y+h)
	if d := get24(data[12:]); ms >= 0 && d != ms {
		t.Errorf("frame at %v lasts %d ms, want %d", r, d, ms)
	}
	if data[15]&1 != 0 {
		t.Errorf("frame at %v disposes, want no disposal", r)
	}
	blend = data[15]&2 == 0
	chunks := parseChunks(t, data[16:])
	lossless = chunks[0].id == "VP8L"
	got := webpDecodeRGBA(t, riffWrap(w, h, chunks))
	for j := range h {
		for i := range w {
			src := got.RGBAAt(i, j)
			if blend && src.A == 0 {
				continue
			}
			if blend && src.A != 255 {
				t.Fatalf("blended frame at %v has alpha %d", r, src.A)
			}
			canvas.SetRGBA(x+i, y+j, src)
		}
	}
	return r, blend, lossless
}

func get24(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

func TestEncodeWebPErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"quality 0", encodeWebP(context.Background(), &bytes.Buffer{}, encTestStripes(4, 4, 2), 0, false), errBadParam},
		{"quality 101", encodeWebP(context.Background(), &bytes.Buffer{}, encTestStripes(4, 4, 2), 101, true), errBadParam},
		{"empty", encodeWebP(context.Background(), &bytes.Buffer{}, image.NewRGBA(image.Rect(0, 0, 0, 5)), 80, false), errTooLarge},
		{"too wide", encodeWebP(context.Background(), &bytes.Buffer{}, &image.RGBA{Rect: image.Rect(0, 0, 16385, 1)}, 80, false), errTooLarge},
		{"16384 wide: VP8 codes 14 bits", encodeWebP(context.Background(), &bytes.Buffer{}, &image.RGBA{Rect: image.Rect(0, 0, 16384, 1)}, 80, false), errTooLarge},
		{"no frames", encodeAnimatedWebP(context.Background(), &bytes.Buffer{}, nil, nil, 0, 80, false), nil},
		{"frames of two sizes", encodeAnimatedWebP(context.Background(), &bytes.Buffer{}, []*image.RGBA{encTestStripes(4, 4, 2), encTestStripes(5, 4, 2)}, []int{1, 1}, 0, 80, false), nil},
		{"delays", encodeAnimatedWebP(context.Background(), &bytes.Buffer{}, []*image.RGBA{encTestStripes(4, 4, 2)}, nil, 0, 80, false), nil},
	}
	for _, tt := range tests {
		if tt.err == nil || (tt.want != nil && !errors.Is(tt.err, tt.want)) {
			t.Errorf("%s: error %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

// TestWebPWidest: the widest WebP there is, 16383 pixels, lossy and
// lossless, decodes at its size.
func TestWebPWidest(t *testing.T) {
	img := encTestStripes(16383, 2, 7)
	for _, lossless := range []bool{false, true} {
		var buf bytes.Buffer
		if err := encodeWebP(context.Background(), &buf, img, 80, lossless); err != nil {
			t.Fatalf("lossless %v: %v", lossless, err)
		}
		cfg, err := webp.DecodeConfig(bytes.NewReader(buf.Bytes()))
		if err != nil || cfg.Width != 16383 || cfg.Height != 2 {
			t.Errorf("lossless %v: decoded %dx%d, %v; want 16383x2", lossless, cfg.Width, cfg.Height, err)
		}
	}
}

func TestHuffLengthsLimit(t *testing.T) {
	// Fibonacci counts make the deepest possible Huffman tree.
	counts := make([]uint32, 40)
	a, b := uint32(1), uint32(1)
	for i := range counts {
		counts[i] = a
		a, b = b, a+b
	}
	for _, limit := range []int{7, 15} {
		lengths := huffLengths(counts, limit)
		kraft := 0.0
		for _, l := range lengths {
			if l == 0 || int(l) > limit {
				t.Fatalf("limit %d: length %d", limit, l)
			}
			kraft += math.Pow(2, -float64(l))
		}
		if kraft != 1 {
			t.Errorf("limit %d: Kraft sum %v, want 1 (a complete code)", limit, kraft)
		}
	}
}

func TestVP8Transforms(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for range 500 {
		var src, pred, rec [16]uint8
		for i := range src {
			src[i], pred[i] = uint8(r.Intn(256)), uint8(r.Intn(256))
		}
		var c [16]int32
		vp8FDCT(src[:], 4, pred[:], 4, &c)
		vp8IDCT(&c, pred[:], 4, rec[:], 4)
		for i := range rec {
			if d := int(rec[i]) - int(src[i]); d < -1 || d > 1 {
				t.Fatalf("idct(fdct(%v)) = %v", src, rec)
			}
		}
		var dc, w, back [16]int32
		for i := range dc {
			dc[i] = int32(r.Intn(8161) - 4080)
		}
		vp8FWHT(&dc, &w)
		vp8IWHT(&w, &back)
		for i := range dc {
			if d := dc[i] - back[i]; d < -1 || d > 1 {
				t.Fatalf("vp8IWHT(vp8FWHT(%v)) = %v", dc, back)
			}
		}
	}
}

// TestWebPWithLibwebp has libwebp's own tools check our files: dwebp
// decodes every kind, webpinfo and webpmux accept the animation. Skipped
// when Debian's webp package is not installed (test.sh installs it).
func TestWebPWithLibwebp(t *testing.T) {
	for _, tool := range []string{"dwebp", "webpinfo", "webpmux"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipBackend(t, tool+" not installed (apt-get install webp)")
		}
	}
	photo := cropRGBA(webpTestImage(t, "schwarzy.jpg"), 0, 0, 203, 101)
	translucent := cropRGBA(webpTestImage(t, "alpha-arc-colors-2140x1200.png"), 1000, 600, 150, 90)
	files := map[string]func(*bytes.Buffer) error{
		"lossy":          func(b *bytes.Buffer) error { return encodeWebP(context.Background(), b, photo, 80, false) },
		"lossless":       func(b *bytes.Buffer) error { return encodeWebP(context.Background(), b, photo, 80, true) },
		"lossy alpha":    func(b *bytes.Buffer) error { return encodeWebP(context.Background(), b, translucent, 60, false) },
		"lossless alpha": func(b *bytes.Buffer) error { return encodeWebP(context.Background(), b, translucent, 60, true) },
		"animated": func(b *bytes.Buffer) error {
			return encodeAnimatedWebP(context.Background(), b, []*image.RGBA{cropRGBA(photo, 0, 0, 64, 48), cropRGBA(translucent, 0, 0, 64, 48)}, []int{5, 7}, 0, 70, false)
		},
	}
	dir := t.TempDir()
	for name, enc := range files {
		var buf bytes.Buffer
		if err := enc(&buf); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, url.PathEscape(name)+".webp")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("webpinfo", "-quiet", path).CombinedOutput(); err != nil {
			t.Errorf("webpinfo %s: %v: %s", name, err, out)
		}
		if name == "animated" {
			if out, err := exec.Command("webpmux", "-info", path).CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Number of frames: 2")) {
				t.Errorf("webpmux -info %s: %v: %s", name, err, out)
			}
			continue
		}
		// -nofancy: chroma upsampled by repetition, as x/image does, so
		// that both decoders must give the same pixels.
		if out, err := exec.Command("dwebp", "-quiet", "-nofancy", path, "-o", path+".png").CombinedOutput(); err != nil {
			t.Errorf("dwebp %s: %v: %s", name, err, out)
			continue
		}
		ref, err := os.ReadFile(path + ".png")
		if err != nil {
			t.Fatal(err)
		}
		m, err := png.Decode(bytes.NewReader(ref))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(toRGBA(m).Pix, webpDecodeRGBA(t, buf.Bytes()).Pix) {
			t.Errorf("%s: dwebp and golang.org/x/image/webp decode different pixels", name)
		}
	}
}

// FuzzEncodeWebP encodes random small images, lossy and lossless, and
// checks that golang.org/x/image/webp decodes each to the right size, and
// a lossless one to the same pixels.
func FuzzEncodeWebP(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(80), false, []byte{1, 2, 3, 4})
	f.Add(uint8(17), uint8(33), uint8(5), true, []byte("seed pixels"))
	f.Add(uint8(40), uint8(40), uint8(100), false, bytes.Repeat([]byte{0, 255, 7}, 99))
	f.Fuzz(func(t *testing.T, w, h, q uint8, lossless bool, seed []byte) {
		width, height := int(w)%40+1, int(h)%40+1
		quality := int(q)%100 + 1
		img := image.NewRGBA(image.Rect(0, 0, width, height))
		r := rand.New(rand.NewSource(int64(len(seed))))
		for i := range img.Pix {
			if len(seed) > 0 && i%5 != 0 {
				img.Pix[i] = seed[i%len(seed)]
			} else {
				img.Pix[i] = uint8(r.Intn(256))
			}
		}
		for i := 0; i < len(img.Pix); i += 4 { // premultiplied: c <= a
			for c := range 3 {
				img.Pix[i+c] = min(img.Pix[i+c], img.Pix[i+3])
			}
		}
		var buf bytes.Buffer
		if err := encodeWebP(context.Background(), &buf, img, quality, lossless); err != nil {
			t.Fatal(err)
		}
		got := webpDecodeRGBA(t, buf.Bytes())
		if got.Rect.Size() != img.Rect.Size() {
			t.Fatalf("decoded %v, want %v", got.Rect.Size(), img.Rect.Size())
		}
		if lossless && !bytes.Equal(got.Pix, img.Pix) {
			t.Fatalf("lossless round trip changed pixels")
		}
	})
}

func TestAcceptsWebP(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"image/webp", true},
		{"image/avif,image/webp,image/apng,image/*,*/*;q=0.8", true},
		{"IMAGE/WebP ; q=0.5", true},
		{"image/webp;q=0", false},
		{"image/webp;q=0.000", false},
		{"image/webp; q=abc", false},
		{"image/webp;level=1;q=1", true},
		{"*/*", false},
		{"image/*", false},
		{"image/webpx", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := acceptsWebP(tt.accept); got != tt.want {
			t.Errorf("acceptsWebP(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestNegotiateKeys(t *testing.T) {
	parse := func(q string) *request {
		t.Helper()
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseRequest(v, requestLimits{})
		if err != nil {
			t.Fatalf("parseRequest(%q): %v", q, err)
		}
		return r
	}
	const base = "path=avatar.png&op=resize&w=100&h=100"
	plain := parse(base)
	plain.negotiate("image/webp")
	if plain.key != "895b545d9dca01413aec42d6ae3c6197" || plain.negotiated || plain.format != formatNone {
		t.Errorf("without fmt=auto: key %s, negotiated %v, format %q; want the original key, untouched", plain.key, plain.negotiated, plain.format)
	}
	webpReq := parse(base + "&fmt=webp")
	tests := []struct {
		accept, format, key string
	}{
		{"image/avif,image/webp,*/*", "webp", webpReq.key},
		{"image/png,*/*", "", plain.key},
	}
	for _, tt := range tests {
		r := parse(base + "&fmt=auto")
		auto := r.key
		r.negotiate(tt.accept)
		if r.format.String() != tt.format || r.key != tt.key || !r.negotiated || r.key == auto {
			t.Errorf("negotiate(%q) = format %q key %s negotiated %v, want %q %s true", tt.accept, r.format, r.key, r.negotiated, tt.format, tt.key)
		}
	}
}

func TestLosslessParam(t *testing.T) {
	tests := []struct {
		value string
		want  bool
		ok    bool
	}{{"1", true, true}, {"true", true, true}, {"0", false, true}, {"", false, true}, {"yes", false, false}}
	for _, tt := range tests {
		v := url.Values{"path": {"a.png"}, "op": {"noop"}}
		if tt.value != "" {
			v.Set("lossless", tt.value)
		}
		r, err := parseRequest(v, requestLimits{})
		switch {
		case !tt.ok && !errors.Is(err, errBadParam):
			t.Errorf("lossless=%q: error %v, want a bad parameter", tt.value, err)
		case tt.ok && (err != nil || r.lossless != tt.want):
			t.Errorf("lossless=%q: %v, %v; want %v", tt.value, r, err, tt.want)
		}
	}
}

// TestWebPThroughHTTP asks the server for WebP: explicitly, negotiated
// from Accept, and for an animated GIF.
func TestWebPThroughHTTP(t *testing.T) {
	e := newTestEnv(t, nil)
	const q = "/display?path=avatar.png&op=resize&w=120&h=90"
	tests := []struct {
		name, path, accept, mime string
		vary                     bool
	}{
		{"fmt=webp", q + "&fmt=webp", "", "image/webp", false},
		{"fmt=webp lossless", q + "&fmt=webp&lossless=1", "", "image/webp", false},
		{"auto, webp accepted", q + "&fmt=auto", "image/avif,image/webp,*/*;q=0.8", "image/webp", true},
		{"auto, webp refused", q + "&fmt=auto", "image/webp;q=0, image/png", "image/png", true},
		{"auto, no Accept", q + "&fmt=auto", "", "image/png", true},
	}
	etags := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, tt.path, "Accept", tt.accept)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d %s", tt.path, resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.mime {
				t.Errorf("Content-Type %q, want %q", ct, tt.mime)
			}
			if vary := slices.Contains(resp.Header.Values("Vary"), "Accept"); vary != tt.vary {
				t.Errorf("Vary %q, want Accept: %v", resp.Header.Values("Vary"), tt.vary)
			}
			m, _, err := image.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if m.Bounds().Size() != image.Pt(120, 90) {
				t.Errorf("size %v, want 120x90", m.Bounds().Size())
			}
			etags[tt.name] = resp.Header.Get("ETag")
		})
	}
	if etags["auto, webp accepted"] == etags["auto, webp refused"] {
		t.Errorf("the WebP and PNG variants share the ETag %s", etags["auto, webp accepted"])
	}
	if etags["auto, webp accepted"] != etags["fmt=webp"] {
		t.Errorf("auto resolved to WebP has ETag %s, fmt=webp %s: want one cache entry", etags["auto, webp accepted"], etags["fmt=webp"])
	}
	if etags["auto, webp refused"] != etags["auto, no Accept"] {
		t.Errorf("the two PNG answers have ETags %s and %s", etags["auto, webp refused"], etags["auto, no Accept"])
	}

	// A 304 for a negotiated request varies too.
	resp := e.get(t, q+"&fmt=auto", "Accept", "image/webp", "If-None-Match", etags["fmt=webp"])
	readBody(t, resp)
	if resp.StatusCode != http.StatusNotModified || !slices.Contains(resp.Header.Values("Vary"), "Accept") {
		t.Errorf("conditional auto request = %d, Vary %q; want 304 with Vary: Accept", resp.StatusCode, resp.Header.Values("Vary"))
	}
}

func TestAnimatedGIFToWebPThroughHTTP(t *testing.T) {
	e := newTestEnv(t, nil)
	resp := e.get(t, "/display?path=giphy.gif&op=resize&w=80&fmt=webp")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/webp" {
		t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body[:min(len(body), 200)])
	}
	src, err := gif.DecodeAll(bytes.NewReader(readTestdata(t, "giphy.gif")))
	if err != nil {
		t.Fatal(err)
	}
	chunks := webpChunks(t, body)
	frames := 0
	for _, c := range chunks {
		if c.id != "ANMF" {
			continue
		}
		if w, h := get24(c.data[6:])+1, get24(c.data[9:])+1; w != 80 || h != 60 {
			t.Errorf("frame %d is %dx%d, want 80x60", frames, w, h)
		}
		if d := get24(c.data[12:]); frames < len(src.Delay) && d != 10*src.Delay[frames] {
			t.Errorf("frame %d lasts %d ms, want %d", frames, d, 10*src.Delay[frames])
		}
		frames++
	}
	if chunks[1].id != "ANIM" || frames != 37 {
		t.Errorf("chunks %v..., %d frames; want ANIM and 37 frames", chunkIDs(chunks[:2]), frames)
	}
}

// TestVP8PartitionLimits forces the two size fallbacks on a small image:
// token partitions over the limit split into 8; a first partition over
// its limit drops 4x4 prediction, and fails when even that does not fit.
func TestVP8PartitionLimits(t *testing.T) {
	img := webpTestImage(t, "schwarzy.jpg")
	wrap := func(t *testing.T, vp8 []byte) []byte {
		t.Helper()
		var buf bytes.Buffer
		if err := writeRIFF(&buf, appendChunk(nil, "VP8 ", vp8)); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	check := func(t *testing.T, vp8 []byte) {
		t.Helper()
		if p := psnrOpaque(img, webpDecodeRGBA(t, wrap(t, vp8))); p < 30 {
			t.Errorf("PSNR %.2f dB, want > 30", p)
		}
	}

	e := newVP8Encoder(img, 80)
	e.tokenLimit = 100
	vp8, err := e.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	check(t, vp8)
	part0 := int(binary.LittleEndian.Uint32(append(vp8[:3:3], 0)) >> 5)
	if got := 10 + part0 + 7*3; len(vp8) < got {
		t.Fatalf("%d bytes, too short for 8 partitions", len(vp8))
	}

	e = newVP8Encoder(img, 80)
	full, err := e.encode(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	i4 := 0
	for _, mb := range e.mbs {
		if mb.i4 {
			i4++
		}
	}
	if i4 == 0 {
		t.Fatalf("no macroblock uses 4x4 prediction: the test shows nothing")
	}
	fullPart0 := int(binary.LittleEndian.Uint32(append(full[:3:3], 0)) >> 5)
	only16, err := newVP8Encoder(img, 80).encode(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	only16Part0 := int(binary.LittleEndian.Uint32(append(only16[:3:3], 0)) >> 5)
	if only16Part0 >= fullPart0 {
		t.Fatalf("first partition %d bytes with 16x16 modes only, %d with 4x4 ones: the test shows nothing", only16Part0, fullPart0)
	}
	e = newVP8Encoder(img, 80)
	e.part0Limit = only16Part0
	vp8, err = e.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, mb := range e.mbs {
		if mb.i4 {
			t.Fatalf("macroblock %d still uses 4x4 prediction", i)
		}
	}
	check(t, vp8)

	e = newVP8Encoder(img, 80)
	e.part0Limit = 10
	if _, err := e.run(context.Background()); !errors.Is(err, errPartition0) {
		t.Errorf("first partition limit 10: %v, want errPartition0", err)
	}
}

// TestTransformAnimatedWebP runs an animated GIF (gradients, a square
// moving) to animated WebP through transform and composites the
// frames: each as close to the exactly scaled frame as a lossy frame
// should be, rectangles after the first smaller than the canvas.
func TestTransformAnimatedWebP(t *testing.T) {
	var frames []*image.RGBA
	for i := range 5 {
		m := image.NewRGBA(image.Rect(0, 0, 96, 64))
		for y := range 64 {
			for x := range 96 {
				v := color.RGBA{uint8(x * 2), uint8(y * 3), uint8(128 + x - y), 255}
				if x >= 10+9*i && x < 18+9*i && y >= 8+6*i && y < 16+6*i {
					v = color.RGBA{250, 250, 40, 255}
				}
				m.SetRGBA(x, y, v)
			}
		}
		frames = append(frames, m)
	}
	data := encodeGIFFrames(t, frames, []int{5, 5, 5, 5, 5}, 0)
	const query = "op=resize&w=80&fmt=webp"
	res, err := transform(context.Background(), data, parseTestRequest(t, "path=x&"+query), testEngine, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := scaledFrames(t, data, query)
	chunks := webpChunks(t, res.data)
	if len(chunks) != 2+len(want) {
		t.Fatalf("%d chunks, want VP8X, ANIM and %d ANMF", len(chunks), len(want))
	}
	canvas := image.NewRGBA(want[0].Rect)
	smaller := 0
	for i, c := range chunks[2:] {
		r, _, _ := compositeANMF(t, canvas, c.data, -1)
		if r.Size() != canvas.Rect.Size() {
			smaller++
		}
		if p := psnrOpaque(want[i], canvas); p < 30 {
			t.Errorf("frame %d PSNR %.2f dB, want > 30", i, p)
		}
	}
	if smaller != len(want)-1 {
		t.Errorf("%d frames after the first smaller than the canvas, want %d", smaller, len(want)-1)
	}
}
