package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/bits"
	"slices"
)

// Lossy WebP: one VP8 key frame (RFC 6386).
//
// The image is converted to Y'CbCr 4:2:0 with libwebp's coefficients
// (BT.601, Y' in 16..235), one macroblock row at a time. A first pass
// measures each macroblock's texture and splits them into four segments,
// each with its quantiser (setQuality). Then the macroblocks are coded in
// raster order: the encoder tries the best 16x16 luma predictors and,
// sub-block by sub-block, the best 4x4 ones, and the best chroma
// predictors (a first cut on prediction error alone), each candidate
// transformed, quantised and reconstructed exactly as a decoder will, and
// scored by rate-distortion: squared error plus lambda times the bits its
// modes and coefficients cost under the default probabilities. The
// chosen levels are kept, packed; once all are known, the coefficient
// probabilities that pay for their own update are replaced, and the
// partitions are written with the boolean entropy coder.

// Prediction modes, numbered as the bitstream numbers sub-block modes;
// 16x16 luma and chroma use the first four.
const (
	modeDC = iota
	modeTM
	modeVE
	modeHE
	modeRD
	modeVR
	modeLD
	modeVL
	modeHD
	modeHU
	numBModes
)

// Coefficient planes, which select the probabilities.
const (
	planeY1AfterY2 = iota // luma AC of a 16x16-predicted macroblock
	planeY2               // the luma DCs of a 16x16-predicted macroblock
	planeUV
	planeY1 // luma of a 4x4-predicted macroblock
)

// Layout of the reconstruction workspace, the same as golang.org/x/image/
// vp8's decoder uses: row 0 and column 7 hold the borders (the row above,
// with 4 pixels of the macroblock above-right, and the column left); luma
// at (1, 8), Cb at (18, 8), Cr at (18, 24).
const (
	wsYY, wsYX = 1, 8
	wsUY, wsUX = 18, 8
	wsVY, wsVX = 18, 24
)

// vp8MaxPartition0 is the largest first partition the frame tag can
// state (19 bits).
const vp8MaxPartition0 = 1<<19 - 1

// vp8MaxTokenPartition is the largest token partition written:
// golang.org/x/image/vp8 refuses 16 MiB or more (the other partitions'
// sizes are 24 bits anyway). Larger frames split their tokens over 8
// partitions, by macroblock row.
const vp8MaxTokenPartition = 1<<24 - 1

var errPartition0 = errors.New("vp8: first partition over 512 KiB")

// vp8TreePath is the branch of a mode tree: n decisions, each the index
// of the probability it is coded with and the bit.
type vp8TreePath struct {
	n    uint8
	prob [7]uint8
	bit  [7]uint8
}

// vp8BModePaths are the sub-block mode tree's paths by mode.
var vp8BModePaths = [numBModes]vp8TreePath{
	modeDC: {1, [7]uint8{0}, [7]uint8{0}},
	modeTM: {2, [7]uint8{0, 1}, [7]uint8{1, 0}},
	modeVE: {3, [7]uint8{0, 1, 2}, [7]uint8{1, 1, 0}},
	modeHE: {5, [7]uint8{0, 1, 2, 3, 4}, [7]uint8{1, 1, 1, 0, 0}},
	modeRD: {6, [7]uint8{0, 1, 2, 3, 4, 5}, [7]uint8{1, 1, 1, 0, 1, 0}},
	modeVR: {6, [7]uint8{0, 1, 2, 3, 4, 5}, [7]uint8{1, 1, 1, 0, 1, 1}},
	modeLD: {5, [7]uint8{0, 1, 2, 3, 6}, [7]uint8{1, 1, 1, 1, 0}},
	modeVL: {6, [7]uint8{0, 1, 2, 3, 6, 7}, [7]uint8{1, 1, 1, 1, 1, 0}},
	modeHD: {7, [7]uint8{0, 1, 2, 3, 6, 7, 8}, [7]uint8{1, 1, 1, 1, 1, 1, 0}},
	modeHU: {7, [7]uint8{0, 1, 2, 3, 6, 7, 8}, [7]uint8{1, 1, 1, 1, 1, 1, 1}},
}

// vp8Sharpen raises luma AC coefficients before quantisation, by position
// (in 1/2048 of the step), to keep some texture (libwebp's values).
var vp8Sharpen = [16]uint32{0, 30, 60, 90, 30, 60, 90, 90, 60, 90, 90, 90, 90, 90, 90, 90}

// vp8Matrix quantises one kind of block.
type vp8Matrix struct {
	q       [16]int32  // step by position (natural order)
	iq      [16]uint32 // 2^17 / step
	bias    [16]uint32 // rounding, in 2^-17
	sharpen [16]uint32
}

func newVP8Matrix(dc, ac int, dcBias, acBias uint32, sharpen bool) vp8Matrix {
	var m vp8Matrix
	for i := range 16 {
		q, b := uint32(ac), acBias
		if i == 0 {
			q, b = uint32(dc), dcBias
		}
		m.q[i] = int32(q)
		m.iq[i] = (1 << 17) / q
		m.bias[i] = b << (17 - 8)
		if sharpen {
			m.sharpen[i] = (vp8Sharpen[i] * q) >> 11
		}
	}
	return m
}

// quantize quantises c (natural order) from zigzag position first on:
// levels get the levels in zigzag order and c the dequantised values. It
// returns the zigzag position of the last non-zero level, or -1.
func (m *vp8Matrix) quantize(c *[16]int32, levels *[16]int16, first int) int {
	last := -1
	for n := first; n < 16; n++ {
		j := vp8Zigzag[n] & 15
		v := c[j]
		sign := v >> 31 // 0 or -1
		level := int32(((uint32((v^sign)-sign)+m.sharpen[j])*m.iq[j] + m.bias[j]) >> 17)
		level = (min(level, 2047) ^ sign) - sign
		levels[n] = int16(level)
		c[j] = level * m.q[j]
		if level != 0 {
			last = n
		}
	}
	return last
}

// vp8Edge is what a macroblock leaves to its neighbour below (or right):
// which 4x4 blocks along that edge have coefficients, and the sub-block
// modes along it.
type vp8Edge struct {
	nzY   [4]uint8
	nzU   [2]uint8
	nzV   [2]uint8
	nzY2  uint8
	modes [4]uint8
}

// vp8MB is the macroblock being coded: its modes and levels.
type vp8MB struct {
	seg    uint8
	i4     bool
	ymode  uint8         // 16x16 luma mode
	bmodes [16]uint8     // sub-block modes, raster order
	uvmode uint8         // chroma mode
	y2     [16]int16     // levels in zigzag order
	y      [16][16]int16 // luma blocks, raster order
	uv     [8][16]int16  // Cb then Cr blocks
}

// vp8Segment is the quantisation of a segment of macroblocks.
type vp8Segment struct {
	qIndex      int
	filterLevel int
	y1, y2, uv  vp8Matrix
	lambda      float64 // luma: squared error per bit
	lambdaUV    float64
}

// vp8Encoder holds one frame's coding state.
type vp8Encoder struct {
	width, height int
	mbw, mbh      int
	yStride       int // of the planes: 16*mbw
	uvStride      int // 8*mbw
	img           *image.RGBA
	// Source planes of the current macroblock row (16 luma, 8 chroma
	// rows), padded to whole macroblocks.
	srcY, srcU []uint8
	srcV       []uint8
	// Bottom reconstructed row of the macroblock row above (top*) and of
	// the current one (next*): all that prediction needs from above.
	topY, topU   []uint8
	topV         []uint8
	nextY, nextU []uint8
	nextV        []uint8

	vp8Segment              // the current macroblock's segment
	segs       []vp8Segment // one, or four from smooth to busy
	segOf      []uint8      // segment by macroblock
	dqUVDC     int
	cost       [257]int32                             // cost[p]: -log2(p/256) in 1/256 bit
	bmodeCost  [numBModes][numBModes][numBModes]int32 // [above][left][mode], 1/256 bit

	ws      [26][32]uint8
	top     []vp8Edge
	left    vp8Edge
	mb      vp8MB        // the macroblock being coded
	i16     [2]i16Result // its 16x16 candidates
	mbs     []vp8MBCoded // the coded ones
	levels  []int16      // their levels, packed (see pack)
	allowI4 bool
	// part0Limit and tokenLimit are vp8MaxPartition0 and
	// vp8MaxTokenPartition, but in tests.
	part0Limit int
	tokenLimit int
}

// vp8MBCoded is a coded macroblock as kept until the frame is written:
// its modes, and where its levels start in the encoder's packed levels.
type vp8MBCoded struct {
	seg    uint8
	i4     bool
	empty  bool // no non-zero level: can be skipped
	ymode  uint8
	uvmode uint8
	bmodes [16]uint8
	off    uint32
}

// pack appends mb's levels to e.levels, block by block in coding order
// (the Y2 block first for 16x16 prediction, 16 luma, 4 Cb, 4 Cr blocks):
// a count n, then the first n levels in zigzag order.
func (e *vp8Encoder) pack(mb *vp8MB) vp8MBCoded {
	c := vp8MBCoded{seg: mb.seg, i4: mb.i4, ymode: mb.ymode, uvmode: mb.uvmode, bmodes: mb.bmodes, off: uint32(len(e.levels))}
	c.empty = true
	put := func(b *[16]int16) {
		n := 16
		for n > 0 && b[n-1] == 0 {
			n--
		}
		e.levels = append(e.levels, int16(n))
		e.levels = append(e.levels, b[:n]...)
		c.empty = c.empty && n == 0
	}
	if !mb.i4 {
		put(&mb.y2)
	}
	for i := range mb.y {
		put(&mb.y[i])
	}
	for i := range mb.uv {
		put(&mb.uv[i])
	}
	return c
}

// unpack reads the next packed block at e.levels[*off:] into b.
func (e *vp8Encoder) unpack(off *uint32, b *[16]int16) {
	n := uint32(e.levels[*off])
	*b = [16]int16{}
	copy(b[:n], e.levels[*off+1:*off+1+n])
	*off += 1 + n
}

// encodeVP8 codes img's colours (alpha is the caller's business) as a
// VP8 key frame at quality 1..100.
// It polls ctx once a row of macroblocks.
func encodeVP8(ctx context.Context, img *image.RGBA, quality int) ([]byte, error) {
	return newVP8Encoder(img, quality).run(ctx)
}

func (e *vp8Encoder) run(ctx context.Context) ([]byte, error) {
	data, err := e.encode(ctx, true)
	if errors.Is(err, errPartition0) {
		// The modes of 4x4 prediction did not fit: 16x16 ones are far
		// fewer bits.
		data, err = e.encode(ctx, false)
	}
	return data, err
}

func newVP8Encoder(img *image.RGBA, quality int) *vp8Encoder {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	e := &vp8Encoder{width: w, height: h, mbw: (w + 15) / 16, mbh: (h + 15) / 16, img: img,
		part0Limit: vp8MaxPartition0, tokenLimit: vp8MaxTokenPartition}
	e.yStride, e.uvStride = 16*e.mbw, 8*e.mbw
	e.srcY = make([]uint8, e.yStride*16)
	e.srcU = make([]uint8, e.uvStride*8)
	e.srcV = make([]uint8, e.uvStride*8)
	e.setQuality(quality, e.activity())
	for p := 1; p <= 256; p++ {
		e.cost[p] = int32(math.Round(-math.Log2(float64(p)/256) * 256))
	}
	e.cost[0] = e.cost[1]
	for above := range uint8(numBModes) {
		for left := range uint8(numBModes) {
			for m := range uint8(numBModes) {
				e.bmodeCost[above][left][m] = e.bModeCost(above, left, m)
			}
		}
	}
	return e
}

// setQuality maps quality to quantiser indexes the way libwebp does,
// with its default spatial noise shaping (-sns 50): the macroblocks are
// split by texture into four segments of equal count, and the smoothest
// get a finer quantiser than quality alone gives, the busiest a coarser
// one, since texture hides errors and flat areas show them. Each segment
// gets its quantisers, rate-distortion lambdas and loop filter level.
// activity holds each macroblock's texture; with fewer than
// vp8MinSegmentMBs macroblocks there is one segment.
func (e *vp8Encoder) setQuality(quality int, activity []float64) {
	c := float64(quality) / 100
	linear := 2*c - 1
	if c < 0.75 {
		linear = c * 2 / 3
	}
	base := math.Cbrt(linear)
	e.dqUVDC = -2
	e.segOf = make([]uint8, len(activity))
	if len(activity) < vp8MinSegmentMBs {
		e.segs = []vp8Segment{e.newSegment(base, 0)}
		e.vp8Segment = e.segs[0]
		return
	}
	sorted := slices.Clone(activity)
	slices.Sort(sorted)
	for i, a := range activity {
		// Four quantiles: 0 the smoothest quarter.
		seg := 0
		for seg < 3 && a > sorted[len(sorted)*(seg+1)/4] {
			seg++
		}
		e.segOf[i] = uint8(seg)
	}
	for _, alpha := range vp8SegmentAlphas {
		e.segs = append(e.segs, e.newSegment(base, alpha))
	}
	e.vp8Segment = e.segs[0]
}

// vp8SegmentAlphas are the segments' susceptibilities, libwebp's scale:
// +127 the smoothest, -127 the busiest.
var vp8SegmentAlphas = [4]float64{64, 21, -21, -64}

// vp8MinSegmentMBs is the fewest macroblocks worth splitting in segments.
const vp8MinSegmentMBs = 16

// newSegment derives a segment's quantisation from the base compression
// (libwebp's QualityToCompression of quality) and its susceptibility.
func (e *vp8Encoder) newSegment(base, alpha float64) vp8Segment {
	const amp = 0.9 * 50 / 100 / 128 // SNS_TO_DQ * sns_strength / 100 / 128
	q := min(max(int(127*(1-math.Pow(base, 1-amp*alpha))), 0), 127)
	clip := func(v, hi int) int { return min(max(v, 0), hi) }
	y2ac := max(int(vp8ACSteps[q])*155/100, 8)
	step := float64(vp8ACSteps[q])
	return vp8Segment{
		qIndex:      q,
		filterLevel: vp8FilterLevel(q),
		y1:          newVP8Matrix(int(vp8DCSteps[q]), int(vp8ACSteps[q]), 96, 110, true),
		y2:          newVP8Matrix(int(vp8DCSteps[q])*2, y2ac, 96, 108, false),
		uv:          newVP8Matrix(int(vp8DCSteps[clip(q+e.dqUVDC, 117)]), int(vp8ACSteps[q]), 110, 115, false),
		lambda:      vp8LambdaScale * step * step,
		lambdaUV:    vp8LambdaScale * step * step,
	}
}

// activity measures each macroblock's texture: the log of the summed
// magnitudes of the AC coefficients of its 16 luma blocks.
func (e *vp8Encoder) activity() []float64 {
	out := make([]float64, 0, e.mbw*e.mbh)
	var zero [16]uint8
	for mby := range e.mbh {
		e.toYUV(mby)
		for mbx := range e.mbw {
			sum := 0
			for b := range 16 {
				var c [16]int32
				vp8FDCT(e.srcY[(b/4)*4*e.yStride+16*mbx+(b%4)*4:], e.yStride, zero[:], 0, &c)
				for _, v := range c[1:] {
					sum += int(max(v, -v))
				}
			}
			out = append(out, math.Log1p(float64(sum)))
		}
	}
	return out
}

// vp8LambdaScale turns a squared quantiser step into the squared error
// one bit is worth.
const vp8LambdaScale = 0.03

// vp8FilterLevel is the loop filter strength for quantiser index q:
// about a third of the AC step, libwebp's default (-f 60) strength.
func vp8FilterLevel(q int) int {
	level := int(vp8ACSteps[q]) * 75 / 256
	if level < 2 {
		return 0
	}
	return min(level, 63)
}

// toYUV fills the source planes with macroblock row mby of img:
// unpremultiplied, converted with libwebp's integer BT.601 coefficients,
// chroma averaged over 2x2, padded to whole macroblocks by repeating the
// last column and row.
func (e *vp8Encoder) toYUV(mby int) {
	img, w, h := e.img, e.width, e.height
	rgb := func(x, y int) (int32, int32, int32) {
		x, y = min(x, w-1), min(y, h-1)
		p := img.Pix[y*img.Stride+4*x:]
		a := uint32(p[3])
		switch a {
		case 255:
			return int32(p[0]), int32(p[1]), int32(p[2])
		case 0:
			return 0, 0, 0
		}
		return int32(min((uint32(p[0])*255+a/2)/a, 255)), int32(min((uint32(p[1])*255+a/2)/a, 255)),
			int32(min((uint32(p[2])*255+a/2)/a, 255))
	}
	for y := range 16 {
		row := e.srcY[y*e.yStride:]
		for x := range 16 * e.mbw {
			r, g, b := rgb(x, 16*mby+y)
			row[x] = uint8((16839*r + 33059*g + 6420*b + 16<<16 + 1<<15) >> 16)
		}
	}
	for y := range 8 {
		for x := range 8 * e.mbw {
			var r, g, b int32
			for k := range 4 {
				pr, pg, pb := rgb(2*x+k&1, 16*mby+2*y+k>>1)
				r, g, b = r+pr, g+pg, b+pb
			}
			e.srcU[y*e.uvStride+x] = clipUV(-9719*r - 19081*g + 28800*b)
			e.srcV[y*e.uvStride+x] = clipUV(28800*r - 24116*g - 4684*b)
		}
	}
}

// clipUV finishes a chroma value from four pixels' weighted sums.
func clipUV(v int32) uint8 {
	v = (v + 128<<18 + 1<<17) >> 18
	return uint8(min(max(v, 0), 255))
}

// encode codes the frame; without allowI4 every macroblock uses 16x16
// luma prediction.
func (e *vp8Encoder) encode(ctx context.Context, allowI4 bool) ([]byte, error) {
	e.allowI4 = allowI4
	e.topY, e.nextY = make([]uint8, e.yStride), make([]uint8, e.yStride)
	e.topU, e.nextU = make([]uint8, e.uvStride), make([]uint8, e.uvStride)
	e.topV, e.nextV = make([]uint8, e.uvStride), make([]uint8, e.uvStride)
	e.top = make([]vp8Edge, e.mbw)
	e.mbs = make([]vp8MBCoded, 0, e.mbw*e.mbh)
	e.levels = e.levels[:0]
	for mby := range e.mbh {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e.toYUV(mby)
		e.left = vp8Edge{}
		for mbx := range e.mbw {
			e.codeMB(mbx, mby)
		}
		e.topY, e.nextY = e.nextY, e.topY
		e.topU, e.nextU = e.nextU, e.topU
		e.topV, e.nextV = e.nextV, e.topV
	}
	return e.write()
}

// prepare loads the workspace borders for macroblock (mbx, mby): the
// column left from the previous macroblock, still in the workspace, the
// row above from the row buffer, with the format's values outside the
// frame: 127 above the first row (and its corner), 129 left of the first
// column, and the above-right pixels of the last column repeated from the
// one above.
func (e *vp8Encoder) prepare(mbx, mby int) {
	ws := &e.ws
	if mbx > 0 {
		for y := 1; y < 17; y++ {
			ws[y][7] = ws[y][wsYX+15]
		}
		for y := 18; y < 26; y++ {
			ws[y][7] = ws[y][wsUX+7]
			ws[y][23] = ws[y][wsVX+7]
		}
	} else {
		for y := range 26 {
			ws[y][7] = 129
		}
		for y := 17; y < 26; y++ {
			ws[y][23] = 129
		}
	}
	if mby == 0 {
		for x := 7; x < 28; x++ {
			ws[0][x] = 127
		}
		for x := 7; x < 16; x++ {
			ws[17][x] = 127
		}
		for x := 23; x < 32; x++ {
			ws[17][x] = 127
		}
	} else {
		yrow, urow, vrow := e.topY, e.topU, e.topV
		if mbx > 0 {
			ws[0][7] = yrow[16*mbx-1]
			ws[17][7] = urow[8*mbx-1]
			ws[17][23] = vrow[8*mbx-1]
		}
		copy(ws[0][8:24], yrow[16*mbx:16*mbx+16])
		copy(ws[17][8:16], urow[8*mbx:8*mbx+8])
		copy(ws[17][24:32], vrow[8*mbx:8*mbx+8])
		for i := 16; i < 20; i++ {
			if mbx == e.mbw-1 {
				ws[0][8+i] = yrow[16*mbx+15]
			} else {
				ws[0][8+i] = yrow[16*mbx+i]
			}
		}
	}
	for y := 4; y < 16; y += 4 {
		copy(ws[y][24:28], ws[0][24:28])
	}
}

// codeMB chooses the modes of macroblock (mbx, mby), keeps its levels and
// reconstructs it.
func (e *vp8Encoder) codeMB(mbx, mby int) {
	e.prepare(mbx, mby)
	seg := e.segOf[mby*e.mbw+mbx]
	e.vp8Segment = e.segs[seg]
	mb := &e.mb
	mb.seg = seg
	top := &e.top[mbx]
	var src [256]uint8
	for y := range 16 {
		copy(src[16*y:16*y+16], e.srcY[y*e.yStride+16*mbx:])
	}
	i16 := e.bestI16(&src, mbx, mby, top)
	useI4 := false
	if e.allowI4 {
		useI4 = e.tryI4(&src, mb, top, i16.score)
	}
	if !useI4 {
		mb.i4, mb.ymode, mb.y2, mb.y = false, i16.mode, i16.y2, i16.y
		for y := range 16 {
			copy(e.ws[wsYY+y][wsYX:wsYX+16], i16.rec[16*y:16*y+16])
		}
		top.nzY, e.left.nzY = i16.nzTop, i16.nzLeft
		top.nzY2, e.left.nzY2 = i16.nzY2, i16.nzY2
		for i := range 4 {
			top.modes[i], e.left.modes[i] = i16.mode, i16.mode
		}
	}
	e.bestUV(mb, mbx, mby, top)
	e.mbs = append(e.mbs, e.pack(mb))
	copy(e.nextY[16*mbx:16*mbx+16], e.ws[wsYY+15][wsYX:wsYX+16])
	copy(e.nextU[8*mbx:8*mbx+8], e.ws[wsUY+7][wsUX:wsUX+8])
	copy(e.nextV[8*mbx:8*mbx+8], e.ws[wsVY+7][wsVX:wsVX+8])
}

// i16Result is the best 16x16 luma candidate.
type i16Result struct {
	score         float64
	mode          uint8
	y2            [16]int16
	y             [16][16]int16
	rec           [256]uint8
	nzTop, nzLeft [4]uint8
	nzY2          uint8
}

// bestI16 tries the four 16x16 luma modes.
func (e *vp8Encoder) bestI16(src *[256]uint8, mbx, mby int, top *vp8Edge) *i16Result {
	best, cur := &e.i16[0], &e.i16[1]
	best.score = math.Inf(1)
	for _, mode := range e.i16Candidates(src, mbx, mby) {
		e.tryI16(src, mode, mbx, mby, top, cur)
		if cur.score < best.score {
			best, cur = cur, best
		}
	}
	return best
}

// vp8I16Candidates is how many 16x16 luma (and chroma) modes get the full
// rate-distortion trial, after a first cut on prediction error.
const vp8I16Candidates = 2

// i16Candidates returns the 16x16 modes of least prediction error.
func (e *vp8Encoder) i16Candidates(src *[256]uint8, mbx, mby int) [vp8I16Candidates]uint8 {
	var pred [256]uint8
	var errs [4]int
	for m := range uint8(4) {
		predict16(&e.ws, m, mbx, mby, &pred)
		errs[m] = vp8SSE(src[:], pred[:], 16, 16)
	}
	return bestModes(errs)
}

// bestModes returns the modes of the vp8I16Candidates smallest errors.
func bestModes(errs [4]int) [vp8I16Candidates]uint8 {
	var out [vp8I16Candidates]uint8
	used := [4]bool{}
	for k := range out {
		best := -1
		for m, v := range errs {
			if !used[m] && (best < 0 || v < errs[best]) {
				best = m
			}
		}
		used[best] = true
		out[k] = uint8(best)
	}
	return out
}

// tryI16 codes the luma of the macroblock with 16x16 mode into r.
func (e *vp8Encoder) tryI16(src *[256]uint8, mode uint8, mbx, mby int, top *vp8Edge, r *i16Result) {
	var pred [256]uint8
	predict16(&e.ws, mode, mbx, mby, &pred)
	var coeffs [16][16]int32
	var dc [16]int32
	for b := range 16 {
		off := (b/4)*64 + (b%4)*4
		vp8FDCT(src[off:], 16, pred[off:], 16, &coeffs[b])
		dc[b] = coeffs[b][0]
	}
	var wht [16]int32
	vp8FWHT(&dc, &wht)
	r.mode = mode
	r.y2 = [16]int16{}
	lastY2 := e.y2.quantize(&wht, &r.y2, 0)
	rate := int(e.residualCost(&r.y2, 0, lastY2, planeY2, int(top.nzY2+e.left.nzY2)))
	vp8IWHT(&wht, &dc)
	nzTop, nzLeft := top.nzY, e.left.nzY
	for b := range 16 {
		r.y[b] = [16]int16{}
		last := e.y1.quantize(&coeffs[b], &r.y[b], 1)
		coeffs[b][0] = dc[b]
		nz := b2u8(last >= 0)
		rate += int(e.residualCost(&r.y[b], 1, last, planeY1AfterY2, int(nzTop[b%4]+nzLeft[b/4])))
		nzTop[b%4], nzLeft[b/4] = nz, nz
		off := (b/4)*64 + (b%4)*4
		vp8IDCT(&coeffs[b], pred[off:], 16, r.rec[off:], 16)
	}
	r.nzTop, r.nzLeft, r.nzY2 = nzTop, nzLeft, b2u8(lastY2 >= 0)
	rate += int(e.i16ModeCost(mode))
	r.score = float64(vp8SSE(src[:], r.rec[:], 16, 16)) + e.lambda*float64(rate)/256
}

func b2u8(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// i16ModeCost is the cost of signalling 16x16 mode (1/256 bit).
func (e *vp8Encoder) i16ModeCost(mode uint8) int32 {
	c := e.cost1(145)
	switch mode {
	case modeDC:
		return c + e.cost0(156) + e.cost0(163)
	case modeVE:
		return c + e.cost0(156) + e.cost1(163)
	case modeHE:
		return c + e.cost1(156) + e.cost0(128)
	}
	return c + e.cost1(156) + e.cost1(128)
}

func (e *vp8Encoder) uvModeCost(mode uint8) int32 {
	switch mode {
	case modeDC:
		return e.cost0(142)
	case modeVE:
		return e.cost1(142) + e.cost0(114)
	case modeHE:
		return e.cost1(142) + e.cost1(114) + e.cost0(183)
	}
	return e.cost1(142) + e.cost1(114) + e.cost1(183)
}

func (e *vp8Encoder) bModeCost(above, left, mode uint8) int32 {
	probs := &vp8BModeProbs[above][left]
	path := &vp8BModePaths[mode]
	var c int32
	for i := range path.n {
		c += e.bitCost(path.bit[i] == 1, probs[path.prob[i]])
	}
	return c
}

func (e *vp8Encoder) cost0(p uint8) int32 { return e.cost[p] }
func (e *vp8Encoder) cost1(p uint8) int32 { return e.cost[256-int(p)] }
func (e *vp8Encoder) bitCost(bit bool, p uint8) int32 {
	if bit {
		return e.cost1(p)
	}
	return e.cost0(p)
}

// tryI4 codes the luma with 4x4 modes, sub-block by sub-block, into the
// workspace. If that beats limit, it keeps the result in mb and the
// edges and returns true.
func (e *vp8Encoder) tryI4(src *[256]uint8, mb *vp8MB, top *vp8Edge, limit float64) bool {
	nzTop, nzLeft := top.nzY, e.left.nzY
	mTop, mLeft := top.modes, e.left.modes
	var modes [16]uint8
	var levels [16][16]int16
	score := e.lambda * float64(e.cost0(145)) / 256
	for b := range 16 {
		bx, by := b%4, b/4
		y, x := wsYY+4*by, wsYX+4*bx
		off := by*64 + bx*4
		var blk vp8Block
		bestScore := math.Inf(1)
		var best vp8Block
		var bestMode uint8
		ctx := int(nzTop[bx] + nzLeft[by])
		for _, mode := range e.i4Candidates(src[off:], y, x, mTop[bx], mLeft[by]) {
			predict4(&e.ws, y, x, mode, &blk.pred)
			e.codeBlock(src[off:], 16, &blk, ctx)
			s := float64(blk.sse) + e.lambda*float64(blk.rate+e.bmodeCost[mTop[bx]][mLeft[by]][mode])/256
			if s < bestScore {
				bestScore, best, bestMode = s, blk, mode
			}
		}
		score += bestScore
		if score >= limit {
			return false
		}
		for j := range 4 {
			copy(e.ws[y+j][x:x+4], best.rec[4*j:4*j+4])
		}
		modes[b], levels[b] = bestMode, best.levels
		nz := b2u8(best.last >= 0)
		nzTop[bx], nzLeft[by] = nz, nz
		mTop[bx], mLeft[by] = bestMode, bestMode
	}
	mb.i4, mb.bmodes, mb.y = true, modes, levels
	top.nzY, e.left.nzY = nzTop, nzLeft
	top.modes, e.left.modes = mTop, mLeft
	return true
}

// vp8I4Candidates is how many sub-block modes get the full
// rate-distortion trial, after a first cut on prediction error alone.
const vp8I4Candidates = 3

// i4Candidates returns the sub-block modes whose prediction error plus
// mode cost is smallest, best first.
func (e *vp8Encoder) i4Candidates(src []uint8, y, x int, above, left uint8) [vp8I4Candidates]uint8 {
	var best [vp8I4Candidates]uint8
	var scores [vp8I4Candidates]float64
	for i := range scores {
		scores[i] = math.Inf(1)
	}
	var pred [16]uint8
	costs := &e.bmodeCost[above][left]
	for m := range uint8(numBModes) {
		predict4(&e.ws, y, x, m, &pred)
		s := float64(vp8SSE4(src, 16, pred[:])) + e.lambda*float64(costs[m])/256
		for i := range best {
			if s < scores[i] {
				copy(best[i+1:], best[i:])
				copy(scores[i+1:], scores[i:])
				best[i], scores[i] = m, s
				break
			}
		}
	}
	return best
}

// vp8Block is a 4x4 luma candidate.
type vp8Block struct {
	pred   [16]uint8
	rec    [16]uint8
	levels [16]int16
	last   int
	sse    int
	rate   int32
}

// codeBlock transforms, quantises and reconstructs a 4x4 luma block
// predicted by b.pred, and rates it.
func (e *vp8Encoder) codeBlock(src []uint8, stride int, b *vp8Block, ctx int) {
	var c [16]int32
	vp8FDCT(src, stride, b.pred[:], 4, &c)
	b.levels = [16]int16{}
	b.last = e.y1.quantize(&c, &b.levels, 0)
	vp8IDCT(&c, b.pred[:], 4, b.rec[:], 4)
	b.sse = vp8SSE4(src, stride, b.rec[:])
	b.rate = e.residualCost(&b.levels, 0, b.last, planeY1, ctx)
}

// bestUV tries the four chroma modes and keeps the best in mb, the
// workspace and the edges.
func (e *vp8Encoder) bestUV(mb *vp8MB, mbx, mby int, top *vp8Edge) {
	var srcU, srcV [64]uint8
	for y := range 8 {
		copy(srcU[8*y:8*y+8], e.srcU[y*e.uvStride+8*mbx:])
		copy(srcV[8*y:8*y+8], e.srcV[y*e.uvStride+8*mbx:])
	}
	type cand struct {
		levels   [8][16]int16
		recU     [64]uint8
		recV     [64]uint8
		nzU, nzV [2][2]uint8 // [top, left][i]
	}
	var best, cur cand
	bestScore := math.Inf(1)
	bestMode := uint8(modeDC)
	for _, mode := range e.uvCandidates(&srcU, &srcV, mbx, mby) {
		rate := e.uvModeCost(mode)
		d := 0
		var r int32
		cur.nzU, r, d = e.codeChroma(&srcU, wsUY, wsUX, mode, mbx, mby, top.nzU, e.left.nzU, cur.levels[0:4], &cur.recU, d)
		rate += r
		cur.nzV, r, d = e.codeChroma(&srcV, wsVY, wsVX, mode, mbx, mby, top.nzV, e.left.nzV, cur.levels[4:8], &cur.recV, d)
		rate += r
		if s := float64(d) + e.lambdaUV*float64(rate)/256; s < bestScore {
			bestScore, best, bestMode = s, cur, mode
		}
	}
	mb.uvmode, mb.uv = bestMode, best.levels
	for y := range 8 {
		copy(e.ws[wsUY+y][wsUX:wsUX+8], best.recU[8*y:8*y+8])
		copy(e.ws[wsVY+y][wsVX:wsVX+8], best.recV[8*y:8*y+8])
	}
	top.nzU, e.left.nzU = best.nzU[0], best.nzU[1]
	top.nzV, e.left.nzV = best.nzV[0], best.nzV[1]
}

// uvCandidates returns the chroma modes of least prediction error.
func (e *vp8Encoder) uvCandidates(srcU, srcV *[64]uint8, mbx, mby int) [vp8I16Candidates]uint8 {
	var pred [64]uint8
	var errs [4]int
	for m := range uint8(4) {
		predict8(&e.ws, wsUY, wsUX, m, mbx, mby, &pred)
		errs[m] = vp8SSE(srcU[:], pred[:], 8, 8)
		predict8(&e.ws, wsVY, wsVX, m, mbx, mby, &pred)
		errs[m] += vp8SSE(srcV[:], pred[:], 8, 8)
	}
	return bestModes(errs)
}

// codeChroma codes one 8x8 chroma plane of the macroblock with mode,
// returning the edge flags ([top, left]), the rate and dist plus its
// squared error.
func (e *vp8Encoder) codeChroma(src *[64]uint8, wy, wx int, mode uint8, mbx, mby int, nzTop, nzLeft [2]uint8,
	levels [][16]int16, rec *[64]uint8, dist int) ([2][2]uint8, int32, int) {
	var pred [64]uint8
	predict8(&e.ws, wy, wx, mode, mbx, mby, &pred)
	var rate int32
	for b := range 4 {
		bx, by := b%2, b/2
		off := by*32 + bx*4
		var c [16]int32
		vp8FDCT(src[off:], 8, pred[off:], 8, &c)
		levels[b] = [16]int16{}
		last := e.uv.quantize(&c, &levels[b], 0)
		rate += e.residualCost(&levels[b], 0, last, planeUV, int(nzTop[bx]+nzLeft[by]))
		nz := b2u8(last >= 0)
		nzTop[bx], nzLeft[by] = nz, nz
		vp8IDCT(&c, pred[off:], 8, rec[off:], 8)
	}
	return [2][2]uint8{nzTop, nzLeft}, rate, dist + vp8SSE(src[:], rec[:], 8, 8)
}

// residualCost is the cost (1/256 bit) of coding levels from position
// first, last being the last non-zero one (or -1), with the default
// probabilities; it follows putResiduals.
func (e *vp8Encoder) residualCost(levels *[16]int16, first, last, plane, ctx int) int32 {
	probs := &vp8DefaultProbs[plane]
	p := &probs[vp8Bands[first]][ctx]
	if last < first {
		return e.cost0(p[0])
	}
	cost := e.cost1(p[0])
	for n := first; ; {
		v := levels[n]
		if v == 0 {
			cost += e.cost0(p[1])
			n++
			p = &probs[vp8Bands[n]][0]
			continue
		}
		if v < 0 {
			v = -v
		}
		cost += e.cost1(p[1]) + e.levelCost(p, int(v)) + 256
		n++
		if v == 1 {
			p = &probs[vp8Bands[n]][1]
		} else {
			p = &probs[vp8Bands[n]][2]
		}
		if n == 16 {
			return cost
		}
		if n > last {
			return cost + e.cost0(p[0])
		}
		cost += e.cost1(p[0])
	}
}

// levelCost is the cost of the tree part and extra bits of a non-zero
// level v, sign excluded; it follows putLevel.
func (e *vp8Encoder) levelCost(p *[11]uint8, v int) int32 {
	if v == 1 {
		return e.cost0(p[2])
	}
	c := e.cost1(p[2])
	switch {
	case v <= 4:
		c += e.cost0(p[3])
		if v == 2 {
			return c + e.cost0(p[4])
		}
		return c + e.cost1(p[4]) + e.bitCost(v == 4, p[5])
	case v <= 10:
		c += e.cost1(p[3]) + e.cost0(p[6])
		if v <= 6 {
			return c + e.cost0(p[7]) + e.bitCost(v == 6, 159)
		}
		return c + e.cost1(p[7]) + e.bitCost((v-7)&2 != 0, 165) + e.bitCost((v-7)&1 != 0, 145)
	}
	c += e.cost1(p[3]) + e.cost1(p[6])
	cat, base := levelCategory(v)
	c += e.bitCost(cat >= 2, p[8]) + e.bitCost(cat&1 != 0, p[9+cat>>1])
	tab := &vp8CatProbs[cat]
	nb := catBits(cat)
	for i := range nb {
		c += e.bitCost((v-base)>>(nb-1-i)&1 != 0, tab[i])
	}
	return c
}

// levelCategory returns the category (0..3 for the bitstream's 3..6) of
// a level over 10 and its smallest level.
func levelCategory(v int) (cat, base int) {
	switch {
	case v < 19:
		return 0, 11
	case v < 35:
		return 1, 19
	case v < 67:
		return 2, 35
	}
	return 3, 67
}

func catBits(cat int) int { return [4]int{3, 4, 5, 11}[cat] }

// sse is the summed squared difference of two w×w blocks of stride w.
func vp8SSE(a, b []uint8, stride, w int) int {
	s := 0
	for y := range w {
		ra, rb := a[y*stride:y*stride+w], b[y*stride:y*stride+w]
		for x := range ra {
			d := int(ra[x]) - int(rb[x])
			s += d * d
		}
	}
	return s
}

// vp8SSE4 compares a 4x4 block of stride stride with a packed one.
func vp8SSE4(a []uint8, stride int, b []uint8) int {
	s := 0
	for y := range 4 {
		ra, rb := a[y*stride:y*stride+4:y*stride+4], b[4*y:4*y+4:4*y+4]
		d0, d1 := int(ra[0])-int(rb[0]), int(ra[1])-int(rb[1])
		d2, d3 := int(ra[2])-int(rb[2]), int(ra[3])-int(rb[3])
		s += d0*d0 + d1*d1 + d2*d2 + d3*d3
	}
	return s
}

// vp8FDCT is VP8's forward transform of src-pred (4x4 blocks of strides ss
// and ps), libwebp's integer version.
func vp8FDCT(src []uint8, ss int, pred []uint8, ps int, out *[16]int32) {
	var tmp [16]int32
	for i := range 4 {
		s, p := src[i*ss:i*ss+4], pred[i*ps:i*ps+4]
		d0 := int32(s[0]) - int32(p[0])
		d1 := int32(s[1]) - int32(p[1])
		d2 := int32(s[2]) - int32(p[2])
		d3 := int32(s[3]) - int32(p[3])
		a0, a1, a2, a3 := d0+d3, d1+d2, d1-d2, d0-d3
		tmp[0+i*4] = (a0 + a1) * 8
		tmp[1+i*4] = (a2*2217 + a3*5352 + 1812) >> 9
		tmp[2+i*4] = (a0 - a1) * 8
		tmp[3+i*4] = (a3*2217 - a2*5352 + 937) >> 9
	}
	for i := range 4 {
		a0, a1 := tmp[0+i]+tmp[12+i], tmp[4+i]+tmp[8+i]
		a2, a3 := tmp[4+i]-tmp[8+i], tmp[0+i]-tmp[12+i]
		out[0+i] = (a0 + a1 + 7) >> 4
		out[4+i] = (a2*2217+a3*5352+12000)>>16 + int32(b2u8(a3 != 0))
		out[8+i] = (a0 - a1 + 7) >> 4
		out[12+i] = (a3*2217 - a2*5352 + 51000) >> 16
	}
}

// vp8IDCT writes pred plus the inverse transform of c, exactly as decoders
// compute it.
func vp8IDCT(c *[16]int32, pred []uint8, ps int, dst []uint8, ds int) {
	const (
		c1 = 85627 // 65536 * cos(pi/8) * sqrt(2)
		c2 = 35468 // 65536 * sin(pi/8) * sqrt(2)
	)
	var m [4][4]int32
	for i := range 4 {
		a := c[i] + c[8+i]
		b := c[i] - c[8+i]
		cc := (c[4+i]*c2)>>16 - (c[12+i]*c1)>>16
		d := (c[4+i]*c1)>>16 + (c[12+i]*c2)>>16
		m[i] = [4]int32{a + d, b + cc, b - cc, a - d}
	}
	for j := range 4 {
		dc := m[0][j] + 4
		a := dc + m[2][j]
		b := dc - m[2][j]
		cc := (m[1][j]*c2)>>16 - (m[3][j]*c1)>>16
		d := (m[1][j]*c1)>>16 + (m[3][j]*c2)>>16
		p, o := pred[j*ps:j*ps+4], dst[j*ds:j*ds+4]
		o[0] = vp8Clip(int32(p[0]) + (a+d)>>3)
		o[1] = vp8Clip(int32(p[1]) + (b+cc)>>3)
		o[2] = vp8Clip(int32(p[2]) + (b-cc)>>3)
		o[3] = vp8Clip(int32(p[3]) + (a-d)>>3)
	}
}

func vp8Clip(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}

// vp8FWHT is the forward Walsh-Hadamard transform of the 16 luma DCs
// (raster order of the blocks), libwebp's version.
func vp8FWHT(in, out *[16]int32) {
	var tmp [16]int32
	for i := range 4 {
		r := in[4*i : 4*i+4]
		a0, a1 := r[0]+r[2], r[1]+r[3]
		a2, a3 := r[1]-r[3], r[0]-r[2]
		tmp[0+i*4] = a0 + a1
		tmp[1+i*4] = a3 + a2
		tmp[2+i*4] = a3 - a2
		tmp[3+i*4] = a0 - a1
	}
	for i := range 4 {
		a0, a1 := tmp[0+i]+tmp[8+i], tmp[4+i]+tmp[12+i]
		a2, a3 := tmp[4+i]-tmp[12+i], tmp[0+i]-tmp[8+i]
		out[0+i] = (a0 + a1) >> 1
		out[4+i] = (a3 + a2) >> 1
		out[8+i] = (a3 - a2) >> 1
		out[12+i] = (a0 - a1) >> 1
	}
}

// vp8IWHT is the decoders' inverse Walsh-Hadamard transform.
func vp8IWHT(in, out *[16]int32) {
	var m [16]int32
	for i := range 4 {
		a0 := in[0+i] + in[12+i]
		a1 := in[4+i] + in[8+i]
		a2 := in[4+i] - in[8+i]
		a3 := in[0+i] - in[12+i]
		m[0+i] = a0 + a1
		m[8+i] = a0 - a1
		m[4+i] = a3 + a2
		m[12+i] = a3 - a2
	}
	for i := range 4 {
		dc := m[0+i*4] + 3
		a0 := dc + m[3+i*4]
		a1 := m[1+i*4] + m[2+i*4]
		a2 := m[1+i*4] - m[2+i*4]
		a3 := dc - m[3+i*4]
		out[4*i+0] = (a0 + a1) >> 3
		out[4*i+1] = (a3 + a2) >> 3
		out[4*i+2] = (a0 - a1) >> 3
		out[4*i+3] = (a3 - a2) >> 3
	}
}

// predict16 fills out with the 16x16 luma prediction of mode from the
// workspace borders. DC uses the borders that exist.
func predict16(ws *[26][32]uint8, mode uint8, mbx, mby int, out *[256]uint8) {
	predictBlock(ws, wsYY, wsYX, 16, mode, mbx, mby, out[:])
}

// predict8 fills out with the 8x8 chroma prediction at (y, x).
func predict8(ws *[26][32]uint8, y, x int, mode uint8, mbx, mby int, out *[64]uint8) {
	predictBlock(ws, y, x, 8, mode, mbx, mby, out[:])
}

func predictBlock(ws *[26][32]uint8, y, x, n int, mode uint8, mbx, mby int, out []uint8) {
	switch mode {
	case modeDC:
		sum, count := 0, 0
		if mby > 0 {
			for i := range n {
				sum += int(ws[y-1][x+i])
			}
			count += n
		}
		if mbx > 0 {
			for j := range n {
				sum += int(ws[y+j][x-1])
			}
			count += n
		}
		v := uint8(128)
		if count > 0 {
			v = uint8((sum + count/2) / count)
		}
		for i := range out[:n*n] {
			out[i] = v
		}
	case modeTM:
		corner := int32(ws[y-1][x-1])
		for j := range n {
			l := int32(ws[y+j][x-1]) - corner
			for i := range n {
				out[j*n+i] = vp8Clip(l + int32(ws[y-1][x+i]))
			}
		}
	case modeVE:
		for j := range n {
			copy(out[j*n:j*n+n], ws[y-1][x:x+n])
		}
	default: // modeHE
		for j := range n {
			l := ws[y+j][x-1]
			for i := range n {
				out[j*n+i] = l
			}
		}
	}
}

// predict4 fills out with the 4x4 prediction of mode for the sub-block
// at (y, x) in the workspace; a port of the decoders' predictors.
func predict4(ws *[26][32]uint8, y, x int, mode uint8, out *[16]uint8) {
	top := ws[y-1][x-1 : x+8] // top[0] is the corner, top[1..4] above, top[5..8] above-right
	A, B, C, D := int32(top[1]), int32(top[2]), int32(top[3]), int32(top[4])
	E, F, G, H := int32(top[5]), int32(top[6]), int32(top[7]), int32(top[8])
	X := int32(top[0])
	I, J, K, L := int32(ws[y][x-1]), int32(ws[y+1][x-1]), int32(ws[y+2][x-1]), int32(ws[y+3][x-1])
	avg3 := func(a, b, c int32) uint8 { return uint8((a + 2*b + c + 2) >> 2) }
	avg2 := func(a, b int32) uint8 { return uint8((a + b + 1) >> 1) }
	set := func(vals ...uint8) { copy(out[:], vals) }
	switch mode {
	case modeDC:
		v := uint8((A + B + C + D + I + J + K + L + 4) >> 3)
		for i := range out {
			out[i] = v
		}
	case modeTM:
		for j, l := range [4]int32{I, J, K, L} {
			for i, t := range [4]int32{A, B, C, D} {
				out[4*j+i] = vp8Clip(l + t - X)
			}
		}
	case modeVE:
		r := [4]uint8{avg3(X, A, B), avg3(A, B, C), avg3(B, C, D), avg3(C, D, E)}
		for j := range 4 {
			copy(out[4*j:4*j+4], r[:])
		}
	case modeHE:
		c := [4]uint8{avg3(X, I, J), avg3(I, J, K), avg3(J, K, L), avg3(K, L, L)}
		for j := range 4 {
			for i := range 4 {
				out[4*j+i] = c[j]
			}
		}
	case modeRD:
		set(avg3(I, X, A), avg3(X, A, B), avg3(A, B, C), avg3(B, C, D),
			avg3(J, I, X), avg3(I, X, A), avg3(X, A, B), avg3(A, B, C),
			avg3(K, J, I), avg3(J, I, X), avg3(I, X, A), avg3(X, A, B),
			avg3(L, K, J), avg3(K, J, I), avg3(J, I, X), avg3(I, X, A))
	case modeVR:
		set(avg2(X, A), avg2(A, B), avg2(B, C), avg2(C, D),
			avg3(I, X, A), avg3(X, A, B), avg3(A, B, C), avg3(B, C, D),
			avg3(J, I, X), avg2(X, A), avg2(A, B), avg2(B, C),
			avg3(K, J, I), avg3(I, X, A), avg3(X, A, B), avg3(A, B, C))
	case modeLD:
		set(avg3(A, B, C), avg3(B, C, D), avg3(C, D, E), avg3(D, E, F),
			avg3(B, C, D), avg3(C, D, E), avg3(D, E, F), avg3(E, F, G),
			avg3(C, D, E), avg3(D, E, F), avg3(E, F, G), avg3(F, G, H),
			avg3(D, E, F), avg3(E, F, G), avg3(F, G, H), avg3(G, H, H))
	case modeVL:
		set(avg2(A, B), avg2(B, C), avg2(C, D), avg2(D, E),
			avg3(A, B, C), avg3(B, C, D), avg3(C, D, E), avg3(D, E, F),
			avg2(B, C), avg2(C, D), avg2(D, E), avg3(E, F, G),
			avg3(B, C, D), avg3(C, D, E), avg3(D, E, F), avg3(F, G, H))
	case modeHD:
		set(avg2(I, X), avg3(I, X, A), avg3(X, A, B), avg3(A, B, C),
			avg2(J, I), avg3(J, I, X), avg2(I, X), avg3(I, X, A),
			avg2(K, J), avg3(K, J, I), avg2(J, I), avg3(J, I, X),
			avg2(L, K), avg3(L, K, J), avg2(K, J), avg3(K, J, I))
	default: // modeHU
		set(avg2(I, J), avg3(I, J, K), avg2(J, K), avg3(J, K, L),
			avg2(J, K), avg3(J, K, L), avg2(K, L), avg3(K, L, L),
			avg2(K, L), avg3(K, L, L), uint8(L), uint8(L),
			uint8(L), uint8(L), uint8(L), uint8(L))
	}
}

// boolWriter is VP8's boolean entropy coder (libwebp's formulation).
type boolWriter struct {
	buf    []byte
	rng    int32 // range - 1
	value  int32
	run    int // pending 0xff bytes, which a carry may turn into 0x00
	nbBits int
}

func newBoolWriter(size int) *boolWriter {
	return &boolWriter{buf: make([]byte, 0, size), rng: 254, nbBits: -8}
}

// put codes bit, whose probability of being 0 is prob/256.
func (b *boolWriter) put(bit bool, prob uint8) {
	split := (b.rng * int32(prob)) >> 8
	if bit {
		b.value += split + 1
		b.rng -= split + 1
	} else {
		b.rng = split
	}
	if b.rng < 127 {
		shift := bits.LeadingZeros8(uint8(b.rng + 1))
		b.rng = (b.rng+1)<<shift - 1
		b.value <<= shift
		b.nbBits += shift
		if b.nbBits > 0 {
			b.flush()
		}
	}
}

// putBits codes the n low bits of v, most significant first, at even odds.
func (b *boolWriter) putBits(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		b.put(v>>i&1 == 1, 128)
	}
}

// putSigned codes an optional signed value of n bits of magnitude.
func (b *boolWriter) putSigned(v, n int) {
	b.put(v != 0, 128)
	if v == 0 {
		return
	}
	if v < 0 {
		b.putBits(uint32(-v)<<1|1, n+1)
	} else {
		b.putBits(uint32(v)<<1, n+1)
	}
}

func (b *boolWriter) flush() {
	s := 8 + b.nbBits
	v := b.value >> s
	b.value -= v << s
	b.nbBits -= 8
	if v&0xff == 0xff {
		b.run++
		return
	}
	if v&0x100 != 0 && len(b.buf) > 0 {
		b.buf[len(b.buf)-1]++
	}
	pad := byte(0xff)
	if v&0x100 != 0 {
		pad = 0
	}
	for ; b.run > 0; b.run-- {
		b.buf = append(b.buf, pad)
	}
	b.buf = append(b.buf, byte(v))
}

// finish flushes the coder and returns the bytes.
func (b *boolWriter) finish() []byte {
	b.putBits(0, 9-b.nbBits)
	b.nbBits = 0
	b.flush()
	return b.buf
}

// tokenSink receives the decisions of coefficient coding: tree decisions
// with their probability's coordinates, and bits of fixed probability.
type tokenSink interface {
	tree(bit bool, plane, band, ctx, i int)
	fixed(bit bool, prob uint8)
}

// putResiduals codes levels from position first in context ctx and
// returns 1 when any level is non-zero.
func putResiduals(s tokenSink, levels *[16]int16, first, plane, ctx int) uint8 {
	last := -1
	for n := 15; n >= first; n-- {
		if levels[n] != 0 {
			last = n
			break
		}
	}
	n := first
	s.tree(last >= 0, plane, int(vp8Bands[n]), ctx, 0)
	if last < 0 {
		return 0
	}
	for {
		band := int(vp8Bands[n])
		v := levels[n]
		if v == 0 {
			s.tree(false, plane, band, ctx, 1)
			n++
			ctx = 0
			continue
		}
		s.tree(true, plane, band, ctx, 1)
		a := int(v)
		if a < 0 {
			a = -a
		}
		putLevel(s, a, plane, band, ctx)
		s.fixed(v < 0, 128)
		n++
		ctx = 2
		if a == 1 {
			ctx = 1
		}
		if n == 16 {
			return 1
		}
		s.tree(n <= last, plane, int(vp8Bands[n]), ctx, 0)
		if n > last {
			return 1
		}
	}
}

// putLevel codes the tree part and extra bits of a non-zero level a.
func putLevel(s tokenSink, a, plane, band, ctx int) {
	t := func(bit bool, i int) { s.tree(bit, plane, band, ctx, i) }
	t(a > 1, 2)
	if a == 1 {
		return
	}
	t(a > 4, 3)
	if a <= 4 {
		t(a > 2, 4)
		if a > 2 {
			t(a == 4, 5)
		}
		return
	}
	t(a > 10, 6)
	if a <= 10 {
		t(a > 6, 7)
		if a <= 6 {
			s.fixed(a == 6, 159)
		} else {
			s.fixed((a-7)&2 != 0, 165)
			s.fixed((a-7)&1 != 0, 145)
		}
		return
	}
	cat, base := levelCategory(a)
	t(cat >= 2, 8)
	t(cat&1 != 0, 9+cat>>1)
	nb := catBits(cat)
	for i := range nb {
		s.fixed((a-base)>>(nb-1-i)&1 != 0, vp8CatProbs[cat][i])
	}
}

// tokenStats counts the tree decisions by probability.
type tokenStats [4][8][3][11][2]uint32

func (st *tokenStats) tree(bit bool, plane, band, ctx, i int) {
	st[plane][band][ctx][i][b2u8(bit)]++
}

func (st *tokenStats) fixed(bool, uint8) {}

// tokenWriter codes the decisions with probabilities.
type tokenWriter struct {
	bw    *boolWriter
	probs *vp8Probs
}

func (tw tokenWriter) tree(bit bool, plane, band, ctx, i int) {
	tw.bw.put(bit, tw.probs[plane][band][ctx][i])
}

func (tw tokenWriter) fixed(bit bool, prob uint8) { tw.bw.put(bit, prob) }

// putMBTokens codes a macroblock's levels, keeping the edge flags in top
// and left.
func (e *vp8Encoder) putMBTokens(s tokenSink, mb *vp8MBCoded, top, left *vp8Edge) {
	var levels [16]int16
	off := mb.off
	plane := planeY1
	first := 0
	if !mb.i4 {
		e.unpack(&off, &levels)
		nz := putResiduals(s, &levels, 0, planeY2, int(top.nzY2+left.nzY2))
		top.nzY2, left.nzY2 = nz, nz
		plane, first = planeY1AfterY2, 1
	}
	for b := range 16 {
		bx, by := b%4, b/4
		e.unpack(&off, &levels)
		nz := putResiduals(s, &levels, first, plane, int(top.nzY[bx]+left.nzY[by]))
		top.nzY[bx], left.nzY[by] = nz, nz
	}
	for b := range 8 {
		bx, by := b%2, (b/2)%2
		t, l := &top.nzU, &left.nzU
		if b >= 4 {
			t, l = &top.nzV, &left.nzV
		}
		e.unpack(&off, &levels)
		nz := putResiduals(s, &levels, 0, planeUV, int(t[bx]+l[by]))
		t[bx], l[by] = nz, nz
	}
}

// skipMB clears the edge flags of a skipped macroblock, as decoders do.
func skipMB(mb *vp8MBCoded, top, left *vp8Edge) {
	top.nzY, left.nzY = [4]uint8{}, [4]uint8{}
	top.nzU, left.nzU = [2]uint8{}, [2]uint8{}
	top.nzV, left.nzV = [2]uint8{}, [2]uint8{}
	if !mb.i4 {
		top.nzY2, left.nzY2 = 0, 0
	}
}

// eachMBTokens walks the macroblocks' tokens into s; skipped macroblocks
// (when skip is on) have none.
func (e *vp8Encoder) eachMBTokens(sink func(mby int) tokenSink, skip bool) {
	top := make([]vp8Edge, e.mbw)
	for mby := range e.mbh {
		var left vp8Edge
		s := sink(mby)
		for mbx := range e.mbw {
			mb := &e.mbs[mby*e.mbw+mbx]
			if skip && mb.empty {
				skipMB(mb, &top[mbx], &left)
				continue
			}
			e.putMBTokens(s, mb, &top[mbx], &left)
		}
	}
}

// write assembles the frame: the frame tag and key frame header, the
// first partition (frame header and modes), the token partitions.
func (e *vp8Encoder) write() ([]byte, error) {
	empty := 0
	for i := range e.mbs {
		if e.mbs[i].empty {
			empty++
		}
	}
	skip := empty > 0
	skipProb := uint8(min(max(255*(len(e.mbs)-empty)/len(e.mbs), 1), 254))

	var stats tokenStats
	e.eachMBTokens(func(int) tokenSink { return &stats }, skip)
	probs, updates := chooseProbs(&stats, e)

	parts := e.tokenPartitions(&probs, skip, 1)
	if len(parts[0]) > e.tokenLimit {
		parts = e.tokenPartitions(&probs, skip, 8)
	}
	size := 0
	for _, p := range parts {
		if len(p) > vp8MaxTokenPartition {
			return nil, fmt.Errorf("%w: a token partition of %d bytes", errTooLarge, len(p))
		}
		size += 3 + len(p)
	}

	hdr := newBoolWriter(len(e.mbs) * 4)
	e.writeHeader(hdr, &probs, updates, skip, skipProb, len(parts))
	e.writeModes(hdr, skip, skipProb)
	part0 := hdr.finish()
	if len(part0) > e.part0Limit {
		return nil, errPartition0
	}

	out := make([]byte, 10, 10+len(part0)+size)
	tag := uint32(0) | 1<<4 | uint32(len(part0))<<5 // key frame, version 0, shown
	out[0], out[1], out[2] = byte(tag), byte(tag>>8), byte(tag>>16)
	out[3], out[4], out[5] = 0x9d, 0x01, 0x2a
	out[6], out[7] = byte(e.width), byte(e.width>>8)
	out[8], out[9] = byte(e.height), byte(e.height>>8)
	out = append(out, part0...)
	for _, p := range parts[:len(parts)-1] {
		out = append(out, byte(len(p)), byte(len(p)>>8), byte(len(p)>>16))
	}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// tokenPartitions codes the tokens into n (1, 2, 4 or 8) partitions,
// macroblock row r going to partition r mod n.
func (e *vp8Encoder) tokenPartitions(probs *vp8Probs, skip bool, n int) [][]byte {
	writers := make([]tokenWriter, n)
	for i := range writers {
		writers[i] = tokenWriter{newBoolWriter(len(e.mbs) * 32 / n), probs}
	}
	e.eachMBTokens(func(mby int) tokenSink { return writers[mby%n] }, skip)
	parts := make([][]byte, n)
	for i, w := range writers {
		parts[i] = w.bw.finish()
	}
	return parts
}

// chooseProbs returns the coefficient probabilities to code with: each
// default one is replaced by the one the statistics call for when that
// saves more than its update costs.
func chooseProbs(st *tokenStats, e *vp8Encoder) (probs vp8Probs, updates [4][8][3][11]bool) {
	probs = vp8DefaultProbs
	for i := range probs {
		for j := range probs[i] {
			for k := range probs[i][j] {
				for l := range probs[i][j][k] {
					n0, n1 := int64(st[i][j][k][l][0]), int64(st[i][j][k][l][1])
					if n0+n1 == 0 {
						continue
					}
					old := probs[i][j][k][l]
					p := uint8(min(max(255*n0/(n0+n1), 1), 255))
					upd := vp8UpdateProbs[i][j][k][l]
					saved := n0*int64(e.cost0(old)-e.cost0(p)) + n1*int64(e.cost1(old)-e.cost1(p))
					saved -= int64(e.cost1(upd)-e.cost0(upd)) + 8*256
					if saved > 0 {
						probs[i][j][k][l] = p
						updates[i][j][k][l] = true
					}
				}
			}
		}
	}
	return probs, updates
}

// writeHeader writes the key frame header of the first partition.
func (e *vp8Encoder) writeHeader(b *boolWriter, probs *vp8Probs, updates [4][8][3][11]bool, skip bool, skipProb uint8, partitions int) {
	b.put(false, 128) // colour space
	b.put(false, 128) // clamping required
	e.writeSegments(b)
	b.put(false, 128) // normal loop filter
	level := 0        // the frame's: no filtering at all when 0
	for _, s := range e.segs {
		level = max(level, s.filterLevel)
	}
	b.putBits(uint32(level), 6)
	b.putBits(0, 3)   // sharpness
	b.put(false, 128) // no filter deltas
	b.putBits(uint32(bits.TrailingZeros(uint(partitions))), 2)
	b.putBits(uint32(e.segs[0].qIndex), 7)
	b.putSigned(0, 4) // y1 dc
	b.putSigned(0, 4) // y2 dc
	b.putSigned(0, 4) // y2 ac
	b.putSigned(e.dqUVDC, 4)
	b.putSigned(0, 4) // uv ac
	b.put(false, 128) // refresh entropy probabilities
	for i := range probs {
		for j := range probs[i] {
			for k := range probs[i][j] {
				for l := range probs[i][j][k] {
					u := updates[i][j][k][l]
					b.put(u, vp8UpdateProbs[i][j][k][l])
					if u {
						b.putBits(uint32(probs[i][j][k][l]), 8)
					}
				}
			}
		}
	}
	b.put(skip, 128)
	if skip {
		b.putBits(uint32(skipProb), 8)
	}
}

// writeSegments writes the segment header: none, or four with absolute
// quantiser indexes and filter levels, and the probabilities of the
// segment map.
func (e *vp8Encoder) writeSegments(b *boolWriter) {
	b.put(len(e.segs) > 1, 128)
	if len(e.segs) == 1 {
		return
	}
	b.put(true, 128) // update the map
	b.put(true, 128) // update the data
	b.put(true, 128) // absolute values
	for _, s := range e.segs {
		b.putSigned(s.qIndex, 7)
	}
	for _, s := range e.segs {
		b.putSigned(s.filterLevel, 6)
	}
	for _, p := range e.segmentProbs() {
		b.put(p != 255, 128)
		if p != 255 {
			b.putBits(uint32(p), 8)
		}
	}
}

// segmentProbs are the probabilities of the segment tree's three
// decisions: segment 0 or 1 rather than 2 or 3, 0 rather than 1, 2
// rather than 3.
func (e *vp8Encoder) segmentProbs() [3]uint8 {
	var n [4]int
	for _, s := range e.segOf {
		n[s]++
	}
	prob := func(a, b int) uint8 {
		if a+b == 0 {
			return 255
		}
		return uint8(min(max(255*a/(a+b), 1), 255))
	}
	return [3]uint8{prob(n[0]+n[1], n[2]+n[3]), prob(n[0], n[1]), prob(n[2], n[3])}
}

// writeModes writes each macroblock's segment, skip flag and prediction
// modes.
func (e *vp8Encoder) writeModes(b *boolWriter, skip bool, skipProb uint8) {
	top := make([][4]uint8, e.mbw)
	segProbs := e.segmentProbs()
	for mby := range e.mbh {
		var left [4]uint8
		for mbx := range e.mbw {
			mb := &e.mbs[mby*e.mbw+mbx]
			if len(e.segs) > 1 {
				b.put(mb.seg >= 2, segProbs[0])
				b.put(mb.seg&1 == 1, segProbs[1+mb.seg>>1])
			}
			if skip {
				b.put(mb.empty, skipProb)
			}
			b.put(!mb.i4, 145)
			if mb.i4 {
				for i, m := range mb.bmodes {
					bx, by := i%4, i/4
					putBMode(b, top[mbx][bx], left[by], m)
					top[mbx][bx], left[by] = m, m
				}
			} else {
				putI16Mode(b, mb.ymode)
				top[mbx] = [4]uint8{mb.ymode, mb.ymode, mb.ymode, mb.ymode}
				left = top[mbx]
			}
			putUVMode(b, mb.uvmode)
		}
	}
}

func putBMode(b *boolWriter, above, left, mode uint8) {
	probs := &vp8BModeProbs[above][left]
	path := &vp8BModePaths[mode]
	for i := range path.n {
		b.put(path.bit[i] == 1, probs[path.prob[i]])
	}
}

func putI16Mode(b *boolWriter, mode uint8) {
	switch mode {
	case modeDC, modeVE:
		b.put(false, 156)
		b.put(mode == modeVE, 163)
	default:
		b.put(true, 156)
		b.put(mode == modeTM, 128)
	}
}

func putUVMode(b *boolWriter, mode uint8) {
	b.put(mode != modeDC, 142)
	if mode == modeDC {
		return
	}
	b.put(mode != modeVE, 114)
	if mode == modeVE {
		return
	}
	b.put(mode == modeTM, 183)
}
