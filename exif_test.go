package main

import (
	"encoding/binary"
	"testing"
)

// tiffEntry is one IFD entry for tiffBlock.
type tiffEntry struct {
	tag, typ uint16
	count    uint32
	value    uint32 // SHORT values go in the first two bytes of the field
}

// byteOrder is what binary.LittleEndian and binary.BigEndian both are.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiffBlock builds a TIFF header plus IFD0 holding entries, in byte order
// bo, with IFD0 at offset 8.
func tiffBlock(bo byteOrder, entries ...tiffEntry) []byte {
	b := make([]byte, 8, 8+2+12*len(entries)+4)
	if bo == binary.LittleEndian {
		copy(b, "II")
	} else {
		copy(b, "MM")
	}
	bo.PutUint16(b[2:], 42)
	bo.PutUint32(b[4:], 8)
	b = bo.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = bo.AppendUint16(b, e.tag)
		b = bo.AppendUint16(b, e.typ)
		b = bo.AppendUint32(b, e.count)
		if e.typ == 3 {
			b = bo.AppendUint16(b, uint16(e.value))
			b = append(b, 0, 0)
		} else {
			b = bo.AppendUint32(b, e.value)
		}
	}
	return bo.AppendUint32(b, 0) // no IFD1
}

// orientationTIFF is a TIFF block whose only tag is Orientation = o.
func orientationTIFF(bo byteOrder, o uint16) []byte {
	return tiffBlock(bo, tiffEntry{0x0112, 3, 1, uint32(o)})
}

func TestTIFFOrientation(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	patch := func(b []byte, off int, v ...byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[off:], v)
		return c
	}
	other := tiffEntry{0x010f, 2, 6, 0x1234} // Make, before Orientation
	tests := []struct {
		name string
		tiff []byte
		want int
	}{
		{"little-endian 6", orientationTIFF(le, 6), 6},
		{"big-endian 6", orientationTIFF(be, 6), 6},
		{"big-endian 8", orientationTIFF(be, 8), 8},
		{"little-endian 3", orientationTIFF(le, 3), 3},
		{"after another tag", tiffBlock(le, other, tiffEntry{0x0112, 3, 1, 5}), 5},
		{"LONG type", tiffBlock(be, tiffEntry{0x0112, 4, 1, 7}), 7},
		{"no orientation tag", tiffBlock(le, other), 1},
		{"value 0", orientationTIFF(le, 0), 1},
		{"value 9", orientationTIFF(be, 9), 1},
		{"value 0x0600", orientationTIFF(le, 0x0600), 1},
		{"ASCII type", tiffBlock(le, tiffEntry{0x0112, 2, 1, 6}), 1},
		{"count 0", tiffBlock(le, tiffEntry{0x0112, 3, 0, 6}), 1},
		{"bad byte order", patch(orientationTIFF(le, 6), 0, 'I', 'M'), 1},
		{"bad magic", patch(orientationTIFF(le, 6), 2, 43, 0), 1},
		{"IFD offset past the end", patch(orientationTIFF(le, 6), 4, 0xff, 0xff, 0xff, 0xff), 1},
		{"IFD offset inside the header", patch(orientationTIFF(le, 6), 4, 2, 0, 0, 0), 1},
		{"IFD offset at the last byte", patch(orientationTIFF(le, 6), 4, 25, 0, 0, 0), 1},
		{"entry count past the end", patch(tiffBlock(le, other), 8, 0xff, 0xff), 1},
		{"entry cut short", orientationTIFF(le, 6)[:8+2+10], 1},
		{"header only", orientationTIFF(le, 6)[:8], 1},
		{"short", []byte("II*"), 1},
		{"empty", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tiffOrientation(tt.tiff); got != tt.want {
				t.Errorf("tiffOrientation(% x) = %d, want %d", tt.tiff, got, tt.want)
			}
		})
	}
}

// jpegSegment is a marker segment with its length.
func jpegSegment(marker byte, payload []byte) []byte {
	b := []byte{0xff, marker, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(payload)+2))
	return append(b, payload...)
}

func TestJPEGEXIF(t *testing.T) {
	exif := append([]byte(exifPrefix), orientationTIFF(binary.BigEndian, 6)...)
	xmp := []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")
	soi := []byte{0xff, 0xd8}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"APP1 first", cat(soi, jpegSegment(0xe1, exif)), 6},
		{"after APP0 and XMP APP1", cat(soi, jpegSegment(0xe0, []byte("JFIF\x00\x01\x02")), jpegSegment(0xe1, xmp), jpegSegment(0xe1, exif)), 6},
		{"fill bytes before the marker", cat(soi, []byte{0xff, 0xff}, jpegSegment(0xe1, exif)), 6},
		{"after a standalone marker", cat(soi, []byte{0xff, 0xd0}, jpegSegment(0xe1, exif)), 6},
		{"after start of scan", cat(soi, jpegSegment(0xda, []byte{1, 2, 3}), jpegSegment(0xe1, exif)), 1},
		{"no EXIF", cat(soi, jpegSegment(0xe0, []byte("JFIF\x00")), jpegSegment(0xdb, make([]byte, 65))), 1},
		{"length past the end", cat(soi, jpegSegment(0xe1, exif)[:20]), 1},
		{"length below 2", cat(soi, []byte{0xff, 0xe1, 0, 1}, jpegSegment(0xe1, exif)), 1},
		{"garbage instead of a marker", cat(soi, []byte{0x12, 0x34}, jpegSegment(0xe1, exif)), 1},
		{"Exif prefix only", cat(soi, jpegSegment(0xe1, []byte(exifPrefix))), 1},
		{"SOI only", soi, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exifOrientation(formatJPEG, tt.data); got != tt.want {
				t.Errorf("exifOrientation(jpeg % x) = %d, want %d", tt.data, got, tt.want)
			}
		})
	}
}

func TestContainerEXIF(t *testing.T) {
	tiff := orientationTIFF(binary.LittleEndian, 8)
	odd := append(orientationTIFF(binary.LittleEndian, 8), 0) // odd size: padded
	riff := func(chunks ...[]byte) []byte {
		b := []byte("RIFF\x00\x00\x00\x00WEBP")
		for _, c := range chunks {
			b = append(b, c...)
		}
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
		return b
	}
	tests := []struct {
		name   string
		format string
		data   []byte
		want   int
	}{
		{"png eXIf after IHDR", "png", pngFile(pngChunk("IHDR", make([]byte, 13)), pngChunk("eXIf", tiff)), 8},
		{"png eXIf with Exif prefix", "png", pngFile(pngChunk("eXIf", append([]byte(exifPrefix), tiff...))), 8},
		{"png eXIf after IDAT ignored", "png", pngFile(pngChunk("IDAT", []byte{1}), pngChunk("eXIf", tiff)), 1},
		{"png chunk length past the end", "png", pngFile(pngChunk("eXIf", tiff))[:30], 1},
		{"webp EXIF after an odd chunk", "webp", riff(webpChunk("VP8X", make([]byte, 10)), webpChunk("ICCP", []byte{1, 2, 3}), webpChunk("EXIF", tiff)), 8},
		{"webp EXIF with Exif prefix", "webp", riff(webpChunk("EXIF", append([]byte(exifPrefix), tiff...))), 8},
		{"webp EXIF of odd size", "webp", riff(webpChunk("EXIF", odd)), 8},
		{"webp EXIF cut before the value", "webp", riff(webpChunk("EXIF", tiff[:20])), 1},
		{"webp chunk size past the end", "webp", riff(webpChunk("EXIF", tiff))[:30], 1},
		{"bmp has none", "bmp", []byte("BM"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exifOrientation(testFormat(t, tt.format), tt.data); got != tt.want {
				t.Errorf("exifOrientation(%s %s) = %d, want %d", tt.format, tt.name, got, tt.want)
			}
		})
	}
}
