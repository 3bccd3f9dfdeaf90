package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"io"
	"math/bits"
)

// A baseline JPEG encoder that writes what image/jpeg writes, byte for
// byte (the same quantisation tables scaled by quality the same way, the
// same standard Huffman tables, 4:2:0 colour or one grey component, the
// same forward DCT and rounding, the same padding of partial blocks), in
// a fraction of its time: image/jpeg divides every coefficient by its
// quantiser, reads pixels through per-pixel offset methods, and for a
// *image.YCbCr spreads the chroma to full size only to average it back.
// Here the quantisers are reciprocals, blocks are copied from the planes
// row by row, 4:2:0 chroma goes in as it is, only the non-zero
// coefficients are visited, and the bits go out through a 64-bit buffer.
// TestEncodeJPEGMatchesImageJPEG holds it to image/jpeg's bytes.

// jpegQuality is image/jpeg's quality scaling (libjpeg's): the standard
// tables times 5000/q percent below 50, 200-2q percent from 50 on.
func jpegQuality(quality int) int {
	if quality < 50 {
		return 5000 / quality
	}
	return 200 - quality*2
}

// jpegBaseQuant are the standard quantisation tables (T.81 K.1) in
// zig-zag order, luminance then chrominance.
var jpegBaseQuant = [2][64]uint8{
	{
		16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40,
		26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60, 57, 51,
		56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87,
		95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99,
	},
	{
		17, 18, 18, 24, 21, 24, 47, 26, 26, 47, 99, 66, 56, 66, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
		99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
	},
}

// jpegStdHuffman are the standard Huffman tables (T.81 K.3): luminance
// DC, luminance AC, chrominance DC, chrominance AC, as counts of codes
// of each length 1..16 and the symbols.
var jpegStdHuffman = [4]struct {
	counts [16]uint8
	vals   []uint8
}{
	{[16]uint8{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}, []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	{[16]uint8{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125}, []uint8{
		0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
		0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
		0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
		0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
		0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
		0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
		0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
		0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}},
	{[16]uint8{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}, []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	{[16]uint8{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119}, []uint8{
		0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
		0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
		0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
		0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
		0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
		0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
		0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
		0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
		0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
		0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}},
}

// jpegCodes are a Huffman table's codes by symbol: code<<8 | length.
type jpegCodes [256]uint32

func newJPEGCodes(counts *[16]uint8, vals []uint8) *jpegCodes {
	var t jpegCodes
	code, k := uint32(0), 0
	for l := range counts {
		for range counts[l] {
			t[vals[k]] = code<<8 | uint32(l+1)
			code++
			k++
		}
		code <<= 1
	}
	return &t
}

// jpegEnc is the state of one encode.
type jpegEnc struct {
	out   []byte
	acc   uint64 // n bits waiting, left-aligned
	n     uint
	quant [2][64]uint8 // zig-zag order, as written
	// recip[t][k] is 2^32 / (8·quant) rounded up, for the coefficient of
	// natural index k: with it a division becomes a multiply (exact for
	// the dividends the DCT gives, see quantise).
	recip [2][64]uint64
	half  [2][64]int32 // 8·quant / 2
	codes [4]*jpegCodes
}

// encodeJPEG writes m, an opaque *image.RGBA, a 4:2:0 *image.YCbCr or an
// *image.Gray, each with bounds starting at the origin, as a baseline JPEG of the given quality (1..100): 4:2:0
// for colour, exactly the bytes image/jpeg writes.
// It polls ctx once a row of MCUs.
func encodeJPEG(ctx context.Context, w io.Writer, m image.Image, quality int) error {
	if quality < 1 || quality > 100 {
		return fmt.Errorf("encode jpeg: %w: quality %d not in 1..100", errBadParam, quality)
	}
	b := m.Bounds()
	if b.Dx() >= 1<<16 || b.Dy() >= 1<<16 || b.Empty() || b.Min != (image.Point{}) {
		return fmt.Errorf("encode jpeg: %w: bounds %v", errBadParam, b)
	}
	e := &jpegEnc{}
	scale := jpegQuality(quality)
	for t := range e.quant {
		for z, v := range jpegBaseQuant[t] {
			q := min(max((int(v)*scale+50)/100, 1), 255)
			e.quant[t][z] = uint8(q)
			d := 8 * q
			k := jpegUnzig[z]
			e.recip[t][k] = (1<<32 + uint64(d) - 1) / uint64(d)
			e.half[t][k] = int32(d / 2)
		}
	}
	for i := range e.codes {
		e.codes[i] = newJPEGCodes(&jpegStdHuffman[i].counts, jpegStdHuffman[i].vals)
	}
	// Compressed, a block rarely takes more than 64 bytes.
	e.out = make([]byte, 0, 1024+b.Dx()*b.Dy()/2)
	gray := false
	switch m := m.(type) {
	case *image.Gray:
		gray = true
	case *image.YCbCr:
		if m.SubsampleRatio != image.YCbCrSubsampleRatio420 {
			return fmt.Errorf("encode jpeg: %w: YCbCr %v", errUnsupportedFormat, m.SubsampleRatio)
		}
	case *image.RGBA:
	default:
		return fmt.Errorf("encode jpeg: %w: %T", errUnsupportedFormat, m)
	}
	e.header(b.Dx(), b.Dy(), gray)
	var err error
	switch m := m.(type) {
	case *image.Gray:
		err = e.scanGray(ctx, m)
	case *image.YCbCr:
		err = e.scanYCbCr(ctx, m)
	case *image.RGBA:
		err = e.scanRGBA(ctx, m)
	}
	if err != nil {
		return fmt.Errorf("encode jpeg: %w", err)
	}
	// Pad the last byte with ones, then EOI.
	e.emit(0x7f, 7)
	e.flushBytes()
	e.out = append(e.out, 0xff, jpegEOI)
	if _, err := w.Write(e.out); err != nil {
		return fmt.Errorf("encode jpeg: %w", err)
	}
	return nil
}

// header writes SOI, DQT, SOF0, DHT and SOS as image/jpeg does.
func (e *jpegEnc) header(w, h int, gray bool) {
	o := append(e.out, 0xff, jpegSOI)
	o = append(o, 0xff, jpegDQT, 0, 2+2*65)
	for t := range e.quant {
		o = append(o, uint8(t))
		o = append(o, e.quant[t][:]...)
	}
	ncomp := 3
	if gray {
		ncomp = 1
	}
	o = append(o, 0xff, jpegSOF0, 0, uint8(8+3*ncomp), 8, uint8(h>>8), uint8(h), uint8(w>>8), uint8(w), uint8(ncomp))
	if gray {
		o = append(o, 1, 0x11, 0)
	} else {
		o = append(o, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	}
	tables := jpegStdHuffman[:]
	if gray {
		tables = tables[:2]
	}
	n := 2
	for _, t := range tables {
		n += 17 + len(t.vals)
	}
	o = append(o, 0xff, jpegDHT, uint8(n>>8), uint8(n))
	for i, t := range tables {
		o = append(o, "\x00\x10\x01\x11"[i])
		o = append(o, t.counts[:]...)
		o = append(o, t.vals...)
	}
	if gray {
		o = append(o, 0xff, jpegSOS, 0, 8, 1, 1, 0x00, 0, 63, 0)
	} else {
		o = append(o, 0xff, jpegSOS, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0)
	}
	e.out = o
}

// jpegBlock is a block of samples, then of DCT coefficients, in natural
// order.
type jpegBlock [64]int32

// loadBlock copies the 8x8 samples at (x, y) of a w×h plane (rows stride
// bytes apart) into b, repeating the last column and row past the edges
// as image/jpeg does.
func loadBlock(b *jpegBlock, pix []byte, stride, w, h, x, y int) {
	for j := range 8 {
		row := pix[min(y+j, h-1)*stride:]
		d := b[8*j : 8*j+8 : 8*j+8]
		if x+8 <= w {
			s := row[x : x+8 : x+8]
			for i := range d {
				d[i] = int32(s[i])
			}
			continue
		}
		for i := range d {
			d[i] = int32(row[min(x+i, w-1)])
		}
	}
}

// scanGray writes the blocks of a grey image.
func (e *jpegEnc) scanGray(ctx context.Context, m *image.Gray) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	var b jpegBlock
	var dc int32
	for y := 0; y < h; y += 8 {
		if err := ctx.Err(); err != nil {
			return err
		}
		for x := 0; x < w; x += 8 {
			loadBlock(&b, m.Pix, m.Stride, w, h, x, y)
			dc = e.block(&b, 0, dc)
		}
	}
	return nil
}

// scanYCbCr writes the MCUs of a 4:2:0 image: four Y blocks, then one Cb
// and one Cr block from the chroma planes as they are (image/jpeg would
// spread each chroma sample over 2x2 pixels and average them back).
func (e *jpegEnc) scanYCbCr(ctx context.Context, m *image.YCbCr) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	var b jpegBlock
	var dcY, dcCb, dcCr int32
	for y := 0; y < h; y += 16 {
		if err := ctx.Err(); err != nil {
			return err
		}
		for x := 0; x < w; x += 16 {
			for i := range 4 {
				loadBlock(&b, m.Y, m.YStride, w, h, x+8*(i&1), y+4*(i&2))
				dcY = e.block(&b, 0, dcY)
			}
			loadBlock(&b, m.Cb, m.CStride, cw, ch, x/2, y/2)
			dcCb = e.block(&b, 1, dcCb)
			loadBlock(&b, m.Cr, m.CStride, cw, ch, x/2, y/2)
			dcCr = e.block(&b, 1, dcCr)
		}
	}
	return nil
}

// scanRGBA writes the MCUs of an opaque RGBA image, converted with
// color.RGBToYCbCr, the chroma averaged over 2x2 pixels, as image/jpeg
// does.
func (e *jpegEnc) scanRGBA(ctx context.Context, m *image.RGBA) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	var ys, cb, cr [16 * 16]int32
	var b jpegBlock
	var dcY, dcCb, dcCr int32
	for y := 0; y < h; y += 16 {
		if err := ctx.Err(); err != nil {
			return err
		}
		for x := 0; x < w; x += 16 {
			for j := range 16 {
				row := m.Pix[min(y+j, h-1)*m.Stride:]
				for i := range 16 {
					p := row[4*min(x+i, w-1):]
					yy, u, v := color.RGBToYCbCr(p[0], p[1], p[2])
					ys[16*j+i], cb[16*j+i], cr[16*j+i] = int32(yy), int32(u), int32(v)
				}
			}
			for i := range 4 {
				ox, oy := 8*(i&1), 4*(i&2)
				for j := range 8 {
					copy(b[8*j:8*j+8], ys[16*(oy+j)+ox:])
				}
				dcY = e.block(&b, 0, dcY)
			}
			average420(&b, &cb)
			dcCb = e.block(&b, 1, dcCb)
			average420(&b, &cr)
			dcCr = e.block(&b, 1, dcCr)
		}
	}
	return nil
}

// average420 is image/jpeg's scale: each sample of dst the rounded mean
// of a 2x2 square of the 16x16 src.
func average420(dst *jpegBlock, src *[16 * 16]int32) {
	for y := range 8 {
		for x := range 8 {
			s := src[32*y+2*x:]
			dst[8*y+x] = (s[0] + s[1] + s[16] + s[17] + 2) >> 2
		}
	}
}

// block transforms, quantises and writes b with quantisation table t
// (0 luminance, 1 chrominance), after the previous block's DC dc of the
// same component, and returns its DC.
func (e *jpegEnc) block(b *jpegBlock, t int, dc int32) int32 {
	fdct(b)
	recip, half := &e.recip[t], &e.half[t]
	// q holds the quantised coefficients in zig-zag order; nz has a bit
	// for each non-zero AC one.
	var q [64]int32
	var nz uint64
	for z := 1; z < 64; z++ {
		k := jpegUnzig[z]
		v := quantise(b[k], recip[k], half[k])
		q[z] = v
		// Without a branch: which coefficients are zero is anyone's guess.
		nz |= uint64(uint32(v|-v)>>31) << z
	}
	d := quantise(b[0], recip[0], half[0])
	dcCodes, acCodes := e.codes[2*t], e.codes[2*t+1]
	e.value(dcCodes, 0, d-dc)
	last := 0
	for nz != 0 {
		z := bits.TrailingZeros64(nz)
		nz &= nz - 1
		run := z - last - 1
		for ; run > 15; run -= 16 {
			e.code(acCodes, 0xf0)
		}
		e.value(acCodes, run, q[z])
		last = z
	}
	if last < 63 {
		e.code(acCodes, 0x00) // end of block
	}
	return d
}

// quantise is image/jpeg's div(a, d), d = 8·quant: a over d rounded half
// away from zero, that is floor(x/d) for x = |a| + d/2, with the division
// done as a multiply by recip = ceil(2^32/d) = (2^32+ε)/d, 0 <= ε < d.
// x·recip/2^32 is then x/d plus x·ε/(d·2^32), which stays below the gap
// of at least 1/d to the next integer while x·d < 2^32: the DCT gives
// |a| < 2^14 and d <= 2040, far inside.
func quantise(a int32, recip uint64, half int32) int32 {
	s := a >> 31 // 0, or -1 for a negative a: no branch to mispredict
	v := int32(uint64((a^s)-s+half) * recip >> 32)
	return (v ^ s) - s
}

// code writes the Huffman code of symbol s.
func (e *jpegEnc) code(t *jpegCodes, s uint8) {
	c := t[s]
	e.emit(uint64(c>>8), uint(c&0xff))
}

// value writes a run of zeros then the non-zero (or, for DC, any) value
// v: the code of run<<4 | size, then size bits of v (T.81 F.1.2).
func (e *jpegEnc) value(t *jpegCodes, run int, v int32) {
	a, b := v, v
	if a < 0 {
		a, b = -v, v-1
	}
	size := uint(bits.Len32(uint32(a)))
	c := t[uint8(run<<4)|uint8(size)]
	l := uint(c & 0xff)
	e.emit(uint64(c>>8)<<size|uint64(uint32(b)&(1<<size-1)), l+size)
}

// emit appends the low l bits of v (l <= 32) to the bit buffer, and moves
// whole bytes out when it holds 32 bits or more.
func (e *jpegEnc) emit(v uint64, l uint) {
	e.acc |= v << (64 - e.n - l)
	e.n += l
	if e.n >= 32 {
		e.flush32()
	}
}

// flush32 moves the first 32 bits of the buffer out, stuffing a zero
// byte after each 0xff.
func (e *jpegEnc) flush32() {
	x := uint32(e.acc >> 32)
	y := ^x // no byte of x is 0xff when no byte of y is zero
	if (y-0x01010101)&^y&0x80808080 == 0 {
		e.out = binary.BigEndian.AppendUint32(e.out, x)
	} else {
		for i := range 4 {
			c := uint8(x >> (24 - 8*i))
			e.out = append(e.out, c)
			if c == 0xff {
				e.out = append(e.out, 0)
			}
		}
	}
	e.acc <<= 32
	e.n -= 32
}

// flushBytes moves out the whole bytes left in the buffer.
func (e *jpegEnc) flushBytes() {
	for e.n >= 8 {
		c := uint8(e.acc >> 56)
		e.out = append(e.out, c)
		if c == 0xff {
			e.out = append(e.out, 0)
		}
		e.acc <<= 8
		e.n -= 8
	}
}

// The forward DCT below is image/jpeg's (Go 1.25 and later, dct.go;
// Copyright 2025 The Go Authors, BSD licence, see
// https://go.dev/LICENSE), copied so that the coefficients, and so the
// bytes written, are the same. Only the names changed.

const (
	fdctCos1      = 1130768441178740757 // fix cos 1*pi/16
	fdctSin1      = 224923827593068887  // fix sin 1*pi/16
	fdctCos3      = 958619196450722178  // fix cos 3*pi/16
	fdctSin3      = 640528868967736374  // fix sin 3*pi/16
	fdctSqrt2     = 1630477228166597777 // fix sqrt 2
	fdctSqrt2Cos6 = 623956622067911264  // fix (sqrt 2)*cos 6*pi/16
	fdctSqrt2Sin6 = 1506364539328854985 // fix (sqrt 2)*sin 6*pi/16
	sqrt2inv      = 815238614083298888  // fix 1/sqrt 2
	sqrt2inv_cos6 = 311978311033955632  // fix (1/sqrt 2)*cos 6*pi/16
	sqrt2inv_sin6 = 753182269664427492  // fix (1/sqrt 2)*sin 6*pi/16
)

// fdct implements the forward DCT.
// Inputs are UQ8.0; outputs are Q13.0.
func fdct(b *jpegBlock) {
	fdctCols(b)
	fdctRows(b)
}

// fdctCols applies the 1D DCT to the columns of b.
// Inputs are UQ8.0 in [0,255] but interpreted as [-128,127].
// Outputs are Q10.18.
func fdctCols(b *jpegBlock) {
	for i := range 8 {
		x0 := b[0*8+i]
		x1 := b[1*8+i]
		x2 := b[2*8+i]
		x3 := b[3*8+i]
		x4 := b[4*8+i]
		x5 := b[5*8+i]
		x6 := b[6*8+i]
		x7 := b[7*8+i]

		// x[01234567] are UQ8.0 in [0,255].

		// Stage 1: four butterflies.
		// In general a butterfly of QN.M inputs produces Q(N+1).M outputs.
		// A butterfly of UQN.M inputs produces a UQ(N+1).M sum and a QN.M difference.

		x0, x7 = x0+x7, x0-x7
		x1, x6 = x1+x6, x1-x6
		x2, x5 = x2+x5, x2-x5
		x3, x4 = x3+x4, x3-x4
		// x[0123] now UQ9.0 in [0, 510].
		// x[4567] now Q8.0 in [-255,255].

		// Stage 2: two boxes and two butterflies.
		// A box on QN.M inputs with B-bit constants
		// produces Q(N+1).(M+B) outputs.
		// (The +1 is from the addition.)

		x4, x7 = fdctBox(x4, x7, fdctConst(fdctCos3, 18), fdctConst(fdctSin3, 18))
		x5, x6 = fdctBox(x5, x6, fdctConst(fdctCos1, 18), fdctConst(fdctSin1, 18))
		// x[47] now Q9.18 in [-354, 354].
		// x[56] now Q9.18 in [-300, 300].

		x0, x3 = x0+x3, x0-x3
		x1, x2 = x1+x2, x1-x2
		// x[01] now UQ10.0 in [0, 1020].
		// x[23] now Q9.0 in [-510, 510].

		// Stage 3: one box and three butterflies.

		x2, x3 = fdctBox(x2, x3, fdctConst(fdctSqrt2Cos6, 18), fdctConst(fdctSqrt2Sin6, 18))
		// x[23] now Q10.18 in [-943, 943].

		x0, x1 = x0+x1, x0-x1
		// x0 now UQ11.0 in [0, 2040].
		// x1 now Q10.0 in [-1020, 1020].

		// Store x0, x1, x2, x3 to their permuted targets.
		// The original +128 in every input value
		// has cancelled out except in the “DC signal” x0.
		// Subtracting 128*8 here is equivalent to subtracting 128
		// from every input before we started, but cheaper.
		// It also converts x0 from UQ11.18 to Q10.18.
		b[0*8+i] = (x0 - 128*8) << 18
		b[4*8+i] = x1 << 18
		b[2*8+i] = x2
		b[6*8+i] = x3

		x4, x6 = x4+x6, x4-x6
		x7, x5 = x7+x5, x7-x5
		// x[4567] now Q10.18 in [-654, 654].

		// Stage 4: two √2 scalings and one butterfly.

		x5 = (x5 >> 12) * fdctConst(fdctSqrt2, 12)
		x6 = (x6 >> 12) * fdctConst(fdctSqrt2, 12)
		// x[56] still Q10.18 in [-925, 925] (= 654√2).
		x7, x4 = x7+x4, x7-x4
		// x[47] still Q10.18 in [-925, 925] (not Q11.18!).
		// This is not obvious at all! See “Note on 925” below.

		// Store x4 x5 x6 x7 to their permuted targets.
		b[1*8+i] = x7
		b[3*8+i] = x5
		b[5*8+i] = x6
		b[7*8+i] = x4
	}
}

// fdctRows applies the 1D DCT to the rows of b.
// Inputs are Q10.18; outputs are Q13.0.
func fdctRows(b *jpegBlock) {
	for i := range 8 {
		x := b[8*i : 8*i+8 : 8*i+8]
		x0 := x[0]
		x1 := x[1]
		x2 := x[2]
		x3 := x[3]
		x4 := x[4]
		x5 := x[5]
		x6 := x[6]
		x7 := x[7]

		// x[01234567] are Q10.18 [-1020, 1020].

		// Stage 1: four butterflies.

		x0, x7 = x0+x7, x0-x7
		x1, x6 = x1+x6, x1-x6
		x2, x5 = x2+x5, x2-x5
		x3, x4 = x3+x4, x3-x4
		// x[01234567] now Q11.18 in [-2040, 2040].

		// Stage 2: two boxes and two butterflies.

		x4, x7 = fdctBox(x4>>14, x7>>14, fdctConst(fdctCos3, 14), fdctConst(fdctSin3, 14))
		x5, x6 = fdctBox(x5>>14, x6>>14, fdctConst(fdctCos1, 14), fdctConst(fdctSin1, 14))
		// x[47] now Q12.18 in [-2830, 2830].
		// x[56] now Q12.18 in [-2400, 2400].
		x0, x3 = x0+x3, x0-x3
		x1, x2 = x1+x2, x1-x2
		// x[01234567] now Q12.18 in [-4080, 4080].

		// Stage 3: one box and three butterflies.

		x2, x3 = fdctBox(x2>>14, x3>>14, fdctConst(fdctSqrt2Cos6, 14), fdctConst(fdctSqrt2Sin6, 14))
		// x[23] now Q13.18 in [-7539, 7539].
		x0, x1 = x0+x1, x0-x1
		// x[01] now Q13.18 in [-8160, 8160].
		x4, x6 = x4+x6, x4-x6
		x7, x5 = x7+x5, x7-x5
		// x[4567] now Q13.18 in [-5230, 5230].

		// Stage 4: two √2 scalings and one butterfly.

		x5 = (x5 >> 14) * fdctConst(fdctSqrt2, 14)
		x6 = (x6 >> 14) * fdctConst(fdctSqrt2, 14)
		// x[56] still Q13.18 in [-7397, 7397] (= 5230√2).
		x7, x4 = x7+x4, x7-x4
		// x[47] still Q13.18 in [-7395, 7395] (= 2040*3.6246).
		// See “Note on 925” below.

		// Cut from Q13.18 to Q13.0.
		x0 = (x0 + 1<<17) >> 18
		x1 = (x1 + 1<<17) >> 18
		x2 = (x2 + 1<<17) >> 18
		x3 = (x3 + 1<<17) >> 18
		x4 = (x4 + 1<<17) >> 18
		x5 = (x5 + 1<<17) >> 18
		x6 = (x6 + 1<<17) >> 18
		x7 = (x7 + 1<<17) >> 18

		// Note: Unlike in fdctCols, saved all stores for the end
		// because they are adjacent memory locations and some systems
		// can use multiword stores.
		x[0] = x0
		x[1] = x7
		x[2] = x2
		x[3] = x5
		x[4] = x1
		x[5] = x6
		x[6] = x3
		x[7] = x4
	}
}

// fdctBox implements a 3-multiply, 3-add rotation+scaling.
// Given x0, x1, k*cos θ, and k*sin θ, fdctBox returns the
// rotated and scaled coordinates (image/jpeg's dctBox).
// (It is called dctBox because the rotate+scale operation
// is drawn as a box in Figures 1 and 2 in the paper.)
func fdctBox(x0, x1, kcos, ksin int32) (y0, y1 int32) {
	// y0 = x0*kcos + x1*ksin
	// y1 = -x0*ksin + x1*kcos
	ksum := kcos * (x0 + x1)
	y0 = ksum + (ksin-kcos)*x1
	y1 = ksum - (kcos+ksin)*x0
	return y0, y1
}

// fdctConst rounds the 60-bit constant x to bits bits (image/jpeg's c).
func fdctConst(x uint64, bits int) int32 {
	return int32((x + (1 << (59 - bits))) >> (60 - bits))
}
