package main

// Writing animated GIFs frame by frame, each as the rectangle that
// changed, with a shared palette where the frames allow.

import (
	"bufio"
	"compress/lzw"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"
)

// gifAnimation writes an animated GIF as its frames come, so that only
// about two frames of pixels are alive at a time, whatever the number of
// frames. Each frame after the first is written as the rectangle of
// pixels that differ from what the viewer shows before it, with the
// transparent index for the pixels inside it that stay as they are.
//
// What the viewer shows is tracked exactly (shown): a GIF viewer starts
// from a transparent canvas, draws each frame's opaque pixels over it,
// then disposes of the frame: kept (DisposalNone) or its rectangle
// cleared to transparent (DisposalBackground; browsers ignore the
// background colour). A frame is written when the next one comes (or at
// finish), because that one decides the disposal: a pixel that turns
// transparent can only be cleared by the previous frame's disposal, so
// that frame's rectangle grows to cover it.
//
// Quantisation is done here too, so that it is stable from frame to
// frame: only the pixels that need drawing are quantised (those whose
// colour changed in the source frame, or that a disposal cleared), and
// error diffusion stays among them, so an unchanged area keeps its
// dithered pixels and costs nothing. They use the global palette, the
// first frame's, when it serves them about as well as a palette of their
// own; otherwise the frame gets a local palette. Index 0 is the
// transparent entry of every palette.
type gifAnimation struct {
	w         *bufio.Writer
	loopCount int
	width     int
	height    int
	n         int // frames added

	global   color.Palette // the first frame's palette, transparent first
	globalNC *nearestColor // nearest entries of global, kept for all frames
	globalIx map[uint32]uint8

	shown   []uint32 // the canvas the viewer shows after the last frame added: 0xffRRGGBB or 0
	prevSrc []byte   // the last frame's source pixels, to find what changed
	mark    []bool   // pixels to draw in the frame being added
	index   []uint8  // the frame's palette indexes, canvas layout
	firstT  image.Rectangle

	pending gifOutFrame // the last frame added, written when the next comes
	lzw     *lzw.Writer
	blocks  gifBlockWriter
	err     error
}

// gifOutFrame is a frame ready to write but for its disposal.
type gifOutFrame struct {
	rect     image.Rectangle
	pix      []uint8       // rect's indexes, stride rect.Dx(); 0 keeps what is below
	palette  color.Palette // nil: the global palette
	delay    int
	disposal byte
}

// gifMaxColors is the number of opaque colours of a palette: one entry
// of the 256 is the transparent one.
const gifMaxColors = 255

func newGIFAnimation(w io.Writer, loopCount int) *gifAnimation {
	bw := bufio.NewWriterSize(w, 1<<16)
	return &gifAnimation{w: bw, loopCount: loopCount, blocks: gifBlockWriter{w: bw}}
}

// add quantises and queues a full-canvas frame shown for delay 1/100 s,
// and writes the frame before it.
func (a *gifAnimation) add(img *image.RGBA, delay int) error {
	if a.err != nil {
		return a.err
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if a.n == 0 {
		if w < 1 || h < 1 || w > 1<<16-1 || h > 1<<16-1 {
			return fmt.Errorf("encode gif: %w: %dx%d is outside 1..65535", errTooLarge, w, h)
		}
		a.width, a.height = w, h
		a.shown = make([]uint32, w*h)
		a.prevSrc = make([]byte, w*h*4)
		a.mark = make([]bool, w*h)
		a.index = make([]uint8, w*h)
	} else if w != a.width || h != a.height {
		return fmt.Errorf("encode gif: frame %d is %dx%d, want %dx%d", a.n, w, h, a.width, a.height)
	}
	if a.n > 0 {
		a.clearFor(img)
		if err := a.flush(); err != nil {
			return err
		}
	}
	a.pending = a.quantize(img, delay)
	a.n++
	return nil
}

// clearFor decides the pending frame's disposal from img, the frame that
// follows it: when img is transparent where the canvas is not, the
// pending frame's rectangle grows to cover those pixels and is cleared.
func (a *gifAnimation) clearFor(img *image.RGBA) {
	var gone image.Rectangle
	for y := range a.height {
		row := img.Pix[y*img.Stride : y*img.Stride+a.width*4]
		shown := a.shown[y*a.width : y*a.width+a.width]
		for x, c := range shown {
			if c != 0 && row[x*4+3] < 128 {
				gone = gone.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	a.dispose(gone)
}

// dispose sets the pending frame's disposal: background, its rectangle
// grown to cover gone, when gone is not empty, else none. It brings
// shown up to date.
func (a *gifAnimation) dispose(gone image.Rectangle) {
	p := &a.pending
	if gone.Empty() {
		p.disposal = gif.DisposalNone
		return
	}
	p.disposal = gif.DisposalBackground
	if r := p.rect.Union(gone); r != p.rect {
		// The new pixels keep what is below (index 0).
		pix := make([]uint8, r.Dx()*r.Dy())
		for y := p.rect.Min.Y; y < p.rect.Max.Y; y++ {
			o := (y-r.Min.Y)*r.Dx() + p.rect.Min.X - r.Min.X
			copy(pix[o:o+p.rect.Dx()], p.pix[(y-p.rect.Min.Y)*p.rect.Dx():])
		}
		p.rect, p.pix = r, pix
	}
	for y := p.rect.Min.Y; y < p.rect.Max.Y; y++ {
		clear(a.shown[y*a.width+p.rect.Min.X : y*a.width+p.rect.Max.X])
	}
}

// quantize finds the pixels of img to draw over the canvas shown now,
// quantises them, and returns them as a frame; shown then holds img as
// the viewer will show it.
func (a *gifAnimation) quantize(img *image.RGBA, delay int) gifOutFrame {
	W := a.width
	first := a.n == 0
	// The pixels to draw: opaque ones whose source colour changed or
	// that the canvas does not show.
	h := getWuHist()
	defer wuHistPool.Put(h)
	var box image.Rectangle
	for y := range a.height {
		row := img.Pix[y*img.Stride : y*img.Stride+W*4]
		prev := a.prevSrc[y*W*4 : y*W*4+W*4]
		shown := a.shown[y*W : y*W+W]
		mark := a.mark[y*W : y*W+W]
		x0, x1 := -1, 0
		for x := range mark {
			p := (*[4]uint8)(row[x*4:])
			draw := p[3] >= 128 && (first || shown[x] == 0 ||
				binary.LittleEndian.Uint32(row[x*4:]) != binary.LittleEndian.Uint32(prev[x*4:]))
			mark[x] = draw
			if !draw {
				if p[3] < 128 && first {
					a.firstT = a.firstT.Union(image.Rect(x, y, x+1, y+1))
				}
				continue
			}
			if x0 < 0 {
				x0 = x
			}
			x1 = x + 1
		}
		h.addRow(row, mark)
		if x0 >= 0 {
			box = box.Union(image.Rect(x0, y, x1, y+1))
		}
		copy(prev, row)
	}

	pal, nc := a.palette(img, box, h, first)
	if nc != nil {
		ditherMasked(img, box, a.mark, W, a.index, nc)
	}
	if first {
		a.global, a.globalNC = pal, nc
		if nc == nil {
			a.globalNC = newNearestColor(pal, 1)
		}
		a.globalIx = make(map[uint32]uint8, len(pal))
		for i, c := range pal[1:] {
			a.globalIx[packRGB(c)] = uint8(i + 1)
		}
		pal = nil
	} else if nc != nil && nc != a.globalNC {
		nc.release()
	}
	if samePalette(pal, a.global) {
		pal = nil
	}
	usePal := pal
	if usePal == nil {
		usePal = a.global
	}
	var packed [256]uint32
	for i, c := range usePal {
		packed[i] = packRGB(c)
	}

	// Drawn pixels whose colour the canvas already shows keep it.
	var rect image.Rectangle
	for y := box.Min.Y; y < box.Max.Y; y++ {
		mark := a.mark[y*W : y*W+W]
		index := a.index[y*W : y*W+W]
		shown := a.shown[y*W : y*W+W]
		x0, x1 := -1, 0
		keeping := false // the pixel before keeps what is below
		for x := box.Min.X; x < box.Max.X; x++ {
			if !mark[x] {
				index[x] = 0
				keeping = true
				continue
			}
			c := packed[index[x]]
			if c == shown[x] {
				// Extends a run that keeps; a lone pixel that keeps
				// would only break the runs LZW finds.
				if keeping || x+1 < box.Max.X && !mark[x+1] {
					index[x] = 0
				}
				continue
			}
			keeping = false
			shown[x] = c
			if x0 < 0 {
				x0 = x
			}
			x1 = x + 1
		}
		if x0 >= 0 {
			rect = rect.Union(image.Rect(x0, y, x1, y+1))
		}
	}
	if first {
		rect = image.Rect(0, 0, W, a.height)
	}
	if rect.Empty() {
		rect = image.Rect(0, 0, 1, 1) // nothing changed: one pixel that keeps
		a.index[0] = 0
	}
	f := gifOutFrame{rect: rect, palette: pal, delay: delay, pix: make([]uint8, rect.Dx()*rect.Dy())}
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		row := f.pix[(y-rect.Min.Y)*rect.Dx() : (y-rect.Min.Y+1)*rect.Dx()]
		if box.Min.Y <= y && y < box.Max.Y {
			for x := rect.Min.X; x < rect.Max.X; x++ {
				if box.Min.X <= x && x < box.Max.X {
					row[x-rect.Min.X] = a.index[y*W+x]
				}
			}
		}
	}
	return f
}

// palette returns the palette for the marked pixels of img inside box,
// whose histogram h holds, and the nearest-colour finder to dither them
// with, having filled a.index for them when the palette is exact (nc
// nil). The first frame's palette is its own; later frames use the
// global one when their own would not be much better.
func (a *gifAnimation) palette(img *image.RGBA, box image.Rectangle, h *wuHist, first bool) (color.Palette, *nearestColor) {
	if pal, ok := a.exactPalette(img, box, first); ok {
		return pal, nil
	}
	own, ownErr := h.paletteSSE(gifMaxColors)
	own = append(color.Palette{color.RGBA{}}, own...)
	if first {
		return own, newNearestColor(own, 1)
	}
	// The global palette's error on the same pixels, undithered, up to
	// where it is too large.
	limit := gifGlobalSlack * ownErr
	var globErr float64
	nc := a.globalNC
	W := a.width
	for y := box.Min.Y; y < box.Max.Y; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+W*4]
		mark := a.mark[y*W : y*W+W]
		var sum int64
		for x := box.Min.X; x < box.Max.X; x++ {
			if !mark[x] {
				continue
			}
			r, g, b := opaqueRGB((*[4]uint8)(row[x*4:]))
			c := &nc.col[nc.lookup(r, g, b)]
			dr, dg, db := int64(r-c[0]), int64(g-c[1]), int64(b-c[2])
			sum += dr*dr + dg*dg + db*db
		}
		if globErr += float64(sum); globErr > limit {
			break
		}
	}
	if globErr <= limit {
		return a.global, nc
	}
	return own, newNearestColor(own, 1)
}

// gifGlobalSlack is how much more squared error than a frame's own
// palette the global palette may give it and still be used: a local
// palette costs up to 768 bytes and a change of dithering pattern.
const gifGlobalSlack = 1.3

// exactPalette fills a.index for the marked pixels inside box and
// returns their palette when they have at most gifMaxColors colours:
// the global palette when it holds them all (after the first frame),
// else their own.
func (a *gifAnimation) exactPalette(img *image.RGBA, box image.Rectangle, first bool) (color.Palette, bool) {
	const slots = 1024
	var keys [slots]uint32
	var idx [slots]uint8
	pal := color.Palette{color.RGBA{}}
	inGlobal := !first
	W := a.width
	for y := box.Min.Y; y < box.Max.Y; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+W*4]
		mark := a.mark[y*W : y*W+W]
		index := a.index[y*W : y*W+W]
		for x := box.Min.X; x < box.Max.X; x++ {
			if !mark[x] {
				continue
			}
			r, g, b := opaqueRGB((*[4]uint8)(row[x*4:]))
			key := 0xff000000 | uint32(r)<<16 | uint32(g)<<8 | uint32(b)
			s := (key * 0x9e3779b1) >> 22
			for keys[s] != key && keys[s] != 0 {
				s = (s + 1) & (slots - 1)
			}
			if keys[s] == 0 {
				if len(pal) == gifMaxColors+1 {
					return nil, false
				}
				keys[s], idx[s] = key, uint8(len(pal))
				pal = append(pal, color.RGBA{uint8(r), uint8(g), uint8(b), 255})
				if inGlobal {
					_, inGlobal = a.globalIx[key]
				}
			}
			index[x] = idx[s]
		}
	}
	if !inGlobal {
		return pal, true
	}
	for y := box.Min.Y; y < box.Max.Y; y++ {
		mark := a.mark[y*W : y*W+W]
		index := a.index[y*W : y*W+W]
		for x := box.Min.X; x < box.Max.X; x++ {
			if mark[x] {
				index[x] = a.globalIx[packRGB(pal[index[x]])]
			}
		}
	}
	return a.global, true
}

func packRGB(c color.Color) uint32 {
	r, g, b, al := c.RGBA()
	if al == 0 {
		return 0
	}
	return 0xff000000 | r>>8<<16 | g>>8<<8 | b>>8
}

func samePalette(a, b color.Palette) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// flush writes the pending frame, after the header for the first.
func (a *gifAnimation) flush() error {
	if a.n == 1 {
		a.writeHeader()
	}
	a.writeFrame(&a.pending)
	a.pending = gifOutFrame{}
	if a.err == nil {
		a.err = a.blocks.err
	}
	return a.err
}

// finish writes the last frame and the trailer. The last frame is
// followed by the first when the animation loops: if the first frame has
// transparent pixels, the last one clears them.
func (a *gifAnimation) finish() error {
	if a.err != nil {
		return a.err
	}
	if a.n == 0 {
		return fmt.Errorf("encode gif: no frames")
	}
	var gone image.Rectangle
	for y := a.firstT.Min.Y; y < a.firstT.Max.Y; y++ {
		for x := a.firstT.Min.X; x < a.firstT.Max.X; x++ {
			if a.shown[y*a.width+x] != 0 {
				gone = gone.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	a.dispose(gone)
	if err := a.flush(); err != nil {
		return err
	}
	a.w.WriteByte(0x3b)
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("encode gif: %w", err)
	}
	return nil
}

// writeHeader writes the header, the global palette and, for an
// animation, the loop count (image/gif's meaning: 0 forever, -1 no
// extension, n repeats).
func (a *gifAnimation) writeHeader() {
	w := a.w
	w.WriteString("GIF89a")
	var b [7]byte
	binary.LittleEndian.PutUint16(b[0:], uint16(a.width))
	binary.LittleEndian.PutUint16(b[2:], uint16(a.height))
	bits := paletteBits(len(a.global))
	b[4] = 0x80 | 0x70 | byte(bits-1) // global table, 8-bit colour resolution
	w.Write(b[:])
	writePalette(w, a.global, bits)
	if a.loopCount >= 0 {
		w.Write([]byte{0x21, 0xff, 0x0b})
		w.WriteString("NETSCAPE2.0")
		w.Write([]byte{0x03, 0x01, byte(a.loopCount), byte(a.loopCount >> 8), 0x00})
	}
}

// writeFrame writes f's graphic control extension (index 0 transparent),
// descriptor, local palette and LZW data.
func (a *gifAnimation) writeFrame(f *gifOutFrame) {
	w := a.w
	delay := min(max(f.delay, 0), 1<<16-1)
	w.Write([]byte{0x21, 0xf9, 0x04, f.disposal<<2 | 1, byte(delay), byte(delay >> 8), 0, 0})
	var d [10]byte
	d[0] = 0x2c
	binary.LittleEndian.PutUint16(d[1:], uint16(f.rect.Min.X))
	binary.LittleEndian.PutUint16(d[3:], uint16(f.rect.Min.Y))
	binary.LittleEndian.PutUint16(d[5:], uint16(f.rect.Dx()))
	binary.LittleEndian.PutUint16(d[7:], uint16(f.rect.Dy()))
	pal := a.global
	if f.palette != nil {
		pal = f.palette
		d[9] = 0x80 | byte(paletteBits(len(pal))-1)
	}
	w.Write(d[:])
	if f.palette != nil {
		writePalette(w, pal, paletteBits(len(pal)))
	}
	litWidth := max(2, paletteBits(len(pal)))
	w.WriteByte(byte(litWidth))
	if a.lzw == nil {
		a.lzw = lzw.NewWriter(&a.blocks, lzw.LSB, litWidth).(*lzw.Writer)
	} else {
		a.lzw.Reset(&a.blocks, lzw.LSB, litWidth)
	}
	a.lzw.Write(f.pix)
	a.lzw.Close()
	a.blocks.flush()
	w.WriteByte(0)
}

// paletteBits is the GIF size field of an n-colour palette: it holds
// 2^bits entries.
func paletteBits(n int) int {
	bits := 1
	for 1<<bits < n {
		bits++
	}
	return bits
}

// writePalette writes pal padded with black to 2^bits entries.
func writePalette(w *bufio.Writer, pal color.Palette, bits int) {
	for i := range 1 << bits {
		var r, g, b uint32
		if i < len(pal) {
			r, g, b, _ = pal[i].RGBA()
		}
		w.Write([]byte{byte(r >> 8), byte(g >> 8), byte(b >> 8)})
	}
}

// gifBlockWriter cuts LZW data into GIF's sub-blocks of up to 255 bytes.
type gifBlockWriter struct {
	w   *bufio.Writer
	buf [256]byte
	n   int
	err error
}

func (b *gifBlockWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := copy(b.buf[1+b.n:], p)
		b.n += k
		p = p[k:]
		if b.n == 255 {
			b.flush()
		}
	}
	return total, nil
}

func (b *gifBlockWriter) flush() {
	if b.n == 0 {
		return
	}
	b.buf[0] = byte(b.n)
	if _, err := b.w.Write(b.buf[:1+b.n]); err != nil && b.err == nil {
		b.err = fmt.Errorf("encode gif: %w", err)
	}
	b.n = 0
}

// ditherMasked maps the marked pixels of img inside box (mark and index
// in canvas layout, stride W) onto f's palette with serpentine
// Floyd-Steinberg error diffusion that stays among marked pixels: the
// others neither take nor pass on error, so that what a frame leaves
// unchanged keeps its pixels.
func ditherMasked(img *image.RGBA, box image.Rectangle, mark []bool, W int, index []uint8, f *nearestColor) {
	w := box.Dx()
	cur := make([][3]int32, w+2)
	next := make([][3]int32, w+2)
	for y := box.Min.Y; y < box.Max.Y; y++ {
		row := img.Pix[y*img.Stride+box.Min.X*4 : y*img.Stride+box.Max.X*4]
		m := mark[y*W+box.Min.X : y*W+box.Max.X]
		out := index[y*W+box.Min.X : y*W+box.Max.X]
		f.ditherRow(row, out, m, false, y, cur, next)
		cur, next = next, cur
	}
}
