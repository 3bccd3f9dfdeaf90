package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"512MiB", 512 << 20, true},
		{"512 MiB", 512 << 20, true},
		{"1.5GB", 1_500_000_000, true},
		{"64m", 64 << 20, true},
		{"2g", 2 << 30, true},
		{"100kb", 100_000, true},
		{"0", 0, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"12 parsecs", 0, false},
		{"-1", 0, false},
		{"1e3", 0, false},
		{"99999999999TiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestMaxMemoryConfig(t *testing.T) {
	for _, tt := range []struct {
		json string
		want int64
		err  string
	}{
		{`{"options": {"max_memory": "256MiB"}}`, 256 << 20, ""},
		{`{"options": {"max_memory": 1000000}}`, 1_000_000, ""},
		{`{"options": {"max_memory": "lots"}}`, 0, "options.max_memory"},
		{`{"options": {"max_memory": true}}`, 0, "options.max_memory"},
	} {
		cfg, err := loadConfig(strings.NewReader(tt.json))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want one naming %s", tt.json, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.json, err)
		}
		if got := memoryBudget(cfg.Options); got != tt.want {
			t.Errorf("%s: budget %d, want %d", tt.json, got, tt.want)
		}
	}
	if got := memoryBudget(defaultConfig().Options); got != machineMemory()/2 || got < 64<<20 {
		t.Errorf("default budget %d, want half of the machine's %d", got, machineMemory())
	}
}

// queuedBudget is a budget that signals each waiter it queues.
func queuedBudget(total int64) (*memBudget, chan struct{}) {
	b := newMemBudget(total)
	queued := make(chan struct{}, 16)
	b.onQueue = func() { queued <- struct{}{} }
	return b, queued
}

func TestMemBudget(t *testing.T) {
	ctx := context.Background()
	b, queued := queuedBudget(100)

	if _, err := b.acquire(ctx, 101); !errors.Is(err, errOverBudget) || !errors.Is(err, errTooLarge) || !strings.Contains(err.Error(), "max_memory") {
		t.Fatalf("acquire over the budget: %v, want errOverBudget naming max_memory", err)
	}
	r60, err := b.acquire(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	// 50 does not fit: it waits; 10 would fit but queues behind it.
	got50, got10 := make(chan func()), make(chan func())
	go func() { r, _ := b.acquire(ctx, 50); got50 <- r }()
	<-queued
	go func() { r, _ := b.acquire(ctx, 10); got10 <- r }()
	<-queued
	if n := b.inUse(); n != 60 {
		t.Fatalf("in use %d while two wait, want 60", n)
	}
	r60()
	r50 := <-got50
	r10 := <-got10
	if n := b.inUse(); n != 60 {
		t.Fatalf("in use %d after the waiters were served, want 60", n)
	}
	r50()
	r50() // a second release gives nothing back twice
	r10()
	if n := b.inUse(); n != 0 {
		t.Fatalf("in use %d after every release, want 0", n)
	}

	// A waiter whose context ends leaves the line, and lets those behind it go.
	hold := b.hold(90)
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() { _, err := b.acquire(cctx, 50); errc <- err }()
	<-queued
	go func() { r, _ := b.acquire(ctx, 10); got10 <- r }()
	<-queued
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	(<-got10)()
	hold()

	// hold goes past the budget, and new work waits until it is gone.
	release := b.hold(150)
	go func() { r, _ := b.acquire(ctx, 1); got10 <- r }()
	<-queued
	release()
	(<-got10)()
	if n := b.inUse(); n != 0 {
		t.Fatalf("in use %d at the end, want 0", n)
	}
}

// TestFootprintBoundsAllocations holds the estimate against the bytes
// transform really allocates for still images: the estimate must not be
// below them (every byte allocated bounds what is live at once), nor far
// above (a loose estimate refuses requests the budget could serve).
func TestFootprintBoundsAllocations(t *testing.T) {
	eo := engineOptions{quality: 80, defaultFormat: formatPNG, maxOutputPixels: 40_000_000, decode: decodeLimits{maxPixels: 100_000_000}}
	tests := []struct {
		src, query string
	}{
		{"schwarzy.jpg", "op=resize&w=100&fmt=jpg"},
		{"schwarzy.jpg", "op=resize&w=100&fmt=png"},
		{"schwarzy.jpg", "op=rotate&deg=90&fmt=png"},
		{"schwarzy.jpg", "op=resize&w=1200&fmt=bmp"},
		{"schwarzy_exif6.jpg", "op=thumbnail&w=100&h=100&fmt=jpg"},
		{"progressive-picture1a-1365x1074.jpg", "op=thumbnail&w=200&h=200&fmt=jpg"},
		{"progressive-picture1a-1365x1074.jpg", "op=flip&pos=h&fmt=jpg"},
		{"cmyk-blinds-1920x1200.jpg", "op=resize&w=300&fmt=png"},
		{"medium-blinds-1920x1200.jpg", "op=resize&w=800&op=effect&filter=blur&op=op:rotate+deg:270&fmt=png"},
		{"avatar.png", "op=resize&w=50&fmt=png"},
		{"alpha-arc-colors-2140x1200.png", "op=resize&w=400&fmt=png"},
		{"alpha-arc-colors-2140x1200.png", "op=rotate&deg=180&fmt=webp"},
		{"alpha-arc-colors-2140x1200.png", "op=pad&w=800&h=800&fmt=png"},
		{"tiny-1x1.gif", "op=resize&w=300&fmt=gif"},
		{"schwarzy.jpg", "op=flip&pos=h&fmt=webp"},
		{"medium-blinds-1920x1200.jpg", "op=flip&pos=h&fmt=webp"},
		{"medium-blinds-1920x1200.jpg", "op=flip&pos=h&fmt=webp&lossless=1"},
		{"medium-blinds-1920x1200.jpg", "op=flip&pos=h&fmt=gif"},
		{"bmp-blinds-200x125.bmp", "op=flip&pos=v&fmt=bmp"},
		{"webp-seeding-1920x1080.webp", "op=resize&w=400&fmt=jpg"},
		{"webp-alpha-arc-colors-2140x1200.webp", "op=thumbnail&w=300&h=300&fmt=png"},
	}
	for _, tt := range tests {
		t.Run(tt.src+"?"+tt.query, func(t *testing.T) {
			src := readTestdata(t, tt.src)
			params, err := url.ParseQuery(tt.query + "&path=" + tt.src)
			if err != nil {
				t.Fatal(err)
			}
			req, err := parseRequest(params, requestLimits{maxDimension: 8192, maxOperations: 10})
			if err != nil {
				t.Fatal(err)
			}
			in, err := inspectSource(src)
			if err != nil {
				t.Fatal(err)
			}
			est := footprint(in, nil, req, eo, outputFormat(req.format, eo, in.format))

			var res result
			peak, alloc := heapUse(func() { res, err = transform(context.Background(), src, req, eo, nil) })
			if err != nil {
				t.Fatal(err)
			}
			peak += int64(len(src))
			alloc += int64(len(src))
			t.Logf("estimate %s, peak %s (%.2fx), allocated %s, output %d bytes",
				formatBytes(est.bytes), formatBytes(peak), float64(est.bytes)/float64(peak), formatBytes(alloc), len(res.data))
			if est.bytes < peak {
				t.Errorf("estimate %d bytes is below the peak of %d bytes", est.bytes, peak)
			}
			if est.bytes > 4*alloc+1<<20 {
				t.Errorf("estimate %d bytes is over 4x the %d bytes allocated", est.bytes, alloc)
			}
		})
	}
}

// heapUse runs f with the collector running at every 1% of heap growth,
// so that the heap holds little but live bytes, and returns the largest
// heap seen by a sampler meanwhile, and the bytes f allocated (which no
// peak can exceed), both above the heap before f.
func heapUse(f func()) (peak, allocated int64) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	runtime.GC()
	runtime.GC() // twice: sync.Pools keep their contents across one
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	rtmetrics.Read(sample)
	base, alloc0 := sample[0].Value.Uint64(), sample[1].Value.Uint64()
	stop, top := make(chan struct{}), make(chan uint64)
	go func() {
		s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var most uint64
		for {
			rtmetrics.Read(s)
			most = max(most, s[0].Value.Uint64())
			select {
			case <-stop:
				top <- most
				return
			default:
			}
		}
	}()
	f()
	close(stop)
	most := <-top
	rtmetrics.Read(sample)
	return int64(most) - int64(base), int64(sample[1].Value.Uint64() - alloc0)
}

func TestFootprintAnimation(t *testing.T) {
	eo := engineOptions{quality: 80, defaultFormat: formatPNG, maxOutputPixels: 40_000_000}
	giphy := readTestdata(t, "giphy.gif")
	in, err := inspectSource(giphy)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		query    string
		animated bool
		w, h     int
	}{
		{"op=resize&w=100", true, 100, 0},
		{"op=resize&w=100&fmt=webp", true, 100, 0},
		{"op=resize&w=100&fmt=png", false, 100, 0},
	} {
		params, _ := url.ParseQuery(tt.query + "&path=giphy.gif")
		req, err := parseRequest(params, requestLimits{maxDimension: 8192, maxOperations: 10})
		if err != nil {
			t.Fatal(err)
		}
		est := footprint(in, nil, req, eo, outputFormat(req.format, eo, in.format))
		if est.animated != tt.animated || est.width != tt.w {
			t.Errorf("%s: animated %v, width %d; want %v, %d", tt.query, est.animated, est.width, tt.animated, tt.w)
		}
		if tt.animated && est.frames != in.frames {
			t.Errorf("%s: %d frames, want the source's %d", tt.query, est.frames, in.frames)
		}
		// Every frame's encoded bytes count: an animation costs more than a still.
		if tt.animated && est.bytes < int64(in.frames)*int64(est.width*est.height) {
			t.Errorf("%s: estimate %d does not count %d frames of %dx%d", tt.query, est.bytes, in.frames, est.width, est.height)
		}
	}
}

// TestBudgetOverHTTP: a request over the whole budget is a 413 naming
// max_memory; one that fits waits while the budget is taken, and is
// served once it is given back; an animation over
// max_output_total_pixels is refused before decoding.
func TestBudgetOverHTTP(t *testing.T) {
	e := newTestEnv(t, func(c *config) {
		c.Options.MaxMemory = 8 << 20
		c.Options.MaxOutputTotalPixels = 1_000_000
	})
	queued := make(chan struct{}, 4)
	e.s.budget.onQueue = func() { queued <- struct{}{} }

	resp := e.get(t, "/display?path=schwarzy.jpg&op=resize&w=4000&fmt=bmp")
	body := string(readBody(t, resp))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "max_memory") {
		t.Errorf("over the budget: %d %q, want 413 naming max_memory", resp.StatusCode, body)
	}

	resp = e.get(t, "/display?path=giphy.gif&op=resize&w=400")
	body = string(readBody(t, resp))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "max_output_total_pixels") {
		t.Errorf("long animation: %d %q, want 413 naming max_output_total_pixels", resp.StatusCode, body)
	}
	if n := e.opens.Load(); n != 2 {
		t.Errorf("%d source opens, want 2", n)
	}

	hold := e.s.budget.hold(8 << 20) // the whole budget, as a slow reader would
	done := make(chan *http.Response)
	go func() {
		resp, err := http.Get(e.ts.URL + "/display?path=avatar.png&op=resize&w=50")
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	<-queued
	select {
	case <-done:
		t.Fatal("served while the budget was taken")
	default:
	}
	hold()
	resp = <-done
	if resp == nil {
		return
	}
	png := readBody(t, resp)
	m := decodeAny(t, png)
	if resp.StatusCode != 200 || m.Bounds().Dx() != 50 {
		t.Errorf("after the budget was given back: %d, width %d; want 200, 50", resp.StatusCode, m.Bounds().Dx())
	}
	if n := e.s.budget.inUse(); n != int64(len(png)) && n != 0 {
		t.Errorf("budget in use %d while the result waits to be stored, want its %d bytes or 0", n, len(png))
	}
	e.s.stores.stop(context.Background()) // waits for the background store
	if n := e.s.budget.inUse(); n != 0 {
		t.Errorf("budget in use %d once stored, want 0", n)
	}
}

func TestJPEGFrame(t *testing.T) {
	for _, tt := range []struct {
		name        string
		progressive bool
		components  int
	}{
		{"schwarzy.jpg", false, 3},
		{"progressive-picture1a-1365x1074.jpg", true, 3},
		{"jpeg/progressive-420.jpg", true, 3},
		{"jpeg/gray.jpg", false, 1},
		{"cmyk-blinds-1920x1200.jpg", false, 4},
	} {
		p, n := jpegFrame(readTestdata(t, tt.name))
		if p != tt.progressive || n != tt.components {
			t.Errorf("jpegFrame(%s) = %v, %d; want %v, %d", tt.name, p, n, tt.progressive, tt.components)
		}
	}
	if p, n := jpegFrame([]byte("\xff\xd8\xff\xe0\xff")); p || n != 0 {
		t.Errorf("truncated header: %v, %d components", p, n)
	}
}
