package main

// The image formats: names, extensions, MIME types and magic bytes, in one
// table.

import (
	"bytes"
	"path"
	"strings"
)

// format is an image format picfit reads and writes, or one of the two
// request-only values: formatNone (no fmt=) and formatAuto (fmt=auto,
// resolved from the Accept header). Its String is the name used on the
// wire, in config and in logs ("jpeg", never "jpg").
type format uint8

const (
	formatNone format = iota
	formatJPEG
	formatPNG
	formatGIF
	formatBMP
	formatWebP
	formatAuto
)

// formatInfo is what picfit knows of one format.
type formatInfo struct {
	name string // canonical name: fmt=, engine.format, logs, metrics
	ext  string // stored-file extension, no dot, as the original picfit names its files
	mime string // Content-Type
	// magic: the prefixes one of which starts the format's bytes; a
	// "?" byte matches any byte (WebP's RIFF size).
	magic []string
}

// formats is the table behind format's methods; its index is the format.
// Every format picfit reads it also writes.
var formats = [...]formatInfo{
	formatNone: {},
	formatJPEG: {name: "jpeg", ext: "jpg", mime: "image/jpeg", magic: []string{"\xff\xd8\xff"}},
	formatPNG:  {name: "png", ext: "png", mime: "image/png", magic: []string{"\x89PNG\r\n\x1a\n"}},
	formatGIF:  {name: "gif", ext: "gif", mime: "image/gif", magic: []string{"GIF87a", "GIF89a"}},
	formatBMP:  {name: "bmp", ext: "bmp", mime: "image/bmp", magic: []string{"BM"}},
	formatWebP: {name: "webp", ext: "webp", mime: "image/webp", magic: []string{"RIFF????WEBP"}},
	formatAuto: {name: "auto"},
}

// imageFormats are the image formats, in the order results are looked
// for when nothing tells which one a stored result has.
var imageFormats = []format{formatJPEG, formatPNG, formatGIF, formatBMP, formatWebP}

// String is f's canonical name, "" for formatNone.
func (f format) String() string {
	if int(f) < len(formats) {
		return formats[f].name
	}
	return ""
}

// image reports whether f is an image format (not none or auto): one
// that picfit decodes and encodes.
func (f format) image() bool { return f >= formatJPEG && f <= formatWebP }

// contentType is f's MIME type, application/octet-stream for a value
// that is not an image format.
func (f format) contentType() string {
	if !f.image() {
		return "application/octet-stream"
	}
	return formats[f].mime
}

// extension is the stored-file extension (no dot) of f, "" for a value
// that is not an image format.
func (f format) extension() string {
	if !f.image() {
		return ""
	}
	return formats[f].ext
}

// parseFormat reads a format name as fmt= and the config take it, case
// insensitive: "jpg" is "jpeg"; auto only when allowAuto. ok is false
// for anything else, "" included.
func parseFormat(s string, allowAuto bool) (f format, ok bool) {
	s = strings.ToLower(s)
	if s == "jpg" {
		return formatJPEG, true
	}
	if allowAuto && s == "auto" {
		return formatAuto, true
	}
	for _, f := range imageFormats {
		if formats[f].name == s {
			return f, true
		}
	}
	return formatNone, false
}

// imageFormatNames are the canonical names of the image formats.
func imageFormatNames() []string {
	names := make([]string, len(imageFormats))
	for i, f := range imageFormats {
		names[i] = f.String()
	}
	return names
}

// sniff names the format whose magic bytes start data (never the file
// name), or formatNone.
func sniff(data []byte) format {
	for _, f := range imageFormats {
		for _, m := range formats[f].magic {
			if hasMagic(data, m) {
				return f
			}
		}
	}
	return formatNone
}

// hasMagic reports whether data starts with magic, where a '?' in magic
// matches any byte.
func hasMagic(data []byte, magic string) bool {
	if len(data) < len(magic) {
		return false
	}
	if !strings.Contains(magic, "?") {
		return bytes.HasPrefix(data, []byte(magic))
	}
	for i := range len(magic) {
		if magic[i] != '?' && data[i] != magic[i] {
			return false
		}
	}
	return true
}

// guessFormat maps a file name's extension to a format, or formatNone.
func guessFormat(name string) format {
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
	if ext == "jpeg" {
		return formatJPEG
	}
	for _, f := range imageFormats {
		if ext != "" && formats[f].ext == ext {
			return f
		}
	}
	return formatNone
}

// configFormat is the format of an engine.format or
// engine.default_format that config.check accepted: formatNone for "".
func configFormat(name string) format {
	f, _ := parseFormat(name, false)
	return f
}
