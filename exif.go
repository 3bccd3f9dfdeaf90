package main

// EXIF orientation, read from a JPEG's APP1, a PNG's eXIf or a WebP's EXIF
// chunk.

import (
	"bytes"
	"encoding/binary"
)

// exifOrientation finds the EXIF orientation of an image in format (as
// sniffed) without decoding it: the APP1 "Exif" segment of a JPEG, the
// eXIf chunk of a PNG, the EXIF chunk of a WebP. It returns 1 when there
// is none or it is unreadable or out of 1..8: a bad EXIF block never
// makes an image fail.
func exifOrientation(format format, data []byte) int {
	var tiff []byte
	switch format {
	case formatJPEG:
		tiff = jpegEXIF(data)
	case formatPNG:
		tiff = pngEXIF(data)
	case formatWebP:
		tiff = webpEXIF(data)
	}
	return tiffOrientation(tiff)
}

// exifPrefix starts the payload of a JPEG APP1 EXIF segment; some writers
// also put it in front of PNG and WebP EXIF chunks.
const exifPrefix = "Exif\x00\x00"

// jpegEXIF returns the TIFF block of the first APP1 Exif segment, walking
// the marker segments up to the start of scan.
func jpegEXIF(data []byte) []byte {
	p := 2 // after SOI
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return nil
		}
		marker := data[p+1]
		if marker == 0xff { // fill byte
			p++
			continue
		}
		p += 2
		switch {
		case marker == 0x01 || marker == 0xd8 || marker >= 0xd0 && marker <= 0xd7:
			continue // no length
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(data[p:]))
		if n < 2 || p+n > len(data) {
			return nil
		}
		seg := data[p+2 : p+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte(exifPrefix)) {
			return seg[len(exifPrefix):]
		}
		p += n
	}
	return nil
}

// pngEXIF returns the content of the eXIf chunk, walking the chunks up to
// the first IDAT (the PNG 1.5 extensions require eXIf before it).
func pngEXIF(data []byte) []byte {
	p := 8 // after the signature
	for p+8 <= len(data) {
		n := int64(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		end := int64(p) + 8 + n
		if end > int64(len(data)) {
			return nil
		}
		switch typ {
		case "eXIf":
			return bytes.TrimPrefix(data[p+8:end], []byte(exifPrefix))
		case "IDAT", "IEND":
			return nil
		}
		p = int(end) + 4 // CRC
	}
	return nil
}

// webpEXIF returns the content of the EXIF chunk of a RIFF WebP file.
func webpEXIF(data []byte) []byte {
	p := 12 // after "RIFF", the size and "WEBP"
	for p+8 <= len(data) {
		typ := string(data[p : p+4])
		n := int64(binary.LittleEndian.Uint32(data[p+4:]))
		end := int64(p) + 8 + n
		if end > int64(len(data)) {
			return nil
		}
		if typ == "EXIF" {
			return bytes.TrimPrefix(data[p+8:end], []byte(exifPrefix))
		}
		p = int(end + n&1) // chunks are padded to an even size
	}
	return nil
}

// tiffOrientation reads tag 0x0112 (Orientation) from IFD0 of a TIFF
// block (either byte order). Offsets are checked against the block; any
// inconsistency gives 1.
func tiffOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return 1
	}
	off := int64(bo.Uint32(tiff[4:]))
	if off < 8 || off+2 > int64(len(tiff)) {
		return 1
	}
	n := int64(bo.Uint16(tiff[off:]))
	for i := int64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > int64(len(tiff)) {
			return 1
		}
		entry := tiff[e : e+12]
		if bo.Uint16(entry) != 0x0112 {
			continue
		}
		var v uint32
		switch typ, count := bo.Uint16(entry[2:]), bo.Uint32(entry[4:]); {
		case typ == 3 && count >= 1: // SHORT, stored in the value field
			v = uint32(bo.Uint16(entry[8:]))
		case typ == 4 && count == 1: // LONG, which some writers use
			v = bo.Uint32(entry[8:])
		default:
			return 1
		}
		if v < 1 || v > 8 {
			return 1
		}
		return int(v)
	}
	return 1
}
