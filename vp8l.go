package main

import (
	"context"
	"math"
	"math/bits"
	"slices"
)

// WebP lossless (VP8L) encoding, as RFC 9649 describes the bitstream.
//
// The pixels (ARGB, not premultiplied) go through either the colour
// indexing transform (at most 256 colours: indexes into a palette, packed
// 2, 4 or 8 to a pixel when the palette is small) or the predictor
// transform (one of the 14 predictors per 16x16 tile, the one whose
// residuals look cheapest), after subtract-green when that helps; with
// 17 to 256 colours both are tried and the smaller kept. The result is
// coded with LZ77 backward references (matches found through hash
// chains, plus the runs from the pixel left and above; the cheapest parse
// chosen by dynamic programming over Huffman-length costs), an optional
// colour cache (the size that minimises the estimated output), and one
// group of five canonical Huffman codes of at most 15 bits.

// vp8lTileBits is the log2 of the predictor tile side.
const vp8lTileBits = 4

// Backward reference limits of the format (the longest copy, the
// farthest distance a distance code can express) and of the search.
const (
	vp8lMaxLength   = 4096
	vp8lMaxDistance = 1<<20 - 120
	vp8lHashBits    = 18
	vp8lChainDepth  = 24 // hash chain candidates looked at per pixel
)

// Alphabet sizes of the five codes of a group; green grows with the cache.
const (
	vp8lLiterals      = 256
	vp8lLengthCodes   = 24
	vp8lDistanceCodes = 40
)

// vp8lCodeLengthOrder is the order in which the code length code lengths
// are written.
var vp8lCodeLengthOrder = [19]uint8{17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// vp8lDistanceMap lists, for the distance codes 1..120, the (dy, 8-dx)
// offsets they stand for, packed as dy<<4 | (8-dx).
var vp8lDistanceMap = [120]uint8{
	0x18, 0x07, 0x17, 0x19, 0x28, 0x06, 0x27, 0x29, 0x16, 0x1a,
	0x26, 0x2a, 0x38, 0x05, 0x37, 0x39, 0x15, 0x1b, 0x36, 0x3a,
	0x25, 0x2b, 0x48, 0x04, 0x47, 0x49, 0x14, 0x1c, 0x35, 0x3b,
	0x46, 0x4a, 0x24, 0x2c, 0x58, 0x45, 0x4b, 0x34, 0x3c, 0x03,
	0x57, 0x59, 0x13, 0x1d, 0x56, 0x5a, 0x23, 0x2d, 0x44, 0x4c,
	0x55, 0x5b, 0x33, 0x3d, 0x68, 0x02, 0x67, 0x69, 0x12, 0x1e,
	0x66, 0x6a, 0x22, 0x2e, 0x54, 0x5c, 0x43, 0x4d, 0x65, 0x6b,
	0x32, 0x3e, 0x78, 0x01, 0x77, 0x79, 0x53, 0x5d, 0x11, 0x1f,
	0x64, 0x6c, 0x42, 0x4e, 0x76, 0x7a, 0x21, 0x2f, 0x75, 0x7b,
	0x31, 0x3f, 0x63, 0x6d, 0x52, 0x5e, 0x00, 0x74, 0x7c, 0x41,
	0x4f, 0x10, 0x20, 0x62, 0x6e, 0x30, 0x73, 0x7d, 0x51, 0x5f,
	0x40, 0x72, 0x7e, 0x61, 0x6f, 0x50, 0x71, 0x7f, 0x60, 0x70,
}

// lsbWriter writes bits least significant first, as VP8L wants.
type lsbWriter struct {
	buf []byte
	acc uint64
	n   uint
}

// put writes the low n bits of v (n <= 32).
func (b *lsbWriter) put(v uint32, n uint) {
	b.acc |= uint64(v&(1<<n-1)) << b.n
	b.n += n
	for b.n >= 8 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc >>= 8
		b.n -= 8
	}
}

// bytes flushes the last partial byte and returns the stream.
func (b *lsbWriter) bytes() []byte {
	if b.n > 0 {
		b.buf = append(b.buf, byte(b.acc))
		b.acc, b.n = 0, 0
	}
	return b.buf
}

// encodeVP8L returns the VP8L bitstream of argb (w×h pixels), with the
// 5-byte image header when header is true (an ALPH chunk's stream has
// none). alpha sets the header's alpha-is-used hint. Its long passes
// poll ctx (per row of tiles, every vp8lPoll pixels) and stop with its
// error.
func encodeVP8L(ctx context.Context, argb []uint32, w, h int, alpha, header bool) ([]byte, error) {
	var best []byte
	pal, ok := vp8lPalette(argb)
	if ok {
		var err error
		if best, err = vp8lIndexed(ctx, argb, w, h, pal, alpha, header); err != nil {
			return nil, err
		}
		if len(pal) <= 16 {
			return best, nil // packed indexes: the predictors do not compete
		}
	}
	other, err := vp8lPredicted(ctx, argb, w, h, alpha, header)
	if err != nil {
		return nil, err
	}
	if best == nil || len(other) < len(best) {
		best = other
	}
	return best, nil
}

// vp8lPoll is how many pixels the per-pixel passes go between two polls
// of the context: a power of two less one, a mask.
const vp8lPoll = 1<<16 - 1

func vp8lHeader(b *lsbWriter, w, h int, alpha bool) {
	b.put(0x2f, 8)
	b.put(uint32(w-1), 14)
	b.put(uint32(h-1), 14)
	b.put(b2u(alpha), 1)
	b.put(0, 3)
}

func b2u(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}

// vp8lPalette returns the distinct colours of argb, sorted, or false when
// there are more than 256.
func vp8lPalette(argb []uint32) ([]uint32, bool) {
	const slots = 1024 // a quarter full at most; key+1 so that 0 is empty
	var keys [slots]uint64
	pal := make([]uint32, 0, 256)
	last := uint64(0)
	for _, c := range argb {
		k := uint64(c) + 1
		if k == last {
			continue
		}
		last = k
		s := (c * 0x9e3779b1) >> 22
		for keys[s] != k && keys[s] != 0 {
			s = (s + 1) & (slots - 1)
		}
		if keys[s] == 0 {
			if len(pal) == 256 {
				return nil, false
			}
			keys[s] = k
			pal = append(pal, c)
		}
	}
	slices.Sort(pal)
	return pal, true
}

// vp8lIndexed codes argb through the colour indexing transform.
func vp8lIndexed(ctx context.Context, argb []uint32, w, h int, pal []uint32, alpha, header bool) ([]byte, error) {
	var b lsbWriter
	if header {
		vp8lHeader(&b, w, h, alpha)
	}
	b.put(1, 1) // a transform:
	b.put(3, 2) // colour indexing
	b.put(uint32(len(pal)-1), 8)
	delta := make([]uint32, len(pal))
	prev := uint32(0)
	for i, c := range pal {
		delta[i] = subPixels(c, prev)
		prev = c
	}
	if err := vp8lImage(ctx, &b, delta, len(pal), 1, false); err != nil {
		return nil, err
	}

	xbits := 0 // log2 of the indexes per packed pixel
	switch {
	case len(pal) <= 2:
		xbits = 3
	case len(pal) <= 4:
		xbits = 2
	case len(pal) <= 16:
		xbits = 1
	}
	index := make(map[uint32]uint32, len(pal))
	for i, c := range pal {
		index[c] = uint32(i)
	}
	pw := (w + 1<<xbits - 1) >> xbits
	packed := make([]uint32, pw*h)
	per, width := 1<<xbits, uint(8>>xbits)
	lastC, lastI := pal[0], index[pal[0]]
	for y := range h {
		row := argb[y*w : y*w+w]
		out := packed[y*pw : y*pw+pw]
		for x, c := range row {
			if c != lastC {
				lastC, lastI = c, index[c]
			}
			out[x>>xbits] |= lastI << (8 + width*uint(x&(per-1)))
		}
	}
	b.put(0, 1) // no more transforms
	if err := vp8lImage(ctx, &b, packed, pw, h, true); err != nil {
		return nil, err
	}
	return b.bytes(), nil
}

// subPixels returns a-b per ARGB channel, modulo 256.
func subPixels(a, b uint32) uint32 {
	ag := (a | 0x00ff00ff) - (b & 0xff00ff00)
	rb := (a | 0xff00ff00) - (b & 0x00ff00ff)
	return ag&0xff00ff00 | rb&0x00ff00ff
}

// vp8lPredicted codes argb through the subtract-green and predictor
// transforms.
func vp8lPredicted(ctx context.Context, argb []uint32, w, h int, alpha, header bool) ([]byte, error) {
	var b lsbWriter
	if header {
		vp8lHeader(&b, w, h, alpha)
	}
	pix := argb
	if subtractGreenHelps(argb) {
		pix = make([]uint32, len(argb))
		for i, c := range argb {
			g := (c >> 8) & 0xff
			pix[i] = subPixels(c, g<<16|g)
		}
		b.put(1, 1) // a transform:
		b.put(2, 2) // subtract green
	}
	b.put(1, 1) // a transform:
	b.put(0, 2) // predictor
	b.put(vp8lTileBits-2, 3)
	modes, residuals, err := vp8lPredict(ctx, pix, w, h)
	if err != nil {
		return nil, err
	}
	if err := vp8lImage(ctx, &b, modes, (w+1<<vp8lTileBits-1)>>vp8lTileBits, (h+1<<vp8lTileBits-1)>>vp8lTileBits, false); err != nil {
		return nil, err
	}
	b.put(0, 1) // no more transforms
	if err := vp8lImage(ctx, &b, residuals, w, h, true); err != nil {
		return nil, err
	}
	return b.bytes(), nil
}

// subtractGreenHelps reports whether red and blue minus green vary less
// than red and blue themselves, judged by the entropy of their
// differences with the pixel to the left (photos: yes; an alpha plane,
// whose red and blue are zero: no).
func subtractGreenHelps(argb []uint32) bool {
	var plain, minus [2][256]uint32
	for i := 1; i < len(argb); i++ {
		d := subPixels(argb[i], argb[i-1])
		g := (d >> 8) & 0xff
		plain[0][(d>>16)&0xff]++
		plain[1][d&0xff]++
		minus[0][(d>>16-g)&0xff]++
		minus[1][(d-g)&0xff]++
	}
	return entropyBits(minus[0][:])+entropyBits(minus[1][:]) < entropyBits(plain[0][:])+entropyBits(plain[1][:])
}

// entropyBits is the Shannon cost in bits of coding counts.
func entropyBits(counts []uint32) float64 {
	var n, e float64
	for _, c := range counts {
		if c > 0 {
			n += float64(c)
			e -= float64(c) * math.Log2(float64(c))
		}
	}
	if n == 0 {
		return 0
	}
	return e + n*math.Log2(n)
}

// vp8lPredict picks a predictor for each tile of pix and returns the
// predictor image (the mode in green) and the residuals.
func vp8lPredict(ctx context.Context, pix []uint32, w, h int) (modes, residuals []uint32, err error) {
	const side = 1 << vp8lTileBits
	tw, th := (w+side-1)/side, (h+side-1)/side
	modes = make([]uint32, tw*th)
	residuals = make([]uint32, len(pix))
	for ty := range th {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		for tx := range tw {
			x0, y0 := tx*side, ty*side
			x1, y1 := min(x0+side, w), min(y0+side, h)
			best, bestCost := 0, math.MaxInt
			for mode := range 14 {
				if c := vp8lTileCost(pix, w, mode, x0, y0, x1, y1, bestCost); c < bestCost {
					best, bestCost = mode, c
				}
			}
			modes[ty*tw+tx] = 0xff000000 | uint32(best)<<8
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					i := y*w + x
					residuals[i] = subPixels(pix[i], vp8lPrediction(pix, w, best, x, y))
				}
			}
		}
	}
	return modes, residuals, nil
}

// vp8lTileCost estimates the cost of the residuals of mode over a tile:
// the summed bit lengths of each channel's residual taken as signed. It
// stops early once over limit.
func vp8lTileCost(pix []uint32, w, mode, x0, y0, x1, y1, limit int) int {
	cost := 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			r := subPixels(pix[y*w+x], vp8lPrediction(pix, w, mode, x, y))
			cost += residualBits(r) + residualBits(r>>8) + residualBits(r>>16) + residualBits(r>>24)
		}
		if cost >= limit {
			break
		}
	}
	return cost
}

// residualBits is the bit length of the low byte of v read as signed.
func residualBits(v uint32) int {
	s := int8(v)
	if s < 0 {
		s = ^s
	}
	return bits.Len8(uint8(s))
}

// vp8lPrediction is the value predictor mode gives pixel (x, y), with the
// format's rules for the first row and column.
func vp8lPrediction(pix []uint32, w, mode, x, y int) uint32 {
	i := y*w + x
	switch {
	case y == 0 && x == 0:
		return 0xff000000
	case y == 0:
		return pix[i-1]
	case x == 0:
		return pix[i-w]
	}
	L, T, TL, TR := pix[i-1], pix[i-w], pix[i-w-1], pix[i-w+1]
	switch mode {
	case 0:
		return 0xff000000
	case 1:
		return L
	case 2:
		return T
	case 3:
		return TR
	case 4:
		return TL
	case 5:
		return average2(average2(L, TR), T)
	case 6:
		return average2(L, TL)
	case 7:
		return average2(L, T)
	case 8:
		return average2(TL, T)
	case 9:
		return average2(T, TR)
	case 10:
		return average2(average2(L, TL), average2(T, TR))
	case 11:
		return selectPredictor(L, T, TL)
	case 12:
		return clampAddSubtractFull(L, T, TL)
	}
	return clampAddSubtractHalf(average2(L, T), TL)
}

// average2 is the per-channel truncated mean of a and b.
func average2(a, b uint32) uint32 {
	return (((a ^ b) & 0xfefefefe) >> 1) + (a & b)
}

func selectPredictor(L, T, TL uint32) uint32 {
	pL, pT := 0, 0 // Manhattan distances of the estimate L+T-TL to L and T
	for s := 0; s < 32; s += 8 {
		l, t, tl := int(L>>s&0xff), int(T>>s&0xff), int(TL>>s&0xff)
		pL += absInt(t - tl)
		pT += absInt(l - tl)
	}
	if pL < pT {
		return L
	}
	return T
}

func clampAddSubtractFull(a, b, c uint32) uint32 {
	var out uint32
	for s := 0; s < 32; s += 8 {
		v := int(a>>s&0xff) + int(b>>s&0xff) - int(c>>s&0xff)
		out |= uint32(min(max(v, 0), 255)) << s
	}
	return out
}

func clampAddSubtractHalf(a, b uint32) uint32 {
	var out uint32
	for s := 0; s < 32; s += 8 {
		x, y := int(a>>s&0xff), int(b>>s&0xff)
		out |= uint32(min(max(x+(x-y)/2, 0), 255)) << s
	}
	return out
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// vp8lToken is a literal pixel (length 0, value the ARGB) or a backward
// reference (length > 0, value the distance code).
type vp8lToken struct {
	value  uint32
	length uint32
}

// vp8lImage writes an entropy-coded image: the colour cache choice, the
// meta Huffman bit when top is set (one group for the whole image), the
// group's five codes and the pixels.
func vp8lImage(ctx context.Context, b *lsbWriter, pix []uint32, w, h int, top bool) error {
	tokens, err := vp8lBackwardRefs(ctx, pix, w)
	if err != nil {
		return err
	}
	cacheBits, err := vp8lBestCache(ctx, tokens, pix)
	if err != nil {
		return err
	}
	if cacheBits > 0 {
		b.put(1, 1)
		b.put(uint32(cacheBits), 4)
	} else {
		b.put(0, 1)
	}
	if top {
		b.put(0, 1)
	}
	hist := vp8lHistogram(tokens, pix, cacheBits)
	var codes [5]huffCode
	for i := range codes {
		codes[i] = newHuffCode(hist.counts[i], 15)
		codes[i].write(b)
	}
	vp8lWriteTokens(b, tokens, pix, cacheBits, &codes)
	return nil
}

// vp8lBackwardRefs chooses LZ77 references: matches for every pixel
// through hash chains, then the cheapest parse by dynamic programming,
// twice. The first cost model counts both the plain literals and a greedy
// parse (every match of 3 or more taken), so that neither literals nor
// copies look expensive merely for being rare in it; the second uses the
// symbols of the first parse.
func vp8lBackwardRefs(ctx context.Context, pix []uint32, w int) ([]vp8lToken, error) {
	m, err := vp8lFindMatches(ctx, pix)
	if err != nil {
		return nil, err
	}
	m.runs(pix, w)
	coder := newDistanceCoder(w)
	h := vp8lFirstHistogram(pix, &m, coder)
	var tokens []vp8lToken
	for range vp8lParsePasses {
		if tokens, err = vp8lCheapestRefs(ctx, pix, &m, coder, newVP8LCostModel(h)); err != nil {
			return nil, err
		}
		h = vp8lHistogram(tokens, pix, 0)
	}
	return tokens, nil
}

// vp8lFirstHistogram counts the symbols of two parses: every pixel a
// literal, and every match of 3 or more taken.
func vp8lFirstHistogram(pix []uint32, m *vp8lMatchTable, coder distanceCoder) *vp8lHisto {
	h := newVP8LHisto(0)
	for _, c := range pix {
		h.literal(c)
	}
	for i := 0; i < len(pix); {
		l := int(m.length[i])
		if l < 3 {
			h.literal(pix[i])
			i++
			continue
		}
		h.copy(uint32(l), coder.code(int(m.dist[i])))
		i += l
	}
	return h
}

// vp8lParsePasses is how many times the references are re-chosen by
// cost, each pass with the symbol costs of the previous one's result.
const vp8lParsePasses = 2

// vp8lShortCopies is the longest copy length tried short of a match's
// full length by the cost-based parse.
const vp8lShortCopies = 16

// vp8lMatchTable holds, for each pixel, the longest earlier match found
// (length 0 for none) and its distance in pixels, and the lengths of the
// matches with the pixel left and the pixel above, which cost few bits.
type vp8lMatchTable struct {
	length []uint16
	dist   []uint32
	left   []uint16
	above  []uint16
	width  int
}

// candidate returns match i of pixel p: 0 the longest, 1 the run from the
// left, 2 the run from above.
func (m *vp8lMatchTable) candidate(p, i int) (length, dist int) {
	switch i {
	case 0:
		return int(m.length[p]), int(m.dist[p])
	case 1:
		return int(m.left[p]), 1
	}
	return int(m.above[p]), m.width
}

// runs fills left and above, from the end: how many pixels from p on
// equal those 1 and w before them.
func (m *vp8lMatchTable) runs(pix []uint32, w int) {
	n := len(pix)
	m.left, m.above, m.width = make([]uint16, n), make([]uint16, n), w
	for p := n - 1; p >= 1; p-- {
		if pix[p] == pix[p-1] {
			m.left[p] = 1
			if p+1 < n {
				m.left[p] = min(m.left[p+1], vp8lMaxLength-1) + 1
			}
		}
		if p >= w && pix[p] == pix[p-w] {
			m.above[p] = 1
			if p+1 < n {
				m.above[p] = min(m.above[p+1], vp8lMaxLength-1) + 1
			}
		}
	}
}

// vp8lFindMatches finds a match for every pixel through hash chains. A
// pixel inside the previous pixel's match of at least 2 inherits it, one
// shorter, without a search: long runs cost no more than short ones.
func vp8lFindMatches(ctx context.Context, pix []uint32) (vp8lMatchTable, error) {
	n := len(pix)
	m := vp8lMatchTable{length: make([]uint16, n), dist: make([]uint32, n)}
	head := make([]int32, 1<<vp8lHashBits)
	for i := range head {
		head[i] = -1
	}
	prev := make([]int32, n)
	for i := 0; i+1 < n; i++ {
		if i&vp8lPoll == 0 {
			if err := ctx.Err(); err != nil {
				return vp8lMatchTable{}, err
			}
		}
		h := uint32((uint64(pix[i])<<32 | uint64(pix[i+1])) * 0x9e3779b97f4a7c15 >> (64 - vp8lHashBits))
		if i > 0 && m.length[i-1] > 2 {
			m.length[i], m.dist[i] = m.length[i-1]-1, m.dist[i-1]
		} else {
			best, bestDist := 0, 0
			maxLen := min(vp8lMaxLength, n-i)
			for j, depth := head[h], 0; j >= 0 && depth < vp8lChainDepth; j, depth = prev[j], depth+1 {
				d := i - int(j)
				if d > vp8lMaxDistance {
					break
				}
				if l := matchLength(pix, int(j), i, maxLen); l > best {
					best, bestDist = l, d
					if l == maxLen {
						break
					}
				}
			}
			if best >= 2 {
				m.length[i], m.dist[i] = uint16(best), uint32(bestDist)
			}
		}
		prev[i] = head[h]
		head[h] = int32(i)
	}
	return m, nil
}

// vp8lCostModel estimates the bits of each symbol from a histogram.
type vp8lCostModel struct {
	literal  [4][256]float32 // green, red, blue, alpha
	length   [vp8lLengthCodes]float32
	distance [vp8lDistanceCodes]float32
}

func newVP8LCostModel(h *vp8lHisto) *vp8lCostModel {
	m := &vp8lCostModel{}
	green := huffmanBits(h.counts[0])
	copy(m.literal[0][:], green[:256])
	copy(m.length[:], green[256:256+vp8lLengthCodes])
	copy(m.literal[1][:], huffmanBits(h.counts[1]))
	copy(m.literal[2][:], huffmanBits(h.counts[2]))
	copy(m.literal[3][:], huffmanBits(h.counts[3]))
	copy(m.distance[:], huffmanBits(h.counts[4]))
	return m
}

// huffmanBits is the bits each symbol takes with a Huffman code for
// counts: its code length (a Huffman code spends at least a bit per
// symbol, however frequent, unlike the entropy), 0 when it is the only
// symbol, and for an unseen symbol the longest length plus two.
func huffmanBits(counts []uint32) []float32 {
	lengths := huffLengths(counts, 15)
	bits := make([]float32, len(counts))
	used, longest := 0, uint8(0)
	for _, l := range lengths {
		if l > 0 {
			used++
			longest = max(longest, l)
		}
	}
	for i, l := range lengths {
		switch {
		case l == 0:
			bits[i] = float32(longest) + 2
		case used > 1:
			bits[i] = float32(l)
		}
	}
	return bits
}

func (m *vp8lCostModel) literalCost(c uint32) float32 {
	return m.literal[0][(c>>8)&0xff] + m.literal[1][(c>>16)&0xff] + m.literal[2][c&0xff] + m.literal[3][c>>24]
}

func (m *vp8lCostModel) distanceCost(distCode uint32) float32 {
	ds, db, _ := prefixCode(distCode)
	return m.distance[ds] + float32(db)
}

// vp8lCheapestRefs chooses literals and copies by dynamic programming
// over the pixels: the cheapest way to code each prefix under the cost
// model, where a copy is any length up to vp8lShortCopies, or the full
// length, of the match found at its start.
func vp8lCheapestRefs(ctx context.Context, pix []uint32, m *vp8lMatchTable, coder distanceCoder, model *vp8lCostModel) ([]vp8lToken, error) {
	n := len(pix)
	cost := make([]float32, n+1)
	for i := range cost {
		cost[i] = float32(math.Inf(1))
	}
	cost[0] = 0
	step := make([]uint16, n+1) // last token of the best prefix: 1 a literal, more a copy
	from := make([]uint8, n+1)  // and the candidate it copies
	var lengthCost [vp8lMaxLength + 1]float32
	for k := 1; k <= vp8lMaxLength; k++ {
		ls, lb, _ := prefixCode(uint32(k))
		lengthCost[k] = model.length[ls] + float32(lb)
	}
	for i := range n {
		if i&vp8lPoll == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		c := cost[i]
		if lc := c + model.literalCost(pix[i]); lc < cost[i+1] {
			cost[i+1], step[i+1] = lc, 1
		}
		for cand := range 3 {
			l, d := m.candidate(i, cand)
			if l < 2 || (cand == 0 && (d == 1 || d == m.width)) { // the other two try those
				continue
			}
			c := c + model.distanceCost(coder.code(d))
			short := min(l-1, vp8lShortCopies)
			for k := 2; k <= short; k++ {
				if cc := c + lengthCost[k]; cc < cost[i+k] {
					cost[i+k], step[i+k], from[i+k] = cc, uint16(k), uint8(cand)
				}
			}
			if cc := c + lengthCost[l]; cc < cost[i+l] {
				cost[i+l], step[i+l], from[i+l] = cc, uint16(l), uint8(cand)
			}
		}
	}
	count := 0
	for i := n; i > 0; i -= int(step[i]) {
		count++
	}
	tokens := make([]vp8lToken, count)
	for i := n; i > 0; i -= int(step[i]) {
		count--
		k := int(step[i])
		start := i - k
		if k == 1 {
			tokens[count] = vp8lToken{value: pix[start]}
			continue
		}
		_, d := m.candidate(start, int(from[i]))
		tokens[count] = vp8lToken{value: coder.code(d), length: uint32(k)}
	}
	return tokens, nil
}

func matchLength(pix []uint32, a, b, max int) int {
	n := 0
	for n < max && pix[a+n] == pix[b+n] {
		n++
	}
	return n
}

// distanceCoder maps a distance in pixels to its distance code: the
// smallest of the 120 short codes for 2-D neighbours that decodes to it,
// else distance+120.
type distanceCoder struct {
	short []uint8 // distance -> short code, 0 for none
}

func newDistanceCoder(w int) distanceCoder {
	short := make([]uint8, 8*w+9)
	for c := len(vp8lDistanceMap) - 1; c >= 0; c-- {
		m := int(vp8lDistanceMap[c])
		d := max((m>>4)*w+8-m&0xf, 1)
		short[d] = uint8(c + 1)
	}
	return distanceCoder{short}
}

func (dc distanceCoder) code(d int) uint32 {
	if d < len(dc.short) && dc.short[d] != 0 {
		return uint32(dc.short[d])
	}
	return uint32(d + 120)
}

// prefixCode splits a length or distance code (>= 1) into its prefix
// symbol and extra bits.
func prefixCode(v uint32) (symbol, extraBits, extra uint32) {
	v--
	if v < 4 {
		return v, 0, 0
	}
	hi := uint32(bits.Len32(v)) - 1
	second := (v >> (hi - 1)) & 1
	extraBits = hi - 1
	return 2*hi + second, extraBits, v & (1<<extraBits - 1)
}

// vp8lHisto counts the symbols of the five codes.
type vp8lHisto struct {
	counts [5][]uint32 // green+lengths+cache, red, blue, alpha, distance
	extra  int         // extra bits of lengths and distances
}

// vp8lHistogram counts the symbols tokens make with a colour cache of
// cacheBits (0 for none).
func vp8lHistogram(tokens []vp8lToken, pix []uint32, cacheBits int) *vp8lHisto {
	h := newVP8LHisto(cacheBits)
	cache := newColorCache(cacheBits)
	p := 0
	for _, t := range tokens {
		if t.length == 0 {
			if k, hit := cache.lookup(t.value); hit {
				h.counts[0][vp8lLiterals+vp8lLengthCodes+k]++
			} else {
				h.literal(t.value)
			}
			p++
			continue
		}
		h.copy(t.length, t.value)
		cache.insertAll(pix[p : p+int(t.length)])
		p += int(t.length)
	}
	return h
}

func newVP8LHisto(cacheBits int) *vp8lHisto {
	h := &vp8lHisto{}
	h.counts[0] = make([]uint32, vp8lLiterals+vp8lLengthCodes+cacheSize(cacheBits))
	h.counts[1] = make([]uint32, 256)
	h.counts[2] = make([]uint32, 256)
	h.counts[3] = make([]uint32, 256)
	h.counts[4] = make([]uint32, vp8lDistanceCodes)
	return h
}

func (h *vp8lHisto) literal(c uint32) {
	h.counts[0][(c>>8)&0xff]++
	h.counts[1][(c>>16)&0xff]++
	h.counts[2][c&0xff]++
	h.counts[3][c>>24]++
}

func (h *vp8lHisto) copy(length, distCode uint32) {
	ls, lb, _ := prefixCode(length)
	ds, db, _ := prefixCode(distCode)
	h.counts[0][vp8lLiterals+ls]++
	h.counts[4][ds]++
	h.extra += int(lb + db)
}

// cost estimates the coded size in bits: each symbol at its Huffman code
// length, the extra bits, and a rough header cost per used symbol.
func (h *vp8lHisto) cost() float64 {
	total := float64(h.extra)
	for _, c := range h.counts {
		lengths := huffLengths(c, 15)
		used := 0
		for i, l := range lengths {
			if l > 0 {
				used++
				total += float64(c[i]) * float64(l)
			}
		}
		if used == 1 {
			total -= float64(slices.Max(c)) // a lone symbol takes no bits
		}
		total += 4 * float64(used)
	}
	return total
}

// vp8lBestCache returns the colour cache size (log2, 0 for none) that
// minimises the estimated size.
func vp8lBestCache(ctx context.Context, tokens []vp8lToken, pix []uint32) (int, error) {
	best, bestCost := 0, vp8lHistogram(tokens, pix, 0).cost()
	for cb := 1; cb <= 10; cb++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if c := vp8lHistogram(tokens, pix, cb).cost(); c < bestCost {
			best, bestCost = cb, c
		}
	}
	return best, nil
}

func cacheSize(cacheBits int) int {
	if cacheBits == 0 {
		return 0
	}
	return 1 << cacheBits
}

// colorCache mirrors the decoder's colour cache.
type colorCache struct {
	entries []uint32
	shift   uint
}

func newColorCache(cacheBits int) colorCache {
	if cacheBits == 0 {
		return colorCache{}
	}
	return colorCache{entries: make([]uint32, 1<<cacheBits), shift: uint(32 - cacheBits)}
}

// lookup reports whether c is in the cache and its index; a miss inserts
// it, as the decoder will.
func (cc colorCache) lookup(c uint32) (uint32, bool) {
	if cc.entries == nil {
		return 0, false
	}
	k := (c * 0x1e35a7bd) >> cc.shift
	if cc.entries[k] == c {
		return k, true
	}
	cc.entries[k] = c
	return 0, false
}

func (cc colorCache) insertAll(px []uint32) {
	if cc.entries == nil {
		return
	}
	for _, c := range px {
		cc.entries[(c*0x1e35a7bd)>>cc.shift] = c
	}
}

// vp8lWriteTokens writes the pixels with the group's codes.
func vp8lWriteTokens(b *lsbWriter, tokens []vp8lToken, pix []uint32, cacheBits int, codes *[5]huffCode) {
	cache := newColorCache(cacheBits)
	p := 0
	for _, t := range tokens {
		if t.length == 0 {
			if k, hit := cache.lookup(t.value); hit {
				codes[0].put(b, vp8lLiterals+vp8lLengthCodes+int(k))
			} else {
				codes[0].put(b, int(t.value>>8)&0xff)
				codes[1].put(b, int(t.value>>16)&0xff)
				codes[2].put(b, int(t.value)&0xff)
				codes[3].put(b, int(t.value>>24))
			}
			p++
			continue
		}
		ls, lb, le := prefixCode(t.length)
		codes[0].put(b, vp8lLiterals+int(ls))
		b.put(le, uint(lb))
		ds, db, de := prefixCode(t.value)
		codes[4].put(b, int(ds))
		b.put(de, uint(db))
		cache.insertAll(pix[p : p+int(t.length)])
		p += int(t.length)
	}
}

// huffCode is a canonical Huffman code as VP8L writes it.
type huffCode struct {
	lengths []uint8  // code lengths, 0 for unused symbols
	codes   []uint16 // canonical codes, bit-reversed for the LSB-first stream
	used    []int    // the symbols with a code, up to three
	single  bool     // one symbol only: the decoder reads no bits for it
}

// newHuffCode builds the code for counts with lengths of at most maxLen.
func newHuffCode(counts []uint32, maxLen int) huffCode {
	hc := huffCode{lengths: huffLengths(counts, maxLen)}
	for s, l := range hc.lengths {
		if l > 0 && len(hc.used) < 3 {
			hc.used = append(hc.used, s)
		}
	}
	hc.single = len(hc.used) == 1
	hc.codes = canonicalCodes(hc.lengths)
	return hc
}

// put writes symbol s.
func (hc *huffCode) put(b *lsbWriter, s int) {
	if !hc.single {
		b.put(uint32(hc.codes[s]), uint(hc.lengths[s]))
	}
}

// write writes the code: a simple code for up to two symbols below 256,
// otherwise the code lengths, themselves Huffman-coded.
func (hc *huffCode) write(b *lsbWriter) {
	switch {
	case len(hc.used) == 0: // never read: one symbol, 0
		b.put(1, 1)
		b.put(0, 1)
		b.put(0, 1)
		b.put(0, 1)
		return
	case len(hc.used) <= 2 && hc.used[len(hc.used)-1] < 256:
		// Symbols in increasing order, so that the decoders that assign
		// codes in writing order and those that assign them canonically
		// agree.
		b.put(1, 1)
		b.put(uint32(len(hc.used)-1), 1)
		if s := hc.used[0]; s < 2 {
			b.put(0, 1)
			b.put(uint32(s), 1)
		} else {
			b.put(1, 1)
			b.put(uint32(s), 8)
		}
		if len(hc.used) == 2 {
			b.put(uint32(hc.used[1]), 8)
		}
		return
	}
	b.put(0, 1)
	writeCodeLengths(b, hc.lengths)
}

// clToken is a symbol of the code length code: a length 0..15, or 16
// (repeat the previous non-zero length 3..6 times), 17 (3..10 zeros) or
// 18 (11..138 zeros) with its extra bits.
type clToken struct{ sym, extra uint8 }

// writeCodeLengths writes lengths run-length coded with the code length
// code, which is written first.
func writeCodeLengths(b *lsbWriter, lengths []uint8) {
	tokens := rleCodeLengths(lengths)
	counts := make([]uint32, 19)
	for _, t := range tokens {
		counts[t.sym]++
	}
	cl := newHuffCode(counts, 7)
	n := 4
	for i, s := range vp8lCodeLengthOrder {
		if cl.lengths[s] != 0 {
			n = max(n, i+1)
		}
	}
	b.put(uint32(n-4), 4)
	for _, s := range vp8lCodeLengthOrder[:n] {
		b.put(uint32(cl.lengths[s]), 3)
	}
	b.put(0, 1) // no max_symbol: every length is written
	for _, t := range tokens {
		cl.put(b, int(t.sym))
		switch t.sym {
		case 16:
			b.put(uint32(t.extra), 2)
		case 17:
			b.put(uint32(t.extra), 3)
		case 18:
			b.put(uint32(t.extra), 7)
		}
	}
}

func rleCodeLengths(lengths []uint8) []clToken {
	var out []clToken
	prev := uint8(8) // what 16 repeats before any non-zero length
	for i := 0; i < len(lengths); {
		v, run := lengths[i], 1
		for i+run < len(lengths) && lengths[i+run] == v {
			run++
		}
		i += run
		if v == 0 {
			for run > 0 {
				switch {
				case run < 3:
					for range run {
						out = append(out, clToken{sym: 0})
					}
					run = 0
				case run < 11:
					out = append(out, clToken{17, uint8(run - 3)})
					run = 0
				default:
					r := min(run, 138)
					out = append(out, clToken{18, uint8(r - 11)})
					run -= r
				}
			}
			continue
		}
		if v != prev {
			out = append(out, clToken{sym: v})
			run--
			prev = v
		}
		for run > 0 {
			if run < 3 {
				for range run {
					out = append(out, clToken{sym: v})
				}
				break
			}
			r := min(run, 6)
			out = append(out, clToken{16, uint8(r - 3)})
			run -= r
		}
	}
	return out
}

// huffLengths returns Huffman code lengths for counts, at most maxLen
// bits: when the tree is too deep, small counts are raised and the tree
// rebuilt. A lone symbol gets length 1.
func huffLengths(counts []uint32, maxLen int) []uint8 {
	lengths := make([]uint8, len(counts))
	var syms []int
	for s, c := range counts {
		if c > 0 {
			syms = append(syms, s)
		}
	}
	switch len(syms) {
	case 0:
		return lengths
	case 1:
		lengths[syms[0]] = 1
		return lengths
	}
	for floor := uint32(1); ; floor *= 2 {
		if huffDepths(counts, syms, floor, lengths) <= maxLen {
			return lengths
		}
	}
}

// huffDepths builds a Huffman tree over syms with weights max(count,
// floor), sets lengths to the leaves' depths and returns the deepest.
func huffDepths(counts []uint32, syms []int, floor uint32, lengths []uint8) int {
	n := len(syms)
	type leaf struct {
		w   uint64
		sym int
	}
	leaves := make([]leaf, n)
	for i, s := range syms {
		leaves[i] = leaf{uint64(max(counts[s], floor)), s}
	}
	slices.SortFunc(leaves, func(a, b leaf) int {
		if a.w != b.w {
			if a.w < b.w {
				return -1
			}
			return 1
		}
		return a.sym - b.sym
	})
	// Nodes 0..n-1 are the leaves in order, n.. the internal nodes in the
	// order they are made, so a parent always comes after its children.
	parent := make([]int32, 2*n-1)
	weight := make([]uint64, n-1)
	li, ii, made := 0, 0, 0 // next leaf, next unused internal node, internal nodes made
	pick := func() (int, uint64) {
		if li < n && (ii == made || leaves[li].w <= weight[ii]) {
			li++
			return li - 1, leaves[li-1].w
		}
		ii++
		return n + ii - 1, weight[ii-1]
	}
	for k := range n - 1 {
		a, wa := pick()
		c, wc := pick()
		weight[k] = wa + wc
		made++
		parent[a], parent[c] = int32(n+k), int32(n+k)
	}
	depth := make([]int, 2*n-1)
	deepest := 0
	for v := 2*n - 3; v >= 0; v-- {
		depth[v] = depth[parent[v]] + 1
		if v < n {
			lengths[leaves[v].sym] = uint8(min(depth[v], 255))
			deepest = max(deepest, depth[v])
		}
	}
	return deepest
}

// canonicalCodes assigns canonical codes to lengths, bit-reversed.
func canonicalCodes(lengths []uint8) []uint16 {
	var count, next [16]int
	for _, l := range lengths {
		if l > 0 {
			count[l]++
		}
	}
	code := 0
	for l := 1; l < 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	codes := make([]uint16, len(lengths))
	for s, l := range lengths {
		if l > 0 {
			codes[s] = uint16(bits.Reverse16(uint16(next[l])) >> (16 - l))
			next[l]++
		}
	}
	return codes
}
