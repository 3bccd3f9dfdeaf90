package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/gif"
	"math/rand/v2"
	"testing"
)

// refFrames composites the frames of data as the engine did before
// gifReader: gif.DecodeAll, then each frame drawn over the canvas and
// disposed of (the old gifCompositor, kept here as the oracle).
func refFrames(data []byte) ([]*image.RGBA, *gif.GIF, error) {
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	canvas := image.NewRGBA(image.Rect(0, 0, g.Config.Width, g.Config.Height))
	var out []*image.RGBA
	for i, m := range g.Image {
		r := m.Rect.Intersect(canvas.Rect)
		var saved *image.RGBA
		if g.Disposal[i] == gif.DisposalPrevious {
			saved = image.NewRGBA(canvas.Rect)
			copy(saved.Pix, canvas.Pix)
		}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				idx := m.ColorIndexAt(x, y)
				if int(idx) >= len(m.Palette) {
					continue
				}
				cr, cg, cb, ca := m.Palette[idx].RGBA()
				if ca == 0 {
					continue
				}
				o := canvas.PixOffset(x, y)
				canvas.Pix[o], canvas.Pix[o+1], canvas.Pix[o+2], canvas.Pix[o+3] = uint8(cr>>8), uint8(cg>>8), uint8(cb>>8), uint8(ca>>8)
			}
		}
		f := image.NewRGBA(canvas.Rect)
		copy(f.Pix, canvas.Pix)
		out = append(out, f)
		switch g.Disposal[i] {
		case gif.DisposalBackground:
			for y := r.Min.Y; y < r.Max.Y; y++ {
				o := canvas.PixOffset(r.Min.X, y)
				clear(canvas.Pix[o : o+4*r.Dx()])
			}
		case gif.DisposalPrevious:
			copy(canvas.Pix, saved.Pix)
		}
	}
	return out, g, nil
}

// TestGIFReaderMatchesImageGIF decodes valid and damaged GIFs with the
// engine and with image/gif: both must accept or refuse the same inputs,
// and accepted ones must give the same frames, delays and loop count.
func TestGIFReaderMatchesImageGIF(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	base := [][]byte{
		buildGIF(t, 3, 3, -1,
			gifFrame{image.Rect(1, 1, 3, 2), "RT", gif.DisposalPrevious, 7},
			gifFrame{image.Rect(0, 2, 1, 3), "G", gif.DisposalBackground, 8}),
		buildGIF(t, 6, 5, 2,
			gifFrame{image.Rect(0, 0, 6, 5), "RRRRRR/RGRRRR/RRBRRR/RRRRRR/KKKKKK", gif.DisposalNone, 10},
			gifFrame{image.Rect(1, 1, 4, 3), "BTW/GBK", gif.DisposalBackground, 20},
			gifFrame{image.Rect(5, 4, 6, 5), "W", gif.DisposalPrevious, 30},
			gifFrame{image.Rect(0, 0, 6, 1), "KWKWKW", gif.DisposalNone, 40}),
	}
	checked, refused := 0, 0
	for i := range 600 {
		data := bytes.Clone(base[i%len(base)])
		if i >= len(base) {
			for range 1 + rng.IntN(3) {
				data[13+rng.IntN(len(data)-13)] = byte(rng.IntN(256))
			}
		}
		h, noTrailer, herr := inspect(data)
		if herr != nil || h.frames < 2 {
			continue // refused or handled before the frames are read
		}
		if noTrailer {
			data = append(data, 0x3b) // what the engine reads too
		}
		want, g, refErr := refFrames(data)
		p, err := decode(context.Background(), data, decodeLimits{maxPixels: 1e8})
		if (err == nil) != (refErr == nil) {
			t.Fatalf("case %d: image/gif says %v, decode %v", i, refErr, err)
		}
		if err != nil {
			if !errors.Is(err, errCorruptImage) {
				t.Fatalf("case %d: %v is not errCorruptImage", i, err)
			}
			refused++
			continue
		}
		checked++
		if p.frameCount() != len(g.Image) || p.loopCount() != g.LoopCount {
			t.Fatalf("case %d: %d frames, loop %d; image/gif %d, %d", i, p.frameCount(), p.loopCount(), len(g.Image), g.LoopCount)
		}
		n := 0
		err = p.eachFrame(context.Background(), func(img *image.RGBA, delay int) error {
			if !bytes.Equal(img.Pix, want[n].Pix) || delay != g.Delay[n] {
				t.Fatalf("case %d frame %d: pixels or delay (%d, want %d) differ", i, n, delay, g.Delay[n])
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 20 || refused < 20 {
		t.Errorf("only %d valid and %d refused variants checked", checked, refused)
	}
	t.Logf("%d variants decoded alike, %d refused by both", checked, refused)
}
