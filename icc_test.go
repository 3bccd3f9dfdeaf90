package main

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var updateICC = flag.Bool("update-icc", false, "recompute testdata/icc/lcms.txt with LittleCMS's transicc")

// A small ICC writer: the test profiles are built here, so that no
// profile file is committed; testdata/icc/lcms.txt holds what LittleCMS
// computes with them.

type iccTag struct {
	sig  string
	data []byte
}

func s15(v float64) uint32 { return uint32(int32(math.Round(v * 65536))) }

func iccFileOf(class, space, pcs string, version uint32, tags []iccTag) []byte {
	h := make([]byte, 128)
	binary.BigEndian.PutUint32(h[8:], version)
	copy(h[4:], "lcms")
	copy(h[12:], class)
	copy(h[16:], space)
	copy(h[20:], pcs)
	copy(h[36:], "acsp")
	binary.BigEndian.PutUint32(h[68:], s15(0.9642))
	binary.BigEndian.PutUint32(h[72:], s15(1))
	binary.BigEndian.PutUint32(h[76:], s15(0.8249))
	b := binary.BigEndian.AppendUint32(h, uint32(len(tags)))
	off := len(b) + 12*len(tags)
	var body []byte
	for _, t := range tags {
		b = append(b, t.sig...)
		b = binary.BigEndian.AppendUint32(b, uint32(off+len(body)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(t.data)))
		body = append(body, t.data...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func xyzTagOf(x, y, z float64) []byte {
	b := append([]byte("XYZ "), 0, 0, 0, 0)
	for _, v := range []float64{x, y, z} {
		b = binary.BigEndian.AppendUint32(b, s15(v))
	}
	return b
}

func curvGammaOf(g float64) []byte {
	b := append([]byte("curv"), 0, 0, 0, 0, 0, 0, 0, 1)
	return binary.BigEndian.AppendUint16(b, uint16(math.Round(g*256)))
}

func curvTableOf(n int, f func(float64) float64) []byte {
	b := append([]byte("curv"), 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, uint16(math.Round(65535*clamp01(f(float64(i)/float64(n-1))))))
	}
	return b
}

func paraOf(fn int, params ...float64) []byte {
	b := append([]byte("para"), 0, 0, 0, 0, 0, byte(fn), 0, 0)
	for _, p := range params {
		b = binary.BigEndian.AppendUint32(b, s15(p))
	}
	return b
}

// matrixProfile is a v4 display profile of primaries xy, white w and the
// curves trc (one for all three, or one each).
func matrixProfile(xy [3][2]float64, w [2]float64, trc ...[]byte) []byte {
	m := primariesToXYZD50(xy, w)
	tags := []iccTag{{"wtpt", xyzTagOf(0.9642, 1, 0.8249)}}
	for i, c := range []string{"r", "g", "b"} {
		tags = append(tags, iccTag{c + "XYZ", xyzTagOf(m[0][i], m[1][i], m[2][i])})
		tags = append(tags, iccTag{c + "TRC", trc[i%len(trc)]})
	}
	return iccFileOf("mntr", "RGB ", "XYZ ", 0x04300000, tags)
}

var (
	d65        = [2]float64{0.3127, 0.3290}
	srgbXY     = [3][2]float64{{0.64, 0.33}, {0.30, 0.60}, {0.15, 0.06}}
	srgbPara   = []float64{2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045}
	bt709Curve = []float64{1 / 0.45, 1 / 1.099, 0.099 / 1.099, 1 / 4.5, 0.081}
)

// labEncode is XYZ (D50) as CIELAB.
func labOf(xyz [3]float64) [3]float64 {
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(xyz[0]/0.9642), f(xyz[1]), f(xyz[2]/0.8249)
	return [3]float64{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

// inkToXYZ is the made-up printer of the CMYK test profiles: ink
// subtracts its primary in linear sRGB.
func inkToXYZ(c, m, y, k float64) [3]float64 {
	rgb := [3]float64{(1 - 0.9*c) * (1 - 0.95*k), (1 - 0.85*m) * (1 - 0.95*k), (1 - 0.8*y) * (1 - 0.95*k)}
	return mulVec(srgbToXYZD50(), rgb)
}

// rgbToXYZ is the made-up RGB device of the RGB LUT test profiles.
func rgbToXYZ(r, g, b float64) [3]float64 {
	m := primariesToXYZD50([3][2]float64{{0.66, 0.32}, {0.25, 0.68}, {0.15, 0.07}}, d65)
	v := mulVec(m, [3]float64{r * r, g * (0.5 + 0.5*g), b * b})
	return v
}

// gridPoints calls f for every point of a grid of n per dimension, in
// the ICC order (first input slowest), with coordinates in [0,1].
func gridPoints(dims, n int, f func(in []float64)) {
	idx := make([]int, dims)
	in := make([]float64, dims)
	for {
		for i := range idx {
			in[i] = float64(idx[i]) / float64(n-1)
		}
		f(in)
		i := dims - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < n {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// mftOf is an mft1 (wide false) or mft2 LUT of in inputs to Lab (the
// legacy encoding), grid points per input, input curves t^0.9 (wide)
// or identity, identity output curves.
func mftOf(wide bool, in, grid int, f func(in []float64) [3]float64) []byte {
	b := []byte("mft1")
	if wide {
		b = []byte("mft2")
	}
	b = append(b, 0, 0, 0, 0, byte(in), 3, byte(grid), 0)
	for i := range 9 {
		v := 0.0
		if i%4 == 0 {
			v = 1
		}
		b = binary.BigEndian.AppendUint32(b, s15(v))
	}
	put := func(v float64) {
		if wide {
			b = binary.BigEndian.AppendUint16(b, uint16(math.Round(65535*clamp01(v))))
		} else {
			b = append(b, byte(math.Round(255*clamp01(v))))
		}
	}
	inN, outN := 256, 256
	if wide {
		inN, outN = 256, 2
		b = binary.BigEndian.AppendUint16(b, uint16(inN))
		b = binary.BigEndian.AppendUint16(b, uint16(outN))
	}
	for range in {
		for i := range inN {
			x := float64(i) / float64(inN-1)
			if wide {
				x = math.Pow(x, 0.9)
			}
			put(x)
		}
	}
	gridPoints(in, grid, func(v []float64) {
		lab := f(v)
		if wide { // legacy 16-bit Lab: L 100 = 0xff00, a 0 = 0x8000
			put(lab[0] * 0xff00 / 100 / 65535)
			put((lab[1] + 128) * 256 / 65535)
			put((lab[2] + 128) * 256 / 65535)
		} else {
			put(lab[0] / 100)
			put((lab[1] + 128) / 255)
			put((lab[2] + 128) / 255)
		}
	})
	for range 3 {
		for i := range outN {
			put(float64(i) / float64(outN-1))
		}
	}
	return b
}

// mabOf is an mAB LUT of three inputs to XYZ: A curves (para, gamma
// 1/0.9), a 16-bit CLUT of twice the encoded XYZ, M curves (identity
// para), a matrix halving it, B curves (identity curv).
func mabOf(grid int, f func(in []float64) [3]float64) []byte {
	var curves func(n int, c []byte) []byte = func(n int, c []byte) []byte {
		var b []byte
		for range n {
			b = append(b, c...)
			for len(b)%4 != 0 {
				b = append(b, 0)
			}
		}
		return b
	}
	bCurves := curves(3, append([]byte("curv"), 0, 0, 0, 0, 0, 0, 0, 0))
	var mat []byte
	for i := range 12 {
		v := 0.0
		if i < 9 && i%4 == 0 {
			v = 0.5
		}
		mat = binary.BigEndian.AppendUint32(mat, s15(v))
	}
	mCurves := curves(3, paraOf(0, 1))
	clut := make([]byte, 20)
	for i := range 3 {
		clut[i] = byte(grid)
	}
	clut[16] = 2
	gridPoints(3, grid, func(v []float64) {
		xyz := f(v)
		for _, c := range xyz {
			clut = binary.BigEndian.AppendUint16(clut, uint16(math.Round(65535*clamp01(2*c*32768/65535))))
		}
	})
	for len(clut)%4 != 0 {
		clut = append(clut, 0)
	}
	aCurves := curves(3, paraOf(0, 1/0.9))
	b := append([]byte("mAB "), 0, 0, 0, 0, 3, 3, 0, 0)
	off := 32
	for _, part := range [][]byte{bCurves, mat, mCurves, clut, aCurves} {
		b = binary.BigEndian.AppendUint32(b, uint32(off))
		off += len(part)
	}
	for _, part := range [][]byte{bCurves, mat, mCurves, clut, aCurves} {
		b = append(b, part...)
	}
	return b
}

// testProfile is a profile built by the tests and the inputs LittleCMS
// converts with it.
type testProfile struct {
	name   string
	data   []byte
	inputs int // 1, 3 or 4
}

func testProfiles() []testProfile {
	wtpt := iccTag{"wtpt", xyzTagOf(0.9642, 1, 0.8249)}
	cmyk := func(in []float64) [3]float64 { return labOf(inkToXYZ(in[0], in[1], in[2], in[3])) }
	table := curvTableOf(1024, func(x float64) float64 { return math.Pow(x, 2.2)*0.98 + 0.02*x })
	return []testProfile{
		{"adobe-rgb", matrixProfile([3][2]float64{{0.64, 0.33}, {0.21, 0.71}, {0.15, 0.06}}, d65, curvGammaOf(563.0/256)), 3},
		{"prophoto", matrixProfile([3][2]float64{{0.7347, 0.2653}, {0.1596, 0.8404}, {0.0366, 0.0001}}, [2]float64{0.3457, 0.3585}, paraOf(0, 1.8)), 3},
		{"display-p3", matrixProfile([3][2]float64{{0.68, 0.32}, {0.265, 0.69}, {0.15, 0.06}}, d65, paraOf(3, srgbPara...)), 3},
		{"rec2020", matrixProfile([3][2]float64{{0.708, 0.292}, {0.170, 0.797}, {0.131, 0.046}}, d65, paraOf(3, bt709Curve...)), 3},
		{"para-124", matrixProfile([3][2]float64{{0.67, 0.33}, {0.21, 0.71}, {0.14, 0.08}}, d65,
			paraOf(1, 2.2, 1.05, -0.05), paraOf(2, 2.0, 0.95, 0.05, 0.01), paraOf(4, 2.4, 0.94, 0.05, 0.077, 0.04045, 0.01, 0.005)), 3},
		{"table", matrixProfile([3][2]float64{{0.7, 0.3}, {0.2, 0.75}, {0.15, 0.05}}, d65, table), 3},
		{"gray", iccFileOf("mntr", "GRAY", "XYZ ", 0x02100000, []iccTag{wtpt, {"kTRC", curvGammaOf(2.2)}}), 1},
		{"cmyk-mft2", iccFileOf("prtr", "CMYK", "Lab ", 0x02100000, []iccTag{wtpt, {"A2B0", mftOf(true, 4, 9, cmyk)}}), 4},
		{"rgb-mft1", iccFileOf("mntr", "RGB ", "Lab ", 0x02100000, []iccTag{wtpt,
			{"A2B0", mftOf(false, 3, 9, func(in []float64) [3]float64 { return labOf(rgbToXYZ(in[0], in[1], in[2])) })}}), 3},
		{"rgb-mab", iccFileOf("mntr", "RGB ", "XYZ ", 0x04300000, []iccTag{wtpt,
			{"A2B0", mabOf(9, func(in []float64) [3]float64 { return rgbToXYZ(in[0], in[1], in[2]) })}}), 3},
	}
}

// testInputs are the device values converted for each profile.
func testInputs(inputs int) [][]byte {
	var steps []int
	switch inputs {
	case 1:
		for v := 0; v < 256; v += 15 {
			steps = append(steps, v)
		}
	case 3:
		steps = []int{0, 20, 51, 102, 153, 204, 255}
	case 4:
		steps = []int{0, 60, 130, 200, 255}
	}
	var out [][]byte
	idx := make([]int, inputs)
	for {
		v := make([]byte, inputs)
		for i := range v {
			v[i] = byte(steps[idx[i]])
		}
		out = append(out, v)
		i := inputs - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < len(steps) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return out
		}
	}
}

// transiccLines converts inputs with LittleCMS's transicc to its
// built-in sRGB, in its floating-point pipeline (unbounded; clipped and
// rounded here: -s and -q switch to a 16-bit pipeline whose
// precalculated grid strays by up to 3 levels). Intent 1, relative
// colorimetric, for the test profiles: with 0 lcms forces black point
// compensation on v4 profiles, which picfit does not do. CMYK is given
// in percent.
func transiccLines(t testing.TB, profile string, inputs int, in [][]byte, intent int) [][3]int {
	t.Helper()
	var stdin bytes.Buffer
	for _, v := range in {
		for i, c := range v {
			if i > 0 {
				stdin.WriteByte(' ')
			}
			if inputs == 4 {
				fmt.Fprintf(&stdin, "%.6f", float64(c)*100/255)
			} else {
				fmt.Fprintf(&stdin, "%d", c)
			}
		}
		stdin.WriteByte('\n')
	}
	cmd := exec.Command("transicc", "-i", profile, "-o", "*sRGB", "-t", strconv.Itoa(intent))
	cmd.Stdin = &stdin
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("transicc %s: %v", profile, err)
	}
	var rgb [][3]int
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "R=") {
			continue
		}
		var r, g, b float64
		if _, err := fmt.Sscanf(line, "R=%f G=%f B=%f", &r, &g, &b); err != nil {
			t.Fatalf("transicc output %q: %v", line, err)
		}
		q := func(v float64) int { return int(math.Round(max(0, min(255, v)))) }
		rgb = append(rgb, [3]int{q(r), q(g), q(b)})
	}
	if len(rgb) != len(in) {
		t.Fatalf("transicc %s: %d results for %d inputs", profile, len(rgb), len(in))
	}
	return rgb
}

const lcmsFixture = "testdata/icc/lcms.txt"

// lcmsTruth reads testdata/icc/lcms.txt: per profile name, the inputs
// and LittleCMS's sRGB for them. With -update-icc it first rewrites the
// file with transicc.
func lcmsTruth(t *testing.T) map[string][][2][]int {
	t.Helper()
	if *updateICC {
		dir := t.TempDir()
		var out bytes.Buffer
		out.WriteString("# LittleCMS (transicc 2.14) sRGB of the profiles icc_test.go builds (testProfiles), made by\n" +
			"#   go test -run TestICCAgainstLCMS -update-icc .\n" +
			"# which runs, per profile, transicc -i PROFILE -o '*sRGB' -t 1 (CMYK in percent), values clipped and rounded\n" +
			"# name: input values => R G B\n")
		for _, p := range testProfiles() {
			path := filepath.Join(dir, p.name+".icc")
			if err := os.WriteFile(path, p.data, 0o644); err != nil {
				t.Fatal(err)
			}
			in := testInputs(p.inputs)
			rgb := transiccLines(t, path, p.inputs, in, 1)
			for i, v := range in {
				fmt.Fprintf(&out, "%s:", p.name)
				for _, c := range v {
					fmt.Fprintf(&out, " %d", c)
				}
				fmt.Fprintf(&out, " => %d %d %d\n", rgb[i][0], rgb[i][1], rgb[i][2])
			}
		}
		if err := os.WriteFile(lcmsFixture, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(lcmsFixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	truth := map[string][][2][]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name, rest, ok := strings.Cut(line, ":")
		lhs, rhs, ok2 := strings.Cut(rest, "=>")
		if !ok || !ok2 {
			t.Fatalf("%s: bad line %q", lcmsFixture, line)
		}
		ints := func(s string) []int {
			var v []int
			for _, f := range strings.Fields(s) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("%s: bad line %q", lcmsFixture, line)
				}
				v = append(v, n)
			}
			return v
		}
		truth[name] = append(truth[name], [2][]int{ints(lhs), ints(rhs)})
	}
	return truth
}

// TestICCAgainstLCMS converts the inputs of every test profile and
// compares with LittleCMS: within 1 per channel for matrix/TRC profiles,
// 2 for LUT profiles (whose tables picfit resamples to its own grid).
func TestICCAgainstLCMS(t *testing.T) {
	truth := lcmsTruth(t)
	for _, p := range testProfiles() {
		t.Run(p.name, func(t *testing.T) {
			prof, err := parseICC(p.data)
			if err != nil {
				t.Fatalf("parseICC: %v", err)
			}
			if prof.isSRGB() {
				t.Fatalf("isSRGB() = true")
			}
			ct, err := newColourTransform(prof)
			if err != nil {
				t.Fatalf("newColourTransform: %v", err)
			}
			tol := 1
			if prof.lut != nil {
				tol = 2
			}
			rows := truth[p.name]
			if len(rows) == 0 {
				t.Fatalf("no LittleCMS values for %s in %s", p.name, lcmsFixture)
			}
			worst, sum := 0, 0
			for _, row := range rows {
				var c [4]byte
				for i, v := range row[0] {
					c[i] = byte(v)
				}
				if p.inputs == 1 {
					c[1], c[2] = c[0], c[0]
				}
				r, g, b := ct.rgb(c)
				got := [3]int{int(r), int(g), int(b)}
				for i := range 3 {
					d := iabs(got[i] - row[1][i])
					worst = max(worst, d)
					sum += d
					if d > tol {
						t.Errorf("%v => %v, LittleCMS %v", row[0], got, row[1])
						break
					}
				}
			}
			t.Logf("%d colours: worst channel difference %d, mean %.3f", len(rows), worst, float64(sum)/float64(3*len(rows)))
		})
	}
}

func iabs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestICCSystemProfiles compares with LittleCMS on the profiles the
// system has (colord's and ghostscript's), when transicc and they are
// installed: real Adobe RGB, ProPhoto and a real CMYK mft2 profile.
// Intent 1 for lcms: with 0 it forces black point compensation whenever
// a v4 profile (its built-in sRGB) is in the chain, which picfit does not
// do (default_cmyk's black comes out 11 levels darker then); ghostscript's
// A2B0 and A2B1 agree within 2 levels.
func TestICCSystemProfiles(t *testing.T) {
	if _, err := exec.LookPath("transicc"); err != nil {
		t.Skip("no transicc")
	}
	for _, tt := range []struct {
		path   string
		inputs int
		tol    int
	}{
		{"/usr/share/color/icc/colord/AdobeRGB1998.icc", 3, 1},
		{"/usr/share/color/icc/colord/ProPhotoRGB.icc", 3, 1},
		{"/usr/share/color/icc/colord/Rec709.icc", 3, 1},
		{"/usr/share/color/icc/compatibleWithAdobeRGB1998.icc", 3, 1},
		{"/usr/share/color/icc/ghostscript/default_cmyk.icc", 4, 3},
		{"/usr/share/color/icc/ghostscript/default_gray.icc", 1, 1},
	} {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			data, err := os.ReadFile(tt.path)
			if err != nil {
				t.Skip(err)
			}
			prof, err := parseICC(data)
			if err != nil {
				t.Fatalf("parseICC: %v", err)
			}
			ct, err := newColourTransform(prof)
			if err != nil {
				t.Fatalf("newColourTransform: %v", err)
			}
			in := testInputs(tt.inputs)
			want := transiccLines(t, tt.path, tt.inputs, in, 1)
			worst, sum := 0, 0
			for i, v := range in {
				var c [4]byte
				copy(c[:], v)
				if tt.inputs == 1 {
					c[1], c[2] = c[0], c[0]
				}
				r, g, b := ct.rgb(c)
				got := [3]int{int(r), int(g), int(b)}
				for j := range 3 {
					d := iabs(got[j] - want[i][j])
					worst = max(worst, d)
					sum += d
					if d > tt.tol {
						t.Errorf("%v => %v, LittleCMS %v", v, got, want[i])
						break
					}
				}
			}
			t.Logf("%d colours: worst channel difference %d, mean %.3f", len(in), worst, float64(sum)/float64(3*len(in)))
		})
	}
}

// patchColours are n inputs of a profile from lcms.txt, spread over
// its rows, with LittleCMS's sRGB for them.
func patchColours(t *testing.T, truth map[string][][2][]int, name string, n int) [][2][]int {
	t.Helper()
	rows := truth[name]
	if len(rows) < n {
		t.Fatalf("%d LittleCMS rows for %s, want %d", len(rows), name, n)
	}
	var out [][2][]int
	for i := range n {
		out = append(out, rows[i*len(rows)/n+len(rows)/(2*n)])
	}
	return out
}

// patches is a picture of 4×4 flat squares of side px, square i of the
// input colour in[i] (grey or RGB; 16 colours).
func patches(in [][2][]int, px int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 4*px, 4*px))
	for y := range 4 * px {
		for x := range 4 * px {
			c := in[(y/px)*4+x/px][0]
			p := m.Pix[m.PixOffset(x, y):]
			if len(c) == 1 {
				p[0], p[1], p[2] = byte(c[0]), byte(c[0]), byte(c[0])
			} else {
				p[0], p[1], p[2] = byte(c[0]), byte(c[1]), byte(c[2])
			}
			p[3] = 255
		}
	}
	return m
}

// withJPEGICC puts profile into a JPEG as APP2 ICC_PROFILE chunks of at
// most chunk bytes, written last first (readers must sort them); drop
// leaves out the chunk of that sequence number (0: none).
func withJPEGICC(jpg, profile []byte, chunk, drop int) []byte {
	var parts [][]byte
	for p := 0; p < len(profile); p += chunk {
		parts = append(parts, profile[p:min(p+chunk, len(profile))])
	}
	out := append([]byte(nil), jpg[:2]...)
	for i := len(parts) - 1; i >= 0; i-- {
		if i+1 == drop {
			continue
		}
		seg := append([]byte("ICC_PROFILE\x00"), byte(i+1), byte(len(parts)))
		seg = append(seg, parts[i]...)
		out = append(out, 0xff, 0xe2, byte((len(seg)+2)>>8), byte(len(seg)+2))
		out = append(out, seg...)
	}
	return append(out, jpg[2:]...)
}

// pngChunk is a PNG chunk with its CRC.
func iccPNGChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// pngWith encodes m as a PNG with chunks after IHDR.
func pngWith(t *testing.T, m image.Image, chunks ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	out := append([]byte(nil), b[:33]...) // signature and IHDR
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, b[33:]...)
}

func iccpChunk(profile []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(profile)
	w.Close()
	return iccPNGChunk("iCCP", append([]byte("test\x00\x00"), z.Bytes()...))
}

// webpWithICC encodes m as lossless WebP and rewrites it as an extended
// file: VP8X with the ICC flag, ICCP, then the image chunk.
func webpWithICC(t *testing.T, m *image.RGBA, profile []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := encodeWebP(context.Background(), &buf, m, 100, true); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if string(b[12:16]) != "VP8L" {
		t.Fatalf("encodeWebP wrote a %q chunk first, want VP8L", b[12:16])
	}
	var body []byte
	body = appendVP8X(body, m.Rect.Dx(), m.Rect.Dy(), 0x20)
	body = appendChunk(body, "ICCP", profile)
	body = append(body, b[12:]...)
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	out = append(out, "WEBP"...)
	out = append(out, body...)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

// iccEnv is a test server logging to logs.
func iccEnv(t *testing.T) (*testEnv, *syncBuffer) {
	t.Helper()
	e := newTestEnv(t, nil)
	logs := &syncBuffer{}
	e.s.engine.log = slog.New(slog.NewTextHandler(logs, nil))
	return e, logs
}

// checkPatches fetches path (a 4×4 patch picture resized to 32×32,
// PNG), and compares each patch's centre with want within tol.
func checkPatches(t *testing.T, e *testEnv, path string, want [][3]int, tol int) {
	t.Helper()
	resp := e.get(t, path)
	body := readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
	}
	m := decodeAny(t, body)
	if m.Bounds().Dx() != 32 || m.Bounds().Dy() != 32 {
		t.Fatalf("GET %s: %v, want 32x32", path, m.Bounds())
	}
	for i, w := range want {
		x, y := (i%4)*8+4, (i/4)*8+4
		r, g, b, _ := m.At(x, y).RGBA()
		got := [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
		for j := range 3 {
			if iabs(got[j]-w[j]) > tol {
				t.Errorf("GET %s: patch %d at (%d,%d) = %v, want %v ±%d", path, i, x, y, got, w, tol)
				break
			}
		}
	}
}

func truthOf(rows [][2][]int) [][3]int {
	var w [][3]int
	for _, r := range rows {
		w = append(w, [3]int{r[1][0], r[1][1], r[1][2]})
	}
	return w
}

func profileNamed(t testing.TB, name string) []byte {
	t.Helper()
	for _, p := range testProfiles() {
		if p.name == name {
			return p.data
		}
	}
	t.Fatalf("no test profile %s", name)
	return nil
}

// TestICCThroughHTTP serves tagged sources of every kind and compares
// the patches of the output with LittleCMS's values: JPEG (4:2:0 at
// q100, so within 4), PNG and lossless WebP (within 2).
func TestICCThroughHTTP(t *testing.T) {
	truth := lcmsTruth(t)
	e, logs := iccEnv(t)
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(e.srcDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	adobe := patchColours(t, truth, "adobe-rgb", 16)
	pro := patchColours(t, truth, "prophoto", 16)
	p3 := patchColours(t, truth, "display-p3", 16)
	cmyk := patchColours(t, truth, "cmyk-mft2", 16)

	// JPEG, Adobe RGB in 5 APP2 chunks out of order; 64-px patches:
	// the decoder scales by 1/2 on load (the planar path).
	write("adobe.jpg", withJPEGICC(goJPEG(t, patches(adobe, 16), 100), profileNamed(t, "adobe-rgb"), 120, 0))
	write("prophoto.jpg", withJPEGICC(goJPEG(t, patches(pro, 16), 100), profileNamed(t, "prophoto"), 60000, 0))
	write("prophoto.png", pngWith(t, patches(pro, 16), iccpChunk(profileNamed(t, "prophoto"))))
	write("p3.webp", webpWithICC(t, patches(p3, 16), profileNamed(t, "display-p3")))
	// gAMA and cHRM of Adobe RGB: the adobe-rgb profile's values.
	chrm := []byte{}
	for _, v := range []uint32{31270, 32900, 64000, 33000, 21000, 71000, 15000, 6000} {
		chrm = binary.BigEndian.AppendUint32(chrm, v)
	}
	gama := binary.BigEndian.AppendUint32(nil, uint32(math.Round(100000*256/563.0)))
	write("gama.png", pngWith(t, patches(adobe, 16), iccPNGChunk("gAMA", gama), iccPNGChunk("cHRM", chrm)))
	// CMYK: planes store 255 - ink (Adobe's inversion).
	var planes [4]*image.Gray
	for c := range planes {
		planes[c] = image.NewGray(image.Rect(0, 0, 64, 64))
		for y := range 64 {
			for x := range 64 {
				planes[c].Pix[y*64+x] = 255 - byte(cmyk[(y/16)*4+x/16][0][c])
			}
		}
	}
	write("cmyk.jpg", withJPEGICC(spliceCMYK(t, planes, 100), profileNamed(t, "cmyk-mft2"), 30000, 0))
	// EXIF orientation 6: stored turned a quarter counter-clockwise.
	exif := jpegSegment(0xe1, append([]byte(exifPrefix), orientationTIFF(binary.BigEndian, 6)...))
	oriented := func(jpg []byte) []byte { return append(append(append([]byte(nil), jpg[:2]...), exif...), jpg[2:]...) }
	turn := func(pix []byte, side, bpp int) []byte { // stored(x, y) = display(side-1-y, x)
		out := make([]byte, len(pix))
		for y := range side {
			for x := range side {
				copy(out[(y*side+x)*bpp:][:bpp], pix[(x*side+side-1-y)*bpp:][:bpp])
			}
		}
		return out
	}
	adobeTurned := patches(adobe, 16)
	adobeTurned.Pix = turn(adobeTurned.Pix, 64, 4)
	write("adobe-o6.jpg", oriented(withJPEGICC(goJPEG(t, adobeTurned, 100), profileNamed(t, "adobe-rgb"), 60000, 0)))
	for c := range planes {
		planes[c].Pix = turn(planes[c].Pix, 64, 1)
	}
	write("cmyk-o6.jpg", oriented(withJPEGICC(spliceCMYK(t, planes, 100), profileNamed(t, "cmyk-mft2"), 30000, 0)))

	for _, tt := range []struct {
		name, path string
		want       [][3]int
		tol        int
	}{
		{"jpeg adobe multi-chunk", "adobe.jpg", truthOf(adobe), 4},
		{"jpeg prophoto", "prophoto.jpg", truthOf(pro), 4},
		{"png iCCP prophoto", "prophoto.png", truthOf(pro), 2},
		{"webp ICCP display p3", "p3.webp", truthOf(p3), 2},
		{"png gAMA cHRM", "gama.png", truthOf(adobe), 2},
		{"jpeg cmyk", "cmyk.jpg", truthOf(cmyk), 4},
		{"jpeg adobe orientation 6", "adobe-o6.jpg", truthOf(adobe), 4},
		{"jpeg cmyk orientation 6", "cmyk-o6.jpg", truthOf(cmyk), 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkPatches(t, e, "/display?path="+tt.path+"&op=resize&w=32&h=32&fmt=png", tt.want, tt.tol)
		})
	}
	// A flat's image is converted too, after its scaling to the cell.
	write("black.png", pngWith(t, image.NewRGBA(image.Rect(0, 0, 64, 64))))
	t.Run("flat path prophoto", func(t *testing.T) {
		checkPatches(t, e, "/display?path=black.png&op=op:resize+w:32+h:32&op=op:flat+path:prophoto.png+pos:0.0.100.100&fmt=png", truthOf(pro), 2)
	})
	// To JPEG: the planar fast path must not skip the conversion.
	t.Run("jpeg to jpeg", func(t *testing.T) {
		checkPatches(t, e, "/display?path=prophoto.jpg&op=resize&w=32&h=32&fmt=jpeg&q=100", truthOf(pro), 6)
	})
	if s := logs.String(); s != "" {
		t.Errorf("logs %q, want none", s)
	}
}

// TestICCIgnored serves sources whose colour information is sRGB or
// unusable: the output keeps the source's numbers, and an unusable
// profile is logged once.
func TestICCIgnored(t *testing.T) {
	e, logs := iccEnv(t)
	adobe := profileNamed(t, "adobe-rgb")
	var in [][2][]int
	for i := range 16 {
		v := 15 * i
		in = append(in, [2][]int{{v, 255 - v, (v * 7) % 256}})
	}
	pic := patches(in, 16)
	plain := truthOf(nil)
	for _, c := range in {
		plain = append(plain, [3]int{c[0][0], c[0][1], c[0][2]})
	}
	patch := func(p []byte, off int, v uint32) []byte {
		p = append([]byte(nil), p...)
		binary.BigEndian.PutUint32(p[off:], v)
		return p
	}
	bigGrid := iccFileOf("prtr", "CMYK", "Lab ", 0x02100000, []iccTag{{"A2B0", func() []byte {
		b := mftOf(true, 4, 3, func([]float64) [3]float64 { return [3]float64{50, 0, 0} })
		b[10] = 255 // 255^4 grid points claimed
		return b
	}()}})
	srgb := matrixProfile(srgbXY, d65, paraOf(3, srgbPara...))
	for _, tt := range []struct {
		name string
		data []byte
		logs int
	}{
		{"srgb profile", withJPEGICC(goJPEG(t, pic, 100), srgb, 60000, 0), 0},
		{"png sRGB chunk", pngWith(t, pic, iccPNGChunk("sRGB", []byte{0}), iccPNGChunk("gAMA", binary.BigEndian.AppendUint32(nil, 45455))), 0},
		{"png gAMA 45455 only", pngWith(t, pic, iccPNGChunk("gAMA", binary.BigEndian.AppendUint32(nil, 45455))), 0},
		{"truncated profile", withJPEGICC(goJPEG(t, pic, 100), adobe[:len(adobe)-40], 60000, 0), 1},
		{"huge declared size", withJPEGICC(goJPEG(t, pic, 100), patch(adobe, 0, 0xffffffff), 60000, 0), 1},
		{"tag offset out of range", withJPEGICC(goJPEG(t, pic, 100), patch(adobe, 132+4, 0x7ffffff0), 60000, 0), 1},
		{"tag count huge", pngWith(t, pic, iccpChunk(patch(adobe, 128, 0xfffffff))), 1},
		{"lut of an enormous grid", withJPEGICC(goJPEG(t, pic, 100), bigGrid, 60000, 0), 1},
		{"missing APP2 chunk", withJPEGICC(goJPEG(t, pic, 100), adobe, 100, 2), 1},
		{"CMYK profile on RGB", withJPEGICC(goJPEG(t, pic, 100), profileNamed(t, "cmyk-mft2"), 60000, 0), 1},
		{"garbage iCCP", pngWith(t, pic, iccPNGChunk("iCCP", []byte("x\x00\x00not zlib"))), 1},
		{"iCCP inflating past 4 MiB", pngWith(t, pic, iccpChunk(make([]byte, 5<<20))), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "colour profile ignored")
			name := strings.ReplaceAll(tt.name, " ", "-")
			if err := os.WriteFile(filepath.Join(e.srcDir, name), tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			checkPatches(t, e, "/display?path="+name+"&op=resize&w=32&h=32&fmt=png", plain, 4)
			if n := strings.Count(logs.String(), "colour profile ignored") - before; n != tt.logs {
				t.Errorf("%d log lines about the profile, want %d; logs:\n%s", n, tt.logs, logs.String())
			}
		})
	}
}

// FuzzParseICC feeds mutated profiles to the parser and the transform
// builder: nothing may panic, and a built transform converts.
func FuzzParseICC(f *testing.F) {
	for _, p := range testProfiles() {
		f.Add(p.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseICC(data)
		if err != nil {
			return
		}
		ct, err := newColourTransform(p)
		if err != nil {
			return
		}
		for _, c := range [][4]byte{{0, 0, 0, 0}, {255, 255, 255, 255}, {10, 200, 90, 30}} {
			ct.rgb(c)
		}
	})
}

// BenchmarkICC resizes the 20 MP corpus JPEG to w=800 untagged and
// tagged Adobe RGB (the profile costs the planar path to the encoder:
// the planes go through RGBA), and measures building the transforms.
func BenchmarkICC(b *testing.B) {
	data := corpusFile(b, "large-kleiber-6028x3391.jpg")
	tagged := withJPEGICC(data, testProfiles()[0].data, 60000, 0)
	r := parseTestRequest(b, "path=x&op=resize&w=800")
	eo := testEngine
	eo.quality = 80
	cached := eo
	cached.colours = newColourCache()
	// A CMYK JPEG with a LUT profile (testdata), whose transform takes
	// tens of milliseconds to build: every time, and from the cache.
	cmyk := withJPEGICC(must(os.ReadFile("testdata/cmyk-blinds-1920x1200.jpg")), profileNamed(b, "cmyk-mft2"), 60000, 0)
	for _, c := range []struct {
		name string
		src  []byte
		eo   engineOptions
	}{
		{"untagged-w800", data, eo}, {"adobe-w800", tagged, eo},
		{"cmyk-untagged-w800", must(os.ReadFile("testdata/cmyk-blinds-1920x1200.jpg")), eo},
		{"cmyk-lut-w800", cmyk, eo}, {"cmyk-lut-w800-cached", cmyk, cached},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := transform(context.Background(), c.src, r, c.eo, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// What every request pays: its header read (inspectSource), colour
	// information included, and no transform built.
	b.Run("look-untagged", func(b *testing.B) {
		for b.Loop() {
			if sourceTransform(data, nil) != nil {
				b.Fatal("untagged source has a transform")
			}
		}
	})
	for _, p := range testProfiles() {
		if p.name != "adobe-rgb" && p.name != "cmyk-mft2" && p.name != "rgb-mab" {
			continue
		}
		b.Run("build-"+p.name, func(b *testing.B) {
			for b.Loop() {
				prof, err := parseICC(p.data)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := newColourTransform(prof); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestICCFootprint: a tagged JPEG is resampled from its planes like an
// untagged one and converted after the first operation, on its output
// (plan.toSRGB): the memory estimate of the decode is the same, and the
// tagged transform leaves the planes route.
func TestICCFootprint(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 512, 512))
	plain := goJPEG(t, m, 90)
	tagged := withJPEGICC(plain, profileNamed(t, "adobe-rgb"), 60000, 0)
	r := &request{ops: []operation{{kind: opResize, w: 100, h: 100}}, format: formatJPEG}
	est := func(data []byte) (int64, route) {
		src, err := inspectSource(data)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := decodeFootprint(src, r.ops, testEngine)
		pl, err := newPlan(src, r, testEngine)
		if err != nil {
			t.Fatal(err)
		}
		return b, pl.route
	}
	p, pr := est(plain)
	tg, tr := est(tagged)
	if tg != p {
		t.Errorf("decodeFootprint tagged = %d, untagged %d: want the same", tg, p)
	}
	if pr != routePlanesToJPEG || tr != routeShrunk {
		t.Errorf("routes untagged %v, tagged %v: want planes to JPEG and shrunk", pr, tr)
	}
}

// decodeSRGB decodes data whole, as a request without operations would,
// and converts it to sRGB (plan.decode, plan.toSRGB).
func decodeSRGB(t *testing.T, data []byte) *picture {
	t.Helper()
	in, err := inspectSource(data)
	if err != nil {
		t.Fatal(err)
	}
	pl := planDecode(in, nil, testEngine, nil)
	pl.colour = in.colourTransform(nil, nil)
	p, err := pl.decode(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.toSRGB(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestICCCMYKAgainstJpgicc converts an Adobe CMYK JPEG (inverted, with
// the cmyk-mft2 profile embedded) with LittleCMS's jpgicc and with
// picfit, and compares the patches: the Adobe inversion must be read as
// libjpeg and lcms read it. Skipped without jpgicc.
func TestICCCMYKAgainstJpgicc(t *testing.T) {
	if _, err := exec.LookPath("jpgicc"); err != nil {
		t.Skip("no jpgicc")
	}
	var planes [4]*image.Gray
	inks := [][4]byte{}
	for i := range 16 {
		inks = append(inks, [4]byte{byte(i * 17), byte(255 - i*17), byte((i * 70) % 256), byte((i * 40) % 200)})
	}
	for c := range planes {
		planes[c] = image.NewGray(image.Rect(0, 0, 64, 64))
		for y := range 64 {
			for x := range 64 {
				planes[c].Pix[y*64+x] = 255 - inks[(y/16)*4+x/16][c]
			}
		}
	}
	src := withJPEGICC(spliceCMYK(t, planes, 100), profileNamed(t, "cmyk-mft2"), 60000, 0)
	lcms := jpgicc(t, src)
	p := decodeSRGB(t, src)
	for i := range inks {
		x, y := (i%4)*16+8, (i/4)*16+8
		r1, g1, b1, _ := lcms.At(x, y).RGBA()
		c := p.still.RGBAAt(x, y)
		want := [3]int{int(r1 >> 8), int(g1 >> 8), int(b1 >> 8)}
		got := [3]int{int(c.R), int(c.G), int(c.B)}
		for j := range 3 {
			if iabs(got[j]-want[j]) > 4 {
				t.Errorf("ink %v: picfit %v, jpgicc %v", inks[i], got, want)
				break
			}
		}
	}
}

// TestICCAnimatedWebP: every frame of an animated WebP with an ICCP
// chunk is converted, the unchanged parts of later frames too.
func TestICCAnimatedWebP(t *testing.T) {
	truth := lcmsTruth(t)
	p3 := patchColours(t, truth, "display-p3", 16)
	first := patches(p3, 16)
	second := image.NewRGBA(first.Rect) // the top half changes
	copy(second.Pix, first.Pix)
	rev := append([][2][]int(nil), p3...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	flipped := patches(rev, 16)
	copy(second.Pix[:len(second.Pix)/2], flipped.Pix[:len(flipped.Pix)/2])
	var buf bytes.Buffer
	if err := encodeAnimatedWebP(context.Background(), &buf, []*image.RGBA{first, second}, []int{10, 10}, 0, 100, true); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if string(b[12:16]) != "VP8X" {
		t.Fatalf("animated WebP starts with %q", b[12:16])
	}
	out := append([]byte(nil), b[:30]...) // RIFF header and VP8X
	out[20] |= 0x20
	out = appendChunk(out, "ICCP", profileNamed(t, "display-p3"))
	out = append(out, b[30:]...)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))

	p := decodeSRGB(t, out)
	want := [][][2][]int{p3, append(append([][2][]int(nil), rev[:8]...), p3[8:]...)}
	frame := 0
	err := p.eachFrame(context.Background(), func(img *image.RGBA, _ int) error {
		for i, row := range want[frame] {
			c := img.RGBAAt((i%4)*16+8, (i/4)*16+8)
			got := [3]int{int(c.R), int(c.G), int(c.B)}
			for j := range 3 {
				if iabs(got[j]-row[1][j]) > 2 {
					t.Errorf("frame %d patch %d = %v, LittleCMS %v", frame, i, got, row[1])
					break
				}
			}
		}
		frame++
		return nil
	})
	if err != nil || frame != 2 {
		t.Fatalf("eachFrame: %d frames, %v", frame, err)
	}
}

// TestICCYCCKAgainstJpgicc is TestICCCMYKAgainstJpgicc for a YCCK JPEG
// (testdata/cmyk-blinds, Adobe transform 2) given the cmyk-mft2 profile:
// mean and worst channel differences over a sample of pixels.
func TestICCYCCKAgainstJpgicc(t *testing.T) {
	if _, err := exec.LookPath("jpgicc"); err != nil {
		t.Skip("no jpgicc")
	}
	src := withJPEGICC(must(os.ReadFile("testdata/cmyk-blinds-1920x1200.jpg")), profileNamed(t, "cmyk-mft2"), 60000, 0)
	lcms := jpgicc(t, src)
	p := decodeSRGB(t, src)
	sum, n, worst := 0, 0, 0
	for y := 3; y < 1200; y += 41 {
		for x := 5; x < 1920; x += 37 {
			r1, g1, b1, _ := lcms.At(x, y).RGBA()
			c := p.still.RGBAAt(x, y)
			for _, d := range []int{int(c.R) - int(r1>>8), int(c.G) - int(g1>>8), int(c.B) - int(b1>>8)} {
				sum += iabs(d)
				worst = max(worst, iabs(d))
				n++
			}
		}
	}
	mean := float64(sum) / float64(n)
	t.Logf("%d samples: mean channel difference %.2f, worst %d", n/3, mean, worst)
	if mean > 1.5 || worst > 12 {
		t.Errorf("mean channel difference %.2f (want ≤ 1.5), worst %d (want ≤ 12)", mean, worst)
	}
}

// TestICCChannelMismatch: a grey profile on colour pixels, or an RGB
// profile on grey ones, is ignored with a log line (lcms refuses them).
func TestICCChannelMismatch(t *testing.T) {
	grey := profileNamed(t, "gray")
	adobe := profileNamed(t, "adobe-rgb")
	colour := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range colour.Pix {
		colour.Pix[i] = byte(i * 7)
	}
	g := image.NewGray(image.Rect(0, 0, 16, 16))
	for _, tt := range []struct {
		name string
		data []byte
		want bool // converted
	}{
		{"grey profile on RGB jpeg", withJPEGICC(goJPEG(t, colour, 90), grey, 60000, 0), false},
		{"RGB profile on grey jpeg", withJPEGICC(goJPEG(t, g, 90), adobe, 60000, 0), false},
		{"grey profile on grey png", pngWith(t, g, iccpChunk(grey)), true},
		{"grey profile on RGB png", pngWith(t, colour, iccpChunk(grey)), false},
		{"RGB profile on RGB png", pngWith(t, colour, iccpChunk(adobe)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			ct := sourceTransform(tt.data, slog.New(slog.NewTextHandler(&logs, nil)))
			if (ct != nil) != tt.want {
				t.Errorf("sourceTransform = %v, want a transform: %v", ct, tt.want)
			}
			if n := strings.Count(logs.String(), "colour profile ignored"); n != map[bool]int{true: 0, false: 1}[tt.want] {
				t.Errorf("%d log lines: %s", n, logs.String())
			}
		})
	}
}

// FuzzReadColour feeds mutated containers to the profile readers
// (JPEG APP2 chunks, PNG chunks, WebP chunks): nothing may panic.
func FuzzReadColour(f *testing.F) {
	adobe := testProfiles()[0].data
	m := image.NewRGBA(image.Rect(0, 0, 8, 8))
	f.Add(withJPEGICC(goJPEG(f, m, 90), adobe, 100, 0))
	var buf bytes.Buffer
	png.Encode(&buf, m)
	b := buf.Bytes()
	f.Add(append(append(append([]byte(nil), b[:33]...), iccpChunk(adobe)...), b[33:]...))
	f.Add(append([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x20\x00\x00\x00\x07\x00\x00\x07\x00\x00ICCP\x04\x00\x00\x00"), adobe[:4]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []format{formatJPEG, formatPNG, formatWebP} {
			s, err := readColour(format, data)
			if err == nil && len(s.icc) > maxICCSize {
				t.Fatalf("%s: a profile of %d bytes", format, len(s.icc))
			}
		}
		sourceTransform(data, nil)
	})
}

// sourceTransform is what a request makes of data's colour information:
// its header inspected (inspectSource), then the transform built
// (source.colourTransform); nil when the header cannot be read.
func sourceTransform(data []byte, log *slog.Logger) *colourTransform {
	in, err := inspectSource(data)
	if err != nil {
		return nil
	}
	return in.colourTransform(log, nil)
}

// jpgicc is src converted to sRGB by LittleCMS's jpgicc (relative
// colorimetric, -t1), decoded.
func jpgicc(t *testing.T, src []byte) image.Image {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "out.jpg")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("jpgicc", "-t1", "-q100", in, out).CombinedOutput(); err != nil {
		t.Fatalf("jpgicc: %v %s", err, msg)
	}
	return decodeAny(t, must(os.ReadFile(out)))
}

// TestColourCache: a profile seen again is not built again (the same
// transform comes back), the cache holds colourCacheSize profiles and
// drops the oldest, and a bad profile is not kept.
func TestColourCache(t *testing.T) {
	c := newColourCache()
	variant := func(i int) sourceColour { // the same profile, another ID
		p := append([]byte(nil), profileNamed(t, "adobe-rgb")...)
		p[84], p[85] = byte(i), byte(i>>8)
		return sourceColour{icc: p}
	}
	first, err := c.transform(variant(0))
	if err != nil || first == nil {
		t.Fatalf("transform: %v, %v", first, err)
	}
	if again, _ := c.transform(variant(0)); again != first {
		t.Errorf("the same profile built again: %p, want %p", again, first)
	}
	for i := 1; i <= colourCacheSize; i++ {
		if _, err := c.transform(variant(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.m) != colourCacheSize || len(c.keys) != colourCacheSize {
		t.Errorf("cache holds %d (%d keys), want %d", len(c.m), len(c.keys), colourCacheSize)
	}
	if again, _ := c.transform(variant(0)); again == first {
		t.Errorf("the oldest profile was kept past %d others", colourCacheSize)
	}
	bad := sourceColour{icc: []byte("not a profile")}
	if tr, err := c.transform(bad); err == nil || tr != nil {
		t.Errorf("bad profile: %v, %v, want an error", tr, err)
	}
	if _, ok := c.m[sha256.Sum256(bad.icc)]; ok {
		t.Error("a bad profile was kept")
	}
	// Shared by concurrent requests (run with -race).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := c.transform(variant(i % 3)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
