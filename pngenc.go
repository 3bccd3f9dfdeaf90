package main

// A PNG encoder: what image/png writes (8-bit RGB when opaque, RGBA
// otherwise, filters chosen per row), at a faster zlib level.

import (
	"bufio"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"io"
	"sync"
)

// pngLevel is the compress/flate level of writePNG. Compared with
// image/png's default (level 6) it writes somewhat larger files, barely
// larger for photos, in about half the time; lower levels cost more
// bytes for little more speed. BENCHMARKS.md has the table.
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
// same pixels it would have written). It polls ctx once a row.
func writePNG(ctx context.Context, w io.Writer, img *image.RGBA) error {
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
	f := 0 // the filter of the row above
	for y := range height {
		if err := ctx.Err(); err != nil {
			return err
		}
		row := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):]
		raw := cur[0][1:]
		if opaque {
			for x := range width {
				raw[3*x], raw[3*x+1], raw[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		} else {
			unpremulRow(raw, row[:4*width])
		}
		f = pngFilter(&cur, prev, bpp, f)
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
// how well a filter did. Eight bytes a step: a byte's sign bit makes a
// mask that turns it into its absolute value (at most 128, so adding
// the 1 of the negation cannot carry), then the bytes are summed in
// four 16-bit lanes, which 128 steps of at most 2·128 cannot overflow.
func absSum(d []byte) int {
	const ones, lanes = 0x01010101_01010101, 0x00ff00ff_00ff00ff
	sum := 0
	for len(d) >= 8 {
		q := d[:min(len(d)/8, 128)*8]
		d = d[len(q):]
		var acc uint64
		for ; len(q) >= 8; q = q[8:] {
			x := binary.LittleEndian.Uint64(q)
			s := x >> 7 & ones // 1 in each negative byte
			v := (x ^ s*0xff) + s
			acc += v&lanes + v>>8&lanes
		}
		sum += int(acc&0xffff + acc>>16&0xffff + acc>>32&0xffff + acc>>48)
	}
	for _, v := range d {
		x := int(int8(v))
		m := x >> 63
		sum += (x ^ m) - m
	}
	return sum
}

// filterChunk is how many bytes of a row pngFilter filters and sums
// before it checks whether the filter can still win.
const filterChunk = 256

// pngFilter fills cur[f][1:] for the filter f that minimises the sum
// of absolute differences (libpng's heuristic, as image/png), given the
// raw row in cur[0][1:] and the previous raw row, and returns f; ties
// go to the lower f. It tries first the filter that won the row above,
// usually the winner again, and, as libpng does, drops any other as
// soon as its partial sum is beyond the best full one: the choice is
// the same as summing every filter over the whole row, for about half
// the work on the corpus PNG's output.
func pngFilter(cur *[5][]byte, prev []byte, bpp, first int) int {
	n := len(cur[0]) - 1
	best, bestSum := -1, 0
	for k := range 5 {
		f := k
		switch {
		case k == 0:
			f = first
		case k <= first:
			f = k - 1
		}
		sum, beaten := 0, false
		for lo := 0; lo < n && !beaten; lo += filterChunk {
			hi := min(lo+filterChunk, n)
			filterBytes(cur, prev, bpp, f, lo, hi)
			sum += absSum(cur[f][1+lo : 1+hi])
			beaten = best >= 0 && (sum > bestSum || sum == bestSum && f > best)
		}
		if !beaten {
			best, bestSum = f, sum
		}
	}
	return best
}

// filterBytes fills bytes lo..hi-1 of the row cur[f][1:] with filter f
// applied to the raw row cur[0][1:], given the previous raw row.
func filterBytes(cur *[5][]byte, prev []byte, bpp, f, lo, hi int) {
	c, p := cur[0][1:], prev[1:]
	p = p[:len(c)]
	d := cur[f][1:]
	d = d[:len(c)]
	// The first pixel has no left neighbour: the left and up-left bytes
	// are 0 there.
	head := min(bpp, hi)
	switch f {
	case 1: // sub
		for i := lo; i < head; i++ {
			d[i] = c[i]
		}
		for i := max(lo, bpp); i < hi; i++ {
			d[i] = c[i] - c[i-bpp]
		}
	case 2: // up
		for i := lo; i < hi; i++ {
			d[i] = c[i] - p[i]
		}
	case 3: // average
		for i := lo; i < head; i++ {
			d[i] = c[i] - p[i]/2
		}
		for i := max(lo, bpp); i < hi; i++ {
			d[i] = c[i] - uint8((uint(c[i-bpp])+uint(p[i]))/2)
		}
	case 4: // Paeth
		for i := lo; i < head; i++ {
			d[i] = c[i] - p[i]
		}
		for i := max(lo, bpp); i < hi; i++ {
			d[i] = c[i] - uint8(paethPredict(int32(c[i-bpp]), int32(p[i]), int32(p[i-bpp])))
		}
	}
}
