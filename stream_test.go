package main

import (
	"bytes"
	"context"
	"image"
	"image/gif"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

const (
	gifDisposalNone       = gif.DisposalNone
	gifDisposalBackground = gif.DisposalBackground
	gifDisposalPrevious   = gif.DisposalPrevious
)

// maxPixelDiff is the largest difference of one channel between a and b,
// or 256 when their sizes differ.
func maxPixelDiff(a, b *image.RGBA) int {
	if a.Rect.Size() != b.Rect.Size() {
		return 256
	}
	d := 0
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := range h {
		ra := a.Pix[y*a.Stride : y*a.Stride+4*w]
		rb := b.Pix[y*b.Stride : y*b.Stride+4*w]
		for i := range ra {
			d = max(d, absInt(int(ra[i])-int(rb[i])))
		}
	}
	return d
}

// pixelDiffStats is the largest channel difference between a and b
// (256 when their sizes differ), the mean absolute difference over all
// channels and the PSNR in dB (+Inf when equal).
func pixelDiffStats(a, b *image.RGBA) (maxd int, mad, psnr float64) {
	if a.Rect.Size() != b.Rect.Size() {
		return 256, 256, 0
	}
	var sum, sq float64
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := range h {
		ra := a.Pix[y*a.Stride : y*a.Stride+4*w]
		rb := b.Pix[y*b.Stride : y*b.Stride+4*w]
		for i := range ra {
			d := absInt(int(ra[i]) - int(rb[i]))
			maxd = max(maxd, d)
			sum += float64(d)
			sq += float64(d * d)
		}
	}
	n := float64(4 * w * h)
	return maxd, sum / n, 10 * math.Log10(255*255/(sq/n))
}

// TestDecodePNGScaled checks that scaling a PNG while decoding it gives
// what decoding it whole and then running the operation gives: the same
// bytes, one level at most when resampleArea takes its columns first,
// and close when the streaming path sums boxes of pixels before its
// Lanczos (boxFactor): the corpus PNG to 400 wide is within one level
// (PSNR 69 dB), avatar.png 42-58 dB, the synthetic noise shrunk 9x to
// 11 wide, the worst case, 38 dB; the bound is PSNR >= 36 dB, mean <= 3.
func TestDecodePNGScaled(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	synthetic := testPNG(t, rng, 97, 61, 6, 8, []byte{0, 1, 2, 3, 4}, nil, nil, 1000)
	files := map[string][]byte{
		"alpha-arc-colors": testdataFile(t, "alpha-arc-colors-2140x1200.png"),
		"avatar":           testdataFile(t, "avatar.png"),
		"synthetic":        synthetic,
	}
	queries := []string{
		"op=resize&w=400",
		"op=resize&h=37",
		"op=resize&w=50&h=50",
		"op=resize&w=300&h=20",
		"op=resize&w=1000",
		"op=resize&w=1000&upscale=0",
		"op=fit&w=120&h=120",
		"op=fit&w=5000&h=5000",
		"op=thumbnail&w=100&h=100",
		"op=thumbnail&w=40&h=90",
		"op=thumbnail&w=30",
		"op=pad&w=200&h=200&color=ff000080",
		"op=pad&w=90&h=30",
		"op=resize&w=11&op=op:rotate+deg:90",
	}
	for name, data := range files {
		for _, q := range queries {
			t.Run(name+" "+q, func(t *testing.T) {
				r := parseTestRequest(t, "path=x&"+q)
				got, err := decodePNGScaled(context.Background(), data, testEngine, r.ops)
				if err != nil {
					t.Fatal(err)
				}
				full, err := decode(context.Background(), data, testEngine.decode)
				if err != nil {
					t.Fatal(err)
				}
				want, err := r.ops[0].apply(context.Background(), full.still, nil, testEngine.maxOutputPixels)
				if err != nil {
					t.Fatal(err)
				}
				if got == nil {
					if want != full.still {
						t.Fatalf("decodePNGScaled declined, but %s scales", q)
					}
					return
				}
				if got.kind != pictureScaled {
					t.Errorf("kind %d, not pictureScaled", got.kind)
				}
				d, mad, psnr := pixelDiffStats(got.still, want)
				t.Logf("max %d, mean %.4f, PSNR %.1f dB", d, mad, psnr)
				plan, _, _ := planScale(r.ops[0], full.width, full.height, testEngine.maxOutputPixels)
				if box, _ := boxFactor(plan.cw, plan.w, 64); box == 1 {
					if d > 1 {
						t.Errorf("decodePNGScaled(context.Background(), %s) differs from decode then apply by %d", q, d)
					}
				} else if mad > 3 || psnr < 36 || d > 16 {
					// The box before the Lanczos along x: see boxFactor.
					t.Errorf("decodePNGScaled(context.Background(), %s), box %d, against decode then apply: max %d, mean %.4f, PSNR %.1f dB; want max <= 16, mean <= 3, PSNR >= 36 dB", q, box, d, mad, psnr)
				}
			})
		}
	}
}

// decodePNGScaled decodes data as the plan of a request with ops on it
// does when it takes the PNG rows route (routePNGRows); nil, nil when
// the plan takes another.
func decodePNGScaled(ctx context.Context, data []byte, eo engineOptions, ops []operation) (*picture, error) {
	in, err := inspectSource(data)
	if err != nil {
		return nil, nil
	}
	pl := planDecode(in, ops, eo, nil)
	if pl.route != routePNGRows || eo.decode.checkSource(in.header) != nil {
		return nil, nil
	}
	return pl.decode(ctx, data)
}

func BenchmarkDecodePNGScaled(b *testing.B) {
	data := testdataFile(b, "alpha-arc-colors-2140x1200.png")
	r := parseTestRequest(b, "path=x&op=resize&w=400")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodePNGScaled(context.Background(), data, testEngine, r.ops); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFrameScaler checks, frame by frame, that scaling only what each
// frame changed gives what scaling each whole composited frame gives.
func TestFrameScaler(t *testing.T) {
	synthetic := buildGIF(t, 40, 30, 0,
		gifFrame{image.Rect(0, 0, 4, 4), "RRRR/RGRR/RRBR/RRRR", gifDisposalNone, 10},
		gifFrame{image.Rect(10, 5, 13, 7), "BTW/GBK", gifDisposalBackground, 20},
		gifFrame{image.Rect(30, 20, 31, 21), "W", gifDisposalPrevious, 30},
		gifFrame{image.Rect(0, 0, 40, 1), strings.Repeat("K", 40), gifDisposalNone, 40},
		gifFrame{image.Rect(20, 10, 22, 12), "TT/TT", gifDisposalNone, 40},
	)
	files := map[string][]byte{
		"giphy":     testdataFile(t, "giphy.gif"),
		"synthetic": synthetic,
	}
	if os.Getenv("PICFIT_CORPUS") != "" { // the 125-frame GIF is in the corpus only
		files["imgproxy"] = corpusFile(t, "animated-imgproxy-demo-978x720-125f.gif")
	}
	queries := []string{"op=resize&w=100", "op=thumbnail&w=31&h=17", "op=thumbnail&w=10&h=40", "op=fit&w=23&h=23", "op=pad&w=50&h=20", "op=resize&w=300"}
	for name, data := range files {
		for _, q := range queries {
			t.Run(name+" "+q, func(t *testing.T) {
				r := parseTestRequest(t, "path=x&"+q)
				pic, err := decode(context.Background(), data, testEngine.decode)
				if err != nil {
					t.Fatal(err)
				}
				s, err := newFrameScaler(context.Background(), pic, r.ops[0], testEngine.maxOutputPixels)
				if err != nil || s == nil {
					t.Fatalf("newFrameScaler = %v, %v", s, err)
				}
				n := 0
				err = pic.eachCanvas(context.Background(), func(img *image.RGBA, changed []canvasRun, _ int) error {
					got := s.frame(img, changed)
					want, err := r.ops[0].apply(context.Background(), img, nil, testEngine.maxOutputPixels)
					if err != nil {
						return err
					}
					if d := maxPixelDiff(got, want); d > 1 {
						t.Fatalf("frame %d differs from scaling the whole frame by %d", n, d)
					}
					n++
					return nil
				})
				if err != nil || n != pic.frameCount() {
					t.Fatalf("eachCanvas = %d frames, %v", n, err)
				}
			})
		}
	}
}

func BenchmarkSumWide(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, taps = 2140, 33
	p, q, pq := make([]uint64, 2*n), make([]uint64, 2*n), make([]uint64, 4*n)
	for i := range p {
		p[i], q[i] = rng.Uint64()&laneMask, rng.Uint64()&laneMask
	}
	for i := range n {
		pq[4*i], pq[4*i+1], pq[4*i+2], pq[4*i+3] = p[2*i], p[2*i+1], q[2*i], q[2*i+1]
	}
	ws := make([]int32, taps)
	for i := range ws {
		ws[i] = int32(rng.IntN(1000))
	}
	b.Run("one row twice", func(b *testing.B) {
		var s int64
		for b.Loop() {
			for x := 0; x+taps <= n; x += 5 {
				a, c := sumWide(p[2*x:2*(x+taps)], ws)
				d, e := sumWide(q[2*x:2*(x+taps)], ws)
				s += a + c + d + e
			}
		}
		sink = s
	})
	b.Run("two rows", func(b *testing.B) {
		var s int64
		for b.Loop() {
			for x := 0; x+taps <= n; x += 5 {
				a, c, d, e := sum4(pq[4*x:4*(x+taps)], ws)
				s += a + c + d + e
			}
		}
		sink = s
	})
}

var sink int64

// TestSpreadBox2 compares spreadBox2 with the box sums made pixel by
// pixel, on both of its paths (2x2 boxes, and any box of rows), with
// a last box cut short and a last box of rows cut short.
func TestSpreadBox2(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const sw, rows = 37, 16
	stride := sw * 4
	batch := make([]uint8, rows*stride)
	for i := range batch {
		batch[i] = uint8(rng.IntN(256))
		if rng.IntN(8) == 0 {
			batch[i] = 255 // the largest sums
		}
	}
	// pm is batch premultiplied, for the NRGBA path.
	pm := make([]uint8, len(batch))
	for y := range rows {
		premulRow(pm[y*stride:(y+1)*stride], batch[y*stride:(y+1)*stride])
	}
	// want is the wide pixel (c0 | c1<<32 for channels c0, c1 of byte
	// offsets ch and ch+2) of box o of ref over rows lo..hi-1, repeated
	// to vbox.
	want := func(ref []uint8, lo, hi, vbox, off, px, box, o, ch int) uint64 {
		var s0, s1 uint64
		for j := range vbox {
			y := min(lo+j, hi-1)
			for i := range box {
				x := min(o*box+i, px-1)
				p := ref[y*stride+off+x*4:]
				s0, s1 = s0+uint64(p[ch]), s1+uint64(p[ch+2])
			}
		}
		return s0 | s1<<32
	}
	for _, box := range []int{2, 4, 8} {
		for _, vbox := range []int{1, 2, 4} {
			for _, cut := range []int{0, 1} { // rows missing from b's box
				for _, x0 := range []int{0, 3} {
					for _, nrgba := range []bool{false, true} {
						if nrgba && (box != 2 || vbox != 2 || cut != 0) {
							continue // spreadBox2's contract
						}
						cw := sw - x0 - rng.IntN(3)
						px := cw
						alo, blo := 0, vbox
						ahi, bhi := vbox, 2*vbox-min(cut, vbox-1)
						nb := (px + box - 1) / box
						in, ref := batch, batch
						if nrgba {
							// Only the pixel of a partial box comes
							// premultiplied.
							in, ref = bytes.Clone(batch), pm
							if px%box != 0 {
								for y := range rows {
									p := in[y*stride+(x0+px-1)*4:][:4]
									premulRow(p, p)
								}
							}
						}
						dst := make([]uint64, nb*4)
						spreadBox2(dst, in, alo, ahi, blo, bhi, vbox, stride, x0*4, cw*4, box, nrgba)
						for o := range nb {
							got := [4]uint64(dst[o*4 : o*4+4])
							w := [4]uint64{
								want(ref, alo, ahi, vbox, x0*4, px, box, o, 0), want(ref, alo, ahi, vbox, x0*4, px, box, o, 1),
								want(ref, blo, bhi, vbox, x0*4, px, box, o, 0), want(ref, blo, bhi, vbox, x0*4, px, box, o, 1),
							}
							if got != w {
								t.Fatalf("box %d, vbox %d, cut %d, x0 %d, nrgba %v: box %d = %x, want %x", box, vbox, cut, x0, nrgba, o, got, w)
							}
						}
					}
				}
			}
		}
	}
}

// TestPremulLanes checks premulRB and premulGA against premul for every colour
// byte and alpha, each pixel of the pair in turn, beside an opaque, a
// transparent and a translucent one.
func TestPremulLanes(t *testing.T) {
	for a := range 256 {
		for c := range 256 {
			u := uint32(c) | uint32(255-c)<<8 | uint32(c^0x5a)<<16 | uint32(a)<<24
			for _, v := range []uint32{0xff123456, 0x00123456, 0x80fe01ff} {
				for _, w := range []uint64{uint64(u) | uint64(v)<<32, uint64(v) | uint64(u)<<32} {
					var want [2]uint64
					for i := range 2 {
						p := uint32(w >> (32 * i))
						r, g, b, al := uint8(p), uint8(p>>8), uint8(p>>16), uint8(p>>24)
						want[0] |= (uint64(premul(r, al)) | uint64(premul(b, al))<<16) << (32 * i)
						want[1] |= (uint64(premul(g, al)) | uint64(al)<<16) << (32 * i)
					}
					if rb, ga := premulRB(w), premulGA(w); rb != want[0] || ga != want[1] {
						t.Fatalf("premulRB, premulGA(%016x) = %016x, %016x; want %016x, %016x", w, rb, ga, want[0], want[1])
					}
				}
			}
		}
	}
}

// TestDecodePNGScaledNRGBA: an RGBA PNG resampled with 2x2 boxes, whose
// rows the resampler premultiplies itself, gives the bytes that
// resampling its premultiplied rows gives, for widths and heights that
// leave a last box of one pixel or of one row.
func TestDecodePNGScaledNRGBA(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, size := range [][4]int{{83, 61, 17, 13}, {84, 62, 17, 13}, {83, 62, 19, 14}, {84, 61, 19, 14}, {700, 200, 100, 30}} {
		w, h := size[0], size[1]
		data := testPNG(t, rng, w, h, 6, 8, []byte{0, 1, 2, 3, 4}, nil, nil, 1<<20)
		for _, plan := range []scalePlan{
			{cw: w, ch: h, w: size[2], h: size[3]},
			{x0: 2, y0: 1, cw: w - 3, ch: h - 3, w: size[2], h: size[3]}, // a crop, as thumbnail's
		} {
			rs := newRowResampler(w, plan)
			if rs.box != 2 || rs.vbox != 2 {
				t.Fatalf("%dx%d to %dx%d: boxes %dx%d, want 2x2", plan.cw, plan.ch, plan.w, plan.h, rs.box, rs.vbox)
			}
			d, ok, err := newPNGDecoder(data)
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			got, err := d.decodeResampled(context.Background(), plan)
			if err != nil {
				t.Fatal(err)
			}
			full, err := decodePNG(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			for y := range h {
				copy(rs.rowBuf(), full.Pix[y*full.Stride:y*full.Stride+w*4])
				rs.push()
			}
			if !bytes.Equal(got.Pix, rs.dst.Pix) {
				t.Errorf("%dx%d to %dx%d at (%d, %d): the NRGBA rows resample to other bytes", plan.cw, plan.ch, plan.w, plan.h, plan.x0, plan.y0)
			}
		}
	}
}
