package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
)

// engineOptions are the engine settings that do not come from the request.
type engineOptions struct {
	quality         int    // JPEG quality when the request has no q
	format          string // output format forced by engine.format, or ""
	defaultFormat   string // when neither fmt nor the source's format applies
	maxOutputPixels int64  // any intermediate or final image, 0 = unlimited
	decode          decodeLimits
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
// that flat operations draw, by storage path. A chain of only noop
// operations returns src untouched, in its own format.
func transform(src []byte, r *request, eo engineOptions, images func(path string) ([]byte, error)) (result, error) {
	if onlyNoop(r.ops) {
		h, err := readHeader(src)
		if err != nil {
			return result{}, err
		}
		return result{data: src, format: h.format}, nil
	}
	hintW, hintH := shrinkHint(src, r.ops) // non-zero for a JPEG or WebP source only
	toJPEG := hintW > 0 && straightToJPEG(outputFormat(r.format, eo, "jpeg"), r.ops)
	pic, err := decodeFirstOp(src, eo, r.ops, hintW, hintH, toJPEG)
	if err != nil {
		return result{}, err
	}
	format := outputFormat(r.format, eo, pic.format)
	if !writableFormats[format] {
		return result{}, fmt.Errorf("%w: fmt: picfit does not write %s yet", errBadParam, format)
	}
	quality := r.quality
	if quality == 0 {
		quality = eo.quality
	}
	ops := r.ops
	if pic.applied { // the decoder ran the first operation (stream.go)
		ops = ops[1:]
	}
	if pic.planes != nil && straightToJPEG(format, ops) {
		// One scaling to JPEG: from the decoded planes to the encoder's
		// YCbCr, never through RGBA.
		m, err := ops[0].applyShrunkYCbCr(pic, eo.maxOutputPixels)
		if err != nil {
			return result{}, fmt.Errorf("%s: %w", ops[0].name, err)
		}
		var buf bytes.Buffer
		if err := encodeJPEG(&buf, m, quality); err != nil {
			return result{}, err
		}
		return result{data: buf.Bytes(), format: format}, nil
	}
	if pic.shrunk { // decoded smaller: the first operation finishes the job
		if pic.still, err = ops[0].applyShrunk(pic, eo.maxOutputPixels); err != nil {
			return result{}, fmt.Errorf("%s: %w", ops[0].name, err)
		}
		ops = ops[1:]
	}

	extras := map[string]*image.RGBA{}
	for _, op := range r.ops {
		for _, p := range op.images {
			if extras[p] != nil {
				continue
			}
			data, err := images(p)
			if err != nil {
				return result{}, fmt.Errorf("flat image %s: %w", p, err)
			}
			extra, err := decode(data, eo.decode)
			if err != nil {
				return result{}, fmt.Errorf("flat image %s: %w", p, err)
			}
			if err := extra.eachFrame(func(img *image.RGBA, _ int) error {
				extras[p] = img
				return errStopFrames
			}); err != nil && err != errStopFrames {
				return result{}, err
			}
		}
	}

	animated := (format == "gif" || format == "webp") && pic.frameCount() > 1
	var still *image.RGBA
	var frames []*image.Paletted
	var delays []int
	anim := newWebPAnimation(quality, r.lossless) // frames coded as they come
	// An animation's first scaling redoes only what each frame changed.
	scaler, err := newFrameScaler(pic, ops, eo.maxOutputPixels)
	if err != nil {
		return result{}, err
	}
	rest := ops
	if scaler != nil {
		rest = ops[1:]
	}
	// The canvas is neither modified nor kept by what follows: every
	// operation makes a new image, quantize and the WebP frame coder
	// copy, and still is taken from the last frame walked.
	err = pic.eachCanvas(func(img *image.RGBA, changed []canvasRun, delay int) error {
		if scaler != nil {
			img = scaler.frame(img, changed)
		}
		out, err := applyOps(img, rest, extras, eo.maxOutputPixels)
		if err != nil {
			return err
		}
		switch {
		case !animated:
			still = out
			return errStopFrames
		case format == "webp":
			return anim.add(out, delay)
		}
		frames = append(frames, quantize(out))
		delays = append(delays, delay)
		return nil
	})
	if err != nil && err != errStopFrames {
		return result{}, err
	}

	var buf bytes.Buffer
	switch {
	case animated && format == "webp":
		err = anim.finish(&buf, pic.loopCount())
	case animated:
		err = encodeGIF(&buf, frames, delays, pic.loopCount())
	default:
		err = encodeImage(&buf, still, format, quality, r.lossless)
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
func (op operation) applyShrunk(p *picture, maxPixels int64) (*image.RGBA, error) {
	op = op.scaling()
	if op.name == "pad" {
		if err := checkPixels(op.w, op.h, maxPixels); err != nil {
			return nil, err
		}
	}
	x, y, w, h, err := op.shrunkArea(p)
	if err != nil {
		return nil, err
	}
	img, err := p.scaleArea(x, y, w, h, maxPixels)
	if err != nil || op.name != "pad" {
		return img, err
	}
	return centre(img, op.w, op.h, op.color), nil
}

// applyShrunkYCbCr is applyShrunk for a picture in planes whose result
// goes straight to the JPEG encoder: grey or 4:2:0 YCbCr. op is not pad.
func (op operation) applyShrunkYCbCr(p *picture, maxPixels int64) (image.Image, error) {
	x, y, w, h, err := op.scaling().shrunkArea(p)
	if err != nil {
		return nil, err
	}
	return p.scaleYCbCr(x, y, w, h, maxPixels)
}

// shrunkArea is what applyShrunk scales for op (as scaling returns it):
// the part x×y of the picture's decoded image, upright, to w×h (which pad
// then centres on op.w×op.h).
func (op operation) shrunkArea(p *picture) (x, y span, w, h int, err error) {
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
		x0, y0, cw, ch := coverCrop(W, H, op.w, op.h)
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
func applyOps(img *image.RGBA, ops []operation, extras map[string]*image.RGBA, maxPixels int64) (*image.RGBA, error) {
	var err error
	for _, op := range ops {
		if img, err = op.apply(img, extras, maxPixels); err != nil {
			return nil, fmt.Errorf("%s: %w", op.name, err)
		}
	}
	return img, nil
}

// apply runs op on img. It may return img itself when nothing changes.
func (op operation) apply(img *image.RGBA, extras map[string]*image.RGBA, maxPixels int64) (*image.RGBA, error) {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	enlarges := op.w > W || op.h > H
	switch op.name {
	case "resize":
		w, h := resizeSize(W, H, op.w, op.h)
		if !op.upscale && (w > W || h > H) {
			return img, nil
		}
		return scaleTo(img, w, h, maxPixels)
	case "thumbnail", "pad":
		if op.w == 0 || op.h == 0 { // with one side, both behave like resize
			return operation{name: "resize", w: op.w, h: op.h, upscale: op.upscale}.apply(img, extras, maxPixels)
		}
		if !op.upscale && enlarges {
			return img, nil
		}
		if op.name == "thumbnail" {
			return thumbnail(img, op.w, op.h, maxPixels)
		}
		return pad(img, op.w, op.h, op.color, maxPixels)
	case "fit":
		w, h := fitSize(W, H, op.w, op.h)
		if w >= W && h >= H {
			return img, nil // fit never enlarges
		}
		return scaleTo(img, w, h, maxPixels)
	case "flip":
		if op.axis == 'h' {
			return flipH(img), nil
		}
		return flipV(img), nil
	case "rotate":
		switch op.deg {
		case 180:
			return rotate180(img), nil
		case 270:
			return rotate270(img), nil
		}
		return rotate90(img), nil
	case "flat":
		return flat(img, op, extras, maxPixels)
	case "effect":
		sigma := math.Min(50, float64(max(W, H))/20)
		if sigma <= 0 {
			return img, nil
		}
		return gaussianBlur(img, sigma), nil
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

func scaleTo(img *image.RGBA, w, h int, maxPixels int64) (*image.RGBA, error) {
	if w == img.Rect.Dx() && h == img.Rect.Dy() {
		return img, nil
	}
	return scaleArea(img, span{0, float64(img.Rect.Dx())}, span{0, float64(img.Rect.Dy())}, w, h, maxPixels)
}

// scaleArea scales the part x×y of img to w×h.
func scaleArea(img *image.RGBA, x, y span, w, h int, maxPixels int64) (*image.RGBA, error) {
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	return resampleArea(img, x, y, w, h), nil
}

// thumbnail crops the centre of img to w×h's aspect ratio, then scales
// the crop to exactly w×h, so the image covers the whole box.
func thumbnail(img *image.RGBA, w, h int, maxPixels int64) (*image.RGBA, error) {
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	x0, y0, cw, ch := coverCrop(img.Rect.Dx(), img.Rect.Dy(), w, h)
	return resample(view(img, x0, y0, cw, ch), w, h), nil
}

// coverCrop is the centred part of a W×H image with w×h's aspect ratio.
func coverCrop(W, H, w, h int) (x0, y0, cw, ch int) {
	cw, ch = W, H
	if W*h > H*w { // source is wider than the box
		cw = max(1, int(math.Round(float64(H)*float64(w)/float64(h))))
	} else {
		ch = max(1, int(math.Round(float64(W)*float64(h)/float64(w))))
	}
	return (W - cw) / 2, (H - ch) / 2, cw, ch
}

// view is the cw×ch part of img at (x0, y0) as an image whose bounds start
// at the origin, sharing img's pixels.
func view(img *image.RGBA, x0, y0, cw, ch int) *image.RGBA {
	off := y0*img.Stride + x0*4
	return &image.RGBA{Pix: img.Pix[off:], Stride: img.Stride, Rect: image.Rect(0, 0, cw, ch)}
}

// pad fits img inside w×h and centres it on a w×h canvas of fill.
func pad(img *image.RGBA, w, h int, fill color.NRGBA, maxPixels int64) (*image.RGBA, error) {
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	iw, ih := fitSize(img.Rect.Dx(), img.Rect.Dy(), w, h)
	inner, err := scaleTo(img, min(iw, w), min(ih, h), maxPixels)
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
func flat(img *image.RGBA, op operation, extras map[string]*image.RGBA, maxPixels int64) (*image.RGBA, error) {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	out := image.NewRGBA(img.Rect)
	copy(out.Pix, img.Pix)
	r := image.Rect(W*op.rect[0]/100, H*op.rect[1]/100, W*op.rect[2]/100, H*op.rect[3]/100)
	if r.Empty() {
		return out, nil
	}
	if op.filled {
		draw.Draw(out, r, image.NewUniform(op.color), image.Point{}, draw.Over)
	}
	n := len(op.images)
	for i, p := range op.images {
		fg := extras[p]
		var cell image.Rectangle
		var w, h int
		switch {
		case op.stick != "":
			w, h = resizeSize(fg.Rect.Dx(), fg.Rect.Dy(), op.w, op.h)
			cell = r
		case r.Dx() > r.Dy():
			cw := r.Dx() / n
			cell = image.Rect(r.Min.X+i*cw, r.Min.Y, r.Min.X+(i+1)*cw, r.Max.Y)
			w, h = fitSize(fg.Rect.Dx(), fg.Rect.Dy(), cell.Dx(), cell.Dy())
		default:
			ch := r.Dy() / n
			cell = image.Rect(r.Min.X, r.Min.Y+i*ch, r.Max.X, r.Min.Y+(i+1)*ch)
			w, h = fitSize(fg.Rect.Dx(), fg.Rect.Dy(), cell.Dx(), cell.Dy())
		}
		if cell.Empty() {
			continue
		}
		scaled, err := scaleTo(fg, w, h, maxPixels)
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
