package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"io"
	"math/bits"
	"slices"
)

// A JPEG encoder that quantises as image/jpeg does (the same
// quantisation tables scaled by quality the same way, 4:2:0 colour or one
// grey component, the same forward DCT and rounding, the same padding of
// partial blocks), in a fraction of its time: image/jpeg divides every
// coefficient by its quantiser, reads pixels through per-pixel offset
// methods, and for a *image.YCbCr spreads the chroma to full size only
// to average it back. Here the quantisers are reciprocals, blocks are
// copied from the planes row by row, 4:2:0 chroma goes in as it is, only
// the non-zero coefficients are visited, and the bits go out through a
// 64-bit buffer.
//
// Unlike image/jpeg it codes each scan with Huffman tables made for it
// (libjpeg's optimize_coding), in two passes: the blocks become tokens
// (symbols and their extra bits), then the symbols are counted, the
// tables made and the tokens coded; and it codes the blocks that only
// fill out the last MCUs as libjpeg does (dummyBlock). That saves bytes,
// most on small images, for little CPU. It also writes progressive JPEGs (jpegScript). With
// jpegOptions.standardTables it writes image/jpeg's bytes, which
// TestEncodeJPEGMatchesImageJPEG checks.

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

// jpegHuffSpec is one Huffman table as DHT writes it: the number of codes
// of each length 1..16, then the n symbols in order of code.
type jpegHuffSpec struct {
	counts [16]uint8
	vals   [256]uint8
	n      int
}

// stdJPEGHuffman returns standard table h (0 luminance DC, 1 luminance
// AC, 2 chrominance DC, 3 chrominance AC).
func stdJPEGHuffman(h int) jpegHuffSpec {
	t := jpegHuffSpec{counts: jpegStdHuffman[h].counts}
	t.n = copy(t.vals[:], jpegStdHuffman[h].vals)
	return t
}

// optimalJPEGHuffman returns the table that codes symbols with the
// frequencies freq in the fewest bits under JPEG's rules: no code longer
// than 16 bits, and no code of all ones. It is T.81 Annex K.2: a
// Huffman code over the used symbols and one reserved symbol of
// frequency 1 (which takes the all-ones code and is then dropped),
// lengths over 16 brought down by Figure K.3's Adjust_BITS, symbols
// listed by length then value. The Huffman code is built by sorting
// then merging two queues, not by Figure K.1's repeated search for the
// two smallest, which gives a Huffman code too (lengths may differ
// where frequencies tie, never the total). Ties are broken by symbol,
// so the same frequencies always give the same table. A table with no
// used symbol gets symbol 0, as a DHT may not be empty.
func optimalJPEGHuffman(freq *[256]uint32) jpegHuffSpec {
	const reserved = 256
	// key: frequency, then symbol from high to low, so that the reserved
	// symbol is the first leaf merged.
	var key [257]uint64
	n := 0
	key[n] = 1<<9 | (511 - reserved)
	n++
	for s, f := range freq {
		if f > 0 {
			key[n] = uint64(f)<<9 | uint64(511-s)
			n++
		}
	}
	if n == 1 {
		key[n] = 1<<9 | 511
		n++
	}
	slices.Sort(key[:n])
	// Leaves are nodes 0..n-1 in key order, merged nodes n..2n-2 in the
	// order made, so their weights never decrease: the two smallest are
	// at the heads of the two lists.
	var weight [2*257 - 1]uint64
	var parent [2*257 - 1]uint16
	for i := range n {
		weight[i] = key[i] >> 9
	}
	leaf, node := 0, n
	for k := n; k < 2*n-1; k++ {
		var pair [2]int
		for i := range pair {
			if leaf < n && (node >= k || weight[leaf] <= weight[node]) {
				pair[i] = leaf
				leaf++
			} else {
				pair[i] = node
				node++
			}
		}
		weight[k] = weight[pair[0]] + weight[pair[1]]
		parent[pair[0]], parent[pair[1]] = uint16(k), uint16(k)
	}
	// Depths, from the root (node 2n-2) down: a parent comes after its
	// children.
	var depth [2*257 - 1]uint16
	for i := 2*n - 3; i >= 0; i-- {
		depth[i] = depth[parent[i]] + 1
	}
	// The reserved symbol must hold a longest code, so that dropping the
	// last code of the longest length drops it. A deeper leaf has
	// frequency at most the reserved one's 1: swapping them costs nothing.
	deepest := 0
	for i := 1; i < n; i++ {
		if depth[i] > depth[deepest] {
			deepest = i
		}
	}
	depth[0], depth[deepest] = depth[deepest], depth[0]
	maxLen := int(depth[0])
	var bits [257]int // bits[l]: codes of length l
	for i := range n {
		bits[depth[i]]++
	}
	// Figure K.3: a code longer than 16 and its sibling become one code
	// a bit shorter, and a shorter code j becomes two of length j+1.
	for i := maxLen; i > 16; i-- {
		for bits[i] > 0 {
			j := i - 2
			for bits[j] == 0 {
				j--
			}
			bits[i] -= 2
			bits[i-1]++
			bits[j+1] += 2
			bits[j]--
		}
	}
	i := min(maxLen, 16)
	for bits[i] == 0 {
		i--
	}
	bits[i]-- // the reserved symbol's code
	var t jpegHuffSpec
	for l := 1; l <= 16; l++ {
		t.counts[l-1] = uint8(bits[l])
	}
	// Symbols by their Huffman length, then value; the reserved one, the
	// last of them, is left out.
	for i := 1; i < n; i++ {
		key[i-1] = uint64(depth[i])<<9 | (511 - key[i]&511)
	}
	slices.Sort(key[:n-1])
	for i := range n - 1 {
		t.vals[i] = uint8(key[i] & 511)
	}
	t.n = n - 1
	return t
}

// jpegOptions are an encode's settings.
type jpegOptions struct {
	quality int // 1..100
	// progressive writes a progressive JPEG (jpegScript's scans) instead
	// of a baseline one.
	progressive bool
	// standardTables writes the standard Huffman tables (T.81 K.3), not
	// tables made for the image, and transforms the blocks past the
	// image that fill out the last MCUs (see dummyBlock): image/jpeg's
	// bytes, which the tests hold the transform and quantisation to.
	// Baseline only: the standard tables have no codes for a progressive
	// scan's end-of-band runs.
	standardTables bool
}

// jpegComp is one component of an encode.
type jpegComp struct {
	id uint8 // as in SOF and SOS: 1 Y (or grey), 2 Cb, 3 Cr
	t  int   // quantisation and Huffman tables: 0 luminance, 1 chrominance
	dc int32 // the previous block's DC, in MCU order
	// bw×bh blocks cover the component's MCUs (a baseline or interleaved
	// scan's blocks); the first w×h of each row and column cover the
	// component itself (a non-interleaved scan's blocks).
	bw, bh, w, h int
	// coef holds, for a progressive JPEG, every block's quantised
	// coefficients in zig-zag order, 64 a block, bw blocks a row.
	coef []int16
}

// jpegScanSpec is one scan of a progressive JPEG: its components (indices
// into jpegEnc.comps) and its band of zig-zag coefficients ss..se.
type jpegScanSpec struct {
	comps  []int
	ss, se int
}

// jpegScript returns the scans of a progressive JPEG of ncomp (1 or 3)
// components: the DCs of all, then each component's AC bands, luminance
// 1-5 first. It is libjpeg's default script (jcparam.c) without
// successive approximation: each band is sent once, exactly, so a scan
// needs no correction bits, only runs of empty bands. On the corpus at
// q80 (BENCHMARKS.md) libjpeg's script with its refinement scans is
// barely smaller in all, smaller on large images and larger on small
// ones: not worth the code.
func jpegScript(ncomp int) []jpegScanSpec {
	if ncomp == 1 {
		return []jpegScanSpec{{[]int{0}, 0, 0}, {[]int{0}, 1, 5}, {[]int{0}, 6, 63}}
	}
	return []jpegScanSpec{
		{[]int{0, 1, 2}, 0, 0},
		{[]int{0}, 1, 5},
		{[]int{2}, 1, 63},
		{[]int{1}, 1, 63},
		{[]int{0}, 6, 63},
	}
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
	comps []jpegComp
	// A scan's symbols and their extra bits, gathered before the scan's
	// Huffman tables can be made, are tokens: h<<28 | symbol<<20 |
	// size<<16 | bits, h the Huffman table (0 luminance DC, 1 luminance
	// AC, 2 chrominance DC, 3 chrominance AC), size the number of extra
	// bits (at most 14), bits their value. They are kept in chunks of
	// one size, which grow without copying: chunks[:used] are full,
	// tokens is chunks[used] as filled so far; later chunks are spare,
	// from an earlier scan.
	chunks [][]uint32
	used   int
	tokens []uint32
	// codes[h<<8|symbol] is the symbol's code in table h: code<<8 | length.
	codes [4 << 8]uint32
	std   bool // jpegOptions.standardTables
}

// encodeJPEG writes m, an opaque *image.RGBA, a 4:2:0 *image.YCbCr or an
// *image.Gray, each with bounds starting at the origin, as a JPEG of
// quality o.quality (1..100), 4:2:0 for colour, with Huffman tables made
// for the image: baseline, or progressive when o.progressive. The same
// image and options always give the same bytes. It polls ctx once a row
// of MCUs.
func encodeJPEG(ctx context.Context, w io.Writer, m image.Image, o jpegOptions) error {
	if o.quality < 1 || o.quality > 100 {
		return fmt.Errorf("encode jpeg: %w: quality %d not in 1..100", errBadParam, o.quality)
	}
	if o.progressive && o.standardTables {
		return fmt.Errorf("encode jpeg: %w: standard tables cannot code a progressive JPEG", errBadParam)
	}
	b := m.Bounds()
	if b.Dx() >= 1<<16 || b.Dy() >= 1<<16 || b.Empty() || b.Min != (image.Point{}) {
		return fmt.Errorf("encode jpeg: %w: bounds %v", errBadParam, b)
	}
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
	e := &jpegEnc{std: o.standardTables}
	scale := jpegQuality(o.quality)
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
	width, height := b.Dx(), b.Dy()
	if gray {
		bw, bh := (width+7)/8, (height+7)/8
		e.comps = []jpegComp{{id: 1, bw: bw, bh: bh, w: bw, h: bh}}
	} else {
		mw, mh := (width+15)/16, (height+15)/16
		e.comps = []jpegComp{
			{id: 1, bw: 2 * mw, bh: 2 * mh, w: (width + 7) / 8, h: (height + 7) / 8},
			{id: 2, t: 1, bw: mw, bh: mh, w: mw, h: mh},
			{id: 3, t: 1, bw: mw, bh: mh, w: mw, h: mh},
		}
	}
	blocks := 0
	for i := range e.comps {
		c := &e.comps[i]
		blocks += c.bw * c.bh
		if o.progressive {
			c.coef = make([]int16, 64*c.bw*c.bh)
		}
	}
	// A block of a photo takes 5-10 tokens at q80, 20 at q95. Chunks of
	// at most 16K tokens waste at most 64 KB.
	e.chunks = [][]uint32{make([]uint32, 0, min(max(4*blocks, 512), 1<<14))}
	e.tokens = e.chunks[0]
	// The headers; writeScan makes room for each scan's data.
	e.out = make([]byte, 0, 1024)
	e.frameHeader(width, height, o.progressive)
	// Transform and quantise every block: into the tokens of a baseline
	// JPEG's one scan, or into coef for a progressive JPEG's scans.
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
	if !o.progressive {
		all := []int{0, 1, 2}[:len(e.comps)]
		e.writeScan(jpegScanSpec{all, 0, 63})
	} else {
		for _, s := range jpegScript(len(e.comps)) {
			e.used, e.tokens = 0, e.chunks[0][:0]
			if s.ss == 0 {
				e.tokeniseDC(s.comps)
			} else {
				e.tokeniseAC(&e.comps[s.comps[0]], s.ss, s.se)
			}
			e.writeScan(s)
		}
	}
	e.out = append(e.out, 0xff, jpegEOI)
	if _, err := w.Write(e.out); err != nil {
		return fmt.Errorf("encode jpeg: %w", err)
	}
	return nil
}

// frameHeader writes SOI, DQT and SOF0 (baseline) or SOF2 (progressive)
// as image/jpeg does.
func (e *jpegEnc) frameHeader(w, h int, progressive bool) {
	o := append(e.out, 0xff, jpegSOI)
	o = append(o, 0xff, jpegDQT, 0, 2+2*65)
	for t := range e.quant {
		o = append(o, uint8(t))
		o = append(o, e.quant[t][:]...)
	}
	sof := uint8(jpegSOF0)
	if progressive {
		sof = jpegSOF2
	}
	ncomp := len(e.comps)
	o = append(o, 0xff, sof, 0, uint8(8+3*ncomp), 8, uint8(h>>8), uint8(h), uint8(w>>8), uint8(w), uint8(ncomp))
	if ncomp == 1 {
		o = append(o, 1, 0x11, 0)
	} else {
		o = append(o, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	}
	e.out = o
}

// writeScan makes the Huffman tables of scan s from its tokens (or takes
// the standard ones), and writes them (DHT), the scan header (SOS) and
// the coded tokens, padded to a byte with ones.
func (e *jpegEnc) writeScan(s jpegScanSpec) {
	// The tables the scan uses: DC for a band from 0, AC for one past 0.
	var used [4]bool
	for _, c := range s.comps {
		t := e.comps[c].t
		used[2*t] = used[2*t] || s.ss == 0
		used[2*t+1] = used[2*t+1] || s.se > 0
	}
	// Count the symbols, and the extra bits.
	var freq [4 << 8]uint32
	extra := 0
	for i := range e.used + 1 {
		for _, t := range e.chunk(i) {
			freq[t>>20]++
			extra += int(t >> 16 & 0xf)
		}
	}
	var tables [4]jpegHuffSpec
	size := 2
	for h := range tables {
		if !used[h] {
			continue
		}
		if e.std {
			tables[h] = stdJPEGHuffman(h)
		} else {
			tables[h] = optimalJPEGHuffman((*[256]uint32)(freq[h<<8:]))
		}
		e.setCodes(h, &tables[h])
		size += 17 + tables[h].n
	}
	o := append(e.out, 0xff, jpegDHT, uint8(size>>8), uint8(size))
	for h, t := range tables {
		if used[h] {
			o = append(o, "\x00\x10\x01\x11"[h])
			o = append(o, t.counts[:]...)
			o = append(o, t.vals[:t.n]...)
		}
	}
	o = append(o, 0xff, jpegSOS, 0, uint8(6+2*len(s.comps)), uint8(len(s.comps)))
	for _, c := range s.comps {
		c := &e.comps[c]
		o = append(o, c.id, uint8(c.t<<4|c.t))
	}
	o = append(o, uint8(s.ss), uint8(s.se), 0)
	// Room for the coded data, known from the counts, plus 1/128 for
	// the zero bytes stuffed after 0xff bytes (1/256 of random data).
	n := extra
	for k, f := range freq {
		n += int(f) * int(e.codes[k]&0xff)
	}
	e.out = slices.Grow(o, n/8+n/1024+16)
	for i := range e.used + 1 {
		// emit, written out: the compiler would not inline it.
		acc, n := e.acc, e.n
		for _, t := range e.chunk(i) {
			c := e.codes[t>>20]
			size := uint(t >> 16 & 0xf)
			l := uint(c&0xff) + size
			acc |= (uint64(c>>8)<<size | uint64(t&0xffff)) << (64 - n - l)
			n += l
			if n >= 32 {
				e.acc, e.n = acc, n
				e.flush32()
				acc, n = e.acc, e.n
			}
		}
		e.acc, e.n = acc, n
	}
	// Pad the last byte with ones.
	e.emit(0x7f, 7)
	e.flushBytes()
	e.acc, e.n = 0, 0
}

// setCodes sets codes[h<<8|symbol] from table t: canonical codes, those
// of each length counting on from the previous length's, shifted.
func (e *jpegEnc) setCodes(h int, t *jpegHuffSpec) {
	codes := e.codes[h<<8 : h<<8+256]
	clear(codes)
	code, k := uint32(0), 0
	for l, n := range t.counts {
		for range n {
			codes[t.vals[k]] = code<<8 | uint32(l+1)
			code++
			k++
		}
		code <<= 1
	}
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

// scanGray transforms the blocks of a grey image.
func (e *jpegEnc) scanGray(ctx context.Context, m *image.Gray) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	c := &e.comps[0]
	var b jpegBlock
	for y := 0; y < h; y += 8 {
		if err := ctx.Err(); err != nil {
			return err
		}
		for x := 0; x < w; x += 8 {
			loadBlock(&b, m.Pix, m.Stride, w, h, x, y)
			e.block(&b, c, y/8*c.bw+x/8)
		}
	}
	return nil
}

// scanYCbCr transforms the MCUs of a 4:2:0 image: four Y blocks, then
// one Cb and one Cr block from the chroma planes as they are (image/jpeg
// would spread each chroma sample over 2x2 pixels and average them
// back).
func (e *jpegEnc) scanYCbCr(ctx context.Context, m *image.YCbCr) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	cy, cb, cr := &e.comps[0], &e.comps[1], &e.comps[2]
	var b jpegBlock
	for y := 0; y < h; y += 16 {
		if err := ctx.Err(); err != nil {
			return err
		}
		for x := 0; x < w; x += 16 {
			for i := range 4 {
				ox, oy := 8*(i&1), 4*(i&2)
				k := (y+oy)/8*cy.bw + (x+ox)/8
				if !e.std && (x+ox >= w || y+oy >= h) {
					e.dummyBlock(cy, k)
					continue
				}
				loadBlock(&b, m.Y, m.YStride, w, h, x+ox, y+oy)
				e.block(&b, cy, k)
			}
			k := y/16*cb.bw + x/16
			loadBlock(&b, m.Cb, m.CStride, cw, ch, x/2, y/2)
			e.block(&b, cb, k)
			loadBlock(&b, m.Cr, m.CStride, cw, ch, x/2, y/2)
			e.block(&b, cr, k)
		}
	}
	return nil
}

// scanRGBA transforms the MCUs of an opaque RGBA image, converted with
// color.RGBToYCbCr, the chroma averaged over 2x2 pixels, as image/jpeg
// does.
func (e *jpegEnc) scanRGBA(ctx context.Context, m *image.RGBA) error {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cy, cb, cr := &e.comps[0], &e.comps[1], &e.comps[2]
	var ys, u, v [16 * 16]int32
	var b jpegBlock
	for y := 0; y < h; y += 16 {
		if err := ctx.Err(); err != nil {
			return err
		}
		for x := 0; x < w; x += 16 {
			for j := range 16 {
				row := m.Pix[min(y+j, h-1)*m.Stride:]
				for i := range 16 {
					p := row[4*min(x+i, w-1):]
					yy, uu, vv := color.RGBToYCbCr(p[0], p[1], p[2])
					ys[16*j+i], u[16*j+i], v[16*j+i] = int32(yy), int32(uu), int32(vv)
				}
			}
			for i := range 4 {
				ox, oy := 8*(i&1), 4*(i&2)
				k := (y+oy)/8*cy.bw + (x+ox)/8
				if !e.std && (x+ox >= w || y+oy >= h) {
					e.dummyBlock(cy, k)
					continue
				}
				for j := range 8 {
					copy(b[8*j:8*j+8], ys[16*(oy+j)+ox:])
				}
				e.block(&b, cy, k)
			}
			k := y/16*cb.bw + x/16
			average420(&b, &u)
			e.block(&b, cb, k)
			average420(&b, &v)
			e.block(&b, cr, k)
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

// block transforms and quantises b, block k of component c, and keeps
// the result: in c.coef for a progressive JPEG, else as the tokens of
// the baseline scan, after the previous block of c.
func (e *jpegEnc) block(b *jpegBlock, c *jpegComp, k int) {
	fdct(b)
	recip, half := &e.recip[c.t], &e.half[c.t]
	if c.coef != nil {
		q := c.coef[64*k : 64*k+64 : 64*k+64]
		for z := range q {
			i := jpegUnzig[z]
			q[z] = int16(quantise(b[i], recip[i], half[i]))
		}
		c.dc = int32(q[0])
		return
	}
	// q holds the quantised coefficients in zig-zag order; nz has a bit
	// for each non-zero AC one.
	var q [64]int32
	var nz uint64
	for z := 1; z < 64; z++ {
		i := jpegUnzig[z]
		v := quantise(b[i], recip[i], half[i])
		q[z] = v
		// Without a branch: which coefficients are zero is anyone's guess.
		nz |= uint64(uint32(v|-v)>>31) << z
	}
	d := quantise(b[0], recip[0], half[0])
	dcTable, acTable := uint32(2*c.t), uint32(2*c.t+1)
	e.value(dcTable, 0, d-c.dc)
	c.dc = d
	last := 0
	for nz != 0 {
		z := bits.TrailingZeros64(nz)
		nz &= nz - 1
		run := z - last - 1
		for ; run > 15; run -= 16 {
			e.symbol(acTable, 0xf0) // sixteen zeros
		}
		e.value(acTable, run, q[z])
		last = z
	}
	if last < 63 {
		e.symbol(acTable, 0x00) // end of block
	}
}

// dummyBlock keeps block k of c, a Y block that only fills out an MCU
// past the image's right or bottom edge (T.81 A.2.4; decoders discard
// it), as libjpeg does: the previous block's DC and no AC, two short
// symbols. image/jpeg transforms the edge pixels repeated instead, which
// costs up to a tenth of a thumbnail's bytes.
func (e *jpegEnc) dummyBlock(c *jpegComp, k int) {
	if c.coef != nil {
		c.coef[64*k] = int16(c.dc)
		return
	}
	e.value(uint32(2*c.t), 0, 0)
	e.symbol(uint32(2*c.t+1), 0x00) // end of block
}

// tokeniseDC makes the tokens of a progressive JPEG's first DC scan of
// the components comps: one block after another for one component,
// MCU after MCU (four Y blocks, Cb, Cr) for all three.
func (e *jpegEnc) tokeniseDC(comps []int) {
	for i := range e.comps {
		e.comps[i].dc = 0
	}
	if len(comps) == 1 {
		c := &e.comps[comps[0]]
		for by := range c.h {
			for bx := range c.w {
				e.dcDiff(c, by*c.bw+bx)
			}
		}
		return
	}
	cy, cb, cr := &e.comps[0], &e.comps[1], &e.comps[2]
	for my := range cb.bh {
		for mx := range cb.bw {
			for i := range 4 {
				e.dcDiff(cy, (2*my+i>>1)*cy.bw+2*mx+i&1)
			}
			e.dcDiff(cb, my*cb.bw+mx)
			e.dcDiff(cr, my*cr.bw+mx)
		}
	}
}

// dcDiff adds the token of block k's DC, as a difference from the
// previous block's.
func (e *jpegEnc) dcDiff(c *jpegComp, k int) {
	d := int32(c.coef[64*k])
	e.value(uint32(2*c.t), 0, d-c.dc)
	c.dc = d
}

// tokeniseAC makes the tokens of a progressive JPEG's first scan of the
// band ss..se (1 <= ss <= se <= 63) of component c: its blocks row by
// row (only those that cover the component, T.81 A.2.2), runs of blocks
// whose band is zero from some point on coded as one end-of-band run
// (G.1.2.2).
func (e *jpegEnc) tokeniseAC(c *jpegComp, ss, se int) {
	table := uint32(2*c.t + 1)
	eobrun := 0
	for by := range c.h {
		for bx := range c.w {
			k := by*c.bw + bx
			q := c.coef[64*k : 64*k+64 : 64*k+64]
			run := 0
			for z := ss; z <= se; z++ {
				v := q[z]
				if v == 0 {
					run++
					continue
				}
				if eobrun > 0 {
					e.eobRun(table, eobrun)
					eobrun = 0
				}
				for ; run > 15; run -= 16 {
					e.symbol(table, 0xf0)
				}
				e.value(table, run, int32(v))
				run = 0
			}
			if run > 0 {
				eobrun++
				if eobrun == 0x7fff { // the longest run a symbol codes
					e.eobRun(table, eobrun)
					eobrun = 0
				}
			}
		}
	}
	if eobrun > 0 {
		e.eobRun(table, eobrun)
	}
}

// chunk returns the tokens of chunk i (0..used).
func (e *jpegEnc) chunk(i int) []uint32 {
	if i == e.used {
		return e.tokens
	}
	return e.chunks[i]
}

// add adds token t.
func (e *jpegEnc) add(t uint32) {
	if len(e.tokens) == cap(e.tokens) {
		e.nextChunk()
	}
	e.tokens = append(e.tokens, t)
}

// nextChunk files the full chunk and starts the next.
func (e *jpegEnc) nextChunk() {
	e.chunks[e.used] = e.tokens
	e.used++
	if e.used == len(e.chunks) {
		e.chunks = append(e.chunks, make([]uint32, 0, cap(e.tokens)))
	}
	e.tokens = e.chunks[e.used][:0]
}

// eobRun adds the token of n (1..0x7fff) blocks ending in zeros: symbol
// r<<4 for the r = floor(log2 n), then the r low bits of n.
func (e *jpegEnc) eobRun(table uint32, n int) {
	r := uint32(bits.Len(uint(n)) - 1)
	e.add(table<<28 | r<<24 | r<<16 | uint32(n)&(1<<r-1))
}

// symbol adds the token of symbol s of Huffman table table, without
// extra bits.
func (e *jpegEnc) symbol(table uint32, s uint8) {
	e.add(table<<28 | uint32(s)<<20)
}

// value adds the token of a run of zeros then the non-zero (or, for DC,
// any) value v: symbol run<<4 | size, then size bits of v (T.81 F.1.2).
func (e *jpegEnc) value(table uint32, run int, v int32) {
	a, b := v, v
	if a < 0 {
		a, b = -v, v-1
	}
	size := uint32(bits.Len32(uint32(a)))
	e.add(table<<28 | uint32(run)<<24 | size<<20 | size<<16 | uint32(b)&(1<<size-1))
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
// LICENSE-GO), copied so that the coefficients, and so the
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
