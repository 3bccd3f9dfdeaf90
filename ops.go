package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
)

// engineOptions are the engine settings that do not come from the request.
type engineOptions struct {
	quality         int    // JPEG and WebP quality when the request has no q
	jpegQuality     int    // engine.jpeg_quality: JPEG's instead, 0 = quality
	webpQuality     int    // engine.webp_quality: WebP's instead, 0 = quality
	jpegProgressive bool   // write progressive JPEGs (engine.jpeg_progressive)
	format          format // output format forced by engine.format, or formatNone
	defaultFormat   format // when neither fmt nor the source's format applies
	maxOutputPixels int64  // any intermediate or final image, 0 = unlimited
	decode          decodeLimits
}

// defaultQuality is the quality of format when the request has no q.
func (eo engineOptions) defaultQuality(format format) int {
	switch {
	case format == formatJPEG && eo.jpegQuality > 0:
		return eo.jpegQuality
	case format == formatWebP && eo.webpQuality > 0:
		return eo.webpQuality
	}
	return eo.quality
}

// result is an encoded image, ready to serve and store.
type result struct {
	data   []byte
	format format
}

// outputFormat picks the output format: fmt, else engine.format, else the
// source's format when picfit writes it, else engine.default_format.
func outputFormat(requested format, eo engineOptions, source format) format {
	switch {
	case requested != formatNone && requested != formatAuto:
		return requested
	case eo.format != formatNone:
		return eo.format
	case source.image():
		return source
	}
	return eo.defaultFormat
}

// errStopFrames ends a frame walk early once the first frame is enough.
var errStopFrames = errors.New("stop")

// transform decodes src, runs r's operations on every frame that the
// output keeps, and encodes the result. images loads the extra images
// that flat operations draw, by storage path; nil when there is no
// source storage. A chain of only noop operations returns src untouched,
// in its own format. The decoders, operations and encoders poll ctx
// (once a row or so): once it ends, transform returns its error.
func transform(ctx context.Context, src []byte, r *request, eo engineOptions, images func(path string) ([]byte, error)) (result, error) {
	in, err := inspectSource(src)
	if err != nil {
		return result{}, err
	}
	return transformSource(ctx, in, src, r, eo, images)
}

// transformSource is transform of a source whose header inspectSource
// has read: plan, decode, the first operation, the rest, encode (see
// plan.go).
func transformSource(ctx context.Context, in source, src []byte, r *request, eo engineOptions, images func(path string) ([]byte, error)) (result, error) {
	pl, err := newPlan(in, r, eo)
	if err != nil {
		return result{}, err
	}
	if pl.route == routeUntouched {
		return result{data: src, format: in.format}, nil
	}
	pic, err := pl.decode(ctx, src)
	if err != nil {
		return result{}, err
	}
	if pl.route == routePlanesToJPEG && pic.kind == picturePlanes {
		return pl.encodePlanes(ctx, pic)
	}
	rest, scaler, err := pl.firstOp(ctx, pic)
	if err != nil {
		return result{}, err
	}
	return pl.render(ctx, pic, scaler, rest, newFlatImages(images, eo.decode))
}

// straightToJPEG reports whether a picture decoded to planes goes from
// them to the JPEG encoder's 4:2:0 YCbCr (applyShrunkYCbCr): one
// scaling, not pad, to JPEG.
func straightToJPEG(format format, ops []operation) bool {
	return format == formatJPEG && len(ops) > 0 && ops[0].scaling().kind != opPad && onlyNoop(ops[1:])
}

// shrinkHint is the size to which the first of ops scales a JPEG or WebP
// src down (see hintFor), for callers that have only the bytes.
func shrinkHint(src []byte, ops []operation) (w, h int) {
	if f := sniff(src); len(ops) == 0 || f != formatJPEG && f != formatWebP {
		return 0, 0
	}
	hd, err := readHeader(src)
	if err != nil {
		return 0, 0
	}
	return hintFor(hd, ops)
}

// hintFor is the upright size to which the first of ops scales a JPEG or
// WebP source with header hd down (its crop's cover size for a
// thumbnail), or 0×0 when it does not scale it down: the plan's hint.
func hintFor(hd header, ops []operation) (w, h int) {
	if len(ops) == 0 || hd.format != formatJPEG && hd.format != formatWebP {
		return 0, 0
	}
	W, H := source{header: hd}.upright()
	p, ok, _ := planScale(ops[0], W, H, 0)
	t := p.shrinkTarget(ok, W, H)
	return t.X, t.Y
}

// scaling is op as apply runs it when it scales: thumbnail and pad with
// one side behave like resize.
func (op operation) scaling() operation {
	if (op.kind == opThumbnail || op.kind == opPad) && (op.w == 0 || op.h == 0) {
		op.kind = opResize
	}
	return op
}

// applyShrunk runs op, the first operation, for which the plan gave a
// shrink target, on a picture that decodeSource decoded smaller or to
// planes: its geometry is planScale's on the picture's full size, its
// pixels come from the part of the decoded image that holds the picture.
func (op operation) applyShrunk(ctx context.Context, p *picture, maxPixels int64) (*image.RGBA, error) {
	sp, x, y, err := op.shrunkArea(ctx, p, maxPixels)
	if err != nil {
		return nil, err
	}
	img, err := p.scaleArea(ctx, x, y, sp.w, sp.h, maxPixels)
	if err != nil {
		return nil, err
	}
	return sp.finish(img), nil
}

// applyShrunkYCbCr is applyShrunk for a picture in planes whose result
// goes straight to the JPEG encoder: grey or 4:2:0 YCbCr. op is not pad.
func (op operation) applyShrunkYCbCr(ctx context.Context, p *picture, maxPixels int64) (image.Image, error) {
	sp, x, y, err := op.shrunkArea(ctx, p, maxPixels)
	if err != nil {
		return nil, err
	}
	return p.scaleYCbCr(ctx, x, y, sp.w, sp.h, maxPixels)
}

// shrunkArea is what applyShrunk scales for op: planScale's plan on the
// picture's full size, and the part x×y of its decoded image, upright,
// that the plan's crop window covers.
func (op operation) shrunkArea(ctx context.Context, p *picture, maxPixels int64) (sp scalePlan, x, y span, err error) {
	W, H := p.width, p.height
	sp, ok, err := planScale(op, W, H, maxPixels)
	if err != nil {
		return sp, x, y, err
	}
	if !ok || sp.keep {
		return sp, x, y, fmt.Errorf("shrink on load for %s", op.kind) // the plan gives no shrink target for it
	}
	if !sp.crop {
		return sp, p.x, p.y, nil
	}
	if op.place.smart {
		if op.place, err = op.place.resolvePicture(ctx, p, op.w, op.h); err != nil {
			return sp, x, y, err
		}
		sp, _, _ = planScale(op, W, H, maxPixels)
	}
	fx, fy := p.x.size/float64(W), p.y.size/float64(H) // full size to decoded
	x = span{p.x.from + float64(sp.x0)*fx, float64(sp.cw) * fx}
	y = span{p.y.from + float64(sp.y0)*fy, float64(sp.ch) * fy}
	return sp, x, y, nil
}

func onlyNoop(ops []operation) bool {
	for _, op := range ops {
		if op.kind != opNoop {
			return false
		}
	}
	return true
}

// applyOps runs ops in order on one frame.
func applyOps(ctx context.Context, img *image.RGBA, ops []operation, extras *flatImages, maxPixels int64) (*image.RGBA, error) {
	var err error
	for _, op := range ops {
		if img, err = op.apply(ctx, img, extras, maxPixels); err != nil {
			return nil, fmt.Errorf("%s: %w", op.kind, err)
		}
	}
	return img, nil
}

// apply runs op on img. It may return img itself when nothing changes.
// extras draws flat's images; nil when there are none.
func (op operation) apply(ctx context.Context, img *image.RGBA, extras *flatImages, maxPixels int64) (*image.RGBA, error) {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	switch op.kind {
	case opResize, opThumbnail, opPad, opFit:
		p, ok, err := planScale(op, W, H, maxPixels)
		if err != nil {
			return nil, err
		}
		if !ok {
			return img, nil
		}
		if p.crop && op.place.smart {
			op.place = op.place.resolveRGBA(img, op.w, op.h)
			p, _, _ = planScale(op, W, H, maxPixels)
		}
		return p.resample(ctx, img, maxPixels)
	case opFlip:
		if op.axis == 'h' {
			return flipH(ctx, img)
		}
		return flipV(ctx, img)
	case opRotate:
		switch op.deg {
		case 180:
			return rotate180(ctx, img)
		case 270:
			return rotate270(ctx, img)
		}
		return rotate90(ctx, img)
	case opFlat:
		return flat(ctx, img, op, extras, maxPixels)
	case opEffect:
		sigma := math.Min(50, float64(max(W, H))/20)
		if sigma <= 0 {
			return img, nil
		}
		return gaussianBlur(ctx, img, sigma)
	}
	return img, nil // noop
}

// resizeSize is the size resize makes of W0×H0 for a request of w×h: one
// side 0 keeps the aspect ratio (rounded, at least 1), both 0 keep the size.
func resizeSize(W, H, w, h int) (int, int) {
	switch {
	case w == 0 && h == 0:
		return W, H
	case w == 0:
		return max(1, int(math.Round(float64(W)*float64(h)/float64(H)))), h
	case h == 0:
		return w, max(1, int(math.Round(float64(H)*float64(w)/float64(W))))
	}
	return w, h
}

// fitSize is the largest size with W0×H0's aspect ratio inside w×h (a 0
// side is unbounded); it may exceed the source, callers decide.
func fitSize(W, H, w, h int) (int, int) {
	if w == 0 && h == 0 {
		return W, H
	}
	scale := math.Inf(1)
	if w > 0 {
		scale = float64(w) / float64(W)
	}
	if h > 0 {
		scale = math.Min(scale, float64(h)/float64(H))
	}
	return max(1, int(math.Round(float64(W)*scale))), max(1, int(math.Round(float64(H)*scale)))
}

func checkPixels(w, h int, maxPixels int64) error {
	if maxPixels > 0 && int64(w)*int64(h) > maxPixels {
		return fmt.Errorf("%w: output %dx%d is over max_output_pixels (%d)", errTooLarge, w, h, maxPixels)
	}
	return nil
}

func scaleTo(ctx context.Context, img *image.RGBA, w, h int, maxPixels int64) (*image.RGBA, error) {
	if w == img.Rect.Dx() && h == img.Rect.Dy() {
		return img, nil
	}
	return scaleArea(ctx, img, span{0, float64(img.Rect.Dx())}, span{0, float64(img.Rect.Dy())}, w, h, maxPixels)
}

// scaleArea scales the part x×y of img to w×h.
func scaleArea(ctx context.Context, img *image.RGBA, x, y span, w, h int, maxPixels int64) (*image.RGBA, error) {
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	return resampleArea(ctx, img, x, y, w, h)
}

// view is the cw×ch part of img at (x0, y0) as an image whose bounds start
// at the origin, sharing img's pixels.
func view(img *image.RGBA, x0, y0, cw, ch int) *image.RGBA {
	off := y0*img.Stride + x0*4
	return &image.RGBA{Pix: img.Pix[off:], Stride: img.Stride, Rect: image.Rect(0, 0, cw, ch)}
}

// centre draws inner in the middle of a w×h canvas of fill.
func centre(inner *image.RGBA, w, h int, fill color.NRGBA) *image.RGBA {
	canvas := image.NewRGBA(image.Rect(0, 0, w, h))
	if fill.A != 0 {
		draw.Draw(canvas, canvas.Rect, image.NewUniform(fill), image.Point{}, draw.Src)
	}
	x0, y0 := (w-inner.Rect.Dx())/2, (h-inner.Rect.Dy())/2
	draw.Draw(canvas, inner.Rect.Add(image.Pt(x0, y0)), inner, image.Point{}, draw.Over)
	return canvas
}

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
	data    map[string][]byte
	sources map[string]source
	cells   map[flatCell]*image.RGBA
}

// flatCell is an image of a flat operation scaled to w×h.
type flatCell struct {
	path string
	w, h int
}

func newFlatImages(load func(path string) ([]byte, error), lim decodeLimits) *flatImages {
	return &flatImages{load: load, lim: lim, data: map[string][]byte{}, sources: map[string]source{}, cells: map[flatCell]*image.RGBA{}}
}

// decodeFor decodes the image at path, data, for a resize to w×h: planned
// as a request's source, a JPEG shrunk on load when it shrinks both
// ways, a PNG scaled as its rows are decoded.
func (f *flatImages) decodeFor(ctx context.Context, path string, data []byte, w, h int, maxPixels int64) (*picture, error) {
	in, ok := f.sources[path]
	if !ok {
		var err error
		if in, err = inspectSource(data); err != nil {
			return nil, err
		}
	}
	if err := f.lim.checkSource(in.header); err != nil {
		return nil, err
	}
	var hint image.Point
	if W, H := in.upright(); w < W && h < H {
		hint = image.Pt(w, h)
	}
	resize := []operation{{kind: opResize, w: w, h: h, upscale: true}}
	pl := planDecode(in, resize, engineOptions{maxOutputPixels: maxPixels, decode: f.lim}, &hint)
	p, err := pl.decode(ctx, data)
	if err == nil && p.kind == pictureAnim {
		err = p.anim.check(ctx)
	}
	return p, err
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
	p, err := f.decodeFor(ctx, path, data, w, h, maxPixels)
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
	if err != nil {
		return nil, fmt.Errorf("flat image %s: %w", path, err)
	}
	f.cells[key] = m
	return m, nil
}
