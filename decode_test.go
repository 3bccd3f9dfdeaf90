package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
)

// WebP files made with cwebp 1.2.4 (libwebp) from webpPattern and
// testdata/tiny-1x1.png: `cwebp -lossless -exact`, `cwebp -q 90`.
var (
	// patLosslessWebP is webpPattern, VP8L.
	patLosslessWebP = mustHex("524946465c000000574542505650384c4f0000002f038000105f60988da42ec4fe0eeafc6556834c1862bffe5d5caa31d3b68dcba1f7208d3f9b1a641ba96a477639b247fb003c331039cc40d65c7fcdf50f04012400014434c926db6c1cd1ffc87a0100")
	// patLossyAlphaWebP is webpPattern, VP8X + ALPH (lossless alpha) + VP8.
	patLossyAlphaWebP = mustHex("524946467600000057454250565038580a00000010000000030000020000414c50480d00000000ffffff80ffffff40ffffff00005650382042000000f001009d012a0400030000c012259402ec05ba01994aef8000feade3bbdefff6a23d316573ca2fb5e8cbf09c085a34c2be5a66b1c318c54acb79eff439310e800000")
	// tinyLossyWebP is one #ff8000 pixel, VP8.
	tinyLossyWebP = mustHex("52494646400000005745425056503820340000001002009d012a0100010000c01225a00274ba01f801fa0003c800feef3d6fff7512cef3e23ff7515ffebcc042ee1dffaeb4000000")
)

// webpPattern is the 4x3 non-premultiplied image the WebP files encode.
func webpPattern() *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	cols := []color.NRGBA{
		{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 0, 128},
		{0, 255, 255, 255}, {255, 0, 255, 255}, {10, 20, 30, 255}, {200, 100, 50, 64},
		{255, 255, 255, 255}, {0, 0, 0, 255}, {128, 128, 128, 255}, {0, 0, 0, 0},
	}
	for i, c := range cols {
		m.SetNRGBA(i%4, i/4, c)
	}
	return m
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func testdataFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// corpusFile reads a file of the shared corpus of large images
// ($PICFIT_CORPUS, default ../shared/testdata, see corpusDir). A clone
// has no corpus and test.sh (the README's test command, .ci/run) does not
// set PICFIT_CORPUS, so the tests that run there read testdata/; this is
// for benchmarks, for reports asked for by an env var and, through
// largeCorpusFile, for tests of the large images. An absent file fails
// when PICFIT_CORPUS is set or PICFIT_REQUIRE_BACKENDS=1, and skips,
// naming PICFIT_CORPUS, otherwise.
func corpusFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir(), name))
	if errors.Is(err, os.ErrNotExist) {
		if os.Getenv("PICFIT_CORPUS") != "" || os.Getenv("PICFIT_REQUIRE_BACKENDS") == "1" {
			t.Fatalf("corpus file %s absent from %s: set PICFIT_CORPUS to the corpus", name, corpusDir())
		}
		t.Skipf("corpus file %s absent from %s: set PICFIT_CORPUS to the corpus", name, corpusDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// largeCorpusFile reads a file that only the shared corpus has (the
// large photos, the 125-frame GIF, the 4096x4096 WebP) for a test: it
// runs when PICFIT_CORPUS names the corpus, and is skipped, saying so,
// otherwise (a clone has no corpus; what it checks on small images is
// checked on testdata/ in every run).
func largeCorpusFile(t testing.TB, name string) []byte {
	t.Helper()
	if os.Getenv("PICFIT_CORPUS") == "" {
		t.Skipf("%s is in the large corpus only: set PICFIT_CORPUS to run this", name)
	}
	return corpusFile(t, name)
}

func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

func pngFile(chunks ...[]byte) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	for _, c := range chunks {
		b = append(b, c...)
	}
	return b
}

// pngIHDR is an IHDR payload: 8-bit RGBA, no interlace.
func pngIHDR(w, h uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, w)
	b = binary.BigEndian.AppendUint32(b, h)
	return append(b, 8, 6, 0, 0, 0)
}

func webpChunk(typ string, data []byte) []byte {
	b := append([]byte(typ), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(data)))
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// withPNGEXIF inserts an eXIf chunk holding tiff after the IHDR of a PNG.
func withPNGEXIF(p, tiff []byte) []byte {
	const afterIHDR = 8 + 8 + 13 + 4
	out := append([]byte(nil), p[:afterIHDR]...)
	out = append(out, pngChunk("eXIf", tiff)...)
	return append(out, p[afterIHDR:]...)
}

// withWebPEXIF rewraps a simple (VP8L) WebP of size w x h as an extended
// one with a VP8X header and an EXIF chunk holding tiff.
func withWebPEXIF(simple []byte, w, h int, tiff []byte) []byte {
	vp8x := make([]byte, 10)
	vp8x[0] = 1 << 3 // EXIF metadata present
	vp8x[4], vp8x[5], vp8x[6] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
	vp8x[7], vp8x[8], vp8x[9] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	b := []byte("RIFF\x00\x00\x00\x00WEBP")
	b = append(b, webpChunk("VP8X", vp8x)...)
	b = append(b, simple[12:]...)
	b = append(b, webpChunk("EXIF", tiff)...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// animatedWebP is an animated WebP: VP8X with the animation flag, ANIM,
// and one ANMF chunk holding a 4x3 lossless frame.
func animatedWebP() []byte { return animatedWebPAt(0) }

// animatedWebPAt is animatedWebP with its frame at (2x, 0) on the 4x3
// canvas: outside it when x > 0.
func animatedWebPAt(x byte) []byte {
	vp8x := []byte{1 << 1, 0, 0, 0, 3, 0, 0, 2, 0, 0} // 4x3
	// At (2x, 0), 4x3, 100 ms.
	anmf := append([]byte{x, 0, 0, 0, 0, 0, 3, 0, 0, 2, 0, 0, 100, 0, 0, 0}, patLosslessWebP[12:]...)
	b := []byte("RIFF\x00\x00\x00\x00WEBP")
	b = append(b, webpChunk("VP8X", vp8x)...)
	b = append(b, webpChunk("ANIM", make([]byte, 6))...)
	b = append(b, webpChunk("ANMF", anmf)...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeBMP(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bmp.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawGIF is a GIF with a 2-colour global table and n frames of fw x fh
// at (0,0), each holding lzw as its only data sub-block.
func rawGIF(sw, sh, n, fw, fh int, lzw []byte) []byte {
	b := []byte("GIF89a")
	b = append(b, byte(sw), byte(sw>>8), byte(sh), byte(sh>>8), 0x80, 0, 0, 0, 0, 0, 255, 255, 255)
	for range n {
		b = append(b, 0x2c, 0, 0, 0, 0, byte(fw), byte(fw>>8), byte(fh), byte(fh>>8), 0, 2, byte(len(lzw)))
		b = append(b, lzw...)
		b = append(b, 0)
	}
	return append(b, 0x3b)
}

// gifFrame describes one frame of a synthetic GIF: rows of palette
// letters (see gifPalette) covering rect.
type gifFrame struct {
	rect     image.Rectangle
	rows     string
	disposal byte
	delay    int
}

// gifPalette maps letters to colours; T, first, is the transparent index.
var gifPalette = []struct {
	letter byte
	c      color.RGBA
}{
	{'T', color.RGBA{}},
	{'R', color.RGBA{255, 0, 0, 255}},
	{'G', color.RGBA{0, 255, 0, 255}},
	{'B', color.RGBA{0, 0, 255, 255}},
	{'W', color.RGBA{255, 255, 255, 255}},
	{'K', color.RGBA{0, 0, 0, 255}},
}

func buildGIF(t testing.TB, w, h, loop int, frames ...gifFrame) []byte {
	t.Helper()
	pal := color.Palette{}
	index := map[byte]uint8{}
	for i, e := range gifPalette {
		pal = append(pal, e.c)
		index[e.letter] = uint8(i)
	}
	g := &gif.GIF{LoopCount: loop, Config: image.Config{ColorModel: pal, Width: w, Height: h}}
	for _, f := range frames {
		m := image.NewPaletted(f.rect, pal)
		for y, row := range strings.Split(f.rows, "/") {
			for x := range len(row) {
				m.SetColorIndex(f.rect.Min.X+x, f.rect.Min.Y+y, index[row[x]])
			}
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, f.delay)
		g.Disposal = append(g.Disposal, f.disposal)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// paletteLetters renders an image as rows of gifPalette letters ('?' for
// any other colour).
func paletteLetters(m *image.RGBA) string {
	var sb strings.Builder
	for y := 0; y < m.Rect.Dy(); y++ {
		if y > 0 {
			sb.WriteByte('/')
		}
		for x := 0; x < m.Rect.Dx(); x++ {
			l := byte('?')
			for _, e := range gifPalette {
				if m.RGBAAt(x, y) == e.c {
					l = e.letter
				}
			}
			sb.WriteByte(l)
		}
	}
	return sb.String()
}

// channelMeanAbsDiff is the mean absolute difference of each RGBA channel.
func channelMeanAbsDiff(t testing.TB, a, b *image.RGBA) [4]float64 {
	t.Helper()
	if a.Rect.Size() != b.Rect.Size() {
		t.Fatalf("channelMeanAbsDiff: sizes %v and %v differ", a.Rect.Size(), b.Rect.Size())
	}
	var sum [4]int64
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := 0; y < h; y++ {
		ra, rb := a.Pix[y*a.Stride:][:4*w], b.Pix[y*b.Stride:][:4*w]
		for i := range ra {
			sum[i%4] += int64(absDiff(ra[i], rb[i]))
		}
	}
	var m [4]float64
	for c := range m {
		m[c] = float64(sum[c]) / float64(w*h)
	}
	return m
}

func TestReadHeader(t *testing.T) {
	tiff6 := orientationTIFF(binary.BigEndian, 6)
	giphy := testdataFile(t, "giphy.gif")
	tests := []struct {
		name string
		data []byte
		want header
	}{
		{"tiny-1x1.png", testdataFile(t, "tiny-1x1.png"), header{formatPNG, 1, 1, 1, 1}},
		{"tiny-1x1.jpg", testdataFile(t, "tiny-1x1.jpg"), header{formatJPEG, 1, 1, 1, 1}},
		{"tiny-1x1.gif", testdataFile(t, "tiny-1x1.gif"), header{formatGIF, 1, 1, 1, 1}},
		{"avatar.png", testdataFile(t, "avatar.png"), header{formatPNG, 400, 400, 1, 1}},
		{"schwarzy.jpg", testdataFile(t, "schwarzy.jpg"), header{formatJPEG, 500, 357, 1, 1}},
		{"schwarzy_exif3.jpg", testdataFile(t, "schwarzy_exif3.jpg"), header{formatJPEG, 500, 357, 1, 3}},
		{"schwarzy_exif6.jpg", testdataFile(t, "schwarzy_exif6.jpg"), header{formatJPEG, 500, 357, 1, 6}},
		{"schwarzy_exif8.jpg", testdataFile(t, "schwarzy_exif8.jpg"), header{formatJPEG, 500, 357, 1, 8}},
		{"exif-orient6-blinds-1200x1920.jpg", testdataFile(t, "exif-orient6-blinds-1200x1920.jpg"), header{formatJPEG, 1200, 1920, 1, 6}},
		{"medium-blinds-1920x1200.jpg (camera EXIF, orientation 1)", testdataFile(t, "medium-blinds-1920x1200.jpg"), header{formatJPEG, 1920, 1200, 1, 1}},
		{"cmyk-blinds-1920x1200.jpg", testdataFile(t, "cmyk-blinds-1920x1200.jpg"), header{formatJPEG, 1920, 1200, 1, 1}},
		{"progressive-picture1a-1365x1074.jpg", testdataFile(t, "progressive-picture1a-1365x1074.jpg"), header{formatJPEG, 1365, 1074, 1, 1}},
		{"giphy.gif", giphy, header{formatGIF, 400, 300, 37, 1}},
		{"giphy.gif without its trailer", giphy[:len(giphy)-1], header{formatGIF, 400, 300, 37, 1}},
		{"alpha-arc-colors-2140x1200.png", testdataFile(t, "alpha-arc-colors-2140x1200.png"), header{formatPNG, 2140, 1200, 1, 1}},
		{"webp-alpha-arc-colors-2140x1200.webp", testdataFile(t, "webp-alpha-arc-colors-2140x1200.webp"), header{formatWebP, 2140, 1200, 1, 1}},
		{"webp-seeding-1920x1080.webp", testdataFile(t, "webp-seeding-1920x1080.webp"), header{formatWebP, 1920, 1080, 1, 1}},
		{"tiny lossy webp", tinyLossyWebP, header{formatWebP, 1, 1, 1, 1}},
		{"lossless webp", patLosslessWebP, header{formatWebP, 4, 3, 1, 1}},
		{"lossy webp with alpha", patLossyAlphaWebP, header{formatWebP, 4, 3, 1, 1}},
		{"animated webp", animatedWebP(), header{formatWebP, 4, 3, 1, 1}},
		{"webp with EXIF chunk", withWebPEXIF(patLosslessWebP, 4, 3, tiff6), header{formatWebP, 4, 3, 1, 6}},
		{"png with eXIf chunk", withPNGEXIF(encodePNG(t, letterImage("abc/def")), tiff6), header{formatPNG, 3, 2, 1, 6}},
		{"bmp", encodeBMP(t, letterImage("abcde/fghij/klmno")), header{formatBMP, 5, 3, 1, 1}},
		{"huge png header only", pngFile(pngChunk("IHDR", pngIHDR(100000, 100000))), header{formatPNG, 100000, 100000, 1, 1}},
		{"gif of 200 frames, LZW data not valid", rawGIF(1000, 1000, 200, 1000, 1000, []byte{0xff, 0xff}), header{formatGIF, 1000, 1000, 200, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readHeader(tt.data)
			if err != nil {
				t.Fatalf("readHeader(%s): %v", tt.name, err)
			}
			if got != tt.want {
				t.Errorf("readHeader(%s) = %+v, want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func TestReadHeaderErrors(t *testing.T) {
	giphy := testdataFile(t, "giphy.gif")
	badCRC := pngFile(pngChunk("IHDR", pngIHDR(4, 4)))
	badCRC[len(badCRC)-1] ^= 0xff
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, errUnsupportedFormat},
		{"text", []byte("hello, world"), errUnsupportedFormat},
		{"gif magic cut short", []byte("GIF8"), errUnsupportedFormat},
		{"riff but not webp", []byte("RIFF\x04\x00\x00\x00WAVE"), errUnsupportedFormat},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00"), errUnsupportedFormat},
		{"png signature only", []byte("\x89PNG\r\n\x1a\n"), errCorruptImage},
		{"png 0x0", pngFile(pngChunk("IHDR", pngIHDR(0, 0))), errCorruptImage},
		{"png IHDR cut short", pngFile(pngChunk("IHDR", pngIHDR(4, 4))[:20]), errCorruptImage},
		{"png IHDR with a bad CRC", badCRC, errCorruptImage},
		{"jpeg SOI and one byte", []byte{0xff, 0xd8, 0xff}, errCorruptImage},
		{"gif header only", []byte("GIF89a\x01\x00"), errCorruptImage},
		{"gif with no frames", []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\x3b"), errCorruptImage},
		{"gif with no frames and no trailer", giphy[:13+768], errCorruptImage},
		{"gif cut inside image data", giphy[:len(giphy)/2], errCorruptImage},
		{"gif frame outside the screen", rawGIF(10, 10, 1, 11, 10, []byte{0x44, 0x01}), errCorruptImage},
		{"gif LZW code size 9", bytes.Replace(rawGIF(2, 2, 1, 2, 2, []byte{0x44}), []byte{0, 2, 1, 0x44}, []byte{0, 9, 1, 0x44}, 1), errCorruptImage},
		{"gif unknown block", append(rawGIF(2, 2, 1, 2, 2, []byte{0x44})[:19], 0x99), errCorruptImage},
		{"gif unknown extension", append(rawGIF(2, 2, 1, 2, 2, []byte{0x44})[:19], 0x21, 0x02, 0), errCorruptImage},
		{"bmp magic and junk", []byte("BMjunk"), errCorruptImage},
		{"webp RIFF header only", []byte("RIFF\x04\x00\x00\x00WEBP"), errCorruptImage},
		{"webp cut in VP8X", patLossyAlphaWebP[:25], errCorruptImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := readHeader(tt.data)
			if !errors.Is(err, tt.want) {
				t.Errorf("readHeader(%s) = %+v, %v; want error %v", tt.name, h, err, tt.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	giphy := testdataFile(t, "giphy.gif")
	orange := color.RGBA{0xff, 0x80, 0, 0xff}
	tests := []struct {
		name          string
		data          []byte
		format        string
		width, height int
		frames        int
		corner        color.RGBA // pixel (0,0); checked when tol >= 0
		tol           int
	}{
		{"tiny-1x1.png", testdataFile(t, "tiny-1x1.png"), "png", 1, 1, 1, orange, 0},
		{"tiny-1x1.gif", testdataFile(t, "tiny-1x1.gif"), "gif", 1, 1, 1, orange, 0},
		{"tiny-1x1.jpg", testdataFile(t, "tiny-1x1.jpg"), "jpeg", 1, 1, 1, orange, 8},
		{"tiny lossy webp", tinyLossyWebP, "webp", 1, 1, 1, orange, 20},
		{"avatar.png", testdataFile(t, "avatar.png"), "png", 400, 400, 1, color.RGBA{}, -1},
		{"schwarzy.jpg", testdataFile(t, "schwarzy.jpg"), "jpeg", 500, 357, 1, color.RGBA{}, -1},
		{"schwarzy_exif6.jpg displays turned", testdataFile(t, "schwarzy_exif6.jpg"), "jpeg", 357, 500, 1, color.RGBA{}, -1},
		{"progressive jpeg", testdataFile(t, "progressive-picture1a-1365x1074.jpg"), "jpeg", 1365, 1074, 1, color.RGBA{}, -1},
		{"cmyk jpeg", testdataFile(t, "cmyk-blinds-1920x1200.jpg"), "jpeg", 1920, 1200, 1, color.RGBA{}, -1},
		{"grayscale jpeg", encodeGrayJPEG(t), "jpeg", 7, 5, 1, color.RGBA{0, 0, 0, 255}, 3},
		{"png with alpha", testdataFile(t, "alpha-arc-colors-2140x1200.png"), "png", 2140, 1200, 1, color.RGBA{}, -1},
		{"lossy webp with alpha", testdataFile(t, "webp-alpha-arc-colors-2140x1200.webp"), "webp", 2140, 1200, 1, color.RGBA{}, -1},
		{"lossy webp", testdataFile(t, "webp-seeding-1920x1080.webp"), "webp", 1920, 1080, 1, color.RGBA{}, -1},
		{"bmp", encodeBMP(t, letterImage("abc/def")), "bmp", 3, 2, 1, color.RGBA{'a', 0, 0, 255}, 0},
		{"animated gif", giphy, "gif", 400, 300, 37, color.RGBA{}, -1},
		{"animated gif without trailer", giphy[:len(giphy)-1], "gif", 400, 300, 37, color.RGBA{}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decode(context.Background(), tt.data, decodeLimits{maxPixels: 100_000_000})
			if err != nil {
				t.Fatalf("decode(context.Background(), %s): %v", tt.name, err)
			}
			if p.format.String() != tt.format || p.width != tt.width || p.height != tt.height || p.frameCount() != tt.frames {
				t.Errorf("decode(context.Background(), %s) = %s %dx%d %d frames, want %s %dx%d %d frames",
					tt.name, p.format, p.width, p.height, p.frameCount(), tt.format, tt.width, tt.height, tt.frames)
			}
			if (p.anim != nil) != (tt.frames > 1) || (p.still != nil) != (tt.frames == 1) {
				t.Errorf("decode(context.Background(), %s): anim set %v, still set %v, for %d frames", tt.name, p.anim != nil, p.still != nil, tt.frames)
			}
			n := 0
			err = p.eachFrame(context.Background(), func(img *image.RGBA, _ int) error {
				n++
				if img.Rect != image.Rect(0, 0, tt.width, tt.height) {
					t.Errorf("decode(context.Background(), %s) frame %d bounds %v, want %dx%d at (0,0)", tt.name, n, img.Rect, tt.width, tt.height)
				}
				if n == 1 && tt.tol >= 0 {
					c := img.RGBAAt(0, 0)
					if absDiff(c.R, tt.corner.R) > tt.tol || absDiff(c.G, tt.corner.G) > tt.tol ||
						absDiff(c.B, tt.corner.B) > tt.tol || c.A != tt.corner.A {
						t.Errorf("decode(context.Background(), %s) pixel (0,0) = %v, want %v within %d", tt.name, c, tt.corner, tt.tol)
					}
				}
				return nil
			})
			if err != nil || n != tt.frames {
				t.Errorf("decode(context.Background(), %s).eachFrame = %d frames, %v; want %d, nil", tt.name, n, err, tt.frames)
			}
		})
	}
}

// encodeGrayJPEG is a 7x5 black grayscale JPEG.
func encodeGrayJPEG(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 7, 5)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeErrors(t *testing.T) {
	jpg := testdataFile(t, "schwarzy.jpg")
	pngData := testdataFile(t, "avatar.png")
	giphy := testdataFile(t, "giphy.gif")
	webpData := testdataFile(t, "webp-seeding-1920x1080.webp")
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"zero bytes", nil, errUnsupportedFormat},
		{"not an image", []byte("<html></html>"), errUnsupportedFormat},
		{"jpeg cut after SOI", jpg[:3], errCorruptImage},
		{"jpeg cut in the header", jpg[:100], errCorruptImage},
		{"jpeg cut in half", jpg[:len(jpg)/2], errCorruptImage},
		{"jpeg without EOI", jpg[:len(jpg)-2], errCorruptImage},
		{"png signature only", pngData[:8], errCorruptImage},
		{"png cut after IHDR", pngData[:33], errCorruptImage},
		{"png cut in half", pngData[:len(pngData)/2], errCorruptImage},
		{"png without IEND", pngData[:len(pngData)-12], errCorruptImage},
		{"gif cut in the screen descriptor", giphy[:10], errCorruptImage},
		{"gif cut in the colour table", giphy[:100], errCorruptImage},
		{"gif cut in half", giphy[:len(giphy)/2], errCorruptImage},
		{"gif with no frames", giphy[:13+768], errCorruptImage},
		{"gif with invalid LZW data", rawGIF(4, 4, 2, 4, 4, []byte{0xff, 0xff, 0xff}), errCorruptImage},
		{"webp cut in half", webpData[:len(webpData)/2], errCorruptImage},
		{"bmp cut in half", encodeBMP(t, letterImage("abc/def"))[:40], errCorruptImage},
		{"animated webp, frame outside the canvas", animatedWebPAt(1), errCorruptImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decode(context.Background(), tt.data, decodeLimits{maxPixels: 100_000_000})
			if !errors.Is(err, tt.want) {
				t.Errorf("decode(context.Background(), %s) = %v, %v; want error %v", tt.name, p, err, tt.want)
			}
		})
	}
}

// allocatedDuring is how many bytes f allocates on the heap.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDecodeHugePNGHeader(t *testing.T) {
	data := pngFile(pngChunk("IHDR", pngIHDR(100000, 100000)))

	var err error
	alloc := allocatedDuring(func() { _, err = decode(context.Background(), data, decodeLimits{maxPixels: 100_000_000}) })
	if !errors.Is(err, errTooLarge) {
		t.Errorf("decode(context.Background(), 100000x100000 png, limit 1e8) = %v, want errTooLarge", err)
	}
	if err != nil && (!strings.Contains(err.Error(), "10000000000 pixels") || !strings.Contains(err.Error(), "limit of 100000000")) {
		t.Errorf("decode(context.Background(), 100000x100000 png) error %q does not name the pixel count and the limit", err)
	}
	if alloc > 1<<20 {
		t.Errorf("decode(context.Background(), 100000x100000 png, limit 1e8) allocated %d bytes, want < 1 MB", alloc)
	}

	// With no limit the decoder gets the data, which ends before any IDAT.
	alloc = allocatedDuring(func() { _, err = decode(context.Background(), data, decodeLimits{}) })
	if !errors.Is(err, errCorruptImage) {
		t.Errorf("decode(context.Background(), 100000x100000 png, no limit) = %v, want errCorruptImage", err)
	}
	t.Logf("no limit: %v, %d bytes allocated", err, alloc)
}

func TestDecodeGIFOverLimitBeforeLZW(t *testing.T) {
	// 200 frames of 1000x1000 = 2e8 pixels; the LZW data is invalid, so a
	// decoder that got that far would answer errCorruptImage.
	data := rawGIF(1000, 1000, 200, 1000, 1000, []byte{0xff, 0xff})
	var err error
	alloc := allocatedDuring(func() { _, err = decode(context.Background(), data, decodeLimits{maxPixels: 100_000_000}) })
	if !errors.Is(err, errTooLarge) {
		t.Errorf("decode(context.Background(), gif 1000x1000 x 200 frames, limit 1e8) = %v, want errTooLarge", err)
	}
	if alloc > 1<<20 {
		t.Errorf("decode(context.Background(), gif over the limit) allocated %d bytes, want < 1 MB", alloc)
	}
	if _, err := decode(context.Background(), data, decodeLimits{maxPixels: 1_000_000_000}); !errors.Is(err, errCorruptImage) {
		t.Errorf("decode(context.Background(), same gif, limit 1e9) = %v, want errCorruptImage from the LZW decoder", err)
	}

	// Many tiny frames are refused whatever the pixel limit.
	many := rawGIF(1, 1, maxGIFFrames+1, 1, 1, []byte{0x44, 0x01})
	if _, err := decode(context.Background(), many, decodeLimits{}); !errors.Is(err, errTooLarge) {
		t.Errorf("decode(context.Background(), gif of %d frames) = %v, want errTooLarge", maxGIFFrames+1, err)
	}
}

func TestDecodeLimit(t *testing.T) {
	data := testdataFile(t, "schwarzy.jpg") // 500x357 = 178500 pixels
	tests := []struct {
		name  string
		limit int64
		want  error
	}{
		{"no limit", 0, nil},
		{"exactly at the limit", 178500, nil},
		{"one pixel over", 178499, errTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(context.Background(), data, decodeLimits{maxPixels: tt.limit})
			if !errors.Is(err, tt.want) {
				t.Errorf("decode(context.Background(), 500x357 jpeg, limit %d) = %v, want %v", tt.limit, err, tt.want)
			}
		})
	}
}

func TestDecodeCMYK(t *testing.T) {
	// image/jpeg itself returns *image.CMYK with the Adobe inversion
	// already undone (applyBlack); toRGBA only converts CMYK to RGB.
	raw, err := jpeg.Decode(bytes.NewReader(testdataFile(t, "cmyk-blinds-1920x1200.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.(*image.CMYK); !ok {
		t.Errorf("jpeg.Decode(cmyk jpeg) = %T, want *image.CMYK", raw)
	}
	cmyk, err := decode(context.Background(), testdataFile(t, "cmyk-blinds-1920x1200.jpg"), decodeLimits{maxPixels: 1e8})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := decode(context.Background(), testdataFile(t, "medium-blinds-1920x1200.jpg"), decodeLimits{maxPixels: 1e8})
	if err != nil {
		t.Fatal(err)
	}
	d := channelMeanAbsDiff(t, cmyk.still, ref.still)
	t.Logf("cmyk vs rgb jpeg: mean abs diff R %.2f G %.2f B %.2f A %.2f", d[0], d[1], d[2], d[3])
	for c, v := range d {
		if v > 4 {
			t.Errorf("cmyk jpeg channel %d mean abs diff %.2f from the rgb original, want <= 4", c, v)
		}
	}
}

func TestDecodeEXIFOrientation(t *testing.T) {
	lim := decodeLimits{maxPixels: 1e8}
	mustDecode := func(name string) *image.RGBA {
		t.Helper()
		p, err := decode(context.Background(), testdataFile(t, name), lim)
		if err != nil {
			t.Fatalf("decode(context.Background(), %s): %v", name, err)
		}
		return p.still
	}
	blinds := mustDecode("medium-blinds-1920x1200.jpg")
	schwarzy := mustDecode("schwarzy.jpg")
	tests := []struct {
		name string
		want *image.RGBA
		max  float64 // mean abs diff per channel
	}{
		// Re-encoded at quality 90 after turning it: a few levels off.
		{"exif-orient6-blinds-1200x1920.jpg", blinds, 3},
		// The same JPEG data as schwarzy.jpg with an EXIF segment added.
		{"schwarzy_exif3.jpg", must(rotate180(context.Background(), schwarzy)), 0},
		{"schwarzy_exif6.jpg", must(rotate270(context.Background(), schwarzy)), 0},
		{"schwarzy_exif8.jpg", must(rotate90(context.Background(), schwarzy)), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustDecode(tt.name)
			if got.Rect != tt.want.Rect {
				t.Fatalf("decode(context.Background(), %s) = %v, want %v", tt.name, got.Rect, tt.want.Rect)
			}
			d := channelMeanAbsDiff(t, got, tt.want)
			t.Logf("%s: mean abs diff R %.2f G %.2f B %.2f", tt.name, d[0], d[1], d[2])
			for c, v := range d {
				if v > tt.max {
					t.Errorf("decode(context.Background(), %s) channel %d mean abs diff %.2f from the upright image, want <= %.0f", tt.name, c, v, tt.max)
				}
			}
		})
	}
}

func TestDecodeContainerOrientation(t *testing.T) {
	tiff6 := orientationTIFF(binary.LittleEndian, 6)
	plain, err := decode(context.Background(), patLosslessWebP, decodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want *image.RGBA
	}{
		{"png eXIf 6", withPNGEXIF(encodePNG(t, letterImage("abc/def")), tiff6), letterImage("da/eb/fc")},
		{"webp EXIF 6", withWebPEXIF(patLosslessWebP, 4, 3, tiff6), must(rotate270(context.Background(), plain.still))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decode(context.Background(), tt.data, decodeLimits{maxPixels: 1e6})
			if err != nil {
				t.Fatalf("decode(context.Background(), %s): %v", tt.name, err)
			}
			if p.still.Rect != tt.want.Rect || !bytes.Equal(p.still.Pix, tt.want.Pix) {
				t.Errorf("decode(context.Background(), %s) = %v %v, want %v %v", tt.name, p.still.Rect, p.still.Pix, tt.want.Rect, tt.want.Pix)
			}
		})
	}
}

func TestDecodeWebP(t *testing.T) {
	want := toRGBA(webpPattern())
	lossless, err := decode(context.Background(), patLosslessWebP, decodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lossless.still.Pix, want.Pix) {
		t.Errorf("decode(context.Background(), lossless webp) = %v, want %v", lossless.still.Pix, want.Pix)
	}
	lossy, err := decode(context.Background(), patLossyAlphaWebP, decodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 3; i < len(want.Pix); i += 4 {
		if lossy.still.Pix[i] != want.Pix[i] {
			t.Errorf("decode(context.Background(), lossy webp with alpha) alpha of pixel %d = %d, want %d", i/4, lossy.still.Pix[i], want.Pix[i])
		}
		for c := i - 3; c < i; c++ {
			if lossy.still.Pix[c] > lossy.still.Pix[i] {
				t.Errorf("decode(context.Background(), lossy webp with alpha) pixel %d not premultiplied: % x", i/4, lossy.still.Pix[i-3:i+1])
			}
		}
	}
}

// TestDecodeBMPPhoto decodes testdata's 24-bit BMP photo (the corpus'
// 800x500 one, reduced) and compares its pixels with x/image/bmp's own.
func TestDecodeBMPPhoto(t *testing.T) {
	data := testdataFile(t, "bmp-blinds-200x125.bmp")
	p, err := decode(context.Background(), data, decodeLimits{maxPixels: 1e8})
	if err != nil {
		t.Fatal(err)
	}
	if p.format != formatBMP || p.width != 200 || p.height != 125 || p.still == nil {
		t.Fatalf("decode(context.Background(), bmp-blinds) = %s %dx%d, want a bmp still 200x125", p.format, p.width, p.height)
	}
	ref, err := bmp.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := image.NewRGBA(ref.Bounds())
	draw.Draw(want, want.Rect, ref, ref.Bounds().Min, draw.Src)
	if !bytes.Equal(p.still.Pix, want.Pix) || p.still.Rect != want.Rect {
		t.Errorf("decode(context.Background(), bmp-blinds) pixels differ from x/image/bmp's")
	}
}

func TestGIFGiphy(t *testing.T) {
	data := testdataFile(t, "giphy.gif")
	ref, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	p, err := decode(context.Background(), data, decodeLimits{maxPixels: 1e8})
	if err != nil {
		t.Fatal(err)
	}
	if p.frameCount() != 37 || p.width != 400 || p.height != 300 {
		t.Errorf("decode(context.Background(), giphy.gif) = %dx%d %d frames, want 400x300 37 frames", p.width, p.height, p.frameCount())
	}
	if p.loopCount() != ref.LoopCount || p.loopCount() != 0 {
		t.Errorf("decode(context.Background(), giphy.gif).loopCount() = %d, want %d (forever)", p.loopCount(), ref.LoopCount)
	}
	// Every frame of giphy.gif covers the screen and is disposed of with
	// "none": a composited frame shows the frame's own pixel where it is
	// opaque and the previous composited frame's where it is transparent.
	var delays []int
	prev := image.NewRGBA(image.Rect(0, 0, 400, 300))
	err = p.eachFrame(context.Background(), func(img *image.RGBA, delay int) error {
		i := len(delays)
		delays = append(delays, delay)
		own := toRGBA(ref.Image[i])
		bad := 0
		for j := 0; j < len(img.Pix); j += 4 {
			want := own.Pix[j : j+4]
			if want[3] == 0 {
				want = prev.Pix[j : j+4]
			}
			if !bytes.Equal(img.Pix[j:j+4], want) {
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("giphy.gif frame %d: %d pixels differ from image/gif's frame over the previous one", i, bad)
		}
		prev = img
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(delays) != fmt.Sprint(ref.Delay) {
		t.Errorf("giphy.gif delays = %v, want %v", delays, ref.Delay)
	}
}

func TestEachFrameComposite(t *testing.T) {
	const (
		none       = gif.DisposalNone
		background = gif.DisposalBackground
		previous   = gif.DisposalPrevious
	)
	tests := []struct {
		name   string
		w, h   int
		loop   int
		frames []gifFrame
		want   []string // composited frames as palette letters
	}{
		{
			name: "sub-rectangles with background and previous disposal",
			w:    4, h: 4, loop: 3,
			frames: []gifFrame{
				{image.Rect(0, 0, 4, 4), "RRRR/RRRR/RRRR/RRRR", none, 10},
				{image.Rect(1, 1, 3, 3), "BT/GB", background, 20},
				{image.Rect(0, 0, 1, 1), "W", previous, 30},
				{image.Rect(3, 3, 4, 4), "K", none, 40},
			},
			want: []string{
				"RRRR/RRRR/RRRR/RRRR",
				"RRRR/RBRR/RGBR/RRRR", // T shows the red below
				"WRRR/RTTR/RTTR/RRRR", // frame 2's rectangle cleared to transparent
				"RRRR/RTTR/RTTR/RRRK", // frame 3's white undone
			},
		},
		{
			name: "previous disposal of the first frame restores transparency",
			w:    3, h: 2, loop: 0,
			frames: []gifFrame{
				{image.Rect(0, 0, 3, 2), "RGB/BGR", previous, 5},
				{image.Rect(2, 1, 3, 2), "W", none, 5},
			},
			want: []string{"RGB/BGR", "TTT/TTW"},
		},
		{
			name: "canvas starts transparent around an offset first frame",
			w:    3, h: 3, loop: -1,
			frames: []gifFrame{
				{image.Rect(1, 1, 3, 2), "RT", none, 7},
				{image.Rect(0, 2, 1, 3), "G", none, 8},
			},
			want: []string{"TTT/TRT/TTT", "TTT/TRT/GTT"},
		},
		{
			name: "single frame at an offset is a full-canvas still",
			w:    3, h: 2, loop: 0,
			frames: []gifFrame{{image.Rect(1, 0, 3, 1), "BW", none, 0}},
			want:   []string{"TBW/TTT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decode(context.Background(), buildGIF(t, tt.w, tt.h, tt.loop, tt.frames...), decodeLimits{maxPixels: 1e6})
			if err != nil {
				t.Fatal(err)
			}
			if p.width != tt.w || p.height != tt.h || p.frameCount() != len(tt.frames) {
				t.Errorf("decode = %dx%d %d frames, want %dx%d %d frames", p.width, p.height, p.frameCount(), tt.w, tt.h, len(tt.frames))
			}
			if len(tt.frames) > 1 && p.loopCount() != tt.loop {
				t.Errorf("loopCount() = %d, want %d", p.loopCount(), tt.loop)
			}
			i := 0
			err = p.eachFrame(context.Background(), func(img *image.RGBA, delay int) error {
				if i >= len(tt.want) {
					t.Fatalf("eachFrame gave more than %d frames", len(tt.want))
				}
				if got := paletteLetters(img); got != tt.want[i] {
					t.Errorf("frame %d = %s, want %s", i, got, tt.want[i])
				}
				if want := tt.frames[i].delay; len(tt.frames) > 1 && delay != want {
					t.Errorf("frame %d delay = %d, want %d", i, delay, want)
				}
				// The frame is fn's to modify: scribbling on it must not
				// leak into the next one.
				for j := range img.Pix {
					img.Pix[j] = 0x55
				}
				i++
				return nil
			})
			if err != nil || i != len(tt.want) {
				t.Errorf("eachFrame = %d frames, %v; want %d, nil", i, err, len(tt.want))
			}
		})
	}
}

func TestEachFrameStops(t *testing.T) {
	p, err := decode(context.Background(), testdataFile(t, "giphy.gif"), decodeLimits{maxPixels: 1e8})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	calls := 0
	err = p.eachFrame(context.Background(), func(*image.RGBA, int) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Errorf("eachFrame with fn failing on frame 2 = %v after %d calls, want stop after 2", err, calls)
	}

	still, err := decode(context.Background(), testdataFile(t, "tiny-1x1.png"), decodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	calls = 0
	err = still.eachFrame(context.Background(), func(img *image.RGBA, delay int) error {
		calls++
		if delay != 0 {
			t.Errorf("still frame delay = %d, want 0", delay)
		}
		return nil
	})
	if err != nil || calls != 1 || still.frameCount() != 1 || still.loopCount() != 0 {
		t.Errorf("still: eachFrame %d calls, %v, frameCount %d, loopCount %d; want 1, nil, 1, 0",
			calls, err, still.frameCount(), still.loopCount())
	}
}

func TestDecodeCorpusGIF(t *testing.T) {
	data := largeCorpusFile(t, "animated-imgproxy-demo-978x720-125f.gif")
	p, err := decode(context.Background(), data, decodeLimits{maxPixels: 100_000_000})
	if err != nil {
		t.Fatal(err)
	}
	if p.frameCount() != 125 || p.width != 978 || p.height != 720 {
		t.Errorf("decode(context.Background(), imgproxy demo gif) = %dx%d %d frames, want 978x720 125 frames", p.width, p.height, p.frameCount())
	}
	var last *image.RGBA
	n := 0
	if err := p.eachFrame(context.Background(), func(img *image.RGBA, _ int) error {
		n++
		last = img
		return nil
	}); err != nil || n != 125 {
		t.Fatalf("eachFrame = %d frames, %v; want 125, nil", n, err)
	}
	transparent := 0
	for i := 3; i < len(last.Pix); i += 4 {
		if last.Pix[i] == 0 {
			transparent++
		}
	}
	if frac := float64(transparent) / float64(978*720); frac > 0.05 {
		t.Errorf("last composited frame is %.1f%% transparent, want almost none", 100*frac)
	}
}

func FuzzDecode(f *testing.F) {
	var seeds [][]byte
	for _, name := range []string{"tiny-1x1.png", "tiny-1x1.jpg", "tiny-1x1.gif", "schwarzy.jpg"} {
		seeds = append(seeds, testdataFile(f, name))
	}
	tiff6 := orientationTIFF(binary.BigEndian, 6)
	seeds = append(seeds,
		tinyLossyWebP, patLosslessWebP, patLossyAlphaWebP,
		withWebPEXIF(patLosslessWebP, 4, 3, tiff6),
		withPNGEXIF(encodePNG(f, letterImage("abc/def")), tiff6),
		encodeBMP(f, letterImage("abc/def")),
		buildGIF(f, 4, 4, 3,
			gifFrame{image.Rect(0, 0, 4, 4), "RRRR/RRRR/RRRR/RRRR", gif.DisposalNone, 10},
			gifFrame{image.Rect(1, 1, 3, 3), "BT/GB", gif.DisposalBackground, 20},
			gifFrame{image.Rect(0, 0, 1, 1), "W", gif.DisposalPrevious, 30}),
		pngFile(pngChunk("IHDR", pngIHDR(100000, 100000))),
	)
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)/2])
		f.Add(s[:len(s)-1])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, herr := readHeader(data)
		p, err := decode(context.Background(), data, decodeLimits{maxPixels: 4_000_000})
		if err != nil {
			if !errors.Is(err, errUnsupportedFormat) && !errors.Is(err, errCorruptImage) && !errors.Is(err, errTooLarge) {
				t.Fatalf("decode error %q wraps none of the sentinels", err)
			}
			return
		}
		if herr != nil {
			t.Fatalf("decode succeeded but readHeader failed: %v", herr)
		}
		w, ht := h.width, h.height
		if h.orientation >= 5 {
			w, ht = ht, w
		}
		if p.format != h.format || p.width != w || p.height != ht || p.frameCount() != h.frames {
			t.Fatalf("decode = %s %dx%d %d frames, header says %+v", p.format, p.width, p.height, p.frameCount(), h)
		}
		n := 0
		err = p.eachFrame(context.Background(), func(img *image.RGBA, _ int) error {
			n++
			if img.Rect != image.Rect(0, 0, p.width, p.height) {
				t.Fatalf("frame %d bounds %v, want %dx%d", n, img.Rect, p.width, p.height)
			}
			return nil
		})
		if err != nil || n != p.frameCount() {
			t.Fatalf("eachFrame = %d frames, %v; want %d", n, err, p.frameCount())
		}
	})
}

func benchmarkDecode(b *testing.B, name string) {
	data := testdataFile(b, name)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := decode(context.Background(), data, decodeLimits{maxPixels: 1e8}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJPEG(b *testing.B) { benchmarkDecode(b, "medium-blinds-1920x1200.jpg") }

func BenchmarkDecodePNGAlpha(b *testing.B) { benchmarkDecode(b, "alpha-arc-colors-2140x1200.png") }

func BenchmarkDecodeWebPAlpha(b *testing.B) {
	benchmarkDecode(b, "webp-alpha-arc-colors-2140x1200.webp")
}

func BenchmarkDecodeGIF(b *testing.B) { benchmarkDecode(b, "giphy.gif") }

func BenchmarkGIFEachFrame(b *testing.B) {
	p, err := decode(context.Background(), testdataFile(b, "giphy.gif"), decodeLimits{maxPixels: 1e8})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.eachFrame(context.Background(), func(*image.RGBA, int) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
