package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"log/slog"
	"math"
)

// engineOptions are the engine settings that do not come from the request.
type engineOptions struct {
	quality         int    // JPEG and WebP quality when the request has no q
	jpegQuality     int    // engine.jpeg_quality: JPEG's instead, 0 = quality
	webpQuality     int    // engine.webp_quality: WebP's instead, 0 = quality
	jpegProgressive bool   // write progressive JPEGs (engine.jpeg_progressive)
	format          string // output format forced by engine.format, or ""
	defaultFormat   string // when neither fmt nor the source's format applies
	maxOutputPixels int64  // any intermediate or final image, 0 = unlimited
	decode          decodeLimits
	log             *slog.Logger // logs ignored colour profiles (icc.go); nil: not logged
}

// defaultQuality is the quality of format when the request has no q.
func (eo engineOptions) defaultQuality(format string) int {
	switch {
	case format == "jpeg" && eo.jpegQuality > 0:
		return eo.jpegQuality
	case format == "webp" && eo.webpQuality > 0:
		return eo.webpQuality
	}
	return eo.quality
}

// result is an encoded image, ready to serve and store.
type result struct {
	data   []byte
	format string
}

// writableFormats are the formats the engine encodes.
var writableFormats = map[string]bool{"jpeg": true, "png": true, "gif": true, "bmp": true, "webp": true}

// outputFormat picks the output format: fmt, else engine.format, else the
// source's format when picfit writes it, else engine.default_format.
func outputFormat(requested string, eo engineOptions, source string) string {
	switch {
	case requested != "" && requested != "auto":
		return requested
	case eo.format != "":
		return eo.format
	case writableFormats[source]:
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
	if onlyNoop(r.ops) {
		h, err := readHeader(src)
		if err != nil {
			return result{}, err
		}
		if err := eo.decode.checkDimensions(h); err != nil { // whatever the operation, as in the original
			return result{}, err
		}
		return result{data: src, format: h.format}, nil
	}
	hintW, hintH := shrinkHint(src, r.ops) // non-zero for a JPEG or WebP source only
	toJPEG := hintW > 0 && straightToJPEG(outputFormat(r.format, eo, "jpeg"), r.ops)
	pic, err := decodeFirstOp(ctx, src, eo, r.ops, hintW, hintH, toJPEG)
	if err != nil {
		return result{}, err
	}
	format := outputFormat(r.format, eo, pic.format)
	if !writableFormats[format] {
		return result{}, fmt.Errorf("%w: fmt: picfit does not write %s yet", errBadParam, format)
	}
	quality := r.quality
	if quality == 0 {
		quality = eo.defaultQuality(format)
	}
	ops := r.ops
	if pic.applied { // the decoder ran the first operation (stream.go)
		ops = ops[1:]
	}
	if pic.planes != nil && straightToJPEG(format, ops) {
		// One scaling to JPEG: from the decoded planes to the encoder's
		// YCbCr, never through RGBA.
		m, err := ops[0].applyShrunkYCbCr(ctx, pic, eo.maxOutputPixels)
		if err != nil {
			return result{}, fmt.Errorf("%s: %w", ops[0].name, err)
		}
		var buf bytes.Buffer
		if err := encodeJPEG(ctx, &buf, m, jpegOptions{quality: quality, progressive: eo.jpegProgressive}); err != nil {
			return result{}, err
		}
		return result{data: buf.Bytes(), format: format}, nil
	}
	if pic.shrunk { // decoded smaller: the first operation finishes the job
		if pic.still, err = ops[0].applyShrunk(ctx, pic, eo.maxOutputPixels); err != nil {
			return result{}, fmt.Errorf("%s: %w", ops[0].name, err)
		}
		ops = ops[1:]
	}

	extras := newFlatImages(images, eo.decode)

	animated := (format == "gif" || format == "webp") && pic.frameCount() > 1
	var still *image.RGBA
	var buf bytes.Buffer
	// Frames are coded and written as they come.
	anim := newWebPAnimation(quality, r.lossless)
	gifAnim := newGIFAnimation(&buf, pic.loopCount())
	// An animation's first scaling redoes only what each frame changed.
	scaler, err := newFrameScaler(ctx, pic, ops, eo.maxOutputPixels)
	if err != nil {
		return result{}, err
	}
	rest := ops
	if scaler != nil {
		rest = ops[1:]
	}
	// The canvas is neither modified nor kept by what follows: every
	// operation makes a new image, the GIF and WebP frame coders copy
	// what they keep, and still is taken from the last frame walked.
	pinned := !animated // an animation's smart crops are chosen once, on its first frame
	err = pic.eachCanvas(ctx, func(img *image.RGBA, changed []canvasRun, delay int) error {
		if scaler != nil {
			img = scaler.frame(img, changed)
		}
		if !pinned {
			var err error
			if rest, err = pinSmart(ctx, img, rest, extras, eo.maxOutputPixels); err != nil {
				return err
			}
			pinned = true
		}
		out, err := applyOps(ctx, img, rest, extras, eo.maxOutputPixels)
		if err != nil {
			return err
		}
		switch {
		case !animated:
			still = out
			return errStopFrames
		case format == "webp":
			return anim.add(ctx, out, delay)
		}
		return gifAnim.add(out, delay)
	})
	if err != nil && err != errStopFrames {
		return result{}, err
	}

	switch {
	case animated && format == "webp":
		err = anim.finish(&buf, pic.loopCount())
	case animated:
		err = gifAnim.finish()
	case format == "jpeg" && eo.jpegProgressive:
		err = encodeJPEG(ctx, &buf, flattenWhite(still), jpegOptions{quality: quality, progressive: true})
	default:
		err = encodeImage(ctx, &buf, still, format, quality, r.lossless)
	}
	if err != nil {
		return result{}, err
	}
	return result{data: buf.Bytes(), format: format}, nil
}

// straightToJPEG reports whether a picture decoded to planes goes from
// them to the JPEG encoder's 4:2:0 YCbCr (applyShrunkYCbCr): one
// scaling, not pad, to JPEG.
func straightToJPEG(format string, ops []operation) bool {
	return format == "jpeg" && len(ops) > 0 && ops[0].scaling().name != "pad" && onlyNoop(ops[1:])
}

// shrinkHint is the size to which the first of ops scales a JPEG or WebP src
// down (its crop's cover size for a thumbnail), or 0×0 when it does not
// scale it down: decodeScaled may then decode the source smaller, and
// keep it in planes, for applyShrunk to finish the operation.
func shrinkHint(src []byte, ops []operation) (w, h int) {
	if f := sniff(src); len(ops) == 0 || f != "jpeg" && f != "webp" {
		return 0, 0 // before readHeader, which walks a GIF's every frame
	}
	hd, err := readHeader(src)
	if err != nil {
		return 0, 0
	}
	return hintFor(hd, ops)
}

// hintFor is shrinkHint for a JPEG or WebP source's header.
func hintFor(hd header, ops []operation) (w, h int) {
	if len(ops) == 0 || hd.format != "jpeg" && hd.format != "webp" {
		return 0, 0
	}
	W, H := hd.width, hd.height
	if hd.orientation >= 5 {
		W, H = H, W
	}
	op := ops[0].scaling()
	switch op.name {
	case "resize":
		w, h = resizeSize(W, H, op.w, op.h)
	case "fit", "pad":
		if op.name == "pad" && !op.upscale && (op.w > W || op.h > H) {
			return 0, 0 // apply leaves the image as it is
		}
		w, h = fitSize(W, H, op.w, op.h)
	case "thumbnail":
		if !op.upscale && (op.w > W || op.h > H) {
			return 0, 0 // likewise
		}
		f := max(float64(op.w)/float64(W), float64(op.h)/float64(H))
		w, h = int(math.Ceil(float64(W)*f)), int(math.Ceil(float64(H)*f))
	}
	// apply leaves the image as it is, or enlarges it, in all other cases.
	if w == 0 || h == 0 || w > W || h > H || w == W && h == H {
		return 0, 0
	}
	return w, h
}

// scaling is op as apply runs it when it scales: thumbnail and pad with
// one side behave like resize.
func (op operation) scaling() operation {
	if (op.name == "thumbnail" || op.name == "pad") && (op.w == 0 || op.h == 0) {
		op.name = "resize"
	}
	return op
}

// applyShrunk runs op, the first operation, for which shrinkHint gave a
// size, on a picture that decodeScaled decoded smaller or to planes: its
// sizes come from the picture's size, as apply would compute them from
// the full image, its pixels from the part of the decoded image that
// holds the picture.
func (op operation) applyShrunk(ctx context.Context, p *picture, maxPixels int64) (*image.RGBA, error) {
	op = op.scaling()
	if op.name == "pad" {
		if err := checkPixels(op.w, op.h, maxPixels); err != nil {
			return nil, err
		}
	}
	x, y, w, h, err := op.shrunkArea(ctx, p)
	if err != nil {
		return nil, err
	}
	img, err := p.scaleArea(ctx, x, y, w, h, maxPixels)
	if err != nil || op.name != "pad" {
		return img, err
	}
	return centre(img, op.w, op.h, op.color), nil
}

// applyShrunkYCbCr is applyShrunk for a picture in planes whose result
// goes straight to the JPEG encoder: grey or 4:2:0 YCbCr. op is not pad.
func (op operation) applyShrunkYCbCr(ctx context.Context, p *picture, maxPixels int64) (image.Image, error) {
	x, y, w, h, err := op.scaling().shrunkArea(ctx, p)
	if err != nil {
		return nil, err
	}
	return p.scaleYCbCr(ctx, x, y, w, h, maxPixels)
}

// shrunkArea is what applyShrunk scales for op (as scaling returns it):
// the part x×y of the picture's decoded image, upright, to w×h (which pad
// then centres on op.w×op.h).
func (op operation) shrunkArea(ctx context.Context, p *picture) (x, y span, w, h int, err error) {
	W, H := p.width, p.height
	switch op.name {
	case "resize":
		w, h = resizeSize(W, H, op.w, op.h)
		return p.x, p.y, w, h, nil
	case "fit":
		w, h = fitSize(W, H, op.w, op.h)
		return p.x, p.y, w, h, nil
	case "thumbnail":
		fx, fy := p.x.size/float64(W), p.y.size/float64(H) // full size to decoded
		place, err := op.place.resolvePicture(ctx, p, op.w, op.h)
		if err != nil {
			return x, y, 0, 0, err
		}
		x0, y0, cw, ch := cropWindow(W, H, op.w, op.h, place)
		x = span{p.x.from + float64(x0)*fx, float64(cw) * fx}
		y = span{p.y.from + float64(y0)*fy, float64(ch) * fy}
		return x, y, op.w, op.h, nil
	case "pad":
		iw, ih := fitSize(W, H, op.w, op.h)
		return p.x, p.y, min(iw, op.w), min(ih, op.h), nil
	}
	return x, y, 0, 0, fmt.Errorf("shrink on load for %s", op.name) // shrinkHint gives no size for it
}

func onlyNoop(ops []operation) bool {
	for _, op := range ops {
		if op.name != "noop" {
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
			return nil, fmt.Errorf("%s: %w", op.name, err)
		}
	}
	return img, nil
}

// apply runs op on img. It may return img itself when nothing changes.
// extras draws flat's images; nil when there are none.
func (op operation) apply(ctx context.Context, img *image.RGBA, extras *flatImages, maxPixels int64) (*image.RGBA, error) {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	enlarges := op.w > W || op.h > H
	switch op.name {
	case "resize":
		w, h := resizeSize(W, H, op.w, op.h)
		if !op.upscale && (w > W || h > H) {
			return img, nil
		}
		return scaleTo(ctx, img, w, h, maxPixels)
	case "thumbnail", "pad":
		if op.w == 0 || op.h == 0 { // with one side, both behave like resize
			return operation{name: "resize", w: op.w, h: op.h, upscale: op.upscale}.apply(ctx, img, extras, maxPixels)
		}
		if !op.upscale && enlarges {
			return img, nil
		}
		if op.name == "thumbnail" {
			return thumbnail(ctx, img, op.w, op.h, op.place, maxPixels)
		}
		return pad(ctx, img, op.w, op.h, op.color, maxPixels)
	case "fit":
		w, h := fitSize(W, H, op.w, op.h)
		if w >= W && h >= H {
			return img, nil // fit never enlarges
		}
		return scaleTo(ctx, img, w, h, maxPixels)
	case "flip":
		if op.axis == 'h' {
			return flipH(ctx, img)
		}
		return flipV(ctx, img)
	case "rotate":
		switch op.deg {
		case 180:
			return rotate180(ctx, img)
		case 270:
			return rotate270(ctx, img)
		}
		return rotate90(ctx, img)
	case "flat":
		return flat(ctx, img, op, extras, maxPixels)
	case "effect":
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

// thumbnail crops img to w×h's aspect ratio where p says (cropWindow),
// then scales the crop to exactly w×h, so the image covers the whole box.
func thumbnail(ctx context.Context, img *image.RGBA, w, h int, p placement, maxPixels int64) (*image.RGBA, error) {
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	p = p.resolveRGBA(img, w, h)
	x0, y0, cw, ch := cropWindow(img.Rect.Dx(), img.Rect.Dy(), w, h, p)
	return resample(ctx, view(img, x0, y0, cw, ch), w, h)
}

// view is the cw×ch part of img at (x0, y0) as an image whose bounds start
// at the origin, sharing img's pixels.
func view(img *image.RGBA, x0, y0, cw, ch int) *image.RGBA {
	off := y0*img.Stride + x0*4
	return &image.RGBA{Pix: img.Pix[off:], Stride: img.Stride, Rect: image.Rect(0, 0, cw, ch)}
}

// pad fits img inside w×h and centres it on a w×h canvas of fill.
func pad(ctx context.Context, img *image.RGBA, w, h int, fill color.NRGBA, maxPixels int64) (*image.RGBA, error) {
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	iw, ih := fitSize(img.Rect.Dx(), img.Rect.Dy(), w, h)
	inner, err := scaleTo(ctx, img, min(iw, w), min(ih, h), maxPixels)
	if err != nil {
		return nil, err
	}
	return centre(inner, w, h, fill), nil
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
	load  func(path string) ([]byte, error)
	lim   decodeLimits
	data  map[string][]byte
	sizes map[string]image.Point
	cells map[flatCell]*image.RGBA
}

// flatCell is an image of a flat operation scaled to w×h.
type flatCell struct {
	path string
	w, h int
}

func newFlatImages(load func(path string) ([]byte, error), lim decodeLimits) *flatImages {
	return &flatImages{load: load, lim: lim, data: map[string][]byte{}, sizes: map[string]image.Point{}, cells: map[flatCell]*image.RGBA{}}
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
	if s, ok := f.sizes[path]; ok {
		return s, nil
	}
	if err := ctx.Err(); err != nil {
		return image.Point{}, err
	}
	data, err := f.source(path)
	if err != nil {
		return image.Point{}, err
	}
	h, err := readHeader(data)
	if err != nil {
		return image.Point{}, fmt.Errorf("flat image %s: %w", path, err)
	}
	s := image.Pt(h.width, h.height)
	if h.orientation >= 5 {
		s.X, s.Y = s.Y, s.X
	}
	f.sizes[path] = s
	return s, nil
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
	resize := []operation{{name: "resize", w: w, h: h, upscale: true}}
	eo := engineOptions{maxOutputPixels: maxPixels, decode: f.lim}
	var hintW, hintH int // a JPEG is shrunk on load when it shrinks
	if s := f.sizes[path]; w < s.X && h < s.Y {
		hintW, hintH = w, h
	}
	p, err := decodeFirstOp(ctx, data, eo, resize, hintW, hintH, false)
	if err == nil && p.anim != nil {
		err = p.anim.check(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("flat image %s: %w", path, err)
	}
	delete(f.data, path) // read again should another size be needed
	var m *image.RGBA
	switch {
	case p.applied: // scaled as decoded
		m = p.still
	case p.shrunk:
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
