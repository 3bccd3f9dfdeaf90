package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// jpegTestImages are grey, 4:2:0 YCbCr and opaque RGBA images of sizes
// around the block and MCU sizes, half smooth gradients and half noise:
// small and large coefficients.
func jpegTestImages() []image.Image {
	r := rand.New(rand.NewSource(3))
	sizes := []image.Point{{1, 1}, {7, 9}, {8, 8}, {16, 16}, {17, 33}, {31, 15}, {64, 48}, {101, 77}}
	var ms []image.Image
	for _, sz := range sizes {
		rect := image.Rect(0, 0, sz.X, sz.Y)
		g := image.NewGray(rect)
		yc := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
		rgba := image.NewRGBA(rect)
		fill := func(i int) byte {
			if i%5 < 2 {
				return byte(r.Intn(256))
			}
			return byte(i * 7)
		}
		for i := range g.Pix {
			g.Pix[i] = fill(i)
		}
		for i := range yc.Y {
			yc.Y[i] = fill(i)
		}
		for i := range yc.Cb {
			yc.Cb[i], yc.Cr[i] = fill(i), fill(i+3)
		}
		for i := range rgba.Pix {
			rgba.Pix[i] = fill(i)
			if i%4 == 3 {
				rgba.Pix[i] = 255
			}
		}
		ms = append(ms, g, yc, rgba)
	}
	return ms
}

// encodeTestJPEG encodes m with o, failing the test on an error.
func encodeTestJPEG(t testing.TB, m image.Image, o jpegOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := encodeJPEG(context.Background(), &buf, m, o); err != nil {
		t.Fatalf("encodeJPEG(%T %v, %+v): %v", m, m.Bounds(), o, err)
	}
	return buf.Bytes()
}

// TestEncodeJPEGMatchesImageJPEG holds encodeJPEG with the standard
// Huffman tables to image/jpeg's bytes: the transform, quantisation and
// block order are image/jpeg's, so the decoded pixels of the optimised
// output below can be compared with image/jpeg's.
func TestEncodeJPEGMatchesImageJPEG(t *testing.T) {
	for _, m := range jpegTestImages() {
		for _, q := range []int{1, 30, 50, 80, 95, 100} {
			t.Run(fmt.Sprintf("%T/%v/q%d", m, m.Bounds().Max, q), func(t *testing.T) {
				got := encodeTestJPEG(t, m, jpegOptions{quality: q, standardTables: true})
				want := goJPEG(t, m, q)
				if !bytes.Equal(got, want) {
					i := 0
					for i < min(len(got), len(want)) && got[i] == want[i] {
						i++
					}
					t.Errorf("encodeJPEG: %d bytes, image/jpeg %d, first difference at %d", len(got), len(want), i)
				}
			})
		}
	}
}

// jpegDecodes decodes data with every decoder at hand: image/jpeg, ours
// at each scale, and djpeg (libjpeg-turbo) when installed, by name.
func jpegDecodes(t *testing.T, data []byte) map[string]any {
	t.Helper()
	out := map[string]any{}
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/jpeg: %v", err)
	}
	out["image/jpeg"] = visiblePixels(t, m)
	// Not at scale 2: there decodeJPEG's baseline and progressive paths
	// differ by 1 in a few pixels, for the same coefficients: a block
	// whose non-zero AC coefficients are all outside the 4x4 kept gets
	// idct4 of its DC when baseline and the flat idctDC when progressive
	// (jpeg.go idctKept, last from the kept coefficients only).
	for _, s := range []int{1, 4, 8} {
		m, err := decodeJPEG(context.Background(), data, s)
		if err != nil {
			t.Fatalf("decodeJPEG(scale %d): %v", s, err)
		}
		out[fmt.Sprintf("decodeJPEG/%d", s)] = visiblePixels(t, m)
	}
	if djpeg, err := exec.LookPath("djpeg"); err == nil {
		cmd := exec.Command(djpeg, "-pnm")
		cmd.Stdin = bytes.NewReader(data)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		pnm, err := cmd.Output()
		if err != nil || stderr.Len() > 0 { // djpeg warns on stderr of what it forgave
			t.Fatalf("djpeg: %v: %s", err, stderr.Bytes())
		}
		out["djpeg"] = pnm
	}
	return out
}

// visiblePixels returns the samples of m inside its bounds, row by row,
// plane by plane: image/jpeg's planes run on over the padding of the last
// MCUs, which a progressive JPEG's non-interleaved scans do not code as a
// baseline JPEG does.
func visiblePixels(t *testing.T, m image.Image) [][]byte {
	t.Helper()
	var rows [][]byte
	plane := func(pix []byte, stride, w, h int) {
		for y := range h {
			rows = append(rows, pix[y*stride:y*stride+w])
		}
	}
	b := m.Bounds()
	switch m := m.(type) {
	case *image.Gray:
		plane(m.Pix, m.Stride, b.Dx(), b.Dy())
	case *image.RGBA:
		plane(m.Pix, m.Stride, 4*b.Dx(), b.Dy())
	case *image.YCbCr:
		if m.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			t.Fatalf("decoded as YCbCr %v", m.SubsampleRatio)
		}
		plane(m.Y, m.YStride, b.Dx(), b.Dy())
		plane(m.Cb, m.CStride, (b.Dx()+1)/2, (b.Dy()+1)/2)
		plane(m.Cr, m.CStride, (b.Dx()+1)/2, (b.Dy()+1)/2)
	default:
		t.Fatalf("decoded as %T", m)
	}
	return rows
}

// sameDecodes reports where the decodes of got differ from those of
// want.
func sameDecodes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	g, w := jpegDecodes(t, got), jpegDecodes(t, want)
	for name := range w {
		if !reflect.DeepEqual(g[name], w[name]) {
			t.Errorf("%s: %s decodes other pixels", what, name)
		}
	}
}

// TestEncodeJPEGOptimised checks that the optimised baseline and the
// progressive output decode, with every decoder, to the same pixels as
// the standard tables' output (image/jpeg's bytes), and that the
// optimised baseline output is smaller.
func TestEncodeJPEGOptimised(t *testing.T) {
	if _, err := exec.LookPath("djpeg"); err != nil {
		t.Log("djpeg not installed (libjpeg-turbo-progs): decoding with image/jpeg and decodeJPEG only")
	}
	for _, m := range jpegTestImages() {
		for _, q := range []int{1, 30, 50, 80, 95, 100} {
			t.Run(fmt.Sprintf("%T/%v/q%d", m, m.Bounds().Max, q), func(t *testing.T) {
				std := encodeTestJPEG(t, m, jpegOptions{quality: q, standardTables: true})
				opt := encodeTestJPEG(t, m, jpegOptions{quality: q})
				prog := encodeTestJPEG(t, m, jpegOptions{quality: q, progressive: true})
				if len(opt) >= len(std) {
					t.Errorf("optimised: %d bytes, standard tables %d", len(opt), len(std))
				}
				sameDecodes(t, "optimised", opt, std)
				sameDecodes(t, "progressive", prog, std)
			})
		}
	}
}

// jpegMarkers lists the markers of data in order, skipping entropy-coded
// data, and the segments of its DHTs.
func jpegMarkers(t *testing.T, data []byte) (markers []byte, dhts [][]byte) {
	t.Helper()
	p := 0
	for p+1 < len(data) {
		if data[p] != 0xff || data[p+1] == 0 || data[p+1] >= jpegRST0 && data[p+1] <= jpegRST7 {
			p++ // entropy-coded data
			continue
		}
		marker := data[p+1]
		markers = append(markers, marker)
		if marker == jpegSOI || marker == jpegEOI {
			p += 2
			continue
		}
		if p+4 > len(data) {
			t.Fatalf("segment %#x cut short", marker)
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if marker == jpegDHT {
			dhts = append(dhts, data[p+4:p+2+n])
		}
		p += 2 + n
	}
	return markers, dhts
}

// jpegCodeCounts returns, from DHT segments, the number of codes of
// each table (class<<4 | id), one entry per table defined.
func jpegCodeCounts(t *testing.T, dhts [][]byte) []int {
	t.Helper()
	var n []int
	for _, seg := range dhts {
		for len(seg) > 0 {
			if len(seg) < 17 {
				t.Fatalf("DHT cut short")
			}
			total := 0
			for _, c := range seg[1:17] {
				total += int(c)
			}
			n = append(n, total)
			seg = seg[17+total:]
		}
	}
	return n
}

// TestEncodeJPEGFlat encodes flat images, whose tables have one symbol
// each (a DC difference of 0, an end of block or one end-of-band run),
// and a grey one of more blocks than one end-of-band run can count.
func TestEncodeJPEGFlat(t *testing.T) {
	flat := func(w, h int, kind string) image.Image {
		rect := image.Rect(0, 0, w, h)
		switch kind {
		case "gray":
			m := image.NewGray(rect)
			for i := range m.Pix {
				m.Pix[i] = 128
			}
			return m
		case "ycbcr":
			m := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
			for i := range m.Y {
				m.Y[i] = 128
			}
			for i := range m.Cb {
				m.Cb[i], m.Cr[i] = 128, 128
			}
			return m
		}
		m := image.NewRGBA(rect)
		for i := range m.Pix {
			m.Pix[i] = 255
		}
		return m
	}
	tests := []struct {
		name        string
		m           image.Image
		progressive bool
		maxCodes    int // in any table
	}{
		{"gray 1x1", flat(1, 1, "gray"), false, 1},
		{"gray 1x1 progressive", flat(1, 1, "gray"), true, 1},
		{"ycbcr 17x9", flat(17, 9, "ycbcr"), false, 1},
		{"ycbcr 17x9 progressive", flat(17, 9, "ycbcr"), true, 1},
		// The first DC difference is not 0: two DC symbols.
		{"rgba white 40x24", flat(40, 24, "rgba"), false, 2},
		{"rgba white 40x24 progressive", flat(40, 24, "rgba"), true, 2},
		// 256×130 blocks: an end-of-band run of 32767 then one of 513.
		{"gray 2048x1040 progressive", flat(2048, 1040, "gray"), true, 2},
		// Two tokens a block: many chunks of tokens.
		{"gray 2048x1040", flat(2048, 1040, "gray"), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeTestJPEG(t, tt.m, jpegOptions{quality: 80, progressive: tt.progressive})
			_, dhts := jpegMarkers(t, got)
			for _, n := range jpegCodeCounts(t, dhts) {
				if n < 1 || n > tt.maxCodes {
					t.Errorf("a Huffman table has %d codes, want 1..%d", n, tt.maxCodes)
				}
			}
			sameDecodes(t, "flat", got, encodeTestJPEG(t, tt.m, jpegOptions{quality: 80, standardTables: true}))
			d, err := jpeg.Decode(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			want := color.RGBAModel.Convert(tt.m.At(0, 0)).(color.RGBA)
			b := d.Bounds()
			for _, p := range []image.Point{b.Min, b.Max.Sub(image.Pt(1, 1))} {
				c := color.RGBAModel.Convert(d.At(p.X, p.Y)).(color.RGBA)
				if diff(c.R, want.R) > 1 || diff(c.G, want.G) > 1 || diff(c.B, want.B) > 1 {
					t.Errorf("pixel %v = %v, want %v", p, c, want)
				}
			}
		})
	}
}

func diff(a, b uint8) int { return max(int(a)-int(b), int(b)-int(a)) }

// TestOptimalJPEGHuffman checks the tables made from symbol counts:
// every used symbol has a code, none longer than 16 bits, none all
// ones, more frequent symbols no longer codes, and the lengths of a
// small case.
func TestOptimalJPEGHuffman(t *testing.T) {
	fib := func(n int) *[256]uint32 {
		var f [256]uint32
		a, b := uint32(1), uint32(1)
		for i := range n {
			f[i] = a
			a, b = b, a+b
		}
		return &f
	}
	tests := []struct {
		name       string
		freq       *[256]uint32
		wantCounts []uint8 // lengths 1.. when not nil
		wantVals   []uint8
	}{
		{"none used", &[256]uint32{}, []uint8{1}, []uint8{0}},
		{"one symbol", &[256]uint32{7: 1000}, []uint8{1}, []uint8{7}},
		{"two symbols", &[256]uint32{3: 5, 9: 5}, []uint8{1, 1}, []uint8{3, 9}},
		// Leaves: reserved 1, symbol 2 (1), symbol 1 (2), symbol 0 (4).
		{"4 2 1", &[256]uint32{0: 4, 1: 2, 2: 1}, []uint8{1, 1, 1}, []uint8{0, 1, 2}},
		{"all 256 equal", func() *[256]uint32 {
			var f [256]uint32
			for i := range f {
				f[i] = 10
			}
			return &f
		}(), nil, nil},
		// Unlimited, these would take codes of up to 30 and 32 bits.
		{"fibonacci 30", fib(30), nil, nil},
		{"fibonacci 47", fib(47), nil, nil},
		{"powers of two", func() *[256]uint32 {
			var f [256]uint32
			for i := range 32 {
				f[i] = 1 << i
			}
			return &f
		}(), nil, nil},
		{"one big, many small", func() *[256]uint32 {
			var f [256]uint32
			for i := range f {
				f[i] = 1
			}
			f[0] = 1 << 31
			return &f
		}(), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := optimalJPEGHuffman(tt.freq)
			if h2 := optimalJPEGHuffman(tt.freq); h2 != h {
				t.Errorf("two calls made different tables")
			}
			if tt.wantCounts != nil {
				var want [16]uint8
				copy(want[:], tt.wantCounts)
				if h.counts != want || !bytes.Equal(h.vals[:h.n], tt.wantVals) {
					t.Errorf("table = %v %v, want %v %v", h.counts, h.vals[:h.n], want, tt.wantVals)
				}
			}
			used := 0
			for _, f := range tt.freq {
				if f > 0 {
					used++
				}
			}
			total, kraft := 0, 0
			for l, c := range h.counts {
				total += int(c)
				kraft += int(c) << (15 - l)
			}
			if total != h.n || h.n != max(used, 1) {
				t.Errorf("%d codes, %d symbols listed, %d used", total, h.n, used)
			}
			// The codes of a full tree would sum to 2^16: one is left
			// out, the all-ones code.
			if kraft >= 1<<16 {
				t.Errorf("Kraft sum %d/65536: the all-ones code is used or the code is not a prefix code", kraft)
			}
			length := map[uint8]int{}
			k := 0
			for l, c := range h.counts {
				for range c {
					if _, dup := length[h.vals[k]]; dup {
						t.Errorf("symbol %d listed twice", h.vals[k])
					}
					length[h.vals[k]] = l + 1
					k++
				}
			}
			for s, f := range tt.freq {
				if f == 0 {
					continue
				}
				if _, ok := length[uint8(s)]; !ok {
					t.Errorf("used symbol %d has no code", s)
				}
				for s2, f2 := range tt.freq {
					if f2 > 0 && f > f2 && length[uint8(s)] > length[uint8(s2)] {
						t.Errorf("symbol %d (count %d) has a %d-bit code, symbol %d (count %d) %d bits",
							s, f, length[uint8(s)], s2, f2, length[uint8(s2)])
					}
				}
			}
		})
	}
}

// jpegTestPhotos are the testdata photos as the encoder gets them: the
// planar path's 4:2:0 YCbCr and the general path's RGBA.
func jpegTestPhotos(t *testing.T) map[string]image.Image {
	t.Helper()
	ms := map[string]image.Image{}
	d, err := decodeJPEGPlanes(context.Background(), readTestdata(t, "medium-blinds-1920x1200.jpg"), 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.resampleYCbCr(context.Background(), span{0, 1920}, span{0, 1200}, span{0, 1920}, span{0, 1200}, 803, 501)
	if err != nil {
		t.Fatal(err)
	}
	ms["blinds-803x501-ycbcr"] = m
	ms["blinds-803x501-rgba"] = toRGBA(m)
	for _, name := range []string{"schwarzy.jpg", "progressive-picture1a-1365x1074.jpg", "exif-orient6-blinds-1200x1920.jpg"} {
		m, err := decodeJPEG(context.Background(), readTestdata(t, name), 1)
		if err != nil {
			t.Fatal(err)
		}
		ms[name+"-rgba"] = m
	}
	return ms
}

// TestEncodeJPEGPhotos checks on photos that the optimised and the
// progressive output are smaller than with the standard tables, decode
// to the same pixels with every decoder, and come out the same twice.
func TestEncodeJPEGPhotos(t *testing.T) {
	for name, m := range jpegTestPhotos(t) {
		t.Run(name, func(t *testing.T) {
			std := encodeTestJPEG(t, m, jpegOptions{quality: 80, standardTables: true})
			opt := encodeTestJPEG(t, m, jpegOptions{quality: 80})
			prog := encodeTestJPEG(t, m, jpegOptions{quality: 80, progressive: true})
			t.Logf("q80: standard tables %d bytes, optimised %d (%+.1f%%), progressive %d (%+.1f%%)",
				len(std), len(opt), 100*float64(len(opt)-len(std))/float64(len(std)),
				len(prog), 100*float64(len(prog)-len(std))/float64(len(std)))
			if len(opt) >= len(std) || len(prog) >= len(std) {
				t.Errorf("optimised %d bytes, progressive %d, not both under the standard tables' %d", len(opt), len(prog), len(std))
			}
			sameDecodes(t, "optimised", opt, std)
			sameDecodes(t, "progressive", prog, std)
			if again := encodeTestJPEG(t, m, jpegOptions{quality: 80}); !bytes.Equal(again, opt) {
				t.Errorf("optimised: a second encode wrote other bytes")
			}
			if again := encodeTestJPEG(t, m, jpegOptions{quality: 80, progressive: true}); !bytes.Equal(again, prog) {
				t.Errorf("progressive: a second encode wrote other bytes")
			}
			markers, _ := jpegMarkers(t, prog)
			sof2, sos := 0, 0
			for _, mk := range markers {
				switch mk {
				case jpegSOF2:
					sof2++
				case jpegSOS:
					sos++
				}
			}
			if sof2 != 1 || sos != len(jpegScript(3)) {
				t.Errorf("progressive: %d SOF2 and %d SOS markers, want 1 and %d", sof2, sos, len(jpegScript(3)))
			}
		})
	}
}

// TestEncodeJPEGOptions checks the options that encodeJPEG refuses.
func TestEncodeJPEGOptions(t *testing.T) {
	m := image.NewGray(image.Rect(0, 0, 8, 8))
	tests := []struct {
		name string
		o    jpegOptions
	}{
		{"quality 0", jpegOptions{quality: 0}},
		{"quality 101", jpegOptions{quality: 101}},
		{"progressive with standard tables", jpegOptions{quality: 80, progressive: true, standardTables: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := encodeJPEG(context.Background(), &buf, m, tt.o); !errors.Is(err, errBadParam) || buf.Len() > 0 {
				t.Errorf("encodeJPEG(%+v) = %v with %d bytes, want errBadParam and nothing written", tt.o, err, buf.Len())
			}
		})
	}
}

// TestTransformJPEGProgressive checks that engine.jpeg_progressive makes
// the pipeline write progressive JPEGs, on the planar path (a JPEG
// resized) and the RGBA one (rotated; a PNG to JPEG), with the pixels
// of the baseline output.
func TestTransformJPEGProgressive(t *testing.T) {
	tests := []struct {
		name, file, query string
		w, h              int
	}{
		{"planar resize", "schwarzy.jpg", "op=resize&w=100", 100, 71},
		{"rotate", "schwarzy.jpg", "op=rotate&deg=90", 357, 500},
		{"png to jpeg", "avatar.png", "op=resize&w=40&fmt=jpg", 40, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseTestRequest(t, "path="+tt.file+"&"+tt.query)
			src := readTestdata(t, tt.file)
			eo := testEngine
			base, err := transform(context.Background(), src, r, eo, nil)
			if err != nil {
				t.Fatal(err)
			}
			eo.jpegProgressive = true
			prog, err := transform(context.Background(), src, r, eo, nil)
			if err != nil {
				t.Fatal(err)
			}
			if prog.format != formatJPEG {
				t.Fatalf("format %q, want jpeg", prog.format)
			}
			if markers, _ := jpegMarkers(t, prog.data); !bytes.Contains(markers, []byte{jpegSOF2}) {
				t.Errorf("no SOF2 marker: not progressive")
			}
			if markers, _ := jpegMarkers(t, base.data); !bytes.Contains(markers, []byte{jpegSOF0}) {
				t.Errorf("baseline: no SOF0 marker")
			}
			a, err := jpeg.Decode(bytes.NewReader(prog.data))
			if err != nil {
				t.Fatal(err)
			}
			if b := a.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("progressive output %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.w, tt.h)
			}
			b, err := jpeg.Decode(bytes.NewReader(base.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(visiblePixels(t, a), visiblePixels(t, b)) {
				t.Errorf("progressive and baseline outputs decode to other pixels")
			}
		})
	}
}

// FuzzEncodeJPEG encodes random images of every kind the encoder takes,
// with the standard tables, optimised and progressive, and checks that
// image/jpeg and decodeJPEG decode all three to the same pixels.
func FuzzEncodeJPEG(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(80), uint8(0), []byte{1, 2, 3, 4})
	f.Add(uint8(17), uint8(33), uint8(5), uint8(1), []byte("seed pixels"))
	f.Add(uint8(40), uint8(9), uint8(100), uint8(2), bytes.Repeat([]byte{0, 255, 7}, 99))
	f.Add(uint8(60), uint8(60), uint8(50), uint8(1), []byte{128})
	f.Fuzz(func(t *testing.T, w, h, q, kind uint8, seed []byte) {
		rect := image.Rect(0, 0, int(w)%64+1, int(h)%64+1)
		quality := int(q)%100 + 1
		r := rand.New(rand.NewSource(int64(len(seed))))
		fill := func(p []byte, opaque bool) {
			for i := range p {
				if len(seed) > 0 && i%7 != 0 {
					p[i] = seed[i%len(seed)]
				} else {
					p[i] = uint8(r.Intn(256))
				}
				if opaque && i%4 == 3 {
					p[i] = 255
				}
			}
		}
		var m image.Image
		switch kind % 3 {
		case 0:
			g := image.NewGray(rect)
			fill(g.Pix, false)
			m = g
		case 1:
			yc := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
			fill(yc.Y, false)
			fill(yc.Cb, false)
			fill(yc.Cr, false)
			m = yc
		default:
			rgba := image.NewRGBA(rect)
			fill(rgba.Pix, true)
			m = rgba
		}
		std := encodeTestJPEG(t, m, jpegOptions{quality: quality, standardTables: true})
		want := map[string]any{}
		for i, o := range []jpegOptions{{quality: quality, standardTables: true}, {quality: quality}, {quality: quality, progressive: true}} {
			data := std
			if i > 0 {
				data = encodeTestJPEG(t, m, o)
			}
			a, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%+v: image/jpeg: %v", o, err)
			}
			b, err := decodeJPEG(context.Background(), data, 1)
			if err != nil {
				t.Fatalf("%+v: decodeJPEG: %v", o, err)
			}
			got := map[string]any{"image/jpeg": visiblePixels(t, a), "decodeJPEG": visiblePixels(t, b)}
			if i == 0 {
				want = got
				continue
			}
			for name := range got {
				if !reflect.DeepEqual(got[name], want[name]) {
					t.Errorf("%+v: %s decodes other pixels than with the standard tables", o, name)
				}
			}
		}
	})
}

// TestQuantiseExact checks quantise against image/jpeg's division for
// every quantiser and every dividend the DCT can give.
func TestQuantiseExact(t *testing.T) {
	for q := 1; q <= 255; q++ {
		d := int32(8 * q)
		recip := (1<<32 + uint64(d) - 1) / uint64(d)
		for a := int32(-1 << 14); a <= 1<<14; a++ {
			want := int32(0)
			if a >= 0 {
				want = (a + d>>1) / d
			} else {
				want = -((-a + d>>1) / d)
			}
			if got := quantise(a, recip, d/2); got != want {
				t.Fatalf("quantise(%d) by %d = %d, want %d", a, d, got, want)
			}
		}
	}
}

// BenchmarkEncodeJPEGAgainstImageJPEG encodes an 800x500 photo, as 4:2:0
// YCbCr and as RGBA, with image/jpeg and with encodeJPEG: with the
// standard tables (one pass, image/jpeg's bytes), optimised tables (the
// default) and progressive.
func BenchmarkEncodeJPEGAgainstImageJPEG(b *testing.B) {
	d, err := decodeJPEGPlanes(context.Background(), readTestdata(b, "medium-blinds-1920x1200.jpg"), 1)
	if err != nil {
		b.Fatal(err)
	}
	m, err := d.resampleYCbCr(context.Background(), span{0, 1920}, span{0, 1200}, span{0, 1920}, span{0, 1200}, 800, 500)
	if err != nil {
		b.Fatal(err)
	}
	rgba := toRGBA(m)
	for _, c := range []struct {
		name string
		m    image.Image
	}{{"ycbcr420", m}, {"rgba", rgba}} {
		b.Run(c.name+"/image-jpeg", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				jpeg.Encode(&bytes.Buffer{}, c.m, &jpeg.Options{Quality: 80})
			}
		})
		for _, o := range []struct {
			name string
			o    jpegOptions
		}{
			{"ours-std", jpegOptions{quality: 80, standardTables: true}},
			{"ours", jpegOptions{quality: 80}},
			{"ours-progressive", jpegOptions{quality: 80, progressive: true}},
		} {
			b.Run(c.name+"/"+o.name, func(b *testing.B) {
				var buf bytes.Buffer
				b.ReportAllocs()
				cpu := processCPU()
				for b.Loop() {
					buf.Reset()
					encodeJPEG(context.Background(), &buf, c.m, o.o)
				}
				// The process's CPU time (GC included): steadier than the
				// wall time on a loaded machine.
				b.ReportMetric(float64(processCPU()-cpu)/1e3/float64(b.N), "cpu-µs/op")
				b.ReportMetric(float64(buf.Len()), "bytes")
			})
		}
	}
}

// jpegEncoderInput returns the image that transform hands the JPEG
// encoder for request r on src: the planar path's YCbCr when it takes
// that path, else the RGBA of the same request written as PNG,
// flattened. It fails unless encoding it gives transform's bytes.
func jpegEncoderInput(t *testing.T, src []byte, query string, eo engineOptions) image.Image {
	t.Helper()
	r := parseTestRequest(t, "path=x&"+query)
	want, err := transform(context.Background(), src, r, eo, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m image.Image
	if w, h := shrinkHint(src, r.ops); w > 0 && straightToJPEG(formatJPEG, r.ops) {
		pic, err := decodeScaled(context.Background(), src, eo.decode, w, h, true)
		if err != nil {
			t.Fatal(err)
		}
		if pic.kind == picturePlanes {
			if m, err = r.ops[0].applyShrunkYCbCr(context.Background(), pic, eo.maxOutputPixels); err != nil {
				t.Fatal(err)
			}
		}
	}
	if m == nil {
		res, err := transform(context.Background(), src, parseTestRequest(t, "path=x&"+query+"&fmt=png"), eo, nil)
		if err != nil {
			t.Fatal(err)
		}
		pic, err := decode(context.Background(), res.data, eo.decode)
		if err != nil {
			t.Fatal(err)
		}
		m = flattenWhite(pic.still)
	}
	if got := encodeTestJPEG(t, m, jpegOptions{quality: eo.quality, progressive: eo.jpegProgressive}); !bytes.Equal(got, want.data) {
		t.Fatalf("%s: encoding the image found is not transform's output", query)
	}
	return m
}

// TestJPEGSizeReport prints the BENCHMARKS.md table of JPEG sizes: the
// corpus photos resized to 200, 800 and 1600 wide at q80 through the
// pipeline, written with the standard tables (before), optimised tables
// and progressive; jpegtran -optimize and -progressive (libjpeg-turbo,
// whose progressive script refines by successive approximation) on the
// standard-table file, the same coefficients; and vips thumbnail with
// optimize_coding,strip (its own resampling: other pixels). Run with
// PICFIT_JPEG_REPORT=1 (and PICFIT_CORPUS).
func TestJPEGSizeReport(t *testing.T) {
	if os.Getenv("PICFIT_JPEG_REPORT") != "1" {
		t.Skip("set PICFIT_JPEG_REPORT=1 to print the JPEG size table")
	}
	tool := func(name string, args ...string) []byte {
		if _, err := exec.LookPath(name); err != nil {
			return nil
		}
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return out
	}
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(corpusDir(), "*.jpg"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus JPEGs in %s (PICFIT_JPEG_REPORT=1): set PICFIT_CORPUS to the corpus", corpusDir())
	}
	eo := testEngine
	eo.quality = 80
	pct := func(a, b int) string { return fmt.Sprintf("%+.1f%%", 100*float64(a-b)/float64(b)) }
	fmt.Println("| image | width | standard | optimised | progressive | jpegtran -optimize | jpegtran -progressive | vips optimize_coding |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	var sum [6]int
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(src) < 10_000 {
			continue // tiny-1x1
		}
		for _, w := range []int{200, 800, 1600} {
			m := jpegEncoderInput(t, src, fmt.Sprintf("op=resize&w=%d", w), eo)
			std := encodeTestJPEG(t, m, jpegOptions{quality: 80, standardTables: true})
			opt := encodeTestJPEG(t, m, jpegOptions{quality: 80})
			prog := encodeTestJPEG(t, m, jpegOptions{quality: 80, progressive: true})
			stdFile := filepath.Join(dir, "std.jpg")
			if err := os.WriteFile(stdFile, std, 0o644); err != nil {
				t.Fatal(err)
			}
			tranOpt := tool("jpegtran", "-optimize", stdFile)
			tranProg := tool("jpegtran", "-progressive", stdFile)
			vipsFile := filepath.Join(dir, "vips.jpg")
			tool("vips", "thumbnail", f, vipsFile+"[Q=80,optimize_coding,strip]", strconv.Itoa(w))
			vips, _ := os.ReadFile(vipsFile)
			sizes := [6]int{len(std), len(opt), len(prog), len(tranOpt), len(tranProg), len(vips)}
			for i := range sum {
				sum[i] += sizes[i]
			}
			fmt.Printf("| %s | %d | %d | %d (%s) | %d (%s) | %d | %d | %d (ours %s) |\n", filepath.Base(f), w,
				sizes[0], sizes[1], pct(sizes[1], sizes[0]), sizes[2], pct(sizes[2], sizes[0]),
				sizes[3], sizes[4], sizes[5], pct(sizes[1], sizes[5]))
		}
	}
	fmt.Printf("| all | | %d | %d (%s) | %d (%s) | %d | %d | %d (ours %s) |\n", sum[0], sum[1], pct(sum[1], sum[0]),
		sum[2], pct(sum[2], sum[0]), sum[3], sum[4], sum[5], pct(sum[1], sum[5]))
}
