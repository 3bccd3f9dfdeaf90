package main

import (
	"image"
	"math"
	"math/bits"
)

// Our VP8 (lossy WebP) decoder, written after RFC 6386 and libwebp's
// src/dec, which it matches pixel for pixel (TestVP8DecodeMatchesDwebp).
//
// A key frame is decoded macroblock row by macroblock row: the modes
// come from the first partition, the coefficients from the row's token
// partition; each macroblock is predicted and reconstructed in a small
// workspace (libwebp's layout, 32 bytes a row) and copied to the planes;
// once a row is whole it is loop-filtered in place. Intra prediction
// reads unfiltered pixels: the bottom row of each macroblock row is kept
// aside before the filter runs. The planes are the only large
// allocation: 1.5 bytes a pixel (24 MiB for 4096x4096), against 4 for
// RGBA plus golang.org/x/image/webp's own planes before (a quarter of
// that again with vp8Options.half).
//
// Hostile input: every partition is bounded by the chunk; reading past
// the end of one sets eof, which fails the macroblock row (as libwebp
// does); sizes are checked against the caller's limits before the
// planes are allocated (inspectSource reads the header first).

// boolDec is VP8's boolean entropy decoder (RFC 6386 section 7), in
// libwebp's formulation: value holds the bits read ahead, bits how many
// of them lie below the 8-bit window, rng the range minus one.
type boolDec struct {
	buf   []byte
	pos   int
	value uint64
	bits  int
	rng   uint32
	eof   bool
}

func newBoolDec(b []byte) boolDec {
	d := boolDec{buf: b, rng: 255 - 1, bits: -8}
	d.load()
	return d
}

// load reads 7 bytes at once while 8 remain, then byte by byte; past the
// end it feeds zeros once and sets eof.
func (d *boolDec) load() {
	if d.pos+8 <= len(d.buf) {
		b := d.buf[d.pos : d.pos+8]
		v := uint64(b[0])<<48 | uint64(b[1])<<40 | uint64(b[2])<<32 | uint64(b[3])<<24 |
			uint64(b[4])<<16 | uint64(b[5])<<8 | uint64(b[6])
		d.pos += 7
		d.value = d.value<<56 | v
		d.bits += 56
		return
	}
	if d.pos < len(d.buf) {
		d.value = d.value<<8 | uint64(d.buf[d.pos])
		d.pos++
		d.bits += 8
		return
	}
	if !d.eof {
		d.value <<= 8
		d.bits += 8
		d.eof = true
		return
	}
	d.bits = 0 // keep reading zeros without shifting value out
}

// bit decodes one bit whose probability of being 0 is prob/256.
func (d *boolDec) bit(prob uint8) bool {
	if d.bits < 0 {
		d.load()
	}
	var b bool
	b, d.value, d.bits, d.rng = boolStep(d.value, d.bits, d.rng, prob)
	return b
}

// boolStep is bit on the decoder's state held by the caller (in
// registers, in the token loop), once the caller made sure that nbits
// >= 0: it returns the bit and the new state. Small enough to be
// inlined.
func boolStep(value uint64, nbits int, rng uint32, prob uint8) (bool, uint64, int, uint32) {
	split := (rng * uint32(prob)) >> 8
	bit := uint32(value>>uint(nbits)) > split
	if bit {
		rng -= split
		value -= uint64(split+1) << uint(nbits)
	} else {
		rng = split + 1
	}
	shift := 8 - bits.Len32(rng) // rng is 1..255: bring it back to 128..255
	return bit, value, nbits - shift, rng<<uint(shift) - 1
}

// literal reads an n-bit unsigned value, most significant bit first.
func (d *boolDec) literal(n int) int {
	v := 0
	for range n {
		v <<= 1
		if d.bit(0x80) {
			v |= 1
		}
	}
	return v
}

// signed reads an n-bit magnitude and then its sign.
func (d *boolDec) signed(n int) int {
	v := d.literal(n)
	if d.bit(0x80) {
		return -v
	}
	return v
}

// optionalSigned is a flag, then signed(n) when it is set, else 0.
func (d *boolDec) optionalSigned(n int) int {
	if !d.bit(0x80) {
		return 0
	}
	return d.signed(n)
}

// vp8Quant is the dequantisation of one segment: DC and AC factors.
type vp8Quant struct {
	y1, y2, uv [2]int32
}

// vp8FilterParams is how the loop filter treats one macroblock.
type vp8FilterParams struct {
	limit  uint8 // edge limit of inner edges (2·level + ilevel); 0: no filtering
	ilevel uint8 // interior limit
	hev    uint8 // high edge variance threshold
	inner  bool  // filter the inner edges too
}

// vp8Header is what vp8Dec learns from the frame header and the first
// partition's frame-wide fields.
type vp8Dec struct {
	width, height int
	mbw, mbh      int

	first  boolDec    // modes
	parts  [8]boolDec // tokens, by macroblock row modulo nparts
	nparts int

	segmentMap  bool
	segProbs    [3]uint8
	quant       [4]vp8Quant
	filterType  int // 0 none, 1 simple, 2 normal
	filterParam [4][2]vp8FilterParams
	probs       vp8Probs
	useSkip     bool
	skipProb    uint8

	// Row state.
	intraT []uint8 // sub-block modes along the bottom of the row above, 4 a macroblock
	nzT    []uint8 // non-zero flags along the row above: 4 luma, 2 Cb, 2 Cr bits
	nzDCT  []uint8 // the row above's Y2 non-zero flags
	yT     []uint8 // unfiltered bottom rows of the row above
	uT, vT []uint8
	fp     []vp8FilterParams // this row's, by macroblock

	ws     [vp8WSSize]uint8 // reconstruction workspace
	coeffs [24 * 16]int32
	nzCode [24]uint8 // per block: 0 nothing, 1 DC only, 2 full transform

	img *image.YCbCr
	// half: the planes are half size, full range (vp8Options.half);
	// ylut and clut map the sum of 2x2 samples to full range.
	half       bool
	ylut, clut *[1021]uint8
}

// vp8FullRangeLUTs map the sum of four video-range samples to their
// mean in full range, rounded: luma (s/4 − 16)·255/219, chroma
// (s/4 − 128)·255/224 + 128.
func vp8FullRangeLUTs() (y, c *[1021]uint8) {
	y, c = new([1021]uint8), new([1021]uint8)
	for s := range 1021 {
		m := float64(s) / 4
		y[s] = uint8(min(max(math.Round((m-16)*255/219), 0), 255))
		c[s] = uint8(min(max(math.Round((m-128)*255/224+128), 0), 255))
	}
	return y, c
}

// Workspace layout, libwebp's: 32 bytes a row; luma at (1, 8) with its
// top border in row 0 (and 4 pixels of the macroblock above-right), its
// left border in column 7; Cb at (18, 8), Cr at (18, 24).
const (
	vp8BPS    = 32
	vp8YOff   = vp8BPS*1 + 8
	vp8UOff   = vp8YOff + vp8BPS*16 + vp8BPS
	vp8VOff   = vp8UOff + 16
	vp8WSSize = vp8BPS*17 + vp8BPS*9
)

// vp8FrameInfo is the key frame header: the picture size and where the
// first partition lies.
type vp8FrameInfo struct {
	width, height int
	part0         []byte
	rest          []byte // the token partitions with their sizes
}

// parseVP8Frame reads the frame tag and key frame header of a VP8 chunk.
func parseVP8Frame(data []byte) (vp8FrameInfo, error) {
	if len(data) < 10 {
		return vp8FrameInfo{}, corrupt(formatWebP, "vp8: truncated frame header")
	}
	tag := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
	keyFrame := tag&1 == 0
	profile := tag >> 1 & 7
	show := tag>>4&1 == 1
	size := int(tag >> 5)
	switch {
	case !keyFrame:
		return vp8FrameInfo{}, corrupt(formatWebP, "vp8: not a key frame")
	case profile > 3:
		return vp8FrameInfo{}, corrupt(formatWebP, "vp8: bad profile")
	case !show:
		return vp8FrameInfo{}, corrupt(formatWebP, "vp8: frame not shown")
	case data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a:
		return vp8FrameInfo{}, corrupt(formatWebP, "vp8: bad start code")
	}
	w := int(data[6]) | int(data[7]&0x3f)<<8
	h := int(data[8]) | int(data[9]&0x3f)<<8
	if w == 0 || h == 0 {
		return vp8FrameInfo{}, corrupt(formatWebP, "vp8: zero size")
	}
	data = data[10:]
	if size > len(data) {
		return vp8FrameInfo{}, corrupt(formatWebP, "vp8: first partition past the end")
	}
	return vp8FrameInfo{width: w, height: h, part0: data[:size], rest: data[size:]}, nil
}

// vp8Options tune decodeVP8.
type vp8Options struct {
	// half decodes the picture shrunk 2x each way, for a caller that
	// shrinks it 4x or more next (decodeWebPPicture): each 2x2 pixels
	// (and chroma samples) of a macroblock are averaged as it is copied
	// out, which makes the planes a quarter of the size and the
	// resample that follows a quarter of the work, as a JPEG decoded at
	// 1/2 does (or stream.go's boxes). The planes are then in full range
	// (JFIF: the averages go through the video to full range mapping
	// at their own precision), and the loop filter is skipped, as
	// libwebp's bypass_filtering (dwebp -nofilter) does: it does not
	// feed the prediction, it is half the decode time, and at such a
	// shrink its changes, which move the two sides of a block edge
	// towards each other, average out in each output pixel
	// (TestVP8HalfShrunk measures what is left: 42 dB PSNR at worst, on a
	// -q 5 picture with the strongest filter).
	half bool
	// check, when not nil, runs before each macroblock row; its error
	// stops the decode (context cancellation).
	check func() error
}

// decodeVP8 decodes a VP8 chunk's key frame to 4:2:0 planes, video range
// as stored (webpPlanesToRGBA converts them).
func decodeVP8(data []byte, opt vp8Options) (*image.YCbCr, error) {
	fi, err := parseVP8Frame(data)
	if err != nil {
		return nil, err
	}
	d := &vp8Dec{width: fi.width, height: fi.height}
	d.mbw, d.mbh = (fi.width+15)/16, (fi.height+15)/16
	d.first = newBoolDec(fi.part0)
	if err := d.parseHeader(fi.rest); err != nil {
		return nil, err
	}
	if opt.half {
		d.filterType = 0
		d.half = true
		d.ylut, d.clut = vp8FullRangeLUTs()
	}
	d.alloc()
	for mby := range d.mbh {
		if opt.check != nil {
			if err := opt.check(); err != nil {
				return nil, err
			}
		}
		if err := d.decodeRow(mby); err != nil {
			return nil, err
		}
	}
	d.img.Rect = image.Rect(0, 0, d.width, d.height)
	if d.half {
		d.img.Rect = image.Rect(0, 0, (d.width+1)/2, (d.height+1)/2)
	}
	return d.img, nil
}

// parseHeader reads the frame-wide fields of the first partition and
// splits rest into the token partitions.
func (d *vp8Dec) parseHeader(rest []byte) error {
	br := &d.first
	br.literal(2) // colour space and clamping type: both have one meaning for us
	// Segments.
	var segQuant, segFilter [4]int
	absolute := false
	useSegments := br.bit(0x80)
	if useSegments {
		d.segmentMap = br.bit(0x80)
		if br.bit(0x80) { // segment data
			absolute = br.bit(0x80)
			for s := range segQuant {
				segQuant[s] = br.optionalSigned(7)
			}
			for s := range segFilter {
				segFilter[s] = br.optionalSigned(6)
			}
		}
		if d.segmentMap {
			for i := range d.segProbs {
				d.segProbs[i] = 255
				if br.bit(0x80) {
					d.segProbs[i] = uint8(br.literal(8))
				}
			}
		}
	}
	// Loop filter.
	simple := br.bit(0x80)
	level := br.literal(6)
	sharpness := br.literal(3)
	var refDelta, modeDelta [4]int
	useDeltas := br.bit(0x80)
	if useDeltas && br.bit(0x80) {
		for i := range refDelta {
			if br.bit(0x80) {
				refDelta[i] = br.signed(6)
			}
		}
		for i := range modeDelta {
			if br.bit(0x80) {
				modeDelta[i] = br.signed(6)
			}
		}
	}
	switch {
	case level == 0:
		d.filterType = 0
	case simple:
		d.filterType = 1
	default:
		d.filterType = 2
	}
	// Token partitions.
	d.nparts = 1 << br.literal(2)
	last := d.nparts - 1
	if len(rest) < 3*last {
		return corrupt(formatWebP, "vp8: truncated partition sizes")
	}
	sizes, data := rest[:3*last], rest[3*last:]
	for p := range last {
		n := int(sizes[3*p]) | int(sizes[3*p+1])<<8 | int(sizes[3*p+2])<<16
		n = min(n, len(data))
		d.parts[p] = newBoolDec(data[:n])
		data = data[n:]
	}
	d.parts[last] = newBoolDec(data)
	if len(data) == 0 {
		return corrupt(formatWebP, "vp8: truncated token partitions")
	}
	// Quantisers.
	base := br.literal(7)
	dqY1DC := br.optionalSigned(4)
	dqY2DC := br.optionalSigned(4)
	dqY2AC := br.optionalSigned(4)
	dqUVDC := br.optionalSigned(4)
	dqUVAC := br.optionalSigned(4)
	for s := range d.quant {
		q := base
		if useSegments {
			q = segQuant[s]
			if !absolute {
				q += base
			}
		}
		step := func(t *[128]uint16, q, hi int) int32 { return int32(t[min(max(q, 0), hi)]) }
		m := &d.quant[s]
		m.y1 = [2]int32{step(&vp8DCSteps, q+dqY1DC, 127), step(&vp8ACSteps, q, 127)}
		m.y2 = [2]int32{step(&vp8DCSteps, q+dqY2DC, 127) * 2, step(&vp8ACSteps, q+dqY2AC, 127) * 101581 >> 16}
		m.y2[1] = max(m.y2[1], 8)
		m.uv = [2]int32{step(&vp8DCSteps, q+dqUVDC, 117), step(&vp8ACSteps, q+dqUVAC, 127)}
	}
	// Filter strengths, by segment and by whether the macroblock is
	// predicted by sub-blocks.
	for s := range d.filterParam {
		base := level
		if useSegments {
			base = segFilter[s]
			if !absolute {
				base += level
			}
		}
		for i4 := range 2 {
			l := base
			if useDeltas {
				l += refDelta[0]
				if i4 == 1 {
					l += modeDelta[0]
				}
			}
			l = min(max(l, 0), 63)
			fp := &d.filterParam[s][i4]
			fp.inner = i4 == 1
			if l == 0 {
				continue
			}
			il := l
			if sharpness > 0 {
				if sharpness > 4 {
					il >>= 2
				} else {
					il >>= 1
				}
				il = min(il, 9-sharpness)
			}
			il = max(il, 1)
			fp.ilevel = uint8(il)
			fp.limit = uint8(2*l + il)
			switch {
			case l >= 40:
				fp.hev = 2
			case l >= 15:
				fp.hev = 1
			}
		}
	}
	br.bit(0x80) // refresh entropy probabilities: one frame, no matter
	// Coefficient probabilities.
	for t := range d.probs {
		for b := range d.probs[t] {
			for c := range d.probs[t][b] {
				for p := range d.probs[t][b][c] {
					v := vp8DefaultProbs[t][b][c][p]
					if br.bit(vp8UpdateProbs[t][b][c][p]) {
						v = uint8(br.literal(8))
					}
					d.probs[t][b][c][p] = v
				}
			}
		}
	}
	d.useSkip = br.bit(0x80)
	if d.useSkip {
		d.skipProb = uint8(br.literal(8))
	}
	if br.eof {
		return corrupt(formatWebP, "vp8: truncated header")
	}
	return nil
}

// alloc makes the planes, padded to whole macroblocks, and the row state.
func (d *vp8Dec) alloc() {
	yw, cw := 16*d.mbw, 8*d.mbw
	yh, ch := 16*d.mbh, 8*d.mbh
	if d.half {
		yw, cw, yh, ch = yw/2, cw/2, yh/2, ch/2
	}
	pix := make([]uint8, yw*yh+2*cw*ch)
	d.img = &image.YCbCr{
		Y: pix[:yw*yh], Cb: pix[yw*yh : yw*yh+cw*ch], Cr: pix[yw*yh+cw*ch:],
		YStride: yw, CStride: cw,
		SubsampleRatio: image.YCbCrSubsampleRatio420,
	}
	d.intraT = make([]uint8, 4*d.mbw)
	d.nzT = make([]uint8, d.mbw)
	d.nzDCT = make([]uint8, d.mbw)
	d.yT = make([]uint8, 16*d.mbw)
	d.uT = make([]uint8, 8*d.mbw)
	d.vT = make([]uint8, 8*d.mbw)
	d.fp = make([]vp8FilterParams, d.mbw)
}

// decodeRow parses, reconstructs and filters macroblock row mby.
func (d *vp8Dec) decodeRow(mby int) error {
	tokens := &d.parts[mby&(d.nparts-1)]
	var intraL [4]uint8
	var nzL, nzDCL uint8
	d.initLeft(mby)
	for mbx := range d.mbw {
		// Modes, from the first partition.
		br := &d.first
		segment := 0
		if d.segmentMap {
			if !br.bit(d.segProbs[0]) {
				segment = b2i(br.bit(d.segProbs[1]))
			} else {
				segment = 2 + b2i(br.bit(d.segProbs[2]))
			}
		}
		skip := d.useSkip && br.bit(d.skipProb)
		var modes [16]uint8
		i4 := !br.bit(145)
		top := d.intraT[4*mbx : 4*mbx+4 : 4*mbx+4]
		if i4 {
			for y := range 4 {
				left := intraL[y]
				for x := range 4 {
					p := &vp8BModeProbs[top[x]][left]
					m := readBMode(br, p)
					modes[4*y+x] = m
					top[x], left = m, m
				}
				intraL[y] = left
			}
		} else {
			var m uint8
			if br.bit(156) {
				if br.bit(128) {
					m = modeTM
				} else {
					m = modeHE
				}
			} else if br.bit(163) {
				m = modeVE
			} else {
				m = modeDC
			}
			modes[0] = m
			top[0], top[1], top[2], top[3] = m, m, m, m
			intraL = [4]uint8{m, m, m, m}
		}
		var uvMode uint8
		switch {
		case !br.bit(142):
			uvMode = modeDC
		case !br.bit(114):
			uvMode = modeVE
		case br.bit(183):
			uvMode = modeTM
		default:
			uvMode = modeHE
		}

		// Coefficients, from the row's token partition.
		q := &d.quant[segment]
		nonZero := false
		if !skip {
			nonZero = d.parseResiduals(tokens, q, i4, &d.nzT[mbx], &nzL, &d.nzDCT[mbx], &nzDCL)
		} else {
			d.nzT[mbx], nzL = 0, 0
			if !i4 {
				d.nzDCT[mbx], nzDCL = 0, 0
			}
			d.nzCode = [24]uint8{}
		}
		if d.filterType > 0 {
			fp := d.filterParam[segment][b2i(i4)]
			fp.inner = fp.inner || nonZero
			d.fp[mbx] = fp
		}
		d.reconstruct(mbx, mby, i4, &modes, uvMode)
		if tokens.eof || br.eof {
			return corrupt(formatWebP, "vp8: premature end of data")
		}
	}
	if d.filterType > 0 {
		d.filterRow(mby)
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readBMode reads a sub-block mode with the tree of RFC 6386 (libwebp's
// numbering of the modes).
func readBMode(br *boolDec, p *[9]uint8) uint8 {
	switch {
	case !br.bit(p[0]):
		return modeDC
	case !br.bit(p[1]):
		return modeTM
	case !br.bit(p[2]):
		return modeVE
	case !br.bit(p[3]):
		if !br.bit(p[4]) {
			return modeHE
		}
		if !br.bit(p[5]) {
			return modeRD
		}
		return modeVR
	case !br.bit(p[6]):
		return modeLD
	case !br.bit(p[7]):
		return modeVL
	case !br.bit(p[8]):
		return modeHD
	}
	return modeHU
}

// parseResiduals reads the coefficients of a macroblock into d.coeffs,
// dequantised, sets d.nzCode, updates the non-zero contexts and reports
// whether any coefficient (after the Walsh-Hadamard transform, for the
// luma DCs) is non-zero.
func (d *vp8Dec) parseResiduals(br *boolDec, q *vp8Quant, i4 bool, nzT, nzL, nzDCT, nzDCL *uint8) bool {
	c := &d.coeffs
	clear(c[:])
	first := 0
	plane := planeY1
	if !i4 {
		var dc [16]int32
		ctx := int(*nzDCT + *nzDCL)
		n := d.coefficients(br, planeY2, ctx, &q.y2, 0, dc[:])
		nz := uint8(b2i(n > 0))
		*nzDCT, *nzDCL = nz, nz
		if n > 1 {
			var out [16]int32
			vp8IWHT(&dc, &out)
			for i := range 16 {
				c[16*i] = out[i]
			}
		} else {
			dc0 := (dc[0] + 3) >> 3
			for i := range 16 {
				c[16*i] = dc0
			}
		}
		first = 1
		plane = planeY1AfterY2
	}
	any := false
	tnz, lnz := *nzT&0x0f, *nzL&0x0f
	var outT, outL uint8
	for y := range 4 {
		l := lnz >> y & 1
		for x := range 4 {
			t := tnz >> x & 1
			b := c[(4*y+x)*16 : (4*y+x)*16+16]
			n := d.coefficients(br, plane, int(l+t), &q.y1, first, b)
			nz := uint8(b2i(n > first))
			l = nz
			tnz = tnz&^(1<<x) | nz<<x
			d.nzCode[4*y+x] = blockCode(n, b[0])
		}
		outL |= l << y
	}
	outT = tnz
	for ch := range 2 {
		tnz, lnz := *nzT>>(4+2*ch)&3, *nzL>>(4+2*ch)&3
		for y := range 2 {
			l := lnz >> y & 1
			for x := range 2 {
				t := tnz >> x & 1
				k := 16 + 4*ch + 2*y + x
				b := c[k*16 : k*16+16]
				n := d.coefficients(br, planeUV, int(l+t), &q.uv, 0, b)
				nz := uint8(b2i(n > 0))
				l = nz
				tnz = tnz&^(1<<x) | nz<<x
				d.nzCode[k] = blockCode(n, b[0])
			}
			lnz = lnz&^(1<<y) | l<<y
		}
		outT |= tnz << (4 + 2*ch)
		outL |= lnz << (4 + 2*ch)
	}
	*nzT, *nzL = outT, outL
	for _, k := range d.nzCode {
		if k != 0 {
			any = true
			break
		}
	}
	return any
}

// blockCode is how a block with n coefficients read (the index after the
// last non-zero one) and DC dc is transformed.
func blockCode(n int, dc int32) uint8 {
	switch {
	case n > 1:
		return 2
	case dc != 0:
		return 1
	}
	return 0
}

// coefficients reads the tokens of one block from position first into
// out (natural order), dequantised by dq (DC, AC), with the
// probabilities of plane and the context ctx of the first, and returns
// the position after the last one read (first when the block is empty).
func (d *vp8Dec) coefficients(br *boolDec, plane, ctx int, dq *[2]int32, first int, out []int32) int {
	probs := &d.probs[plane]
	p := &probs[vp8Bands[first]][ctx]
	out = out[:16]
	// The decoder's state in locals, written back before each return and
	// around the rare calls that take br.
	v, nb, rng := br.value, br.bits, br.rng
	var bit bool
	n := first
	for n < 16 {
		if nb < 0 {
			br.value, br.bits = v, nb
			br.load()
			v, nb = br.value, br.bits
		}
		if bit, v, nb, rng = boolStep(v, nb, rng, p[0]); !bit {
			break // end of block
		}
		for {
			if nb < 0 {
				br.value, br.bits = v, nb
				br.load()
				v, nb = br.value, br.bits
			}
			if bit, v, nb, rng = boolStep(v, nb, rng, p[1]); bit {
				break
			}
			n++ // a zero
			if n == 16 {
				br.value, br.bits, br.rng = v, nb, rng
				return 16
			}
			p = &probs[vp8Bands[n]][0]
		}
		next := &probs[vp8Bands[n+1]]
		if nb < 0 {
			br.value, br.bits = v, nb
			br.load()
			v, nb = br.value, br.bits
		}
		var c int32
		if bit, v, nb, rng = boolStep(v, nb, rng, p[2]); !bit {
			c = 1
			p = &next[1]
		} else {
			br.value, br.bits, br.rng = v, nb, rng
			c = largeValue(br, p)
			v, nb, rng = br.value, br.bits, br.rng
			p = &next[2]
		}
		if nb < 0 {
			br.value, br.bits = v, nb
			br.load()
			v, nb = br.value, br.bits
		}
		if bit, v, nb, rng = boolStep(v, nb, rng, 0x80); bit {
			c = -c
		}
		if n == 0 {
			out[0] = c * dq[0]
		} else {
			out[vp8Zigzag[n]&15] = c * dq[1]
		}
		n++
	}
	br.value, br.bits, br.rng = v, nb, rng
	return n
}

// largeValue reads a coefficient magnitude of 2 or more.
func largeValue(br *boolDec, p *[11]uint8) int32 {
	if !br.bit(p[3]) {
		if !br.bit(p[4]) {
			return 2
		}
		return 3 + int32(b2i(br.bit(p[5])))
	}
	if !br.bit(p[6]) {
		if !br.bit(p[7]) {
			return 5 + int32(b2i(br.bit(159)))
		}
		v := 7 + 2*int32(b2i(br.bit(165)))
		return v + int32(b2i(br.bit(145)))
	}
	bit1 := b2i(br.bit(p[8]))
	bit0 := b2i(br.bit(p[9+bit1]))
	cat := 2*bit1 + bit0
	var v int32
	for _, prob := range vp8CatProbs[cat] {
		if prob == 0 {
			break
		}
		v = 2*v + int32(b2i(br.bit(prob)))
	}
	return v + 3 + 8<<cat
}

// initLeft sets the workspace's left borders for the first macroblock
// of row mby, and its top border on the first row.
func (d *vp8Dec) initLeft(mby int) {
	ws := &d.ws
	for j := range 16 {
		ws[vp8YOff+j*vp8BPS-1] = 129
	}
	for j := range 8 {
		ws[vp8UOff+j*vp8BPS-1] = 129
		ws[vp8VOff+j*vp8BPS-1] = 129
	}
	if mby > 0 {
		ws[vp8YOff-vp8BPS-1], ws[vp8UOff-vp8BPS-1], ws[vp8VOff-vp8BPS-1] = 129, 129, 129
		return
	}
	for i := -1; i < 20; i++ {
		ws[vp8YOff-vp8BPS+i] = 127
	}
	for i := -1; i < 8; i++ {
		ws[vp8UOff-vp8BPS+i] = 127
		ws[vp8VOff-vp8BPS+i] = 127
	}
}

// vp8Scan is where each luma sub-block starts in the workspace.
var vp8Scan = [16]int{
	0, 4, 8, 12,
	4 * vp8BPS, 4*vp8BPS + 4, 4*vp8BPS + 8, 4*vp8BPS + 12,
	8 * vp8BPS, 8*vp8BPS + 4, 8*vp8BPS + 8, 8*vp8BPS + 12,
	12 * vp8BPS, 12*vp8BPS + 4, 12*vp8BPS + 8, 12*vp8BPS + 12,
}

// reconstruct predicts macroblock (mbx, mby), adds its residuals and
// copies it to the planes.
func (d *vp8Dec) reconstruct(mbx, mby int, i4 bool, modes *[16]uint8, uvMode uint8) {
	ws := &d.ws
	if mbx > 0 { // the previous macroblock's right column becomes the left border
		for j := -1; j < 16; j++ {
			o := vp8YOff + j*vp8BPS
			copy(ws[o-4:o], ws[o+12:o+16])
		}
		for j := -1; j < 8; j++ {
			o := vp8UOff + j*vp8BPS
			copy(ws[o-4:o], ws[o+4:o+8])
			o = vp8VOff + j*vp8BPS
			copy(ws[o-4:o], ws[o+4:o+8])
		}
	}
	if mby > 0 {
		copy(ws[vp8YOff-vp8BPS:vp8YOff-vp8BPS+16], d.yT[16*mbx:16*mbx+16])
		copy(ws[vp8UOff-vp8BPS:vp8UOff-vp8BPS+8], d.uT[8*mbx:8*mbx+8])
		copy(ws[vp8VOff-vp8BPS:vp8VOff-vp8BPS+8], d.vT[8*mbx:8*mbx+8])
	}
	if i4 {
		tr := vp8YOff - vp8BPS + 16
		if mby > 0 {
			if mbx >= d.mbw-1 {
				v := d.yT[16*mbx+15]
				ws[tr], ws[tr+1], ws[tr+2], ws[tr+3] = v, v, v, v
			} else {
				copy(ws[tr:tr+4], d.yT[16*mbx+16:16*mbx+20])
			}
		}
		for k := 1; k <= 3; k++ {
			copy(ws[tr+4*k*vp8BPS:tr+4*k*vp8BPS+4], ws[tr:tr+4])
		}
		for n := range 16 {
			o := vp8YOff + vp8Scan[n]
			predict4Dec(ws[:], o, modes[n])
			transformBlock(d.nzCode[n], d.coeffs[16*n:16*n+16], ws[:], o)
		}
	} else {
		predict16Dec(ws[:], vp8YOff, modes[0], mbx, mby)
		for n := range 16 {
			transformBlock(d.nzCode[n], d.coeffs[16*n:16*n+16], ws[:], vp8YOff+vp8Scan[n])
		}
	}
	predict8Dec(ws[:], vp8UOff, uvMode, mbx, mby)
	predict8Dec(ws[:], vp8VOff, uvMode, mbx, mby)
	for k := range 4 {
		o := (k>>1)*4*vp8BPS + (k&1)*4
		transformBlock(d.nzCode[16+k], d.coeffs[(16+k)*16:(17+k)*16], ws[:], vp8UOff+o)
		transformBlock(d.nzCode[20+k], d.coeffs[(20+k)*16:(21+k)*16], ws[:], vp8VOff+o)
	}
	// Keep the unfiltered bottom rows for the next row's prediction.
	copy(d.yT[16*mbx:16*mbx+16], ws[vp8YOff+15*vp8BPS:])
	copy(d.uT[8*mbx:8*mbx+8], ws[vp8UOff+7*vp8BPS:])
	copy(d.vT[8*mbx:8*mbx+8], ws[vp8VOff+7*vp8BPS:])
	// Copy to the planes.
	m := d.img
	if d.half {
		d.copyHalf(mbx, mby)
		return
	}
	for j := range 16 {
		o := (16*mby+j)*m.YStride + 16*mbx
		copy(m.Y[o:o+16], ws[vp8YOff+j*vp8BPS:])
	}
	for j := range 8 {
		o := (8*mby+j)*m.CStride + 8*mbx
		copy(m.Cb[o:o+8], ws[vp8UOff+j*vp8BPS:])
		copy(m.Cr[o:o+8], ws[vp8VOff+j*vp8BPS:])
	}
}

// transformBlock adds the inverse DCT of c to the 4x4 pixels at o.
func transformBlock(code uint8, c []int32, ws []uint8, o int) {
	switch code {
	case 1:
		dc := (c[0] + 4) >> 3
		for j := range 4 {
			p := ws[o+j*vp8BPS : o+j*vp8BPS+4 : o+j*vp8BPS+4]
			p[0] = vp8Clip(int32(p[0]) + dc)
			p[1] = vp8Clip(int32(p[1]) + dc)
			p[2] = vp8Clip(int32(p[2]) + dc)
			p[3] = vp8Clip(int32(p[3]) + dc)
		}
	case 2:
		idctAdd((*[16]int32)(c), ws, o)
	}
}

// idctAdd is libwebp's TransformOne: the inverse DCT of c added to the
// 4x4 pixels at o, clipped.
func idctAdd(c *[16]int32, ws []uint8, o int) {
	const (
		c1 = 20091 // (cos(pi/8)·sqrt(2) − 1)·65536
		c2 = 35468 // sin(pi/8)·sqrt(2)·65536
	)
	mul1 := func(a int32) int32 { return (a*c1)>>16 + a }
	mul2 := func(a int32) int32 { return (a * c2) >> 16 }
	var t [16]int32
	for i := range 4 {
		a := c[i] + c[8+i]
		b := c[i] - c[8+i]
		cc := mul2(c[4+i]) - mul1(c[12+i])
		dd := mul1(c[4+i]) + mul2(c[12+i])
		t[4*i+0] = a + dd
		t[4*i+1] = b + cc
		t[4*i+2] = b - cc
		t[4*i+3] = a - dd
	}
	for i := range 4 {
		dc := t[i] + 4
		a := dc + t[8+i]
		b := dc - t[8+i]
		cc := mul2(t[4+i]) - mul1(t[12+i])
		dd := mul1(t[4+i]) + mul2(t[12+i])
		p := ws[o+i*vp8BPS : o+i*vp8BPS+4 : o+i*vp8BPS+4]
		p[0] = vp8Clip(int32(p[0]) + (a+dd)>>3)
		p[1] = vp8Clip(int32(p[1]) + (b+cc)>>3)
		p[2] = vp8Clip(int32(p[2]) + (b-cc)>>3)
		p[3] = vp8Clip(int32(p[3]) + (a-dd)>>3)
	}
}

// predict16Dec writes the 16x16 luma prediction of mode at o; DC uses
// the borders that lie inside the picture.
func predict16Dec(ws []uint8, o int, mode uint8, mbx, mby int) {
	predictSquare(ws, o, 16, mode, mbx, mby)
}

// predict8Dec is predict16Dec for an 8x8 chroma block.
func predict8Dec(ws []uint8, o int, mode uint8, mbx, mby int) {
	predictSquare(ws, o, 8, mode, mbx, mby)
}

func predictSquare(ws []uint8, o, n int, mode uint8, mbx, mby int) {
	top := ws[o-vp8BPS : o-vp8BPS+n]
	switch mode {
	case modeDC:
		sum, shift := 0, 0
		if mby > 0 {
			for _, v := range top {
				sum += int(v)
			}
			shift++
		}
		if mbx > 0 {
			for j := range n {
				sum += int(ws[o+j*vp8BPS-1])
			}
			shift++
		}
		v := uint8(0x80)
		if shift > 0 {
			lg := 3 // log2(8)
			if n == 16 {
				lg = 4
			}
			s := uint(lg + shift - 1)
			v = uint8((sum + 1<<(s-1)) >> s)
		}
		for j := range n {
			row := ws[o+j*vp8BPS : o+j*vp8BPS+n]
			for i := range row {
				row[i] = v
			}
		}
	case modeTM:
		corner := int32(ws[o-vp8BPS-1])
		for j := range n {
			l := int32(ws[o+j*vp8BPS-1]) - corner
			row := ws[o+j*vp8BPS : o+j*vp8BPS+n]
			for i, t := range top {
				row[i] = vp8Clip(l + int32(t))
			}
		}
	case modeVE:
		for j := range n {
			copy(ws[o+j*vp8BPS:o+j*vp8BPS+n], top)
		}
	default: // modeHE
		for j := range n {
			l := ws[o+j*vp8BPS-1]
			row := ws[o+j*vp8BPS : o+j*vp8BPS+n]
			for i := range row {
				row[i] = l
			}
		}
	}
}

// predict4Dec writes the 4x4 prediction of mode at o, from the row above
// (with 4 pixels above-right) and the column left.
func predict4Dec(ws []uint8, o int, mode uint8) {
	top := ws[o-vp8BPS-1 : o-vp8BPS+8] // corner, 4 above, 4 above-right
	X := int32(top[0])
	A, B, C, D := int32(top[1]), int32(top[2]), int32(top[3]), int32(top[4])
	E, F, G, H := int32(top[5]), int32(top[6]), int32(top[7]), int32(top[8])
	I, J := int32(ws[o-1]), int32(ws[o+vp8BPS-1])
	K, L := int32(ws[o+2*vp8BPS-1]), int32(ws[o+3*vp8BPS-1])
	avg3 := func(a, b, c int32) uint8 { return uint8((a + 2*b + c + 2) >> 2) }
	avg2 := func(a, b int32) uint8 { return uint8((a + b + 1) >> 1) }
	put := func(j int, a, b, c, d uint8) {
		p := ws[o+j*vp8BPS : o+j*vp8BPS+4 : o+j*vp8BPS+4]
		p[0], p[1], p[2], p[3] = a, b, c, d
	}
	switch mode {
	case modeDC:
		v := uint8((A + B + C + D + I + J + K + L + 4) >> 3)
		for j := range 4 {
			put(j, v, v, v, v)
		}
	case modeTM:
		for j, l := range [4]int32{I, J, K, L} {
			d := l - X
			put(j, vp8Clip(A+d), vp8Clip(B+d), vp8Clip(C+d), vp8Clip(D+d))
		}
	case modeVE:
		a, b, c, e := avg3(X, A, B), avg3(A, B, C), avg3(B, C, D), avg3(C, D, E)
		for j := range 4 {
			put(j, a, b, c, e)
		}
	case modeHE:
		for j, v := range [4]uint8{avg3(X, I, J), avg3(I, J, K), avg3(J, K, L), avg3(K, L, L)} {
			put(j, v, v, v, v)
		}
	case modeRD:
		put(0, avg3(I, X, A), avg3(X, A, B), avg3(A, B, C), avg3(B, C, D))
		put(1, avg3(J, I, X), avg3(I, X, A), avg3(X, A, B), avg3(A, B, C))
		put(2, avg3(K, J, I), avg3(J, I, X), avg3(I, X, A), avg3(X, A, B))
		put(3, avg3(L, K, J), avg3(K, J, I), avg3(J, I, X), avg3(I, X, A))
	case modeVR:
		put(0, avg2(X, A), avg2(A, B), avg2(B, C), avg2(C, D))
		put(1, avg3(I, X, A), avg3(X, A, B), avg3(A, B, C), avg3(B, C, D))
		put(2, avg3(J, I, X), avg2(X, A), avg2(A, B), avg2(B, C))
		put(3, avg3(K, J, I), avg3(I, X, A), avg3(X, A, B), avg3(A, B, C))
	case modeLD:
		put(0, avg3(A, B, C), avg3(B, C, D), avg3(C, D, E), avg3(D, E, F))
		put(1, avg3(B, C, D), avg3(C, D, E), avg3(D, E, F), avg3(E, F, G))
		put(2, avg3(C, D, E), avg3(D, E, F), avg3(E, F, G), avg3(F, G, H))
		put(3, avg3(D, E, F), avg3(E, F, G), avg3(F, G, H), avg3(G, H, H))
	case modeVL:
		put(0, avg2(A, B), avg2(B, C), avg2(C, D), avg2(D, E))
		put(1, avg3(A, B, C), avg3(B, C, D), avg3(C, D, E), avg3(D, E, F))
		put(2, avg2(B, C), avg2(C, D), avg2(D, E), avg3(E, F, G))
		put(3, avg3(B, C, D), avg3(C, D, E), avg3(D, E, F), avg3(F, G, H))
	case modeHD:
		put(0, avg2(I, X), avg3(I, X, A), avg3(X, A, B), avg3(A, B, C))
		put(1, avg2(J, I), avg3(J, I, X), avg2(I, X), avg3(I, X, A))
		put(2, avg2(K, J), avg3(K, J, I), avg2(J, I), avg3(J, I, X))
		put(3, avg2(L, K), avg3(L, K, J), avg2(K, J), avg3(K, J, I))
	default: // modeHU
		l := uint8(L)
		put(0, avg2(I, J), avg3(I, J, K), avg2(J, K), avg3(J, K, L))
		put(1, avg2(J, K), avg3(J, K, L), avg2(K, L), avg3(K, L, L))
		put(2, avg2(K, L), avg3(K, L, L), l, l)
		put(3, l, l, l, l)
	}
}

// filterRow runs the loop filter over macroblock row mby in the planes,
// macroblock by macroblock in raster order (RFC 6386 section 15): left
// edge, inner vertical edges, top edge, inner horizontal edges.
func (d *vp8Dec) filterRow(mby int) {
	m := d.img
	for mbx := range d.mbw {
		fp := d.fp[mbx]
		if fp.limit == 0 {
			continue
		}
		limit, il, hev := int32(fp.limit), int32(fp.ilevel), int32(fp.hev)
		yo := 16*mby*m.YStride + 16*mbx
		ys := m.YStride
		if d.filterType == 1 {
			if mbx > 0 {
				simpleFilter(m.Y, yo, 1, ys, 16, limit+4)
			}
			if fp.inner {
				for k := 4; k < 16; k += 4 {
					simpleFilter(m.Y, yo+k, 1, ys, 16, limit)
				}
			}
			if mby > 0 {
				simpleFilter(m.Y, yo, ys, 1, 16, limit+4)
			}
			if fp.inner {
				for k := 4; k < 16; k += 4 {
					simpleFilter(m.Y, yo+k*ys, ys, 1, 16, limit)
				}
			}
			continue
		}
		co := 8*mby*m.CStride + 8*mbx
		cs := m.CStride
		if mbx > 0 {
			filterEdge(m.Y, yo, 1, ys, 16, limit+4, il, hev)
			filterEdge(m.Cb, co, 1, cs, 8, limit+4, il, hev)
			filterEdge(m.Cr, co, 1, cs, 8, limit+4, il, hev)
		}
		if fp.inner {
			for k := 4; k < 16; k += 4 {
				filterInner(m.Y, yo+k, 1, ys, 16, limit, il, hev)
			}
			filterInner(m.Cb, co+4, 1, cs, 8, limit, il, hev)
			filterInner(m.Cr, co+4, 1, cs, 8, limit, il, hev)
		}
		if mby > 0 {
			filterEdge(m.Y, yo, ys, 1, 16, limit+4, il, hev)
			filterEdge(m.Cb, co, cs, 1, 8, limit+4, il, hev)
			filterEdge(m.Cr, co, cs, 1, 8, limit+4, il, hev)
		}
		if fp.inner {
			for k := 4; k < 16; k += 4 {
				filterInner(m.Y, yo+k*ys, ys, 1, 16, limit, il, hev)
			}
			filterInner(m.Cb, co+4*cs, cs, 1, 8, limit, il, hev)
			filterInner(m.Cr, co+4*cs, cs, 1, 8, limit, il, hev)
		}
	}
}

// abs32 is |v|, without a branch.
func abs32(v int32) int32 {
	m := v >> 31
	return (v ^ m) - m
}

// sclip1 clamps to a signed byte, sclip2 to [-16, 15], clip1 to a byte.
func sclip1(v int32) int32 { return min(max(v, -128), 127) }
func sclip2(v int32) int32 { return min(max(v, -16), 15) }
func clip1(v int32) uint8  { return uint8(min(max(v, 0), 255)) }

// simpleFilter filters n pixels along an edge: the pixel at o+i·along
// is the first past the edge, step apart across it.
func simpleFilter(p []uint8, o, step, along, n int, limit int32) {
	t := 2*limit + 1
	for i := range n {
		q := o + i*along
		p1, p0, q0, q1 := int32(p[q-2*step]), int32(p[q-step]), int32(p[q]), int32(p[q+step])
		if 4*abs32(p0-q0)+abs32(p1-q1) > t {
			continue
		}
		filter2(p, q, step, p1, p0, q0, q1)
	}
}

func filter2(p []uint8, q, step int, p1, p0, q0, q1 int32) {
	a := 3*(q0-p0) + sclip1(p1-q1)
	a1 := sclip2((a + 4) >> 3)
	a2 := sclip2((a + 3) >> 3)
	p[q-step] = clip1(p0 + a2)
	p[q] = clip1(q0 - a1)
}

// copyHalf copies the macroblock in the workspace to the half-size
// planes: each 2x2 samples averaged and mapped to full range.
func (d *vp8Dec) copyHalf(mbx, mby int) {
	m := d.img
	ws := &d.ws
	box := func(dst []uint8, src int, n int, lut *[1021]uint8) {
		dst = dst[:n]
		for i := range dst {
			a := ws[src+2*i : src+2*i+2 : src+2*i+2]
			b := ws[src+vp8BPS+2*i : src+vp8BPS+2*i+2 : src+vp8BPS+2*i+2]
			dst[i] = lut[int(a[0])+int(a[1])+int(b[0])+int(b[1])]
		}
	}
	for j := range 8 {
		o := (8*mby+j)*m.YStride + 8*mbx
		box(m.Y[o:], vp8YOff+2*j*vp8BPS, 8, d.ylut)
	}
	for j := range 4 {
		o := (4*mby+j)*m.CStride + 4*mbx
		box(m.Cb[o:], vp8UOff+2*j*vp8BPS, 4, d.clut)
		box(m.Cr[o:], vp8VOff+2*j*vp8BPS, 4, d.clut)
	}
}
