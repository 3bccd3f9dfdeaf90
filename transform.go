package main

// The engine's entry: transformSource makes a request's result from the
// source's bytes and its inspected header (see plan.go for the steps).

import (
	"context"
	"errors"
	"log/slog"
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
	log             *slog.Logger // logs ignored colour profiles (icc.go); nil: not logged
	colours         *colourCache // transforms of the profiles seen last; nil: built every time
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

// transformSource decodes src, whose header inspectSource has read into
// in, runs r's operations on every frame that the output keeps, and
// encodes the result: plan, decode, the first operation, the rest,
// encode (see plan.go). images loads the extra images that flat
// operations draw, by storage path; nil when there is no source
// storage. A chain of only noop operations returns src untouched, in
// its own format. The decoders, operations and encoders poll ctx (once
// a row or so): once it ends, transformSource returns its error.
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
	if err := pl.toSRGB(ctx, pic); err != nil {
		return result{}, err
	}
	return pl.render(ctx, pic, scaler, rest, newFlatImages(images, eo.decode, eo.log, eo.colours))
}
