package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/gif"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// compositeGIF decodes data with image/gif and composites its frames as a
// browser does: from a transparent canvas, each frame's opaque pixels
// drawn over what the previous frame's disposal left.
func compositeGIF(t testing.TB, data []byte) []*image.RGBA {
	t.Helper()
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("gif.DecodeAll: %v", err)
	}
	canvas := image.NewRGBA(image.Rect(0, 0, g.Config.Width, g.Config.Height))
	var saved *image.RGBA
	var out []*image.RGBA
	for i, m := range g.Image {
		if i > 0 {
			prev := g.Image[i-1].Rect
			switch g.Disposal[i-1] {
			case gif.DisposalBackground:
				for y := prev.Min.Y; y < prev.Max.Y; y++ {
					for x := prev.Min.X; x < prev.Max.X; x++ {
						canvas.SetRGBA(x, y, color.RGBA{})
					}
				}
			case gif.DisposalPrevious:
				copy(canvas.Pix, saved.Pix)
			}
		}
		if g.Disposal[i] == gif.DisposalPrevious {
			saved = image.NewRGBA(canvas.Rect)
			copy(saved.Pix, canvas.Pix)
		}
		if !m.Rect.In(canvas.Rect) {
			t.Fatalf("frame %d: %v is outside the %v canvas", i, m.Rect, canvas.Rect)
		}
		for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
			for x := m.Rect.Min.X; x < m.Rect.Max.X; x++ {
				c := m.Palette[m.ColorIndexAt(x, y)].(color.RGBA)
				if c.A != 0 {
					canvas.SetRGBA(x, y, c)
				}
			}
		}
		snap := image.NewRGBA(canvas.Rect)
		copy(snap.Pix, canvas.Pix)
		out = append(out, snap)
	}
	return out
}

// scaledFrames decodes src and runs ops on each frame the way the
// full-frame path sees them.
func scaledFrames(t testing.TB, src []byte, query string) []*image.RGBA {
	t.Helper()
	r := parseTestRequest(t, "path=x&"+query)
	pic, err := decode(context.Background(), src, testEngine.decode)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var frames []*image.RGBA
	if err := pic.eachFrame(context.Background(), func(img *image.RGBA, _ int) error {
		out, err := applyOps(context.Background(), img, r.ops, nil, 0)
		if err != nil {
			return err
		}
		if out == img {
			out = image.NewRGBA(img.Rect)
			copy(out.Pix, img.Pix)
		}
		frames = append(frames, out)
		return nil
	}); err != nil {
		t.Fatalf("frames: %v", err)
	}
	return frames
}

// frameError is the mean absolute difference per channel between the
// colours of a and b (pixels with alpha < 128 count as transparent
// black), and the same for 4x4 block means, which is what the eye
// averages of a dithered picture.
func frameError(a, b *image.RGBA) (pixel, block float64) {
	w, h := a.Rect.Dx(), a.Rect.Dy()
	col := func(m *image.RGBA, x, y int) [3]int32 {
		p := (*[4]uint8)(m.Pix[y*m.Stride+x*4:])
		if p[3] < 128 {
			return [3]int32{}
		}
		r, g, b := opaqueRGB(p)
		return [3]int32{r, g, b}
	}
	var sum, bsum float64
	var blocks int
	for by := 0; by+4 <= h; by += 4 {
		for bx := 0; bx+4 <= w; bx += 4 {
			var ca, cb [3]int32
			for y := by; y < by+4; y++ {
				for x := bx; x < bx+4; x++ {
					pa, pb := col(a, x, y), col(b, x, y)
					for c := range 3 {
						ca[c] += pa[c]
						cb[c] += pb[c]
						sum += float64(abs32(pa[c] - pb[c]))
					}
				}
			}
			for c := range 3 {
				bsum += float64(abs32(ca[c]-cb[c])) / 16
			}
			blocks++
		}
	}
	n := float64(blocks * 16 * 3)
	return sum / n, bsum / float64(blocks*3)
}

// TestGIFAnimationVsImageMagick compares the corpus's imgproxy demo at
// w=300 with ImageMagick's "-coalesce -resize 300x -layers optimize":
// no more than 1.25x its bytes, every frame kept, and each composited
// frame as close to the exact scaled frame as the full-frame path's.
func TestGIFAnimationVsImageMagick(t *testing.T) {
	const name, query = "animated-imgproxy-demo-978x720-125f.gif", "op=resize&w=300"
	data := largeCorpusFile(t, name)
	src := filepath.Join(corpusDir(), name)
	if _, err := os.Stat("/usr/bin/convert"); err != nil {
		t.Skip("ImageMagick absent (/usr/bin/convert): apt-get install imagemagick")
	}
	imOut := filepath.Join(t.TempDir(), "im.gif")
	if out, err := exec.Command("/usr/bin/convert", src, "-coalesce", "-resize", "300x", "-layers", "optimize", imOut).CombinedOutput(); err != nil {
		t.Fatalf("convert: %v: %s", err, out)
	}
	im, err := os.ReadFile(imOut)
	if err != nil {
		t.Fatal(err)
	}
	res, err := transform(context.Background(), data, parseTestRequest(t, "path=x&"+query), testEngine, nil)
	if err != nil {
		t.Fatal(err)
	}
	if float64(len(res.data)) > 1.25*float64(len(im)) {
		t.Errorf("%d bytes, ImageMagick %d: over 1.25x", len(res.data), len(im))
	}
	got := compositeGIF(t, res.data)
	want := scaledFrames(t, data, query)
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	var p, b, fp, fb float64
	for i := range want {
		pp, bb := frameError(got[i], want[i])
		fpp, fbb := frameError(paletteRGBA(quantize(want[i])), want[i])
		p, b, fp, fb = p+pp, b+bb, fp+fpp, fb+fbb
	}
	n := float64(len(want))
	t.Logf("%d bytes (ImageMagick %d); mean error pixel %.2f block %.2f, full-frame path %.2f %.2f", len(res.data), len(im), p/n, b/n, fp/n, fb/n)
	if p > fp*1.1 || b > fb*1.25 {
		t.Errorf("mean error pixel %.2f block %.2f, full-frame path %.2f %.2f", p/n, b/n, fp/n, fb/n)
	}
}

// encodeGIFFrames runs frames through a gifAnimation.
func encodeGIFFrames(t testing.TB, frames []*image.RGBA, delays []int, loop int) []byte {
	t.Helper()
	var buf bytes.Buffer
	a := newGIFAnimation(&buf, loop)
	for i, f := range frames {
		if err := a.add(f, delays[i]); err != nil {
			t.Fatalf("add frame %d: %v", i, err)
		}
	}
	if err := a.finish(); err != nil {
		t.Fatalf("finish: %v", err)
	}
	return buf.Bytes()
}

// asShown is img as a GIF shows it: alpha < 128 transparent, the rest
// opaque in its unpremultiplied colour.
func asShown(img *image.RGBA) *image.RGBA {
	out := image.NewRGBA(img.Rect)
	for i := 0; i < len(out.Pix); i += 4 {
		p := (*[4]uint8)(img.Pix[i:])
		if p[3] < 128 {
			continue
		}
		r, g, b := opaqueRGB(p)
		copy(out.Pix[i:], []uint8{uint8(r), uint8(g), uint8(b), 255})
	}
	return out
}

// animFrame is a w×h frame: stripes of a few colours, a square of
// colour c at (x, y), and a transparent hole where hole is not empty.
func animFrame(w, h, x, y int, c color.RGBA, hole image.Rectangle) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	stripes := []color.RGBA{{200, 30, 30, 255}, {30, 200, 30, 255}, {30, 30, 200, 255}}
	for py := range h {
		for px := range w {
			v := stripes[(px/3)%len(stripes)]
			switch {
			case image.Pt(px, py).In(hole):
				v = color.RGBA{}
			case px >= x && px < x+3 && py >= y && py < y+3:
				v = c
			}
			m.SetRGBA(px, py, v)
		}
	}
	return m
}

// gradientFrame is a w×h frame of smooth gradients (thousands of
// colours) with a 6x6 square of noise at (x, y).
func gradientFrame(w, h, x, y int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for py := range h {
		for px := range w {
			v := color.RGBA{uint8(px * 255 / w), uint8(py * 255 / h), uint8((px + py) * 97 % 256), 255}
			if px >= x && px < x+6 && py >= y && py < y+6 {
				v = color.RGBA{uint8(px * 37), uint8(py * 53), uint8(px * py), 255}
			}
			m.SetRGBA(px, py, v)
		}
	}
	return m
}

// TestGIFAnimationExact checks that frames of few colours come back
// from the compact GIF, composited as a browser does, exactly as given,
// and that frames after the first are written as small rectangles.
func TestGIFAnimationExact(t *testing.T) {
	const w, h = 24, 12
	red, white := color.RGBA{255, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	none := image.Rectangle{}
	hole := image.Rect(4, 4, 10, 8)
	tests := []struct {
		name     string
		frames   []*image.RGBA
		loop     int
		maxRects []image.Rectangle // the largest rectangle each frame may have
	}{
		{
			name:     "moving square",
			frames:   []*image.RGBA{animFrame(w, h, 0, 0, red, none), animFrame(w, h, 2, 1, red, none), animFrame(w, h, 5, 1, white, none)},
			maxRects: []image.Rectangle{image.Rect(0, 0, w, h), image.Rect(0, 0, 5, 4), image.Rect(2, 1, 8, 4)},
		},
		{
			name:   "hole opens and closes",
			frames: []*image.RGBA{animFrame(w, h, 15, 5, red, none), animFrame(w, h, 15, 5, red, hole), animFrame(w, h, 15, 5, red, none)},
			// Only the first frame's disposal can clear the hole, and
			// that clears the whole canvas.
			maxRects: []image.Rectangle{image.Rect(0, 0, w, h), image.Rect(0, 0, w, h), image.Rect(4, 4, 10, 8)},
		},
		{
			name:     "transparent first frame, played once",
			frames:   []*image.RGBA{animFrame(w, h, 15, 5, red, hole), animFrame(w, h, 15, 5, white, none)},
			loop:     -1,
			maxRects: []image.Rectangle{image.Rect(0, 0, w, h), image.Rect(4, 4, 18, 8)},
		},
		{
			name:     "unchanged frames",
			frames:   []*image.RGBA{animFrame(w, h, 1, 1, red, none), animFrame(w, h, 1, 1, red, none), animFrame(w, h, 1, 1, red, none)},
			maxRects: []image.Rectangle{image.Rect(0, 0, w, h), image.Rect(0, 0, 1, 1), image.Rect(0, 0, 1, 1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delays := make([]int, len(tt.frames))
			for i := range delays {
				delays[i] = 10 * (i + 1)
			}
			data := encodeGIFFrames(t, tt.frames, delays, tt.loop)
			g, err := gif.DecodeAll(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("gif.DecodeAll: %v", err)
			}
			if g.LoopCount != tt.loop {
				t.Errorf("loop count = %d, want %d", g.LoopCount, tt.loop)
			}
			if g.Config.Width != w || g.Config.Height != h {
				t.Errorf("canvas = %dx%d, want %dx%d", g.Config.Width, g.Config.Height, w, h)
			}
			for i, m := range g.Image {
				if g.Delay[i] != delays[i] {
					t.Errorf("frame %d delay = %d, want %d", i, g.Delay[i], delays[i])
				}
				if !m.Rect.In(tt.maxRects[i]) {
					t.Errorf("frame %d rect = %v, want inside %v", i, m.Rect, tt.maxRects[i])
				}
			}
			got := compositeGIF(t, data)
			if len(got) != len(tt.frames) {
				t.Fatalf("decoded %d frames, want %d", len(got), len(tt.frames))
			}
			for i, f := range tt.frames {
				if want := asShown(f); !bytes.Equal(got[i].Pix, want.Pix) {
					t.Errorf("frame %d composited differs from the frame given", i)
				}
			}
			// picfit's own decoder, reading its output, agrees.
			pic, err := decode(context.Background(), data, testEngine.decode)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			i := 0
			if err := pic.eachFrame(context.Background(), func(img *image.RGBA, _ int) error {
				if want := asShown(tt.frames[i]); !bytes.Equal(img.Pix, want.Pix) {
					t.Errorf("frame %d as picfit decodes it differs from the frame given", i)
				}
				i++
				return nil
			}); err != nil || i != len(tt.frames) {
				t.Errorf("picfit decoded %d frames (%v), want %d", i, err, len(tt.frames))
			}
		})
	}
}

// TestGIFAnimationLoopClears checks that when the first frame has
// transparent pixels, the last frame's disposal clears them, so that a
// viewer that does not clear the canvas between loops shows the first
// frame right on its second play.
func TestGIFAnimationLoopClears(t *testing.T) {
	hole := image.Rect(2, 2, 6, 5)
	frames := []*image.RGBA{
		animFrame(12, 8, 8, 4, color.RGBA{255, 0, 0, 255}, hole),
		animFrame(12, 8, 8, 4, color.RGBA{0, 0, 0, 255}, image.Rectangle{}),
	}
	data := encodeGIFFrames(t, frames, []int{5, 5}, 0)
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("gif.DecodeAll: %v", err)
	}
	// Play it twice on one canvas.
	g.Image = append(g.Image, g.Image...)
	g.Disposal = append(g.Disposal, g.Disposal...)
	g.Delay = append(g.Delay, g.Delay...)
	var twice bytes.Buffer
	if err := gif.EncodeAll(&twice, g); err != nil {
		t.Fatalf("gif.EncodeAll: %v", err)
	}
	got := compositeGIF(t, twice.Bytes())
	for i := range got {
		if want := asShown(frames[i%2]); !bytes.Equal(got[i].Pix, want.Pix) {
			t.Errorf("play %d frame %d composited differs from the frame given", i/2+1, i%2)
		}
	}
}

// TestGIFAnimationQuantised checks frames of many colours: each
// composited frame is as close to its source as the full-frame path's
// quantize of that frame is (within a tolerance: the palettes and the
// dithering differ), and what a frame leaves unchanged in the source
// stays unchanged on screen.
func TestGIFAnimationQuantised(t *testing.T) {
	const w, h = 64, 48
	var frames []*image.RGBA
	for i := range 6 {
		frames = append(frames, gradientFrame(w, h, 5+7*i, 4+5*i))
	}
	data := encodeGIFFrames(t, frames, []int{4, 4, 4, 4, 4, 4}, 0)
	got := compositeGIF(t, data)
	for i, f := range frames {
		p, b := frameError(got[i], f)
		fp, fb := frameError(paletteRGBA(quantize(f)), f)
		if p > fp*1.25+0.5 || b > fb*1.25+0.5 {
			t.Errorf("frame %d error pixel %.2f block %.2f, full-frame path %.2f %.2f", i, p, b, fp, fb)
		}
		if i == 0 {
			continue
		}
		for y := range h {
			for x := range w {
				o := y*f.Stride + x*4
				if bytes.Equal(f.Pix[o:o+4], frames[i-1].Pix[o:o+4]) && !bytes.Equal(got[i].Pix[o:o+4], got[i-1].Pix[o:o+4]) {
					t.Fatalf("frame %d: pixel (%d,%d) unchanged in the source changed on screen", i, x, y)
				}
			}
		}
	}
}

func paletteRGBA(m *image.Paletted) *image.RGBA {
	out := image.NewRGBA(m.Rect)
	for j, v := range m.Pix {
		c := m.Palette[v].(color.RGBA)
		copy(out.Pix[j*4:], []uint8{c.R, c.G, c.B, c.A})
	}
	return out
}

func TestGIFAnimationErrors(t *testing.T) {
	tests := []struct {
		name   string
		frames []*image.RGBA
	}{
		{"no frames", nil},
		{"sizes differ", []*image.RGBA{image.NewRGBA(image.Rect(0, 0, 4, 4)), image.NewRGBA(image.Rect(0, 0, 4, 5))}},
		{"too wide", []*image.RGBA{{Rect: image.Rect(0, 0, 1<<16, 1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newGIFAnimation(io.Discard, 0)
			var err error
			for _, f := range tt.frames {
				if err = a.add(f, 1); err != nil {
					break
				}
			}
			if err == nil {
				err = a.finish()
			}
			if err == nil {
				t.Errorf("%s: nil error, want one", tt.name)
			}
		})
	}
}

// TestGIFAnimationStreams checks that frames are written as they come
// and not kept: over 380 frames the heap grows by less than half a byte
// a frame pixel, where keeping each frame's indices would cost one (the
// margin is for what the rest of the suite's goroutines allocate).
func TestGIFAnimationStreams(t *testing.T) {
	const w, h = 128, 128
	var out countWriter
	a := newGIFAnimation(&out, 0)
	frame := image.NewRGBA(image.Rect(0, 0, w, h))
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var at20 uint64
	for i := range 400 {
		// Every pixel changes, among 200 colours in no pattern LZW
		// finds: about 16 kB a frame.
		for j := 0; j < len(frame.Pix); j += 4 {
			v := uint8(rng.IntN(200))
			copy(frame.Pix[j:], []uint8{v, 255 - v, v / 2, 255})
		}
		if err := a.add(frame, 2); err != nil {
			t.Fatal(err)
		}
		if i == 20 {
			at20 = heap()
			if out.n < 10*w*h/2 {
				t.Errorf("after 21 frames %d bytes written, want them written as they come", out.n)
			}
		}
	}
	if grown := int64(heap()) - int64(at20); grown > 380*w*h/2 {
		t.Errorf("heap grew %d bytes over 380 frames of %d pixels", grown, w*h)
	}
	if err := a.finish(); err != nil {
		t.Fatal(err)
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// TestTransformGIFCompact runs testdata/giphy.gif through transform:
// scaled (quantised) and flipped (exact), the composited output against
// the frames the full-frame path quantises.
func TestTransformGIFCompact(t *testing.T) {
	data, err := os.ReadFile("testdata/giphy.gif")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		exact       bool
	}{
		{"resize", "op=resize&w=120", false},
		{"flip", "op=flip&pos=h", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := transform(context.Background(), data, parseTestRequest(t, "path=x&"+tt.query), testEngine, nil)
			if err != nil {
				t.Fatal(err)
			}
			again, err := transform(context.Background(), data, parseTestRequest(t, "path=x&"+tt.query), testEngine, nil)
			if err != nil || !bytes.Equal(again.data, res.data) {
				t.Errorf("a second run gave other bytes (%v)", err)
			}
			got := compositeGIF(t, res.data)
			want := scaledFrames(t, data, tt.query)
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got), len(want))
			}
			var p, b, fp, fb float64
			for i := range want {
				if tt.exact {
					if !bytes.Equal(got[i].Pix, asShown(want[i]).Pix) {
						t.Errorf("frame %d composited differs from the flipped frame", i)
					}
					continue
				}
				pp, bb := frameError(got[i], want[i])
				fpp, fbb := frameError(paletteRGBA(quantize(want[i])), want[i])
				p, b, fp, fb = p+pp, b+bb, fp+fpp, fb+fbb
			}
			if !tt.exact && (p > fp*1.1 || b > fb*1.25) {
				n := float64(len(want))
				t.Errorf("mean error pixel %.2f block %.2f, full-frame path %.2f %.2f", p/n, b/n, fp/n, fb/n)
			}
		})
	}
}
