package main

import (
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
)

// The primitives below take any *image.RGBA (Rect.Min need not be (0,0))
// and return a new image whose Rect.Min is (0,0). They index Pix directly:
// row y of src starts at Pix[y*Stride] whatever Rect.Min is. They poll
// ctx once a row (of tiles, for the quarter turns) and stop with its
// error once it ends.

// flipH mirrors src left-right.
func flipH(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := src.Pix[y*src.Stride : y*src.Stride+4*w]
		d := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		for x, j := 0, 4*(w-1); x < 4*w; x, j = x+4, j-4 {
			binary.LittleEndian.PutUint32(d[j:], binary.LittleEndian.Uint32(s[x:]))
		}
	}
	return dst, nil
}

// flipV mirrors src top-bottom.
func flipV(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		copy(dst.Pix[(h-1-y)*dst.Stride:(h-1-y)*dst.Stride+4*w], src.Pix[y*src.Stride:y*src.Stride+4*w])
	}
	return dst, nil
}

// rotate180 turns src upside down.
func rotate180(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := src.Pix[y*src.Stride : y*src.Stride+4*w]
		d := dst.Pix[(h-1-y)*dst.Stride : (h-1-y)*dst.Stride+4*w]
		for x, j := 0, 4*(w-1); x < 4*w; x, j = x+4, j-4 {
			binary.LittleEndian.PutUint32(d[j:], binary.LittleEndian.Uint32(s[x:]))
		}
	}
	return dst, nil
}

// rotate90 turns src 90° counter-clockwise: its top-right corner becomes
// the top-left one. dst(x, y) = src(w-1-y, x).
func rotate90(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	w := src.Rect.Dx()
	return swapAxes(ctx, src, func(y int) int { return 4 * (w - 1 - y) }, src.Stride)
}

// rotate270 turns src 270° counter-clockwise (90° clockwise): its top-left
// corner becomes the top-right one. dst(x, y) = src(y, h-1-x).
func rotate270(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	h := src.Rect.Dy()
	return swapAxes(ctx, src, func(y int) int { return 4*y + (h-1)*src.Stride }, -src.Stride)
}

// transpose mirrors src across its main diagonal (EXIF orientation 5):
// dst(x, y) = src(y, x).
func transpose(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	return swapAxes(ctx, src, func(y int) int { return 4 * y }, src.Stride)
}

// transverse mirrors src across its anti-diagonal (EXIF orientation 7):
// dst(x, y) = src(w-1-y, h-1-x).
func transverse(ctx context.Context, src *image.RGBA) (*image.RGBA, error) {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	return swapAxes(ctx, src, func(y int) int { return 4*(w-1-y) + (h-1)*src.Stride }, -src.Stride)
}

// swapAxes builds the h x w image whose row y is read from src starting at
// Pix offset start(y) and moving step bytes per pixel (a column of src, up
// or down). It walks 64x64 tiles so that both images stay in cache.
func swapAxes(ctx context.Context, src *image.RGBA, start func(y int) int, step int) (*image.RGBA, error) {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, sh, sw))
	const tile = 64
	for ty := 0; ty < sw; ty += tile {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		yEnd := min(ty+tile, sw)
		for tx := 0; tx < sh; tx += tile {
			xEnd := min(tx+tile, sh)
			for y := ty; y < yEnd; y++ {
				s := start(y) + tx*step
				d := dst.Pix[y*dst.Stride+4*tx : y*dst.Stride+4*xEnd]
				for i := 0; i < len(d); i += 4 {
					binary.LittleEndian.PutUint32(d[i:], binary.LittleEndian.Uint32(src.Pix[s:]))
					s += step
				}
			}
		}
	}
	return dst, nil
}

// orient turns an image stored with EXIF orientation 1..8 upright. Any
// other value, and 1, return src itself.
func orient(ctx context.Context, src *image.RGBA, orientation int) (*image.RGBA, error) {
	switch orientation {
	case 2: // row 0 at the top, column 0 on the right
		return flipH(ctx, src)
	case 3: // row 0 at the bottom, column 0 on the right
		return rotate180(ctx, src)
	case 4: // row 0 at the bottom, column 0 on the left
		return flipV(ctx, src)
	case 5: // row 0 on the left, column 0 at the top
		return transpose(ctx, src)
	case 6: // row 0 on the right, column 0 at the top: turn 90° clockwise
		return rotate270(ctx, src)
	case 7: // row 0 on the right, column 0 at the bottom
		return transverse(ctx, src)
	case 8: // row 0 on the left, column 0 at the bottom: turn 90° counter-clockwise
		return rotate90(ctx, src)
	}
	return src, nil
}

// toRGBA converts any image to an *image.RGBA with Rect.Min at (0,0). An
// *image.RGBA already at (0,0) is returned as is. The concrete types that
// the decoders return have fast loops that give the same bytes as
// draw.Draw with draw.Src; anything else goes through draw.Draw.
func toRGBA(m image.Image) *image.RGBA {
	b := m.Bounds()
	switch m := m.(type) {
	case *image.RGBA:
		if b.Min == (image.Point{}) {
			return m
		}
		dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			copy(dst.Pix[y*dst.Stride:y*dst.Stride+4*b.Dx()], m.Pix[y*m.Stride:])
		}
		return dst
	case *image.YCbCr:
		if b.Min.X >= 0 && b.Min.Y >= 0 {
			if hs, vs, ok := chromaShifts(m.SubsampleRatio); ok {
				return ycbcrToRGBA(m, hs, vs)
			}
		}
	case *image.NYCbCrA:
		if b.Min.X >= 0 && b.Min.Y >= 0 {
			if hs, vs, ok := chromaShifts(m.SubsampleRatio); ok {
				return nycbcraToRGBA(m, hs, vs)
			}
		}
	case *image.Gray:
		return convertRows(b, m.Pix, m.Stride, 1, func(d, s []byte) {
			for i, v := range s {
				binary.LittleEndian.PutUint32(d[4*i:], uint32(v)*0x010101|0xff000000)
			}
		})
	case *image.Gray16:
		return convertRows(b, m.Pix, m.Stride, 2, func(d, s []byte) {
			for i := 0; i < len(s); i += 2 {
				binary.LittleEndian.PutUint32(d[2*i:], uint32(s[i])*0x010101|0xff000000)
			}
		})
	case *image.NRGBA:
		return convertRows(b, m.Pix, m.Stride, 4, func(d, s []byte) {
			for i := 0; i < len(s); i += 4 {
				switch a := s[i+3]; a {
				case 0xff:
					copy(d[i:i+4], s[i:i+4])
				case 0:
					binary.LittleEndian.PutUint32(d[i:], 0)
				default:
					// The same math as draw.Draw (drawNRGBASrc).
					sa := uint32(a) * 0x101
					d[i+0] = uint8(uint32(s[i+0]) * sa / 0xff >> 8)
					d[i+1] = uint8(uint32(s[i+1]) * sa / 0xff >> 8)
					d[i+2] = uint8(uint32(s[i+2]) * sa / 0xff >> 8)
					d[i+3] = a
				}
			}
		})
	case *image.NRGBA64:
		return convertRows(b, m.Pix, m.Stride, 8, func(d, s []byte) {
			for i, j := 0, 0; i < len(s); i, j = i+8, j+4 {
				a := uint32(s[i+6])<<8 | uint32(s[i+7])
				d[j+0] = uint8((uint32(s[i+0])<<8 | uint32(s[i+1])) * a / 0xffff >> 8)
				d[j+1] = uint8((uint32(s[i+2])<<8 | uint32(s[i+3])) * a / 0xffff >> 8)
				d[j+2] = uint8((uint32(s[i+4])<<8 | uint32(s[i+5])) * a / 0xffff >> 8)
				d[j+3] = uint8(a >> 8)
			}
		})
	case *image.RGBA64:
		return convertRows(b, m.Pix, m.Stride, 8, func(d, s []byte) {
			for i, j := 0, 0; i < len(s); i, j = i+8, j+4 {
				d[j+0], d[j+1], d[j+2], d[j+3] = s[i], s[i+2], s[i+4], s[i+6]
			}
		})
	case *image.CMYK:
		return convertRows(b, m.Pix, m.Stride, 4, func(d, s []byte) {
			for i := 0; i < len(s); i += 4 {
				r, g, bl := color.CMYKToRGB(s[i], s[i+1], s[i+2], s[i+3])
				d[i+0], d[i+1], d[i+2], d[i+3] = r, g, bl, 0xff
			}
		})
	case *image.Paletted:
		// Indexes past the palette come out transparent black (draw.Draw
		// would panic on them).
		var lut [256]uint32 // little-endian R, G, B, A
		for i, c := range m.Palette {
			if i == len(lut) {
				break
			}
			if c == nil {
				continue
			}
			r, g, bl, a := c.RGBA()
			lut[i] = r>>8 | g>>8<<8 | bl>>8<<16 | a>>8<<24
		}
		return convertRows(b, m.Pix, m.Stride, 1, func(d, s []byte) {
			for i, v := range s {
				binary.LittleEndian.PutUint32(d[4*i:], lut[v])
			}
		})
	}
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Rect, m, b.Min, draw.Src)
	return dst
}

// convertRows allocates the RGBA result and calls row for each source row
// of pix (bpp bytes a pixel, rows stride apart, the first at Rect.Min) with
// the matching destination row.
func convertRows(b image.Rectangle, pix []byte, stride, bpp int, row func(d, s []byte)) *image.RGBA {
	w, h := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		row(dst.Pix[y*dst.Stride:y*dst.Stride+4*w], pix[y*stride:y*stride+bpp*w])
	}
	return dst
}

// chromaShifts gives the horizontal and vertical chroma subsampling of r
// as shifts: 4:2:0 is (1, 1), 4:1:1 is (2, 0).
func chromaShifts(r image.YCbCrSubsampleRatio) (hs, vs uint, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 0, 0, true
	case image.YCbCrSubsampleRatio422:
		return 1, 0, true
	case image.YCbCrSubsampleRatio420:
		return 1, 1, true
	case image.YCbCrSubsampleRatio440:
		return 0, 1, true
	case image.YCbCrSubsampleRatio411:
		return 2, 0, true
	case image.YCbCrSubsampleRatio410:
		return 2, 1, true
	}
	return 0, 0, false
}

// ycbcrToRGBA converts with the integer math of color.YCbCrToRGB, which is
// also what draw.Draw uses. The chroma offsets follow image.YCbCr.COffset
// (coordinates are non-negative, so shifts equal its divisions).
func ycbcrToRGBA(m *image.YCbCr, hs, vs uint) *image.RGBA {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	cx0 := b.Min.X >> hs
	cw := (b.Max.X-1)>>hs - cx0 + 1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := m.Y[(y-b.Min.Y)*m.YStride:][:w]
		ci := (y>>vs - b.Min.Y>>vs) * m.CStride
		cbrow := m.Cb[ci:][:cw]
		crrow := m.Cr[ci:][:cw]
		d := dst.Pix[(y-b.Min.Y)*dst.Stride:][:4*w]
		for i, yv := range yrow {
			c := (b.Min.X+i)>>hs - cx0
			yy1 := int32(yv) * 0x10101
			cb1 := int32(cbrow[c]) - 128
			cr1 := int32(crrow[c]) - 128
			r := yy1 + 91881*cr1
			if uint32(r)&0xff000000 == 0 {
				r >>= 16
			} else {
				r = ^(r >> 31)
			}
			g := yy1 - 22554*cb1 - 46802*cr1
			if uint32(g)&0xff000000 == 0 {
				g >>= 16
			} else {
				g = ^(g >> 31)
			}
			bl := yy1 + 116130*cb1
			if uint32(bl)&0xff000000 == 0 {
				bl >>= 16
			} else {
				bl = ^(bl >> 31)
			}
			p := d[4*i : 4*i+4 : 4*i+4]
			p[0], p[1], p[2], p[3] = uint8(r), uint8(g), uint8(bl), 0xff
		}
	}
	return dst
}

// nycbcraToRGBA converts with the math of color.NYCbCrA.RGBA (16-bit, then
// premultiplied, then the high byte kept).
func nycbcraToRGBA(m *image.NYCbCrA, hs, vs uint) *image.RGBA {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	cx0 := b.Min.X >> hs
	cw := (b.Max.X-1)>>hs - cx0 + 1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := m.Y[(y-b.Min.Y)*m.YStride:][:w]
		arow := m.A[(y-b.Min.Y)*m.AStride:][:w]
		ci := (y>>vs - b.Min.Y>>vs) * m.CStride
		cbrow := m.Cb[ci:][:cw]
		crrow := m.Cr[ci:][:cw]
		d := dst.Pix[(y-b.Min.Y)*dst.Stride:][:4*w]
		for i, yv := range yrow {
			av := arow[i]
			if av == 0 {
				continue // dst is already transparent black
			}
			c := (b.Min.X+i)>>hs - cx0
			yy1 := int32(yv) * 0x10101
			cb1 := int32(cbrow[c]) - 128
			cr1 := int32(crrow[c]) - 128
			r := yy1 + 91881*cr1
			if uint32(r)&0xff000000 == 0 {
				r >>= 8
			} else {
				r = ^(r >> 31) & 0xffff
			}
			g := yy1 - 22554*cb1 - 46802*cr1
			if uint32(g)&0xff000000 == 0 {
				g >>= 8
			} else {
				g = ^(g >> 31) & 0xffff
			}
			bl := yy1 + 116130*cb1
			if uint32(bl)&0xff000000 == 0 {
				bl >>= 8
			} else {
				bl = ^(bl >> 31) & 0xffff
			}
			a := uint32(av) * 0x101
			p := d[4*i : 4*i+4 : 4*i+4]
			p[0] = uint8(uint32(r) * a / 0xffff >> 8)
			p[1] = uint8(uint32(g) * a / 0xffff >> 8)
			p[2] = uint8(uint32(bl) * a / 0xffff >> 8)
			p[3] = av
		}
	}
	return dst
}
