package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"runtime"
	"sync"
)

// Scaling a PNG while it is decoded. The first operation of most requests
// scales (resize, fit, thumbnail, pad); for a PNG the decoder hands its
// rows, top to bottom, to a rowResampler, which filters each along x as
// it arrives and makes each output row as soon as the rows it reads are
// in. The full-size image never exists: on the 2140x1200 corpus PNG
// resized to 400 wide, the engine allocates about 2 MB instead of 30 MB,
// and the conversion pass and the cache misses of a 10 MB image go.
// The arithmetic is resampleArea's, rows first, so the pixels are the
// same as decoding then resampling, except that when a row shrinks 4x
// or more, boxes of 2, 4, ... pixels, then of rows, are summed before
// the Lanczos (boxFactor): on the corpus PNG that halves the taps and
// the rows filtered along x for a PSNR of 69 dB against the exact path
// (TestDecodePNGScaled).

// pngRows decodes a PNG and runs the plan's first operation on its rows
// as they come (routePNGRows): a smart thumbnail's window is found first
// on a small copy (smartPNG).
func (pl *plan) pngRows(ctx context.Context, src []byte) (*picture, error) {
	op, sp := pl.ops[0], pl.first
	if pl.firstErr != nil {
		return nil, fmt.Errorf("%s: %w", op.kind, pl.firstErr)
	}
	whole := func() (*picture, error) { return decodeSource(ctx, src, pl.src, image.Point{}, false, pl.cmyk()) }
	if sp.crop && op.place.smart {
		W, H := pl.src.upright()
		var ok bool
		var err error
		if op.place, ok, err = smartPNG(ctx, src, W, H, op.w, op.h); err != nil {
			return nil, err
		}
		if !ok {
			return whole() // IHDR said row by row, newPNGDecoder not: never seen
		}
		if sp, _, err = planScale(op, W, H, pl.eo.maxOutputPixels); err != nil {
			return nil, fmt.Errorf("%s: %w", op.kind, err)
		}
	}
	d, ok, err := newPNGDecoder(src)
	if err != nil {
		return nil, pngError(err)
	}
	if !ok {
		return whole()
	}
	img, err := d.decodeResampled(ctx, sp)
	if err != nil {
		return nil, pngError(err)
	}
	img = sp.finish(img)
	return &picture{kind: pictureScaled, format: formatPNG, width: img.Rect.Dx(), height: img.Rect.Dy(), still: img}, nil
}

// decodeResampled decodes the image and resamples it by plan on the way,
// polling ctx once a row.
func (d *pngDecoder) decodeResampled(ctx context.Context, plan scalePlan) (*image.RGBA, error) {
	if err := d.start(); err != nil {
		return nil, err
	}
	rs := newRowResampler(d.width, plan)
	d.straight = d.colorType == 6 && rs.takeNRGBA()
	for range d.height {
		err := ctx.Err()
		if err == nil {
			err = d.next(rs.rowBuf())
		}
		if err != nil {
			d.finish(false)
			return nil, err
		}
		rs.push()
	}
	if err := d.finish(true); err != nil {
		return nil, err
	}
	return rs.dst, nil
}

// rowBatch is the number of source rows a rowResampler filters at once
// (across cores when the batch is worth it).
const rowBatch = 16

// rowResampler resamples a crop of an image sw wide, premultiplied
// RGBA, as a plan says, as its rows arrive, top to bottom: each row that an
// output row reads is filtered along x into a ring of wide rows, and
// each output row is filtered along y as soon as its last source row is
// in. Source rows that no output row reads are dropped unfiltered.
type rowResampler struct {
	sw, w, h int
	wx, wy   *filterWeights
	// nrgba: the rows pushed are not premultiplied (see takeNRGBA).
	nrgba bool
	// box > 1 when a box filter first sums each box source pixels of a
	// row (from x0, cw of them, the last pixel repeated to fill the last
	// box) into one of nx, which wx then reads: see boxFactor. Then rows
	// too are summed by boxes of vbox (from the crop's top, the last row
	// repeated) into the rows that wy reads.
	box, boxShift   int
	vbox, vboxShift int
	x0, cw, nx      int
	top             int // crop's first source row: wy's row r is source rows top+r·vbox..
	y               int // next source row
	y0, y1          int // rows (of wy) the output reads
	src0, src1      int // the source rows they are made of
	done            int // rows (of wy) in the ring so far
	batch           []uint8
	nb              int      // source rows in batch
	ring            []uint64 // ringRows rows of w wide pixels; row y at (y-y0)%ringRows
	ringRows        int
	next            int // next output row
	dst             *image.RGBA
	acc             []int64
	sums            []int32
	scratch         [][]uint64 // per worker of the horizontal pass: a spread source row
	wsums           [][]int32  // and its sums
	spares          [][]uint64 // and the other output row of an odd row out
}

// boxFactor is the box a rowResampler sums source pixels by before its
// Lanczos along x when a crop cw wide shrinks to w: the largest power
// of two that leaves the Lanczos at least a 2x shrink, as libvips
// (shrinkh then reduceh, its default gap of 2) does it. Each tap of
// the Lanczos costs two multiplies a row; the box costs an add a
// pixel. A power of two keeps the fixed point exact: the box sum
// carries log2(box) more fractional bits. The sums stay in 32 bits
// while 255·box·1.6·2^14 < 2^31, and the 16-bit lanes of spreadBox2
// do not carry while 255·box < 2^16: the caps on box along x (64) and
// along y (16, the rows of a batch; 256 for both) keep both.
func boxFactor(cw, w, limit int) (box, shift int) {
	box = 1
	for 2*box <= limit && cw >= 4*box*w {
		box *= 2
		shift++
	}
	return box, shift
}

func newRowResampler(sw int, p scalePlan) *rowResampler {
	w, h := p.w, p.h
	r := &rowResampler{
		sw: sw, w: w, h: h,
		dst: image.NewRGBA(image.Rect(0, 0, w, h)),
		x0:  p.x0, cw: p.cw, top: p.y0,
		vbox: 1,
	}
	r.box, r.boxShift = boxFactor(p.cw, w, 64)
	if r.box > 1 {
		r.vbox, r.vboxShift = boxFactor(p.ch, h, min(rowBatch, 256/r.box))
	}
	ny := (p.ch + r.vbox - 1) / r.vbox
	r.wy = lanczosSpanWeights(ny, span{0, float64(p.ch) / float64(r.vbox)}, h)
	if r.box > 1 {
		r.nx = (p.cw + r.box - 1) / r.box
		r.wx = lanczosSpanWeights(r.nx, span{0, float64(p.cw) / float64(r.box)}, w)
	} else {
		r.wx = lanczosSpanWeights(p.cw, span{0, float64(p.cw)}, w)
		for i := range r.wx.start {
			r.wx.start[i] += int32(p.x0)
		}
	}
	maxTaps := 0
	r.y0, r.y1 = ny, 0
	for j := range h {
		start, ws := r.wy.taps(j)
		maxTaps = max(maxTaps, len(ws))
		r.y0, r.y1 = min(r.y0, start), max(r.y1, start+len(ws))
	}
	r.src0, r.src1 = p.y0+r.y0*r.vbox, min(p.y0+r.y1*r.vbox, p.y0+p.ch)
	r.done = r.y0
	// Batches start at y0 + k·rowBatch and ringRows is a multiple of
	// rowBatch, so a batch fills consecutive ring rows; a batch may only
	// overwrite rows that no pending output row reads.
	r.ringRows = (maxTaps + 2*rowBatch - 1) / rowBatch * rowBatch
	r.ring = make([]uint64, r.ringRows*w*2)
	r.batch = make([]uint8, rowBatch*sw*4)
	r.acc = make([]int64, w*2)
	r.sums = make([]int32, w*4)
	return r
}

// takeNRGBA tells the resampler that its rows will come not
// premultiplied (NRGBA, as an RGBA PNG holds them), and returns true,
// when it can premultiply them itself as it sums them: with 2x2 boxes,
// spreadBox2x2NRGBA premultiplies each pixel in the 16-bit lanes its
// sums use, which saves premulRow's packing, its store and the load of
// the premultiplied row (30% of premultiplying and summing on the
// corpus PNG). Otherwise it returns false: rows must come
// premultiplied.
func (r *rowResampler) takeNRGBA() bool {
	r.nrgba = r.box == 2 && r.vbox == 2
	return r.nrgba
}

// rowBuf is where the next source row goes (4·sw bytes).
func (r *rowResampler) rowBuf() []uint8 {
	return r.batch[r.nb*r.sw*4 : (r.nb+1)*r.sw*4]
}

// push takes the row written into rowBuf.
func (r *rowResampler) push() {
	y := r.y
	r.y++
	if y < r.src0 || y >= r.src1 {
		return
	}
	r.nb++
	if r.nb == rowBatch || y == r.src1-1 {
		r.flush()
	}
}

// flush filters the batch along x into the ring, then makes the output
// rows whose source rows are all in.
func (r *rowResampler) flush() {
	// Batches start at a box of rows: rowBatch is a multiple of vbox.
	slot := (r.done - r.y0) % r.ringRows
	nr := (r.nb + r.vbox - 1) / r.vbox // rows of wy in the batch
	workers := 1
	if procs := runtime.GOMAXPROCS(0); procs > 1 && int64(nr)*int64(len(r.wx.w)) >= parallelWork {
		workers = min(procs, nr)
	}
	for len(r.scratch) < workers {
		r.scratch = append(r.scratch, make([]uint64, r.sw*4))
		r.wsums = append(r.wsums, make([]int32, r.w*8))
		r.spares = append(r.spares, make([]uint64, r.w*2))
	}
	src := func(i int) []uint8 { return r.batch[i*r.sw*4 : (i+1)*r.sw*4] }
	nrgba := r.nrgba
	if nrgba {
		switch {
		case r.nb%2 != 0:
			// A box of one row (the crop's last): spreadBox2 takes its
			// general path, which reads premultiplied rows. Only the
			// last batch can be odd.
			for i := range r.nb {
				premulRow(src(i), src(i))
			}
			nrgba = false
		case r.cw%2 != 0:
			// The last box has one pixel: partialBox reads it
			// premultiplied.
			x := (r.x0 + r.cw - 1) * 4
			for i := range r.nb {
				p := src(i)[x : x+4]
				premulRow(p, p)
			}
		}
	}
	dst := func(i int) []uint64 { return r.ring[(slot+i)*r.w*2 : (slot+i+1)*r.w*2] }
	shift := uint(weightBits + r.boxShift + r.vboxShift)
	rows := func(k, lo, hi int) {
		if r.box > 1 {
			// The source rows of row i of wy, in the batch.
			box := func(i int) (lo, hi int) { return i * r.vbox, min((i+1)*r.vbox, r.nb) }
			for i := lo; i < hi; i += 2 {
				alo, ahi := box(i)
				blo, bhi := alo, ahi
				d := r.spares[k]
				if i+1 < hi {
					blo, bhi = box(i + 1)
					d = dst(i + 1)
				}
				spreadBox2(r.scratch[k], r.batch, alo, ahi, blo, bhi, r.vbox, r.sw*4, r.x0*4, r.cw*4, r.box, nrgba)
				filterRowsWide2(dst(i), d, r.scratch[k], r.wsums[k], r.wx, shift)
			}
			return
		}
		i := lo
		for ; i+1 < hi; i += 2 {
			spreadRows2(r.scratch[k], src(i), src(i+1))
			filterRowsWide2(dst(i), dst(i+1), r.scratch[k], r.wsums[k], r.wx, weightBits)
		}
		if i < hi {
			spreadRow(r.scratch[k], src(i))
			filterRowWide(dst(i), r.scratch[k], r.wsums[k], r.wx)
		}
	}
	if workers == 1 {
		rows(0, 0, nr)
	} else {
		// A worker's panic is raised again on the caller's goroutine,
		// with the worker's stack, where flightGroup.run recovers it.
		var wg sync.WaitGroup
		var once sync.Once
		var panicked error
		for k := range workers {
			lo, hi := nr*k/workers, nr*(k+1)/workers
			wg.Go(func() {
				defer func() {
					if v := recover(); v != nil {
						err := recovered(v)
						once.Do(func() { panicked = err })
					}
				}()
				rows(k, lo, hi)
			})
		}
		wg.Wait()
		if panicked != nil {
			panic(panicked)
		}
	}
	r.nb = 0
	r.done += nr
	for r.next < r.h {
		start, ws := r.wy.taps(r.next)
		if start+len(ws) > r.done {
			break
		}
		r.vertical(start, ws)
		r.next++
	}
}

// filterRowWide filters one spread source row along x into the wide row
// dw: filterRows' arithmetic for one row.
func filterRowWide(dw, src []uint64, sums []int32, fw *filterWeights) {
	for x := range len(fw.start) {
		start, ws := fw.taps(x)
		r, g, b, a := unwide(sumWide(src[start*2:(start+len(ws))*2], ws))
		setSums(sums, x, r, g, b, a)
	}
	storeRow(nil, dw, sums, weightBits)
}

// spreadRows2 spreads two RGBA rows into dst interleaved: the two wide
// words of a pixel of a, then those of the same pixel of b.
func spreadRows2(dst []uint64, a, b []uint8) {
	n := len(a) / 4
	dst = dst[:n*4]
	b = b[:len(a)]
	for x := range n {
		u := binary.LittleEndian.Uint32(a[x*4:])
		v := binary.LittleEndian.Uint32(b[x*4:])
		d := dst[x*4 : x*4+4 : x*4+4]
		ua, ub := uint64(u&0x00ff00ff), uint64(u>>8&0x00ff00ff)
		va, vb := uint64(v&0x00ff00ff), uint64(v>>8&0x00ff00ff)
		d[0] = (ua | ua<<16) & laneMask
		d[1] = (ub | ub<<16) & laneMask
		d[2] = (va | va<<16) & laneMask
		d[3] = (vb | vb<<16) & laneMask
	}
}

// spreadBox2 is spreadRows2 of the box sums of two rows a and b: a is
// the sum of the source rows alo..ahi-1 of batch (rows stride bytes
// apart), b of blo..bhi-1, the last row counted again to make vbox;
// each sums box consecutive pixels of the n bytes at off of its rows
// into one, the last pixel repeated to fill the last box. box is even:
// the sums run two pixels a load, R and B (G and A) of both in the
// 16-bit lanes of one word, which 255·box·vbox/2 cannot overflow.
// With nrgba, the whole 2x2 boxes are not premultiplied yet (only the
// pixels of a last, partial box are): see rowResampler.takeNRGBA.
func spreadBox2(dst []uint64, batch []uint8, alo, ahi, blo, bhi, vbox, stride, off, n, box int, nrgba bool) {
	px := n / 4
	full := px / box
	switch {
	case box == 2 && ahi-alo == 2 && bhi-blo == 2 && nrgba:
		spreadBox2x2NRGBA(dst[:full*4], batch, alo*stride+off, blo*stride+off, stride)
	case box == 2 && ahi-alo == 2 && bhi-blo == 2:
		spreadBox2x2(dst[:full*4], batch, alo*stride+off, blo*stride+off, stride)
	default:
		spreadBoxRows(dst[:full*4], batch, alo, ahi, blo, bhi, vbox, stride, off, box)
	}
	if x := full * box; x < px { // the last, partial box
		d := dst[full*4 : full*4+4 : full*4+4]
		d[0], d[1] = partialBox(batch, alo, ahi, vbox, stride, off, x, px, box)
		d[2], d[3] = partialBox(batch, blo, bhi, vbox, stride, off, x, px, box)
	}
}

// spreadBox2x2 is spreadBox2's whole boxes of 2x2 pixels (a 2x to 4x
// shrink, as the corpus PNG's to 400 wide): both rows of a and of b
// summed in registers, each output word written once. Summing row by
// row into dst, as spreadBoxRows does, then folding, read and wrote
// every word four times.
func spreadBox2x2(dst []uint64, batch []uint8, a, b, stride int) {
	const m = 0x00ff00ff_00ff00ff
	n := len(dst) / 4 * 8
	a0, a1 := batch[a:a+n], batch[a+stride:a+stride+n]
	b0, b1 := batch[b:b+n], batch[b+stride:b+stride+n]
	for o := 0; o+3 < len(dst); o += 4 {
		i := o * 2
		u, v := binary.LittleEndian.Uint64(a0[i:]), binary.LittleEndian.Uint64(a1[i:])
		s, t := binary.LittleEndian.Uint64(b0[i:]), binary.LittleEndian.Uint64(b1[i:])
		d := dst[o : o+4 : o+4]
		d[0] = foldBox(u&m + v&m)
		d[1] = foldBox(u>>8&m + v>>8&m)
		d[2] = foldBox(s&m + t&m)
		d[3] = foldBox(s>>8&m + t>>8&m)
	}
}

// spreadBox2x2NRGBA is spreadBox2x2 of rows not yet premultiplied.
func spreadBox2x2NRGBA(dst []uint64, batch []uint8, a, b, stride int) {
	n := len(dst) / 4 * 8
	a0, a1 := batch[a:a+n], batch[a+stride:a+stride+n]
	b0, b1 := batch[b:b+n], batch[b+stride:b+stride+n]
	for o := 0; o+3 < len(dst); o += 4 {
		i := o * 2
		u, v := binary.LittleEndian.Uint64(a0[i:]), binary.LittleEndian.Uint64(a1[i:])
		s, t := binary.LittleEndian.Uint64(b0[i:]), binary.LittleEndian.Uint64(b1[i:])
		d := dst[o : o+4 : o+4]
		d[0] = foldBox(premulRB(u) + premulRB(v))
		d[1] = foldBox(premulGA(u) + premulGA(v))
		d[2] = foldBox(premulRB(s) + premulRB(t))
		d[3] = foldBox(premulGA(s) + premulGA(t))
	}
}

// premulRB and premulGA premultiply the two NRGBA pixels of w
// (little-endian) into the 16-bit lanes that spreadBox2x2 sums: R and B
// of both, and G and A. Each lane first gets p = c·a (at most 65025:
// one multiply a pixel, two lanes at a time), then laneDiv makes
// premul(c, a) of it. Opaque and transparent pixels need no branch: a
// = 255 leaves c, a = 0 gives 0. They are two functions, each small
// enough to be inlined: the call per pixel pair cost ~2 ms on the
// corpus PNG. TestPremulLanes checks every colour byte and alpha.
func premulRB(w uint64) uint64 {
	const m = 0x00ff00ff_00ff00ff
	rb := w & m
	return laneDiv((rb&0xffff_ffff)*(w>>24&0xff) | (rb>>32*(w>>56))<<32)
}

func premulGA(w uint64) uint64 {
	const g, a = 0x000000ff_000000ff, 0x00ff0000_00ff0000
	ga := w >> 8
	p := (ga&0xff)*(w>>24&0xff) | (ga>>32&0xff*(w>>56))<<32 // G only: A stays
	return laneDiv(p)&g | ga&a
}

// laneDiv is premul(c, a) = p·66050 >> 24 (see premulPixel) of p = c·a
// in each 16-bit lane of p, computed as (p + (p + p>>8)>>7) >> 8 so that
// no term leaves its lane: p·66050 = p·2^16 + p·514, and floor(514p /
// 2^16) = floor((p + floor(p/256)) / 128), at most 509.
func laneDiv(p uint64) uint64 {
	const m, m9 = 0x00ff00ff_00ff00ff, 0x01ff01ff_01ff01ff
	return (p + (p+p>>8&m)>>7&m9) >> 8 & m
}

// spreadBoxRows is spreadBox2's whole boxes in general: each source row
// is added, box by box, into dst, then the sums are folded.
func spreadBoxRows(acc []uint64, batch []uint8, alo, ahi, blo, bhi, vbox, stride, off, box int) {
	full := len(acc) / 4
	clear(acc)
	for half, r := range [2][2]int{{alo, ahi}, {blo, bhi}} {
		lo, hi := r[0], r[1]
		for y := lo; y < hi; y++ {
			k := uint64(1)
			if y == hi-1 {
				k = uint64(vbox - (hi - lo) + 1)
			}
			p := batch[y*stride+off : y*stride+off+full*box*4]
			addBoxes(acc[half*2:], p, box, k)
		}
	}
	for i, v := range acc {
		acc[i] = foldBox(v)
	}
}

// addBoxes adds k times the sums of the boxes of p (box pixels each, two
// a load) to d[4·o] (R and B of box o) and d[4·o+1] (G and A), in
// 16-bit lanes.
func addBoxes(d []uint64, p []uint8, box int, k uint64) {
	const m = 0x00ff00ff_00ff00ff
	nb := len(p) / (box * 4)
	if box == 2 {
		p = p[:nb*8]
		for o := range nb {
			u := binary.LittleEndian.Uint64(p[o*8:])
			q := d[o*4 : o*4+2 : o*4+2]
			q[0] += (u & m) * k
			q[1] += (u >> 8 & m) * k
		}
		return
	}
	for o := range nb {
		var rb, ga uint64
		b := p[o*box*4 : (o+1)*box*4]
		for j := 0; j+7 < len(b); j += 8 {
			u := binary.LittleEndian.Uint64(b[j:])
			rb += u & m
			ga += u >> 8 & m
		}
		q := d[o*4 : o*4+2 : o*4+2]
		q[0] += rb * k
		q[1] += ga * k
	}
}

// partialBox is the wide pixel of the sum of pixels x..px-1 of rows
// lo..hi-1, the last pixel counted again to make box and the last row
// to make vbox.
func partialBox(batch []uint8, lo, hi, vbox, stride, off, x, px, box int) (s0, s1 uint64) {
	for y := lo; y < hi; y++ {
		p := batch[y*stride+off:]
		var t0, t1, u0, u1 uint64
		for i := x; i < px; i++ {
			v := binary.LittleEndian.Uint32(p[i*4:])
			u0, u1 = uint64(v&0x00ff00ff), uint64(v>>8&0x00ff00ff)
			u0, u1 = (u0|u0<<16)&laneMask, (u1|u1<<16)&laneMask
			t0, t1 = t0+u0, t1+u1
		}
		rest := uint64(x + box - px)
		t0, t1 = t0+rest*u0, t1+rest*u1
		if y == hi-1 {
			t0, t1 = t0*uint64(vbox-(hi-lo)+1), t1*uint64(vbox-(hi-lo)+1)
		}
		s0, s1 = s0+t0, s1+t1
	}
	return s0, s1
}

// foldBox turns the four 16-bit lanes of two pixels' box sums (c0, c1
// of one pixel, then of the other) into the wide word c0 | c1<<32 of
// their total.
func foldBox(s uint64) uint64 {
	t := s&0xffff_ffff + s>>32 // c0 in bits 0-15, c1 in 16-31; no carry out
	return t&0xffff | (t>>16&0xffff)<<32
}

// filterRowsWide2 is filterRowWide of two rows spread by spreadRows2.
func filterRowsWide2(da, db, src []uint64, sums []int32, fw *filterWeights, shift uint) {
	n := len(fw.start)
	sa, sb := sums[:n*4], sums[n*4:n*8]
	for x := range n {
		start, ws := fw.taps(x)
		lo0, hi0, lo1, hi1 := sum4(src[start*4:(start+len(ws))*4], ws) // two rows interleaved: the weights are loaded once
		r, g, b, a := unwide(lo0, hi0)
		setSums(sa, x, r, g, b, a)
		r, g, b, a = unwide(lo1, hi1)
		setSums(sb, x, r, g, b, a)
	}
	storeRow(nil, da, sa, shift)
	storeRow(nil, db, sb, shift)
}

// vertical makes output row r.next from the ring rows start.. with
// weights ws: filterCols' arithmetic (a sum of wrapping products, in
// another order, so the same bits).
func (r *rowResampler) vertical(start int, ws []int32) {
	acc := r.acc
	clear(acc)
	for k, c := range ws {
		s := (start + k - r.y0) % r.ringRows
		row := r.ring[s*r.w*2 : (s+1)*r.w*2]
		row = row[:len(acc)]
		c := int64(c)
		for i, v := range row {
			acc[i] += int64(v) * c
		}
	}
	for x := range r.w {
		cr, cg, cb, ca := unwide(acc[2*x], acc[2*x+1])
		setSums(r.sums, x, cr, cg, cb, ca)
	}
	d := r.dst.Pix[r.next*r.dst.Stride : r.next*r.dst.Stride+r.w*4]
	storeRow(d, nil, r.sums, weightBits+wideFracBits)
}
