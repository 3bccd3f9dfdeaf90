package main

import "testing"

// testFormat is the format named name ("jpg" included), failing the
// test for a name that is not one.
func testFormat(t testing.TB, name string) format {
	t.Helper()
	f, ok := parseFormat(name, false)
	if !ok {
		t.Fatalf("parseFormat(%q): not a format", name)
	}
	return f
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in        string
		allowAuto bool
		want      format
		ok        bool
	}{
		{"jpeg", false, formatJPEG, true},
		{"jpg", false, formatJPEG, true},
		{"JPG", false, formatJPEG, true},
		{"PNG", false, formatPNG, true},
		{"gif", false, formatGIF, true},
		{"bmp", false, formatBMP, true},
		{"webp", false, formatWebP, true},
		{"auto", true, formatAuto, true},
		{"auto", false, formatNone, false},
		{"", true, formatNone, false},
		{"tiff", true, formatNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseFormat(tt.in, tt.allowAuto)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseFormat(%q, %v) = %v, %v, want %v, %v", tt.in, tt.allowAuto, got, ok, tt.want, tt.ok)
			}
			if ok && got != formatAuto {
				if back, _ := parseFormat(got.String(), false); back != got {
					t.Errorf("parseFormat(%q) = %v, want %v", got.String(), back, got)
				}
			}
		})
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		data string
		want format
	}{
		{"jpeg", "\xff\xd8\xff\xe0", formatJPEG},
		{"jpeg cut", "\xff\xd8", formatNone},
		{"png", "\x89PNG\r\n\x1a\n\x00", formatPNG},
		{"gif87a", "GIF87a", formatGIF},
		{"gif89a", "GIF89a..", formatGIF},
		{"gif88a", "GIF88a", formatNone},
		{"bmp", "BM", formatBMP},
		{"webp", "RIFF\x10\x00\x00\x00WEBPVP8 ", formatWebP},
		{"riff wave", "RIFF\x10\x00\x00\x00WAVE", formatNone},
		{"webp cut", "RIFF\x10\x00\x00\x00WEB", formatNone},
		{"empty", "", formatNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sniff([]byte(tt.data)); got != tt.want {
				t.Errorf("sniff(%q) = %v, want %v", tt.data, got, tt.want)
			}
		})
	}
}

func TestGuessFormat(t *testing.T) {
	tests := []struct {
		name string
		want format
	}{
		{"a.jpg", formatJPEG},
		{"a.JPEG", formatJPEG},
		{"dir/a.png", formatPNG},
		{"a.gif", formatGIF},
		{"a.bmp", formatBMP},
		{"a.webp", formatWebP},
		{"a.tiff", formatNone},
		{"a", formatNone},
		{"a.", formatNone},
		{"dir.png/a", formatNone},
		{"a.auto", formatNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := guessFormat(tt.name); got != tt.want {
				t.Errorf("guessFormat(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}
