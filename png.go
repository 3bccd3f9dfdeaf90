package main

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"sync"
)

// A PNG decoder that hands out rows of premultiplied RGBA, top to bottom,
// one at a time: the layout the resampler reads. image/png returns an
// *image.NRGBA (or *image.Gray, *image.Paletted, ...) that toRGBA then
// converts in a second full-size pass; on the 2140x1200 corpus PNG with
// alpha that conversion alone cost as much as the inflate. Row by row,
// the resampler can also scale the picture as it is decoded, so that the
// full-size image never exists (stream.go).
//
// It reads the common layouts: 8-bit grey, grey+alpha, RGB, RGBA, and
// palettes of 1 to 8 bits, with tRNS, not interlaced. Rows come out
// byte for byte as toRGBA(png.Decode(...)) would make them (tested on
// every layout). Other PNGs (16-bit, grey below 8 bits, Adam7) go
// through image/png: (*pngDecoder).streamable tells which.

// pngDecoder reads one PNG held in memory.
type pngDecoder struct {
	width, height int
	depth         int  // bits per sample
	colorType     byte // 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
	interlaced    bool
	straight      bool // RGBA rows go out not premultiplied (rowResampler.takeNRGBA)
	hasPLTE       bool
	trns          []byte      // the tRNS payload, nil when absent
	lut           [256]uint32 // palette as premultiplied little-endian RGBA
	idat          [][]byte    // payloads of the consecutive IDAT chunks

	bpp      int // bytes per complete pixel, at least 1 (the filters' unit)
	rowBytes int // filtered bytes of a row, without the filter type byte
	zr       *zlibReader
	src      pngIDATReader
	cur, prv []byte // filter byte + row, current and previous
	y        int
}

// pngZlibPool keeps zlibReaders (each about 40 KB of tables and window)
// from one request to the next: a sync.Pool is a cache of scratch
// memory, not state, as in the standard library's fmt.
var pngZlibPool sync.Pool

// zlibReader reads a zlib stream (RFC 1950) as compress/zlib does,
// header checks included, but does not check the Adler-32 of the
// inflated data at the end: it reads the four bytes and drops them.
// The sum is redundant in a PNG: newPNGDecoder has already checked the
// CRC-32 of every IDAT chunk, which covers those same compressed bytes,
// and a damaged stream that still inflates was damaged before its CRCs
// were made. Chromium skips the sum for that reason (libpng's
// PNG_IGNORE_ADLER32 option, which calls zlib's inflateValidate(strm,
// 0)); here it was a measurable part of a resize of the corpus PNG.
type zlibReader struct {
	src flate.Reader
	fl  io.ReadCloser
	err error
}

func (z *zlibReader) reset(src flate.Reader) error {
	z.src, z.err = src, nil
	var h [2]byte
	if _, err := io.ReadFull(src, h[:]); err != nil {
		z.err = err
		return err
	}
	if h[0]&0x0f != 8 || h[0]>>4 > 7 || (uint(h[0])<<8|uint(h[1]))%31 != 0 {
		z.err = zlib.ErrHeader
		return z.err
	}
	if h[1]&0x20 != 0 {
		z.err = zlib.ErrDictionary
		return z.err
	}
	if z.fl == nil {
		z.fl = flate.NewReader(src)
	} else if err := z.fl.(flate.Resetter).Reset(src, nil); err != nil {
		z.err = err
		return err
	}
	return nil
}

func (z *zlibReader) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	n, err := z.fl.Read(p)
	if err == io.EOF {
		// The Adler-32 trailer must be there, but is not checked: see
		// zlibReader.
		var sum [4]byte
		if _, err := io.ReadFull(z.src, sum[:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // as compress/zlib
			}
			z.err = err
			return n, err
		}
	}
	if err != nil {
		z.err = err
	}
	return n, err
}

// newPNGDecoder parses the chunks of data up to IEND, checking every
// CRC, the chunk order and the header as image/png does. It returns
// ok false, and no error, for a valid header whose layout it does not
// read (then image/png must decode data).
func newPNGDecoder(data []byte) (d *pngDecoder, ok bool, err error) {
	const sig = "\x89PNG\r\n\x1a\n"
	if !bytes.HasPrefix(data, []byte(sig)) {
		return nil, false, corrupt(formatPNG, "not a PNG file")
	}
	d = &pngDecoder{}
	const (
		start = iota
		seenIHDR
		seenPLTE
		seentRNS
		seenIDAT
	)
	stage := start
	inRun := false // the previous chunk was an IDAT of the first run
	p := len(sig)
	for {
		if len(data)-p < 12 {
			return nil, false, corrupt(formatPNG, "truncated chunk")
		}
		n := binary.BigEndian.Uint32(data[p:])
		if n > 0x7fffffff || int(n) > len(data)-p-12 {
			return nil, false, corrupt(formatPNG, "truncated chunk")
		}
		typ := string(data[p+4 : p+8])
		body := data[p+8 : p+8+int(n)]
		if crc32.ChecksumIEEE(data[p+4:p+8+int(n)]) != binary.BigEndian.Uint32(data[p+8+int(n):]) {
			return nil, false, corrupt(formatPNG, "invalid checksum")
		}
		p += 12 + int(n)
		wasRun := inRun
		inRun = false
		switch typ {
		case "IHDR":
			if stage != start {
				return nil, false, corrupt(formatPNG, "chunk out of order")
			}
			stage = seenIHDR
			if err := d.parseIHDR(body); err != nil {
				return nil, false, err
			}
		case "PLTE":
			if stage != seenIHDR {
				return nil, false, corrupt(formatPNG, "chunk out of order")
			}
			stage = seenPLTE
			if err := d.parsePLTE(body); err != nil {
				return nil, false, err
			}
		case "tRNS":
			switch {
			case d.colorType == 3:
				if stage != seenPLTE {
					return nil, false, corrupt(formatPNG, "chunk out of order")
				}
			case d.colorType == 2:
				if stage != seenIHDR && stage != seenPLTE {
					return nil, false, corrupt(formatPNG, "chunk out of order")
				}
			case stage != seenIHDR:
				return nil, false, corrupt(formatPNG, "chunk out of order")
			}
			stage = seentRNS
			if err := d.parseTRNS(body); err != nil {
				return nil, false, err
			}
		case "IDAT":
			// The image data is the first run of consecutive IDATs; as
			// image/png does, later ones are ignored.
			switch {
			case stage < seenIHDR || (stage == seenIHDR && d.colorType == 3):
				return nil, false, corrupt(formatPNG, "chunk out of order")
			case stage != seenIDAT:
				stage = seenIDAT
				d.idat = append(d.idat, body)
				inRun = true
			case wasRun:
				d.idat = append(d.idat, body)
				inRun = true
			}
		case "IEND":
			if stage != seenIDAT {
				return nil, false, corrupt(formatPNG, "chunk out of order")
			}
			if n != 0 {
				return nil, false, corrupt(formatPNG, "bad IEND length")
			}
			return d, d.streamable(), nil
		}
	}
}

// parseIHDR mirrors image/png's checks; unsupported features are
// errUnsupportedFormat there too.
func (d *pngDecoder) parseIHDR(b []byte) error {
	if len(b) != 13 {
		return corrupt(formatPNG, "bad IHDR length")
	}
	if b[10] != 0 {
		return unsupported(formatPNG, fmt.Sprintf("compression method %d", b[10]))
	}
	if b[11] != 0 {
		return unsupported(formatPNG, fmt.Sprintf("filter method %d", b[11]))
	}
	if b[12] > 1 {
		return corrupt(formatPNG, "invalid interlace method")
	}
	d.interlaced = b[12] == 1
	w, h := int32(binary.BigEndian.Uint32(b[0:])), int32(binary.BigEndian.Uint32(b[4:]))
	if w <= 0 || h <= 0 {
		return corrupt(formatPNG, "non-positive dimension")
	}
	d.width, d.height = int(w), int(h)
	d.depth, d.colorType = int(b[8]), b[9]
	valid := false
	switch d.colorType {
	case 0:
		valid = d.depth == 1 || d.depth == 2 || d.depth == 4 || d.depth == 8 || d.depth == 16
	case 3:
		valid = d.depth == 1 || d.depth == 2 || d.depth == 4 || d.depth == 8
	case 2, 4, 6:
		valid = d.depth == 8 || d.depth == 16
	}
	if !valid {
		return unsupported(formatPNG, fmt.Sprintf("bit depth %d, color type %d", d.depth, d.colorType))
	}
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[d.colorType]
	bits := int64(channels * d.depth)
	d.bpp = max(int(bits/8), 1)
	rb := (bits*int64(d.width) + 7) / 8
	if rb > 1<<30 {
		return unsupported(formatPNG, fmt.Sprintf("row of %d bytes", rb))
	}
	d.rowBytes = int(rb)
	// Indexes past the palette are opaque black, as in image/png.
	for i := range d.lut {
		d.lut[i] = 0xff000000
	}
	return nil
}

func (d *pngDecoder) parsePLTE(b []byte) error {
	n := len(b) / 3
	if len(b)%3 != 0 || n <= 0 || n > 256 || n > 1<<d.depth {
		return corrupt(formatPNG, "bad PLTE length")
	}
	switch d.colorType {
	case 3:
		for i := range n {
			d.lut[i] = uint32(b[3*i]) | uint32(b[3*i+1])<<8 | uint32(b[3*i+2])<<16 | 0xff000000
		}
		d.hasPLTE = true
	case 2, 6: // optional there, and ignored
	default:
		return corrupt(formatPNG, "PLTE, color type mismatch")
	}
	return nil
}

func (d *pngDecoder) parseTRNS(b []byte) error {
	switch d.colorType {
	case 0:
		if len(b) != 2 {
			return corrupt(formatPNG, "bad tRNS length")
		}
	case 2:
		if len(b) != 6 {
			return corrupt(formatPNG, "bad tRNS length")
		}
	case 3:
		if len(b) > 256 {
			return corrupt(formatPNG, "bad tRNS length")
		}
		for i, a := range b {
			c := d.lut[i]
			d.lut[i] = premulRGBA(uint8(c), uint8(c>>8), uint8(c>>16), a)
		}
	default:
		return corrupt(formatPNG, "tRNS, color type mismatch")
	}
	d.trns = b
	return nil
}

// streamable tells whether next, the row reader, handles this layout.
func (d *pngDecoder) streamable() bool {
	if d.interlaced || d.depth == 16 {
		return false
	}
	return d.colorType == 3 || d.depth == 8
}

// premulRGBA is the premultiplied RGBA, little-endian, of an
// unpremultiplied colour, rounded as draw.Draw and color.NRGBA.RGBA do.
func premulRGBA(r, g, b, a uint8) uint32 {
	switch a {
	case 0xff:
		return uint32(r) | uint32(g)<<8 | uint32(b)<<16 | 0xff000000
	case 0:
		return 0
	}
	return uint32(premul(r, a)) | uint32(premul(g, a))<<8 | uint32(premul(b, a))<<16 | uint32(a)<<24
}

// premulRow premultiplies the NRGBA row src into dst, as premul. Two
// pixels at a time: both opaque or both transparent (most of a typical
// translucent image) are copied or cleared; otherwise premulPixel runs,
// without branches, which edges would mispredict.
func premulRow(dst, src []byte) {
	const alphas = 0xff000000_ff000000
	dst = dst[:len(src)]
	i := 0
	for ; i+7 < len(src); i += 8 {
		w := binary.LittleEndian.Uint64(src[i:])
		switch w & alphas {
		case alphas:
		case 0:
			w = 0
		default:
			w = uint64(premulPixel(uint32(w))) | uint64(premulPixel(uint32(w>>32)))<<32
		}
		binary.LittleEndian.PutUint64(dst[i:], w)
	}
	if i+3 < len(src) {
		binary.LittleEndian.PutUint32(dst[i:], premulPixel(binary.LittleEndian.Uint32(src[i:])))
	}
}

// premulPixel premultiplies one NRGBA pixel (little-endian) as premul: R
// and B ride in the two 32-bit lanes of one word, and premul(c, a) =
// c·a·66050 >> 24 exactly for all bytes c and a (TestPremulRow checks
// every pair); c·a·66050 < 2^32, so the lanes do not carry into each
// other.
func premulPixel(u uint32) uint32 {
	k := uint64(u>>24) * 66050
	rb := uint64(u & 0x00ff00ff)
	rb = (rb | rb<<16) & laneMask * k
	g := uint64(u>>8&0xff) * k >> 24
	return uint32(rb>>24&0xff) | uint32(g)<<8 | uint32(rb>>56)<<16 | u&0xff000000
}

// premul is c·a/255 rounded as draw.Draw (drawNRGBASrc) rounds it.
func premul(c, a uint8) uint8 {
	return uint8(uint32(c) * (uint32(a) * 0x101) / 0xff >> 8)
}

// pngIDATReader reads the IDAT payloads as one stream. It is an
// io.ByteReader, so compress/flate reads it without a bufio.Reader.
type pngIDATReader struct {
	chunks [][]byte
	cur    []byte
}

func (r *pngIDATReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if len(r.chunks) == 0 {
			return 0, io.EOF
		}
		r.cur, r.chunks = r.chunks[0], r.chunks[1:]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *pngIDATReader) ReadByte() (byte, error) {
	for len(r.cur) == 0 {
		if len(r.chunks) == 0 {
			return 0, io.EOF
		}
		r.cur, r.chunks = r.chunks[0], r.chunks[1:]
	}
	b := r.cur[0]
	r.cur = r.cur[1:]
	return b, nil
}

// start prepares to read the rows; finish must follow, whatever happens.
func (d *pngDecoder) start() error {
	d.src = pngIDATReader{chunks: d.idat}
	z, _ := pngZlibPool.Get().(*zlibReader)
	if z == nil {
		z = new(zlibReader)
	}
	d.zr = z
	if err := z.reset(&d.src); err != nil {
		return corrupt(formatPNG, err.Error())
	}
	d.cur = make([]byte, 1+d.rowBytes)
	d.prv = make([]byte, 1+d.rowBytes)
	return nil
}

// next decodes the next row into dst: 4·width bytes of premultiplied
// RGBA, or, when straight, of RGBA as the file holds it (NRGBA).
func (d *pngDecoder) next(dst []byte) error {
	if d.y >= d.height {
		return corrupt(formatPNG, "read past the last row")
	}
	d.y++
	d.cur, d.prv = d.prv, d.cur
	if _, err := io.ReadFull(d.zr, d.cur); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return corrupt(formatPNG, "not enough pixel data")
		}
		return corrupt(formatPNG, err.Error())
	}
	if err := unfilterRow(d.cur, d.prv, d.bpp); err != nil {
		return err
	}
	d.convert(dst[:4*d.width], d.cur[1:])
	return nil
}

// finish checks, once every row is read, that the zlib stream ends
// there, its trailer present, and gives the inflater back.
func (d *pngDecoder) finish(rowsRead bool) error {
	if d.zr == nil {
		return nil
	}
	var err error
	if rowsRead {
		var one [1]byte
		n, e := 0, error(nil)
		for i := 0; n == 0 && e == nil; i++ {
			if i == 100 {
				e = io.ErrNoProgress
				break
			}
			n, e = d.zr.Read(one[:])
		}
		switch {
		case e != nil && e != io.EOF:
			err = corrupt(formatPNG, e.Error())
		case n != 0:
			err = corrupt(formatPNG, "too much pixel data")
		}
	}
	if err == nil || rowsRead {
		// An inflater that failed is reset before its next use anyway.
		pngZlibPool.Put(d.zr)
	}
	d.zr = nil
	return err
}

// decodeRGBA decodes the whole image as premultiplied RGBA, polling ctx
// once a row.
func (d *pngDecoder) decodeRGBA(ctx context.Context) (*image.RGBA, error) {
	if err := d.start(); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, d.width, d.height))
	for y := range d.height {
		err := ctx.Err()
		if err == nil {
			err = d.next(img.Pix[y*img.Stride:])
		}
		if err != nil {
			d.finish(false)
			return nil, err
		}
	}
	if err := d.finish(true); err != nil {
		return nil, err
	}
	return img, nil
}

// convert writes the unfiltered row src as premultiplied RGBA into dst.
func (d *pngDecoder) convert(dst, src []byte) {
	w := d.width
	switch {
	case d.colorType == 6 && d.straight:
		copy(dst[:4*w], src[:4*w])
	case d.colorType == 6:
		premulRow(dst[:4*w], src[:4*w])
	case d.colorType == 2:
		src = src[:3*w]
		if d.trns == nil {
			for x := range w {
				s := src[3*x : 3*x+3 : 3*x+3]
				binary.LittleEndian.PutUint32(dst[4*x:], uint32(s[0])|uint32(s[1])<<8|uint32(s[2])<<16|0xff000000)
			}
			return
		}
		tr, tg, tb := d.trns[1], d.trns[3], d.trns[5]
		for x := range w {
			s := src[3*x : 3*x+3 : 3*x+3]
			v := uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | 0xff000000
			if s[0] == tr && s[1] == tg && s[2] == tb {
				v = 0
			}
			binary.LittleEndian.PutUint32(dst[4*x:], v)
		}
	case d.colorType == 0:
		src = src[:w]
		key := -1
		if d.trns != nil {
			key = int(d.trns[1])
		}
		for x, v := range src {
			c := uint32(v)*0x010101 | 0xff000000
			if int(v) == key {
				c = 0
			}
			binary.LittleEndian.PutUint32(dst[4*x:], c)
		}
	case d.colorType == 4:
		src = src[:2*w]
		for x := range w {
			g, a := src[2*x], src[2*x+1]
			binary.LittleEndian.PutUint32(dst[4*x:], premulRGBA(g, g, g, a))
		}
	case d.colorType == 3 && d.depth == 8:
		src = src[:w]
		for x, v := range src {
			binary.LittleEndian.PutUint32(dst[4*x:], d.lut[v])
		}
	case d.colorType == 3:
		// 1, 2 or 4 bits a pixel, the leftmost in the high bits.
		bits := uint(d.depth)
		mask := byte(1<<bits - 1)
		perByte := 8 / int(bits)
		for x := range w {
			b := src[x/perByte]
			shift := 8 - bits*uint(x%perByte+1)
			binary.LittleEndian.PutUint32(dst[4*x:], d.lut[b>>shift&mask])
		}
	}
}

// unfilterRow undoes the filter named by cur[0] on cur[1:], given the
// previous row prev[1:] (zeros for the first row), bpp bytes a pixel.
func unfilterRow(cur, prev []byte, bpp int) error {
	c, p := cur[1:], prev[1:len(cur)]
	switch cur[0] {
	case 0:
	case 1: // sub
		if bpp == 4 {
			unSub4(c)
			break
		}
		for i := bpp; i < len(c); i++ {
			c[i] += c[i-bpp]
		}
	case 2: // up
		addBytes(c, p)
	case 3: // average
		for i := 0; i < bpp && i < len(c); i++ {
			c[i] += p[i] / 2
		}
		for i := bpp; i < len(c); i++ {
			c[i] += uint8((int(c[i-bpp]) + int(p[i])) / 2)
		}
	case 4: // Paeth
		switch bpp {
		case 4:
			unPaeth4(c, p)
		case 3:
			unPaeth3(c, p)
		default:
			unPaeth(c, p, bpp)
		}
	default:
		return corrupt(formatPNG, "bad filter type")
	}
	return nil
}

// unSub4 undoes the sub filter on 4-byte pixels, a pixel a step: the
// bytewise loop waited on a store and a load of the byte four back for
// every byte; here the left pixel stays in a register, added by
// addBytes' carry-free method.
func unSub4(c []byte) {
	const low7, high = 0x7f7f7f7f, 0x80808080
	var a uint32
	for i := 0; i+4 <= len(c); i += 4 {
		x := binary.LittleEndian.Uint32(c[i:])
		a = (x&low7 + a&low7) ^ ((x ^ a) & high)
		binary.LittleEndian.PutUint32(c[i:], a)
	}
}

// addBytes adds p to c bytewise, eight bytes a step: the sum of the low
// seven bits of each byte cannot carry into the next byte, and the top
// bits are added by xor.
func addBytes(c, p []byte) {
	const low7, high = 0x7f7f7f7f_7f7f7f7f, 0x80808080_80808080
	i := 0
	for ; i+8 <= len(c); i += 8 {
		x, y := binary.LittleEndian.Uint64(c[i:]), binary.LittleEndian.Uint64(p[i:])
		binary.LittleEndian.PutUint64(c[i:], (x&low7+y&low7)^((x^y)&high))
	}
	for ; i < len(c); i++ {
		c[i] += p[i]
	}
}

// paethPredict is the PNG Paeth predictor of a (left), b (up) and c (up
// left) in the formulation of stb_image (stbi__paeth): equal to the
// specification's for all inputs (TestPaethPredict checks every one),
// but with short dependency chains and selections that the compiler
// makes without branches, which photographs would mispredict.
func paethPredict(a, b, c int32) int32 {
	thresh := c*3 - (a + b)
	lo, hi := min(a, b), max(a, b)
	t0 := c
	if hi <= thresh {
		t0 = lo
	}
	if thresh <= lo {
		t0 = hi
	}
	return t0
}

// unPaeth4 undoes the Paeth filter on RGBA (or GA16...) pixels, keeping
// the left and up-left pixels in registers.
func unPaeth4(c, p []byte) {
	var a0, a1, a2, a3, c0, c1, c2, c3 int32
	for i := 0; i+3 < len(c); i += 4 {
		x, u := c[i:i+4:i+4], p[i:i+4:i+4]
		b0, b1, b2, b3 := int32(u[0]), int32(u[1]), int32(u[2]), int32(u[3])
		a0 = (paethPredict(a0, b0, c0) + int32(x[0])) & 0xff
		a1 = (paethPredict(a1, b1, c1) + int32(x[1])) & 0xff
		a2 = (paethPredict(a2, b2, c2) + int32(x[2])) & 0xff
		a3 = (paethPredict(a3, b3, c3) + int32(x[3])) & 0xff
		x[0], x[1], x[2], x[3] = uint8(a0), uint8(a1), uint8(a2), uint8(a3)
		c0, c1, c2, c3 = b0, b1, b2, b3
	}
}

func unPaeth3(c, p []byte) {
	var a0, a1, a2, c0, c1, c2 int32
	for i := 0; i+2 < len(c); i += 3 {
		x, u := c[i:i+3:i+3], p[i:i+3:i+3]
		b0, b1, b2 := int32(u[0]), int32(u[1]), int32(u[2])
		a0 = (paethPredict(a0, b0, c0) + int32(x[0])) & 0xff
		a1 = (paethPredict(a1, b1, c1) + int32(x[1])) & 0xff
		a2 = (paethPredict(a2, b2, c2) + int32(x[2])) & 0xff
		x[0], x[1], x[2] = uint8(a0), uint8(a1), uint8(a2)
		c0, c1, c2 = b0, b1, b2
	}
}

func unPaeth(c, p []byte, bpp int) {
	for i := range c {
		var a, ul int32
		if i >= bpp {
			a, ul = int32(c[i-bpp]), int32(p[i-bpp])
		}
		c[i] = uint8(paethPredict(a, int32(p[i]), ul) + int32(c[i]))
	}
}

// decodePNG decodes a PNG to premultiplied RGBA: with pngDecoder when it
// reads the layout, else with image/png (guarded, and deaf to ctx) and
// toRGBA.
func decodePNG(ctx context.Context, data []byte) (*image.RGBA, error) {
	d, ok, err := newPNGDecoder(data)
	if err != nil {
		return nil, pngError(err)
	}
	if !ok {
		var m image.Image
		err := guard(formatPNG, func() error {
			var err error
			if m, err = png.Decode(bytes.NewReader(data)); err != nil {
				return decodeError(formatPNG, err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("decode png: %w", err)
		}
		return toRGBA(m), nil
	}
	img, err := d.decodeRGBA(ctx)
	if err != nil {
		return nil, pngError(err)
	}
	return img, nil
}

// pngError wraps an error of pngDecoder in the engine's sentinels; the
// end of the request's context comes back as it is.
func pngError(err error) error {
	return fmt.Errorf("decode png: %w", codecError(formatPNG, err))
}
