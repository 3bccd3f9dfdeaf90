package main

import (
	"context"
	"encoding/binary"
	"image"
)

// Animated WebP sources, decoded frame by frame as they are walked, as
// animated GIFs are (gif.go): each ANMF frame (VP8 with its ALPH, or
// VP8L) is decoded when its turn comes and composited on the canvas,
// blended over it or not, the previous frame's rectangle cleared first
// when it asked to be disposed. The canvas starts, and is disposed to,
// transparent black, as libwebp's WebPAnimDecoder and browsers do: the
// ANIM background colour is only a hint.

// webpAnim is an animated WebP.
type webpAnim struct {
	data          []byte
	width, height int // the canvas
	frames        int
	loopCount     int // as gif.GIF.LoopCount
}

// webpANMF is an ANMF chunk's header and its frame's chunks.
type webpANMF struct {
	x, y, w, h int
	durationMS int
	blend      bool // alpha-blend over the canvas (else replace)
	dispose    bool // clear the rectangle to transparent after showing it
	layout     webpLayout
}

// newWebPAnim reads the animation's frames' headers and loop count.
func newWebPAnim(data []byte, width, height int) (*webpAnim, error) {
	a := &webpAnim{data: data, width: width, height: height}
	loops := 0
	err := walkWebPChunks(data, func(id string, payload []byte) error {
		switch id {
		case "ANIM":
			if len(payload) < 6 {
				return corrupt(formatWebP, "short ANIM chunk")
			}
			loops = int(binary.LittleEndian.Uint16(payload[4:6]))
		case "ANMF":
			if _, err := a.parseFrame(payload); err != nil {
				return err
			}
			a.frames++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if a.frames == 0 {
		return nil, corrupt(formatWebP, "animation without frames")
	}
	switch loops { // WebP counts plays, 0 for ever; GIF counts repeats
	case 0:
		a.loopCount = 0
	case 1:
		a.loopCount = -1
	default:
		a.loopCount = loops - 1
	}
	return a, nil
}

// webpFrameCount is the number of ANMF chunks, for the header's limits.
func webpFrameCount(data []byte) int {
	n := 0
	walkWebPChunks(data, func(id string, _ []byte) error {
		if id == "ANMF" {
			n++
		}
		return nil
	})
	return n
}

// walkWebPChunks calls fn with each top-level chunk of a RIFF WebP.
func walkWebPChunks(data []byte, fn func(id string, payload []byte) error) error {
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return corrupt(formatWebP, "not a RIFF WebP file")
	}
	riff := int64(binary.LittleEndian.Uint32(data[4:8])) + 8
	if riff < int64(len(data)) {
		data = data[:riff]
	}
	return walkChunks(data[12:], fn)
}

// walkChunks calls fn with each chunk of data.
func walkChunks(data []byte, fn func(id string, payload []byte) error) error {
	p := 0
	for p+8 <= len(data) {
		id := string(data[p : p+4])
		n := int64(binary.LittleEndian.Uint32(data[p+4 : p+8]))
		p += 8
		if n > int64(len(data)-p) {
			return corrupt(formatWebP, "chunk "+id+" past the end")
		}
		if err := fn(id, data[p:p+int(n):p+int(n)]); err != nil {
			return err
		}
		p += int(n) + int(n&1)
	}
	return nil
}

// parseFrame reads an ANMF payload and checks that the frame lies on
// the canvas and that its image is the size the frame states.
func (a *webpAnim) parseFrame(payload []byte) (webpANMF, error) {
	var f webpANMF
	if len(payload) < 16 {
		return f, corrupt(formatWebP, "short ANMF chunk")
	}
	get24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
	f.x, f.y = 2*get24(payload[0:]), 2*get24(payload[3:])
	f.w, f.h = get24(payload[6:])+1, get24(payload[9:])+1
	f.durationMS = get24(payload[12:])
	f.blend = payload[15]&2 == 0
	f.dispose = payload[15]&1 != 0
	if f.x+f.w > a.width || f.y+f.h > a.height {
		return f, corrupt(formatWebP, "frame outside the canvas")
	}
	err := walkChunks(payload[16:], func(id string, b []byte) error {
		switch id {
		case "VP8 ":
			if f.layout.vp8 == nil {
				f.layout.vp8 = b
			}
		case "VP8L":
			if f.layout.vp8l == nil {
				f.layout.vp8l = b
			}
		case "ALPH":
			if f.layout.alph == nil {
				f.layout.alph = b
			}
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	var w, h int
	switch {
	case f.layout.vp8 != nil:
		fi, err := parseVP8Frame(f.layout.vp8)
		if err != nil {
			return f, err
		}
		w, h = fi.width, fi.height
	case f.layout.vp8l != nil:
		if w, h, err = vp8lSize(f.layout.vp8l); err != nil {
			return f, err
		}
	default:
		return f, corrupt(formatWebP, "frame without an image")
	}
	if w != f.w || h != f.h {
		return f, corrupt(formatWebP, "frame image size differs from the frame's")
	}
	return f, nil
}

// decodeFrame decodes a frame's image to premultiplied RGBA.
func decodeFrame(ctx context.Context, f *webpANMF) (*image.RGBA, error) {
	if f.layout.vp8 == nil {
		img, err := decodeVP8L(f.layout.vp8l, ctx.Err)
		if err != nil {
			return nil, err
		}
		return toRGBA(img), nil
	}
	m, err := decodeVP8(f.layout.vp8, vp8Options{check: ctx.Err})
	if err != nil {
		return nil, err
	}
	var alpha []byte
	if f.layout.alph != nil {
		if alpha, err = decodeAlpha(f.layout.alph, f.w, f.h); err != nil {
			return nil, err
		}
	}
	return webpPlanesToRGBA(m, alpha, f.w), nil
}

// eachCanvas calls fn for every frame in display order with the
// composited canvas, the pixels that changed since the last call (the
// previous frame's rectangle if disposed, and this frame's) and the
// delay in 1/100 s. The canvas is the walk's own: fn must not modify it,
// and may keep it only if it stops the walk.
func (a *webpAnim) eachCanvas(ctx context.Context, width, height int, fn func(img *image.RGBA, changed []canvasRun, delay int) error) error {
	canvas := image.NewRGBA(image.Rect(0, 0, a.width, a.height))
	var disposed image.Rectangle
	var runs []canvasRun
	first := true
	return walkWebPChunks(a.data, func(id string, payload []byte) error {
		if id != "ANMF" {
			return nil
		}
		f, err := a.parseFrame(payload)
		if err != nil {
			return err
		}
		img, err := decodeFrame(ctx, &f)
		if err != nil {
			return err
		}
		r := image.Rect(f.x, f.y, f.x+f.w, f.y+f.h)
		for y := range f.h {
			src := img.Pix[y*img.Stride : y*img.Stride+4*f.w]
			o := canvas.PixOffset(f.x, f.y+y)
			dst := canvas.Pix[o : o+4*f.w]
			if !f.blend {
				copy(dst, src)
				continue
			}
			blendOver(dst, src)
		}
		runs = runs[:0]
		switch {
		case first:
			runs = wholeRuns(runs, canvas.Rect)
		default:
			runs = wholeRuns(runs, r.Union(disposed))
		}
		first = false
		if err := fn(canvas, runs, (f.durationMS+5)/10); err != nil {
			return err
		}
		disposed = image.Rectangle{}
		if f.dispose {
			for y := r.Min.Y; y < r.Max.Y; y++ {
				o := canvas.PixOffset(r.Min.X, y)
				clear(canvas.Pix[o : o+4*r.Dx()])
			}
			disposed = r
		}
		return nil
	})
}

// blendOver composites the premultiplied row src over dst.
func blendOver(dst, src []byte) {
	dst = dst[:len(src)]
	for i := 0; i+3 < len(src); i += 4 {
		sa := uint32(src[i+3])
		switch sa {
		case 0xff:
			copy(dst[i:i+4], src[i:i+4])
		case 0:
		default:
			k := 255 - sa
			for c := range 4 {
				dst[i+c] = uint8(uint32(src[i+c]) + (uint32(dst[i+c])*k+127)/255)
			}
		}
	}
}

// check decodes every frame without compositing, for the errors.
func (a *webpAnim) check(ctx context.Context) error {
	return walkWebPChunks(a.data, func(id string, payload []byte) error {
		if id != "ANMF" {
			return nil
		}
		f, err := a.parseFrame(payload)
		if err != nil {
			return err
		}
		_, err = decodeFrame(ctx, &f)
		return err
	})
}

func (a *webpAnim) frameCount() int { return a.frames }
func (a *webpAnim) loops() int      { return a.loopCount }
