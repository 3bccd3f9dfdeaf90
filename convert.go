package main

// Converting decoded images of any model to *image.RGBA.

import (
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
)

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
