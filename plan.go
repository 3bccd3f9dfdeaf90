package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
)

// How a request flows, from handlers.go's process to the encoded bytes:
//
//  1. inspectSource (budget.go) reads the source's header once: format,
//     size, EXIF orientation, frames (a GIF's blocks walked once, its
//     loop count kept) and the layout facts that choose a decoder. The
//     memory budget (reserve, footprint) and the plan both read it.
//  2. newPlan decides from that header and the request, before any
//     pixel is decoded: the output format and quality, what the first
//     operation does to the upright source (planScale: the one place
//     where a scaling operation's crop window and output size are
//     computed, for every path below), the size shrink-on-load aims at,
//     the colour transform, and the route: untouched, animation, PNG rows, WebP rows, shrunk,
//     planes to JPEG, or the canvas.
//  3. plan.decode decodes by the route into a picture of one kind:
//     still, animation, shrunk, planes, or scaled (the decoder ran the
//     first operation on the rows).
//  4. plan.firstOp finishes the first operation where the route left it
//     (from a shrunk picture or planes, or on an animation's frames with
//     a frameScaler) and returns the operations left for every frame;
//     planes to JPEG go to the encoder instead (plan.encodePlanes).
//     plan.toSRGB then converts a tagged source's colours (icc.go).
//  5. plan.render runs those operations on each frame kept (applyOps)
//     and encodes the frames (plan.encode).

// route is the way a source goes from its bytes to the frames the
// operation chain runs on.
type route int

const (
	// routeCanvas decodes the source whole; every operation runs on it.
	routeCanvas route = iota
	// routeUntouched serves the source as it is (only noop operations).
	routeUntouched
	// routeAnimation decodes frame by frame as they are walked; a
	// scaling first operation runs on them through a frameScaler.
	routeAnimation
	// routePNGRows decodes a PNG and runs the first operation on its
	// rows as they come (stream.go): the full-size image never exists.
	routePNGRows
	// routeWebPRows does so for a lossless WebP or a lossy one with
	// alpha (webpdec.go).
	routeWebPRows
	// routeShrunk decodes a JPEG or a lossy WebP smaller (DCT scaling,
	// VP8 at half size) or to planes, and finishes the first operation
	// from there (applyShrunk). A JPEG that the decoder cannot shrink or
	// keep in planes comes out whole, and takes the canvas route.
	routeShrunk
	// routePlanesToJPEG is routeShrunk whose planes go from the first
	// operation straight to the JPEG encoder, never through RGBA
	// (applyShrunkYCbCr): one scaling, not pad, to JPEG.
	routePlanesToJPEG
)

// plan is what transform does with one request's source, decided once
// from its header.
type plan struct {
	src      source
	ops      []operation // the request's, all of them
	eo       engineOptions
	format   format // output format
	quality  int
	lossless bool
	route    route
	// first is the first operation's geometry on the upright source
	// (planScale), when scales is set; firstErr is what planScale said of
	// its size, returned where the route runs the operation.
	first    scalePlan
	scales   bool
	firstErr error
	// hint is the upright size the first operation shrinks a JPEG or
	// WebP to (its cover size for a thumbnail), zero when it does not:
	// shrinkOnLoad makes the JPEG's DCT scale of it, decodeWebPPicture
	// its half-size decode.
	hint image.Point
	// colour converts the source's colours to sRGB (icc.go); nil for an
	// sRGB or untagged source, or a profile that was ignored.
	colour *colourTransform
}

// cmyk is the source's CMYK profile, which the JPEG decoder applies to
// the inks, or nil.
func (pl *plan) cmyk() *colourTransform {
	if pl.colour != nil && pl.colour.inputs == 4 {
		return pl.colour
	}
	return nil
}

// toSRGB converts an RGB or grey source's colours to sRGB, once the
// first operation has run: on the smaller image when it scaled the
// source down (as libvips' thumbnail does), on the decoded source when
// the chain runs on it whole, and on each frame of an animation as it is
// walked. A CMYK source was converted by its decoder.
func (pl *plan) toSRGB(ctx context.Context, pic *picture) error {
	t := pl.colour
	switch {
	case t == nil || t.inputs == 4:
		return nil
	case pic.kind == pictureAnim:
		pic.anim = colourAnim{pic.anim, t}
		return nil
	}
	return t.applyRGBA(ctx, pic.still)
}

// newPlan plans r on the source in. It refuses, before anything is
// decoded, a source over the decode limits and an output format picfit
// does not write.
func newPlan(in source, r *request, eo engineOptions) (*plan, error) {
	if onlyNoop(r.ops) {
		// Whatever the operation, as in the original.
		return &plan{src: in, ops: r.ops, eo: eo, route: routeUntouched, format: in.format}, eo.decode.checkDimensions(in.header)
	}
	if err := eo.decode.checkSource(in.header); err != nil {
		return nil, err
	}
	format := outputFormat(r.format, eo, in.format)
	if !format.image() {
		return nil, fmt.Errorf("%w: fmt: picfit does not write %s yet", errBadParam, format)
	}
	pl := planDecode(in, r.ops, eo, nil)
	pl.format, pl.lossless, pl.quality = format, r.lossless, r.quality
	if pl.quality == 0 {
		pl.quality = eo.defaultQuality(format)
	}
	pl.colour = in.colourTransform(eo.log, eo.colours)
	if pl.route == routeShrunk && straightToJPEG(format, r.ops) && pl.colour == nil {
		pl.route = routePlanesToJPEG
	}
	return pl, nil
}

// planDecode is the decoding part of a plan: the first of ops on the
// upright source and the route. hint, when not nil, replaces the size
// the first operation shrinks to (flatImages.scaled has its own rule).
func planDecode(in source, ops []operation, eo engineOptions, hint *image.Point) *plan {
	pl := &plan{src: in, ops: ops, eo: eo, format: in.format}
	W, H := in.upright()
	if len(ops) > 0 {
		pl.first, pl.scales, pl.firstErr = planScale(ops[0], W, H, eo.maxOutputPixels)
	}
	switch {
	case hint != nil:
		pl.hint = *hint
	case in.format == formatJPEG || in.format == formatWebP:
		pl.hint = pl.first.shrinkTarget(pl.scales, W, H)
	}
	pl.route = pl.chooseRoute()
	return pl
}

// chooseRoute picks the route for the source and the first operation.
func (pl *plan) chooseRoute() route {
	in := pl.src
	resamples := pl.scales && !pl.first.keep
	straight := in.orientation == 1 // the rows need no turning
	switch {
	case in.animated:
		return routeAnimation
	case in.format == formatPNG && in.rowByRow && straight && resamples && !pl.smallSmart():
		return routePNGRows
	case in.format == formatWebP && (in.lossless || in.alpha) && straight && resamples:
		return routeWebPRows
	case pl.hint != image.Point{} && (in.format == formatJPEG || in.format == formatWebP && !in.lossless && !in.alpha):
		return routeShrunk
	}
	return routeCanvas
}

// smallSmart reports whether the first operation is a smart thumbnail of
// a source small enough to decode whole for its saliency (smartPNG is
// for the larger ones).
func (pl *plan) smallSmart() bool {
	op := pl.ops[0]
	return op.scaling().kind == opThumbnail && op.place.smart && max(pl.src.width, pl.src.height) <= saliencySide
}

// decode decodes the source by the route.
func (pl *plan) decode(ctx context.Context, data []byte) (*picture, error) {
	switch pl.route {
	case routePNGRows:
		return pl.pngRows(ctx, data)
	case routeWebPRows:
		return pl.webpRows(ctx, data)
	}
	return decodeSource(ctx, data, pl.src, pl.hint, pl.route == routePlanesToJPEG, pl.cmyk())
}

// firstOp runs the first operation where the route leaves it outside the
// chain, and returns the operations left for every frame and, for an
// animation whose first operation scales, the frameScaler that runs it.
func (pl *plan) firstOp(ctx context.Context, pic *picture) (rest []operation, scaler *frameScaler, err error) {
	op := pl.ops[0]
	switch pic.kind {
	case pictureScaled: // by the decoder
		return pl.ops[1:], nil, nil
	case pictureShrunk, picturePlanes:
		img, err := op.applyShrunk(ctx, pic, pl.eo.maxOutputPixels)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op.kind, err)
		}
		*pic = picture{kind: pictureScaled, format: pic.format, width: img.Rect.Dx(), height: img.Rect.Dy(), still: img}
		return pl.ops[1:], nil, nil
	case pictureAnim:
		if scaler, err = newFrameScaler(ctx, pic, op, pl.eo.maxOutputPixels); err != nil || scaler == nil {
			return pl.ops, nil, err
		}
		return pl.ops[1:], scaler, nil
	}
	return pl.ops, nil, nil
}

// encodePlanes scales a picture in planes by the first operation straight
// to the JPEG encoder's YCbCr.
func (pl *plan) encodePlanes(ctx context.Context, pic *picture) (result, error) {
	op := pl.ops[0]
	m, err := op.applyShrunkYCbCr(ctx, pic, pl.eo.maxOutputPixels)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", op.kind, err)
	}
	var buf bytes.Buffer
	if err := encodeJPEG(ctx, &buf, m, jpegOptions{quality: pl.quality, progressive: pl.eo.jpegProgressive}); err != nil {
		return result{}, err
	}
	return result{data: buf.Bytes(), format: pl.format}, nil
}

// render runs rest on every frame that the output keeps (the first frame
// of an animation written as a still), scaler first when there is one,
// and encodes the result: the frames of an animation as they come.
func (pl *plan) render(ctx context.Context, pic *picture, scaler *frameScaler, rest []operation, extras *flatImages) (result, error) {
	animated := (pl.format == formatGIF || pl.format == formatWebP) && pic.frameCount() > 1
	var still *image.RGBA
	var buf bytes.Buffer
	anim := newWebPAnimation(pl.quality, pl.lossless)
	gifAnim := newGIFAnimation(&buf, pic.loopCount())
	// The canvas is neither modified nor kept by what follows: every
	// operation makes a new image, the GIF and WebP frame coders copy
	// what they keep, and still is taken from the last frame walked.
	pinned := !animated // an animation's smart crops are chosen once, on its first frame
	err := pic.eachCanvas(ctx, func(img *image.RGBA, changed []canvasRun, delay int) error {
		if scaler != nil {
			img = scaler.frame(img, changed)
		}
		if !pinned {
			var err error
			if rest, err = pinSmart(ctx, img, rest, extras, pl.eo.maxOutputPixels); err != nil {
				return err
			}
			pinned = true
		}
		out, err := applyOps(ctx, img, rest, extras, pl.eo.maxOutputPixels)
		switch {
		case err != nil:
			return err
		case !animated:
			still = out
			return errStopFrames
		case pl.format == formatWebP:
			return anim.add(ctx, out, delay)
		}
		return gifAnim.add(out, delay)
	})
	if err != nil && err != errStopFrames {
		return result{}, err
	}
	switch {
	case animated && pl.format == formatWebP:
		err = anim.finish(&buf, pic.loopCount())
	case animated:
		err = gifAnim.finish()
	default:
		err = pl.encode(ctx, &buf, still)
	}
	if err != nil {
		return result{}, err
	}
	return result{data: buf.Bytes(), format: pl.format}, nil
}

// encode writes a still in the plan's format.
func (pl *plan) encode(ctx context.Context, buf *bytes.Buffer, still *image.RGBA) error {
	if pl.format == formatJPEG && pl.eo.jpegProgressive {
		return encodeJPEG(ctx, buf, flattenWhite(still), jpegOptions{quality: pl.quality, progressive: true})
	}
	return encodeImage(ctx, buf, still, pl.format, pl.quality, pl.lossless)
}

// scalePlan is what a scaling operation (resize, fit, thumbnail, pad)
// does to a W×H image: resample the crop, a cw×ch image at (x0, y0)
// whose edges are the image's edges for the filter (as a view of it
// would be), to w×h, then, for pad, centre the result on a padW×padH
// canvas of fill.
type scalePlan struct {
	x0, y0, cw, ch int
	w, h           int
	// crop: the window is a thumbnail's, resampled as a view of the
	// image (resample), not as a part of it (scaleArea).
	crop bool
	// keep: nothing to resample, the image is the right size already
	// (pad of an image that fits the box): only the canvas is added.
	keep       bool
	padW, padH int
	fill       color.NRGBA
	// cover is the size the whole image is scaled to: w×h, or the
	// crop's cover size for a thumbnail.
	cover image.Point
}

// planScale is the scalePlan of op on a W×H image: the one place where
// the geometry of a scaling operation is computed, for apply and for
// every decoder that runs the first operation (the PNG and WebP rows,
// the shrunk JPEG and WebP, the animation frame scaler) and the memory
// estimate. ok is false when op leaves the image as it is (another
// operation, an enlargement that upscale forbids, a size that does not
// change). err refuses an output over maxPixels; the plan is still
// filled in then.
func planScale(op operation, W, H int, maxPixels int64) (p scalePlan, ok bool, err error) {
	op = op.scaling()
	enlarges := op.w > W || op.h > H
	p = scalePlan{cw: W, ch: H}
	switch op.kind {
	case opResize:
		p.w, p.h = resizeSize(W, H, op.w, op.h)
		if !op.upscale && (p.w > W || p.h > H) || p.w == W && p.h == H {
			return scalePlan{}, false, nil
		}
	case opFit:
		p.w, p.h = fitSize(W, H, op.w, op.h)
		if p.w >= W && p.h >= H {
			return scalePlan{}, false, nil // fit never enlarges
		}
	case opThumbnail:
		if !op.upscale && enlarges {
			return scalePlan{}, false, nil
		}
		p.x0, p.y0, p.cw, p.ch = cropWindow(W, H, op.w, op.h, op.place)
		p.w, p.h, p.crop = op.w, op.h, true
		f := max(float64(op.w)/float64(W), float64(op.h)/float64(H))
		p.cover = image.Pt(int(math.Ceil(float64(W)*f)), int(math.Ceil(float64(H)*f)))
		return p, true, checkPixels(op.w, op.h, maxPixels)
	case opPad:
		if !op.upscale && enlarges {
			return scalePlan{}, false, nil
		}
		iw, ih := fitSize(W, H, op.w, op.h)
		p.w, p.h = min(iw, op.w), min(ih, op.h)
		p.padW, p.padH, p.fill = op.w, op.h, op.color
		p.keep = p.w == W && p.h == H
		p.cover = image.Pt(iw, ih)
		return p, true, checkPixels(op.w, op.h, maxPixels)
	default:
		return scalePlan{}, false, nil
	}
	p.cover = image.Pt(p.w, p.h)
	return p, true, checkPixels(p.w, p.h, maxPixels)
}

// shrinkTarget is the size to which the plan scales a W×H image down
// (its cover size for a thumbnail), or zero when it does not scale it
// down: a JPEG or WebP may then be decoded smaller, or to planes.
func (p scalePlan) shrinkTarget(ok bool, W, H int) image.Point {
	w, h := p.cover.X, p.cover.Y
	if !ok || w == 0 || h == 0 || w > W || h > H || w == W && h == H {
		return image.Point{}
	}
	return p.cover
}

// resample runs the plan on img.
func (p scalePlan) resample(ctx context.Context, img *image.RGBA, maxPixels int64) (*image.RGBA, error) {
	out := img
	var err error
	switch {
	case p.keep:
	case p.crop:
		out, err = resample(ctx, view(img, p.x0, p.y0, p.cw, p.ch), p.w, p.h)
	default:
		out, err = scaleArea(ctx, img, span{0, float64(p.cw)}, span{0, float64(p.ch)}, p.w, p.h, maxPixels)
	}
	if err != nil {
		return nil, err
	}
	return p.finish(out), nil
}

// finish applies the step after the resample (pad's canvas).
func (p scalePlan) finish(img *image.RGBA) *image.RGBA {
	if p.padW == 0 {
		return img
	}
	return centre(img, p.padW, p.padH, p.fill)
}

// upright is the source's displayed size, after EXIF orientation.
func (s source) upright() (W, H int) {
	if s.orientation >= 5 {
		return s.height, s.width
	}
	return s.width, s.height
}

// straightToJPEG reports whether a picture decoded to planes goes from
// them to the JPEG encoder's 4:2:0 YCbCr (applyShrunkYCbCr): one
// scaling, not pad, to JPEG.
func straightToJPEG(format format, ops []operation) bool {
	return format == formatJPEG && len(ops) > 0 && ops[0].scaling().kind != opPad && onlyNoop(ops[1:])
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
