package main

import (
	"image"
	"math/bits"
)

// Our VP8L (lossless WebP) decoder, after the WebP lossless bitstream
// specification (RFC 9649 section 3) and libwebp's src/dec/vp8l_dec.c:
// transforms, canonical prefix codes (a 9-bit table, longer codes walked
// bit by bit), colour cache, backward references, meta prefix codes. It
// also reads the lossless-compressed alpha of an ALPH chunk (an image
// stream without the header, its green channel the alpha).
//
// Hostile input: every allocation is bounded by the picture's size,
// which the caller checked against its limits, and by the format's own
// limits on the sub-images; reading past the end of the data is an
// error, tested after each row of pixels and at the end.

// lsbReader reads bits least significant first.
type lsbReader struct {
	buf   []byte
	pos   int
	val   uint64
	nbits uint
	eos   bool // a read went past the end
}

// fill tops val up with whole bytes while they fit.
func (r *lsbReader) fill() {
	for r.nbits <= 56 && r.pos < len(r.buf) {
		r.val |= uint64(r.buf[r.pos]) << r.nbits
		r.pos++
		r.nbits += 8
	}
}

// read returns the next n bits (n <= 32).
func (r *lsbReader) read(n uint) uint32 {
	if r.nbits < n {
		r.fill()
		if r.nbits < n {
			r.eos = true
			r.val, r.nbits = 0, 0
			return 0
		}
	}
	v := uint32(r.val & (1<<n - 1))
	r.val >>= n
	r.nbits -= n
	return v
}

// peek returns the next n bits without consuming them, zeros past the
// end.
func (r *lsbReader) peek(n uint) uint32 {
	if r.nbits < n {
		r.fill()
	}
	return uint32(r.val & (1<<n - 1))
}

// skip consumes n bits that peek showed.
func (r *lsbReader) skip(n uint) {
	if r.nbits < n {
		r.eos = true
		r.val, r.nbits = 0, 0
		return
	}
	r.val >>= n
	r.nbits -= n
}

// huffTableBits is the width of a prefix code's lookup table.
const huffTableBits = 9

// huffDecoder is a canonical prefix code: a table for codes of up to
// huffTableBits bits (entry: symbol<<4 | length, 0 for longer codes),
// and the counts and sorted symbols for the longer ones. A code of one
// symbol takes no bits.
type huffDecoder struct {
	single  bool
	sym     uint16
	table   [1 << huffTableBits]uint16
	counts  [16]uint16
	symbols []uint16
}

// build makes the code of the code lengths, refusing an over-subscribed
// or incomplete one (but for a single symbol).
func (h *huffDecoder) build(lengths []uint8) error {
	*h = huffDecoder{}
	n := 0
	for s, l := range lengths {
		if l > 0 {
			h.counts[l]++
			n++
			h.sym = uint16(s)
		}
	}
	if n == 0 {
		return corrupt(formatWebP, "lossless: empty prefix code")
	}
	if n == 1 {
		h.single = true
		return nil
	}
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - int(h.counts[l])
		if left < 0 {
			return corrupt(formatWebP, "lossless: over-subscribed prefix code")
		}
	}
	if left != 0 {
		return corrupt(formatWebP, "lossless: incomplete prefix code")
	}
	// offs[l] is where the symbols of length l go in canonical order.
	var offs [16]int
	start := 0
	for l := 1; l < 16; l++ {
		offs[l] = start
		start += int(h.counts[l])
	}
	h.symbols = make([]uint16, n)
	for s, l := range lengths {
		if l > 0 {
			h.symbols[offs[l]] = uint16(s)
			offs[l]++
		}
	}
	// The table: walk the canonical codes in order.
	code, i := 0, 0
	for l := 1; l <= huffTableBits; l++ {
		for range h.counts[l] {
			r := int(bits.Reverse16(uint16(code)) >> (16 - l))
			for k := r; k < 1<<huffTableBits; k += 1 << l {
				h.table[k] = h.symbols[i]<<4 | uint16(l)
			}
			code++
			i++
		}
		code <<= 1
	}
	return nil
}

// decode reads one symbol.
func (h *huffDecoder) decode(r *lsbReader) uint16 {
	if h.single {
		return h.sym
	}
	e := h.table[r.peek(huffTableBits)]
	if e != 0 {
		r.skip(uint(e & 15))
		return e >> 4
	}
	// A longer code: bit by bit from the start, canonically.
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		code |= int(r.read(1))
		count := int(h.counts[l])
		if code-first < count {
			return h.symbols[index+code-first]
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	r.eos = true // no code: only a broken stream gets here
	return 0
}

// vp8lGroup is the five prefix codes of one group: green (with the
// length prefixes and cache indexes), red, blue, alpha, distance.
type vp8lGroup [5]huffDecoder

// vp8lTransform is one transform to undo, with the width it applies at.
type vp8lTransform struct {
	kind  int
	bits  int
	xsize int
	data  []uint32 // sub-image, or the colour table
}

// vp8lDec decodes one image stream.
type vp8lDec struct {
	r     lsbReader
	check func() error
}

// decodeVP8L decodes a VP8L chunk to NRGBA.
func decodeVP8L(data []byte, check func() error) (*image.NRGBA, error) {
	pix, err := decodeVP8LPixels(data, check)
	if err != nil {
		return nil, err
	}
	w, h, _ := vp8lSize(data)
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, c := range pix {
		p := img.Pix[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = uint8(c>>16), uint8(c>>8), uint8(c), uint8(c>>24)
	}
	return img, nil
}

// decodeVP8LPixels decodes a VP8L chunk to its ARGB pixels, row after
// row.
func decodeVP8LPixels(data []byte, check func() error) ([]uint32, error) {
	if len(data) < 5 || data[0] != 0x2f {
		return nil, corrupt(formatWebP, "lossless: bad signature")
	}
	d := &vp8lDec{r: lsbReader{buf: data[1:]}, check: check}
	w := int(d.r.read(14)) + 1
	h := int(d.r.read(14)) + 1
	d.r.read(1) // alpha is used: a hint only
	if d.r.read(3) != 0 {
		return nil, corrupt(formatWebP, "lossless: bad version")
	}
	return d.imageStream(w, h)
}

// vp8lSize reads a VP8L chunk's picture size.
func vp8lSize(data []byte) (w, h int, err error) {
	if len(data) < 5 || data[0] != 0x2f {
		return 0, 0, corrupt(formatWebP, "lossless: bad signature")
	}
	r := lsbReader{buf: data[1:]}
	w = int(r.read(14)) + 1
	h = int(r.read(14)) + 1
	return w, h, nil
}

// imageStream reads the transforms and the main image of a w×h picture
// and returns its ARGB pixels with the transforms undone.
func (d *vp8lDec) imageStream(w, h int) ([]uint32, error) {
	var ts []vp8lTransform
	seen := 0
	xsize := w
	for d.r.read(1) == 1 {
		kind := int(d.r.read(2))
		if seen&(1<<kind) != 0 {
			return nil, corrupt(formatWebP, "lossless: transform repeated")
		}
		seen |= 1 << kind
		t := vp8lTransform{kind: kind, xsize: xsize}
		switch kind {
		case 0, 1: // predictor, colour
			t.bits = int(d.r.read(3)) + 2
			sub, err := d.entropyImage(subSize(xsize, t.bits), subSize(h, t.bits), false)
			if err != nil {
				return nil, err
			}
			t.data = sub
		case 3: // colour indexing
			n := int(d.r.read(8)) + 1
			pal, err := d.entropyImage(n, 1, false)
			if err != nil {
				return nil, err
			}
			for i := 1; i < n; i++ {
				pal[i] = addPixels(pal[i], pal[i-1])
			}
			switch {
			case n <= 2:
				t.bits = 3
			case n <= 4:
				t.bits = 2
			case n <= 16:
				t.bits = 1
			}
			// The table is read past its end as transparent black.
			t.data = make([]uint32, 256)
			copy(t.data, pal)
			xsize = subSize(xsize, t.bits)
		}
		ts = append(ts, t)
	}
	pix, err := d.entropyImage(xsize, h, true)
	if err != nil {
		return nil, err
	}
	for i := len(ts) - 1; i >= 0; i-- {
		pix = undoTransform(&ts[i], pix, w, h)
	}
	return pix, nil
}

func subSize(n, b int) int { return (n + 1<<b - 1) >> b }

func addPixels(a, b uint32) uint32 {
	ag := (a & 0xff00ff00) + (b & 0xff00ff00)
	rb := (a & 0x00ff00ff) + (b & 0x00ff00ff)
	return ag&0xff00ff00 | rb&0x00ff00ff
}

// entropyImage reads an entropy-coded image of w×h pixels: the main
// image (main: meta prefix codes allowed) or a sub-image.
func (d *vp8lDec) entropyImage(w, h int, main bool) ([]uint32, error) {
	r := &d.r
	cacheBits := 0
	if r.read(1) == 1 {
		cacheBits = int(r.read(4))
		if cacheBits < 1 || cacheBits > 11 {
			return nil, corrupt(formatWebP, "lossless: bad colour cache size")
		}
	}
	var meta []uint32
	metaBits, metaW := 0, 0
	ngroups := 1     // groups in the stream
	var slot []int32 // by group in the stream: its index in groups, -1 if unused
	if main && r.read(1) == 1 {
		metaBits = int(r.read(3)) + 2
		metaW = subSize(w, metaBits)
		var err error
		meta, err = d.entropyImage(metaW, subSize(h, metaBits), false)
		if err != nil {
			return nil, err
		}
		for _, c := range meta {
			ngroups = max(ngroups, int(c>>8)&0xffff+1)
		}
		// Only the groups that a tile names are kept (each costs a few
		// KB of tables, and a stream may name up to 65536): the others
		// are read and dropped, as libwebp does.
		slot = make([]int32, ngroups)
		for i := range slot {
			slot[i] = -1
		}
		used := int32(0)
		for i, c := range meta {
			g := int(c>>8) & 0xffff
			if slot[g] < 0 {
				slot[g] = used
				used++
			}
			meta[i] = uint32(slot[g])
		}
	}
	if r.eos {
		return nil, corrupt(formatWebP, "lossless: truncated")
	}
	cacheSize := 0
	if cacheBits > 0 {
		cacheSize = 1 << cacheBits
	}
	kept := ngroups
	if slot != nil {
		kept = 0
		for _, v := range slot {
			if v >= 0 {
				kept++
			}
		}
	}
	groups := make([]vp8lGroup, kept)
	var drop vp8lGroup
	alphabets := [5]int{256 + 24 + cacheSize, 256, 256, 256, 40}
	for g := range ngroups {
		dst := &drop
		switch {
		case slot == nil:
			dst = &groups[g]
		case slot[g] >= 0:
			dst = &groups[slot[g]]
		}
		for k := range 5 {
			if err := d.readCode(&dst[k], alphabets[k]); err != nil {
				return nil, err
			}
		}
	}
	var cache []uint32
	if cacheBits > 0 {
		cache = make([]uint32, cacheSize)
	}
	cacheShift := uint(32 - cacheBits)
	pix := make([]uint32, w*h)
	n := w * h
	grp := &groups[0]
	lastCached := 0
	regroup := true
	for i, x, y := 0, 0, 0; i < n; {
		if meta != nil && (regroup || x&(1<<metaBits-1) == 0) {
			grp = &groups[meta[(y>>metaBits)*metaW+(x>>metaBits)]]
			regroup = false
		}
		s := int(grp[0].decode(r))
		switch {
		case s < 256: // a literal
			red := uint32(grp[1].decode(r))
			blue := uint32(grp[2].decode(r))
			alpha := uint32(grp[3].decode(r))
			pix[i] = alpha<<24 | red<<16 | uint32(s)<<8 | blue
			i++
			x++
		case s < 256+24: // a backward reference
			length := prefixValue(r, s-256)
			dcode := prefixValue(r, int(grp[4].decode(r)))
			dist := planeDistance(w, dcode)
			if dist > i || length > n-i {
				return nil, corrupt(formatWebP, "lossless: bad backward reference")
			}
			for k := range length {
				pix[i+k] = pix[i+k-dist]
			}
			i += length
			x += length
			regroup = true
		default: // a colour cache index
			k := s - 256 - 24
			for ; lastCached < i; lastCached++ {
				c := pix[lastCached]
				cache[(c*0x1e35a7bd)>>cacheShift] = c
			}
			pix[i] = cache[k]
			i++
			x++
		}
		for x >= w {
			x -= w
			y++
			if d.check != nil && main {
				if err := d.check(); err != nil {
					return nil, err
				}
			}
		}
		if cache != nil {
			for ; lastCached < i; lastCached++ {
				c := pix[lastCached]
				cache[(c*0x1e35a7bd)>>cacheShift] = c
			}
		}
		if r.eos {
			return nil, corrupt(formatWebP, "lossless: truncated")
		}
	}
	return pix, nil
}

// prefixValue reads the value of an LZ77 prefix code (length or
// distance) with its extra bits.
func prefixValue(r *lsbReader, code int) int {
	if code < 4 {
		return code + 1
	}
	extra := uint(code-2) >> 1
	offset := (2 + code&1) << extra
	return offset + int(r.read(extra)) + 1
}

// planeDistance maps a distance code to a distance in pixels: the first
// 120 codes are neighbourhood offsets.
func planeDistance(w, code int) int {
	if code > 120 {
		return code - 120
	}
	m := vp8lDistanceMap[code-1]
	dy, dx := int(m>>4), 8-int(m&15)
	return max(dy*w+dx, 1)
}

// readCode reads one prefix code of an alphabet of n symbols.
func (d *vp8lDec) readCode(h *huffDecoder, n int) error {
	r := &d.r
	lengths := make([]uint8, n)
	if r.read(1) == 1 { // simple code: one or two symbols
		two := r.read(1) == 1
		var s0 uint32
		if r.read(1) == 1 {
			s0 = r.read(8)
		} else {
			s0 = r.read(1)
		}
		if int(s0) >= n {
			return corrupt(formatWebP, "lossless: symbol out of range")
		}
		lengths[s0] = 1
		if two {
			s1 := r.read(8)
			if int(s1) >= n {
				return corrupt(formatWebP, "lossless: symbol out of range")
			}
			lengths[s1] = 1
		}
	} else {
		var cl [19]uint8
		k := int(r.read(4)) + 4
		for i := range k {
			cl[vp8lCodeLengthOrder[i]] = uint8(r.read(3))
		}
		var clc huffDecoder
		if err := clc.build(cl[:]); err != nil {
			return err
		}
		limit := n
		if r.read(1) == 1 {
			nb := uint(2 + 2*r.read(3))
			limit = 2 + int(r.read(nb))
			if limit > n {
				return corrupt(formatWebP, "lossless: too many code lengths")
			}
		}
		prev := uint8(8)
		for s := 0; s < n && limit > 0; limit-- {
			c := clc.decode(r)
			switch {
			case c < 16:
				lengths[s] = uint8(c)
				s++
				if c != 0 {
					prev = uint8(c)
				}
			default:
				var rep int
				v := uint8(0)
				switch c {
				case 16:
					rep, v = 3+int(r.read(2)), prev
				case 17:
					rep = 3 + int(r.read(3))
				default:
					rep = 11 + int(r.read(7))
				}
				if s+rep > n {
					return corrupt(formatWebP, "lossless: code lengths past the alphabet")
				}
				for range rep {
					lengths[s] = v
					s++
				}
			}
			if r.eos {
				return corrupt(formatWebP, "lossless: truncated")
			}
		}
	}
	if r.eos {
		return corrupt(formatWebP, "lossless: truncated")
	}
	return h.build(lengths)
}

// undoTransform undoes t on pix (the image as t left it, t.xsize wide
// before a colour indexing transform packs it) and returns the result.
func undoTransform(t *vp8lTransform, pix []uint32, w, h int) []uint32 {
	xs := t.xsize
	switch t.kind {
	case 0: // predictor
		tw := subSize(xs, t.bits)
		for y := range h {
			row := pix[y*xs : y*xs+xs]
			if y == 0 {
				row[0] = addPixels(row[0], 0xff000000)
				for x := 1; x < xs; x++ {
					row[x] = addPixels(row[x], row[x-1])
				}
				continue
			}
			// up ends with the current row's first pixel: the top-right
			// of the last pixel, as the format has it.
			up := pix[(y-1)*xs : y*xs+1]
			row[0] = addPixels(row[0], up[0])
			modes := t.data[(y>>t.bits)*tw:]
			for x := 1; x < xs; {
				end := min((x>>t.bits+1)<<t.bits, xs)
				predictRun(int(modes[x>>t.bits]>>8&15), row, up, x, end)
				x = end
			}
		}
	case 1: // colour
		tw := subSize(xs, t.bits)
		for y := range h {
			row := pix[y*xs : y*xs+xs]
			for x, c := range row {
				m := t.data[(y>>t.bits)*tw+(x>>t.bits)]
				g2r, g2b, r2b := int8(m), int8(m>>8), int8(m>>16)
				g := int8(c >> 8)
				r := uint8(c>>16) + uint8((int32(g2r)*int32(g))>>5)
				b := uint8(c) + uint8((int32(g2b)*int32(g))>>5)
				b += uint8((int32(r2b) * int32(int8(r))) >> 5)
				row[x] = c&0xff00ff00 | uint32(r)<<16 | uint32(b)
			}
		}
	case 2: // subtract green
		for i, c := range pix {
			g := c >> 8 & 0xff
			rb := (c&0x00ff00ff + (g | g<<16)) & 0x00ff00ff
			pix[i] = c&0xff00ff00 | rb
		}
	case 3: // colour indexing
		if t.bits == 0 {
			for i, c := range pix {
				pix[i] = t.data[c>>8&0xff]
			}
			return pix
		}
		out := make([]uint32, w*h)
		per := 1 << t.bits
		bw := 8 >> t.bits
		mask := uint32(1)<<bw - 1
		packed := subSize(w, t.bits)
		for y := range h {
			src := pix[y*packed : y*packed+packed]
			dst := out[y*w : y*w+w]
			for x := range dst {
				idx := src[x/per] >> 8 >> (uint(x%per) * uint(bw)) & mask
				dst[x] = t.data[idx]
			}
		}
		return out
	}
	return pix
}

// predictRun undoes predictor mode on pixels x..end-1 of row (not the
// first of a row, nor of the first row), up being the row above with
// one more pixel.
func predictRun(mode int, row, up []uint32, x, end int) {
	row = row[:end]
	up = up[:end+1]
	switch mode {
	case 1:
		for i := x; i < end; i++ {
			row[i] = addPixels(row[i], row[i-1])
		}
	case 2:
		for i := x; i < end; i++ {
			row[i] = addPixels(row[i], up[i])
		}
	case 3:
		for i := x; i < end; i++ {
			row[i] = addPixels(row[i], up[i+1])
		}
	case 4:
		for i := x; i < end; i++ {
			row[i] = addPixels(row[i], up[i-1])
		}
	case 11:
		for i := x; i < end; i++ {
			row[i] = addPixels(row[i], selectPixel(row[i-1], up[i], up[i-1]))
		}
	default:
		for i := x; i < end; i++ {
			L, T, TL, TR := row[i-1], up[i], up[i-1], up[i+1]
			var pred uint32
			switch mode {
			case 5:
				pred = average2(average2(L, TR), T)
			case 6:
				pred = average2(L, TL)
			case 7:
				pred = average2(L, T)
			case 8:
				pred = average2(TL, T)
			case 9:
				pred = average2(T, TR)
			case 10:
				pred = average2(average2(L, TL), average2(T, TR))
			case 12:
				pred = clampAddSubtractFull(L, T, TL)
			case 13:
				pred = clampAddSubtractHalf(average2(L, T), TL)
			default: // 0, and 14 and 15 as libwebp reads them
				pred = 0xff000000
			}
			row[i] = addPixels(row[i], pred)
		}
	}
}

// selectPixel is the select predictor: L or T, whichever is nearer, in
// Manhattan distance over the channels, to the estimate L + T − TL.
func selectPixel(L, T, TL uint32) uint32 {
	d := func(a, b uint32, s uint) int32 {
		v := int32(a>>s&0xff) - int32(b>>s&0xff)
		m := v >> 31
		return (v ^ m) - m
	}
	pL := d(T, TL, 0) + d(T, TL, 8) + d(T, TL, 16) + d(T, TL, 24)
	pT := d(L, TL, 0) + d(L, TL, 8) + d(L, TL, 16) + d(L, TL, 24)
	if pL < pT {
		return L
	}
	return T
}
