package main

// The hostile-request suite: small requests that once cost the server
// gigabytes or minutes, each made from generated inputs. Run with
// PICFIT_HOSTILE_DIR=DIR, TestWriteHostileInputs writes the inputs to
// DIR for bench/hostile.sh, which measures them against a real process.

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manyFrameGIF is a GIF whose logical screen is sw×sh with frames
// frames of fw×fh, each a single colour: a few bytes a frame.
func manyFrameGIF(t testing.TB, sw, sh, frames, fw, fh int) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White}
	g := &gif.GIF{Config: image.Config{ColorModel: pal, Width: sw, Height: sh}}
	for i := range frames {
		m := image.NewPaletted(image.Rect(0, 0, fw, fh), pal)
		if i%2 == 1 {
			for j := range m.Pix {
				m.Pix[j] = 1
			}
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 2)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bigPNG is a w×h 8-bit grey PNG of one colour, Adam7-interlaced or
// not, written row by row: a large image in a few kilobytes.
func bigPNG(t testing.TB, w, h int, interlaced bool, grey byte) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, body []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(body)))
		out.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(body)
		out.WriteString(typ)
		out.Write(body)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 0 // depth 8, grey
	if interlaced {
		ihdr[12] = 1
	}
	chunk("IHDR", ihdr)

	var idat bytes.Buffer
	z, err := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	row := bytes.Repeat([]byte{grey}, w+1)
	row[0] = 0 // filter: none
	writeRows := func(pw, ph int) {
		if pw == 0 || ph == 0 {
			return
		}
		for range ph {
			z.Write(row[:pw+1])
		}
	}
	if interlaced { // Adam7: each pass's rows, its own width
		for _, p := range [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			x0, y0, dx, dy := p[0], p[1], p[2], p[3]
			writeRows((w-x0+dx-1)/dx, (h-y0+dy-1)/dy)
		}
	} else {
		writeRows(w, h)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// hostileFiles are the generated sources of the suite, by file name.
func hostileFiles(t testing.TB) map[string][]byte {
	files := map[string][]byte{
		"frames-10000.gif":     manyFrameGIF(t, 10, 10, 10000, 10, 10),
		"frames-50.gif":        manyFrameGIF(t, 10, 10, 50, 10, 10),
		"screen-10000.gif":     manyFrameGIF(t, 10000, 10000, 1, 1, 1),
		"interlaced-10000.png": bigPNG(t, 10000, 10000, true, 0x80),
		"plain-10000.png":      bigPNG(t, 10000, 10000, false, 0x80),
		"scans-10000.jpg":      manyScanJPEG(10000, 10000, 10000),
	}
	for i := range 8 {
		files["big-"+string(rune('a'+i))+".png"] = bigPNG(t, 7000, 7000, false, byte(30*i))
	}
	return files
}

// TestWriteHostileInputs writes the suite's inputs for bench/hostile.sh.
func TestWriteHostileInputs(t *testing.T) {
	dir := os.Getenv("PICFIT_HOSTILE_DIR")
	if dir == "" {
		t.Skip("PICFIT_HOSTILE_DIR not set: nothing to write")
	}
	for name, data := range hostileFiles(t) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHostileGenerators(t *testing.T) {
	g := manyFrameGIF(t, 10000, 10000, 1, 1, 1)
	h, err := readHeader(g)
	if err != nil || h.width != 10000 || h.height != 10000 || h.frames != 1 {
		t.Errorf("screen GIF: %+v, %v; want 10000x10000, 1 frame", h, err)
	}
	if len(g) > 100 {
		t.Errorf("screen GIF is %d bytes, want under 100", len(g))
	}
	j := manyScanJPEG(160, 120, 20)
	if p, n := jpegFrame(j); !p || n != 1 {
		t.Errorf("many-scan JPEG: progressive %v, %d components", p, n)
	}
	d, err := decodeJPEGPlanesChroma(context.Background(), j, 1, image.Point{})
	if err != nil {
		t.Fatalf("many-scan JPEG: %v", err)
	}
	if w, h := d.outSize(); w != 160 || h != 120 {
		t.Errorf("many-scan JPEG decodes to %dx%d, want 160x120", w, h)
	}
	p := bigPNG(t, 300, 200, true, 7)
	m, err := decodePNG(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rect.Dx() != 300 || m.Rect.Dy() != 200 || m.Pix[4*(199*300+299)] != 7 {
		t.Errorf("interlaced PNG decodes to %v, last pixel %d", m.Rect, m.Pix[4*(199*300+299)])
	}
}

// TestHostileRequests sends the attacks of bench/hostile.sh through real
// HTTP to a server with max_memory 256MiB: each is refused, with a status
// and a message naming the limit, before it costs what it asks for, and
// the memory budget is whole again afterwards. (The peaks of memory and
// time are measured by bench/hostile.sh against a real process.)
func TestHostileRequests(t *testing.T) {
	files := hostileFiles(t)
	files["scans-2000.jpg"] = manyScanJPEG(2000, 2000, 10000)
	e := newTestEnv(t, func(c *config) {
		c.Options.MaxMemory = 256 << 20
		c.Options.AllowPrivateNetworks = true
	})
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(e.srcDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	origin := httptest.NewServer(http.FileServer(http.Dir(e.srcDir)))
	defer origin.Close()

	// Elements as sent: spaces, written + in the query.
	flat8 := "op:flat pos:0.0.100.100"
	for _, c := range "abcdefgh" {
		flat8 += " path:big-" + string(c) + ".png"
	}
	flatMany := "op:flat pos:0.0.100.100 stick:top-left w:10 h:10" + strings.Repeat(" path:avatar.png", 50000)
	tests := []struct {
		name, query string
		status      int
		names       string // what the answer must name
	}{
		{"10000 frames at 6000x6000", "path=frames-10000.gif&op=resize&w=6000&h=6000", 413, "max_output_total_pixels"},
		{"50 frames at 4000x4000 by url=", "url=" + url.QueryEscape(origin.URL+"/frames-50.gif") + "&op=resize&w=4000&h=4000", 413, "max_output_total_pixels"},
		{"a 10000x10000 screen, one 1x1 frame", "path=screen-10000.gif&op=resize&w=200", 413, "max_memory"},
		{"the same screen, rotated", "path=screen-10000.gif&op=rotate", 413, "max_memory"},
		{"100 MP interlaced PNG", "path=interlaced-10000.png&op=resize&w=200", 413, "max_memory"},
		{"8 large PNGs in a flat", "path=avatar.png&op=resize&w=200&op=" + url.QueryEscape(flat8), 413, "max_memory"},
		{"50000 path: tokens", "path=avatar.png&op=" + url.QueryEscape(flatMany), 400, "maxFlatImages"},
		{"10000 scans, 10000x10000", "path=scans-10000.jpg&op=rotate", 413, "max_memory"},
		{"10000 scans, 2000x2000", "path=scans-2000.jpg&op=rotate", 413, "maxJPEGScans"},
		{"100 MP PNG, streamed", "path=plain-10000.png&op=resize&w=200", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, "/display?"+tt.query)
			body := readBody(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status == 200 {
				if m := decodeAny(t, body); m.Bounds().Dx() != 200 || m.Bounds().Dy() != 200 {
					t.Errorf("streamed PNG is %v, want 200x200", m.Bounds())
				}
				return
			}
			if !strings.Contains(string(body), tt.names) || len(body) > 1024 {
				t.Errorf("answer %q (%d bytes) does not name %s in under 1 KB", body, len(body), tt.names)
			}
		})
	}
	e.s.stores.stop(context.Background())
	if n := e.s.budget.inUse(); n != 0 {
		t.Errorf("memory budget in use %d after the attacks, want 0", n)
	}
}
