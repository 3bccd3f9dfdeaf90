package main

// Serving a /display result: from memory until it is stored, then from the
// stored file.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// landing tells the responses serving a result from memory that its
// background store has finished, and whether the file now holds the
// bytes. ok is written before done is closed and read after.
type landing struct {
	done chan struct{}
	ok   bool
}

func newLanding() *landing { return &landing{done: make(chan struct{})} }

// finish records the store's outcome; it is called once.
func (l *landing) finish(stored bool) {
	l.ok = stored
	close(l.done)
}

// stored reports, without waiting, whether the store has landed the bytes.
func (l *landing) stored() bool {
	if l == nil {
		return false
	}
	select {
	case <-l.done:
		return l.ok
	default:
		return false
	}
}

// responseBody is what /display sends for out: the stored file when
// there is one (found, stored by this request or by another instance),
// else the bytes made for this request, served from memory only until
// their background store lands (see resultBody).
func (s *server) responseBody(ctx context.Context, out made) (readSeekCloser, error) {
	if out.body != nil {
		return out.body, nil
	}
	if out.stored && s.dst != nil {
		rc, fi, err := s.readDst().Open(ctx, out.name)
		if err == nil {
			rs, seekable := rc.(readSeekCloser)
			switch {
			case seekable && (out.data == nil || fi.size == int64(len(out.data))):
				return rs, nil
			case out.data == nil: // a storage that cannot seek: read it whole
				out.data, err = readLimited(rc, s.maxSourceBytes, fi.size)
			}
			rc.Close()
		}
		if out.data == nil {
			return nil, fmt.Errorf("open result %s: %w", out.name, err)
		}
	}
	// Bytes already in memory: they count against the budget while the
	// client reads them, so a slow reader holds back new work.
	release := s.budget.hold(int64(len(out.data)))
	b := &resultBody{data: out.data, landed: out.landed, release: release}
	if out.landed != nil {
		// Not out itself in the closure: it would keep the bytes.
		name, size := out.name, int64(len(out.data))
		b.open = func() (readSeekCloser, error) {
			rc, fi, err := s.dst.Open(ctx, name)
			if err != nil {
				return nil, err
			}
			rs, ok := rc.(readSeekCloser)
			if !ok || fi.size != size {
				rc.Close()
				return nil, errors.New("stored result cannot stand in for the bytes")
			}
			return rs, nil
		}
	}
	return b, nil
}

// resultBody serves a result made for this request from its encoded
// bytes until its background store has landed, then from the stored
// file, at the same offset: a client reading slowly then holds a file,
// not the bytes. It gives the bytes up, and their charge in the memory budget,
// when it switches or is closed. It has no WriteTo, so it is read in
// small steps and can switch half-way.
type resultBody struct {
	data    []byte // nil once served from the file
	off     int64
	landed  *landing                       // nil: never stored
	open    func() (readSeekCloser, error) // the stored file
	file    readSeekCloser
	release func()
}

func (b *resultBody) Read(p []byte) (int, error) {
	b.switchToFile()
	if b.file != nil {
		n, err := b.file.Read(p)
		b.off += int64(n)
		return n, err
	}
	if b.off >= int64(len(b.data)) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += int64(n)
	return n, nil
}

func (b *resultBody) Seek(offset int64, whence int) (int64, error) {
	if b.file != nil {
		off, err := b.file.Seek(offset, whence)
		if err == nil {
			b.off = off
		}
		return off, err
	}
	switch whence {
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += int64(len(b.data))
	}
	if offset < 0 {
		return b.off, errors.New("seek before the start")
	}
	b.off = offset
	return offset, nil
}

// switchToFile moves to the stored file once the store has landed. A
// file that cannot be opened leaves the body in memory for good.
func (b *resultBody) switchToFile() {
	if b.file != nil || !b.landed.stored() {
		return
	}
	b.landed = nil // one try
	f, err := b.open()
	if err != nil {
		return
	}
	if _, err := f.Seek(b.off, io.SeekStart); err != nil {
		f.Close()
		return
	}
	b.file = f
	b.drop()
}

// drop lets the bytes go and gives their charge back.
func (b *resultBody) drop() {
	b.data = nil
	if b.release != nil {
		b.release()
		b.release = nil
	}
}

func (b *resultBody) Close() error {
	b.drop()
	if b.file != nil {
		return b.file.Close()
	}
	return nil
}

// setWriteDeadline bounds how long the response may take to send, from
// now: request_timeout (writeTimeout), so a client reading a large result
// at a few KB/s cannot hold it, its buffers and its connection for
// hours. The deadline is wall time for the connection, so it uses
// time.Now, not the server's clock. A writer that cannot take a deadline
// (httptest.ResponseRecorder) goes without.
func (s *server) setWriteDeadline(w http.ResponseWriter) {
	if s.writeTimeout <= 0 {
		return
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.writeTimeout))
}
