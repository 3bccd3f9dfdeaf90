package main

import (
	"bufio"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"io"
	"sync"
)

// pngLevel is the compress/flate level of writePNG. On the 400-wide
// output of the corpus PNG (RGBA), compared with image/png's default
// (level 6, 21,986 bytes, ~26 ms): level 5 gives 24,096 bytes (+10%) in
// about half the time, level 4 26,074 bytes (+19%), level 1 (BestSpeed)
// 30,980 (+41%). On an 800-wide photo level 5 is +0.2% bytes for half
// the time. BENCHMARKS.md has the table.
const pngLevel = 5

// pngZlibWriters keeps zlib writers (about 1 MB of compressor state
// each) from one encode to the next, as pngZlibPool keeps readers.
var pngZlibWriters sync.Pool

// chunkWriter writes what it is given as IDAT chunks (writePNG puts a
// 32 KB buffer in front of it).
type chunkWriter struct {
	w   io.Writer
	err error
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	total := len(p)
	for len(p) > 0 {
		n := min(len(p), 1<<30)
		c.err = writeChunk(c.w, "IDAT", p[:n])
		if c.err != nil {
			return 0, c.err
		}
		p = p[n:]
	}
	return total, nil
}

// writeChunk writes the PNG chunk name holding b.
func writeChunk(w io.Writer, name string, b []byte) error {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(b)))
	copy(hdr[4:], name)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(b)
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], crc.Sum32())
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err := w.Write(tail[:])
	return err
}

// writePNG writes img as an 8-bit PNG: RGB when it is opaque, else
// RGBA unpremultiplied as image/png does it (so image/png decodes the
// same pixels it would have written).
func writePNG(w io.Writer, img *image.RGBA) error {
	b := img.Bounds()
	width, height := b.Dx(), b.Dy()
	if width <= 0 || height <= 0 || int64(width) >= 1<<31 || int64(height) >= 1<<31 {
		return fmt.Errorf("invalid image size %dx%d", width, height)
	}
	opaque := rgbaOpaque(img)
	bpp := 4
	ct := byte(6)
	if opaque {
		bpp, ct = 3, 2
	}
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = 8, ct
	if _, err := io.WriteString(w, "\x89PNG\r\n\x1a\n"); err != nil {
		return err
	}
	if err := writeChunk(w, "IHDR", ihdr[:]); err != nil {
		return err
	}
	cw := &chunkWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<15)
	zw, _ := pngZlibWriters.Get().(*zlib.Writer)
	if zw == nil {
		var err error
		if zw, err = zlib.NewWriterLevel(bw, pngLevel); err != nil {
			return err
		}
	} else {
		zw.Reset(bw)
	}
	defer pngZlibWriters.Put(zw)
	n := width*bpp + 1
	var cur [5][]byte
	for i := range cur {
		cur[i] = make([]byte, n)
		cur[i][0] = byte(i)
	}
	prev := make([]byte, n)
	for y := range height {
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):]
		raw := cur[0][1:]
		if opaque {
			for x := range width {
				raw[3*x], raw[3*x+1], raw[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		} else {
			unpremulRow(raw, row[:4*width])
		}
		f := pngFilter(&cur, prev, bpp)
		if _, err := zw.Write(cur[f]); err != nil {
			return err
		}
		copy(prev, cur[0])
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if cw.err != nil {
		return cw.err
	}
	return writeChunk(w, "IEND", nil)
}

// unpremulRow is image/png's conversion of premultiplied RGBA to NRGBA.
func unpremulRow(dst, src []byte) {
	for ; len(src) >= 4; dst, src = dst[4:], src[4:] {
		d := (*[4]byte)(dst)
		s := (*[4]byte)(src)
		switch s[3] {
		case 0:
			*d = [4]byte{}
		case 0xff:
			*d = *s
		default:
			const m = 0x101 * 0xffff
			a := uint32(s[3]) * 0x101
			d[0] = uint8((uint32(s[0]) * m / a) >> 8)
			d[1] = uint8((uint32(s[1]) * m / a) >> 8)
			d[2] = uint8((uint32(s[2]) * m / a) >> 8)
			d[3] = s[3]
		}
	}
}

// absSum adds up the bytes of d read as signed: libpng's measure of
// how well a filter did.
func absSum(d []byte) int {
	sum := 0
	for _, v := range d {
		x := int(int8(v))
		m := x >> 63
		sum += (x ^ m) - m
	}
	return sum
}

// pngFilter fills cur[f][1:] for the filter f that minimises the sum
// of absolute differences (libpng's heuristic, as image/png), given the
// raw row in cur[0][1:] and the previous raw row, and returns f.
func pngFilter(cur *[5][]byte, prev []byte, bpp int) int {
	c, p := cur[0][1:], prev[1:]
	n := len(c)
	p = p[:n]
	var sums [5]int
	sums[0] = absSum(c)
	{ // sub
		d := cur[1][1:]
		d = d[:n]
		copy(d[:bpp], c[:bpp])
		for i := bpp; i < n; i++ {
			d[i] = c[i] - c[i-bpp]
		}
		sums[1] = absSum(d)
	}
	{ // up
		d := cur[2][1:]
		d = d[:n]
		for i := range d {
			d[i] = c[i] - p[i]
		}
		sums[2] = absSum(d)
	}
	{ // average
		d := cur[3][1:]
		d = d[:n]
		for i := range bpp {
			d[i] = c[i] - p[i]/2
		}
		for i := bpp; i < n; i++ {
			d[i] = c[i] - uint8((uint(c[i-bpp])+uint(p[i]))/2)
		}
		sums[3] = absSum(d)
	}
	{ // Paeth
		d := cur[4][1:]
		d = d[:n]
		for i := range bpp {
			d[i] = c[i] - p[i]
		}
		for i := bpp; i < n; i++ {
			d[i] = c[i] - uint8(paethPredict(int32(c[i-bpp]), int32(p[i]), int32(p[i-bpp])))
		}
		sums[4] = absSum(d)
	}
	best := 0
	for f := 1; f < 5; f++ {
		if sums[f] < sums[best] {
			best = f
		}
	}
	return best
}
