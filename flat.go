package main

// The flat operation: a rectangle of colour and images from the source
// storage drawn on the picture.

import (
	"context"
	"fmt"
	"image"
	"image/draw"
	"log/slog"
)

// flat draws on a copy of img: the rectangle op.rect (percent of the
// image) filled with op.color, then op.images, either in equal cells
// along the rectangle's long side, each fitted and centred, or, with
// stick, each scaled to op.w×op.h and put in that corner of the rectangle.
func flat(ctx context.Context, img *image.RGBA, op operation, extras *flatImages, maxPixels int64) (*image.RGBA, error) {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	out := image.NewRGBA(img.Rect)
	copy(out.Pix, img.Pix)
	// Every image is read and its header checked, drawn or not.
	sizes := make([]image.Point, len(op.images))
	for i, p := range op.images {
		var err error
		if sizes[i], err = extras.size(ctx, p); err != nil {
			return nil, err
		}
	}
	r := image.Rect(W*op.rect[0]/100, H*op.rect[1]/100, W*op.rect[2]/100, H*op.rect[3]/100)
	if r.Empty() {
		return out, nil
	}
	if op.filled {
		draw.Draw(out, r, image.NewUniform(op.color), image.Point{}, draw.Over)
	}
	n := len(op.images)
	for i, p := range op.images {
		size := sizes[i]
		var cell image.Rectangle
		var w, h int
		switch {
		case op.stick != "":
			w, h = resizeSize(size.X, size.Y, op.w, op.h)
			cell = r
		case r.Dx() > r.Dy():
			cw := r.Dx() / n
			cell = image.Rect(r.Min.X+i*cw, r.Min.Y, r.Min.X+(i+1)*cw, r.Max.Y)
			w, h = fitSize(size.X, size.Y, cell.Dx(), cell.Dy())
		default:
			ch := r.Dy() / n
			cell = image.Rect(r.Min.X, r.Min.Y+i*ch, r.Max.X, r.Min.Y+(i+1)*ch)
			w, h = fitSize(size.X, size.Y, cell.Dx(), cell.Dy())
		}
		if cell.Empty() {
			continue
		}
		scaled, err := extras.scaled(ctx, p, w, h, maxPixels)
		if err != nil {
			return nil, err
		}
		at := image.Pt(cell.Min.X+(cell.Dx()-w)/2, cell.Min.Y+(cell.Dy()-h)/2)
		switch op.stick {
		case "top-left":
			at = cell.Min
		case "top-right":
			at = image.Pt(cell.Max.X-w, cell.Min.Y)
		case "bottom-left":
			at = image.Pt(cell.Min.X, cell.Max.Y-h)
		case "bottom-right":
			at = image.Pt(cell.Max.X-w, cell.Max.Y-h)
		}
		// Drawing into the rectangle's sub-image clips to it.
		dst := out.SubImage(r).(*image.RGBA)
		draw.Draw(dst, scaled.Rect.Add(at), scaled, image.Point{}, draw.Over)
	}
	return out, nil
}

// flatImages holds the images flat operations draw, read by storage path
// with load (nil when there is no source storage). It keeps each
// image's size and its versions scaled to the cells it is drawn in (the
// frames of an animation draw the same), never the image decoded at its
// full size: each is decoded when a cell needs it, scaled, and dropped
// before the next, and so are its encoded bytes. A JPEG is shrunk on
// load and a PNG scaled as its rows are decoded, as a first resize is.
type flatImages struct {
	load    func(path string) ([]byte, error)
	lim     decodeLimits
	log     *slog.Logger // for an ignored colour profile
	colours *colourCache
	data    map[string][]byte
	sources map[string]source
	cells   map[flatCell]*image.RGBA
}

// flatCell is an image of a flat operation scaled to w×h.
type flatCell struct {
	path string
	w, h int
}

func newFlatImages(load func(path string) ([]byte, error), lim decodeLimits, log *slog.Logger, colours *colourCache) *flatImages {
	return &flatImages{load: load, lim: lim, log: log, colours: colours, data: map[string][]byte{}, sources: map[string]source{}, cells: map[flatCell]*image.RGBA{}}
}

// decodeFor decodes the image at path, data, for a resize to w×h: planned
// as a request's source, a JPEG shrunk on load when it shrinks both
// ways, a PNG scaled as its rows are decoded.
func (f *flatImages) decodeFor(ctx context.Context, path string, data []byte, w, h int, maxPixels int64) (*picture, *colourTransform, error) {
	in, ok := f.sources[path]
	if !ok {
		var err error
		if in, err = inspectSource(data); err != nil {
			return nil, nil, err
		}
	}
	if err := f.lim.checkSource(in.header); err != nil {
		return nil, nil, err
	}
	var hint image.Point
	if W, H := in.upright(); w < W && h < H {
		hint = image.Pt(w, h)
	}
	resize := []operation{{kind: opResize, w: w, h: h, upscale: true}}
	pl := planDecode(in, resize, engineOptions{maxOutputPixels: maxPixels, decode: f.lim}, &hint)
	pl.colour = in.colourTransform(f.log, f.colours)
	p, err := pl.decode(ctx, data)
	if err == nil && p.kind == pictureAnim {
		err = p.anim.check(ctx)
	}
	return p, pl.colour, err
}

// source reads the image at path once.
func (f *flatImages) source(path string) ([]byte, error) {
	if f == nil {
		return nil, fmt.Errorf("flat image %s: %w: path: no source storage is configured", path, errBadParam)
	}
	if data, ok := f.data[path]; ok {
		return data, nil
	}
	if f.load == nil {
		return nil, fmt.Errorf("flat image %s: %w: path: no source storage is configured", path, errBadParam)
	}
	data, err := f.load(path)
	if err != nil {
		return nil, fmt.Errorf("flat image %s: %w", path, err)
	}
	f.data[path] = data
	return data, nil
}

// size is the displayed size of the image at path (upright, the first
// frame's canvas for a GIF), from its header.
func (f *flatImages) size(ctx context.Context, path string) (image.Point, error) {
	if f == nil {
		_, err := f.source(path) // says what is missing
		return image.Point{}, err
	}
	if s, ok := f.sources[path]; ok {
		W, H := s.upright()
		return image.Pt(W, H), nil
	}
	if err := ctx.Err(); err != nil {
		return image.Point{}, err
	}
	data, err := f.source(path)
	if err != nil {
		return image.Point{}, err
	}
	s, err := inspectSource(data)
	if err != nil {
		return image.Point{}, fmt.Errorf("flat image %s: %w", path, err)
	}
	f.sources[path] = s
	W, H := s.upright()
	return image.Pt(W, H), nil
}

// scaled is the image at path (its first frame) scaled to w×h.
func (f *flatImages) scaled(ctx context.Context, path string, w, h int, maxPixels int64) (*image.RGBA, error) {
	key := flatCell{path, w, h}
	if m := f.cells[key]; m != nil {
		return m, nil
	}
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	data, err := f.source(path)
	if err != nil {
		return nil, err
	}
	p, colour, err := f.decodeFor(ctx, path, data, w, h, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("flat image %s: %w", path, err)
	}
	delete(f.data, path) // read again should another size be needed
	var m *image.RGBA
	switch p.kind {
	case pictureScaled: // as decoded
		m = p.still
	case pictureShrunk, picturePlanes:
		m, err = p.scaleArea(ctx, p.x, p.y, w, h, maxPixels)
	default:
		err = p.eachFrame(ctx, func(img *image.RGBA, _ int) error {
			var err error
			if m, err = scaleTo(ctx, img, w, h, maxPixels); err != nil {
				return err
			}
			return errStopFrames
		})
		if err == errStopFrames {
			err = nil
		}
	}
	if err == nil && colour != nil && colour.inputs != 4 { // a CMYK profile was the decoder's
		err = colour.applyRGBA(ctx, m) // after the scaling, as plan.toSRGB
	}
	if err != nil {
		return nil, fmt.Errorf("flat image %s: %w", path, err)
	}
	f.cells[key] = m
	return m, nil
}
