package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// labColor is a CIELAB colour relative to the D65 white.
type labColor struct{ l, a, b float64 }

// srgbToLab converts an 8-bit sRGB colour to CIELAB: the sRGB transfer
// curve, the IEC 61966-2-1 matrix to XYZ (D65), and Lab relative to the
// D65 white (0.95047, 1, 1.08883), as Bruce Lindbloom's tables.
func srgbToLab(r, g, b uint8) labColor {
	lin := func(v uint8) float64 {
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	rl, gl, bl := lin(r), lin(g), lin(b)
	x := (0.4124564*rl + 0.3575761*gl + 0.1804375*bl) / 0.95047
	y := 0.2126729*rl + 0.7151522*gl + 0.0721750*bl
	z := (0.0193339*rl + 0.1191920*gl + 0.9503041*bl) / 1.08883
	f := func(t float64) float64 {
		const epsilon, kappa = 216.0 / 24389, 24389.0 / 27
		if t > epsilon {
			return math.Cbrt(t)
		}
		return (kappa*t + 16) / 116
	}
	fx, fy, fz := f(x), f(y), f(z)
	return labColor{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

// ciede2000 is the CIEDE2000 colour difference between p and q with
// kL = kC = kH = 1, as G. Sharma, W. Wu and E. N. Dalal, "The CIEDE2000
// color-difference formula: implementation notes, supplementary test
// data, and mathematical observations" (2005), equations 2 to 22.
func ciede2000(p, q labColor) float64 {
	const deg = math.Pi / 180
	const pow25to7 = 6103515625.0 // 25^7
	pow7 := func(v float64) float64 { v3 := v * v * v; return v3 * v3 * v }
	cbar := (math.Hypot(p.a, p.b) + math.Hypot(q.a, q.b)) / 2
	g := 0.5 * (1 - math.Sqrt(pow7(cbar)/(pow7(cbar)+pow25to7)))
	a1, a2 := (1+g)*p.a, (1+g)*q.a
	c1, c2 := math.Hypot(a1, p.b), math.Hypot(a2, q.b)
	hue := func(b, a float64) float64 { // degrees in [0, 360), 0 when achromatic
		if a == 0 && b == 0 {
			return 0
		}
		h := math.Atan2(b, a) / deg
		if h < 0 {
			h += 360
		}
		return h
	}
	h1, h2 := hue(p.b, a1), hue(q.b, a2)
	chromatic := c1*c2 != 0
	// Hues exactly opposite (Sharma's pair 14) must take the <= 180
	// branches; atan2's rounding can put them a hair past 180.
	const past180 = 180 + 1e-9

	var dh float64
	if chromatic {
		dh = h2 - h1
		switch {
		case dh > past180:
			dh -= 360
		case dh < -past180:
			dh += 360
		}
	}
	dL, dC := q.l-p.l, c2-c1
	dH := 2 * math.Sqrt(c1*c2) * math.Sin(dh/2*deg)

	lbar, cbarp, hbar := (p.l+q.l)/2, (c1+c2)/2, h1+h2
	if chromatic {
		switch {
		case math.Abs(h1-h2) <= past180:
			hbar /= 2
		case h1+h2 < 360:
			hbar = (hbar + 360) / 2
		default:
			hbar = (hbar - 360) / 2
		}
	}
	t := 1 - 0.17*math.Cos((hbar-30)*deg) + 0.24*math.Cos(2*hbar*deg) +
		0.32*math.Cos((3*hbar+6)*deg) - 0.20*math.Cos((4*hbar-63)*deg)
	dTheta := 30 * math.Exp(-((hbar-275)/25)*((hbar-275)/25))
	rc := 2 * math.Sqrt(pow7(cbarp)/(pow7(cbarp)+pow25to7))
	l50 := (lbar - 50) * (lbar - 50)
	sl := 1 + 0.015*l50/math.Sqrt(20+l50)
	sc := 1 + 0.045*cbarp
	sh := 1 + 0.015*cbarp*t
	rt := -math.Sin(2*dTheta*deg) * rc
	l, c, h := dL/sl, dC/sc, dH/sh
	return math.Sqrt(l*l + c*c + h*h + rt*c*h)
}

// TestCIEDE2000 checks ciede2000 against the 34 pairs of Sharma, Wu and
// Dalal's supplementary test data (table 1), both ways round: the
// formula is symmetric.
func TestCIEDE2000(t *testing.T) {
	tests := []struct {
		p, q labColor
		want float64
	}{
		{labColor{50, 2.6772, -79.7751}, labColor{50, 0, -82.7485}, 2.0425},
		{labColor{50, 3.1571, -77.2803}, labColor{50, 0, -82.7485}, 2.8615},
		{labColor{50, 2.8361, -74.0200}, labColor{50, 0, -82.7485}, 3.4412},
		{labColor{50, -1.3802, -84.2814}, labColor{50, 0, -82.7485}, 1.0000},
		{labColor{50, -1.1848, -84.8006}, labColor{50, 0, -82.7485}, 1.0000},
		{labColor{50, -0.9009, -85.5211}, labColor{50, 0, -82.7485}, 1.0000},
		{labColor{50, 0, 0}, labColor{50, -1, 2}, 2.3669},
		{labColor{50, -1, 2}, labColor{50, 0, 0}, 2.3669},
		{labColor{50, 2.4900, -0.0010}, labColor{50, -2.4900, 0.0009}, 7.1792},
		{labColor{50, 2.4900, -0.0010}, labColor{50, -2.4900, 0.0010}, 7.1792},
		{labColor{50, 2.4900, -0.0010}, labColor{50, -2.4900, 0.0011}, 7.2195},
		{labColor{50, 2.4900, -0.0010}, labColor{50, -2.4900, 0.0012}, 7.2195},
		{labColor{50, -0.0010, 2.4900}, labColor{50, 0.0009, -2.4900}, 4.8045},
		{labColor{50, -0.0010, 2.4900}, labColor{50, 0.0010, -2.4900}, 4.8045},
		{labColor{50, -0.0010, 2.4900}, labColor{50, 0.0011, -2.4900}, 4.7461},
		{labColor{50, 2.5, 0}, labColor{50, 0, -2.5}, 4.3065},
		{labColor{50, 2.5, 0}, labColor{73, 25, -18}, 27.1492},
		{labColor{50, 2.5, 0}, labColor{61, -5, 29}, 22.8977},
		{labColor{50, 2.5, 0}, labColor{56, -27, -3}, 31.9030},
		{labColor{50, 2.5, 0}, labColor{58, 24, 15}, 19.4535},
		{labColor{50, 2.5, 0}, labColor{50, 3.1736, 0.5854}, 1.0000},
		{labColor{50, 2.5, 0}, labColor{50, 3.2972, 0}, 1.0000},
		{labColor{50, 2.5, 0}, labColor{50, 1.8634, 0.5757}, 1.0000},
		{labColor{50, 2.5, 0}, labColor{50, 3.2592, 0.3350}, 1.0000},
		{labColor{60.2574, -34.0099, 36.2677}, labColor{60.4626, -34.1751, 39.4387}, 1.2644},
		{labColor{63.0109, -31.0961, -5.8663}, labColor{62.8187, -29.7946, -4.0864}, 1.2630},
		{labColor{61.2901, 3.7196, -5.3901}, labColor{61.4292, 2.2480, -4.9620}, 1.8731},
		{labColor{35.0831, -44.1164, 3.7933}, labColor{35.0232, -40.0716, 1.5901}, 1.8645},
		{labColor{22.7233, 20.0904, -46.6940}, labColor{23.0331, 14.9730, -42.5619}, 2.0373},
		{labColor{36.4612, 47.8580, 18.3852}, labColor{36.2715, 50.5065, 21.2231}, 1.4146},
		{labColor{90.8027, -2.0831, 1.4410}, labColor{91.1528, -1.6435, 0.0447}, 1.4441},
		{labColor{90.9257, -0.5406, -0.9208}, labColor{88.6381, -0.8985, -0.7239}, 1.5381},
		{labColor{6.7747, -0.2908, -2.4247}, labColor{5.8714, -0.0985, -2.2286}, 0.6377},
		{labColor{2.0776, 0.0795, -1.1350}, labColor{0.9033, -0.0636, -0.5514}, 0.9082},
	}
	for i, tt := range tests {
		for _, pq := range [2][2]labColor{{tt.p, tt.q}, {tt.q, tt.p}} {
			// The published figures have four decimals.
			if got := ciede2000(pq[0], pq[1]); math.Abs(got-tt.want) > 0.5e-4 {
				t.Errorf("pair %d: ciede2000(%v, %v) = %.6f, want %.4f", i+1, pq[0], pq[1], got, tt.want)
			}
		}
		if got := ciede2000(tt.p, tt.p); got != 0 {
			t.Errorf("pair %d: ciede2000 of a colour with itself = %g, want 0", i+1, got)
		}
	}
}

// TestSRGBToLab checks the sRGB to CIELAB (D65) conversion against
// Bruce Lindbloom's calculator, published to four decimals.
func TestSRGBToLab(t *testing.T) {
	tests := []struct {
		r, g, b uint8
		want    labColor
	}{
		{255, 255, 255, labColor{100, 0, 0}},
		{0, 0, 0, labColor{0, 0, 0}},
		{255, 0, 0, labColor{53.2408, 80.0925, 67.2032}},
		{0, 255, 0, labColor{87.7347, -86.1827, 83.1793}},
		{0, 0, 255, labColor{32.2970, 79.1875, -107.8602}},
		{128, 128, 128, labColor{53.5850, 0, 0}},
	}
	for _, tt := range tests {
		got := srgbToLab(tt.r, tt.g, tt.b)
		if math.Abs(got.l-tt.want.l) > 1e-3 || math.Abs(got.a-tt.want.a) > 1e-3 || math.Abs(got.b-tt.want.b) > 1e-3 {
			t.Errorf("srgbToLab(%d, %d, %d) = %.4f, want %.4f", tt.r, tt.g, tt.b, got, tt.want)
		}
	}
}

// meanCIEDE2000 is the mean CIEDE2000 of got's pixels against truth's,
// both read as 8-bit sRGB; alpha is ignored.
func meanCIEDE2000(truth, got *image.RGBA) float64 {
	w, h := truth.Rect.Dx(), truth.Rect.Dy()
	var sum float64
	for y := range h {
		a, b := truth.Pix[y*truth.Stride:], got.Pix[y*got.Stride:]
		for x := range w {
			sum += ciede2000(srgbToLab(a[4*x], a[4*x+1], a[4*x+2]), srgbToLab(b[4*x], b[4*x+1], b[4*x+2]))
		}
	}
	return sum / float64(w*h)
}

// TestMeanCIEDE2000 checks the mean over an image: one pixel of four
// differs, by sRGB red against black (CIEDE2000 50.4 by Sharma's
// formula, computed here from Lindbloom's Lab), so the mean is a quarter
// of it.
func TestMeanCIEDE2000(t *testing.T) {
	a, b := image.NewRGBA(image.Rect(0, 0, 2, 2)), image.NewRGBA(image.Rect(0, 0, 2, 2))
	b.Pix[0] = 255
	red := ciede2000(labColor{0, 0, 0}, labColor{53.2408, 80.0925, 67.2032})
	if got := meanCIEDE2000(a, b); math.Abs(got-red/4) > 1e-3 {
		t.Errorf("meanCIEDE2000 = %.4f, want %.4f", got, red/4)
	}
	if got := meanCIEDE2000(a, a); got != 0 {
		t.Errorf("meanCIEDE2000 of an image with itself = %g, want 0", got)
	}
}

// equalSSIM finds the quality at which an encoder's SSIM reaches target:
// by bisection over the integer qualities 1..100 (encode is called about
// eight times, and never twice for one quality), then by linear
// interpolation between the two neighbouring qualities that straddle
// target, of the quality and of the size. ok is false when quality 100
// stays below target.
func equalSSIM(target float64, encode func(q int) (ssim float64, size int)) (q, size float64, ok bool) {
	type point struct {
		ssim float64
		size int
	}
	seen := map[int]point{}
	at := func(q int) point {
		p, done := seen[q]
		if !done {
			p.ssim, p.size = encode(q)
			seen[q] = p
		}
		return p
	}
	if at(100).ssim < target {
		return 0, 0, false
	}
	lo, hi := 50, 100 // most photos' answer lies above 50
	if at(lo).ssim >= target {
		lo, hi = 1, lo
		if at(lo).ssim >= target {
			return 1, float64(at(1).size), true
		}
	}
	for hi-lo > 1 { // at(lo) < target <= at(hi)
		if mid := (lo + hi) / 2; at(mid).ssim >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	pl, ph := at(lo), at(hi)
	f := (target - pl.ssim) / (ph.ssim - pl.ssim) // ph.ssim > pl.ssim: hi met target, lo did not
	return float64(lo) + f, float64(pl.size) + f*float64(ph.size-pl.size), true
}

// TestEqualSSIM runs equalSSIM on made-up encoders: one whose SSIM and
// size rise linearly with quality, so the answer falls between two
// qualities; one that never reaches the target; one already past it at
// quality 1.
func TestEqualSSIM(t *testing.T) {
	calls := map[int]int{}
	linear := func(q int) (float64, int) {
		calls[q]++
		return 0.9 + float64(q)/1000, 1000 + 10*q
	}
	q, size, ok := equalSSIM(0.9735, linear) // quality 73.5
	if !ok || math.Abs(q-73.5) > 1e-9 || math.Abs(size-1735) > 1e-6 {
		t.Errorf("equalSSIM(0.9735, linear) = %v, %v, %v; want 73.5, 1735, true", q, size, ok)
	}
	for q, n := range calls {
		if n > 1 {
			t.Errorf("quality %d encoded %d times", q, n)
		}
	}
	if len(calls) > 10 {
		t.Errorf("%d encodes, want at most 10", len(calls))
	}
	if _, _, ok := equalSSIM(1.5, linear); ok {
		t.Error("equalSSIM(1.5, linear): ok, want not reached")
	}
	if q, size, ok := equalSSIM(0.8, linear); !ok || q != 1 || size != 1010 {
		t.Errorf("equalSSIM(0.8, linear) = %v, %v, %v; want 1, 1010, true", q, size, ok)
	}
}

// qualityTools are the programs the quality report compares against; a
// path is "" when the program is absent, and its figures print as "-".
type qualityTools struct {
	vips    string // libvips' vipsthumbnail
	convert string // ImageMagick 6's convert (PICFIT_CONVERT, else /usr/bin/convert)
	jpgicc  string // LittleCMS' jpgicc, which makes the wide-gamut sources
	icc     string // the colord profiles: sRGB.icc, AdobeRGB1998.icc, ProPhotoRGB.icc
	dir     string // scratch files, removed with the test
}

func newQualityTools(t *testing.T) qualityTools {
	q := qualityTools{icc: "/usr/share/color/icc/colord", dir: t.TempDir()}
	q.vips, _ = exec.LookPath("vipsthumbnail")
	q.jpgicc, _ = exec.LookPath("jpgicc")
	// Not the convert first in PATH: a stand-in may sit there.
	convert := cmp.Or(os.Getenv("PICFIT_CONVERT"), "/usr/bin/convert")
	if b, err := exec.Command(convert, "-version").Output(); err == nil && bytes.Contains(b, []byte("ImageMagick 6")) {
		q.convert = convert
	}
	for _, p := range []struct{ name, path string }{{"vipsthumbnail", q.vips}, {"ImageMagick 6 convert", q.convert}, {"jpgicc", q.jpgicc}} {
		if p.path == "" {
			t.Logf("%s: absent, its figures print as -", p.name)
		}
	}
	return q
}

// run runs a program, failing the test with its output when it fails.
func (q qualityTools) run(t testing.TB, name string, args ...string) {
	t.Helper()
	if b, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, b)
	}
}

// readFile reads a file the report made.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readImage decodes a JPEG, PNG or GIF file to RGBA.
func readImage(t testing.TB, path string) *image.RGBA {
	t.Helper()
	return decodeRGBA(t, readFile(t, path))
}

// readOutput decodes a tool's output as a viewer would: a JPEG by
// libjpeg (through convert), whose "fancy" chroma upsampling image/jpeg
// lacks (image/jpeg's copies put CIEDE2000 1.3 between the two decodes
// of a 4:2:2 photo at 300 wide); without convert, by our own decoder,
// which upsamples as libjpeg does but rounds its IDCT apart (0.37).
func (q qualityTools) readOutput(t testing.TB, path string) *image.RGBA {
	t.Helper()
	if !strings.HasSuffix(path, ".jpg") {
		return readImage(t, path)
	}
	if q.convert == "" {
		m, err := decodeJPEG(context.Background(), readFile(t, path), 1)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	decoded := strings.TrimSuffix(path, ".jpg") + "-decoded.png"
	q.run(t, q.convert, path, decoded)
	return readImage(t, decoded)
}

func decodeRGBA(t testing.TB, b []byte) *image.RGBA {
	t.Helper()
	m, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return toRGBA(m)
}

// sameSize fails the test unless got is truth's size: the metrics compare
// pixel for pixel.
func sameSize(t testing.TB, who string, truth, got *image.RGBA) {
	t.Helper()
	if got.Rect.Size() != truth.Rect.Size() {
		t.Fatalf("%s: %v, want %v as the truth", who, got.Rect.Size(), truth.Rect.Size())
	}
}

// exactSize is the WxH! of truth: vipsthumbnail and convert are told the
// exact size, so that their rounding of the height matches ours.
func exactSize(truth *image.RGBA) string {
	return fmt.Sprintf("%dx%d!", truth.Rect.Dx(), truth.Rect.Dy())
}

// verdict is "ok" when the measurement met its goal, else "MISS".
func verdict(met bool) string {
	if met {
		return "ok"
	}
	return "MISS"
}

// fig prints a figure, or "-" for NaN (the tool is absent).
func fig(format string, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// referenceDecode is a corpus JPEG decoded at full size by image/jpeg and
// oriented: what the reference resize starts from.
func referenceDecode(t testing.TB, src []byte) *image.RGBA {
	t.Helper()
	h, err := readHeader(src)
	if err != nil {
		t.Fatal(err)
	}
	m, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	return must(orient(context.Background(), toRGBA(m), h.orientation))
}

// referenceResize is the reference Lanczos-3 of applyOps to w wide.
func referenceResize(t testing.TB, m *image.RGBA, w int) *image.RGBA {
	t.Helper()
	out, err := applyOps(context.Background(), m, parseTestRequest(t, fmt.Sprintf("path=x&op=resize&w=%d", w)).ops, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ours runs the engine (testEngine: baseline JPEG, as picfit's defaults)
// on src with query's operations.
func ours(t testing.TB, src []byte, query string) []byte {
	t.Helper()
	res, err := transform(context.Background(), src, parseTestRequest(t, "path=x&"+query), testEngine, nil)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res.data
}

// TestQualityReport prints four measurements of issue 17 beside libvips
// (vipsthumbnail) and ImageMagick 6 (convert), each with its goal:
// colour accuracy from Adobe RGB and ProPhoto RGB sources, JPEG bytes at
// equal SSIM, the moiré chart's SSIM, and animated GIF bytes.
// bench/quality.sh runs it with PICFIT_QUALITY_REPORT=1; the corpus is
// PICFIT_CORPUS (../shared/testdata by default).
func TestQualityReport(t *testing.T) {
	if os.Getenv("PICFIT_QUALITY_REPORT") == "" {
		t.Skip("set PICFIT_QUALITY_REPORT=1 (bench/quality.sh)")
	}
	q := newQualityTools(t)
	t.Run("colour", q.reportColour)
	t.Run("jpegbytes", q.reportJPEGBytes)
	t.Run("chart", q.reportChart)
	t.Run("gif", q.reportGIF)
}

// colourQuality is the JPEG quality of the colour measurement: picfit's
// default (engine.quality), given to every tool.
const colourQuality = 95

// reportColour prints the mean CIEDE2000 against the truth of a photo
// resized to 300 wide from itself (sRGB, the control) and from copies
// converted to Adobe RGB and to ProPhoto RGB by LittleCMS (JPEG q95,
// the profile embedded), written as JPEG and PNG. Every sRGB colour
// survives the trip through these wider gamuts, so the truth is the
// original's reference resize; each tool converts to sRGB its own way
// (vipsthumbnail --export-profile srgb, convert -profile sRGB.icc), and
// picfit as it is configured. The floor is what the source itself costs:
// ImageMagick's conversion to sRGB at full size, then the reference
// resize.
func (q qualityTools) reportColour(t *testing.T) {
	const w = 300
	srgb := filepath.Join(q.icc, "sRGB.icc")
	t.Logf("1. Mean CIEDE2000 against the sRGB original's reference Lanczos-3, w=%d, JPEG q%d; goal <= 1.00 for picfit", w, colourQuality)
	t.Logf("   sources: the corpus JPEG (sRGB control), and jpgicc -c0 -e -q95 to Adobe RGB 1998 / ProPhoto RGB (profile embedded)")
	t.Logf("   floor: convert -profile sRGB.icc at full size, then the reference resize (what the source's own loss costs)")
	t.Logf("   libvips: vipsthumbnail -s WxH! --import-profile srgb --export-profile srgb -o out.jpg[Q=%d,strip]; ImageMagick: convert -profile sRGB.icc -resize WxH! -quality %d -strip", colourQuality, colourQuality)
	t.Logf("   JPEG outputs decoded by libjpeg (convert), as a viewer would")
	t.Logf("%-30s %-5s %8s %8s %12s %7s  %s", "source", "out", "picfit", "libvips", "ImageMagick", "floor", "goal")
	for _, photo := range []string{"medium-blinds-1920x1200.jpg", "large-dragonfly-4224x3168-progressive.jpg"} {
		orig := corpusFile(t, photo)
		truth := referenceResize(t, referenceDecode(t, orig), w)
		name := strings.SplitN(photo, "-", 3)[1]
		for _, space := range []struct{ label, profile string }{
			{"sRGB (control)", ""},
			{"Adobe RGB", "AdobeRGB1998.icc"},
			{"ProPhoto RGB", "ProPhotoRGB.icc"},
		} {
			path, src, floor := filepath.Join(corpusDir(), photo), orig, math.NaN()
			if space.profile != "" {
				if q.jpgicc == "" {
					t.Logf("%-30s  jpgicc absent", name+" "+space.label)
					continue
				}
				path = filepath.Join(q.dir, name+"-"+strings.TrimSuffix(space.profile, ".icc")+".jpg")
				q.run(t, q.jpgicc, "-c0", "-e", "-q95", "-o"+filepath.Join(q.icc, space.profile), filepath.Join(corpusDir(), photo), path)
				src = readFile(t, path)
				if q.convert != "" {
					full := filepath.Join(q.dir, "floor.png")
					q.run(t, q.convert, path, "-profile", srgb, "-define", "png:compression-level=0", full)
					m := referenceResize(t, readImage(t, full), w)
					sameSize(t, "floor", truth, m)
					floor = meanCIEDE2000(truth, m)
				}
			}
			if q.convert != "" { // one resize, written as JPEG and as PNG
				q.run(t, q.convert, path, "-profile", srgb, "-resize", exactSize(truth), "-quality", strconv.Itoa(colourQuality), "-strip",
					"-write", filepath.Join(q.dir, "im.jpg"), filepath.Join(q.dir, "im.png"))
			}
			for _, format := range []string{"jpeg", "png"} {
				ext := map[string]string{"jpeg": ".jpg", "png": ".png"}[format]
				mine := filepath.Join(q.dir, "picfit"+ext)
				if err := os.WriteFile(mine, ours(t, src, fmt.Sprintf("op=resize&w=%d&fmt=%s&q=%d", w, format, colourQuality)), 0o600); err != nil {
					t.Fatal(err)
				}
				m := q.readOutput(t, mine)
				sameSize(t, "picfit", truth, m)
				picfit := meanCIEDE2000(truth, m)
				vips, im := math.NaN(), math.NaN()
				if q.vips != "" {
					out := filepath.Join(q.dir, "vips"+ext)
					opts := "[strip]"
					if format == "jpeg" {
						opts = fmt.Sprintf("[Q=%d,strip]", colourQuality)
					}
					// 8.14 needs the import profile too: with the export
					// profile alone it shifts an untagged sRGB source by
					// CIEDE2000 2.5. It applies to untagged sources only.
					q.run(t, q.vips, path, "-s", exactSize(truth), "--import-profile", "srgb", "--export-profile", "srgb", "-o", out+opts)
					m := q.readOutput(t, out)
					sameSize(t, "vipsthumbnail", truth, m)
					vips = meanCIEDE2000(truth, m)
				}
				if q.convert != "" {
					m := q.readOutput(t, filepath.Join(q.dir, "im"+ext))
					sameSize(t, "convert", truth, m)
					im = meanCIEDE2000(truth, m)
				}
				t.Logf("%-30s %-5s %8.2f %8s %12s %7s  <= 1.00 %s", name+" "+space.label, format, picfit,
					fig("%.2f", vips), fig("%.2f", im), fig("%.2f", floor), verdict(picfit <= 1))
			}
		}
	}
}

// reportJPEGBytes prints, for four corpus photos at three widths, the
// size of picfit's q80 JPEG over the size of libvips' JPEG (vipsthumbnail
// -o out.jpg[Q=…,optimize_coding,strip]) at the same luma SSIM against
// the reference resize: libvips' quality is searched (equalSSIM) and its
// size interpolated between the two neighbouring qualities.
func (q qualityTools) reportJPEGBytes(t *testing.T) {
	t.Logf("")
	t.Logf("2. JPEG bytes, picfit q80 / libvips at equal luma SSIM (against the reference Lanczos-3); goal <= 1.00x")
	t.Logf("   libvips: vipsthumbnail -s WxH! -o out.jpg[Q=…,optimize_coding,strip], Q searched, bytes interpolated between neighbouring Qs")
	t.Logf("   (ImageMagick not measured here: the goal is against libvips)")
	t.Logf("%-22s %5s %8s %7s %8s %10s %7s  %s", "photo", "w", "picfit", "SSIM", "vips Q", "vips bytes", "ratio", "goal")
	if q.vips == "" {
		t.Skip("vipsthumbnail absent")
	}
	var ratios []float64
	for _, photo := range []string{
		"medium-blinds-1920x1200.jpg",
		"large-kleiber-6028x3391.jpg",
		"large-dragonfly-4224x3168-progressive.jpg",
		"large-seeding-5312x2988-progressive.jpg",
	} {
		src := corpusFile(t, photo)
		full := referenceDecode(t, src)
		path := filepath.Join(corpusDir(), photo)
		name := strings.SplitN(photo, "-", 3)[1]
		for _, w := range []int{200, 800, 1600} {
			truth := referenceResize(t, full, w)
			data := ours(t, src, fmt.Sprintf("op=resize&w=%d&fmt=jpeg&q=80", w))
			m := decodeRGBA(t, data)
			sameSize(t, "picfit", truth, m)
			target := ssimLuma(truth, m)
			out := filepath.Join(q.dir, "vips.jpg")
			vq, vbytes, ok := equalSSIM(target, func(quality int) (float64, int) {
				q.run(t, q.vips, path, "-s", exactSize(truth), "-o", fmt.Sprintf("%s[Q=%d,optimize_coding,strip]", out, quality))
				b := readFile(t, out)
				m := decodeRGBA(t, b)
				sameSize(t, "vipsthumbnail", truth, m)
				return ssimLuma(truth, m), len(b)
			})
			if !ok {
				t.Logf("%-22s %5d %8d %7.4f   libvips Q100 does not reach this SSIM", name, w, len(data), target)
				continue
			}
			r := float64(len(data)) / vbytes
			ratios = append(ratios, r)
			t.Logf("%-22s %5d %8d %7.4f %8.1f %10.0f %6.3fx  <= 1.00x %s", name, w, len(data), target, vq, vbytes, r, verdict(r <= 1))
		}
	}
	var sum float64
	for _, r := range ratios {
		sum += r
	}
	mean := sum / float64(len(ratios))
	t.Logf("%-22s %5s %8s %7s %8s %10s %6.3fx  <= 1.00x %s", fmt.Sprintf("mean of %d", len(ratios)), "", "", "", "", "", mean, verdict(mean <= 1))
}

// reportChart prints the moiré chart's luma SSIM (moire_test.go) resized
// from JPEG q90 and from PNG, against the reference Lanczos-3 of its own
// pixels; the goal, from JPEG, is libvips' figure.
func (q qualityTools) reportChart(t *testing.T) {
	c := newMoireCase(t)
	t.Logf("")
	t.Logf("3. Moiré chart 2400x1600 resized, luma SSIM against the reference Lanczos-3 of its pixels; goal from JPEG >= libvips")
	t.Logf("%-16s %5s %8s %8s %12s  %s", "source", "w", "picfit", "libvips", "ImageMagick", "goal")
	for _, w := range []int{300, 150} { // our DCT scale for the JPEG: 1/4 at 300 wide, 1/8 at 150
		truth := c.truth(t, w)
		for _, s := range []struct {
			label, file string
			data        []byte
		}{{"from JPEG q90", "chart.jpg", c.jpg}, {"from PNG", "chart.png", c.png}} {
			picfit := c.oursSSIM(t, s.data, w)
			in := filepath.Join(q.dir, s.file)
			if err := os.WriteFile(in, s.data, 0o600); err != nil {
				t.Fatal(err)
			}
			vips, im := math.NaN(), math.NaN()
			if q.vips != "" {
				out := filepath.Join(q.dir, "vips-chart.png")
				q.run(t, q.vips, in, "-s", exactSize(truth), "-o", out)
				vips = ssimLuma(truth, readImage(t, out))
			}
			if q.convert != "" {
				out := filepath.Join(q.dir, "im-chart.png")
				q.run(t, q.convert, in, "-resize", exactSize(truth), out)
				im = ssimLuma(truth, readImage(t, out))
			}
			goal := "-" // the goal is on the JPEG source; the PNG rows show what it costs
			if s.file == "chart.jpg" && !math.IsNaN(vips) {
				goal = fmt.Sprintf(">= %.4f %s", vips, verdict(picfit >= vips))
			}
			t.Logf("%-16s %5d %8.4f %8s %12s  %s", s.label, w, picfit, fig("%.4f", vips), fig("%.4f", im), goal)
		}
	}
}

// reportGIF prints the bytes and frame count of the 125-frame corpus
// animation resized to 300 wide by picfit, by ImageMagick (convert
// -coalesce -resize 300x -layers optimize) and by libvips, and each
// output's mean luma SSIM over its composed frames against the
// reference resize of the source's composed frames, so that bytes are
// not bought with quality unseen. Goal: picfit's bytes <= 1.25x
// ImageMagick's, all frames kept by both.
func (q qualityTools) reportGIF(t *testing.T) {
	const name, w = "animated-imgproxy-demo-978x720-125f.gif", 300
	src := corpusFile(t, name)
	path := filepath.Join(corpusDir(), name)
	frames := composeGIF(t, src)
	var truth []*image.RGBA
	for _, f := range frames {
		truth = append(truth, referenceResize(t, f, w))
	}
	// meanSSIM is the mean luma SSIM of an output's frames, NaN when the
	// frame count differs from the source's.
	meanSSIM := func(who string, out []*image.RGBA) float64 {
		if len(out) != len(truth) {
			return math.NaN()
		}
		var sum float64
		for i, m := range out {
			sameSize(t, who, truth[i], m)
			sum += ssimLuma(truth[i], m)
		}
		return sum / float64(len(out))
	}
	type row struct {
		bytes, frames int
		ssim          float64
	}
	measure := func(who string, data []byte) row {
		out := composeGIF(t, data)
		return row{len(data), len(out), meanSSIM(who, out)}
	}
	picfit := measure("picfit", ours(t, src, fmt.Sprintf("op=resize&w=%d&fmt=gif", w)))
	var im, vips *row
	if q.convert != "" {
		out := filepath.Join(q.dir, "im.gif")
		q.run(t, q.convert, path, "-coalesce", "-resize", exactSize(truth[0]), "-layers", "optimize", out)
		r := measure("convert", readFile(t, out))
		im = &r
	}
	if q.vips != "" {
		out := filepath.Join(q.dir, "vips.gif")
		q.run(t, q.vips, path+"[n=-1]", "-s", exactSize(truth[0]), "-o", out)
		r := measure("vipsthumbnail", readFile(t, out))
		vips = &r
	}
	t.Logf("")
	t.Logf("4. Animated GIF %s (%d frames) to w=%d", name, len(frames), w)
	t.Logf("   ImageMagick: convert -coalesce -resize WxH! -layers optimize; libvips: vipsthumbnail in.gif[n=-1] -s WxH!")
	t.Logf("   SSIM: mean luma SSIM of the composed frames against the reference resize of the source's")
	t.Logf("%-8s %9s %9s %12s  %s", "", "picfit", "libvips", "ImageMagick", "goal")
	cell := func(r *row, f func(row) string) string {
		if r == nil {
			return "-"
		}
		return f(*r)
	}
	bytesOf := func(r row) string { return strconv.Itoa(r.bytes) }
	framesOf := func(r row) string { return strconv.Itoa(r.frames) }
	ssimOf := func(r row) string { return fig("%.4f", r.ssim) }
	bytesGoal, framesGoal := "<= 1.25x ImageMagick: -", fmt.Sprintf("%d in picfit and ImageMagick: -", len(frames))
	if im != nil {
		r := float64(picfit.bytes) / float64(im.bytes)
		bytesGoal = fmt.Sprintf("<= 1.25x ImageMagick: %.3fx %s", r, verdict(r <= 1.25))
		framesGoal = fmt.Sprintf("%d in picfit and ImageMagick: %s", len(frames), verdict(picfit.frames == len(frames) && im.frames == len(frames)))
	}
	t.Logf("%-8s %9s %9s %12s  %s", "bytes", bytesOf(picfit), cell(vips, bytesOf), cell(im, bytesOf), bytesGoal)
	t.Logf("%-8s %9s %9s %12s  %s", "frames", framesOf(picfit), cell(vips, framesOf), cell(im, framesOf), framesGoal)
	t.Logf("%-8s %9s %9s %12s  %s", "SSIM", ssimOf(picfit), cell(vips, ssimOf), cell(im, ssimOf), "-")
}

// composeGIF decodes every frame of a GIF and composes it as a browser
// shows it: each frame drawn over the canvas at its offset (transparent
// pixels leave the canvas be), then disposed of as it says (background:
// its rectangle cleared to transparent; previous: the canvas restored).
func composeGIF(t testing.TB, data []byte) []*image.RGBA {
	t.Helper()
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	bounds := image.Rect(0, 0, g.Config.Width, g.Config.Height)
	canvas := image.NewRGBA(bounds)
	var out []*image.RGBA
	for i, f := range g.Image {
		var saved *image.RGBA
		if g.Disposal[i] == gif.DisposalPrevious {
			saved = image.NewRGBA(bounds)
			copy(saved.Pix, canvas.Pix)
		}
		draw.Draw(canvas, f.Bounds(), f, f.Bounds().Min, draw.Over)
		shown := image.NewRGBA(bounds)
		copy(shown.Pix, canvas.Pix)
		out = append(out, shown)
		switch g.Disposal[i] {
		case gif.DisposalBackground:
			draw.Draw(canvas, f.Bounds(), image.Transparent, image.Point{}, draw.Src)
		case gif.DisposalPrevious:
			canvas = saved
		}
	}
	return out
}
