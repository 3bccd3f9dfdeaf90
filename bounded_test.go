package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests that no request costs more time or memory than the limits say:
// the request's context stops the work, hostile inputs are refused
// before they cost, and a bug is a 500, never a crash.

// pollCtx is a context that cancels itself at the n-th call of its Err
// method, that is at the n-th poll of the work it is given, and records
// when: "mid-decode" without a timer.
type pollCtx struct {
	context.Context
	cancel context.CancelFunc
	left   atomic.Int64
	at     atomic.Pointer[time.Time]
}

func newPollCtx(n int64) *pollCtx {
	ctx, cancel := context.WithCancel(context.Background())
	c := &pollCtx{Context: ctx, cancel: cancel}
	c.left.Store(n)
	return c
}

func (c *pollCtx) Err() error {
	if c.left.Add(-1) == 0 {
		now := time.Now()
		c.at.Store(&now)
		c.cancel()
	}
	return c.Context.Err()
}

// noisyRGBA is an opaque w×h image of smooth gradients with some noise,
// which codecs cannot code away as they would a flat colour.
func noisyRGBA(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(2463534242)
	for y := range h {
		row := m.Pix[y*m.Stride : y*m.Stride+4*w]
		for x := range w {
			seed ^= seed << 13
			seed ^= seed >> 17
			seed ^= seed << 5
			n := uint8(seed & 31)
			p := row[4*x : 4*x+4]
			p[0], p[1], p[2], p[3] = uint8(x*255/w)+n, uint8(y*255/h)+n, uint8((x+y)*127/(w+h))+n, 0xff
		}
	}
	return m
}

// bitWriter writes a JPEG entropy-coded segment: bits MSB first, 0xff
// stuffed with 0x00, the last byte padded with ones.
type bitWriter struct {
	out  []byte
	acc  uint32
	bits uint
}

func (b *bitWriter) put(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		b.acc = b.acc<<1 | (v>>uint(i))&1
		b.bits++
		if b.bits == 8 {
			b.out = append(b.out, byte(b.acc))
			if byte(b.acc) == 0xff {
				b.out = append(b.out, 0)
			}
			b.acc, b.bits = 0, 0
		}
	}
}

func (b *bitWriter) finish() []byte {
	for b.bits != 0 {
		b.put(1, 1)
	}
	return b.out
}

// manyScanJPEG is a grey progressive JPEG of w×h: a DC scan coding every
// block as 0, then scans-1 AC scans (band 1..63) that each code every
// block as part of runs of end-of-bands, a few bytes a scan however
// large the image: the shape of a scan bomb.
func manyScanJPEG(w, h, scans int) []byte {
	seg := func(b []byte, marker byte, payload ...byte) []byte {
		n := len(payload) + 2
		b = append(b, 0xff, marker, byte(n>>8), byte(n))
		return append(b, payload...)
	}
	b := []byte{0xff, 0xd8}
	dqt := make([]byte, 65)
	for i := 1; i < 65; i++ {
		dqt[i] = 1
	}
	b = seg(b, 0xdb, dqt...)
	b = seg(b, 0xc2, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)
	// DC table 0: category 0, code "0". AC table 0: EOB run classes 14
	// (runs of 2^14 + 14 bits) and 0 (one block), codes "00" and "01".
	b = seg(b, 0xc4, append([]byte{0x00, 1}, append(make([]byte, 15), 0)...)...)
	b = seg(b, 0xc4, append([]byte{0x10, 0, 2}, append(make([]byte, 14), 0xe0, 0x00)...)...)
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	var dc bitWriter
	for range blocks {
		dc.put(0, 1)
	}
	b = seg(b, 0xda, 1, 1, 0x00, 0, 0, 0)
	b = append(b, dc.finish()...)
	var ac bitWriter
	for left := blocks; left > 0; {
		switch {
		case left >= 1<<14:
			run := min(left, 1<<15-1)
			ac.put(0, 2)
			ac.put(uint32(run-1<<14), 14)
			left -= run
		default:
			ac.put(1, 2) // one block's EOB
			left--
		}
	}
	acData := ac.finish()
	for range scans - 1 {
		b = seg(b, 0xda, 1, 1, 0x00, 1, 63, 0)
		b = append(b, acData...)
	}
	return append(b, 0xff, 0xd9)
}

func TestManyScanJPEGDecodes(t *testing.T) {
	// The generator makes a valid JPEG: under the limit it decodes, grey.
	img, err := decodeJPEG(context.Background(), manyScanJPEG(64, 48, 20), 1)
	if err != nil {
		t.Fatalf("decode 20-scan JPEG: %v", err)
	}
	if img.Rect.Dx() != 64 || img.Rect.Dy() != 48 {
		t.Fatalf("size %v, want 64x48", img.Rect)
	}
	if got := img.RGBAAt(10, 10); got != (color.RGBA{128, 128, 128, 255}) {
		t.Errorf("pixel = %v, want mid grey (every coefficient 0)", got)
	}
}

func TestJPEGScanBombRefused(t *testing.T) {
	const scans = 5000
	data := manyScanJPEG(4096, 4096, scans)
	if n := jpegScanCount(data); n != scans {
		t.Fatalf("jpegScanCount = %d, want %d", n, scans)
	}
	start := time.Now()
	_, err := decode(context.Background(), data, decodeLimits{maxPixels: 1 << 26})
	took := time.Since(start)
	if !errors.Is(err, errTooLarge) || !strings.Contains(fmt.Sprint(err), "maxJPEGScans") {
		t.Fatalf("decode %d scans = %v, want errTooLarge naming maxJPEGScans", scans, err)
	}
	// Refused from the markers, before a block is decoded.
	if took > time.Second {
		t.Errorf("refusing %d scans took %v, want well under a second", scans, took)
	}
	// The decoder counts too, for callers that skip decodeScaled.
	if _, err := decodeJPEG(context.Background(), manyScanJPEG(16, 16, maxJPEGScans+1), 1); !errors.Is(err, errTooLarge) {
		t.Errorf("decodeJPEG of %d scans = %v, want errTooLarge", maxJPEGScans+1, err)
	}

	e := newTestEnv(t, nil)
	if err := os.WriteFile(filepath.Join(e.srcDir, "bomb.jpg"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	resp := e.get(t, "/display?path=bomb.jpg&op=rotate")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "maxJPEGScans") {
		t.Errorf("scan bomb = %d %q, want 413 naming maxJPEGScans", resp.StatusCode, body)
	}
}

// TestCancelStopsWork cancels each stage of the pipeline part-way,
// at its n-th poll of the context, and checks that it stops with the
// context's error within 100 ms of the cancellation.
func TestCancelStopsWork(t *testing.T) {
	big := noisyRGBA(3000, 2000)
	var jpg, png bytes.Buffer
	if err := encodeJPEG(context.Background(), &jpg, big, jpegOptions{quality: 90}); err != nil {
		t.Fatal(err)
	}
	if err := writePNG(context.Background(), &png, big); err != nil {
		t.Fatal(err)
	}
	frame := noisyRGBA(300, 200)
	var gif bytes.Buffer
	ga := newGIFAnimation(&gif, 0)
	for i := range 40 {
		frame.Pix[4*i] ^= 0xff // every frame changes
		if err := ga.add(frame, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := ga.finish(); err != nil {
		t.Fatal(err)
	}
	progressive := manyScanJPEG(4096, 4096, 200)
	lim := decodeLimits{maxPixels: 1 << 26}
	discard := func(err error) error { return err }
	tests := []struct {
		name  string
		polls int64
		run   func(ctx context.Context) error
	}{
		{"jpeg baseline decode", 30, func(ctx context.Context) error {
			_, err := decode(ctx, jpg.Bytes(), lim)
			return err
		}},
		{"jpeg progressive decode", 600, func(ctx context.Context) error {
			_, err := decode(ctx, progressive, lim)
			return err
		}},
		{"png decode", 300, func(ctx context.Context) error {
			_, err := decode(ctx, png.Bytes(), lim)
			return err
		}},
		{"png decoded scaled", 300, func(ctx context.Context) error {
			_, err := transform(ctx, png.Bytes(), parseTestRequest(t, "path=x&op=resize&w=300&fmt=png"), testEngine, nil)
			return err
		}},
		{"gif frames", 10, func(ctx context.Context) error {
			_, err := decode(ctx, gif.Bytes(), lim)
			return err
		}},
		{"jpeg planes to jpeg", 200, func(ctx context.Context) error {
			_, err := transform(ctx, jpg.Bytes(), parseTestRequest(t, "path=x&op=resize&w=2000&fmt=jpg"), testEngine, nil)
			return err
		}},
		{"resize", 200, func(ctx context.Context) error { _, err := resample(ctx, big, 2900, 1900); return err }},
		{"blur", 200, func(ctx context.Context) error { _, err := gaussianBlur(ctx, big, 20); return err }},
		{"small blur", 200, func(ctx context.Context) error { _, err := gaussianBlur(ctx, big, 2); return err }},
		{"rotate", 10, func(ctx context.Context) error { _, err := rotate90(ctx, big); return err }},
		{"flip", 200, func(ctx context.Context) error { _, err := flipH(ctx, big); return err }},
		{"encode jpeg", 30, func(ctx context.Context) error { return encodeImage(ctx, io.Discard, big, formatJPEG, 80, false) }},
		{"encode png", 300, func(ctx context.Context) error { return encodeImage(ctx, io.Discard, big, formatPNG, 0, false) }},
		{"encode webp", 20, func(ctx context.Context) error { return encodeImage(ctx, io.Discard, big, formatWebP, 80, false) }},
		{"encode webp lossless: predictors", 30, func(ctx context.Context) error { return encodeImage(ctx, io.Discard, big, formatWebP, 80, true) }},
		{"encode webp lossless: matches", 150, func(ctx context.Context) error { return encodeImage(ctx, io.Discard, big, formatWebP, 80, true) }},
		{"whole transform", 500, func(ctx context.Context) error {
			_, err := transform(ctx, jpg.Bytes(), parseTestRequest(t, "path=x&op=rotate&op=op:effect+filter:blur&fmt=png"), testEngine, nil)
			return discard(err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := newPollCtx(tt.polls)
			defer ctx.cancel()
			err := tt.run(ctx)
			end := time.Now()
			at := ctx.at.Load()
			if at == nil {
				t.Fatalf("finished (err %v) before its %d-th poll of the context", err, tt.polls)
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled at poll %d: err = %v, want context.Canceled", tt.polls, err)
			}
			if d := end.Sub(*at); d > 100*time.Millisecond {
				t.Errorf("returned %v after the cancellation, want within 100 ms", d)
			} else {
				t.Logf("returned %v after the cancellation", d)
			}
		})
	}
}

// TestHangUpFreesSlot: a client that hangs up while its image is being
// processed frees the processing slot at once, not when the work would
// have finished (seconds later here).
func TestHangUpFreesSlot(t *testing.T) {
	var jpg bytes.Buffer
	if err := encodeJPEG(context.Background(), &jpg, noisyRGBA(5000, 4000), jpegOptions{quality: 90}); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(c *config) {
		c.Options.MaxProcessorConcurrent = 1
		c.Options.RequestTimeout = duration(time.Minute)
	})
	if err := os.WriteFile(filepath.Join(e.srcDir, "big.jpg"), jpg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{}, 1)
	e.s.src = signalStorage{e.s.src, "big.jpg", read}

	ctx, hangUp := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/display?path=big.jpg&op=rotate&op=op:effect+filter:blur&fmt=png", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-read: // the source is read, in the slot: processing starts
	case err := <-done:
		t.Fatalf("request ended before its source was read: %v", err)
	}
	hangUp()
	at := time.Now()
	if err := <-done; err == nil {
		t.Fatal("the request finished before the hang-up")
	}
	wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	release, err := e.s.limiter.acquire(wait)
	if err != nil {
		t.Fatalf("processing slot still busy 30 s after the hang-up: %v", err)
	}
	release()
	took := time.Since(at)
	t.Logf("slot free %v after the hang-up", took)
	if took > time.Second {
		t.Errorf("slot free %v after the hang-up, want within a second (about 100 ms on an idle machine)", took)
	}
}

// signalStorage signals on read when the source name has been read
// whole (its reader closed, as readSource does before transforming).
type signalStorage struct {
	storage
	name string
	read chan struct{}
}

func (s signalStorage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	rc, fi, err := s.storage.Open(ctx, name)
	if err != nil || name != s.name {
		return rc, fi, err
	}
	return signalCloser{rc, s.read}, fi, nil
}

type signalCloser struct {
	io.ReadCloser
	read chan struct{}
}

func (c signalCloser) Close() error {
	err := c.ReadCloser.Close()
	select {
	case c.read <- struct{}{}:
	default:
	}
	return err
}

func TestTimeoutIs504AndFreesSlot(t *testing.T) {
	var jpg bytes.Buffer
	if err := encodeJPEG(context.Background(), &jpg, noisyRGBA(5000, 4000), jpegOptions{quality: 90}); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(c *config) {
		c.Options.MaxProcessorConcurrent = 1
		c.Options.RequestTimeout = duration(150 * time.Millisecond)
	})
	if err := os.WriteFile(filepath.Join(e.srcDir, "big.jpg"), jpg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp := e.get(t, "/display?path=big.jpg&op=rotate&op=op:effect+filter:blur&fmt=png")
	readBody(t, resp)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("slow request = %d, want 504", resp.StatusCode)
	}
	wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	release, err := e.s.limiter.acquire(wait)
	if err != nil {
		t.Fatalf("processing slot still busy 30 s after the timeout: %v", err)
	}
	release()
	// Without cancellation the work takes seconds (2.5 s measured).
	if took := time.Since(start); took > time.Second {
		t.Errorf("slot free %v after a request with a 150 ms timeout, want within a second", took)
	}
}

func TestFlatLimits(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.MaxOutputPixels = 1_000_000 })
	paths := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "+path:img%d.png", i)
		}
		return b.String()
	}
	tests := []struct {
		name  string
		query string
		code  int
		want  string // in the body
	}{
		{"too many images in one flat", "path=avatar.png&op=op:flat" + paths(maxFlatImages+1), http.StatusBadRequest, "maxFlatImages"},
		{"a flood of path tokens", "path=avatar.png&op=op:flat" + paths(50000), http.StatusBadRequest, "maxFlatImages"},
		{"too many images in a request", "path=avatar.png&op=op:flat" + paths(maxFlatImages) + "&op=op:flat" + paths(maxFlatImages) + "&op=op:flat+path:x.png", http.StatusBadRequest, "maxRequestImages"},
		{"flat over max_output_pixels", "path=avatar.png&op=op:flat+w:2000+h:2000+stick:top-left+path:avatar.png", http.StatusBadRequest, "max_output_pixels"},
		{"flat within the limits", "path=avatar.png&op=op:flat+w:20+h:20+stick:top-left+path:avatar.png", http.StatusOK, ""},
		{"missing image in an empty rectangle", "path=avatar.png&op=op:flat+pos:10.10.10.10+path:missing.png", http.StatusNotFound, "missing.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.get(t, "/display?"+tt.query)
			body := readBody(t, resp)
			if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.want) {
				t.Errorf("GET %.80s = %d %.200q, want %d naming %q", tt.query, resp.StatusCode, body, tt.code, tt.want)
			}
		})
	}

	sized := newTestEnv(t, func(c *config) { c.Options.AllowedSizes = []allowedSize{{Width: 100, Height: 100}} })
	for q, code := range map[string]int{
		"path=avatar.png&op=op:flat+w:20+h:20+stick:top-left+path:avatar.png":   http.StatusForbidden,
		"path=avatar.png&op=op:flat+w:100+h:100+stick:top-left+path:avatar.png": http.StatusOK,
		"path=avatar.png&op=op:flat+path:avatar.png":                            http.StatusOK,
	} {
		resp := sized.get(t, "/display?"+q)
		body := readBody(t, resp)
		if resp.StatusCode != code {
			t.Errorf("allowed_sizes 100x100: GET %s = %d %q, want %d", q, resp.StatusCode, body, code)
		}
	}
}

func TestFlatPathWithoutStorage(t *testing.T) {
	origin := testdataOrigin(t)
	e := newTestEnv(t, func(c *config) {
		*c = defaultConfig()
		c.Options.AllowPrivateNetworks = true
	})
	resp := e.get(t, "/display?url="+url.QueryEscape(origin.URL+"/avatar.png")+"&op=op:flat+path:avatar.png")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "no source storage") {
		t.Errorf("flat path: without a source storage = %d %q, want 400 naming the missing storage", resp.StatusCode, body)
	}
	// Below the handlers too: transform without a loader says so.
	r := parseTestRequest(t, "path=x&op=op:flat+path:avatar.png")
	if _, err := transform(context.Background(), readTestdata(t, "avatar.png"), r, testEngine, nil); !errors.Is(err, errBadParam) {
		t.Errorf("transform of flat path: without a loader = %v, want errBadParam", err)
	}
}

// TestFlatDecodesImagesAtCellSize draws eight large images into small
// cells: each is decoded shrunk (JPEG) or scaled as its rows come (PNG)
// and dropped, never all held whole, nor even one.
func TestFlatDecodesImagesAtCellSize(t *testing.T) {
	const side = 2000
	src := image.NewRGBA(image.Rect(0, 0, side, side))
	// Left half white, right half black, so the cells show which.
	for y := range side {
		for x := range side / 2 {
			copy(src.Pix[y*src.Stride+4*x:], []byte{255, 255, 255, 255})
		}
		for x := side / 2; x < side; x++ {
			src.Pix[y*src.Stride+4*x+3] = 255
		}
	}
	base := image.NewRGBA(image.Rect(0, 0, 800, 100))
	var basePNG bytes.Buffer
	if err := encodeImage(context.Background(), &basePNG, base, formatPNG, 0, false); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"jpeg", "png"} {
		t.Run(format, func(t *testing.T) {
			var data bytes.Buffer
			if err := encodeImage(context.Background(), &data, src, testFormat(t, format), 90, false); err != nil {
				t.Fatal(err)
			}
			var q strings.Builder
			q.WriteString("path=x&fmt=png&op=op:flat")
			for i := range 8 {
				fmt.Fprintf(&q, "+path:big%d", i)
			}
			r := parseTestRequest(t, q.String())
			loads := 0
			load := func(p string) ([]byte, error) {
				loads++
				return data.Bytes(), nil
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res, err := transform(context.Background(), basePNG.Bytes(), r, testEngine, load)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if loads != 8 {
				t.Errorf("loaded the images %d times, want 8 (once each)", loads)
			}
			// One of the images decoded whole is side*side*4 bytes (16
			// MB); all eight, as they were held before, 128 MB.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > side*side*4/2 {
				t.Errorf("transform allocated %d MB, want less than half an image decoded whole (%d MB)", alloc>>20, side*side*4>>20)
			} else {
				t.Logf("transform allocated %.1f MB", float64(alloc)/(1<<20))
			}
			out := decodeAny(t, res.data)
			if b := out.Bounds(); b.Dx() != 800 || b.Dy() != 100 {
				t.Fatalf("output %v, want 800x100", b)
			}
			// Eight cells of 100x100, each the image fitted: white left, black right.
			for i := range 8 {
				l, _, _, _ := out.At(i*100+20, 50).RGBA()
				r, _, _, _ := out.At(i*100+80, 50).RGBA()
				if l>>8 < 230 || r>>8 > 25 {
					t.Errorf("cell %d: left %d, right %d, want white then black", i, l>>8, r>>8)
				}
			}
		})
	}
}

// TestOurCodecPanicIsNotCorruptImage: a panic inside our own decoder is
// a bug, not a corrupt image: guard no longer turns it into a 422 that
// echoes it; it reaches flightGroup.run (a 500, logged with its stack).
func TestOurCodecPanicIsNotCorruptImage(t *testing.T) {
	var jpg bytes.Buffer
	if err := encodeJPEG(context.Background(), &jpg, noisyRGBA(64, 64), jpegOptions{quality: 90}); err != nil {
		t.Fatal(err)
	}
	var png bytes.Buffer
	if err := writePNG(context.Background(), &png, noisyRGBA(64, 64)); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"jpeg": jpg.Bytes(), "png": png.Bytes()} {
		t.Run(name, func(t *testing.T) {
			var v any
			var err error
			func() {
				defer func() { v = recover() }()
				// The decoder polls the context once a row: a context
				// whose Err panics puts the panic inside the decoder.
				_, err = decode(panicCtx{context.Background()}, data, decodeLimits{maxPixels: 1 << 20})
			}()
			if v == nil {
				t.Fatalf("decode with a panic inside our decoder = %v, want the panic to go up", err)
			}
		})
	}
}

type panicCtx struct{ context.Context }

func (panicCtx) Err() error { panic("boom inside the codec") }

// TestPanicIs500WithoutText: a panic while processing, or in a handler,
// answers a bare 500, is logged with its stack, and the server keeps
// serving.
func TestPanicIs500WithoutText(t *testing.T) {
	e := newTestEnv(t, nil)
	var log lockedBuffer
	e.s.log = slog.New(slog.NewTextHandler(&log, nil))
	e.s.src = panicStorage{e.s.src}
	resp := e.get(t, "/display?path=avatar.png&op=op:flat+path:boom.png")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "boom") || strings.Contains(string(body), "panic") {
		t.Errorf("panic while processing = %d %q, want a bare 500", resp.StatusCode, body)
	}
	if l := log.String(); !strings.Contains(l, "msg=panic") || !strings.Contains(l, "boom: a bug below the handler") || !strings.Contains(l, "panicStorage.Open") {
		t.Errorf("log = %q, want a panic entry with the value and the stack", l)
	}
	resp = e.get(t, "/display?path=avatar.png&op=resize&w=10")
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("next request = %d, want 200", resp.StatusCode)
	}

	// A panic in the handler itself goes through the same fail.
	log.Reset()
	ts := httptest.NewServer(e.s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom in a handler")
	})))
	defer ts.Close()
	hr, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	body = readBody(t, hr)
	if hr.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "boom") {
		t.Errorf("panic in a handler = %d %q, want a bare 500", hr.StatusCode, body)
	}
	if l := log.String(); !strings.Contains(l, "msg=panic") || !strings.Contains(l, "boom in a handler") || !strings.Contains(l, "stack=") {
		t.Errorf("log = %q, want a panic entry with the value and the stack", l)
	}
}

// lockedBuffer is a bytes.Buffer that a logger and a test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// panicStorage panics when asked for boom.png.
type panicStorage struct{ storage }

func (s panicStorage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	if name == "boom.png" {
		panic("boom: a bug below the handler")
	}
	return s.storage.Open(ctx, name)
}

func TestParallelRecoversPanics(t *testing.T) {
	for _, work := range []int64{1, parallelWork * 4} { // inline and across goroutines
		t.Run(fmt.Sprint(work), func(t *testing.T) {
			err := parallel(context.Background(), 64, work, func(lo, hi int) {
				if lo <= 40 && 40 < hi {
					var m map[string]int
					//lint:ignore SA5000 the panic is the point
					m["x"]++ // a nil map write: a runtime panic
				}
			})
			var pe *panicError
			if !errors.As(err, &pe) {
				t.Fatalf("parallel with a panicking range = %v, want a *panicError", err)
			}
			if !strings.Contains(err.Error(), "nil map") || !strings.Contains(err.Error(), "TestParallelRecoversPanics") {
				t.Errorf("panic error %q, want the panic value and the stack of the range that panicked", err)
			}
			if httpStatus(err) != http.StatusInternalServerError {
				t.Errorf("httpStatus(panic) = %d, want 500", httpStatus(err))
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var rows atomic.Int64
	err := parallel(ctx, 1000, parallelWork*4, func(lo, hi int) {
		for y := lo; y < hi && ctx.Err() == nil; y++ {
			rows.Add(1)
		}
	})
	if !errors.Is(err, context.Canceled) || rows.Load() != 0 {
		t.Errorf("parallel with a cancelled context = %v after %d rows, want context.Canceled after none", err, rows.Load())
	}
}
