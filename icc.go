package main

// Colour management: picfit writes sRGB without a profile, so a source
// tagged with another colour space (an ICC profile in a JPEG, PNG or WebP,
// or PNG's gAMA/cHRM) has its colours converted to sRGB once decoded
// (after shrink-on-load, before the operations).
//
// Honoured: ICC v2 and v4 profiles of RGB, grey and CMYK devices that
// are matrix/TRC (rXYZ/gXYZ/bXYZ with curv or para curves, kTRC for grey)
// or LUT-based (A2B0 as mft1, mft2 or mAB ), to a PCS of XYZ or Lab.
// The intent is lcms's default, perceptual: the A2B0 table of a LUT
// profile (A2B1, then A2B2, when A2B0 is missing); matrix/TRC profiles
// have one transform for every intent, relative colorimetric. The
// profile connection space is D50 and the colorants of a profile are
// D50-adapted already (so a chad tag changes nothing here: lcms reads it
// only for absolute colorimetric); sRGB is taken as lcms builds it, its
// D65 primaries Bradford-adapted to D50. No black point compensation:
// the numbers are lcms's relative colorimetric ones (transicc -t 1),
// and its perceptual ones for a LUT profile whose A2B0 is all there is.
// lcms -t 0 forces black point compensation whenever a v4 profile is in
// the chain (its built-in sRGB is one), which lifts or lowers the black
// of some CMYK profiles by a few levels (11 for ghostscript's
// default_cmyk.icc).
// Ignored: sRGB-tagged sources (nothing to do), profiles of other
// device classes or colour spaces (Lab, named colour, device links),
// and anything malformed or over the bounds below: the source is then
// decoded as untagged sRGB and one line is logged.

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"sort"
	"sync"
)

const (
	// maxICCSize refuses a profile larger than this.
	maxICCSize = 4 << 20
	// maxICCTags bounds the tag table.
	maxICCTags = 200
	// maxCurveEntries bounds a sampled curve (curv table or LUT curve).
	maxCurveEntries = 1 << 16
	// maxCLUTEntries bounds a CLUT's grid points (all dimensions),
	// whatever the profile's size says.
	maxCLUTEntries = 1 << 21
	// gridRGB and gridCMYK are the grid sizes of the precomputed tables
	// of LUT profiles (3 and 4 inputs).
	gridRGB  = 33
	gridCMYK = 17
)

// errBadProfile is why a profile was ignored.
var errBadProfile = errors.New("bad icc profile")

func badProfile(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadProfile, fmt.Sprintf(format, args...))
}

// iccCurve is a one-dimensional transfer function on [0,1].
type iccCurve struct {
	kind   int // 0 identity, 1 gamma, 2 table, 3 parametric
	gamma  float64
	table  []float64 // kind 2, values in [0,1]
	fn     int       // kind 3: parametric function type 0..4
	params [7]float64
}

func (c *iccCurve) eval(x float64) float64 {
	x = clamp01(x)
	switch c.kind {
	case 1:
		return math.Pow(x, c.gamma)
	case 2:
		n := len(c.table) - 1
		f := x * float64(n)
		i := int(f)
		if i >= n {
			return c.table[n]
		}
		t := f - float64(i)
		return c.table[i]*(1-t) + c.table[i+1]*t
	case 3:
		p := c.params
		g, a, b, cc, d, e, f := p[0], p[1], p[2], p[3], p[4], p[5], p[6]
		pow := func(v float64) float64 {
			if v <= 0 {
				return 0
			}
			return math.Pow(v, g)
		}
		switch c.fn {
		case 0:
			return pow(x)
		case 1:
			if a != 0 && x >= -b/a {
				return pow(a*x + b)
			}
			return 0
		case 2:
			if a != 0 && x >= -b/a {
				return pow(a*x+b) + cc
			}
			return cc
		case 3:
			if x >= d {
				return pow(a*x + b)
			}
			return cc * x
		case 4:
			if x >= d {
				return pow(a*x+b) + e
			}
			return cc*x + f
		}
	}
	return x
}

// iccReader reads big-endian fields of a profile, bounds-checked.
type iccReader []byte

func (r iccReader) u32(off int) (uint32, bool) {
	if off < 0 || off+4 > len(r) {
		return 0, false
	}
	return binary.BigEndian.Uint32(r[off:]), true
}

func (r iccReader) u16(off int) (uint16, bool) {
	if off < 0 || off+2 > len(r) {
		return 0, false
	}
	return binary.BigEndian.Uint16(r[off:]), true
}

func (r iccReader) s15(off int) (float64, bool) {
	v, ok := r.u32(off)
	return float64(int32(v)) / 65536, ok
}

// parseCurve reads a curv or para element at the start of b and returns
// it with the element's size (unpadded).
func parseCurve(b []byte) (iccCurve, int, error) {
	r := iccReader(b)
	if len(b) < 12 {
		return iccCurve{}, 0, badProfile("truncated curve")
	}
	switch string(b[:4]) {
	case "curv":
		n, _ := r.u32(8)
		switch {
		case n == 0:
			return iccCurve{kind: 0}, 12, nil
		case n == 1:
			g, ok := r.u16(12)
			if !ok {
				return iccCurve{}, 0, badProfile("truncated curve")
			}
			return iccCurve{kind: 1, gamma: float64(g) / 256}, 14, nil
		case n > maxCurveEntries || 12+2*int(n) > len(b):
			return iccCurve{}, 0, badProfile("curve of %d entries", n)
		}
		t := make([]float64, n)
		for i := range t {
			v, _ := r.u16(12 + 2*i)
			t[i] = float64(v) / 65535
		}
		return iccCurve{kind: 2, table: t}, 12 + 2*int(n), nil
	case "para":
		fn, _ := r.u16(8)
		counts := [5]int{1, 3, 4, 5, 7}
		if fn > 4 {
			return iccCurve{}, 0, badProfile("parametric curve type %d", fn)
		}
		c := iccCurve{kind: 3, fn: int(fn)}
		n := counts[fn]
		if 12+4*n > len(b) {
			return iccCurve{}, 0, badProfile("truncated parametric curve")
		}
		for i := range n {
			c.params[i], _ = r.s15(12 + 4*i)
		}
		return c, 12 + 4*n, nil
	}
	return iccCurve{}, 0, badProfile("curve type %q", b[:4])
}

// iccLUT is an A2B pipeline: input curves, a CLUT, then (mAB) M curves,
// a matrix and B curves, from device values in [0,1] to the PCS as
// encoded in [0,1] (pcsDecode makes XYZ of it).
type iccLUT struct {
	in, out int
	a       []iccCurve // input curves (A curves, or mft's input tables)
	grid    []int      // grid points per input, nil: no CLUT
	clut    []float64  // out values per grid point, [0,1]; first input slowest
	m       []iccCurve
	matrix  *[12]float64 // 3x3 then offsets
	b       []iccCurve   // output curves (B curves, or mft's output tables)
	legacy  bool         // mft2 Lab encoding (0xff00 is L 100)
	eight   bool         // mft1 Lab encoding
}

// parseMFT reads an mft1 or mft2 element.
func parseMFT(b []byte) (*iccLUT, error) {
	r := iccReader(b)
	if len(b) < 48 {
		return nil, badProfile("truncated lut")
	}
	l := &iccLUT{in: int(b[8]), out: int(b[9])}
	g := int(b[10])
	if l.in < 1 || l.in > 4 || l.out != 3 || g < 2 {
		return nil, badProfile("lut of %d inputs, %d outputs, grid %d", l.in, l.out, g)
	}
	wide := string(b[:4]) == "mft2"
	size := 1
	inN, outN, off := 256, 256, 48
	if wide {
		i, ok1 := r.u16(48)
		o, ok2 := r.u16(50)
		if !ok1 || !ok2 || i < 2 || o < 2 || int(i) > 4096 || int(o) > 4096 {
			return nil, badProfile("lut table sizes %d, %d", i, o)
		}
		inN, outN, off, size = int(i), int(o), 52, 2
	} else {
		l.eight = true
	}
	l.legacy = wide
	read := func(n int) []float64 {
		t := make([]float64, n)
		for i := range t {
			if size == 2 {
				v, _ := r.u16(off + 2*i)
				t[i] = float64(v) / 65535
			} else {
				t[i] = float64(b[off+i]) / 255
			}
		}
		off += n * size
		return t
	}
	points := 1
	for range l.in {
		points *= g
	}
	need := off + size*(l.in*inN+points*l.out+l.out*outN)
	if need > len(b) || points > maxCLUTEntries {
		return nil, badProfile("lut of %d bytes in %d", need, len(b))
	}
	for range l.in {
		l.a = append(l.a, iccCurve{kind: 2, table: read(inN)})
	}
	l.grid = make([]int, l.in)
	for i := range l.grid {
		l.grid[i] = g
	}
	l.clut = read(points * l.out)
	for range l.out {
		l.b = append(l.b, iccCurve{kind: 2, table: read(outN)})
	}
	return l, nil
}

// parseMAB reads an mAB element.
func parseMAB(b []byte) (*iccLUT, error) {
	r := iccReader(b)
	if len(b) < 32 {
		return nil, badProfile("truncated mAB")
	}
	l := &iccLUT{in: int(b[8]), out: int(b[9])}
	if l.in < 1 || l.in > 4 || l.out != 3 {
		return nil, badProfile("mAB of %d inputs, %d outputs", l.in, l.out)
	}
	offB, _ := r.u32(12)
	offMat, _ := r.u32(16)
	offM, _ := r.u32(20)
	offCLUT, _ := r.u32(24)
	offA, _ := r.u32(28)
	curves := func(off uint32, n int) ([]iccCurve, error) {
		if off == 0 {
			return nil, nil
		}
		p := int(off)
		var cs []iccCurve
		for range n {
			if p < 0 || p >= len(b) {
				return nil, badProfile("mAB curve out of range")
			}
			c, size, err := parseCurve(b[p:])
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
			p += (size + 3) &^ 3
		}
		return cs, nil
	}
	var err error
	if l.b, err = curves(offB, l.out); err != nil {
		return nil, err
	}
	if len(l.b) == 0 {
		return nil, badProfile("mAB without B curves")
	}
	if l.m, err = curves(offM, 3); err != nil {
		return nil, err
	}
	if offMat != 0 {
		var m [12]float64
		for i := range m {
			v, ok := r.s15(int(offMat) + 4*i)
			if !ok {
				return nil, badProfile("mAB matrix out of range")
			}
			m[i] = v
		}
		l.matrix = &m
	}
	if l.a, err = curves(offA, l.in); err != nil {
		return nil, err
	}
	if offCLUT != 0 {
		p := int(offCLUT)
		if p+20 > len(b) {
			return nil, badProfile("mAB clut out of range")
		}
		points := 1
		l.grid = make([]int, l.in)
		for i := range l.in {
			g := int(b[p+i])
			if g < 2 {
				return nil, badProfile("mAB grid of %d points", g)
			}
			l.grid[i] = g
			points *= g
		}
		prec := int(b[p+16])
		if prec != 1 && prec != 2 {
			return nil, badProfile("mAB clut precision %d", prec)
		}
		if points > maxCLUTEntries || p+20+points*l.out*prec > len(b) {
			return nil, badProfile("mAB clut of %d points past the end", points)
		}
		l.clut = make([]float64, points*l.out)
		for i := range l.clut {
			if prec == 2 {
				v, _ := r.u16(p + 20 + 2*i)
				l.clut[i] = float64(v) / 65535
			} else {
				l.clut[i] = float64(b[p+20+i]) / 255
			}
		}
	} else if l.in != 3 {
		return nil, badProfile("mAB of %d inputs without a clut", l.in)
	}
	return l, nil
}

// eval runs the pipeline on device values in [0,1].
func (l *iccLUT) eval(in []float64) [3]float64 {
	var v [4]float64
	copy(v[:], in)
	for i, c := range l.a {
		v[i] = c.eval(v[i])
	}
	var o [3]float64
	if l.grid != nil {
		o = l.lookup(v[:l.in])
	} else {
		o = [3]float64{v[0], v[1], v[2]}
	}
	for i, c := range l.m {
		o[i] = c.eval(o[i])
	}
	if m := l.matrix; m != nil {
		o = [3]float64{
			clamp01(m[0]*o[0] + m[1]*o[1] + m[2]*o[2] + m[9]),
			clamp01(m[3]*o[0] + m[4]*o[1] + m[5]*o[2] + m[10]),
			clamp01(m[6]*o[0] + m[7]*o[1] + m[8]*o[2] + m[11]),
		}
	}
	for i, c := range l.b {
		o[i] = c.eval(o[i])
	}
	return o
}

// lookup interpolates the CLUT as lcms does: tetrahedral in three
// dimensions (the last three inputs), linear along the first of four,
// linear for one or two.
func (l *iccLUT) lookup(in []float64) [3]float64 {
	var strides [4]int
	stride := strides[:l.in]
	s := l.out
	for i := l.in - 1; i >= 0; i-- {
		stride[i] = s
		s *= l.grid[i]
	}
	pos := func(i int) (int, float64) {
		f := clamp01(in[i]) * float64(l.grid[i]-1)
		k := int(f)
		if k >= l.grid[i]-1 {
			k = l.grid[i] - 2
		}
		return k, f - float64(k)
	}
	switch l.in {
	case 3:
		return l.tetra(0, stride, in)
	case 4:
		k, t := pos(0)
		a := l.tetra(k*stride[0], stride[1:], in[1:])
		b := l.tetra((k+1)*stride[0], stride[1:], in[1:])
		return [3]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
	}
	// One or two inputs: multilinear.
	var o [3]float64
	corners := 1 << l.in
	var ks [2]int
	var ts [2]float64
	for i := range l.in {
		ks[i], ts[i] = pos(i)
	}
	for c := range corners {
		w, base := 1.0, 0
		for i := range l.in {
			if c>>i&1 == 1 {
				w *= ts[i]
				base += (ks[i] + 1) * stride[i]
			} else {
				w *= 1 - ts[i]
				base += ks[i] * stride[i]
			}
		}
		for j := range o {
			o[j] += w * l.clut[base+j]
		}
	}
	return o
}

// tetra is tetrahedral interpolation in the three-dimensional part of
// the CLUT at base with strides s, at in[0..2].
func (l *iccLUT) tetra(base int, s []int, in []float64) [3]float64 {
	grid := l.grid[len(l.grid)-3:]
	var k [3]int
	var t [3]float64
	for i := range 3 {
		f := clamp01(in[i]) * float64(grid[i]-1)
		k[i] = int(f)
		if k[i] >= grid[i]-1 {
			k[i] = grid[i] - 2
		}
		t[i] = f - float64(k[i])
		base += k[i] * s[i]
	}
	return tetrahedral(l.clut, base, [3]int{s[0], s[1], s[2]}, t)
}

// tetrahedral interpolates the three outputs of a 3-D grid c (three
// values a point, strides s) in the cell at base, at the fractions r
// along each axis, in the tetrahedron that holds them, as lcms does.
func tetrahedral[F float32 | float64](c []F, base int, s [3]int, r [3]F) [3]F {
	at := func(dx, dy, dz, j int) F { return c[base+dx*s[0]+dy*s[1]+dz*s[2]+j] }
	rx, ry, rz := r[0], r[1], r[2]
	var o [3]F
	for j := range 3 {
		c0 := at(0, 0, 0, j)
		var c1, c2, c3 F
		switch {
		case rx >= ry && ry >= rz:
			c1 = at(1, 0, 0, j) - c0
			c2 = at(1, 1, 0, j) - at(1, 0, 0, j)
			c3 = at(1, 1, 1, j) - at(1, 1, 0, j)
		case rx >= rz && rz >= ry:
			c1 = at(1, 0, 0, j) - c0
			c2 = at(1, 1, 1, j) - at(1, 0, 1, j)
			c3 = at(1, 0, 1, j) - at(1, 0, 0, j)
		case rz >= rx && rx >= ry:
			c1 = at(1, 0, 1, j) - at(0, 0, 1, j)
			c2 = at(1, 1, 1, j) - at(1, 0, 1, j)
			c3 = at(0, 0, 1, j) - c0
		case ry >= rx && rx >= rz:
			c1 = at(1, 1, 0, j) - at(0, 1, 0, j)
			c2 = at(0, 1, 0, j) - c0
			c3 = at(1, 1, 1, j) - at(1, 1, 0, j)
		case ry >= rz && rz >= rx:
			c1 = at(1, 1, 1, j) - at(0, 1, 1, j)
			c2 = at(0, 1, 0, j) - c0
			c3 = at(0, 1, 1, j) - at(0, 1, 0, j)
		default: // rz >= ry >= rx
			c1 = at(1, 1, 1, j) - at(0, 1, 1, j)
			c2 = at(0, 1, 1, j) - at(0, 0, 1, j)
			c3 = at(0, 0, 1, j) - c0
		}
		o[j] = c0 + c1*rx + c2*ry + c3*rz
	}
	return o
}

// iccProfile is what the conversion needs of a parsed profile.
type iccProfile struct {
	space    string // "RGB ", "GRAY", "CMYK"
	pcsLab   bool
	version  uint32
	matrix   [3][3]float64 // device linear RGB to XYZ D50 (matrix/TRC)
	trc      [3]iccCurve   // RGB, or grey's in trc[0]
	lut      *iccLUT       // A2B, preferred when present
	isMatrix bool
}

// parseICC reads a profile, refusing anything malformed or over the
// bounds (size, tag count, curve and CLUT sizes) with errBadProfile.
func parseICC(data []byte) (*iccProfile, error) {
	if len(data) > maxICCSize {
		return nil, badProfile("%d bytes, over the limit of %d", len(data), maxICCSize)
	}
	if len(data) < 132 || string(data[36:40]) != "acsp" {
		return nil, badProfile("no profile header")
	}
	r := iccReader(data)
	size, _ := r.u32(0)
	if int64(size) > int64(len(data)) || size < 132 {
		return nil, badProfile("declared size %d of %d bytes", size, len(data))
	}
	data = data[:size]
	r = data
	p := &iccProfile{space: string(data[16:20])}
	p.version, _ = r.u32(8)
	switch pcs := string(data[20:24]); pcs {
	case "Lab ":
		p.pcsLab = true
	case "XYZ ":
	default:
		return nil, badProfile("connection space %q", pcs)
	}
	switch string(data[12:16]) {
	case "scnr", "mntr", "prtr", "spac":
	default:
		return nil, badProfile("device class %q", data[12:16])
	}
	n, _ := r.u32(128)
	if n > maxICCTags || 132+12*int(n) > len(data) {
		return nil, badProfile("%d tags", n)
	}
	tags := map[string][]byte{}
	for i := range int(n) {
		e := 132 + 12*i
		off, _ := r.u32(e + 4)
		ln, _ := r.u32(e + 8)
		if int64(off)+int64(ln) > int64(len(data)) || ln < 8 {
			return nil, badProfile("tag %q out of range", data[e:e+4])
		}
		tags[string(data[e:e+4])] = data[off : off+ln]
	}
	lut := func(sig string) (*iccLUT, error) {
		b := tags[sig]
		if b == nil {
			return nil, nil
		}
		switch string(b[:4]) {
		case "mft1", "mft2":
			return parseMFT(b)
		case "mAB ":
			return parseMAB(b)
		}
		return nil, badProfile("%s of type %q", sig, b[:4])
	}
	for _, sig := range []string{"A2B0", "A2B1", "A2B2"} {
		l, err := lut(sig)
		if err != nil {
			return nil, err
		}
		if l != nil {
			p.lut = l
			break
		}
	}
	want := map[string]int{"RGB ": 3, "GRAY": 1, "CMYK": 4}[p.space]
	if want == 0 {
		return nil, badProfile("colour space %q", p.space)
	}
	if p.lut != nil {
		if p.lut.in != want {
			return nil, badProfile("lut of %d inputs for %q", p.lut.in, p.space)
		}
		return p, nil
	}
	curve := func(sig string) (iccCurve, error) {
		b := tags[sig]
		if b == nil {
			return iccCurve{}, badProfile("no %s", sig)
		}
		c, _, err := parseCurve(b)
		return c, err
	}
	var err error
	switch p.space {
	case "GRAY":
		p.trc[0], err = curve("kTRC")
		p.isMatrix = err == nil
		return p, err
	case "RGB ":
		for i, s := range []string{"r", "g", "b"} {
			if p.trc[i], err = curve(s + "TRC"); err != nil {
				return nil, err
			}
			b := tags[s+"XYZ"]
			if len(b) < 20 || string(b[:4]) != "XYZ " {
				return nil, badProfile("no %sXYZ", s)
			}
			for j := range 3 {
				p.matrix[j][i], _ = iccReader(b).s15(8 + 4*j)
			}
		}
		p.isMatrix = true
		return p, nil
	}
	return nil, badProfile("CMYK profile without A2B0")
}

// srgbToXYZD50 is lcms's sRGB: D65 primaries Bradford-adapted to D50, as
// in sRGB profiles (colord's sRGB.icc has these to 4 decimals).
func srgbToXYZD50() [3][3]float64 {
	xy := [3][2]float64{{0.64, 0.33}, {0.30, 0.60}, {0.15, 0.06}}
	return primariesToXYZD50(xy, [2]float64{0.3127, 0.3290})
}

// primariesToXYZD50 is the RGB to XYZ matrix of primaries xy and white
// point w, adapted to D50 with Bradford (as lcms's cmsCreateRGBProfile).
func primariesToXYZD50(xy [3][2]float64, w [2]float64) [3][3]float64 {
	var m [3][3]float64
	for i, p := range xy {
		m[0][i] = p[0] / p[1]
		m[1][i] = 1
		m[2][i] = (1 - p[0] - p[1]) / p[1]
	}
	W := [3]float64{w[0] / w[1], 1, (1 - w[0] - w[1]) / w[1]}
	s := mulVec(invert(m), W)
	for r := range 3 {
		for c := range 3 {
			m[r][c] *= s[c]
		}
	}
	return mulMat(bradford(W, [3]float64{0.9642, 1, 0.8249}), m)
}

// bradford is the chromatic adaptation from white src to white dst.
func bradford(src, dst [3]float64) [3][3]float64 {
	B := [3][3]float64{{0.8951, 0.2664, -0.1614}, {-0.7502, 1.7135, 0.0367}, {0.0389, -0.0685, 1.0296}}
	s, d := mulVec(B, src), mulVec(B, dst)
	var D [3][3]float64
	for i := range 3 {
		D[i][i] = d[i] / s[i]
	}
	return mulMat(invert(B), mulMat(D, B))
}

func mulMat(a, b [3][3]float64) [3][3]float64 {
	var m [3][3]float64
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				m[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return m
}

func mulVec(a [3][3]float64, v [3]float64) [3]float64 {
	return [3]float64{
		a[0][0]*v[0] + a[0][1]*v[1] + a[0][2]*v[2],
		a[1][0]*v[0] + a[1][1]*v[1] + a[1][2]*v[2],
		a[2][0]*v[0] + a[2][1]*v[1] + a[2][2]*v[2],
	}
}

// invert inverts a 3x3 matrix; a singular one gives zeros (parseICC's
// callers check the determinant first).
func invert(a [3][3]float64) [3][3]float64 {
	det := determinant(a)
	var m [3][3]float64
	if det == 0 {
		return m
	}
	for i := range 3 {
		for j := range 3 {
			i1, i2 := (j+1)%3, (j+2)%3
			j1, j2 := (i+1)%3, (i+2)%3
			m[i][j] = (a[i1][j1]*a[i2][j2] - a[i1][j2]*a[i2][j1]) / det
		}
	}
	return m
}

func determinant(a [3][3]float64) float64 {
	return a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) -
		a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) +
		a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
}

func clamp01(x float64) float64 {
	if x > 0 {
		if x < 1 {
			return x
		}
		return 1
	}
	return 0 // NaN too
}

// srgbEncode is sRGB's transfer function, linear to encoded, on [0,1].
func srgbEncode(v float64) float64 {
	v = clamp01(v)
	if v <= 0.0031308 {
		return 12.92 * v
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

// linearLevels is the size of the table from linear light to 8 bits.
const linearLevels = 1 << 14

// colourTransform converts a source's colours to sRGB, from tables
// precomputed once per source: for RGB matrix/TRC and grey profiles, a
// table from 8 bits to linear light per channel, a 3x3 matrix and a
// table from linear light to 8-bit sRGB; for LUT profiles a grid of
// sRGB values over the device values, interpolated.
type colourTransform struct {
	inputs int // 1 grey, 3 RGB, 4 CMYK (ink, 0 = none)
	// matrix/TRC
	lin    [3][256]float32
	matrix [3][3]float32
	enc    []byte // linearLevels+1 entries
	// LUT
	grid int
	lut  []float32 // grid^inputs points of 3 linear sRGB values, unclipped
}

// newColourTransform builds the conversion of p's device values to sRGB.
func newColourTransform(p *iccProfile) (*colourTransform, error) {
	want := map[string]int{"RGB ": 3, "GRAY": 1, "CMYK": 4}[p.space]
	t := &colourTransform{inputs: want, enc: make([]byte, linearLevels+1)}
	for i := range t.enc {
		t.enc[i] = byte(math.Round(255 * srgbEncode(float64(i)/linearLevels)))
	}
	toSRGB := invert(srgbToXYZD50())
	if p.lut == nil {
		if determinant(p.matrix) == 0 && p.space == "RGB " {
			return nil, badProfile("singular colorant matrix")
		}
		m := mulMat(toSRGB, p.matrix)
		if p.space == "GRAY" { // Y times the D50 white
			w := mulVec(toSRGB, [3]float64{0.9642, 1, 0.8249})
			m = [3][3]float64{{w[0]}, {w[1]}, {w[2]}}
			p.trc[1], p.trc[2] = p.trc[0], p.trc[0]
		}
		for c := range 3 {
			for v := range 256 {
				t.lin[c][v] = float32(p.trc[c].eval(float64(v) / 255))
			}
			for j := range 3 {
				t.matrix[c][j] = float32(m[c][j])
			}
		}
		return t, nil
	}
	l := p.lut
	t.grid = gridRGB
	if want == 4 {
		t.grid = gridCMYK
	}
	if want == 1 {
		t.grid = 256
	}
	points := 1
	for range want {
		points *= t.grid
	}
	t.lut = make([]float32, 3*points)
	in := make([]float64, want)
	idx := make([]int, want)
	for n := range points {
		for i := range want {
			in[i] = float64(idx[i]) / float64(t.grid-1)
		}
		pcs := l.eval(in)
		xyz := pcsToXYZ(pcs, p.pcsLab, l)
		rgb := mulVec(toSRGB, xyz)
		for j := range 3 { // linear, unclipped: rgb interpolates, then clips and encodes
			t.lut[3*n+j] = float32(rgb[j])
		}
		for i := want - 1; i >= 0; i-- { // last input fastest
			if idx[i]++; idx[i] < t.grid {
				break
			}
			idx[i] = 0
		}
	}
	return t, nil
}

// pcsToXYZ decodes a PCS value as the LUT encodes it to XYZ (D50).
func pcsToXYZ(v [3]float64, lab bool, l *iccLUT) [3]float64 {
	if !lab {
		const k = 65535.0 / 32768
		return [3]float64{v[0] * k, v[1] * k, v[2] * k}
	}
	var L, a, b float64
	switch {
	case l.eight:
		L, a, b = v[0]*100, v[1]*255-128, v[2]*255-128
	case l.legacy:
		L, a, b = v[0]*65535/65280*100, v[1]*65535/256-128, v[2]*65535/256-128
	default:
		L, a, b = v[0]*100, v[1]*255-128, v[2]*255-128
	}
	fy := (L + 16) / 116
	fx := fy + a/500
	fz := fy - b/200
	f := func(t float64) float64 {
		if t > 6.0/29 {
			return t * t * t
		}
		return 3 * (6.0 / 29) * (6.0 / 29) * (t - 4.0/29)
	}
	return [3]float64{0.9642 * f(fx), f(fy), 0.8249 * f(fz)}
}

// rgb converts one pixel of device values (CMYK: ink amounts) to sRGB.
func (t *colourTransform) rgb(c [4]byte) (byte, byte, byte) {
	if t.lut == nil {
		r, g, b := t.lin[0][c[0]], t.lin[1][c[1]], t.lin[2][c[2]]
		m := &t.matrix
		return t.encode(m[0][0]*r + m[0][1]*g + m[0][2]*b),
			t.encode(m[1][0]*r + m[1][1]*g + m[1][2]*b),
			t.encode(m[2][0]*r + m[2][1]*g + m[2][2]*b)
	}
	if t.inputs == 1 {
		p := t.lut[3*int(c[0]):]
		return t.encode(p[0]), t.encode(p[1]), t.encode(p[2])
	}
	var o [3]float32
	if t.inputs == 3 {
		o = t.tetra(0, c[0], c[1], c[2])
	} else {
		f := float32(c[0]) * float32(t.grid-1) / 255
		k := int(f)
		if k >= t.grid-1 {
			k = t.grid - 2
		}
		w := f - float32(k)
		g3 := t.grid * t.grid * t.grid * 3
		a := t.tetra(k*g3, c[1], c[2], c[3])
		b := t.tetra((k+1)*g3, c[1], c[2], c[3])
		for j := range o {
			o[j] = a[j] + (b[j]-a[j])*w
		}
	}
	return t.encode(o[0]), t.encode(o[1]), t.encode(o[2])
}

func (t *colourTransform) encode(v float32) byte {
	switch {
	case !(v > 0): // NaN too
		return t.enc[0]
	case v >= 1:
		return t.enc[linearLevels]
	}
	return t.enc[int(v*linearLevels+0.5)]
}

// tetra interpolates the 3-D part of the table at base.
func (t *colourTransform) tetra(base int, x, y, z byte) [3]float32 {
	n := t.grid
	s := [3]int{n * n * 3, n * 3, 3}
	var k [3]int
	var r [3]float32
	for i, v := range [3]byte{x, y, z} {
		f := float32(v) * float32(n-1) / 255
		k[i] = int(f)
		if k[i] >= n-1 {
			k[i] = n - 2
		}
		r[i] = f - float32(k[i])
		base += k[i] * s[i]
	}
	return tetrahedral(t.lut, base, s, r)
}

// applyRGBA converts an RGBA image (premultiplied, as image.RGBA holds
// it) in place; t must have 1 or 3 inputs.
func (t *colourTransform) applyRGBA(ctx context.Context, img *image.RGBA) error {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	return parallel(ctx, h, int64(w)*int64(h)*4, func(lo, hi int) {
		for y := lo; y < hi && ctx.Err() == nil; y++ {
			t.convertRow(img.Pix[y*img.Stride : y*img.Stride+4*w])
		}
	})
}

// convertRow converts a row of premultiplied RGBA pixels in place.
func (t *colourTransform) convertRow(row []byte) {
	if t.lut == nil {
		t.matrixRow(row)
		return
	}
	for x := 0; x+4 <= len(row); x += 4 {
		p := row[x : x+4 : x+4]
		if p[3] != 255 {
			t.rgbPremul(p)
			continue
		}
		p[0], p[1], p[2] = t.rgb([4]byte{p[0], p[1], p[2]})
	}
}

// colourAnim converts an animation's frames as they are walked: its own
// canvas holds the converted pixels, updated where the walk's changed.
type colourAnim struct {
	animation
	t *colourTransform
}

func (a colourAnim) eachCanvas(ctx context.Context, width, height int, fn func(img *image.RGBA, changed []canvasRun, delay int) error) error {
	var out *image.RGBA
	return a.animation.eachCanvas(ctx, width, height, func(img *image.RGBA, changed []canvasRun, delay int) error {
		if out == nil || out.Rect != img.Rect {
			out = image.NewRGBA(img.Rect)
		}
		for _, r := range changed {
			i, j := img.PixOffset(r.x0, r.y), img.PixOffset(r.x1, r.y)
			k := out.PixOffset(r.x0, r.y)
			row := out.Pix[k : k+j-i]
			copy(row, img.Pix[i:j])
			a.t.convertRow(row)
		}
		return fn(out, changed, delay)
	})
}

// cmykToRGBA converts a 4-component JPEG's planes with t (a CMYK
// profile), at the decoder's output size: Adobe's inverted CMYK (and
// YCCK) is turned into ink amounts first, as image/jpeg does and as
// lcms's jpgicc reads libjpeg's output (TestICCCMYKAgainstJpgicc).
func (t *colourTransform) cmykToRGBA(ctx context.Context, d *jpegDecoder) (*image.RGBA, error) {
	model, err := d.colourModel()
	if err != nil {
		return nil, fmt.Errorf("decode jpeg: %w", err)
	}
	if model != jpegCMYK && model != jpegYCCK {
		return nil, badProfile("CMYK profile on a %d-component jpeg", d.ncomp)
	}
	w, h := d.outSize()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	var ups [4]*upsampler
	for i := range 4 {
		ups[i] = newUpsampler(&d.comp[i], w)
	}
	err = parallel(ctx, h, int64(w)*int64(h)*4, func(lo, hi int) {
		var rows [4][]byte
		var bufs [4]upsampleBuf
		for y := lo; y < hi && ctx.Err() == nil; y++ {
			for i := range 4 {
				rows[i] = ups[i].row(y, &bufs[i])
			}
			out := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
			for x := range w {
				// Ink amounts: Adobe CMYK stores 255 - ink; YCCK codes
				// the ink of C, M, Y as R, G, B (libjpeg's inversion
				// cancels Adobe's) and stores 255 - ink for K.
				ink := [4]byte{255 - rows[0][x], 255 - rows[1][x], 255 - rows[2][x], 255 - rows[3][x]}
				if model == jpegYCCK {
					ink[0], ink[1], ink[2] = ycbcrToRGB(rows[0][x], rows[1][x], rows[2][x])
				}
				p := out[4*x : 4*x+4 : 4*x+4]
				p[0], p[1], p[2] = t.rgb(ink)
				p[3] = 0xff
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("decode jpeg: %w", err)
	}
	return dst, nil
}

// matrixRow is applyRGBA's loop for a matrix transform, inlined: the
// opaque pixels of the row are converted, the others left to rgbSlow.
func (t *colourTransform) matrixRow(row []byte) {
	l0, l1, l2 := &t.lin[0], &t.lin[1], &t.lin[2]
	m := t.matrix
	enc := t.enc[:linearLevels+1]
	idx := func(v float32) int {
		switch {
		case !(v > 0):
			return 0
		case v >= 1:
			return linearLevels
		}
		return int(v*linearLevels + 0.5)
	}
	for x := 0; x+4 <= len(row); x += 4 {
		p := row[x : x+4 : x+4]
		if p[3] != 255 {
			t.rgbPremul(p)
			continue
		}
		r, g, b := l0[p[0]], l1[p[1]], l2[p[2]]
		p[0] = enc[idx(m[0][0]*r+m[0][1]*g+m[0][2]*b)]
		p[1] = enc[idx(m[1][0]*r+m[1][1]*g+m[1][2]*b)]
		p[2] = enc[idx(m[2][0]*r+m[2][1]*g+m[2][2]*b)]
	}
}

// rgbPremul converts one premultiplied pixel that is not opaque.
func (t *colourTransform) rgbPremul(p []byte) {
	a := p[3]
	if a == 0 {
		return
	}
	un := func(v byte) byte { return byte(min(255, (int(v)*255+int(a)/2)/int(a))) }
	r, g, b := t.rgb([4]byte{un(p[0]), un(p[1]), un(p[2])})
	pm := func(v byte) byte { return byte((int(v)*int(a) + 127) / 255) }
	p[0], p[1], p[2] = pm(r), pm(g), pm(b)
}

// sourceColour is a source's colour information as its header carries it.
type sourceColour struct {
	icc  []byte // the ICC profile, or nil
	srgb bool   // PNG sRGB chunk: no conversion
	// PNG gAMA (gamma*100000, 0 if absent) and cHRM (white x,y then red,
	// green, blue x,y, times 100000).
	gama    uint32
	chrm    [8]uint32
	hasCHRM bool
}

// readColour finds a source's colour information: a JPEG's APP2
// ICC_PROFILE chunks, a PNG's iCCP, sRGB, gAMA and cHRM chunks, a WebP's
// ICCP chunk. A profile split or encoded badly is an error (the caller
// logs it and treats the source as untagged).
func readColour(format format, data []byte) (sourceColour, error) {
	switch format {
	case formatJPEG:
		return jpegICC(data)
	case formatPNG:
		return pngColour(data)
	case formatWebP:
		return webpICC(data)
	}
	return sourceColour{}, nil
}

// jpegICC gathers the APP2 ICC_PROFILE chunks before the first scan:
// each is "ICC_PROFILE\0", its sequence number (from 1), the count, then
// its part of the profile. They may come in any order; a missing or
// repeated chunk makes the profile unusable.
func jpegICC(data []byte) (sourceColour, error) {
	type chunk struct {
		seq  int
		data []byte
	}
	var chunks []chunk
	count, total := 0, 0
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xff {
			break
		}
		m := data[p+1]
		if m == 0xff {
			p++
			continue
		}
		if m == 0xd8 || m >= 0xd0 && m <= 0xd7 || m == 0x01 {
			p += 2
			continue
		}
		if m == 0xda || m == 0xd9 {
			break
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			break
		}
		seg := data[p+4 : p+2+n]
		if m == 0xe2 && len(seg) >= 14 && string(seg[:12]) == "ICC_PROFILE\x00" {
			if count != 0 && int(seg[13]) != count || seg[13] == 0 || seg[12] == 0 {
				return sourceColour{}, badProfile("jpeg ICC_PROFILE chunk %d of %d", seg[12], seg[13])
			}
			count = int(seg[13])
			chunks = append(chunks, chunk{int(seg[12]), seg[14:]})
			if total += len(seg) - 14; total > maxICCSize {
				return sourceColour{}, badProfile("over %d bytes", maxICCSize)
			}
		}
		p += 2 + n
	}
	if len(chunks) == 0 {
		return sourceColour{}, nil
	}
	sort.SliceStable(chunks, func(i, j int) bool { return chunks[i].seq < chunks[j].seq })
	if len(chunks) != count {
		return sourceColour{}, badProfile("jpeg has %d of %d ICC_PROFILE chunks", len(chunks), count)
	}
	icc := make([]byte, 0, total)
	for i, c := range chunks {
		if c.seq != i+1 {
			return sourceColour{}, badProfile("jpeg ICC_PROFILE chunk %d missing", i+1)
		}
		icc = append(icc, c.data...)
	}
	return sourceColour{icc: icc}, nil
}

// pngColour reads the colour chunks before IDAT (where the format puts
// them); CRCs are left to the decoder.
func pngColour(data []byte) (sourceColour, error) {
	var s sourceColour
	for p := 8; p+8 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		if n < 0 || n > len(data)-p-12 {
			break
		}
		b := data[p+8 : p+8+n]
		switch typ {
		case "IDAT", "IEND":
			return s, nil
		case "sRGB":
			s.srgb = true
		case "gAMA":
			if n == 4 {
				s.gama = binary.BigEndian.Uint32(b)
			}
		case "cHRM":
			if n == 32 {
				for i := range s.chrm {
					s.chrm[i] = binary.BigEndian.Uint32(b[4*i:])
				}
				s.hasCHRM = true
			}
		case "iCCP":
			i := bytes.IndexByte(b, 0)
			if i < 1 || i > 79 || i+2 > len(b) || b[i+1] != 0 {
				return sourceColour{}, badProfile("png iCCP header")
			}
			z, err := zlib.NewReader(bytes.NewReader(b[i+2:]))
			if err != nil {
				return sourceColour{}, badProfile("png iCCP: %v", err)
			}
			icc, err := io.ReadAll(io.LimitReader(z, maxICCSize+1))
			if err != nil {
				return sourceColour{}, badProfile("png iCCP: %v", err)
			}
			if len(icc) > maxICCSize {
				return sourceColour{}, badProfile("png iCCP over %d bytes", maxICCSize)
			}
			s.icc = icc
		}
		p += 12 + n
	}
	return s, nil
}

// webpICC reads the ICCP chunk of an extended (VP8X) WebP.
func webpICC(data []byte) (sourceColour, error) {
	if len(data) < 30 || string(data[12:16]) != "VP8X" || data[20]&0x20 == 0 {
		return sourceColour{}, nil
	}
	for p := 12; p+8 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[p+4:]))
		if n < 0 || n > len(data)-p-8 {
			return sourceColour{}, badProfile("webp chunk past the end")
		}
		if string(data[p:p+4]) == "ICCP" {
			return sourceColour{icc: data[p+8 : p+8+n]}, nil
		}
		p += 8 + n + n&1
	}
	return sourceColour{}, nil
}

// isSRGB tells whether a profile describes sRGB closely enough that
// converting would change nothing: RGB colorants within 0.0005 of lcms's
// sRGB and the sRGB curve to 1/1000 at a few points.
func (p *iccProfile) isSRGB() bool {
	if !p.isMatrix || p.space != "RGB " {
		return false
	}
	s := srgbToXYZD50()
	for i := range 3 {
		for j := range 3 {
			if math.Abs(s[i][j]-p.matrix[i][j]) > 0.0005 {
				return false
			}
		}
	}
	for c := range 3 {
		for _, v := range []float64{0.02, 0.1, 0.3, 0.6, 0.9} {
			want := v / 12.92
			if v > 0.04045 {
				want = math.Pow((v+0.055)/1.055, 2.4)
			}
			if math.Abs(p.trc[c].eval(v)-want) > 0.001 {
				return false
			}
		}
	}
	return true
}

// transform is the conversion to sRGB a source's colour information
// asks for: nil when there is none to do.
func (s sourceColour) transform() (*colourTransform, error) {
	if s.icc != nil {
		p, err := parseICC(s.icc)
		if err != nil {
			return nil, err
		}
		if p.isSRGB() {
			return nil, nil
		}
		return newColourTransform(p)
	}
	if s.srgb || s.gama == 0 && !s.hasCHRM {
		return nil, nil
	}
	// gAMA (and cHRM): a power law with these primaries. gAMA 45455
	// without cHRM (or with sRGB's) is what sRGB writers put there:
	// browsers and libvips treat it as sRGB, so do we.
	gamma := 1 / 0.45455
	if s.gama != 0 {
		gamma = 100000 / float64(s.gama)
	}
	srgbCHRM := [8]uint32{31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000}
	xy := [3][2]float64{{0.64, 0.33}, {0.30, 0.60}, {0.15, 0.06}}
	w := [2]float64{0.3127, 0.3290}
	sameCHRM := true
	if s.hasCHRM {
		for i, v := range s.chrm {
			if math.Abs(float64(v)-float64(srgbCHRM[i])) > 100 {
				sameCHRM = false
			}
		}
		if s.chrm[1] == 0 || s.chrm[3] == 0 || s.chrm[5] == 0 || s.chrm[7] == 0 {
			return nil, badProfile("png cHRM with a zero y")
		}
		w = [2]float64{float64(s.chrm[0]) / 1e5, float64(s.chrm[1]) / 1e5}
		for i := range xy {
			xy[i] = [2]float64{float64(s.chrm[2+2*i]) / 1e5, float64(s.chrm[3+2*i]) / 1e5}
		}
	}
	if sameCHRM && math.Abs(gamma*0.45455-1) < 0.02 {
		return nil, nil
	}
	if gamma < 0.2 || gamma > 5 {
		return nil, badProfile("png gAMA %d", s.gama)
	}
	p := &iccProfile{space: "RGB ", isMatrix: true, matrix: primariesToXYZD50(xy, w)}
	if determinant(p.matrix) == 0 || math.IsNaN(p.matrix[0][0]) || math.IsInf(p.matrix[0][0], 0) {
		return nil, badProfile("png cHRM primaries")
	}
	for i := range p.trc {
		p.trc[i] = iccCurve{kind: 1, gamma: gamma}
	}
	return newColourTransform(p)
}

// colourTransform is the conversion to sRGB that the source's colour
// information asks for: nil when the source is untagged, sRGB, or its
// profile is ignored (then one line is logged with why).
func (s source) colourTransform(log *slog.Logger, cache *colourCache) *colourTransform {
	err := s.colourErr
	var t *colourTransform
	if err == nil {
		t, err = cache.transform(s.colour)
	}
	if n := s.channels; err == nil && t != nil && n != 0 && n != t.inputs {
		// lcms refuses a profile of another colour space than the
		// pixels', and so does libvips.
		t, err = nil, badProfile("a profile of %d channels for pixels of %d", t.inputs, n)
	}
	if err != nil {
		if log != nil {
			log.Warn("colour profile ignored, decoded as sRGB", "format", s.format, "error", err)
		}
		return nil
	}
	return t
}

// colourCacheSize is how many built transforms of ICC profiles a
// server keeps: at most 1 MB each (a CMYK grid of 17⁴ points), so at
// most 8 MB in all, within memoryHeadroom.
const colourCacheSize = 8

// colourCache keeps the transforms built from the last ICC profiles
// seen, by the profile's SHA-256: the same profile (a camera's, a
// print workflow's CMYK) comes back request after request, and a LUT
// profile takes tens of milliseconds to build. A transform is not
// changed once built, so requests share it. The oldest is dropped
// first; a profile that fails is not kept (parsing it again is bounded).
type colourCache struct {
	mu   sync.Mutex
	m    map[[sha256.Size]byte]*colourTransform
	keys [][sha256.Size]byte // oldest first
}

func newColourCache() *colourCache {
	return &colourCache{m: make(map[[sha256.Size]byte]*colourTransform)}
}

// transform is s.transform, from the cache for an ICC profile built
// before. A nil cache builds every time.
func (c *colourCache) transform(s sourceColour) (*colourTransform, error) {
	if c == nil || s.icc == nil {
		return s.transform() // gAMA/cHRM: a matrix, cheap
	}
	key := sha256.Sum256(s.icc)
	c.mu.Lock()
	t, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := s.transform() // built outside the lock; two may build the same
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok {
		if len(c.keys) == colourCacheSize {
			delete(c.m, c.keys[0])
			c.keys = c.keys[1:]
		}
		c.m[key] = t
		c.keys = append(c.keys, key)
	}
	return t, nil
}

// sourceChannels is the number of colour channels a source's header
// declares: 1 for grey, 3 for RGB (or YCbCr, or a palette), 4 for a CMYK
// JPEG; 0 when unknown.
func sourceChannels(format format, data []byte) int {
	switch format {
	case formatJPEG:
		_, n := jpegFrame(data)
		return n
	case formatPNG: // IHDR's colour type
		if len(data) > 25 {
			switch data[25] {
			case 0, 4:
				return 1
			case 2, 3, 6:
				return 3
			}
		}
	case formatWebP:
		return 3
	}
	return 0
}
