package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata/golden")

// parseTestRequest parses a query for engine tests.
func parseTestRequest(t testing.TB, query string) *request {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseRequest(v, requestLimits{maxDimension: 8192, maxOperations: 10})
	if err != nil {
		t.Fatalf("parseRequest(%q): %v", query, err)
	}
	return r
}

var testEngine = engineOptions{quality: 95, defaultFormat: formatPNG, maxOutputPixels: 40_000_000, decode: decodeLimits{maxPixels: 100_000_000}}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// transformFile runs query on a testdata file, loading flat images from testdata.
func transformFile(t testing.TB, name, query string) result {
	t.Helper()
	r := parseTestRequest(t, "path="+name+"&"+query)
	res, err := transform(context.Background(), readTestdata(t, name), r, testEngine, func(p string) ([]byte, error) {
		return os.ReadFile(filepath.Join("testdata", p))
	})
	if err != nil {
		t.Fatalf("transform(context.Background(), %s, %s): %v", name, query, err)
	}
	return res
}

func TestSpecOperationExamples(t *testing.T) {
	tests := []struct {
		query        string
		wantW, wantH int
	}{
		{"op=resize&w=100", 100, 71},
		{"op=resize&h=100", 140, 100},
		{"op=resize&w=100&h=100", 100, 100},
		{"op=resize", 500, 357},
		{"op=fit&w=100&h=100", 100, 71},
		{"op=fit&w=100", 100, 71},
		{"op=fit&w=1000&h=1000", 500, 357},
		{"op=thumbnail&w=100&h=100", 100, 100},
		{"op=thumbnail&w=100", 100, 71},
		{"op=thumbnail&h=100", 140, 100},
		{"op=thumbnail&w=1000&h=100&upscale=0", 500, 357},
		{"op=resize&w=1000&upscale=0", 500, 357},
		{"op=resize&w=1000", 1000, 714},
		{"op=resize&w=50&upscale=0", 50, 36},
		{"op=pad&w=100&h=100", 100, 100},
		{"op=pad&w=1000&h=1000&upscale=0", 500, 357},
		{"op=pad&w=100", 100, 71},
		{"op=rotate&deg=90", 357, 500},
		{"op=rotate&deg=180", 500, 357},
		{"op=rotate&deg=270", 357, 500},
		{"op=flip&pos=h", 500, 357},
		{"op=effect&filter=blur", 500, 357},
		{"op=op:flat+path:avatar.png+pos:0.0.50.50", 500, 357},
		{"op=resize&w=100&op=op:rotate+deg:90", 71, 100},
		{"op=op:resize+w:200+h:100&op=op:thumbnail+w:50+h:50&op=op:rotate+deg:270", 50, 50},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := transformFile(t, "schwarzy.jpg", tt.query+"&fmt=png")
			m, err := png.Decode(bytes.NewReader(res.data))
			if err != nil {
				t.Fatal(err)
			}
			if b := m.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("%s on 500x357 = %dx%d, want %dx%d", tt.query, b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
		})
	}
}

// pattern is a w×h image with distinct opaque colours in its corners
// and a grey middle.
func pattern(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{128, 128, 128, 255})
		}
	}
	m.Set(0, 0, color.RGBA{255, 0, 0, 255})       // top-left red
	m.Set(w-1, 0, color.RGBA{0, 255, 0, 255})     // top-right green
	m.Set(0, h-1, color.RGBA{0, 0, 255, 255})     // bottom-left blue
	m.Set(w-1, h-1, color.RGBA{255, 255, 0, 255}) // bottom-right yellow
	return m
}

func TestOperationPixels(t *testing.T) {
	red, green, blue, yellow := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{255, 255, 0, 255}
	tests := []struct {
		name   string
		op     operation
		corner [4]color.RGBA // top-left, top-right, bottom-left, bottom-right after
		w, h   int
	}{
		{"flip h", operation{kind: opFlip, axis: 'h'}, [4]color.RGBA{green, red, yellow, blue}, 5, 3},
		{"flip v", operation{kind: opFlip, axis: 'v'}, [4]color.RGBA{blue, yellow, red, green}, 5, 3},
		{"rotate 90 ccw", operation{kind: opRotate, deg: 90}, [4]color.RGBA{green, yellow, red, blue}, 3, 5},
		{"rotate 180", operation{kind: opRotate, deg: 180}, [4]color.RGBA{yellow, blue, green, red}, 5, 3},
		{"rotate 270 ccw", operation{kind: opRotate, deg: 270}, [4]color.RGBA{blue, red, yellow, green}, 3, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.op.apply(context.Background(), pattern(5, 3), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			w, h := out.Rect.Dx(), out.Rect.Dy()
			if w != tt.w || h != tt.h {
				t.Fatalf("%s: %dx%d, want %dx%d", tt.name, w, h, tt.w, tt.h)
			}
			got := [4]color.RGBA{out.RGBAAt(0, 0), out.RGBAAt(w-1, 0), out.RGBAAt(0, h-1), out.RGBAAt(w-1, h-1)}
			if got != tt.corner {
				t.Errorf("%s corners = %v, want %v", tt.name, got, tt.corner)
			}
		})
	}
}

func TestPadFillsAndKeepsAspect(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for i := range src.Pix {
		src.Pix[i] = 255 // opaque white
	}
	op := operation{kind: opPad, w: 100, h: 100, upscale: true, color: color.NRGBA{255, 0, 0, 255}, filled: true}
	out, err := op.apply(context.Background(), src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if out.Rect.Dx() != 100 || out.Rect.Dy() != 100 {
		t.Fatalf("pad = %v, want 100x100", out.Rect)
	}
	// The 200x100 image fits as 100x50 centred: rows 25..74 white, the rest red.
	checks := []struct {
		x, y int
		want color.RGBA
	}{
		{50, 10, color.RGBA{255, 0, 0, 255}},
		{50, 90, color.RGBA{255, 0, 0, 255}},
		{50, 50, color.RGBA{255, 255, 255, 255}},
		{0, 30, color.RGBA{255, 255, 255, 255}},
		{99, 70, color.RGBA{255, 255, 255, 255}},
	}
	for _, c := range checks {
		if got := out.RGBAAt(c.x, c.y); got != c.want {
			t.Errorf("pad pixel (%d,%d) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	transparent := operation{kind: opPad, w: 100, h: 100, upscale: true}
	out, _ = transparent.apply(context.Background(), src, nil, 0)
	if got := out.RGBAAt(50, 5); got.A != 0 {
		t.Errorf("pad without colour: border = %v, want transparent", got)
	}
}

func TestThumbnailCropsCentre(t *testing.T) {
	// 300x100: left third red, middle green, right third blue. A 100x100
	// thumbnail keeps the middle.
	src := image.NewRGBA(image.Rect(0, 0, 300, 100))
	for y := range 100 {
		for x := range 300 {
			c := [3]color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}}[x/100]
			src.SetRGBA(x, y, c)
		}
	}
	out, err := operation{kind: opThumbnail, w: 100, h: 100, upscale: true}.apply(context.Background(), src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []int{5, 50, 94} {
		if got := out.RGBAAt(x, 50); got.G < 240 || got.R > 15 || got.B > 15 {
			t.Errorf("thumbnail pixel (%d,50) = %v, want green", x, got)
		}
	}
}

func TestFlatDrawsRectangleAndImages(t *testing.T) {
	bg := image.NewRGBA(image.Rect(0, 0, 200, 100))
	for i := range bg.Pix {
		bg.Pix[i] = 255
	}
	fg := image.NewRGBA(image.Rect(0, 0, 10, 10))
	for i := 3; i < len(fg.Pix); i += 4 {
		fg.Pix[i] = 255 // opaque black
	}
	op := operation{kind: opFlat, rect: [4]int{0, 0, 50, 100}, color: color.NRGBA{255, 0, 0, 255}, filled: true, images: []string{"fg"}}
	out, err := op.apply(context.Background(), bg, flatOf(t, map[string]*image.RGBA{"fg": fg}), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The rectangle is the left half (100x100); the 10x10 image fitted into
	// its single cell becomes 100x100 black and covers it.
	if got := out.RGBAAt(50, 50); got != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("flat cell pixel = %v, want black", got)
	}
	if got := out.RGBAAt(150, 50); got != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("flat outside the rectangle = %v, want untouched white", got)
	}
	if got := bg.RGBAAt(50, 50); got != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("flat changed its input: %v", got)
	}
	op = operation{kind: opFlat, rect: [4]int{50, 0, 100, 100}, color: color.NRGBA{255, 0, 0, 255}, filled: true}
	out, _ = op.apply(context.Background(), bg, nil, 0)
	if got := out.RGBAAt(150, 50); got != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("flat rectangle = %v, want red", got)
	}
	stick := operation{kind: opFlat, rect: [4]int{0, 0, 100, 100}, w: 20, h: 20, stick: "bottom-right", images: []string{"fg"}}
	out, _ = stick.apply(context.Background(), bg, flatOf(t, map[string]*image.RGBA{"fg": fg}), 0)
	if got := out.RGBAAt(190, 90); got != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("stick bottom-right pixel = %v, want black", got)
	}
	if got := out.RGBAAt(170, 90); got != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("left of the stuck image = %v, want white", got)
	}
}

func TestOutputPixelLimit(t *testing.T) {
	_, err := operation{kind: opResize, w: 5000, h: 5000, upscale: true}.apply(context.Background(), pattern(10, 10), nil, 1_000_000)
	if !errors.Is(err, errTooLarge) {
		t.Errorf("resize past max_output_pixels = %v, want errTooLarge", err)
	}
}

func TestOutputFormat(t *testing.T) {
	tests := []struct {
		requested, forced, source, want string
	}{
		{"jpeg", "png", "gif", "jpeg"},
		{"", "png", "gif", "png"},
		{"", "", "gif", "gif"},
		{"", "", "webp", "webp"},
		{"auto", "", "bmp", "bmp"},
	}
	for _, tt := range tests {
		requested, _ := parseFormat(tt.requested, true)
		forced, _ := parseFormat(tt.forced, false)
		source, _ := parseFormat(tt.source, false)
		eo := engineOptions{format: forced, defaultFormat: formatPNG}
		if got := outputFormat(requested, eo, source); got.String() != tt.want {
			t.Errorf("outputFormat(%q, engine %q, source %q) = %q, want %q", tt.requested, tt.forced, tt.source, got, tt.want)
		}
	}
}

// TestCorpusThroughEveryOperation runs each test image through each
// operation and checks the output's size and frame count. The sizes that
// depend on the source are written out, worked by hand: resize to w keeps
// the aspect ratio, h = round(H*w/W); fit 50x50 scales by
// min(50/W, 50/H) and never enlarges.
func TestCorpusThroughEveryOperation(t *testing.T) {
	type size struct{ w, h int }
	type file struct {
		name            string
		frames          int
		r60, r64, fit50 size // op=resize&w=60, op=resize&w=64, op=fit&w=50&h=50
	}
	files := []file{
		{"tiny-1x1.png", 1, size{60, 60}, size{64, 64}, size{1, 1}},
		{"tiny-1x1.jpg", 1, size{60, 60}, size{64, 64}, size{1, 1}},
		{"tiny-1x1.gif", 1, size{60, 60}, size{64, 64}, size{1, 1}},
		{"avatar.png", 1, size{60, 60}, size{64, 64}, size{50, 50}},                        // 400x400
		{"schwarzy.jpg", 1, size{60, 43}, size{64, 46}, size{50, 36}},                      // 500x357: 42.84, 45.70, 35.7
		{"schwarzy_exif3.jpg", 1, size{60, 43}, size{64, 46}, size{50, 36}},                // same, rotated 180
		{"schwarzy_exif6.jpg", 1, size{60, 84}, size{64, 90}, size{36, 50}},                // displays 357x500: 84.03, 89.64, 35.7
		{"schwarzy_exif8.jpg", 1, size{60, 84}, size{64, 90}, size{36, 50}},                // same
		{"giphy.gif", 37, size{60, 45}, size{64, 48}, size{50, 38}},                        // 400x300: 45, 48, 37.5
		{"exif-orient6-blinds-1200x1920.jpg", 1, size{60, 38}, size{64, 40}, size{50, 31}}, // displays 1920x1200: 37.5, 40, 31.25
		{"cmyk-blinds-1920x1200.jpg", 1, size{60, 38}, size{64, 40}, size{50, 31}},
		{"progressive-picture1a-1365x1074.jpg", 1, size{60, 47}, size{64, 50}, size{50, 39}}, // 47.21, 50.36, 39.34
		{"alpha-arc-colors-2140x1200.png", 1, size{60, 34}, size{64, 36}, size{50, 28}},      // 33.64, 35.89, 28.04
		{"webp-alpha-arc-colors-2140x1200.webp", 1, size{60, 34}, size{64, 36}, size{50, 28}},
		{"webp-seeding-1920x1080.webp", 1, size{60, 34}, size{64, 36}, size{50, 28}}, // 33.75, 36, 28.13
		{"bmp-blinds-200x125.bmp", 1, size{60, 38}, size{64, 40}, size{50, 31}},      // 37.5, 40, 31.25
	}
	ops := []struct {
		query string
		size  func(f file) size
	}{
		{"op=resize&w=60", func(f file) size { return f.r60 }},
		{"op=thumbnail&w=40&h=30", func(file) size { return size{40, 30} }},
		{"op=thumbnail&w=40&h=30&gravity=smart", func(file) size { return size{40, 30} }},
		{"op=thumbnail&w=30&h=40&gravity=smart&fmt=jpg", func(file) size { return size{30, 40} }},
		{"op=thumbnail&w=40&h=30&focus=10,90&dpr=1.5", func(file) size { return size{60, 45} }},
		{"op=resize&w=64&op=op:thumbnail+w:20+h:30+gravity:smart", func(file) size { return size{20, 30} }},
		{"op=fit&w=50&h=50", func(f file) size { return f.fit50 }},
		{"op=pad&w=64&h=48", func(file) size { return size{64, 48} }},
		{"op=resize&w=64&op=flip&pos=v", func(f file) size { return f.r64 }},
		{"op=resize&w=64&op=rotate&deg=90", func(f file) size { return size{f.r64.h, f.r64.w} }},
		{"op=resize&w=64&op=effect&filter=blur", func(f file) size { return f.r64 }},
		{"op=resize&w=64&op=op:flat+path:tiny-1x1.png+pos:0.0.50.50+color:ff000080", func(f file) size { return f.r64 }},
	}
	for _, f := range files {
		for _, op := range ops {
			t.Run(f.name+"/"+op.query, func(t *testing.T) {
				res := transformFile(t, f.name, op.query)
				want := op.size(f)
				wantW, wantH := want.w, want.h
				if res.format == formatGIF {
					g, err := gif.DecodeAll(bytes.NewReader(res.data))
					if err != nil {
						t.Fatal(err)
					}
					if len(g.Image) != f.frames {
						t.Errorf("frames = %d, want %d", len(g.Image), f.frames)
					}
					if g.Config.Width != wantW || g.Config.Height != wantH {
						t.Errorf("size = %dx%d, want %dx%d", g.Config.Width, g.Config.Height, wantW, wantH)
					}
					return
				}
				m, _, err := image.Decode(bytes.NewReader(res.data))
				if err != nil {
					t.Fatalf("decode %s output: %v", res.format, err)
				}
				if b := m.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
					t.Errorf("size = %dx%d, want %dx%d", b.Dx(), b.Dy(), wantW, wantH)
				}
			})
		}
	}
}

// meanAbsDiff is the mean absolute difference per channel of two
// same-sized images, in 0..255.
func meanAbsDiff(a, b image.Image) float64 {
	ab := a.Bounds()
	var sum, n float64
	for y := ab.Min.Y; y < ab.Max.Y; y++ {
		for x := ab.Min.X; x < ab.Max.X; x++ {
			r1, g1, b1, a1 := a.At(x, y).RGBA()
			r2, g2, b2, a2 := b.At(x-ab.Min.X+b.Bounds().Min.X, y-ab.Min.Y+b.Bounds().Min.Y).RGBA()
			for _, d := range [4][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}, {a1, a2}} {
				sum += abs(float64(d[0]>>8) - float64(d[1]>>8))
				n++
			}
		}
	}
	return sum / n
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestGolden compares a few operations against reviewed images in
// testdata/golden; go test -run TestGolden -update rewrites them.
func TestGolden(t *testing.T) {
	tests := []struct {
		name, file, query string
	}{
		{"thumbnail", "schwarzy.jpg", "op=thumbnail&w=120&h=120"},
		{"pad", "schwarzy.jpg", "op=pad&w=120&h=120&color=336699"},
		{"rotate-flip", "schwarzy.jpg", "op=resize&w=120&op=op:rotate+deg:90&op=op:flip+pos:h"},
		{"blur", "avatar.png", "op=resize&w=120&op=effect&filter=blur"},
		{"alpha-resize", "alpha-arc-colors-2140x1200.png", "op=resize&w=160"},
		{"exif6", "exif-orient6-blinds-1200x1920.jpg", "op=resize&w=160"},
		{"flat", "schwarzy.jpg", "op=resize&w=160&op=op:flat+path:avatar.png+path:avatar.png+pos:10.10.90.60+color:ffffff80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := transformFile(t, tt.file, tt.query+"&fmt=png")
			got, err := png.Decode(bytes.NewReader(res.data))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", tt.name+".png")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, res.data, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := png.Decode(bytes.NewReader(readTestdata(t, filepath.Join("golden", tt.name+".png"))))
			if err != nil {
				t.Fatalf("golden %s: %v (run with -update to create it)", golden, err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("%s: size %v, golden %v", tt.name, got.Bounds(), want.Bounds())
			}
			if d := meanAbsDiff(got, want); d > 1.5 {
				t.Errorf("%s: mean abs diff from golden = %.2f, want <= 1.5", tt.name, d)
			}
		})
	}
}

// corpusDir is the larger image corpus: $PICFIT_CORPUS, by default
// ../shared/testdata (see corpusFile).
func corpusDir() string {
	if d := os.Getenv("PICFIT_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "testdata")
}

// BenchmarkPipeline measures decode, transform and encode together, as a
// /display of an uncached image costs.
func BenchmarkPipeline(b *testing.B) {
	cases := []struct {
		name, file, query string
	}{
		{"kleiber-thumb200", "large-kleiber-6028x3391.jpg", "op=thumbnail&w=200&h=200"},
		{"kleiber-thumb200-smart", "large-kleiber-6028x3391.jpg", "op=thumbnail&w=200&h=200&gravity=smart"},
		{"dragonfly-thumb200x400", "large-dragonfly-4224x3168-progressive.jpg", "op=thumbnail&w=200&h=400"},
		{"dragonfly-thumb200x400-smart", "large-dragonfly-4224x3168-progressive.jpg", "op=thumbnail&w=200&h=400&gravity=smart"},
		{"alpha-png-thumb400", "alpha-arc-colors-2140x1200.png", "op=thumbnail&w=400&h=400"},
		{"alpha-png-thumb400-smart", "alpha-arc-colors-2140x1200.png", "op=thumbnail&w=400&h=400&gravity=smart"},
		{"blinds-w800", "medium-blinds-1920x1200.jpg", "op=resize&w=800"},
		{"alpha-png-w400", "alpha-arc-colors-2140x1200.png", "op=resize&w=400"},
		{"giphy-w100", "picfit-fixtures/giphy.gif", "op=resize&w=100"},
		{"imgproxy-gif-w100", "animated-imgproxy-demo-978x720-125f.gif", "op=resize&w=100"},
		{"seeding-prog-w800", "large-seeding-5312x2988-progressive.jpg", "op=resize&w=800"},
		{"dragonfly-prog-w800", "large-dragonfly-4224x3168-progressive.jpg", "op=resize&w=800"},
		{"picture1a-prog-w400", "progressive-picture1a-1365x1074.jpg", "op=resize&w=400"},
		{"webp-wood-w800-jpg", "webp-wood-d-4096x4096.webp", "op=resize&w=800&fmt=jpg"},
		{"webp-wood-w400-jpg", "webp-wood-d-4096x4096.webp", "op=resize&w=400&fmt=jpg"},
		{"webp-seeding-w800-jpg", "webp-seeding-1920x1080.webp", "op=resize&w=800&fmt=jpg"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			data := corpusFile(b, c.file)
			r := parseTestRequest(b, "path=x&"+c.query)
			eo := testEngine
			eo.quality = 80
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			cpu := processCPU()
			for b.Loop() {
				if _, err := transform(context.Background(), data, r, eo, nil); err != nil {
					b.Fatal(err)
				}
			}
			// The process's CPU time, all threads (GC included): what the
			// comparison with vipsthumbnail counts.
			b.ReportMetric(float64(processCPU()-cpu)/1e6/float64(b.N), "cpu-ms/op")
		})
	}
}

// flatOf holds images for flat operations, encoded as PNG by path.
func flatOf(t *testing.T, images map[string]*image.RGBA) *flatImages {
	t.Helper()
	data := map[string][]byte{}
	for p, m := range images {
		var buf bytes.Buffer
		if err := encodeImage(context.Background(), &buf, m, formatPNG, 0, false); err != nil {
			t.Fatal(err)
		}
		data[p] = buf.Bytes()
	}
	return newFlatImages(func(p string) ([]byte, error) {
		if d, ok := data[p]; ok {
			return d, nil
		}
		return nil, fmt.Errorf("%s: %w", p, errNotFound)
	}, decodeLimits{}, nil, nil)
}
