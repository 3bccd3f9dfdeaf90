package main

import (
	"compress/lzw"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/gif"
	"io"
	"sync"
)

// GIF decoding one frame at a time. image/gif's DecodeAll holds every
// frame of an animation before the first is used, and the engine then
// composited each onto a fresh full-size canvas: memory grew with the
// frame count. gifReader decodes one frame at a time
// into a reused buffer, a gifCanvas composites it onto the one canvas of
// the request and says which rectangle changed, and the frame is scaled,
// quantised and dropped before the next is read. Frame for frame the
// pixels, delays, disposals and loop count are image/gif's (tested
// against it), and so are the errors: gifReader checks what image/gif
// checks, in the same order.

// gifAnim is an animated GIF, decoded lazily: each walk over its frames
// reads them from data.
type gifAnim struct {
	data      []byte
	noTrailer bool // the stream ends after a frame without a trailer
	frames    int
	loopCount int // as gif.GIF.LoopCount
}

// gifReader reads the frames of a GIF held in memory, in order.
type gifReader struct {
	data          []byte
	p             int
	noTrailer     bool
	width, height int
	loopCount     int
	global        []byte // global colour table, 3 bytes an entry, or nil
	// Graphic control state as image/gif keeps it: delay and transparency
	// last one frame, the disposal method until the next extension.
	delay       int
	disposal    byte
	transparent int // index, or -1
	frames      int // frames read
	lzw         *lzw.Reader
	pix, tmp    []byte
}

// gifImage is one frame as read: its rectangle on the canvas, its colour
// indexes (valid until the next read) and its palette as premultiplied
// little-endian RGBA (indexes past the palette are transparent; image/gif
// refuses frames that use them).
type gifImage struct {
	rect     image.Rectangle
	pix      []byte
	lut      [256]uint32
	delay    int
	disposal byte
}

var (
	errGIFNotEnough = corrupt(formatGIF, "not enough image data")
	errGIFTooMuch   = corrupt(formatGIF, "too much image data")
	errGIFBadPixel  = corrupt(formatGIF, "invalid pixel value")
)

// gifLZWPool keeps LZW decoders (about 20 KB of tables each) from one
// request to the next; a cache of scratch memory, not state.
var gifLZWPool sync.Pool

func newGIFReader(data []byte, noTrailer bool) (*gifReader, error) {
	g := &gifReader{data: data, noTrailer: noTrailer, loopCount: -1, transparent: -1}
	if len(data) < 13 {
		return nil, corrupt(formatGIF, "reading header: unexpected EOF")
	}
	if v := string(data[:6]); v != "GIF87a" && v != "GIF89a" {
		return nil, fmt.Errorf("gif: can't recognize format %q", v)
	}
	g.width = int(data[6]) | int(data[7])<<8
	g.height = int(data[8]) | int(data[9])<<8
	g.p = 13
	if fields := data[10]; fields&0x80 != 0 {
		n := 3 << (1 + fields&7)
		if len(data)-g.p < n {
			return nil, corrupt(formatGIF, "reading color table: unexpected EOF")
		}
		g.global = data[g.p : g.p+n]
		g.p += n
	}
	return g, nil
}

// release gives the LZW decoder back for the next request.
func (g *gifReader) release() {
	if g.lzw != nil {
		gifLZWPool.Put(g.lzw)
		g.lzw = nil
	}
}

func (g *gifReader) byte() (byte, error) {
	if g.p >= len(g.data) {
		return 0, io.ErrUnexpectedEOF
	}
	b := g.data[g.p]
	g.p++
	return b, nil
}

func (g *gifReader) bytes(n int) ([]byte, error) {
	if len(g.data)-g.p < n {
		g.p = len(g.data)
		return nil, io.ErrUnexpectedEOF
	}
	b := g.data[g.p : g.p+n]
	g.p += n
	return b, nil
}

// block reads a data sub-block: its bytes, nil for the terminator.
func (g *gifReader) block() ([]byte, error) {
	n, err := g.byte()
	if n == 0 || err != nil {
		return nil, err
	}
	return g.bytes(int(n))
}

// next reads the next frame into f; io.EOF after the last.
func (g *gifReader) next(f *gifImage) error {
	for {
		if g.p == len(g.data) && g.noTrailer && g.frames > 0 {
			return io.EOF
		}
		c, err := g.byte()
		if err != nil {
			return fmt.Errorf("gif: reading frames: %v", err)
		}
		switch c {
		case 0x21:
			if err := g.extension(); err != nil {
				return err
			}
		case 0x2c:
			if err := g.image(f); err != nil {
				return err
			}
			g.frames++
			return nil
		case 0x3b:
			if g.frames == 0 {
				return corrupt(formatGIF, "missing image data")
			}
			return io.EOF
		default:
			return fmt.Errorf("gif: unknown block type: 0x%.2x", c)
		}
	}
}

func (g *gifReader) extension() error {
	label, err := g.byte()
	if err != nil {
		return fmt.Errorf("gif: reading extension: %v", err)
	}
	size := 0
	switch label {
	case 0x01: // plain text
		size = 13
	case 0xf9: // graphic control
		b, err := g.bytes(6)
		if err != nil {
			return fmt.Errorf("gif: can't read graphic control: %s", err)
		}
		if b[0] != 4 {
			return fmt.Errorf("gif: invalid graphic control extension block size: %d", b[0])
		}
		g.disposal = (b[1] & 0x1c) >> 2
		g.delay = int(b[2]) | int(b[3])<<8
		if b[1]&1 != 0 {
			g.transparent = int(b[4])
		}
		if b[5] != 0 {
			return fmt.Errorf("gif: invalid graphic control extension block terminator: %d", b[5])
		}
		return nil
	case 0xfe: // comment
	case 0xff: // application
		b, err := g.byte()
		if err != nil {
			return fmt.Errorf("gif: reading extension: %v", err)
		}
		size = int(b)
	default:
		return fmt.Errorf("gif: unknown extension 0x%.2x", label)
	}
	var head []byte
	if size > 0 {
		if head, err = g.bytes(size); err != nil {
			return fmt.Errorf("gif: reading extension: %v", err)
		}
	}
	if label == 0xff && string(head) == "NETSCAPE2.0" {
		b, err := g.block()
		if err != nil {
			return fmt.Errorf("gif: reading extension: %v", err)
		}
		if b == nil {
			return nil
		}
		if len(b) == 3 && b[0] == 1 {
			g.loopCount = int(b[1]) | int(b[2])<<8
		}
	}
	for {
		b, err := g.block()
		if err != nil {
			return fmt.Errorf("gif: reading extension: %v", err)
		}
		if b == nil {
			return nil
		}
	}
}

// image reads an image descriptor and its data into f.
func (g *gifReader) image(f *gifImage) error {
	d, err := g.bytes(9)
	if err != nil {
		return fmt.Errorf("gif: can't read image descriptor: %s", err)
	}
	left, top := int(d[0])|int(d[1])<<8, int(d[2])|int(d[3])<<8
	w, h := int(d[4])|int(d[5])<<8, int(d[6])|int(d[7])<<8
	fields := d[8]
	if left+w > g.width || top+h > g.height {
		return corrupt(formatGIF, "frame bounds larger than image bounds")
	}
	f.rect = image.Rect(left, top, left+w, top+h)
	table := g.global
	if fields&0x80 != 0 {
		if table, err = g.bytes(3 << (1 + fields&7)); err != nil {
			return fmt.Errorf("gif: reading color table: %s", err)
		}
	} else if table == nil {
		return corrupt(formatGIF, "no color table")
	}
	n := len(table) / 3
	for i := range n {
		f.lut[i] = uint32(table[3*i]) | uint32(table[3*i+1])<<8 | uint32(table[3*i+2])<<16 | 0xff000000
	}
	clear(f.lut[n:])
	if t := g.transparent; t >= 0 {
		// A transparent index past the table makes image/gif extend the
		// palette with transparent entries, as browsers do.
		f.lut[t] = 0
		n = max(n, t+1)
	}
	lit, err := g.byte()
	if err != nil {
		return fmt.Errorf("gif: reading image data: %v", err)
	}
	if lit < 2 || lit > 8 {
		return fmt.Errorf("gif: pixel size in decode out of range: %d", lit)
	}
	if cap(g.pix) < w*h {
		g.pix = make([]byte, w*h)
	}
	f.pix = g.pix[:w*h]
	br := &gifBlockReader{g: g}
	if g.lzw == nil {
		if z, _ := gifLZWPool.Get().(*lzw.Reader); z != nil {
			g.lzw = z
		} else {
			g.lzw = lzw.NewReader(nil, lzw.LSB, 8).(*lzw.Reader)
		}
	}
	g.lzw.Reset(br, lzw.LSB, int(lit))
	if _, err := io.ReadFull(g.lzw, f.pix); err != nil {
		if err != io.ErrUnexpectedEOF && err != io.EOF {
			return fmt.Errorf("gif: reading image data: %v", err)
		}
		return errGIFNotEnough
	}
	// Both the LZW stream and the sub-blocks must end here (image/gif
	// also accepts an LZW stream without its end code, and one stray
	// sub-block).
	var one [1]byte
	if k, err := g.lzw.Read(one[:]); k != 0 || (err != io.EOF && err != io.ErrUnexpectedEOF) {
		if err != nil {
			return fmt.Errorf("gif: reading image data: %v", err)
		}
		return errGIFTooMuch
	}
	if err := br.close(); err == errGIFTooMuch {
		return err
	} else if err != nil {
		return fmt.Errorf("gif: reading image data: %v", err)
	}
	if n < 256 {
		for _, v := range f.pix {
			if int(v) >= n {
				return errGIFBadPixel
			}
		}
	}
	if fields&0x40 != 0 {
		g.uninterlace(f.pix, w, h)
	}
	f.delay, f.disposal = g.delay, g.disposal
	g.delay, g.transparent = 0, -1
	return nil
}

// uninterlace puts the rows of an interlaced frame in order.
func (g *gifReader) uninterlace(pix []byte, w, h int) {
	if cap(g.tmp) < len(pix) {
		g.tmp = make([]byte, len(pix))
	}
	out := g.tmp[:len(pix)]
	src := 0
	for _, pass := range [4][2]int{{0, 8}, {4, 8}, {2, 4}, {1, 2}} {
		for y := pass[0]; y < h; y += pass[1] {
			copy(out[y*w:(y+1)*w], pix[src:src+w])
			src += w
		}
	}
	copy(pix, out)
}

// gifBlockReader presents the data sub-blocks of a frame as one stream
// to the LZW decoder, as image/gif's blockReader does, straight from the
// GIF's bytes.
type gifBlockReader struct {
	g    *gifReader
	i, j int // g.data[i:j] is the rest of the current sub-block
	n    int // size of the current sub-block
	err  error
}

func (b *gifBlockReader) fill() {
	if b.err != nil {
		return
	}
	n, err := b.g.byte()
	b.n = int(n)
	if err != nil {
		b.err = err
		return
	}
	if n == 0 {
		b.err = io.EOF
		return
	}
	blk, err := b.g.bytes(int(n))
	if err != nil {
		b.err, b.n = err, 0
		return
	}
	b.i = b.g.p - len(blk)
	b.j = b.g.p
}

func (b *gifBlockReader) ReadByte() (byte, error) {
	if b.i == b.j {
		b.fill()
		if b.err != nil {
			return 0, b.err
		}
	}
	c := b.g.data[b.i]
	b.i++
	return c, nil
}

func (b *gifBlockReader) Read(p []byte) (int, error) {
	if len(p) == 0 || b.err != nil {
		return 0, b.err
	}
	if b.i == b.j {
		b.fill()
		if b.err != nil {
			return 0, b.err
		}
	}
	n := copy(p, b.g.data[b.i:b.j])
	b.i += n
	return n, nil
}

// close checks that the sub-blocks end with the LZW data, allowing one
// stray sub-block as image/gif does.
func (b *gifBlockReader) close() error {
	if b.err == io.EOF {
		return nil
	} else if b.err != nil {
		return b.err
	}
	if b.i == b.j {
		b.fill()
		if b.err == io.EOF {
			return nil
		} else if b.err != nil {
			return b.err
		} else if b.n > 1 {
			return errGIFTooMuch
		}
	}
	b.fill()
	if b.err == io.EOF {
		return nil
	} else if b.err != nil {
		return b.err
	}
	return errGIFTooMuch
}

// gifCanvas composites frames the way browsers do: the canvas starts
// transparent, each frame is drawn over it inside its own rectangle
// (transparent pixels keep what is below), then disposed of: kept (none,
// unspecified), cleared to transparent (background: browsers ignore the
// background colour) or put back as it was before the frame (previous).
// It tracks the rectangle each frame changed, so that the scaler can
// redo only that part.
type gifCanvas struct {
	img   *image.RGBA
	prev  []byte // img's pixels as last reported, to find what changed
	runs  []canvasRun
	saved []byte // the canvas under the last frame, for disposal previous
	// The last frame's rectangle and disposal, applied when the next
	// frame is drawn (never after the last: the canvas then shows it).
	last     image.Rectangle
	disposal byte
	frames   int
}

func newGIFCanvas(width, height int) *gifCanvas {
	return &gifCanvas{img: image.NewRGBA(image.Rect(0, 0, width, height))}
}

// draw disposes of the previous frame, composites f and returns the
// runs of pixels that changed since the last draw (every row for the
// first frame), valid until the next draw.
func (c *gifCanvas) draw(f *gifImage) []canvasRun {
	touched := c.composite(f)
	if c.frames == 1 {
		c.prev = append(c.prev[:0], c.img.Pix...)
		c.runs = wholeRuns(c.runs[:0], c.img.Rect)
		return c.runs
	}
	c.runs = diffRuns(c.runs[:0], c.img, c.prev, touched)
	return c.runs
}

// composite disposes of the previous frame and draws f; it returns the
// rectangle that both touched.
func (c *gifCanvas) composite(f *gifImage) image.Rectangle {
	dirty := c.dispose()
	if c.frames == 0 {
		dirty = c.img.Rect
	}
	c.frames++
	r := f.rect.Intersect(c.img.Rect)
	rowBytes := 4 * r.Dx()
	if f.disposal == gif.DisposalPrevious {
		c.saved = c.saved[:0]
		for y := r.Min.Y; y < r.Max.Y; y++ {
			o := c.img.PixOffset(r.Min.X, y)
			c.saved = append(c.saved, c.img.Pix[o:o+rowBytes]...)
		}
	}
	w := f.rect.Dx()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		src := f.pix[(y-f.rect.Min.Y)*w+(r.Min.X-f.rect.Min.X):][:r.Dx()]
		dst := c.img.Pix[c.img.PixOffset(r.Min.X, y):][:rowBytes]
		for i, idx := range src {
			if v := f.lut[idx]; v>>24 != 0 { // GIF colours are opaque or transparent
				dst[4*i], dst[4*i+1], dst[4*i+2], dst[4*i+3] = uint8(v), uint8(v>>8), uint8(v>>16), 0xff
			}
		}
	}
	c.last, c.disposal = r, f.disposal
	return dirty.Union(r)
}

// dispose applies the last frame's disposal and returns what it changed.
func (c *gifCanvas) dispose() image.Rectangle {
	r := c.last
	rowBytes := 4 * r.Dx()
	switch c.disposal {
	case gif.DisposalBackground:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			o := c.img.PixOffset(r.Min.X, y)
			clear(c.img.Pix[o : o+rowBytes])
		}
	case gif.DisposalPrevious:
		for y, i := r.Min.Y, 0; y < r.Max.Y; y, i = y+1, i+rowBytes {
			o := c.img.PixOffset(r.Min.X, y)
			copy(c.img.Pix[o:o+rowBytes], c.saved[i:i+rowBytes])
		}
	default:
		return image.Rectangle{}
	}
	return r
}

// eachCanvas calls fn for every frame of the animation in display order
// with the composited canvas, the pixels that changed since the last
// call and the frame's delay. The canvas is the walk's own: fn must not
// modify it, and may keep it only if it stops the walk.
func (a *gifAnim) eachCanvas(ctx context.Context, width, height int, fn func(img *image.RGBA, changed []canvasRun, delay int) error) error {
	c := newGIFCanvas(width, height)
	return a.readFrames(ctx, func(f *gifImage) error { return fn(c.img, c.draw(f), f.delay) })
}

// check reads every frame without compositing, for the errors.
func (a *gifAnim) check(ctx context.Context) error {
	return a.readFrames(ctx, func(*gifImage) error { return nil })
}

// readFrames reads the frames in order and calls fn with each, until the
// end, a read error (errCorruptImage), fn's error or the end of ctx
// (looked at before each frame).
func (a *gifAnim) readFrames(ctx context.Context, fn func(f *gifImage) error) error {
	g, err := newGIFReader(a.data, a.noTrailer)
	if err != nil {
		return fmt.Errorf("decode gif: %w", codecError(formatGIF, err))
	}
	defer g.release()
	var f gifImage
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("decode gif: %w", err)
		}
		err := g.next(&f)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("decode gif: %w", codecError(formatGIF, err))
		}
		if err := fn(&f); err != nil {
			return err
		}
	}
}

// canvasRun is a run of pixels of a canvas that changed: row y, columns
// [x0, x1). Runs come in row order, then column order.
type canvasRun struct{ y, x0, x1 int }

// wholeRuns appends one run per row of r.
func wholeRuns(runs []canvasRun, r image.Rectangle) []canvasRun {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		runs = append(runs, canvasRun{y, r.Min.X, r.Max.X})
	}
	return runs
}

// diffGap is the number of unchanged pixels under which two runs of
// changed pixels of a row count as one: the resampler's kernels are far
// wider, so splitting finer saves nothing.
const diffGap = 16

// diffRuns appends the runs of pixels inside r where img differs from
// prev (img's pixels as last reported, same layout), and brings prev up
// to date.
func diffRuns(runs []canvasRun, img *image.RGBA, prev []byte, r image.Rectangle) []canvasRun {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := img.PixOffset(r.Min.X, y)
		cur, old := img.Pix[o:o+4*r.Dx()], prev[o:o+4*r.Dx()]
		start, end := -1, -1 // the open run, in pixels from r.Min.X
		x := 0
		for x < r.Dx() {
			// Eight bytes (two pixels) a step while nothing changes.
			if x+2 <= r.Dx() && binary.LittleEndian.Uint64(cur[4*x:]) == binary.LittleEndian.Uint64(old[4*x:]) {
				x += 2
				continue
			}
			if binary.LittleEndian.Uint32(cur[4*x:]) != binary.LittleEndian.Uint32(old[4*x:]) {
				if start >= 0 && x-end >= diffGap {
					runs = append(runs, canvasRun{y, r.Min.X + start, r.Min.X + end})
					copy(old[4*start:4*end], cur[4*start:4*end])
					start = -1
				}
				if start < 0 {
					start = x
				}
				end = x + 1
			}
			x++
		}
		if start >= 0 {
			runs = append(runs, canvasRun{y, r.Min.X + start, r.Min.X + end})
			copy(old[4*start:4*end], cur[4*start:4*end])
		}
	}
	return runs
}

func (a *gifAnim) frameCount() int { return a.frames }

func (a *gifAnim) loops() int { return a.loopCount }

// gifLayout is what walkGIF learns.
type gifLayout struct {
	width, height int  // logical screen
	frames        int  // image descriptors
	trailer       bool // the stream ends with a trailer block
	// loopCount has the meaning of gif.GIF.LoopCount: the last
	// NETSCAPE2.0 extension's, -1 when there is none.
	loopCount int
}

// walkGIF reads the logical screen and counts the frames of a GIF by
// walking its blocks exactly as image/gif parses them, jumping over the
// data sub-blocks instead of decompressing them. It checks what image/gif
// checks on the way (frame inside the screen, a colour table, LZW code
// size), so it never counts fewer frames than image/gif would decode. A
// stream that ends cleanly after at least one frame but without the
// trailer is accepted; one that ends inside a block is corrupt.
func walkGIF(data []byte) (gifLayout, error) {
	l := gifLayout{loopCount: -1}
	corrupt := func(what string) (gifLayout, error) {
		return gifLayout{}, fmt.Errorf("read gif header: %w", corrupt(formatGIF, what))
	}
	if len(data) < 13 {
		return corrupt("truncated screen descriptor")
	}
	l.width = int(data[6]) | int(data[7])<<8
	l.height = int(data[8]) | int(data[9])<<8
	p := 13
	globalTable := data[10]&0x80 != 0
	if globalTable {
		p += 3 << (1 + data[10]&7)
	}
	// subBlocks skips data sub-blocks up to and including the terminator.
	subBlocks := func() bool {
		for p < len(data) {
			n := int(data[p])
			p += 1 + n
			if n == 0 {
				return true
			}
		}
		return false
	}
	for {
		if p >= len(data) {
			if p > len(data) {
				return corrupt("truncated")
			}
			if l.frames == 0 {
				return corrupt("no frames")
			}
			return l, nil
		}
		block := data[p]
		p++
		switch block {
		case 0x21: // extension
			if p >= len(data) {
				return corrupt("truncated extension")
			}
			label := data[p]
			p++
			switch label {
			case 0xf9: // graphic control: fixed size, no sub-blocks after
				if p+6 > len(data) {
					return corrupt("truncated graphic control extension")
				}
				if data[p] != 4 || data[p+5] != 0 {
					return corrupt("invalid graphic control extension")
				}
				p += 6
				continue
			case 0x01: // plain text: image/gif reads 13 bytes, then sub-blocks
				p += 13
			case 0xfe: // comment
			case 0xff: // application: a sized block, then sub-blocks
				if p >= len(data) {
					return corrupt("truncated application extension")
				}
				n := int(data[p])
				netscape := p+1+n <= len(data) && string(data[p+1:p+1+n]) == "NETSCAPE2.0"
				p += 1 + n
				// Its first sub-block: 1, then the loop count.
				if netscape && p+4 <= len(data) && data[p] == 3 && data[p+1] == 1 {
					l.loopCount = int(data[p+2]) | int(data[p+3])<<8
				}
			default:
				return corrupt(fmt.Sprintf("unknown extension 0x%02x", label))
			}
			if p > len(data) || !subBlocks() {
				return corrupt("truncated extension")
			}
		case 0x2c: // image descriptor
			if p+10 > len(data) {
				return corrupt("truncated image descriptor")
			}
			left := int(data[p]) | int(data[p+1])<<8
			top := int(data[p+2]) | int(data[p+3])<<8
			w := int(data[p+4]) | int(data[p+5])<<8
			h := int(data[p+6]) | int(data[p+7])<<8
			fields := data[p+8]
			p += 9
			if left+w > l.width || top+h > l.height {
				return corrupt("frame outside the logical screen")
			}
			if fields&0x80 != 0 {
				p += 3 << (1 + fields&7)
			} else if !globalTable {
				return corrupt("no colour table")
			}
			if p >= len(data) {
				return corrupt("truncated image data")
			}
			if lit := data[p]; lit < 2 || lit > 8 {
				return corrupt("invalid LZW code size")
			}
			p++
			if !subBlocks() {
				return corrupt("truncated image data")
			}
			l.frames++
		case 0x3b: // trailer
			if l.frames == 0 {
				return corrupt("no frames")
			}
			l.trailer = true
			return l, nil
		default:
			return corrupt(fmt.Sprintf("unknown block 0x%02x", block))
		}
	}
}
