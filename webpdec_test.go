package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/vp8"
	"golang.org/x/image/webp"
)

// dwebpRGBA decodes data with libwebp's dwebp (fancy upsampling, its
// default) and returns the result premultiplied as our decoder holds it.
func dwebpRGBA(t testing.TB, data []byte) *image.RGBA {
	t.Helper()
	if _, err := exec.LookPath("dwebp"); err != nil {
		if tt, ok := t.(*testing.T); ok {
			skipBackend(tt, "dwebp not installed (apt-get install webp)")
		}
		t.Skip("dwebp not installed (apt-get install webp)")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.webp"), filepath.Join(dir, "out.png")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("dwebp", "-quiet", in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("dwebp: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return toRGBA(m)
}

// psnrRGBA is the PSNR of b against a over all four channels of the
// premultiplied pixels (so that colour under alpha counts as much as it
// shows), +Inf when they are equal.
func psnrRGBA(a, b *image.RGBA) float64 {
	var se float64
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := range h {
		ra, rb := a.Pix[y*a.Stride:y*a.Stride+4*w], b.Pix[y*b.Stride:y*b.Stride+4*w]
		for i := range ra {
			d := float64(ra[i]) - float64(rb[i])
			se += d * d
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255*float64(4*w*h)/se)
}

// webpTestSources are the WebP sources the decoder tests run on: the
// corpus files (lossy, lossy with alpha) and small generated ones of odd
// sizes, lossy and lossless, opaque and translucent.
func webpTestSources(t *testing.T) map[string][]byte {
	t.Helper()
	photo := cropRGBA(webpTestImage(t, "schwarzy.jpg"), 3, 5, 203, 101)
	translucent := cropRGBA(webpTestImage(t, "alpha-arc-colors-2140x1200.png"), 1000, 600, 151, 91)
	enc := func(img *image.RGBA, q int, lossless bool) []byte {
		var buf bytes.Buffer
		if err := encodeWebP(context.Background(), &buf, img, q, lossless); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	srcs := map[string][]byte{
		"seeding":          readTestdata(t, "webp-seeding-1920x1080.webp"),
		"alpha-arc":        readTestdata(t, "webp-alpha-arc-colors-2140x1200.webp"),
		"lossy odd":        enc(photo, 75, false),
		"lossy alpha odd":  enc(translucent, 60, false),
		"lossless":         enc(photo, 80, true),
		"lossless alpha":   enc(translucent, 80, true),
		"lossy 1x1":        enc(cropRGBA(photo, 7, 9, 1, 1), 90, false),
		"lossy 2x3":        enc(cropRGBA(photo, 7, 9, 2, 3), 90, false),
		"lossless 1x1":     enc(cropRGBA(translucent, 7, 9, 1, 1), 90, true),
		"lossy 17x33 edge": enc(cropRGBA(photo, 180, 60, 17, 33), 50, false),
	}
	if testing.Short() {
		return srcs
	}
	if os.Getenv("PICFIT_CORPUS") != "" { // the 4096x4096 WebP is in the corpus only
		srcs["wood"] = corpusFile(t, "webp-wood-d-4096x4096.webp")
	}
	return srcs
}

// TestWebPDecodeMatchesDwebp decodes every WebP source at full size and
// compares it with libwebp's: lossy pictures within 40 dB PSNR (they
// match bit for bit today: same VP8 reconstruction, same upsampling and
// conversion), lossless ones exactly.
func TestWebPDecodeMatchesDwebp(t *testing.T) {
	for name, data := range webpTestSources(t) {
		t.Run(name, func(t *testing.T) {
			want := dwebpRGBA(t, data)
			p, err := decode(context.Background(), data, decodeLimits{maxPixels: 1 << 25})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := p.still
			if got.Rect != want.Rect {
				t.Fatalf("decoded %v, dwebp %v", got.Rect, want.Rect)
			}
			psnr := psnrRGBA(want, got)
			t.Logf("%s: PSNR %.2f dB against dwebp", name, psnr)
			lossless := bytes.Contains(data[:min(len(data), 64)], []byte("VP8L"))
			switch {
			case lossless && !math.IsInf(psnr, 1):
				t.Errorf("lossless %s: PSNR %.2f dB against dwebp, want identical pixels", name, psnr)
			case psnr < 40:
				t.Errorf("%s: PSNR %.2f dB against dwebp, want at least 40", name, psnr)
			}
		})
	}
}

// TestVP8DecodeMatchesXImage decodes the VP8 chunk of every lossy source
// with decodeVP8 and with golang.org/x/image/vp8 (which dwebp -nofancy
// matches, TestWebPWithLibwebp): the planes must be the same bytes.
func TestVP8DecodeMatchesXImage(t *testing.T) {
	for name, data := range webpTestSources(t) {
		l, err := webpLayoutOf(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l.vp8 == nil {
			continue
		}
		t.Run(name, func(t *testing.T) { vp8MatchesXImage(t, l.vp8) })
	}
}

// TestVP8DecodeEightPartitions decodes a frame whose tokens are split
// over eight partitions (our encoder does that for large frames; a low
// limit forces it here).
func TestVP8DecodeEightPartitions(t *testing.T) {
	e := newVP8Encoder(cropRGBA(webpTestImage(t, "schwarzy.jpg"), 0, 0, 200, 150), 80)
	e.tokenLimit = 100
	vp8, err := e.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := &vp8Dec{first: newBoolDec(vp8[10:])}
	if err := d.parseHeader(vp8[10+int(binary.LittleEndian.Uint32(append(vp8[:3:3], 0))>>5):]); err != nil {
		t.Fatal(err)
	}
	if d.nparts != 8 {
		t.Fatalf("%d partitions, want 8", d.nparts)
	}
	vp8MatchesXImage(t, vp8)
}

// vp8MatchesXImage decodes a VP8 chunk with decodeVP8 and with
// golang.org/x/image/vp8 and checks that the planes are the same bytes.
func vp8MatchesXImage(t *testing.T, chunk []byte) {
	t.Helper()
	got, err := decodeVP8(chunk, vp8Options{})
	if err != nil {
		t.Fatalf("decodeVP8: %v", err)
	}
	dec := vp8.NewDecoder()
	dec.Init(bytes.NewReader(chunk), len(chunk))
	if _, err := dec.DecodeFrameHeader(); err != nil {
		t.Fatal(err)
	}
	want, err := dec.DecodeFrame()
	if err != nil {
		t.Fatal(err)
	}
	if got.Rect != want.Rect {
		t.Fatalf("size %v, want %v", got.Rect, want.Rect)
	}
	w, h := want.Rect.Dx(), want.Rect.Dy()
	planes := []struct {
		name   string
		a, b   []byte
		sa, sb int
		pw, ph int
	}{
		{"Y", got.Y, want.Y, got.YStride, want.YStride, w, h},
		{"Cb", got.Cb, want.Cb, got.CStride, want.CStride, (w + 1) / 2, (h + 1) / 2},
		{"Cr", got.Cr, want.Cr, got.CStride, want.CStride, (w + 1) / 2, (h + 1) / 2},
	}
	for _, p := range planes {
		for y := range p.ph {
			ra, rb := p.a[y*p.sa:y*p.sa+p.pw], p.b[y*p.sb:y*p.sb+p.pw]
			if !bytes.Equal(ra, rb) {
				x := 0
				for ra[x] == rb[x] {
					x++
				}
				t.Fatalf("%s plane differs first at (%d, %d): %d, want %d", p.name, x, y, ra[x], rb[x])
			}
		}
	}
}

// TestVP8DecodeCwebpOptions decodes what cwebp makes with the options
// that change the bitstream's features (simple and normal loop filter,
// sharpness, filter off, segments, quantisers from finest to coarsest)
// and compares with dwebp: the pixels must be identical.
func TestVP8DecodeCwebpOptions(t *testing.T) {
	cwebp := cwebpOf(t, cropRGBA(webpTestImage(t, "schwarzy.jpg"), 11, 7, 211, 157))
	for _, opts := range [][]string{
		{"-q", "90"},
		{"-q", "3", "-sns", "100"},
		{"-nostrong", "-f", "100"},
		{"-nostrong", "-f", "30", "-sharpness", "5"},
		{"-sharpness", "7", "-f", "80"},
		{"-sharpness", "2", "-f", "100", "-q", "20"},
		{"-segments", "1", "-f", "0"},
		{"-m", "0", "-q", "50"},
		{"-m", "6", "-q", "100"},
		{"-af", "-q", "40"},
	} {
		name := strings.Join(opts, " ")
		t.Run(name, func(t *testing.T) {
			data := cwebp(t, opts...)
			l, err := webpLayoutOf(data)
			if err != nil || l.vp8 == nil {
				t.Fatalf("no VP8 chunk: %v", err)
			}
			m, err := decodeVP8(l.vp8, vp8Options{})
			if err != nil {
				t.Fatalf("decodeVP8: %v", err)
			}
			got := webpPlanesToRGBA(m, nil, 0)
			want := dwebpRGBA(t, data)
			if psnr := psnrRGBA(want, got); !math.IsInf(psnr, 1) {
				t.Errorf("cwebp %s: PSNR %.2f dB against dwebp, want identical pixels", name, psnr)
			}
		})
	}
}

// BenchmarkDecodeVP8 measures decodeVP8 alone on the corpus WebPs.
func BenchmarkDecodeVP8(b *testing.B) {
	for _, name := range []string{"webp-seeding-1920x1080.webp", "webp-wood-d-4096x4096.webp"} {
		b.Run(name, func(b *testing.B) {
			data := corpusFile(b, name)
			l, err := webpLayoutOf(data)
			if err != nil || l.vp8 == nil {
				b.Fatalf("no VP8 chunk: %v", err)
			}
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if _, err := decodeVP8(l.vp8, vp8Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// FuzzDecodeWebP decodes arbitrary bytes as a VP8 chunk, as a VP8L
// chunk, and as a WebP file through decode: nothing may panic (the
// decoders run outside guard here), a frame decodes to the size its
// header states, and a WebP decodes to the size its header states or
// fails with a sentinel.
func FuzzDecodeWebP(f *testing.F) {
	photo := webpTestImage(&testing.T{}, "schwarzy.jpg")
	translucent := webpTestImage(&testing.T{}, "alpha-arc-colors-2140x1200.png")
	for _, c := range []struct {
		w, h, q  int
		lossless bool
		img      *image.RGBA
	}{
		{1, 1, 90, false, photo}, {17, 9, 50, false, photo}, {33, 40, 5, false, photo}, {48, 16, 100, false, photo},
		{13, 7, 80, true, photo}, {21, 19, 60, false, translucent}, {9, 30, 80, true, translucent},
	} {
		x, y := 40, 30
		if c.img == translucent {
			x, y = 1000, 600
		}
		var buf bytes.Buffer
		if err := encodeWebP(context.Background(), &buf, cropRGBA(c.img, x, y, c.w, c.h), c.q, c.lossless); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add(paletteWebP(f, 4))
	scaled := []*request{
		parseTestRequest(f, "path=x&op=resize&w=7&fmt=png"),
		parseTestRequest(f, "path=x&op=thumbnail&w=3&h=5&fmt=jpg"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		chunk := data
		if l, err := webpLayoutOf(data); err == nil && l.vp8 != nil {
			chunk = l.vp8
		}
		lossless := data
		if l, err := webpLayoutOf(data); err == nil && l.vp8l != nil {
			lossless = l.vp8l
		}
		if w, h, err := vp8lSize(lossless); err == nil && w*h <= 1<<20 {
			m, err := decodeVP8L(lossless, nil)
			if err == nil && (m.Rect.Dx() != w || m.Rect.Dy() != h) {
				t.Fatalf("decoded %v, header says %dx%d", m.Rect, w, h)
			}
			if err != nil && !errors.Is(err, errCorruptImage) {
				t.Fatalf("decodeVP8L: %v is not errCorruptImage", err)
			}
		}
		if fi, err := parseVP8Frame(chunk); err == nil && fi.width*fi.height <= 1<<20 {
			m, err := decodeVP8(chunk, vp8Options{})
			if err == nil && (m.Rect.Dx() != fi.width || m.Rect.Dy() != fi.height) {
				t.Fatalf("decoded %v, header says %dx%d", m.Rect, fi.width, fi.height)
			}
			if err != nil && !errors.Is(err, errCorruptImage) {
				t.Fatalf("decodeVP8: %v is not errCorruptImage", err)
			}
		}
		// Scaled, the first operation runs while decoding (the planar and
		// the streaming paths): guard turns a panic there into an error
		// that says so.
		eo := testEngine
		eo.decode.maxPixels = 1 << 20
		for _, r := range scaled {
			if _, err := transform(context.Background(), data, r, eo, nil); err != nil && strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("transform %v: %v", r.ops, err)
			}
		}
		p, err := decode(context.Background(), data, decodeLimits{maxPixels: 1 << 20})
		if err != nil {
			if !errors.Is(err, errCorruptImage) && !errors.Is(err, errUnsupportedFormat) && !errors.Is(err, errTooLarge) {
				t.Fatalf("decode: %v is no sentinel", err)
			}
			return
		}
		h, err := readHeader(data)
		if err != nil {
			t.Fatalf("decoded, but readHeader: %v", err)
		}
		if p.still != nil && (p.still.Rect.Dx() != h.width || p.still.Rect.Dy() != h.height) && h.orientation < 5 {
			t.Fatalf("decoded %v, header says %dx%d", p.still.Rect, h.width, h.height)
		}
	})
}

// TestWebPSourceOps runs operations on WebP sources into every output
// format and compares the result with the same operations run on
// dwebp's decode of the source: the scaling ones take the planar path
// for lossy sources without alpha (the resample from the decoded
// planes), the others the full-size RGBA path.
func TestWebPSourceOps(t *testing.T) {
	srcs := webpTestSources(t)
	tests := []struct {
		src, query string
	}{
		{"seeding", "op=resize&w=400"},
		{"seeding", "op=thumbnail&w=120&h=120"},
		{"seeding", "op=fit&w=300&h=300"},
		{"seeding", "op=pad&w=200&h=300"},
		{"seeding", "op=flip&pos=h"},
		{"lossy odd", "op=resize&w=61"},
		{"lossy odd", "op=thumbnail&w=40&h=50"},
		{"lossy alpha odd", "op=resize&w=61"},
		{"alpha-arc", "op=thumbnail&w=200&h=150"},
		{"lossless alpha", "op=resize&w=50"},
		{"seeding exif 6", "op=resize&w=200"},
		{"seeding exif 6", "op=thumbnail&w=100&h=150"},
		{"seeding exif 3", "op=fit&w=300&h=300"},
	}
	// The seeding picture with an EXIF orientation: turned upright before
	// the operation, on the planar path too.
	seeding := srcs["seeding"]
	for _, o := range []int{3, 6} {
		srcs[fmt.Sprintf("seeding exif %d", o)] = withWebPEXIF(seeding, 1920, 1080, orientationTIFF(binary.LittleEndian, uint16(o)))
	}
	// Minimum PSNR by output format: lossless formats carry only the
	// planar path's own rounding; the lossy ones code slightly different
	// inputs, GIF palettes may differ.
	minPSNR := map[string]float64{"png": 45, "bmp": 45, "jpeg": 38, "webp": 38, "gif": 28}
	for _, tt := range tests {
		data := srcs[tt.src]
		ref := dwebpRGBA(t, data) // dwebp ignores EXIF
		if h, err := readHeader(data); err == nil && h.orientation > 1 {
			ref = must(orient(context.Background(), ref, h.orientation))
		}
		for _, format := range []string{"jpeg", "png", "gif", "bmp", "webp"} {
			name := tt.src + " " + tt.query + " " + format
			t.Run(name, func(t *testing.T) {
				r := parseTestRequest(t, "path=x&"+tt.query+"&fmt="+format)
				want, err := applyOps(context.Background(), ref, r.ops, nil, testEngine.maxOutputPixels)
				if err != nil {
					t.Fatal(err)
				}
				res, err := transform(context.Background(), data, r, testEngine, nil)
				if err != nil {
					t.Fatalf("transform: %v", err)
				}
				if res.format.String() != format {
					t.Errorf("format %s, want %s", res.format, format)
				}
				got, err := decode(context.Background(), res.data, decodeLimits{maxPixels: 1 << 25})
				if err != nil {
					t.Fatalf("decode the output: %v", err)
				}
				// The reference goes through the same encoder (which
				// flattens alpha for JPEG and BMP, quantises for GIF).
				var buf bytes.Buffer
				if err := encodeImage(context.Background(), &buf, want, testFormat(t, format), testEngine.quality, false); err != nil {
					t.Fatal(err)
				}
				wp, err := decode(context.Background(), buf.Bytes(), decodeLimits{maxPixels: 1 << 25})
				if err != nil {
					t.Fatal(err)
				}
				want = wp.still
				if got.still.Rect != want.Rect {
					t.Fatalf("output %v, want %v", got.still.Rect, want.Rect)
				}
				psnr := psnrRGBA(want, got.still)
				t.Logf("%s: PSNR %.2f dB against dwebp's decode with the same operations", name, psnr)
				if psnr < minPSNR[format] {
					t.Errorf("%s: PSNR %.2f dB, want at least %.0f", name, psnr, minPSNR[format])
				}
			})
		}
	}
}

// TestVP8HalfShrunk measures what decoding at half size without the
// loop filter costs a picture shrunk 4x or more (decodeWebPPicture,
// vp8Options.half): the result, written as
// PNG, against dwebp's full decode (filtered) run through the same
// operation. The coarsest case is a -q 5 picture with the strongest
// filter, where the filter changes the most.
func TestVP8HalfShrunk(t *testing.T) {
	srcs := webpTestSources(t)
	// A heavily filtered re-encoding of the seeding picture.
	coarseData := cwebpOf(t, dwebpRGBA(t, srcs["seeding"]))(t, "-q", "5", "-f", "100", "-sharpness", "0")
	tests := []struct {
		name  string
		data  []byte
		query string
		min   float64
	}{
		{"seeding w=400", srcs["seeding"], "op=resize&w=400", 45},
		{"seeding thumbnail 200x100", srcs["seeding"], "op=thumbnail&w=200&h=100", 45},
		{"coarse -q 5 -f 100 w=400", coarseData, "op=resize&w=400", 40},
		{"coarse -q 5 -f 100 w=200", coarseData, "op=resize&w=200", 40},
	}
	if wood, ok := srcs["wood"]; ok {
		tests = append(tests, struct {
			name  string
			data  []byte
			query string
			min   float64
		}{"wood w=400", wood, "op=resize&w=400", 45})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseTestRequest(t, "path=x&"+tt.query+"&fmt=png")
			want, err := applyOps(context.Background(), dwebpRGBA(t, tt.data), r.ops, nil, testEngine.maxOutputPixels)
			if err != nil {
				t.Fatal(err)
			}
			res, err := transform(context.Background(), tt.data, r, testEngine, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(context.Background(), res.data, decodeLimits{maxPixels: 1 << 25})
			if err != nil {
				t.Fatal(err)
			}
			if got.still.Rect != want.Rect {
				t.Fatalf("output %v, want %v", got.still.Rect, want.Rect)
			}
			psnr := psnrRGBA(want, got.still)
			t.Logf("%s: PSNR %.2f dB against dwebp, filtered, with the same operation", tt.name, psnr)
			if psnr < tt.min {
				t.Errorf("%s: PSNR %.2f dB, want at least %.0f", tt.name, psnr, tt.min)
			}
		})
	}
}

// TestVP8LDecodeMatchesXImage decodes lossless WebPs, ours and cwebp's
// with every effort level and palettes of 2, 4, 16 and 200 colours (the
// pixel bundlings), with decodeVP8L and golang.org/x/image/webp: the
// NRGBA pixels must be the same.
func TestVP8LDecodeMatchesXImage(t *testing.T) {
	photo := cropRGBA(webpTestImage(t, "schwarzy.jpg"), 3, 5, 203, 101)
	translucent := cropRGBA(webpTestImage(t, "alpha-arc-colors-2140x1200.png"), 1000, 600, 151, 91)
	srcs := map[string]*image.RGBA{
		"photo":       photo,
		"translucent": translucent,
		"1x1":         cropRGBA(translucent, 7, 9, 1, 1),
	}
	for _, n := range []int{2, 4, 16, 200} {
		srcs[fmt.Sprintf("palette %d", n)] = paletteImage(n)
	}
	files := map[string][]byte{}
	for name, img := range srcs {
		var buf bytes.Buffer
		if err := encodeWebP(context.Background(), &buf, img, 80, true); err != nil {
			t.Fatal(err)
		}
		files["ours "+name] = buf.Bytes()
	}
	if _, err := exec.LookPath("cwebp"); err == nil {
		dir := t.TempDir()
		for name, img := range srcs {
			in := filepath.Join(dir, "in.png")
			var buf bytes.Buffer
			if err := png.Encode(&buf, img); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, z := range []string{"0", "3", "6", "9"} {
				out := filepath.Join(dir, "out.webp")
				if b, err := exec.Command("cwebp", "-quiet", "-lossless", "-exact", "-z", z, in, "-o", out).CombinedOutput(); err != nil {
					t.Fatalf("cwebp: %v: %s", err, b)
				}
				data, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				files["cwebp -z "+z+" "+name] = data
			}
		}
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			l, err := webpLayoutOf(data)
			if err != nil || l.vp8l == nil {
				t.Fatalf("no VP8L chunk: %v", err)
			}
			got, err := decodeVP8L(l.vp8l, nil)
			if err != nil {
				t.Fatalf("decodeVP8L: %v", err)
			}
			m, err := webp.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			want, ok := m.(*image.NRGBA)
			if !ok {
				t.Fatalf("x/image/webp gave %T", m)
			}
			if got.Rect != want.Rect {
				t.Fatalf("size %v, want %v", got.Rect, want.Rect)
			}
			for i := 0; i < len(got.Pix); i += 4 {
				if !bytes.Equal(got.Pix[i:i+4], want.Pix[i:i+4]) {
					t.Fatalf("pixel %d: %v, want %v", i/4, got.Pix[i:i+4], want.Pix[i:i+4])
				}
			}
		})
	}
}

// paletteWebP is a lossless WebP of n colours (a colour indexing
// transform with bundled pixels).
func paletteWebP(t testing.TB, n int) []byte {
	var buf bytes.Buffer
	if err := encodeWebP(context.Background(), &buf, paletteImage(n), 80, true); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWebPAlphaCwebpOptions decodes cwebp's lossy pictures with alpha
// coded every way (raw or lossless, each filter, with level reduction)
// and compares with dwebp: identical pixels.
func TestWebPAlphaCwebpOptions(t *testing.T) {
	cwebp := cwebpOf(t, cropRGBA(webpTestImage(t, "alpha-arc-colors-2140x1200.png"), 990, 590, 173, 97))
	for _, opts := range [][]string{
		{"-alpha_method", "0"},
		{"-alpha_method", "1", "-alpha_filter", "none"},
		{"-alpha_method", "1", "-alpha_filter", "fast"},
		{"-alpha_method", "1", "-alpha_filter", "best"},
		{"-alpha_method", "0", "-alpha_filter", "best"},
		{"-alpha_q", "20"},
		{"-exact", "-q", "30"},
	} {
		name := strings.Join(opts, " ")
		t.Run(name, func(t *testing.T) {
			data := cwebp(t, opts...)
			if l, err := webpLayoutOf(data); err != nil || l.alph == nil {
				t.Fatalf("no ALPH chunk: %v", err)
			}
			p, err := decode(context.Background(), data, decodeLimits{maxPixels: 1 << 20})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if psnr := psnrRGBA(dwebpRGBA(t, data), p.still); !math.IsInf(psnr, 1) {
				t.Errorf("cwebp %s: PSNR %.2f dB against dwebp, want identical pixels", name, psnr)
			}
		})
	}
}

// TestAnimatedWebPSource decodes animated WebPs frame by frame: gif2webp's
// lossless conversions of the test GIFs (sub-rectangles, blended or not,
// disposed or not) must give the GIF's own composited frames exactly,
// with its delays and loop count; our encoder's animations the frames
// it was given.
func TestAnimatedWebPSource(t *testing.T) {
	if _, err := exec.LookPath("gif2webp"); err != nil {
		skipBackend(t, "gif2webp not installed (apt-get install webp)")
	}
	dir := t.TempDir()
	for _, name := range []string{"giphy.gif"} {
		t.Run(name, func(t *testing.T) {
			gifData := readTestdata(t, name)
			in, out := filepath.Join(dir, "in.gif"), filepath.Join(dir, "out.webp")
			if err := os.WriteFile(in, gifData, 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command("gif2webp", "-quiet", in, "-o", out).CombinedOutput(); err != nil {
				t.Fatalf("gif2webp: %v: %s", err, b)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			lim := decodeLimits{maxPixels: 1 << 26}
			gp, err := decode(context.Background(), gifData, lim)
			if err != nil {
				t.Fatal(err)
			}
			wp, err := decode(context.Background(), data, lim)
			if err != nil {
				t.Fatalf("decode the WebP: %v", err)
			}
			if wp.frameCount() != gp.frameCount() || wp.loopCount() != gp.loopCount() {
				t.Errorf("%d frames, loop %d; want %d, %d", wp.frameCount(), wp.loopCount(), gp.frameCount(), gp.loopCount())
			}
			var want []*image.RGBA
			var delays []int
			if err := gp.eachFrame(context.Background(), func(img *image.RGBA, d int) error {
				want, delays = append(want, img), append(delays, d)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			i := 0
			if err := wp.eachFrame(context.Background(), func(img *image.RGBA, d int) error {
				if i >= len(want) {
					return fmt.Errorf("more frames than the GIF's %d", len(want))
				}
				if img.Rect != want[i].Rect || !bytes.Equal(img.Pix, want[i].Pix) {
					t.Errorf("frame %d differs from the GIF's (PSNR %.2f dB)", i, psnrRGBA(want[i], img))
				}
				// gif2webp turns a delay of 0 into 100 ms.
				if d != delays[i] && !(delays[i] == 0 && d == 10) {
					t.Errorf("frame %d: delay %d, want %d", i, d, delays[i])
				}
				i++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if i != len(want) {
				t.Errorf("%d frames walked, want %d", i, len(want))
			}
			// Resized into each output format: every frame for the
			// animated ones, the first for the others.
			for _, format := range []string{"gif", "webp", "png", "jpeg", "bmp"} {
				r := parseTestRequest(t, "path=x&op=resize&w=100&fmt="+format)
				res, err := transform(context.Background(), data, r, testEngine, nil)
				if err != nil {
					t.Fatalf("%s: transform: %v", format, err)
				}
				p, err := decode(context.Background(), res.data, lim)
				if err != nil {
					t.Fatalf("%s: decode the output: %v", format, err)
				}
				frames := 1
				if format == "gif" || format == "webp" {
					frames = len(want)
				}
				if p.width != 100 || p.height != 75 || p.frameCount() != frames {
					t.Errorf("%s: %dx%d, %d frames; want 100x75, %d", format, p.width, p.height, p.frameCount(), frames)
				}
			}
		})
	}
	t.Run("ours", func(t *testing.T) {
		photo := cropRGBA(webpTestImage(t, "schwarzy.jpg"), 0, 0, 64, 48)
		translucent := cropRGBA(webpTestImage(t, "alpha-arc-colors-2140x1200.png"), 1000, 600, 64, 48)
		frames := []*image.RGBA{photo, translucent, photo}
		for _, lossless := range []bool{false, true} {
			var buf bytes.Buffer
			if err := encodeAnimatedWebP(context.Background(), &buf, frames, []int{5, 7, 9}, 3, 90, lossless); err != nil {
				t.Fatal(err)
			}
			p, err := decode(context.Background(), buf.Bytes(), decodeLimits{maxPixels: 1 << 20})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if p.frameCount() != 3 || p.loopCount() != 3 {
				t.Errorf("lossless=%v: %d frames, loop %d; want 3, 3", lossless, p.frameCount(), p.loopCount())
			}
			i := 0
			if err := p.eachFrame(context.Background(), func(img *image.RGBA, d int) error {
				psnr := psnrRGBA(frames[i], img)
				if lossless && !math.IsInf(psnr, 1) || psnr < 30 {
					t.Errorf("lossless=%v frame %d: PSNR %.2f dB against the frame encoded", lossless, i, psnr)
				}
				if want := []int{5, 7, 9}[i]; d != want {
					t.Errorf("frame %d: delay %d, want %d", i, d, want)
				}
				i++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestAnimatedWebPThroughHTTP uploads an animated WebP (refused with
// 415 before) and displays it resized to GIF and to WebP: every frame
// is kept.
func TestAnimatedWebPThroughHTTP(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.EnableUpload = true })
	photo := cropRGBA(webpTestImage(t, "schwarzy.jpg"), 0, 0, 64, 48)
	translucent := cropRGBA(webpTestImage(t, "alpha-arc-colors-2140x1200.png"), 1000, 600, 64, 48)
	var buf bytes.Buffer
	if err := encodeAnimatedWebP(context.Background(), &buf, []*image.RGBA{photo, translucent, photo}, []int{5, 7, 9}, 0, 80, false); err != nil {
		t.Fatal(err)
	}
	resp := uploadRequest(t, e, "data", "anim.webp", buf.Bytes())
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("upload = %d %s, want 200", resp.StatusCode, body)
	}
	for _, tt := range []struct{ format, mime string }{{"gif", "image/gif"}, {"webp", "image/webp"}} {
		t.Run(tt.format, func(t *testing.T) {
			resp := e.get(t, "/display?path=anim.webp&op=resize&w=32&fmt="+tt.format)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("display = %d %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.mime {
				t.Errorf("Content-Type %q, want %q", ct, tt.mime)
			}
			p, err := decode(context.Background(), body, decodeLimits{maxPixels: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if p.width != 32 || p.height != 24 || p.frameCount() != 3 {
				t.Errorf("%dx%d, %d frames; want 32x24, 3", p.width, p.height, p.frameCount())
			}
		})
	}
}

// TestWebPScaledNeverWholeRGBA checks that scaling a lossy WebP source
// without alpha never makes its full-size RGBA image (its planes go to
// the planar resampler, at half size when shrunk 4x): a request
// allocates less than that image alone. (Shrunk less than 4x, the
// planar passes' scratch, about the RGBA image's size, comes from a
// sync.Pool that a GC may have emptied: no such bound there.) Sources with alpha and lossless ones stream their rows into
// the row resampler instead of decoding to RGBA first: they must
// allocate less than that route (decode, then scale).
func TestWebPScaledNeverWholeRGBA(t *testing.T) {
	srcs := webpTestSources(t)
	var lossless bytes.Buffer
	if err := encodeWebP(context.Background(), &lossless, cropRGBA(webpTestImage(t, "alpha-arc-colors-2140x1200.png"), 0, 0, 1600, 1000), 80, true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		data   []byte
		w, h   int
		query  string
		planar bool
	}{
		{"lossy seeding", srcs["seeding"], 1920, 1080, "op=resize&w=400", true},
		{"lossy with alpha", srcs["alpha-arc"], 2140, 1200, "op=thumbnail&w=200&h=150", false},
		{"lossless", lossless.Bytes(), 1600, 1000, "op=resize&w=300", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseTestRequest(t, "path=x&"+tt.query+"&fmt=png")
			var err error
			run := func() { _, err = transform(context.Background(), tt.data, r, testEngine, nil) }
			run() // warms passPool
			if err != nil {
				t.Fatal(err)
			}
			alloc := allocatedDuring(run)
			if err != nil {
				t.Fatal(err)
			}
			if tt.planar {
				rgba := uint64(4 * tt.w * tt.h)
				t.Logf("%s: %d bytes allocated, the RGBA image %d", tt.name, alloc, rgba)
				if alloc >= rgba {
					t.Errorf("%s: %d bytes allocated, want less than the full RGBA image's %d", tt.name, alloc, rgba)
				}
				return
			}
			old := allocatedDuring(func() {
				p, err := decode(context.Background(), tt.data, testEngine.decode)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := applyOps(context.Background(), p.still, r.ops, nil, testEngine.maxOutputPixels); err != nil {
					t.Fatal(err)
				}
			})
			t.Logf("%s: %d bytes allocated, %d decoding to RGBA then scaling", tt.name, alloc, old)
			if alloc >= old {
				t.Errorf("%s: %d bytes allocated, want less than decoding to RGBA then scaling (%d)", tt.name, alloc, old)
			}
		})
	}
}

// cwebpOf writes img as a PNG in a temporary folder and returns a
// function that codes it with cwebp and opts and returns the WebP; a
// missing cwebp skips the test (fails it under PICFIT_REQUIRE_BACKENDS).
func cwebpOf(t *testing.T, img image.Image) func(t *testing.T, opts ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("cwebp"); err != nil {
		skipBackend(t, "cwebp not installed (apt-get install webp)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	return func(t *testing.T, opts ...string) []byte {
		t.Helper()
		n++
		out := filepath.Join(dir, fmt.Sprintf("out%d.webp", n))
		args := append(append([]string{"-quiet"}, opts...), src, "-o", out)
		if b, err := exec.Command("cwebp", args...).CombinedOutput(); err != nil {
			t.Fatalf("cwebp %s: %v: %s", strings.Join(opts, " "), err, b)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
}
