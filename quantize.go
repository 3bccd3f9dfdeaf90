package main

// Colour quantisation for GIF output: exact palettes, Wu's quantiser,
// and Floyd-Steinberg dithering to the nearest colour.

import (
	"image"
	"image/color"
	"sync"
)

// quantize returns img as a paletted image whose palette (at most 256
// colours) is chosen for it. Pixels with alpha < 128 map to a fully
// transparent palette entry (index 0 when present); the others are treated
// as opaque (unpremultiplied). An image with at most 256 distinct colours
// (transparent counted as one) is reproduced exactly, without dithering;
// any other is reduced with Wu's quantiser and Floyd-Steinberg dithering.
//
// Wu's algorithm (X. Wu, Graphics Gems II, 1991) is a variance-minimising
// median cut: it keeps splitting the box of largest variance of a 5-bit per
// channel histogram, at the plane that minimises the summed squared error
// of the two halves. It works on cumulative moments, so each cut costs
// O(32) whatever the image size, and the palette is the exact mean of the
// pixels of each box. A k-means (Lloyd) refinement of that palette was
// measured and rejected: on testdata/schwarzy.jpg it lowers the undithered
// error (2.90 -> 2.61 mean abs per channel) but raises the dithered one
// (3.55 -> 4.27), because the means pull the extreme colours inwards and
// error diffusion needs them.
//
// Floyd-Steinberg (serpentine) rather than an ordered dither, measured on
// the same palettes: on schwarzy.jpg the error of 4x4 block means, which is
// what the eye averages, is 0.98 with Floyd-Steinberg and 1.33 at best with
// a 4x4 Bayer matrix (1.36 without dithering). Animations are quantised
// frame against frame by gifAnimation (gifenc.go), with the same parts.
//
// The result is deterministic: integer histograms, a fixed scan order.
func quantize(img *image.RGBA) *image.Paletted {
	dst := image.NewPaletted(img.Rect, nil)
	if pal, ok := exactPalette(img, dst.Pix); ok {
		dst.Palette = pal
		return dst
	}
	h := getWuHist()
	defer wuHistPool.Put(h)
	transparent := h.add(img)
	n := 256
	var pal color.Palette
	if transparent {
		n--
		pal = append(pal, color.RGBA{})
	}
	pal = append(pal, h.palette(n)...)
	ditherFS(img, dst, pal, transparent)
	dst.Palette = pal
	return dst
}

// opaqueRGB returns the unpremultiplied colour of a pixel of an
// *image.RGBA that quantize treats as opaque (alpha >= 128).
func opaqueRGB(p *[4]uint8) (r, g, b int32) {
	a := int32(p[3])
	r, g, b = int32(p[0]), int32(p[1]), int32(p[2])
	if a == 255 {
		return r, g, b
	}
	return min((r*255+a/2)/a, 255), min((g*255+a/2)/a, 255), min((b*255+a/2)/a, 255)
}

// exactPalette fills pix (img's size, stride Dx) with indexes into a palette
// of img's own colours, and returns that palette, with the transparent entry
// first if any. It gives up (ok false) at the 257th distinct colour, which
// a photo reaches within a few rows.
func exactPalette(img *image.RGBA, pix []uint8) (pal color.Palette, ok bool) {
	// An open-addressed set, a quarter full at most. Keys are 0xffRRGGBB
	// for opaque colours and 1 for transparent; 0 is an empty slot.
	const slots = 1024
	var keys [slots]uint32
	var idx [slots]uint8
	pal = make(color.Palette, 0, 256)
	tIndex := -1
	w, h := img.Rect.Dx(), img.Rect.Dy()
	lastKey, lastIdx := uint32(0), uint8(0)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		out := pix[y*w : y*w+w]
		for x := range out {
			p := (*[4]uint8)(row[x*4:])
			key := uint32(1)
			if p[3] >= 128 {
				r, g, b := opaqueRGB(p)
				key = 0xff000000 | uint32(r)<<16 | uint32(g)<<8 | uint32(b)
			}
			if key == lastKey {
				out[x] = lastIdx
				continue
			}
			s := (key * 0x9e3779b1) >> 22
			for keys[s] != key && keys[s] != 0 {
				s = (s + 1) & (slots - 1)
			}
			if keys[s] == 0 {
				if len(pal) == 256 {
					return nil, false
				}
				keys[s], idx[s] = key, uint8(len(pal))
				if key == 1 {
					tIndex = len(pal)
					pal = append(pal, color.RGBA{})
				} else {
					pal = append(pal, color.RGBA{uint8(key >> 16), uint8(key >> 8), uint8(key), 255})
				}
			}
			lastKey, lastIdx = key, idx[s]
			out[x] = lastIdx
		}
	}
	if tIndex > 0 {
		// Swap the transparent entry to index 0, where GIF's background
		// index points.
		t := uint8(tIndex)
		pal[0], pal[t] = pal[t], pal[0]
		for i, v := range pix[:w*h] {
			switch v {
			case 0:
				pix[i] = t
			case t:
				pix[i] = 0
			}
		}
	}
	return pal, true
}

// Wu's quantiser. The histogram has 32 levels per channel at indexes 1..32;
// index 0 is the zero border that makes the cumulative sums simple.
const (
	wuSide  = 33
	wuPlane = wuSide * wuSide
	wuCells = wuSide * wuPlane
)

// wuMoment is a histogram cell: the pixel count and the sums of r, g and b.
// (Four fields, so the compiler keeps it in registers.)
type wuMoment struct{ w, r, g, b int64 }

func (a wuMoment) add(b wuMoment) wuMoment {
	return wuMoment{a.w + b.w, a.r + b.r, a.g + b.g, a.b + b.b}
}

func (a wuMoment) sub(b wuMoment) wuMoment {
	return wuMoment{a.w - b.w, a.r - b.r, a.g - b.g, a.b - b.b}
}

// wuBox is a box of histogram cells: (r0, r1] × (g0, g1] × (b0, b1].
type wuBox struct{ r0, r1, g0, g1, b0, b1 int }

// wuHist holds the moments of each cell and the sums of r²+g²+b²; after
// cumulate, cell (r, g, b) holds the sums over all cells (<=r, <=g, <=b).
type wuHist struct {
	m  [wuCells]wuMoment
	m2 [wuCells]int64
}

func (h *wuHist) at(r, g, b int) wuMoment { return h.m[r*wuPlane+g*wuSide+b] }

// wuHistPool keeps histograms (1.4 MB each) from one frame and request to
// the next: an animation quantises every frame, and allocating them
// anew made most of the engine's garbage. A cache of scratch memory, not
// state.
var wuHistPool sync.Pool

// getWuHist returns an empty histogram from the pool.
func getWuHist() *wuHist {
	h, _ := wuHistPool.Get().(*wuHist)
	if h == nil {
		return new(wuHist)
	}
	clear(h.m[:])
	clear(h.m2[:])
	return h
}

// add counts the opaque (alpha >= 128) pixels of img and reports whether
// it has any others.
func (h *wuHist) add(img *image.RGBA) (transparent bool) {
	w := img.Rect.Dx()
	for y := range img.Rect.Dy() {
		if h.addRow(img.Pix[y*img.Stride:y*img.Stride+w*4], nil) {
			transparent = true
		}
	}
	return transparent
}

// addRow counts the opaque (alpha >= 128) pixels of a row of RGBA
// pixels, only those marked when mark is not nil, and reports whether
// the row has others. The count is written out in the loop: as a
// function it is too big to be inlined, and costs 7% of quantize.
func (h *wuHist) addRow(row []byte, mark []bool) (transparent bool) {
	for x := 0; len(row) >= 4; x, row = x+1, row[4:] {
		p := (*[4]uint8)(row)
		if p[3] < 128 {
			transparent = true
			continue
		}
		if mark != nil && !mark[x] {
			continue
		}
		r, g, b := opaqueRGB(p)
		k := uint(r>>3)*wuPlane + uint(g>>3)*wuSide + uint(b>>3) + wuPlane + wuSide + 1
		c := &h.m[k]
		c.w++
		c.r += int64(r)
		c.g += int64(g)
		c.b += int64(b)
		h.m2[k] += int64(r*r + g*g + b*b)
	}
	return transparent
}

// cumulate turns the histogram into 3-D prefix sums.
func (h *wuHist) cumulate() {
	var area [wuSide]wuMoment
	var area2 [wuSide]int64
	for r := 1; r < wuSide; r++ {
		area, area2 = [wuSide]wuMoment{}, [wuSide]int64{}
		for g := 1; g < wuSide; g++ {
			var line wuMoment
			var line2 int64
			for b := 1; b < wuSide; b++ {
				i := r*wuPlane + g*wuSide + b
				line = line.add(h.m[i])
				line2 += h.m2[i]
				area[b] = area[b].add(line)
				area2[b] += line2
				h.m[i] = h.m[i-wuPlane].add(area[b])
				h.m2[i] = h.m2[i-wuPlane] + area2[b]
			}
		}
	}
}

// vol returns the moments of the cells inside c.
func (h *wuHist) vol(c wuBox) wuMoment {
	return h.at(c.r1, c.g1, c.b1).sub(h.at(c.r1, c.g1, c.b0)).sub(h.at(c.r1, c.g0, c.b1)).add(h.at(c.r1, c.g0, c.b0)).
		sub(h.at(c.r0, c.g1, c.b1)).add(h.at(c.r0, c.g1, c.b0)).add(h.at(c.r0, c.g0, c.b1)).sub(h.at(c.r0, c.g0, c.b0))
}

// vol2 returns the sum of r²+g²+b² over the cells inside c.
func (h *wuHist) vol2(c wuBox) float64 {
	at := func(r, g, b int) int64 { return h.m2[r*wuPlane+g*wuSide+b] }
	return float64(at(c.r1, c.g1, c.b1) - at(c.r1, c.g1, c.b0) - at(c.r1, c.g0, c.b1) + at(c.r1, c.g0, c.b0) -
		at(c.r0, c.g1, c.b1) + at(c.r0, c.g1, c.b0) + at(c.r0, c.g0, c.b1) - at(c.r0, c.g0, c.b0))
}

// bottom returns the part of vol(c) that does not depend on c's upper bound
// along dir (0 red, 1 green, 2 blue).
func (h *wuHist) bottom(c wuBox, dir int) wuMoment {
	switch dir {
	case 0:
		return h.at(c.r0, c.g1, c.b0).add(h.at(c.r0, c.g0, c.b1)).sub(h.at(c.r0, c.g1, c.b1)).sub(h.at(c.r0, c.g0, c.b0))
	case 1:
		return h.at(c.r1, c.g0, c.b0).add(h.at(c.r0, c.g0, c.b1)).sub(h.at(c.r1, c.g0, c.b1)).sub(h.at(c.r0, c.g0, c.b0))
	default:
		return h.at(c.r1, c.g0, c.b0).add(h.at(c.r0, c.g1, c.b0)).sub(h.at(c.r1, c.g1, c.b0)).sub(h.at(c.r0, c.g0, c.b0))
	}
}

// top returns the rest of vol(c) with c's upper bound along dir set to pos.
func (h *wuHist) top(c wuBox, dir, pos int) wuMoment {
	switch dir {
	case 0:
		return h.at(pos, c.g1, c.b1).sub(h.at(pos, c.g1, c.b0)).sub(h.at(pos, c.g0, c.b1)).add(h.at(pos, c.g0, c.b0))
	case 1:
		return h.at(c.r1, pos, c.b1).sub(h.at(c.r1, pos, c.b0)).sub(h.at(c.r0, pos, c.b1)).add(h.at(c.r0, pos, c.b0))
	default:
		return h.at(c.r1, c.g1, pos).sub(h.at(c.r1, c.g0, pos)).sub(h.at(c.r0, c.g1, pos)).add(h.at(c.r0, c.g0, pos))
	}
}

// variance returns the summed squared distance of c's pixels to their mean,
// or 0 for a single cell, which cannot be cut.
func (h *wuHist) variance(c wuBox) float64 {
	if c.r1-c.r0 == 1 && c.g1-c.g0 == 1 && c.b1-c.b0 == 1 {
		return 0
	}
	v := h.vol(c)
	if v.w == 0 {
		return 0
	}
	r, g, b := float64(v.r), float64(v.g), float64(v.b)
	return h.vol2(c) - (r*r+g*g+b*b)/float64(v.w)
}

// maximize returns the cut position along dir that maximises the summed
// between-class score of the two halves of c (whole = vol(c)), and that
// score; pos is -1 when no cut leaves both halves non-empty.
func (h *wuHist) maximize(c wuBox, dir, first, last int, whole wuMoment) (pos int, best float64) {
	base := h.bottom(c, dir)
	pos = -1
	for i := first; i < last; i++ {
		half := base.add(h.top(c, dir, i))
		if half.w == 0 {
			continue
		}
		rest := whole.sub(half)
		if rest.w == 0 {
			continue
		}
		hr, hg, hb := float64(half.r), float64(half.g), float64(half.b)
		s := (hr*hr + hg*hg + hb*hb) / float64(half.w)
		rr, rg, rb := float64(rest.r), float64(rest.g), float64(rest.b)
		s += (rr*rr + rg*rg + rb*rb) / float64(rest.w)
		if s > best {
			best, pos = s, i
		}
	}
	return pos, best
}

// cut splits *a in two along its best axis, returning the upper part.
func (h *wuHist) cut(a *wuBox) (wuBox, bool) {
	whole := h.vol(*a)
	cr, mr := h.maximize(*a, 0, a.r0+1, a.r1, whole)
	cg, mg := h.maximize(*a, 1, a.g0+1, a.g1, whole)
	cb, mb := h.maximize(*a, 2, a.b0+1, a.b1, whole)
	b := *a
	switch {
	case mr >= mg && mr >= mb:
		if cr < 0 {
			return b, false
		}
		a.r1, b.r0 = cr, cr
	case mg >= mr && mg >= mb:
		if cg < 0 {
			return b, false
		}
		a.g1, b.g0 = cg, cg
	default:
		if cb < 0 {
			return b, false
		}
		a.b1, b.b0 = cb, cb
	}
	return b, true
}

// palette cumulates the histogram and returns up to n colours: the means
// of the boxes of Wu's splitting.
func (h *wuHist) palette(n int) color.Palette {
	pal, _ := h.paletteSSE(n)
	return pal
}

// paletteSSE is palette that also returns the summed squared distance of
// the pixels to their box's mean: the palette's error without dithering
// (but for the 5-bit histogram's rounding of the boxes).
func (h *wuHist) paletteSSE(n int) (color.Palette, float64) {
	h.cumulate()
	boxes := make([]wuBox, 1, n)
	boxes[0] = wuBox{r1: wuSide - 1, g1: wuSide - 1, b1: wuSide - 1}
	vv := make([]float64, 1, n)
	vv[0] = h.variance(boxes[0])
	for len(boxes) < n {
		// Split the box of largest variance.
		next, best := 0, vv[0]
		for k := 1; k < len(vv); k++ {
			if vv[k] > best {
				next, best = k, vv[k]
			}
		}
		if best <= 0 {
			break
		}
		b, ok := h.cut(&boxes[next])
		if !ok {
			vv[next] = 0
			continue
		}
		vv[next] = h.variance(boxes[next])
		boxes = append(boxes, b)
		vv = append(vv, h.variance(b))
	}
	pal := make(color.Palette, 0, len(boxes))
	var sse float64
	for _, b := range boxes {
		v := h.vol(b)
		if v.w == 0 {
			continue
		}
		sse += h.variance(b)
		pal = append(pal, color.RGBA{
			uint8((v.r + v.w/2) / v.w), uint8((v.g + v.w/2) / v.w), uint8((v.b + v.w/2) / v.w), 255,
		})
	}
	return pal, sse
}

// nearestColor maps colours to the closest palette entry (squared RGB
// distance). Two tables, both filled only when first needed:
//   - the colour cube is cut into 32-unit cells, and each cell lists the
//     entries that can be nearest to some colour inside it: those no
//     farther from the cell than the smallest "farthest distance from the
//     cell" of any entry (about 40 of 256 for a photo palette);
//   - a 5-bit per channel grid caches, per 8-unit cell, the entry nearest
//     to the cell's centre, found by scanning that list.
//
// The grid's rounding costs little because the error diffusion absorbs it:
// on schwarzy.jpg the mean error is 3.55 against 3.49 with a 6-bit grid and
// 3.44 with an exact search per pixel, while a 400x300 frame needs ~12k
// searches instead of ~32k (6-bit) or 120k.
type nearestColor struct {
	col    [256][4]int32 // palette colours (r, g, b, unused), by index
	first  int           // entries before first are transparent
	n      int           // palette size
	start  []int32       // cell -> offset of its list in cand + 1; 0 when not built
	size   []uint16
	cand   []uint8
	cache  *[1 << (3 * nearGridBits)]uint16 // grid cell -> palette index + 1; 0 when not computed
	tables *nearestTables                   // where the slices above live
}

const (
	nearCellBits  = 3
	nearCellShift = 8 - nearCellBits
	nearGridBits  = 5
	nearGridShift = 8 - nearGridBits
)

// nearestTables are nearestColor's tables, pooled from one frame and
// request to the next like wuHist.
type nearestTables struct {
	start [1 << (3 * nearCellBits)]int32
	size  [1 << (3 * nearCellBits)]uint16
	cache [1 << (3 * nearGridBits)]uint16
	cand  []uint8
}

var nearestTablesPool sync.Pool

// release gives the tables back; f is unusable after.
func (f *nearestColor) release() {
	f.tables.cand = f.cand
	nearestTablesPool.Put(f.tables)
	f.tables = nil
}

func newNearestColor(pal color.Palette, first int) *nearestColor {
	f := &nearestColor{
		first: first,
		n:     len(pal),
	}
	if t, _ := nearestTablesPool.Get().(*nearestTables); t != nil {
		clear(t.start[:])
		clear(t.cache[:])
		f.tables = t
	} else {
		f.tables = new(nearestTables)
	}
	f.start, f.size, f.cache, f.cand = f.tables.start[:], f.tables.size[:], &f.tables.cache, f.tables.cand[:0]
	for i, c := range pal {
		r, g, b, _ := c.RGBA()
		f.col[uint8(i)] = [4]int32{int32(r >> 8), int32(g >> 8), int32(b >> 8)}
	}
	return f
}

// list returns the candidate entries for colours in cell (cr, cg, cb).
func (f *nearestColor) list(cr, cg, cb int32) []uint8 {
	cell := cr<<(2*nearCellBits) | cg<<nearCellBits | cb
	if s := f.start[cell]; s != 0 {
		return f.cand[s-1 : s-1+int32(f.size[cell])]
	}
	const side = 1<<nearCellShift - 1
	rlo, glo, blo := cr<<nearCellShift, cg<<nearCellShift, cb<<nearCellShift
	rhi, ghi, bhi := rlo+side, glo+side, blo+side
	var near [256]int32
	bound := int32(1 << 30)
	for i := f.first; i < f.n; i++ {
		c := &f.col[uint8(i)]
		fr, fg, fb := max(c[0]-rlo, rhi-c[0]), max(c[1]-glo, ghi-c[1]), max(c[2]-blo, bhi-c[2])
		bound = min(bound, fr*fr+fg*fg+fb*fb)
		nr, ng, nb := max(rlo-c[0], c[0]-rhi, 0), max(glo-c[1], c[1]-ghi, 0), max(blo-c[2], c[2]-bhi, 0)
		near[uint8(i)] = nr*nr + ng*ng + nb*nb
	}
	s := len(f.cand)
	for i := f.first; i < f.n; i++ {
		if near[uint8(i)] <= bound {
			f.cand = append(f.cand, uint8(i))
		}
	}
	f.start[cell] = int32(s) + 1
	f.size[cell] = uint16(len(f.cand) - s)
	return f.cand[s:]
}

// lookup returns the palette index for the colour (r, g, b), each 0..255.
func (f *nearestColor) lookup(r, g, b int32) uint8 {
	k := r>>nearGridShift<<(2*nearGridBits) | g>>nearGridShift<<nearGridBits | b>>nearGridShift
	if v := f.cache[k]; v != 0 {
		return uint8(v - 1)
	}
	return f.search(k, r, g, b)
}

// search finds and caches the entry nearest to the centre of grid cell k,
// which holds (r, g, b).
func (f *nearestColor) search(k, r, g, b int32) uint8 {
	const half = 1 << nearGridShift >> 1
	r, g, b = r>>nearGridShift<<nearGridShift+half, g>>nearGridShift<<nearGridShift+half, b>>nearGridShift<<nearGridShift+half
	// Distance and index packed in one int32 (distance < 2^18), so that
	// min picks the nearest, lowest index first, without a branch.
	best := int32(1<<31 - 1)
	for _, i := range f.list(r>>nearCellShift, g>>nearCellShift, b>>nearCellShift) {
		c := &f.col[i]
		dr, dg, db := c[0]-r, c[1]-g, c[2]-b
		best = min(best, (dr*dr+dg*dg+db*db)<<8|int32(i))
	}
	bi := uint8(best)
	f.cache[k] = uint16(bi) + 1
	return bi
}

// ditherFS maps img onto pal (opaque colours, after a transparent entry at
// index 0 when transparent) with serpentine Floyd-Steinberg error
// diffusion. Transparent pixels neither take nor pass on error.
func ditherFS(img *image.RGBA, dst *image.Paletted, pal color.Palette, transparent bool) {
	first := 0
	if transparent {
		first = 1
	}
	f := newNearestColor(pal, first)
	defer f.release()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	cur := make([][3]int32, w+2)
	next := make([][3]int32, w+2)
	for y := range h {
		row := img.Pix[y*img.Stride : y*img.Stride+w*4]
		out := dst.Pix[y*dst.Stride : y*dst.Stride+w]
		f.ditherRow(row, out, nil, true, y, cur, next)
		cur, next = next, cur
	}
}

// ditherRow maps one row of pixels onto f's palette with serpentine
// Floyd-Steinberg error diffusion, right to left on odd rows y. cur holds
// the errors the row takes, in 1/16ths with one pixel of padding each
// side; next receives those of the row below. With mark, only the marked
// pixels are mapped and take error (the others keep theirs: what an
// animation frame leaves unchanged); with cutAlpha, a pixel under half
// opaque is index 0, transparent.
func (f *nearestColor) ditherRow(row []byte, out []uint8, mark []bool, cutAlpha bool, y int, cur, next [][3]int32) {
	w := len(out)
	clear(next)
	x, end, dx := 0, w, 1
	if y%2 == 1 {
		x, end, dx = w-1, -1, -1
	}
	for ; x != end; x += dx {
		if mark != nil && !mark[x] {
			continue
		}
		p := (*[4]uint8)(row[x*4:])
		if cutAlpha && p[3] < 128 {
			out[x] = 0
			continue
		}
		r, g, b := opaqueRGB(p)
		e := &cur[x+1]
		r = min(max(r+(e[0]+8)>>4, 0), 255)
		g = min(max(g+(e[1]+8)>>4, 0), 255)
		b = min(max(b+(e[2]+8)>>4, 0), 255)
		// f.lookup, by hand: it is too big to be inlined.
		cell := r>>nearGridShift<<(2*nearGridBits) | g>>nearGridShift<<nearGridBits | b>>nearGridShift
		v := f.cache[cell&(1<<(3*nearGridBits)-1)]
		k := uint8(v - 1)
		if v == 0 {
			k = f.search(cell, r, g, b)
		}
		out[x] = k
		c := &f.col[k]
		er, eg, eb := r-c[0], g-c[1], b-c[2]
		if er|eg|eb == 0 {
			continue
		}
		fw, bw, dn := &cur[x+1+dx], &next[x+1-dx], &next[x+1]
		fw[0] += er * 7
		fw[1] += eg * 7
		fw[2] += eb * 7
		bw[0] += er * 3
		bw[1] += eg * 3
		bw[2] += eb * 3
		dn[0] += er * 5
		dn[1] += eg * 5
		dn[2] += eb * 5
		fw = &next[x+1+dx]
		fw[0] += er
		fw[1] += eg
		fw[2] += eb
	}
}
