package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"
)

// testPNG builds a PNG of random samples: colour type ct at depth bits,
// each row with the filter filters[y%len(filters)] (applied for real),
// the data split into IDAT chunks of split bytes, with the given PLTE and
// tRNS payloads when not nil.
func testPNG(t testing.TB, rng *rand.Rand, w, h int, ct, depth byte, filters []byte, plte, trns []byte, split int) []byte {
	t.Helper()
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct]
	bits := channels * int(depth)
	bpp := max(bits/8, 1)
	rowBytes := (bits*w + 7) / 8
	var raw bytes.Buffer
	prev := make([]byte, rowBytes)
	for y := range h {
		row := make([]byte, rowBytes)
		for i := range row {
			row[i] = byte(rng.IntN(256))
			if rng.IntN(4) == 0 && i >= bpp { // runs, so that filters matter
				row[i] = row[i-bpp]
			}
		}
		if ct == 3 && depth == 8 && plte != nil {
			for i := range row {
				row[i] %= byte(len(plte)/3 + 2) // a few indexes past the palette
			}
		}
		if len(trns) == 2 && ct == 0 && y%2 == 0 {
			row[0] = trns[1] // the transparent grey does occur
		}
		if len(trns) == 6 && ct == 2 && y%2 == 0 && rowBytes >= 3 {
			row[0], row[1], row[2] = trns[1], trns[3], trns[5]
		}
		if ct == 6 && depth == 8 {
			for i := 3; i < len(row); i += 4 {
				switch rng.IntN(3) {
				case 0:
					row[i] = 0
				case 1:
					row[i] = 255
				}
			}
		}
		ft := filters[y%len(filters)]
		out := make([]byte, 1+rowBytes)
		out[0] = ft
		copy(out[1:], refFilter(row, prev, bpp, int(ft)))
		raw.Write(out)
		prev = row
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, depth, ct, 0, 0, 0)
	chunks := [][]byte{pngChunk("IHDR", ihdr)}
	if plte != nil {
		chunks = append(chunks, pngChunk("PLTE", plte))
	}
	if trns != nil {
		chunks = append(chunks, pngChunk("tRNS", trns))
	}
	chunks = append(chunks, pngChunk("tEXt", []byte("Comment\x00between")))
	zb := z.Bytes()
	for len(zb) > 0 {
		n := min(split, len(zb))
		chunks = append(chunks, pngChunk("IDAT", zb[:n]))
		zb = zb[n:]
	}
	chunks = append(chunks, pngChunk("IEND", nil))
	return pngFile(chunks...)
}

// TestDecodePNGMatchesImagePNG decodes PNGs of every layout with decodePNG
// and with toRGBA(png.Decode(...)): the bytes must be identical.
func TestDecodePNGMatchesImagePNG(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	plte := func(n int) []byte {
		b := make([]byte, 3*n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	alphas := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[0] = 0
		return b
	}
	tests := []struct {
		name      string
		ct, depth byte
		plte      []byte
		trns      []byte
		streamed  bool
	}{
		{"rgba8", 6, 8, nil, nil, true},
		{"rgb8", 2, 8, nil, nil, true},
		{"rgb8 with an ignored PLTE", 2, 8, plte(16), nil, true},
		{"rgb8 tRNS", 2, 8, nil, []byte{0, 10, 0, 20, 0, 30}, true},
		{"grey8", 0, 8, nil, nil, true},
		{"grey8 tRNS", 0, 8, nil, []byte{0, 77}, true},
		{"grey+alpha8", 4, 8, nil, nil, true},
		{"palette8", 3, 8, plte(200), nil, true},
		{"palette8 tRNS", 3, 8, plte(200), alphas(100), true},
		{"palette8 tRNS past PLTE", 3, 8, plte(5), alphas(9), true},
		{"palette4", 3, 4, plte(16), alphas(3), true},
		{"palette2", 3, 2, plte(4), nil, true},
		{"palette1", 3, 1, plte(2), alphas(2), true},
		{"grey4 (image/png)", 0, 4, nil, nil, false},
		{"rgba16 (image/png)", 6, 16, nil, nil, false},
		{"grey16 tRNS (image/png)", 0, 16, nil, []byte{1, 2}, false},
	}
	for _, tt := range tests {
		for _, size := range [][2]int{{1, 1}, {7, 5}, {33, 17}} {
			t.Run(fmt.Sprintf("%s %dx%d", tt.name, size[0], size[1]), func(t *testing.T) {
				data := testPNG(t, rng, size[0], size[1], tt.ct, tt.depth, []byte{0, 1, 2, 3, 4, 4, 3}, tt.plte, tt.trns, 13)
				if _, ok, err := newPNGDecoder(data); err != nil || ok != tt.streamed {
					t.Fatalf("newPNGDecoder = %v, %v; want %v, nil", ok, err, tt.streamed)
				}
				ref, err := png.Decode(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				want := toRGBA(ref)
				got, err := decodePNG(context.Background(), data)
				if err != nil {
					t.Fatalf("decodePNG: %v", err)
				}
				if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
					t.Errorf("decodePNG differs from toRGBA(png.Decode): %v vs %v", got.Rect, want.Rect)
				}
			})
		}
	}
}

// TestDecodePNGCorpus compares decodePNG with image/png on real files.
func TestDecodePNGCorpus(t *testing.T) {
	for _, name := range []string{"alpha-arc-colors-2140x1200.png", "avatar.png", "tiny-1x1.png"} {
		data := testdataFile(t, name)
		ref, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want := toRGBA(ref)
		got, err := decodePNG(context.Background(), data)
		if err != nil {
			t.Fatalf("decodePNG(context.Background(), %s): %v", name, err)
		}
		if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("decodePNG(context.Background(), %s) differs from toRGBA(png.Decode)", name)
		}
	}
}

// TestDecodePNGCorrupt: whatever image/png refuses, decodePNG refuses,
// with errCorruptImage or errUnsupportedFormat.
func TestDecodePNGCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	good := testPNG(t, rng, 20, 10, 6, 8, []byte{4, 1}, nil, nil, 50)
	for i := range 400 {
		data := bytes.Clone(good)
		switch i % 4 {
		case 0:
			data = data[:rng.IntN(len(data))]
		case 1:
			data[rng.IntN(len(data))] ^= byte(1 + rng.IntN(255))
		case 2: // keep the CRCs right: damage the deflate stream
			data = testPNG(t, rng, 20, 10, 6, 8, []byte{4, 1}, nil, nil, 50)
			data = recrcIDAT(data, rng)
		case 3: // too few rows for the header
			ihdr := binary.BigEndian.AppendUint32(nil, 20)
			ihdr = binary.BigEndian.AppendUint32(ihdr, 11)
			ihdr = append(ihdr, 8, 6, 0, 0, 0)
			data = append(pngFile(pngChunk("IHDR", ihdr)), good[33:]...)
		}
		_, refErr := png.Decode(bytes.NewReader(data))
		_, err := decodePNG(context.Background(), data)
		if refErr != nil && strings.HasSuffix(refErr.Error(), zlib.ErrChecksum.Error()) && err == nil {
			// A damaged deflate stream behind valid CRCs that still
			// inflates: decodePNG does not check the Adler-32 (see
			// zlibReader). image/png's FormatError only keeps the text.
			continue
		}
		if (refErr == nil) != (err == nil) {
			t.Fatalf("case %d: image/png says %v, decodePNG %v", i, refErr, err)
		}
		if err != nil && !errors.Is(err, errCorruptImage) && !errors.Is(err, errUnsupportedFormat) {
			t.Fatalf("case %d: %v wraps no sentinel", i, err)
		}
	}
}

// recrcIDAT flips a byte inside the first IDAT payload and fixes its CRC.
func recrcIDAT(data []byte, rng *rand.Rand) []byte {
	p := 8
	for p+12 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[p:]))
		if string(data[p+4:p+8]) == "IDAT" && n > 2 {
			data[p+8+2+rng.IntN(n-2)] ^= byte(1 + rng.IntN(255))
			c := pngChunk("IDAT", data[p+8:p+8+n])
			copy(data[p:], c)
			return data
		}
		p += 12 + n
	}
	return data
}

func BenchmarkDecodePNGRGBA(b *testing.B) {
	data := testdataFile(b, "alpha-arc-colors-2140x1200.png")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodePNG(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePNGImagePNG is the path decodePNG replaces, for comparison.
func BenchmarkDecodePNGImagePNG(b *testing.B) {
	data := testdataFile(b, "alpha-arc-colors-2140x1200.png")
	b.ReportAllocs()
	for b.Loop() {
		m, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		toRGBA(m)
	}
}

// TestPaethPredict compares paethPredict with the specification's
// predictor on every input.
func TestPaethPredict(t *testing.T) {
	for a := range int32(256) {
		for b := range int32(256) {
			for c := range int32(256) {
				p := a + b - c
				pa, pb, pc := absInt(int(p-a)), absInt(int(p-b)), absInt(int(p-c))
				want := c
				switch {
				case pa <= pb && pa <= pc:
					want = a
				case pb <= pc:
					want = b
				}
				if got := paethPredict(a, b, c); got != want {
					t.Fatalf("paethPredict(%d, %d, %d) = %d, want %d", a, b, c, got, want)
				}
			}
		}
	}
}

// TestPremulRow checks premulRow against premul for every colour byte
// and alpha, in rows of one alpha and of mixed alphas, of even and odd
// lengths.
func TestPremulRow(t *testing.T) {
	src := make([]byte, 257*4)
	dst := make([]byte, 257*4)
	for a := range 512 {
		for c := range 257 {
			alpha := uint8(a)
			if a >= 256 { // mixed: 0, 255 and a translucent alpha in turn
				alpha = [3]uint8{0, 255, uint8(a)}[c%3]
			}
			src[c*4], src[c*4+1], src[c*4+2], src[c*4+3] = uint8(c), uint8(255-c), uint8(c^0x5a), alpha
		}
		n := 257 - a%2
		premulRow(dst[:n*4], src[:n*4])
		for c := range n {
			s, d := src[c*4:c*4+4], dst[c*4:c*4+4]
			want := [4]uint8{premul(s[0], s[3]), premul(s[1], s[3]), premul(s[2], s[3]), s[3]}
			if [4]uint8(d) != want {
				t.Fatalf("premulRow: pixel %v = %v, want %v", s, d, want)
			}
		}
	}
}

// TestDecodePNGAdler32: the zlib trailer must be there but its sum is
// not checked (see zlibReader), while any damaged IDAT byte is still an
// error, caught by the chunk's CRC.
func TestDecodePNGAdler32(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	good := testPNG(t, rng, 31, 9, 6, 8, []byte{0, 1, 2, 3, 4}, nil, nil, 1<<20)
	want, err := decodePNG(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	// withIDAT rebuilds good with f applied to its one IDAT payload; the
	// CRC is made anew when fixCRC, else kept.
	withIDAT := func(f func([]byte) []byte, fixCRC bool) []byte {
		p := 8
		for p+12 <= len(good) {
			n := int(binary.BigEndian.Uint32(good[p:]))
			if string(good[p+4:p+8]) == "IDAT" {
				body := f(bytes.Clone(good[p+8 : p+8+n]))
				c := pngChunk("IDAT", body)
				if !fixCRC {
					copy(c[len(c)-4:], good[p+8+n:p+12+n])
				}
				return append(append(bytes.Clone(good[:p]), c...), good[p+12+n:]...)
			}
			p += 12 + n
		}
		t.Fatal("no IDAT")
		return nil
	}
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"Adler-32 wrong, CRC right", withIDAT(func(b []byte) []byte { b[len(b)-1] ^= 0x55; return b }, true), true},
		{"Adler-32 cut, CRC right", withIDAT(func(b []byte) []byte { return b[:len(b)-4] }, true), false},
		{"Adler-32 half cut, CRC right", withIDAT(func(b []byte) []byte { return b[:len(b)-2] }, true), false},
		{"deflate byte changed, CRC kept", withIDAT(func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }, false), false},
		{"Adler-32 changed, CRC kept", withIDAT(func(b []byte) []byte { b[len(b)-1] ^= 0x01; return b }, false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePNG(context.Background(), tt.data)
			if !tt.ok {
				if !errors.Is(err, errCorruptImage) {
					t.Fatalf("decodePNG = %v, want errCorruptImage", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodePNG: %v", err)
			}
			if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
				t.Errorf("decodePNG differs from the intact file's pixels")
			}
		})
	}
}

// TestUnfilterRow compares unfilterRow with the specification's
// bytewise definitions for every filter type, pixel size and a few
// lengths, including ones that are not a whole number of 8-byte words.
func TestUnfilterRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for ft := range byte(5) {
		for _, bpp := range []int{1, 2, 3, 4, 6, 8} {
			for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 63, 64, 65} {
				n *= bpp
				cur, prev := make([]byte, 1+n), make([]byte, 1+n)
				for i := range n {
					cur[1+i], prev[1+i] = byte(rng.IntN(256)), byte(rng.IntN(256))
				}
				cur[0] = ft
				want := bytes.Clone(cur[1:])
				for i := range want {
					var a, b, c int
					if i >= bpp {
						a, c = int(want[i-bpp]), int(prev[1+i-bpp])
					}
					b = int(prev[1+i])
					switch ft {
					case 1:
						want[i] += byte(a)
					case 2:
						want[i] += byte(b)
					case 3:
						want[i] += byte((a + b) / 2)
					case 4:
						p := a + b - c
						pa, pb, pc := absInt(p-a), absInt(p-b), absInt(p-c)
						switch {
						case pa <= pb && pa <= pc:
							want[i] += byte(a)
						case pb <= pc:
							want[i] += byte(b)
						default:
							want[i] += byte(c)
						}
					}
				}
				if err := unfilterRow(cur, prev, bpp); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(cur[1:], want) {
					t.Errorf("unfilterRow(filter %d, bpp %d, %d bytes) = %v, want %v", ft, bpp, n, cur[1:], want)
				}
			}
		}
	}
	if err := unfilterRow([]byte{5, 0}, []byte{0, 0}, 1); err == nil {
		t.Error("unfilterRow(filter 5) = nil, want an error")
	}
}
