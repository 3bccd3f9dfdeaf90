package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Where a thumbnail's crop window sits (issue #19). A thumbnail keeps the
// part of the source with the box's aspect ratio, the whole width or the
// whole height of it; placement says where along the other side. Every
// path that crops (thumbnail on RGBA, planScale for the PNG stream and
// the GIF frame scaler, shrunkArea for a JPEG decoded smaller) asks
// cropWindow, so they all keep the same pixels.

// placement is the point of the source the crop window is centred on, as
// far as the image allows, as offsets from the centre in fractions of
// the source's width and height (-0.5..0.5): the zero value is the
// centre, today's crop. smart asks for the point to be found from the
// source's content (smartcrop.go) before the window is chosen.
type placement struct {
	dx, dy float64
	smart  bool
}

// gravities are the placements that gravity names.
var gravities = map[string]placement{
	"center":    {},
	"north":     {dy: -0.5},
	"south":     {dy: 0.5},
	"east":      {dx: 0.5},
	"west":      {dx: -0.5},
	"northeast": {dx: 0.5, dy: -0.5},
	"northwest": {dx: -0.5, dy: -0.5},
	"southeast": {dx: 0.5, dy: 0.5},
	"southwest": {dx: -0.5, dy: 0.5},
	"smart":     {smart: true},
}

// parsePlacement reads gravity and focus ("X,Y" in percent of the source,
// 0..100, decimals allowed); focus overrides gravity.
func parsePlacement(gravity, focus string) (placement, error) {
	var p placement
	if gravity != "" {
		g, ok := gravities[gravity]
		if !ok {
			return p, fmt.Errorf("%w: gravity: want center, north, south, east, west, northeast, northwest, southeast, southwest or smart, got %q", errBadParam, gravity)
		}
		p = g
	}
	if focus == "" {
		return p, nil
	}
	xs, ys, ok := strings.Cut(focus, ",")
	x, errX := parsePercent(xs)
	y, errY := parsePercent(ys)
	if !ok || errX != nil || errY != nil {
		return p, fmt.Errorf("%w: focus: want X,Y in percent of the source, each 0..100, got %q", errBadParam, focus)
	}
	return placement{dx: x/100 - 0.5, dy: y/100 - 0.5}, nil
}

// parsePercent reads a number in 0..100; NaN, infinities, hex floats and
// exponents are refused.
func parsePercent(s string) (float64, error) {
	if s == "" || strings.ContainsAny(s, "xXpPeEnN_") {
		return 0, fmt.Errorf("not a decimal number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 100 {
		return 0, fmt.Errorf("out of range")
	}
	return v, nil
}

// maxDPR is the largest device pixel ratio dpr may ask for.
const maxDPR = 4

// parseDPR reads dpr: 1..4, decimals allowed, 1 when absent.
func parseDPR(s string) (float64, error) {
	if s == "" {
		return 1, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "xXpPeEnN_") || v < 1 || v > maxDPR {
		return 0, fmt.Errorf("%w: dpr: want a number from 1 to %d, got %q", errBadParam, maxDPR, s)
	}
	return v, nil
}

// withDPR multiplies a sizing operation's w and h by dpr, rounding to the
// nearest pixel (math.Round, so 100 at 1.5 is 150 and 333 at 1.5 is 500),
// and checks the multiplied size against max_output_dimension. Other
// operations are returned as they are.
func (op operation) withDPR(dpr float64, maxDimension int) (operation, error) {
	switch op.kind {
	case opResize, opThumbnail, opFit, opPad:
	default:
		return op, nil
	}
	if dpr == 1 {
		return op, nil
	}
	for _, d := range []struct {
		name string
		v    *int
	}{{"w", &op.w}, {"h", &op.h}} {
		n := int(math.Round(float64(*d.v) * dpr))
		if maxDimension > 0 && n > maxDimension {
			return op, fmt.Errorf("%w: %s: %d at dpr %g is %d, over the limit of %d pixels (max_output_dimension)",
				errBadParam, d.name, *d.v, dpr, n, maxDimension)
		}
		*d.v = n
	}
	return op, nil
}

// cropWindow is the part x0, y0, cw×ch of a W×H image with w×h's aspect
// ratio (the whole width or the whole height of it) that a thumbnail
// keeps: centred on p's point as far as the image allows. p.smart must
// have been resolved (placement.resolveRGBA, smartPNG); if not, the window is p's point
// without the content, the centre for gravity=smart.
func cropWindow(W, H, w, h int, p placement) (x0, y0, cw, ch int) {
	cw, ch = W, H
	if W*h > H*w { // source is wider than the box
		cw = max(1, int(math.Round(float64(H)*float64(w)/float64(h))))
	} else {
		ch = max(1, int(math.Round(float64(W)*float64(h)/float64(w))))
	}
	// At the centre, (0.5·W - cw/2) is exact and its floor is (W-cw)/2,
	// the crop picfit has always made.
	at := func(d float64, n, c int) int {
		v := math.Floor((0.5+d)*float64(n) - float64(c)/2)
		return int(min(max(v, 0), float64(n-c)))
	}
	return at(p.dx, W, cw), at(p.dy, H, ch), cw, ch
}
