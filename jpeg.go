package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"math/bits"
)

// A JPEG decoder that can decode at 1/1, 1/2, 1/4 or 1/8 of the stored
// size straight from the DCT coefficients ("shrink on load", as libjpeg's
// scale_num/scale_denom and libvips do): a 200x200 thumbnail of a 20 MP
// photo then never materialises the full image.
//
// What it reads: baseline and extended sequential (SOF0, SOF1) and
// progressive (SOF2) Huffman-coded JPEGs of 8-bit precision, with restart
// markers, any integral sampling factors from 1 to 4, and 1 (grey),
// 3 (YCbCr, or RGB when an Adobe marker says transform 0 or the component
// IDs are 'R', 'G', 'B') or 4 (Adobe CMYK or YCCK) components. Arithmetic
// coding, 12-bit precision, lossless and hierarchical JPEGs are
// errUnsupportedFormat.
//
// How it scales: each 8x8 block becomes an s×s block (s = 8/scale) with a
// reduced inverse DCT: 8x8 is libjpeg's accurate integer IDCT, 4x4 and 2x2
// are the 4- and 2-point IDCTs of the block's lowest s×s coefficients (as
// libjpeg 7+ scales), and 1x1 is the DC coefficient alone (the block's
// average). At 1/8 a progressive image keeps one coefficient per block
// and skips the entropy data of its AC scans without decoding it.
//
// How it reads the entropy-coded data: a 64-bit bit buffer, refilled 8
// bytes at a time while they hold no 0xff (bytewise around stuffing and
// markers, then with zero bits: a scan that uses those is truncated), and
// 9-bit Huffman lookahead tables with a canonical-code slow path for
// longer codes. AC decoding reads code, run and value with one lookup
// when they fit in 9 bits; at 1/8 the AC codes of sequential images are
// skipped, several per lookup when they fit in 11 bits. Nothing is
// allocated per symbol or per block.
//
// How it outputs: the components are decoded into planes at the reduced
// size, then upsampled (chroma of subsampled images with a "fancy"
// bilinear filter, centred like libjpeg's: 3/4 and 1/4 for 2x) and
// converted with the integer YCbCr->RGB math of image/color into an
// opaque *image.RGBA.

// decodeJPEGPlanesChroma decodes data into its component planes at
// 1/scale of its size (scale 1, 2, 4 or 8), rounding the size up as
// libjpeg does (ceil(w/scale)). A caller that needs the chroma planes of
// a YCbCr image only chroma samples large (as stored, for the whole
// image; zero: at their full size), as a resample to 4:2:0 does, says
// so: their blocks are then decoded at a further 1/2, 1/4 or 1/8 (to 1/8
// in all) while the planes stay at least that large. See chromaScale.
//
// It allocates what the frame header claims (the planes at the reduced
// size, and for progressive images the coefficients), so callers check
// the header's size first (newPlan does, on what inspectSource read). Bad data,
// truncation included, is errCorruptImage; features it does not read are
// errUnsupportedFormat.
func decodeJPEGPlanesChroma(ctx context.Context, data []byte, scale int, chroma image.Point) (*jpegDecoder, error) {
	switch scale {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("decode jpeg: %w: scale %d", errBadParam, scale)
	}
	d := &jpegDecoder{ctx: ctx, data: data, scale: scale, bs: 8 / scale, chromaNeed: chroma}
	if err := d.decode(); err != nil {
		return nil, fmt.Errorf("decode jpeg: %w", err)
	}
	return d, nil
}

// jpegScale is the largest scale in {1,2,4,8} such that the scaled image is
// still at least w×h (so the following resample only shrinks): use it when
// the output is at most half the source.
func jpegScale(srcW, srcH, w, h int) int {
	for s := 8; s > 1; s /= 2 {
		if (srcW+s-1)/s >= w && (srcH+s-1)/s >= h {
			return s
		}
	}
	return 1
}

// JPEG markers (ITU T.81 table B.1).
const (
	jpegSOF0 = 0xc0 // baseline
	jpegSOF1 = 0xc1 // extended sequential, Huffman
	jpegSOF2 = 0xc2 // progressive, Huffman
	jpegDHT  = 0xc4
	jpegRST0 = 0xd0
	jpegRST7 = 0xd7
	jpegSOI  = 0xd8
	jpegEOI  = 0xd9
	jpegSOS  = 0xda
	jpegDQT  = 0xdb
	jpegDRI  = 0xdd
	jpegAPP0 = 0xe0
	jpegAPPE = 0xee // Adobe
	jpegAPPF = 0xef
	jpegCOM  = 0xfe
)

const (
	// jpegLookBits is the width of the Huffman lookahead tables: codes up
	// to this long decode with one table read.
	jpegLookBits = 9
	// jpegMaxBlocksInMCU is libjpeg's D_MAX_BLOCKS_IN_MCU and the bound of
	// T.81 B.2.3: the blocks of an interleaved MCU.
	jpegMaxBlocksInMCU = 10
)

// jpegUnzig maps a coefficient's zig-zag index to its natural (row-major)
// index. It is never written.
var jpegUnzig = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// jpegComponent is one colour component of the frame.
type jpegComponent struct {
	id     byte
	h, v   int // sampling factors
	tq     int // quantisation table
	bw, bh int // blocks across and down, padded to whole MCUs
	// cbw, cbh are the blocks that hold image samples: what a
	// non-interleaved scan codes.
	cbw, cbh int
	// rx, ry are the upsampling ratios of the plane to the decoded image:
	// hmax/h and vmax/v, times chromaScale for chroma decoded smaller.
	rx, ry int
	// bs is the samples per block side in the plane: the decoder's, or
	// fewer for chroma decoded smaller.
	bs int
	// plane holds the samples at the output scale, bs×bs per block, with
	// stride bw*bs; vw×vh of them lie inside the image.
	plane  []byte
	stride int
	vw, vh int
	// coefs holds a progressive image's coefficients, the ncoef that the
	// scaled IDCT reads per block (see keep), block (bx, by) at
	// (by*bw+bx)*ncoef.
	coefs []int16
	// nz has a bit per zig-zag index for each block's non-zero AC
	// coefficients, kept or not (progressive images at scales 1 to 4):
	// refinement scans read a bit for each, and visit only those.
	nz   []uint64
	pred int32 // DC predictor
}

// jpegScan is the header of one scan.
type jpegScan struct {
	n      int
	comps  [4]*jpegComponent
	dc, ac [4]*jpegHuffman
	ss, se int // spectral selection, zig-zag indexes
	ah, al uint
}

// maxJPEGScans bounds the scans of a JPEG. Each scan walks every block
// of its components, however few bytes code it (a run of end-of-bands
// codes a whole scan in a few bytes), so scans, not bytes, measure the
// work: 10000 scans of a 10000×10000 image are over 10^10 blocks.
// Encoders write one scan per component for a baseline image and about
// ten for a progressive one (libjpeg's default script); a few hundred
// leaves room for any real script, as libjpeg-turbo's own scan limit
// does.
const maxJPEGScans = 500

// jpegScanCount counts the scans (SOS markers) of data by walking its
// segments as the decoder does, without decoding them: decodeSource refuses a
// source of more than maxJPEGScans before allocating anything for it. A
// walk that fails stops with the count so far (decoding reports why).
func jpegScanCount(data []byte) int {
	d := &jpegDecoder{data: data, pos: 2}
	n := 0
	for {
		marker, err := d.nextMarker()
		if err != nil || marker == jpegEOI {
			return n
		}
		if jpegRST0 <= marker && marker <= jpegRST7 {
			continue
		}
		if _, err := d.segment(); err != nil {
			return n
		}
		if marker == jpegSOS {
			n++
		}
	}
}

// jpegDecoder holds the state of one decode.
type jpegDecoder struct {
	// ctx is the context of the call that made the decoder (it lives as
	// long): polled per scan and per row of MCUs.
	ctx   context.Context
	data  []byte
	pos   int
	scale int // 1, 2, 4, 8
	bs    int // output samples per block side: 8/scale
	// chromaNeed is the least chroma plane size the caller needs, zero
	// for full (see decodeJPEGPlanesChroma).
	chromaNeed image.Point

	width, height int
	sof           bool
	progressive   bool
	ncomp         int
	comp          [4]jpegComponent
	hmax, vmax    int
	mcusX, mcusY  int
	// A progressive decode keeps ncoef coefficients per block: the
	// bs×bs lowest, coefficient (u, v) at v*bs+u; keep[k] is where the
	// one of zig-zag index k goes, -1 if nowhere, and kept has the bits
	// of the AC ones kept.
	ncoef int
	keep  [64]int8
	kept  uint64

	quant   [4][64]int32 // natural order
	huff    [2][4]jpegHuffman
	restart int // MCUs per restart interval, 0 = none
	scans   int

	jfif           bool
	adobe          bool
	adobeTransform byte

	br     jpegBits
	eobrun int32
	err    error // first entropy-coding error of the current scan
}

// decode reads the segments from SOI to EOI, decoding the scans into the
// planes (or, for progressive images, into the coefficients, turned into
// the planes at EOI).
func (d *jpegDecoder) decode() error {
	if len(d.data) < 2 || d.data[0] != 0xff || d.data[1] != jpegSOI {
		return corrupt(formatJPEG, "missing SOI marker")
	}
	d.pos = 2
	for {
		marker, err := d.nextMarker()
		if err != nil {
			return err
		}
		if marker == jpegEOI {
			break
		}
		if jpegRST0 <= marker && marker <= jpegRST7 {
			continue // a stray restart marker after a scan: harmless
		}
		seg, err := d.segment()
		if err != nil {
			return err
		}
		if err := d.process(marker, seg); err != nil {
			return err
		}
	}
	if d.scans == 0 {
		return corrupt(formatJPEG, "no scan")
	}
	if d.progressive {
		return d.reconstruct()
	}
	return nil
}

// process handles one marker segment.
func (d *jpegDecoder) process(marker byte, seg []byte) error {
	switch {
	case marker == jpegSOF0 || marker == jpegSOF1 || marker == jpegSOF2:
		return d.processSOF(marker, seg)
	case marker == jpegDHT:
		return d.processDHT(seg)
	case marker == jpegDQT:
		return d.processDQT(seg)
	case marker == jpegDRI:
		if len(seg) != 2 {
			return corrupt(formatJPEG, "bad DRI length")
		}
		d.restart = int(binary.BigEndian.Uint16(seg))
		return nil
	case marker == jpegSOS:
		return d.processSOS(seg)
	case marker == jpegAPP0:
		d.jfif = len(seg) >= 5 && string(seg[:5]) == "JFIF\x00"
		return nil
	case marker == jpegAPPE:
		if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
			d.adobe, d.adobeTransform = true, seg[11]
		}
		return nil
	case jpegAPP0 <= marker && marker <= jpegAPPF, marker == jpegCOM:
		return nil
	case marker < 0xc0:
		return corrupt(formatJPEG, fmt.Sprintf("unknown marker 0x%02x", marker))
	}
	// SOF3 and SOF5-15 (lossless, hierarchical, arithmetic), DAC, DNL,
	// DHP, EXP, JPGn.
	return unsupported(formatJPEG, fmt.Sprintf("marker 0x%02x", marker))
}

// nextMarker skips to the next marker and returns its code, leaving pos
// after it. Like image/jpeg and libjpeg it skips extraneous bytes between
// segments and the fill bytes (0xff) before a marker.
func (d *jpegDecoder) nextMarker() (byte, error) {
	for {
		i := bytes.IndexByte(d.data[d.pos:], 0xff)
		if i < 0 || d.pos+i+1 >= len(d.data) {
			return 0, corrupt(formatJPEG, "truncated (no EOI marker)")
		}
		d.pos += i + 1
		m := d.data[d.pos]
		if m == 0xff {
			continue // fill byte; the marker follows
		}
		d.pos++
		if m != 0 {
			return m, nil
		}
	}
}

// segment returns the payload of the marker segment at pos and moves past it.
func (d *jpegDecoder) segment() ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, corrupt(formatJPEG, "truncated segment")
	}
	n := int(binary.BigEndian.Uint16(d.data[d.pos:]))
	if n < 2 {
		return nil, corrupt(formatJPEG, "short segment length")
	}
	if d.pos+n > len(d.data) {
		return nil, corrupt(formatJPEG, "truncated segment")
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

// processSOF reads the frame header and allocates the planes (and, for a
// progressive image, the coefficients).
func (d *jpegDecoder) processSOF(marker byte, seg []byte) error {
	if d.sof {
		return corrupt(formatJPEG, "multiple SOF markers")
	}
	d.sof = true
	d.progressive = marker == jpegSOF2
	if len(seg) < 6 {
		return corrupt(formatJPEG, "short SOF")
	}
	if seg[0] != 8 {
		return unsupported(formatJPEG, fmt.Sprintf("%d-bit jpeg", seg[0]))
	}
	d.height = int(binary.BigEndian.Uint16(seg[1:]))
	d.width = int(binary.BigEndian.Uint16(seg[3:]))
	d.ncomp = int(seg[5])
	if d.width == 0 || d.height == 0 {
		return unsupported(formatJPEG, "jpeg without a height (DNL) or width")
	}
	switch d.ncomp {
	case 1, 3, 4:
	default:
		return unsupported(formatJPEG, fmt.Sprintf("jpeg with %d components", d.ncomp))
	}
	if len(seg) != 6+3*d.ncomp {
		return corrupt(formatJPEG, "bad SOF length")
	}
	d.hmax, d.vmax = 1, 1
	for i := range d.ncomp {
		c := &d.comp[i]
		p := seg[6+3*i:]
		c.id, c.h, c.v, c.tq = p[0], int(p[1]>>4), int(p[1]&15), int(p[2])
		for j := range i {
			if d.comp[j].id == c.id {
				return corrupt(formatJPEG, "repeated component ID")
			}
		}
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return corrupt(formatJPEG, "bad sampling factors")
		}
		if c.tq > 3 {
			return corrupt(formatJPEG, "bad quantisation table selector")
		}
		if d.ncomp == 1 {
			// A single component is non-interleaved: its MCU is one
			// block whatever h and v say (T.81 A.2).
			c.h, c.v = 1, 1
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	d.mcusX = (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcusY = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	d.keepLowest()
	for i := range d.ncomp {
		c := &d.comp[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return unsupported(formatJPEG, "non-integral sampling ratios")
		}
		c.rx, c.ry = d.hmax/c.h, d.vmax/c.v
		c.bs = d.bs
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		cw := (d.width*c.h + d.hmax - 1) / d.hmax
		ch := (d.height*c.v + d.vmax - 1) / d.vmax
		c.cbw, c.cbh = (cw+7)/8, (ch+7)/8
	}
	if k := d.chromaScale(); k > 1 {
		for _, c := range []*jpegComponent{&d.comp[1], &d.comp[2]} {
			c.bs /= k
			c.rx, c.ry = c.rx*k, c.ry*k
		}
	}
	outW, outH := d.outSize()
	for i := range d.ncomp {
		c := &d.comp[i]
		c.vw, c.vh = (outW+c.rx-1)/c.rx, (outH+c.ry-1)/c.ry
		c.stride = c.bw * c.bs
		c.plane = make([]byte, c.stride*c.bh*c.bs)
		if d.progressive {
			c.coefs = make([]int16, c.bw*c.bh*d.ncoef)
			if d.ncoef > 1 { // at 1/8 the AC scans are skipped
				c.nz = make([]uint64, c.bw*c.bh)
			}
		}
	}
	return nil
}

// chromaScale is how many times smaller than the luma the chroma of a
// YCbCr image is decoded for a caller that needs its planes only
// chromaNeed large. The chroma blocks then take the reduced inverse DCTs
// of the lower scales: a 4:2:2 1920x1200 photo resized to 800 wide
// filters Cb and Cr from 480x600 instead of 960x1200, and its chroma
// blocks (half of all) cost a quarter of the 8x8 IDCT. Unlike the luma,
// whose scale leaves the resample a factor of two (shrinkOnLoad), the
// chroma decoded at 1/2 (the 4-point IDCT, a fair low-pass) may be left
// with as little as none: that costs under a decibel of chroma PSNR at
// 54 dB (TestChromaScale; BENCHMARKS.md, "Chroma at a further scale").
// The 2-point IDCT and the DC coefficient alone are cruder: at 1/4 and
// 1/8 the chroma keeps the luma's factor of two (with none, 2.2 and 4.4
// dB less).
func (d *jpegDecoder) chromaScale() int {
	need := d.chromaNeed
	if need.X <= 0 || need.Y <= 0 || d.ncomp != 3 {
		return 1
	}
	if model, err := d.colourModel(); err != nil || model != jpegYCbCr {
		return 1
	}
	y, cb, cr := &d.comp[0], &d.comp[1], &d.comp[2]
	if y.h != d.hmax || y.v != d.vmax || cb.h != cr.h || cb.v != cr.v {
		return 1
	}
	outW, outH := d.outSize()
	k := 1
	for d.scale*k*2 <= 8 {
		rx, ry := cb.rx*k*2, cb.ry*k*2
		m := 1 // how many times need the planes stay
		if d.scale*k*2 > 2 {
			m = 2 // 2x2 blocks or less: as shrinkOnLoad
		}
		if (outW+rx-1)/rx < m*need.X || (outH+ry-1)/ry < m*need.Y {
			break
		}
		k *= 2
	}
	return k
}

// keepLowest sets ncoef, keep and kept for the scale.
func (d *jpegDecoder) keepLowest() {
	d.ncoef, d.kept = d.bs*d.bs, 0
	for k, nat := range jpegUnzig {
		u, v := int(nat%8), int(nat/8)
		d.keep[k] = -1
		if u < d.bs && v < d.bs {
			d.keep[k] = int8(v*d.bs + u)
			d.kept |= 1 << k &^ 1
		}
	}
}

// outSize is the size of the decoded image: the frame's, divided by the
// scale and rounded up.
func (d *jpegDecoder) outSize() (int, int) {
	return (d.width + d.scale - 1) / d.scale, (d.height + d.scale - 1) / d.scale
}

// processDQT reads quantisation tables, storing them in natural order.
func (d *jpegDecoder) processDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return corrupt(formatJPEG, "bad DQT table")
		}
		seg = seg[1:]
		q := &d.quant[tq]
		if pq == 0 {
			if len(seg) < 64 {
				return corrupt(formatJPEG, "short DQT")
			}
			for k := range 64 {
				q[jpegUnzig[k]] = int32(seg[k])
			}
			seg = seg[64:]
			continue
		}
		if len(seg) < 128 {
			return corrupt(formatJPEG, "short DQT")
		}
		for k := range 64 {
			q[jpegUnzig[k]] = int32(binary.BigEndian.Uint16(seg[2*k:]))
		}
		seg = seg[128:]
	}
	return nil
}

// jpegHuffman is a Huffman table: a lookahead table for codes up to
// jpegLookBits long, and second-level tables for the longer ones.
type jpegHuffman struct {
	// lut, indexed by the next jpegLookBits bits, holds length<<8|symbol,
	// jpegLong|i when the code is longer (the rest of it is looked up in
	// long[i<<jpegLongBits:]), or 0 for an invalid code.
	lut [1 << jpegLookBits]uint16
	// long holds, for each jpegLookBits-bit prefix of the longer codes, a
	// table indexed by the jpegLongBits bits after it, entries as in lut.
	long    []uint16
	defined bool
	// fastAC, for AC tables, indexed like lut, holds value<<16 | run<<8 |
	// length for a code of run r and size s whose code and s value bits
	// fit in jpegLookBits (length is their total), or 0.
	fastAC [1 << jpegLookBits]int32
	// skipAC, for AC tables, indexed like lut, holds skipEntry of the
	// code, or 0 when it is longer.
	skipAC [1 << jpegLookBits]uint16
	// skipRun, for AC tables when decoding at 1/8, is indexed by the
	// next jpegSkipBits bits: the AC symbols that fit in them whole, up
	// to an end of block, coded as buildSkipRun says.
	skipRun *[1 << jpegSkipBits]uint16
}

const (
	// jpegLongBits is the index width of the second-level tables: codes
	// are at most jpegLookBits+jpegLongBits = 16 bits long.
	jpegLongBits = 16 - jpegLookBits
	// jpegLong flags a lut entry that leads to a second-level table.
	jpegLong = 1 << 15
	// jpegSkipBits is the width of skipRun.
	jpegSkipBits = 11
	// skipRunEOB flags a skipRun entry that ends with an end of block.
	skipRunEOB = 1 << 15
)

// processDHT reads Huffman tables and builds their lookup tables.
func (d *jpegDecoder) processDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return corrupt(formatJPEG, "short DHT")
		}
		tc, th := seg[0]>>4, seg[0]&15
		if tc > 1 || th > 3 {
			return corrupt(formatJPEG, "bad DHT table")
		}
		var counts [16]int
		total := 0
		for i := range counts {
			counts[i] = int(seg[1+i])
			total += counts[i]
		}
		if total == 0 || total > 256 || len(seg) < 17+total {
			return corrupt(formatJPEG, "bad DHT length")
		}
		h := &d.huff[tc][th]
		if err := h.build(&counts, seg[17:17+total]); err != nil {
			return err
		}
		if tc == 1 {
			h.buildFastAC()
			if d.scale == 8 { // seqBlockDC reads it
				h.buildSkipRun()
			}
		}
		seg = seg[17+total:]
	}
	return nil
}

// build derives the lookup tables of the canonical code that counts and
// vals define, refusing an over-subscribed code.
func (h *jpegHuffman) build(counts *[16]int, vals []byte) error {
	clear(h.lut[:])
	h.long = h.long[:0]
	h.defined = true
	code, k := 0, 0
	for l := 1; l <= 16; l++ {
		n := counts[l-1]
		if code+n > 1<<l {
			h.defined = false
			return corrupt(formatJPEG, "bad Huffman table")
		}
		for range n {
			e := uint16(l)<<8 | uint16(vals[k])
			if l <= jpegLookBits {
				shift := jpegLookBits - l
				lo := code << shift
				for j := lo; j < lo+1<<shift; j++ {
					h.lut[j] = e
				}
			} else {
				prefix := code >> (l - jpegLookBits)
				if h.lut[prefix] == 0 { // a new second-level table
					h.lut[prefix] = jpegLong | uint16(len(h.long)>>jpegLongBits)
					h.long = append(h.long, make([]uint16, 1<<jpegLongBits)...)
				}
				sub := h.long[int(h.lut[prefix]&^jpegLong)<<jpegLongBits:][:1<<jpegLongBits]
				shift := 16 - l
				lo := code << shift & (1<<jpegLongBits - 1)
				for j := lo; j < lo+1<<shift; j++ {
					sub[j] = e
				}
			}
			code++
			k++
		}
		code <<= 1
	}
	return nil
}

// buildFastAC fills fastAC and skipAC from lut.
func (h *jpegHuffman) buildFastAC() {
	for i, e := range h.lut {
		if e&jpegLong != 0 { // a longer code: decode reads it
			e = 0
		}
		h.skipAC[i] = skipEntry(uint(e))
		h.fastAC[i] = 0
		l, r, s := uint(e>>8), int32(e>>4&15), uint(e&15)
		if e == 0 || s == 0 || l+s > jpegLookBits {
			continue
		}
		v := uint64(i) << (64 - jpegLookBits) << l // the value bits, left-aligned
		h.fastAC[i] = extend(v>>(64-s), s)<<16 | r<<8 | int32(l+s)
	}
}

// buildSkipRun fills skipRun: for each jpegSkipBits-bit prefix, the AC
// symbols (code and value) that it holds whole, one after the other,
// stopping after an end of block, as skipRunEOB (if it ended with one) |
// advance<<5 | bits, advance being the sum of the symbols' run+1 (16 for
// a ZRL) but the end of block, bits their total length. 0 when the first
// symbol does not fit or the advance would pass 63.
func (h *jpegHuffman) buildSkipRun() {
	if h.skipRun == nil {
		h.skipRun = new([1 << jpegSkipBits]uint16)
	}
	for i := range h.skipRun {
		pos, adv, e := 0, 0, uint16(0)
		for {
			rest := uint64(i) << (64 - jpegSkipBits) << pos // the bits after pos, left-aligned
			sk := uint(h.skipAC[rest>>(64-jpegLookBits)])
			l := int(sk & 31)
			if sk == 0 || pos+l > jpegSkipBits {
				break
			}
			pos += l
			if sk>>5 == 64 { // end of block
				e = skipRunEOB | uint16(adv<<5|pos)
				break
			}
			if adv += int(sk >> 5); adv > 63 {
				break
			}
			e = uint16(adv<<5 | pos)
		}
		h.skipRun[i] = e
	}
}

// skipEntry turns a lut entry (length<<8|symbol) of an AC table into
// advance<<5|bits: the bits that the code and its value take, and how far
// the coefficient index moves (run+1; 16 for ZRL; 64 for an end of
// block). An invalid code (0) stays 0.
func skipEntry(e uint) uint16 {
	if e == 0 {
		return 0
	}
	l, r, s := e>>8, e>>4&15, e&15
	adv := r + 1
	if s == 0 && r != 15 {
		adv = 64
	}
	return uint16(adv<<5 | (l + s))
}

// decode decodes the Huffman code at the start of acc (at least 16 valid
// bits): its symbol and its length, 0 for an invalid code. It inlines: one
// table read for a code up to jpegLookBits long, two for a longer one.
func (h *jpegHuffman) decode(acc uint64) (sym, length uint) {
	e := h.lut[acc>>(64-jpegLookBits)]
	if e&jpegLong != 0 {
		e = h.long[int(e&0xff)<<jpegLongBits|int(acc>>(64-16)&(1<<jpegLongBits-1))]
	}
	return uint(e & 0xff), uint(e >> 8)
}

// acSymbol decodes the AC symbol at the start of acc (at least 32 valid
// bits): run r and size s from the code, then for s > 0 the value v from
// the s bits after it. bits is how many bits both took, 0 for an invalid
// code. An end of band (s = 0, r < 15) takes no further bits here: its
// run length, in progressive scans, is the caller's to read.
func (h *jpegHuffman) acSymbol(acc uint64) (r, s uint, v int32, bits uint) {
	rs, l := h.decode(acc)
	if l == 0 {
		return 0, 0, 0, 0
	}
	r, s = rs>>4, rs&15
	if s != 0 {
		v = extend(acc<<l>>(64-s), s)
	}
	return r, s, v, l + s
}

// jpegBits reads the entropy-coded data of a scan, most significant bit
// first, undoing the 0xff00 byte stuffing. At a marker or the end of the
// data it supplies zero bits: pad counts them, and a scan that consumes
// any (overrun) is corrupt.
type jpegBits struct {
	data []byte
	pos  int    // next byte to read
	acc  uint64 // n valid bits, left-aligned
	n    uint
	pad  uint // zero bits appended past the end of the segment
	end  bool // pos is at a marker or the end of the data
}

// reset starts reading at pos.
func (br *jpegBits) reset(data []byte, pos int) {
	*br = jpegBits{data: data, pos: pos}
}

// fill returns acc and n topped up to more than 56 bits. While the next 8
// bytes hold no 0xff it loads whole bytes at once.
func (br *jpegBits) fill(acc uint64, n uint) (uint64, uint) {
	if !br.end && br.pos+8 <= len(br.data) {
		x := binary.BigEndian.Uint64(br.data[br.pos:])
		// No byte of x is 0xff when no byte of ^x is zero.
		y := ^x
		if (y-0x0101010101010101)&^y&0x8080808080808080 == 0 {
			k := (64 - n) >> 3 // whole bytes that fit
			acc |= x >> (64 - 8*k) << (64 - n - 8*k)
			br.pos += int(k)
			return acc, n + 8*k
		}
	}
	for n <= 56 {
		if br.end {
			n += 8
			br.pad += 8
			continue
		}
		if br.pos >= len(br.data) {
			br.end = true
			continue
		}
		b := br.data[br.pos]
		if b == 0xff {
			if br.pos+1 >= len(br.data) || br.data[br.pos+1] != 0 {
				br.end = true // a marker
				continue
			}
			br.pos++
		}
		br.pos++
		acc |= uint64(b) << (56 - n)
		n += 8
	}
	return acc, n
}

// overrun tells whether the scan consumed bits past its data.
func (br *jpegBits) overrun() bool { return br.n < br.pad }

// extend turns the s-bit value v into the signed value it codes (T.81
// F.2.2.1).
func extend(v uint64, s uint) int32 {
	x := int32(v)
	if x < int32(1)<<s>>1 {
		x -= int32(1)<<s - 1
	}
	return x
}

// processSOS reads a scan header and decodes the scan.
func (d *jpegDecoder) processSOS(seg []byte) error {
	if !d.sof {
		return corrupt(formatJPEG, "SOS before SOF")
	}
	sc, err := d.scanHeader(seg)
	if err != nil {
		return err
	}
	d.scans++
	if d.scans > maxJPEGScans {
		return fmt.Errorf("%w: more than %d scans (maxJPEGScans)", errTooLarge, maxJPEGScans)
	}
	if err := d.ctx.Err(); err != nil {
		return err
	}
	if d.progressive && d.scale == 8 && sc.ss > 0 {
		return d.skipScan() // 1/8 needs the DC coefficients only
	}
	return d.decodeScan(&sc)
}

// scanHeader parses and checks a scan header.
func (d *jpegDecoder) scanHeader(seg []byte) (jpegScan, error) {
	var sc jpegScan
	if len(seg) < 1 {
		return sc, corrupt(formatJPEG, "short SOS")
	}
	sc.n = int(seg[0])
	if sc.n < 1 || sc.n > d.ncomp || len(seg) != 4+2*sc.n {
		return sc, corrupt(formatJPEG, "bad SOS length")
	}
	blocks := 0
	for i := range sc.n {
		id, tables := seg[1+2*i], seg[2+2*i]
		var c *jpegComponent
		for j := range d.ncomp {
			if d.comp[j].id == id {
				c = &d.comp[j]
			}
		}
		if c == nil {
			return sc, corrupt(formatJPEG, "unknown component in scan")
		}
		for j := range i {
			if sc.comps[j] == c {
				return sc, corrupt(formatJPEG, "repeated component in scan")
			}
		}
		td, ta := tables>>4, tables&15
		if td > 3 || ta > 3 {
			return sc, corrupt(formatJPEG, "bad Huffman table selector")
		}
		sc.comps[i], sc.dc[i], sc.ac[i] = c, &d.huff[0][td], &d.huff[1][ta]
		blocks += c.h * c.v
	}
	if sc.n > 1 && blocks > jpegMaxBlocksInMCU {
		return sc, corrupt(formatJPEG, "too many blocks in an MCU")
	}
	p := seg[1+2*sc.n:]
	sc.ss, sc.se, sc.ah, sc.al = 0, 63, 0, 0
	if d.progressive {
		sc.ss, sc.se, sc.ah, sc.al = int(p[0]), int(p[1]), uint(p[2]>>4), uint(p[2]&15)
		if (sc.ss == 0 && sc.se != 0) || sc.ss > sc.se || sc.se > 63 {
			return sc, corrupt(formatJPEG, "bad spectral selection")
		}
		if sc.ss != 0 && sc.n != 1 {
			return sc, corrupt(formatJPEG, "interleaved AC scan")
		}
		if sc.ah != 0 && sc.ah != sc.al+1 || sc.al > 13 {
			return sc, corrupt(formatJPEG, "bad successive approximation")
		}
	}
	for i := range sc.n {
		needDC := sc.ss == 0 && sc.ah == 0
		needAC := sc.se > 0
		if needDC && !sc.dc[i].defined || needAC && !sc.ac[i].defined {
			return sc, corrupt(formatJPEG, "missing Huffman table")
		}
	}
	return sc, nil
}

// skipScan moves pos past the entropy-coded data of a scan without
// decoding it: to the next marker that is not a restart marker.
func (d *jpegDecoder) skipScan() error {
	for {
		i := bytes.IndexByte(d.data[d.pos:], 0xff)
		if i < 0 || d.pos+i+1 >= len(d.data) {
			return corrupt(formatJPEG, "truncated scan")
		}
		d.pos += i
		m := d.data[d.pos+1]
		if m != 0 && m != 0xff && (m < jpegRST0 || m > jpegRST7) {
			return nil
		}
		d.pos++
	}
}

// blockFunc decodes one block of a scan, block (bx, by) of component c.
type blockFunc func(sc *jpegScan, i int, c *jpegComponent, bx, by int)

// decodeScan decodes the entropy-coded data that starts at pos and leaves
// pos at the marker that ends it.
func (d *jpegDecoder) decodeScan(sc *jpegScan) error {
	var fn blockFunc
	switch {
	case !d.progressive && d.scale == 8:
		fn = d.seqBlockDC
	case !d.progressive:
		fn = d.seqBlock
	case sc.ss == 0 && sc.ah == 0:
		fn = d.dcFirst
	case sc.ss == 0:
		fn = d.dcRefine
	case sc.ah == 0:
		fn = d.acFirst
	default:
		fn = d.acRefine
	}
	for i := range sc.n {
		sc.comps[i].pred = 0
	}
	d.eobrun, d.err = 0, nil
	d.br.reset(d.data, d.pos)
	if err := d.scanMCUs(sc, fn); err != nil {
		return err
	}
	d.pos = d.br.pos
	if err := d.skipScan(); err != nil { // to the marker after the data
		return err
	}
	return nil
}

// scanMCUs calls fn for every block of the scan in coding order, handling
// restart intervals, and checks for errors once per row of MCUs.
func (d *jpegDecoder) scanMCUs(sc *jpegScan, fn blockFunc) error {
	mcusX, mcusY := d.mcusX, d.mcusY
	if sc.n == 1 {
		// A non-interleaved scan codes the blocks inside the image only,
		// one block per MCU.
		mcusX, mcusY = sc.comps[0].cbw, sc.comps[0].cbh
	}
	total := mcusX * mcusY
	mcu, rst := 0, 0
	for my := range mcusY {
		for mx := range mcusX {
			if sc.n == 1 {
				fn(sc, 0, sc.comps[0], mx, my)
			} else {
				for i, c := range sc.comps[:sc.n] {
					for y := range c.v {
						for x := range c.h {
							fn(sc, i, c, mx*c.h+x, my*c.v+y)
						}
					}
				}
			}
			mcu++
			if d.restart > 0 && mcu%d.restart == 0 && mcu < total {
				if err := d.restartMarker(sc, rst); err != nil {
					return err
				}
				rst = (rst + 1) & 7
			}
		}
		if d.err != nil {
			return d.err
		}
		if d.br.overrun() {
			return corrupt(formatJPEG, "truncated scan")
		}
		if err := d.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// restartMarker expects restart marker RSTn after a restart interval and
// resets the decoder state after it.
func (d *jpegDecoder) restartMarker(sc *jpegScan, n int) error {
	if d.err != nil {
		return d.err
	}
	if d.br.overrun() {
		return corrupt(formatJPEG, "truncated restart interval")
	}
	d.pos = d.br.pos
	if err := d.skipScanToMarker(); err != nil {
		return err
	}
	if d.data[d.pos+1] != byte(jpegRST0+n) {
		return corrupt(formatJPEG, "bad RST marker")
	}
	d.br.reset(d.data, d.pos+2)
	for i := range sc.n {
		sc.comps[i].pred = 0
	}
	d.eobrun = 0
	return nil
}

// skipScanToMarker moves pos to the next marker (restart markers
// included).
func (d *jpegDecoder) skipScanToMarker() error {
	for {
		i := bytes.IndexByte(d.data[d.pos:], 0xff)
		if i < 0 || d.pos+i+1 >= len(d.data) {
			return corrupt(formatJPEG, "truncated scan")
		}
		d.pos += i
		if m := d.data[d.pos+1]; m != 0 && m != 0xff {
			return nil
		}
		d.pos++
	}
}

// fail records the first entropy-coding error of a scan.
func (d *jpegDecoder) fail(what string) {
	if d.err == nil {
		d.err = corrupt(formatJPEG, what)
	}
}

// decodeDC decodes a DC difference into the component's predictor.
func (d *jpegDecoder) decodeDC(h *jpegHuffman, c *jpegComponent) {
	d.br.acc, d.br.n = d.dc(h, c, d.br.acc, d.br.n)
}

// dc is decodeDC on the bits acc and n, returning what is left of them.
// The sequential block decoders call it with their bits in registers.
func (d *jpegDecoder) dc(h *jpegHuffman, c *jpegComponent, acc uint64, n uint) (uint64, uint) {
	if n < 32 {
		acc, n = d.br.fill(acc, n)
	}
	s, l := h.decode(acc)
	if l == 0 || s > 16 {
		d.fail("bad DC code")
		return acc, n
	}
	acc <<= l
	c.pred += extend(acc>>(64-s), s)
	return acc << s, n - l - s
}

// seqBlock decodes a block of a sequential image and writes its inverse
// DCT to the plane.
func (d *jpegDecoder) seqBlock(sc *jpegScan, i int, c *jpegComponent, bx, by int) {
	var b [64]int16
	acc, n := d.dc(sc.dc[i], c, d.br.acc, d.br.n)
	b[0] = int16(c.pred)
	ac := sc.ac[i]
	last := 0 // the last coefficient set, in zig-zag order
	for k := 1; k < 64; k++ {
		// The fast path takes at most jpegLookBits bits, acSymbol 31:
		// filling only when the next symbol may need it, a fill serves
		// five short symbols rather than three.
		if n < 16 {
			acc, n = d.br.fill(acc, n)
		}
		if f := ac.fastAC[acc>>(64-jpegLookBits)]; f != 0 {
			// A short code and value: one table read.
			k += int(f >> 8 & 15)
			acc <<= uint(f & 15)
			n -= uint(f & 15)
			if k > 63 {
				break
			}
			b[jpegUnzig[k]] = int16(f >> 16)
			last = k
			continue
		}
		if n < 32 {
			acc, n = d.br.fill(acc, n)
		}
		r, s, v, l := ac.acSymbol(acc)
		if l == 0 {
			d.fail("bad AC code")
			break
		}
		acc <<= l
		n -= l
		if s == 0 {
			if r != 15 {
				break // end of block
			}
			k += 15
			continue
		}
		k += int(r)
		if k > 63 {
			break
		}
		b[jpegUnzig[k]] = int16(v)
		last = k
	}
	d.br.acc, d.br.n = acc, n
	d.idct(c, &b, bx, by, last)
}

// flat fills block (bx, by) of c's plane with v.
func (d *jpegDecoder) flat(c *jpegComponent, bx, by int, v byte) {
	if bx >= c.bw || by >= c.bh {
		return
	}
	o := by*c.bs*c.stride + bx*c.bs
	for y := range c.bs {
		row := c.plane[o+y*c.stride : o+y*c.stride+c.bs]
		for x := range row {
			row[x] = v
		}
	}
}

// seqBlockDC decodes a block of a sequential image at 1/8 scale: the DC
// coefficient gives the one output sample, the AC coefficients are
// skipped (their codes decoded, their values not).
func (d *jpegDecoder) seqBlockDC(sc *jpegScan, i int, c *jpegComponent, bx, by int) {
	acc, n := d.dc(sc.dc[i], c, d.br.acc, d.br.n)
	ac := sc.ac[i]
	for k := 1; k < 64; {
		if n < 32 {
			acc, n = d.br.fill(acc, n)
		}
		// Several symbols at once, when they stay inside the block.
		if e := uint(ac.skipRun[acc>>(64-jpegSkipBits)]); e != 0 {
			adv := int(e >> 5 & 127)
			if k+adv < 64 || e&skipRunEOB == 0 && k+adv == 64 {
				acc <<= e & 31
				n -= e & 31
				if e&skipRunEOB != 0 {
					break
				}
				k += adv
				continue
			}
		}
		e := uint(ac.skipAC[acc>>(64-jpegLookBits)])
		if e == 0 {
			if sym, l := ac.decode(acc); l != 0 {
				e = uint(skipEntry(l<<8 | sym))
			}
			if e == 0 {
				d.fail("bad AC code")
				break
			}
		}
		acc <<= e & 31
		n -= e & 31
		k += int(e >> 5)
	}
	d.br.acc, d.br.n = acc, n
	if bx < c.bw && by < c.bh {
		c.plane[by*c.stride+bx] = idctDC(int(c.pred) * int(d.quant[c.tq][0]))
	}
}

// block returns the coefficients of block (bx, by) of a progressive
// image, or nil when the block lies outside the component.
func (d *jpegDecoder) block(c *jpegComponent, bx, by int) []int16 {
	if bx >= c.bw || by >= c.bh {
		return nil
	}
	o := (by*c.bw + bx) * d.ncoef
	return c.coefs[o : o+d.ncoef]
}

// dcFirst decodes the first scan of a progressive block's DC coefficient.
func (d *jpegDecoder) dcFirst(sc *jpegScan, i int, c *jpegComponent, bx, by int) {
	d.decodeDC(sc.dc[i], c)
	if b := d.block(c, bx, by); b != nil {
		b[0] = int16(c.pred << sc.al)
	}
}

// dcRefine reads one more bit of a progressive block's DC coefficient.
func (d *jpegDecoder) dcRefine(sc *jpegScan, i int, c *jpegComponent, bx, by int) {
	acc, n := d.br.acc, d.br.n
	if n < 32 {
		acc, n = d.br.fill(acc, n)
	}
	if b := d.block(c, bx, by); b != nil && acc>>63 != 0 {
		b[0] |= int16(1) << sc.al
	}
	d.br.acc, d.br.n = acc<<1, n-1
}

// acFirst decodes the first scan of a band of AC coefficients (T.81
// G.1.2.2).
func (d *jpegDecoder) acFirst(sc *jpegScan, i int, c *jpegComponent, bx, by int) {
	if d.eobrun > 0 {
		d.eobrun--
		return
	}
	b := d.block(c, bx, by)
	if b == nil {
		d.fail("block outside the component")
		return
	}
	nz := &c.nz[by*c.bw+bx]
	ac := sc.ac[0]
	acc, n := d.br.acc, d.br.n
	for k := sc.ss; k <= sc.se; k++ {
		if n < 32 {
			acc, n = d.br.fill(acc, n)
		}
		r, s, v, l := ac.acSymbol(acc)
		if l == 0 {
			d.fail("bad AC code")
			break
		}
		acc <<= l
		n -= l
		if s == 0 {
			if r < 15 {
				d.eobrun = int32(1)<<r - 1
				if r > 0 {
					d.eobrun += int32(acc >> (64 - r))
					acc <<= r
					n -= r
				}
				break
			}
			k += 15
			continue
		}
		k += int(r)
		if k > sc.se {
			break
		}
		if j := d.keep[k&63]; j >= 0 {
			b[j] = int16(v << sc.al)
		}
		*nz |= 1 << (k & 63)
	}
	d.br.acc, d.br.n = acc, n
}

// acRefine reads one more bit of a band of AC coefficients (T.81
// G.1.2.3): a correction bit for each coefficient already non-zero, and
// new coefficients of magnitude 1<<al.
func (d *jpegDecoder) acRefine(sc *jpegScan, i int, c *jpegComponent, bx, by int) {
	b := d.block(c, bx, by)
	if b == nil {
		d.fail("block outside the component")
		return
	}
	nz := &c.nz[by*c.bw+bx]
	p1 := int16(int32(1) << sc.al)
	ac := sc.ac[0]
	acc, n := d.br.acc, d.br.n
	k := sc.ss
	for ; d.eobrun == 0 && k <= sc.se; k++ {
		if n < 32 {
			acc, n = d.br.fill(acc, n)
		}
		rs, l := ac.decode(acc)
		if l == 0 || rs&15 > 1 {
			d.fail("bad AC refinement code")
			break
		}
		acc <<= l
		n -= l
		r := int(rs >> 4)
		var z int16
		if rs&15 == 1 { // a new coefficient, its sign in the next bit
			z = -p1
			if acc>>63 != 0 {
				z = p1
			}
			acc <<= 1
			n--
		} else if r != 15 { // an end-of-band run, this block first
			d.eobrun = int32(1) << r
			d.eobrun += int32(acc >> 32 >> (32 - r))
			acc <<= r
			n -= uint(r)
			break
		}
		k, acc, n = d.br.refine(b, &d.keep, *nz, k, sc.se, r, p1, acc, n)
		if k > sc.se {
			d.fail("too many AC coefficients")
			break
		}
		if z != 0 {
			if j := d.keep[k&63]; j >= 0 {
				b[j] = z
			}
			*nz |= 1 << (k & 63)
		}
	}
	if d.eobrun > 0 {
		d.eobrun--
		_, acc, n = d.br.refine(b, &d.keep, *nz, k, sc.se, -1, p1, acc, n)
	}
	d.br.acc, d.br.n = acc, n
}

// refine reads, from the bits acc and n, a correction bit for each
// non-zero coefficient (nz) from zig-zag index k on, up to the
// (skip+1)th zero coefficient (to the end of the band when skip < 0 or
// when there is none) or after se, and applies it to the coefficients
// that b keeps (keep). It returns where it stopped and the bits left.
func (br *jpegBits) refine(b []int16, keep *[64]int8, nz uint64, k, se, skip int, p1 int16, acc uint64, n uint) (int, uint64, uint) {
	band := ^uint64(0) << (k & 63) & (^uint64(0) >> (63 - se&63))
	end := se + 1
	if skip >= 0 {
		zeros := ^nz & band
		for ; skip > 0 && zeros != 0; skip-- {
			zeros &= zeros - 1
		}
		if zeros != 0 {
			end = bits.TrailingZeros64(zeros)
			band &= 1<<end - 1
		}
	}
	for m := nz & band; m != 0; m &= m - 1 {
		if n < 32 {
			acc, n = br.fill(acc, n)
		}
		if j := keep[bits.TrailingZeros64(m)]; j >= 0 && acc>>63 != 0 && b[j]&p1 == 0 {
			if b[j] >= 0 {
				b[j] += p1
			} else {
				b[j] -= p1
			}
		}
		acc <<= 1
		n--
	}
	return end, acc, n
}

// reconstruct turns a progressive image's coefficients into the planes.
func (d *jpegDecoder) reconstruct() error {
	for i := range d.ncomp {
		c := &d.comp[i]
		err := parallel(d.ctx, c.bh, int64(c.bw*c.bh)*int64(d.ncoef), func(lo, hi int) {
			for by := lo; by < hi && d.ctx.Err() == nil; by++ {
				for bx := range c.bw {
					o := (by*c.bw + bx) * d.ncoef
					d.idctKept(c, c.coefs[o:o+d.ncoef], bx, by)
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// idctKept writes the inverse DCT of block (bx, by) of a progressive
// image to its plane, from the coefficients b that it kept.
func (d *jpegDecoder) idctKept(c *jpegComponent, b []int16, bx, by int) {
	if d.ncoef == 1 {
		c.plane[by*c.stride+bx] = idctDC(int(b[0]) * int(d.quant[c.tq][0]))
		return
	}
	nz := c.nz[by*c.bw+bx] & d.kept
	last := 0
	if nz != 0 {
		last = 63 - bits.LeadingZeros64(nz)
	}
	if c.bs < d.bs { // chroma decoded smaller: idct takes its corner
		var n [64]int16
		for v := range d.bs {
			copy(n[8*v:8*v+d.bs], b[v*d.bs:(v+1)*d.bs])
		}
		d.idct(c, &n, bx, by, last)
		return
	}
	switch d.bs {
	case 8:
		d.idct(c, (*[64]int16)(b), bx, by, last)
	case 4:
		d.idctLow(c, (*[16]int16)(b), nil, bx, by, last)
	case 2:
		d.idctLow(c, nil, (*[4]int16)(b), bx, by, last)
	}
}

// idct writes the inverse DCT of block (bx, by) of c, its coefficients b
// in natural order, at the output scale, to its plane. last is the
// zig-zag index after which all the coefficients are zero, which selects
// faster IDCTs for sparse blocks.
func (d *jpegDecoder) idct(c *jpegComponent, b *[64]int16, bx, by, last int) {
	switch c.bs {
	case 4:
		var w [16]int16
		for v := range 4 {
			copy(w[4*v:4*v+4], b[8*v:8*v+4])
		}
		d.idctLow(c, &w, nil, bx, by, last)
		return
	case 2:
		d.idctLow(c, nil, &[4]int16{b[0], b[1], b[8], b[9]}, bx, by, last)
		return
	}
	if bx >= c.bw || by >= c.bh {
		return
	}
	q := &d.quant[c.tq]
	if last == 0 || c.bs == 1 {
		d.flat(c, bx, by, idctDC(int(b[0])*int(q[0])))
		return
	}
	dst := c.plane[by*8*c.stride+bx*8:]
	switch {
	case last <= jpegLowLast:
		idct8Low(dst, c.stride, b, q)
	default:
		idct8(dst, c.stride, b, q)
	}
}

// idctLow writes block (bx, by) of c at 1/2 scale from its 4x4 lowest
// coefficients b4, or at 1/4 scale from its 2x2 lowest b2.
func (d *jpegDecoder) idctLow(c *jpegComponent, b4 *[16]int16, b2 *[4]int16, bx, by, last int) {
	if bx >= c.bw || by >= c.bh {
		return
	}
	q := &d.quant[c.tq]
	dst := c.plane[by*c.bs*c.stride+bx*c.bs:]
	switch {
	case b4 != nil && last == 0:
		d.flat(c, bx, by, idctDC(int(b4[0])*int(q[0])))
	case b4 != nil:
		idct4(dst, c.stride, b4, q)
	case last == 0:
		d.flat(c, bx, by, idctDC(int(b2[0])*int(q[0])))
	default:
		idct2(dst, c.stride, b2, q)
	}
}

// Fixed-point constants of the inverse DCTs: x/8192 (13 fractional bits),
// as in libjpeg's jidctint.c and jidctred.c.
const (
	idctConstBits = 13
	idctPass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172

	// The 4-point inverse DCT of the low 4x4 coefficients, for 1/2 scale:
	// c(k)·cos((2m+1)kπ/8) for output m, coefficient k, with c(0) =
	// 1/(2√2) and c(k) = 1/2, which samples the block's low frequencies
	// at the centres of pairs of pixels.
	fix0_353553391 = 2896 // c(0), and c(2)·cos(π/4)
	fix0_461939766 = 3784 // c(1)·cos(π/8)
	fix0_191341716 = 1567 // c(1)·cos(3π/8)
)

// clampByte limits x to 0..255.
func clampByte(x int) byte {
	if uint(x) > 255 {
		if x < 0 {
			return 0
		}
		return 255
	}
	return byte(x)
}

// idctDC is the output sample of a block at 1/8 scale (its average), from
// the dequantised DC coefficient.
func idctDC(dc int) byte {
	return clampByte((dc+4)>>3 + 128)
}

// idct8 is libjpeg's accurate integer inverse DCT (jidctint.c, the
// Loeffler-Ligtenberg-Moschytz algorithm), dequantising b with q on the
// way, writing 8x8 samples at dst with the given stride. Both 8-point
// passes are written out in full, the same arithmetic twice (duplicates
// lists it): through a call, whose results went through memory, it was
// slower, and so it was with even and odd halves as helpers (the odd
// half is over the inliner's budget) on dense blocks.
func idct8(dst []byte, stride int, b *[64]int16, q *[64]int32) {
	const shift1 = idctConstBits - idctPass1Bits
	const r1 = 1 << (shift1 - 1)
	var ws [64]int  // the columns' results, row-major
	var right int16 // non-zero when columns 1 to 7 have a coefficient
	for u := range 8 {
		if u > 0 {
			right |= b[u]
		}
		// A column with no AC coefficient is flat.
		if b[8+u]|b[16+u]|b[24+u]|b[32+u]|b[40+u]|b[48+u]|b[56+u] == 0 {
			dc := int(b[u]) * int(q[u]) << idctPass1Bits
			ws[u], ws[8+u], ws[16+u], ws[24+u] = dc, dc, dc, dc
			ws[32+u], ws[40+u], ws[48+u], ws[56+u] = dc, dc, dc, dc
			continue
		}
		right |= int16(u) // u > 0: this column has an AC coefficient
		in0, in1 := int(b[u])*int(q[u]), int(b[8+u])*int(q[8+u])
		in2, in3 := int(b[16+u])*int(q[16+u]), int(b[24+u])*int(q[24+u])
		in4, in5 := int(b[32+u])*int(q[32+u]), int(b[40+u])*int(q[40+u])
		in6, in7 := int(b[48+u])*int(q[48+u]), int(b[56+u])*int(q[56+u])

		z1 := (in2 + in6) * fix0_541196100
		tmp2 := z1 - in6*fix1_847759065
		tmp3 := z1 + in2*fix0_765366865
		tmp0 := (in0 + in4) << idctConstBits
		tmp1 := (in0 - in4) << idctConstBits
		tmp10, tmp13 := tmp0+tmp3+r1, tmp0-tmp3+r1
		tmp11, tmp12 := tmp1+tmp2+r1, tmp1-tmp2+r1

		t0, t1, t2, t3 := in7, in5, in3, in1
		z1, z2, z3, z4 := t0+t3, t1+t2, t0+t2, t1+t3
		z5 := (z3 + z4) * fix1_175875602
		t0 *= fix0_298631336
		t1 *= fix2_053119869
		t2 *= fix3_072711026
		t3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 = z3*-fix1_961570560 + z5
		z4 = z4*-fix0_390180644 + z5
		t0 += z1 + z3
		t1 += z2 + z4
		t2 += z2 + z3
		t3 += z1 + z4

		ws[u] = (tmp10 + t3) >> shift1
		ws[8+u] = (tmp11 + t2) >> shift1
		ws[16+u] = (tmp12 + t1) >> shift1
		ws[24+u] = (tmp13 + t0) >> shift1
		ws[32+u] = (tmp13 - t0) >> shift1
		ws[40+u] = (tmp12 - t1) >> shift1
		ws[48+u] = (tmp11 - t2) >> shift1
		ws[56+u] = (tmp10 - t3) >> shift1
	}
	const shift2 = idctConstBits + idctPass1Bits + 3
	// r2 rounds, and 128<<shift2 adds the level shift.
	const r2 = 1<<(shift2-1) + 128<<shift2
	if right == 0 {
		// Only column 0 has coefficients: every row is flat. (Checked
		// once here rather than per row: in a dense block no row is, and
		// the row test cost a tenth of idct8. A row that comes out flat
		// all the same gives the same samples through the full pass.)
		for v := range 8 {
			s := clampByte((ws[8*v]+1<<(idctPass1Bits+2))>>(idctPass1Bits+3) + 128)
			*(*[8]byte)(dst[v*stride : v*stride+8]) = [8]byte{s, s, s, s, s, s, s, s}
		}
		return
	}
	for v := range 8 {
		d := (*[8]byte)(dst[v*stride : v*stride+8])
		w := (*[8]int)(ws[8*v : 8*v+8])
		in0, in1, in2, in3, in4, in5, in6, in7 := w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]

		z1 := (in2 + in6) * fix0_541196100
		tmp2 := z1 - in6*fix1_847759065
		tmp3 := z1 + in2*fix0_765366865
		tmp0 := (in0 + in4) << idctConstBits
		tmp1 := (in0 - in4) << idctConstBits
		tmp10, tmp13 := tmp0+tmp3+r2, tmp0-tmp3+r2
		tmp11, tmp12 := tmp1+tmp2+r2, tmp1-tmp2+r2

		t0, t1, t2, t3 := in7, in5, in3, in1
		z1, z2, z3, z4 := t0+t3, t1+t2, t0+t2, t1+t3
		z5 := (z3 + z4) * fix1_175875602
		t0 *= fix0_298631336
		t1 *= fix2_053119869
		t2 *= fix3_072711026
		t3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 = z3*-fix1_961570560 + z5
		z4 = z4*-fix0_390180644 + z5
		t0 += z1 + z3
		t1 += z2 + z4
		t2 += z2 + z3
		t3 += z1 + z4

		d[0] = clampByte((tmp10 + t3) >> shift2)
		d[1] = clampByte((tmp11 + t2) >> shift2)
		d[2] = clampByte((tmp12 + t1) >> shift2)
		d[3] = clampByte((tmp13 + t0) >> shift2)
		d[4] = clampByte((tmp13 - t0) >> shift2)
		d[5] = clampByte((tmp12 - t1) >> shift2)
		d[6] = clampByte((tmp11 - t2) >> shift2)
		d[7] = clampByte((tmp10 - t3) >> shift2)
	}
}

// jpegLowLast is the last zig-zag index inside the top-left 4x4
// coefficients: a block with no coefficient after it is idct8Low's.
const jpegLowLast = 9

// idct8Low is idct8 for a block whose coefficients outside the top-left
// 4x4 are zero: the same arithmetic with the zero terms left out.
func idct8Low(dst []byte, stride int, b *[64]int16, q *[64]int32) {
	var ws [32]int // the results of columns 0 to 3 (4 to 7 are zero), transposed
	for u := range 4 {
		col := (*[8]int)(ws[8*u : 8*u+8])
		if b[8+u]|b[16+u]|b[24+u] == 0 {
			dc := int(b[u]) * int(q[u]) << idctPass1Bits
			*col = [8]int{dc, dc, dc, dc, dc, dc, dc, dc}
			continue
		}
		idct8x1Low(col, int(b[u])*int(q[u]), int(b[8+u])*int(q[8+u]), int(b[16+u])*int(q[16+u]), int(b[24+u])*int(q[24+u]),
			idctConstBits-idctPass1Bits)
	}
	const shift = idctConstBits + idctPass1Bits + 3
	var out [8]int
	for v := range 8 {
		d := (*[8]byte)(dst[v*stride : v*stride+8])
		idct8x1Low(&out, ws[v], ws[8+v], ws[16+v], ws[24+v], shift)
		for x := range d {
			d[x] = clampByte(out[x] + 128)
		}
	}
}

// idct8x1Low is one 8-point pass of idct8Low: out is the inverse DCT of
// in0 to in3 (in4 to in7 zero), descaled by shift bits with rounding.
func idct8x1Low(out *[8]int, in0, in1, in2, in3 int, shift uint) {
	// Even part.
	tmp0 := in0 << idctConstBits
	tmp2 := in2 * fix0_541196100
	tmp3 := in2 * (fix0_541196100 + fix0_765366865)
	tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
	tmp11, tmp12 := tmp0+tmp2, tmp0-tmp2

	// Odd part.
	z5 := (in3 + in1) * fix1_175875602
	t0 := z5 - in1*fix0_899976223 - in3*fix1_961570560
	t1 := z5 - in3*fix2_562915447 - in1*fix0_390180644
	t2 := z5 + in3*(fix3_072711026-fix2_562915447-fix1_961570560)
	t3 := z5 + in1*(fix1_501321110-fix0_899976223-fix0_390180644)

	r := 1 << (shift - 1)
	*out = [8]int{
		(tmp10 + t3 + r) >> shift,
		(tmp11 + t2 + r) >> shift,
		(tmp12 + t1 + r) >> shift,
		(tmp13 + t0 + r) >> shift,
		(tmp13 - t0 + r) >> shift,
		(tmp12 - t1 + r) >> shift,
		(tmp11 - t2 + r) >> shift,
		(tmp10 - t3 + r) >> shift,
	}
}

// idct4 writes the block at 1/2 scale: the 4-point inverse DCT of its
// 4x4 lowest-frequency coefficients b (b[4*v+u], q in natural order) (libjpeg 7+'s scaled IDCT, which keeps
// the frequencies that 4 samples can hold and drops the rest; averaging
// pairs of pixels instead, as jidctred.c does, aliases more and measured
// a little further from a full decode plus Lanczos).
func idct4(dst []byte, stride int, b *[16]int16, q *[64]int32) {
	var ws [4][4]int // ws[m][u]: column u reduced to 4 rows
	const shift1 = idctConstBits - idctPass1Bits
	for u := range 4 {
		f0 := int(b[u]) * int(q[u])
		if b[4+u]|b[8+u]|b[12+u] == 0 {
			dc := (f0*fix0_353553391 + 1<<(shift1-1)) >> shift1
			ws[0][u], ws[1][u], ws[2][u], ws[3][u] = dc, dc, dc, dc
			continue
		}
		g := idct4x1(f0, int(b[4+u])*int(q[8+u]), int(b[8+u])*int(q[16+u]), int(b[12+u])*int(q[24+u]))
		for m := range 4 {
			ws[m][u] = (g[m] + 1<<(shift1-1)) >> shift1
		}
	}
	const shift2 = idctConstBits + idctPass1Bits
	for m := range 4 {
		w := &ws[m]
		g := idct4x1(w[0], w[1], w[2], w[3])
		d := dst[m*stride : m*stride+4]
		for x := range d {
			d[x] = clampByte((g[x]+1<<(shift2-1))>>shift2 + 128)
		}
	}
}

// idct4x1 is one 4-point pass of idct4, scaled by 1<<idctConstBits.
func idct4x1(f0, f1, f2, f3 int) [4]int {
	e := f0 * fix0_353553391
	ep := f2 * fix0_353553391
	e0, e1 := e+ep, e-ep
	o0 := f1*fix0_461939766 + f3*fix0_191341716
	o1 := f1*fix0_191341716 - f3*fix0_461939766
	return [4]int{e0 + o0, e1 + o1, e1 - o1, e0 - o0}
}

// idct2 writes the block at 1/4 scale: the 2-point inverse DCT of its
// 2x2 lowest-frequency coefficients b (the weights are all ±1/8).
func idct2(dst []byte, stride int, b *[4]int16, q *[64]int32) {
	f00, f01 := int(b[0])*int(q[0]), int(b[1])*int(q[1])
	f10, f11 := int(b[2])*int(q[8]), int(b[3])*int(q[9])
	top, bottom := f00+f10, f00-f10 // rows 0 and 1 before the row pass
	topX, bottomX := f01+f11, f01-f11
	dst[0] = clampByte((top+topX+4)>>3 + 128)
	dst[1] = clampByte((top-topX+4)>>3 + 128)
	dst[stride] = clampByte((bottom+bottomX+4)>>3 + 128)
	dst[stride+1] = clampByte((bottom-bottomX+4)>>3 + 128)
}

// colour models of the decoded components.
const (
	jpegGray = iota
	jpegYCbCr
	jpegRGB
	jpegCMYK // Adobe's inverted CMYK
	jpegYCCK
)

// colourModel tells how to read the components, as image/jpeg does: 3
// components are YCbCr unless an Adobe marker (and no JFIF marker) says
// transform 0, or the component IDs are 'R', 'G', 'B'; 4 components need
// an Adobe marker, transform 0 being CMYK and anything else YCCK.
func (d *jpegDecoder) colourModel() (int, error) {
	switch d.ncomp {
	case 1:
		return jpegGray, nil
	case 3:
		if d.jfif {
			return jpegYCbCr, nil
		}
		if d.adobe && d.adobeTransform == 0 ||
			d.comp[0].id == 'R' && d.comp[1].id == 'G' && d.comp[2].id == 'B' {
			return jpegRGB, nil
		}
		return jpegYCbCr, nil
	}
	if !d.adobe {
		return 0, unsupported(formatJPEG, "4-component jpeg without an Adobe marker")
	}
	if d.adobeTransform == 0 {
		return jpegCMYK, nil
	}
	return jpegYCCK, nil
}

// toRGBA upsamples the planes and converts them to an opaque RGBA image.
func (d *jpegDecoder) toRGBA(ctx context.Context) (*image.RGBA, error) {
	model, err := d.colourModel()
	if err != nil {
		return nil, fmt.Errorf("decode jpeg: %w", err)
	}
	w, h := d.outSize()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	var ups [4]*upsampler
	for i := range d.ncomp {
		ups[i] = newUpsampler(&d.comp[i], w)
	}
	err = parallel(ctx, h, int64(w)*int64(h)*int64(d.ncomp), func(lo, hi int) {
		var rows [4][]byte
		var bufs [4]upsampleBuf
		for y := lo; y < hi && ctx.Err() == nil; y++ {
			for i := range d.ncomp {
				rows[i] = ups[i].row(y, &bufs[i])
			}
			convertRow(dst.Pix[y*dst.Stride:y*dst.Stride+4*w], &rows, model)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("decode jpeg: %w", err)
	}
	return dst, nil
}

// upsampler makes a component's rows at the output size: a component
// subsampled by r is interpolated linearly between the two nearest
// samples, sample i sitting at output position r·i + (r-1)/2 (libjpeg's
// "fancy" upsampling for r = 2: weights 3/4 and 1/4), edges clamped.
type upsampler struct {
	c *jpegComponent
	w int // output width
	// dv, dh are the denominators of the vertical and horizontal weights
	// (2r, or 1 when r = 1); mul is 65536/(dv·dh).
	dv, dh, mul uint32
	// x0, x1, wx: output x reads samples x0[x] and x1[x] of the vertically
	// interpolated row with weights dh-wx[x] and wx[x].
	x0, x1 []int32
	wx     []uint32
}

// upsampleBuf is a goroutine's scratch space for one component.
type upsampleBuf struct {
	tmp []uint16
	out []byte
}

func newUpsampler(c *jpegComponent, w int) *upsampler {
	u := &upsampler{c: c, w: w, dv: 1, dh: 1}
	if c.ry > 1 {
		u.dv = uint32(2 * c.ry)
	}
	if c.rx > 1 {
		u.dh = uint32(2 * c.rx)
		u.x0, u.x1, u.wx = make([]int32, w), make([]int32, w), make([]uint32, w)
		for x := range w {
			i0, i1, f := upsamplePos(x, c.rx, c.vw)
			u.x0[x], u.x1[x], u.wx[x] = int32(i0), int32(i1), uint32(f)
		}
	}
	u.mul = 65536 / (u.dv * u.dh)
	return u
}

// upsamplePos gives, for output position x of a component upsampled by r
// with n samples, the two samples to interpolate and the weight of the
// second, out of 2r.
func upsamplePos(x, r, n int) (i0, i1, w int) {
	p := 2*x + 1 - r // 2r times the position in samples
	i0 = p / (2 * r)
	if p < 0 {
		i0 = -1 // p > -2r: floor division
	}
	w = p - i0*2*r
	i1 = min(i0+1, n-1)
	i0 = max(i0, 0)
	return i0, i1, w
}

// row returns row y of the component at the output size, in buf or in
// the plane itself.
func (u *upsampler) row(y int, buf *upsampleBuf) []byte {
	c := u.c
	if c.rx == 1 && c.ry == 1 {
		return c.plane[y*c.stride : y*c.stride+u.w]
	}
	if buf.out == nil {
		buf.tmp, buf.out = make([]uint16, c.vw), make([]byte, u.w)
	}
	// Vertical, into tmp: samples times dv.
	i0, i1, wy := upsamplePos(y, c.ry, c.vh)
	a := c.plane[i0*c.stride : i0*c.stride+c.vw]
	b := c.plane[i1*c.stride : i1*c.stride+c.vw]
	tmp := buf.tmp[:len(a)]
	if c.ry == 1 {
		for i, v := range a {
			tmp[i] = uint16(v)
		}
	} else {
		wa, wb := uint16(2*c.ry-wy), uint16(wy)
		for i := range tmp {
			tmp[i] = uint16(a[i])*wa + uint16(b[i])*wb
		}
	}
	out := buf.out
	const half = 1 << 15
	switch c.rx {
	case 1:
		for x := range out {
			out[x] = byte((uint32(tmp[x])*u.mul + half) >> 16)
		}
	case 2:
		// Samples i-1, i, i+1 make outputs 2i and 2i+1: 1/4 and 3/4.
		n := len(tmp)
		u.interpolate(out, tmp, 0, min(2, len(out)))
		for i := 1; i < n-1; i++ {
			t3 := 3 * uint32(tmp[i])
			out[2*i] = byte(((t3+uint32(tmp[i-1]))*u.mul + half) >> 16)
			out[2*i+1] = byte(((t3+uint32(tmp[i+1]))*u.mul + half) >> 16)
		}
		u.interpolate(out, tmp, max(2, 2*n-2), len(out))
	default:
		u.interpolate(out, tmp, 0, len(out))
	}
	return out
}

// interpolate writes out[from:to] from the vertically interpolated row
// tmp with the horizontal tables.
func (u *upsampler) interpolate(out []byte, tmp []uint16, from, to int) {
	for x := from; x < to; x++ {
		v := uint32(tmp[u.x0[x]])*(u.dh-u.wx[x]) + uint32(tmp[u.x1[x]])*u.wx[x]
		out[x] = byte((v*u.mul + 1<<15) >> 16)
	}
}

// convertRow writes one row of RGBA pixels from the components' rows.
func convertRow(d []byte, rows *[4][]byte, model int) {
	switch model {
	case jpegGray:
		for x, v := range rows[0][:len(d)/4] {
			binary.LittleEndian.PutUint32(d[4*x:], uint32(v)*0x010101|0xff000000)
		}
	case jpegYCbCr:
		ycbcrRow(d, rows[0][:len(d)/4], rows[1][:len(d)/4], rows[2][:len(d)/4])
	case jpegRGB:
		r, g, b := rows[0][:len(d)/4], rows[1][:len(d)/4], rows[2][:len(d)/4]
		for x := range r {
			p := d[4*x : 4*x+4 : 4*x+4]
			p[0], p[1], p[2], p[3] = r[x], g[x], b[x], 0xff
		}
	case jpegCMYK:
		// Adobe stores inverted CMYK; image/jpeg undoes that and toRGBA
		// applies color.CMYKToRGB: the same arithmetic here.
		c, m, y, k := rows[0][:len(d)/4], rows[1][:len(d)/4], rows[2][:len(d)/4], rows[3][:len(d)/4]
		for x := range c {
			r, g, b := color.CMYKToRGB(255-c[x], 255-m[x], 255-y[x], 255-k[x])
			p := d[4*x : 4*x+4 : 4*x+4]
			p[0], p[1], p[2], p[3] = r, g, b, 0xff
		}
	case jpegYCCK:
		// YCbCr codes the inverted C, M and Y (so R, G, B before the
		// inversion are C, M, Y); K is inverted.
		yr, cb, cr, k := rows[0][:len(d)/4], rows[1][:len(d)/4], rows[2][:len(d)/4], rows[3][:len(d)/4]
		for x := range yr {
			c, m, y := ycbcrToRGB(yr[x], cb[x], cr[x])
			r, g, b := color.CMYKToRGB(c, m, y, 255-k[x])
			p := d[4*x : 4*x+4 : 4*x+4]
			p[0], p[1], p[2], p[3] = r, g, b, 0xff
		}
	}
}

// ycbcrRow converts a row of YCbCr samples to opaque RGBA pixels with
// ycbcrToRGB's math, inlined.
func ycbcrRow(d, yr, cb, cr []byte) {
	cb, cr = cb[:len(yr)], cr[:len(yr)]
	for x := range yr {
		yy := int32(yr[x]) * 0x10101
		cb1, cr1 := int32(cb[x])-128, int32(cr[x])-128
		p := d[4*x : 4*x+4 : 4*x+4]
		p[0] = clip16(yy + 91881*cr1)
		p[1] = clip16(yy - 22554*cb1 - 46802*cr1)
		p[2] = clip16(yy + 116130*cb1)
		p[3] = 0xff
	}
}

// ycbcrToRGB is color.YCbCrToRGB: the same integer math, so that output
// matches image/jpeg plus toRGBA.
func ycbcrToRGB(y, cb, cr byte) (byte, byte, byte) {
	yy := int32(y) * 0x10101
	cb1, cr1 := int32(cb)-128, int32(cr)-128
	return clip16(yy + 91881*cr1), clip16(yy - 22554*cb1 - 46802*cr1), clip16(yy + 116130*cb1)
}

// clip16 is x>>16 limited to 0..255, the way color.YCbCrToRGB clamps.
func clip16(x int32) byte {
	if uint32(x) < 1<<24 {
		return byte(x >> 16)
	}
	return byte(^(x >> 31)) // 0 below, 255 above
}
