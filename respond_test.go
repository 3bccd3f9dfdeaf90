package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestResultBody: the bytes are served from memory until the store has
// landed them, then from the stored file at the same offset, and given
// up (their charge too) as soon as the file takes over.
func TestResultBody(t *testing.T) {
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r.bmp"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	openFile := func() (readSeekCloser, error) { return os.Open(filepath.Join(dir, "r.bmp")) }
	tests := []struct {
		name     string
		stored   bool // how the store ends
		open     func() (readSeekCloser, error)
		wantFile bool
	}{
		{"stored", true, openFile, true},
		{"store failed", false, openFile, false},
		{"stored file will not open", true, func() (readSeekCloser, error) { return nil, errors.New("gone") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opens, released := 0, 0
			l := newLanding()
			b := &resultBody{data: data, landed: l, release: func() { released++ }}
			b.open = func() (readSeekCloser, error) { opens++; return tt.open() }
			head := make([]byte, 1000)
			if _, err := io.ReadFull(b, head); err != nil || !bytes.Equal(head, data[:1000]) {
				t.Fatalf("first 1000 bytes: %v", err)
			}
			if opens != 0 || released != 0 {
				t.Errorf("before the store landed: %d opens, %d releases, want none", opens, released)
			}
			l.finish(tt.stored)
			rest, err := io.ReadAll(b)
			if err != nil || !bytes.Equal(rest, data[1000:]) {
				t.Fatalf("the rest: %d bytes, %v; want the %d left", len(rest), err, len(data)-1000)
			}
			if got := b.file != nil; got != tt.wantFile {
				t.Errorf("served from the file = %v, want %v", got, tt.wantFile)
			}
			if tt.wantFile && (b.data != nil || released != 1) {
				t.Errorf("after the switch: bytes held %v, %d releases; want dropped, 1", b.data != nil, released)
			}
			if opens > 1 {
				t.Errorf("opened the stored file %d times, want at most once", opens)
			}
			// ServeContent seeks: to the end for the size, back for a range.
			if n, err := b.Seek(0, io.SeekEnd); err != nil || n != int64(len(data)) {
				t.Errorf("Seek(0, end) = %d, %v; want %d", n, err, len(data))
			}
			if _, err := b.Seek(10, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			part := make([]byte, 20)
			if _, err := io.ReadFull(b, part); err != nil || !bytes.Equal(part, data[10:30]) {
				t.Errorf("bytes 10..30 after a seek = %v, %v", part, err)
			}
			if err := b.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
			if released != 1 || b.data != nil {
				t.Errorf("after Close: %d releases, bytes held %v; want 1, dropped", released, b.data != nil)
			}
		})
	}
}

// watchedStorage reports the names it stored and the names it opened
// successfully.
type watchedStorage struct {
	storage
	stored, opened chan string
}

func (w watchedStorage) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	err := w.storage.Put(ctx, name, r, size, contentType)
	if err == nil {
		w.stored <- name
	}
	return err
}

func (w watchedStorage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	rc, fi, err := w.storage.Open(ctx, name)
	if err == nil {
		select {
		case w.opened <- name:
		default:
		}
	}
	return rc, fi, err
}

// slowGet sends a GET for path and reads only the answer's header: a
// client that stops reading. The kernel's buffers between it and the
// server hold about 4 MB (the server's send buffer at most, Linux's
// default tcp_wmem; the client's receive buffer grows only as it reads).
func slowGet(t *testing.T, ts *httptest.Server, path string) (*http.Response, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: picfit\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, conn
}

// bigResult is a /display answer of 18 MB (3000x2000 BMP), well over
// the kernel buffers between the server and slowGet's client.
const bigResult = "/display?path=alpha-arc-colors-2140x1200.png&op=resize&w=3000&h=2000&fmt=bmp"

// TestDisplayServedFromStoredFile: a result made for a slow client is
// sent from memory until its background store lands, then from the
// stored file, so the client holds a file, not the bytes.
func TestDisplayServedFromStoredFile(t *testing.T) {
	e := newTestEnv(t, nil)
	w := watchedStorage{storage: e.s.dst, stored: make(chan string, 1), opened: make(chan string, 8)}
	e.s.dst = w
	resp, _ := slowGet(t, e.ts, bigResult)
	if resp.StatusCode != http.StatusOK || resp.ContentLength < 17<<20 {
		t.Fatalf("answer = %d, %d bytes; want 200 with the 18 MB BMP", resp.StatusCode, resp.ContentLength)
	}
	var name string
	select {
	case name = <-w.stored: // the client has read nothing of the body yet
	case <-time.After(30 * time.Second):
		t.Fatal("the result was not stored")
	}
	e.s.stores.close() // returns once the store has landed
	body, err := io.ReadAll(resp.Body)
	if err != nil || int64(len(body)) != resp.ContentLength {
		t.Fatalf("body: %d bytes, %v; want %d", len(body), err, resp.ContentLength)
	}
	stored, err := os.ReadFile(filepath.Join(e.dstDir, filepath.FromSlash(name)))
	if err != nil || !bytes.Equal(body, stored) {
		t.Errorf("body differs from the stored result (%v)", err)
	}
	if b := decodeAny(t, body).Bounds(); b.Dx() != 3000 || b.Dy() != 2000 {
		t.Errorf("body is %v, want 3000x2000", b)
	}
	select {
	case got := <-w.opened:
		if got != name {
			t.Errorf("opened %q, want the result %q", got, name)
		}
	default:
		t.Errorf("the rest of the answer was not read from the stored file %s", name)
	}
}

// TestSlowReaderCutAtWriteDeadline: a client that stops reading a large
// answer is cut once the write deadline (request_timeout) has passed,
// instead of holding the handler, its buffers and its connection.
func TestSlowReaderCutAtWriteDeadline(t *testing.T) {
	e := newTestEnv(t, nil)
	e.s.dst = nil // served from memory: no stored file to switch to
	e.s.writeTimeout = 300 * time.Millisecond
	done := make(chan struct{})
	routes := e.s.routes()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		routes.ServeHTTP(w, r)
	}))
	defer ts.Close()
	resp, conn := slowGet(t, ts, bigResult)
	if resp.StatusCode != http.StatusOK || resp.ContentLength < 17<<20 {
		t.Fatalf("answer = %d, %d bytes; want 200 with the 18 MB BMP", resp.StatusCode, resp.ContentLength)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		conn.Close() // lets the handler, and ts.Close, return
		t.Fatal("the handler still writes to a client that stopped reading, 30 s on")
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	if n >= resp.ContentLength {
		t.Errorf("the client got all %d bytes, want the answer cut", n)
	}
}

// TestSlowReadersHoldNoResultBytes: clients reading slowly hold no
// result bytes in the heap once the results are stored: each answer has
// moved to its stored file. Four 18 MB BMPs, held, would be 72 MB.
func TestSlowReadersHoldNoResultBytes(t *testing.T) {
	e := newTestEnv(t, nil)
	const clients = 4
	w := watchedStorage{storage: e.s.dst, stored: make(chan string, clients), opened: make(chan string, 4*clients)}
	e.s.dst = w
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // and what sync.Pools kept for one cycle
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	bodies := make([]io.Reader, clients)
	for i := range clients {
		// A different height each: four results made, not one shared.
		resp, _ := slowGet(t, e.ts, fmt.Sprintf("/display?path=alpha-arc-colors-2140x1200.png&op=resize&w=3000&h=%d&fmt=bmp", 2000-i))
		if resp.StatusCode != http.StatusOK || resp.ContentLength < 17<<20 {
			t.Fatalf("answer %d = %d, %d bytes; want 200 with an 18 MB BMP", i, resp.StatusCode, resp.ContentLength)
		}
		bodies[i] = resp.Body
	}
	for range clients {
		select {
		case <-w.stored:
		case <-time.After(60 * time.Second):
			t.Fatal("the results were not stored")
		}
	}
	e.s.stores.close() // returns once the stores have landed
	// The clients read on, a little each in turn, until each handler has
	// had room to read more of its result, now stored: from the file (a
	// blocked writer wakes once a third of its send buffer is free). At
	// most 8 MB each: 6 MB or more of each answer then is neither sent
	// nor in the kernel's buffers.
	opened := 0
	for read := 0; opened < clients && read < 8<<20; read += 512 << 10 {
		for i, b := range bodies {
			if _, err := io.CopyN(io.Discard, b, 512<<10); err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
		}
		for drained := false; !drained; {
			select {
			case <-w.opened:
				opened++
			default:
				drained = true
			}
		}
	}
	for ; opened < clients; opened++ {
		select {
		case <-w.opened:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d answers moved to the stored files", opened, clients)
		}
	}
	held := int64(heap()) - int64(before)
	t.Logf("heap held with %d slow readers mid-answer: %.1f MB", clients, float64(held)/(1<<20))
	if held > 12<<20 {
		t.Errorf("slow readers hold %.1f MB of heap, want well under one 18 MB result", float64(held)/(1<<20))
	}
}
