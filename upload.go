package main

// POST /upload: a source stored after it was checked to decode.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// maxUploadOverhead is what a multipart body may hold besides the image:
// boundaries, part headers, small extra fields.
const maxUploadOverhead = 1 << 20

// maxNameBytes bounds an uploaded file's name, the usual file system limit.
const maxNameBytes = 255

// handleUpload serves POST /upload (options.enable_upload): the multipart
// field "data" is saved to the source storage under the base name of the
// client's file name, then described as JSON {"filename","path","url"}.
// An upload is admitted like an image request (429 when the server is
// full), its file read whole, once (at most max_source_bytes, 413
// beyond), and it must decode, wholly, within max_source_pixels, before
// anything is written: 415 for another format, 422 for a broken or
// truncated image, 413 for too many pixels. An existing file of that name
// is replaced; a folder of that name is a 409.
func (s *server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if s.src == nil {
		s.fail(w, r, fmt.Errorf("%w: upload needs a source storage", errBadParam))
		return
	}
	leave, err := s.limiter.admit()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer leave()
	ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout)
	defer cancel()
	// The body too must arrive within request_timeout (wall time, for the
	// connection): a client sending a byte a second holds no place long.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.requestTimeout))
	// Read ahead of a processing slot, as a url= source is fetched: at
	// most max_processor_concurrent bodies are being read at once.
	fetched, err := s.limiter.prefetch(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name, data, release, err := s.readUpload(ctx, w, r)
	if err != nil {
		fetched()
		s.fail(w, r, err)
		return
	}
	defer release()
	h, err := s.checkUpload(ctx, data, fetched)
	if err != nil {
		s.fail(w, r, fmt.Errorf("upload %s: %w", name, err))
		return
	}
	if err := s.src.Put(ctx, name, bytes.NewReader(data), int64(len(data)), h.format.contentType()); err != nil {
		s.fail(w, r, fmt.Errorf("upload: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"filename": name,
		"path":     s.src.Path(name),
		"url":      s.src.URL(name),
	})
}

// checkUpload refuses what picfit would not serve: another format, too
// many pixels or frames by the header; then, in a processing slot and
// with its share of the memory budget, an image that does not decode
// wholly (truncated past its header, which inspectSource cannot see).
// fetched is called once the check is done.
func (s *server) checkUpload(ctx context.Context, data []byte, fetched func()) (header, error) {
	// The read place is kept until the check is done (a url= source gives
	// it up once in a slot): so at most max_processor_concurrent upload
	// buffers are in memory, and the decode's share of the budget is
	// never waited for behind more buffers than that.
	defer fetched()
	src, err := inspectSource(data)
	h := src.header
	if err == nil {
		err = s.checkSourceHeader(h)
	}
	if err != nil {
		return h, err
	}
	release, err := s.limiter.acquire(ctx)
	if err != nil {
		return h, err
	}
	defer release()
	spent, err := s.budget.acquire(ctx, uploadFootprint(src, s.engine))
	if err != nil {
		return h, err
	}
	defer spent()
	var hint image.Point
	if h.format == formatJPEG {
		// At 1/8 scale: every coefficient is still read, so a truncated or
		// corrupt stream fails the same, with 1/64 of the pixels held.
		hint = image.Pt(1, 1)
	}
	if err := s.engine.decode.checkSource(h); err != nil {
		return h, err
	}
	p, err := decodeSource(ctx, data, src, hint, false, nil) // the header inspected above, not again
	if err == nil && p.kind == pictureAnim {
		err = p.anim.check(ctx) // every frame of an animation
	}
	return h, err
}

// readUpload finds the part named "data" in r's multipart body and returns
// its safe file name and content, at most max_source_bytes of it, read
// once into a buffer sized from the request's Content-Length. release
// gives back the buffer's charge in the memory budget once it is dropped.
func (s *server) readUpload(ctx context.Context, w http.ResponseWriter, r *http.Request) (name string, data []byte, release func(), err error) {
	// The file is at most the body: Content-Length, when sent, sizes the
	// buffer, so it is allocated once; without it, it grows to the file.
	var size int64
	if s.maxSourceBytes > 0 {
		if r.ContentLength > s.maxSourceBytes+maxUploadOverhead {
			return "", nil, nil, fmt.Errorf("%w: upload is %d bytes, over max_source_bytes (%d)", errTooLarge, r.ContentLength, s.maxSourceBytes)
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxSourceBytes+maxUploadOverhead)
		size = min(max(r.ContentLength, 0), s.maxSourceBytes)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: want a multipart/form-data body: %v", errBadParam, err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return "", nil, nil, fmt.Errorf("%w: data: missing (the multipart field holding the file)", errBadParam)
		}
		if err != nil {
			return "", nil, nil, uploadReadError(err)
		}
		if part.FormName() != "data" {
			continue // NextPart skips what is left of it
		}
		// part.FileName applies filepath.Base, which keeps backslashes on
		// Unix: read the raw parameter and judge it ourselves.
		_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil {
			return "", nil, nil, fmt.Errorf("%w: data: Content-Disposition: %v", errBadParam, err)
		}
		name, err := uploadName(params["filename"])
		if err != nil {
			return "", nil, nil, fmt.Errorf("%w: data: file name: %v", errBadParam, err)
		}
		charge := size
		if charge == 0 {
			charge = s.maxSourceBytes // unknown: as much as it may be
		}
		release := s.budget.hold(charge) // bounded in number by the prefetch places
		data, err := readLimited(part, s.maxSourceBytes, size)
		switch {
		case errors.Is(err, errTooLarge):
			err = fmt.Errorf("%w: upload is over max_source_bytes (%d)", errTooLarge, s.maxSourceBytes)
		case errors.Is(err, context.DeadlineExceeded):
			err = fmt.Errorf("%w: upload not received within request_timeout", errBadParam)
		case err != nil:
			err = uploadReadError(err)
		}
		if err != nil {
			release()
			return "", nil, nil, err
		}
		return name, data, release, nil
	}
}

// uploadReadError classifies a failure to read the body: past the byte
// limit it is 413, anything else the client's malformed request.
func uploadReadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fmt.Errorf("%w: upload is over max_source_bytes", errTooLarge)
	}
	return fmt.Errorf("%w: read upload: %v", errBadParam, err)
}

// uploadName is the name an upload is saved under: the last element of
// the client's file name ("../../a.png" is "a.png"), refused when it is
// empty, ".", "..", hidden (starts with "."), too long, not UTF-8, or
// holds a backslash, a NUL or another control character.
func uploadName(raw string) (string, error) {
	if strings.ContainsAny(raw, "\\\x00") {
		return "", fmt.Errorf("%q holds a backslash or a NUL", raw)
	}
	name := path.Base(raw)
	switch {
	case raw == "" || name == "/" || name == "." || name == "..":
		return "", fmt.Errorf("%q names no file", raw)
	case strings.HasPrefix(name, "."):
		return "", fmt.Errorf("%q starts with a dot", name)
	case len(name) > maxNameBytes:
		return "", fmt.Errorf("%d bytes, over %d", len(name), maxNameBytes)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%q is not UTF-8", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", fmt.Errorf("%q holds a control character", name)
	}
	return cleanPath(name)
}

// checkSourceHeader applies the source limits that a header tells:
// max_source_pixels and the GIF frame cap.
func (s *server) checkSourceHeader(h header) error {
	if h.frames > maxGIFFrames {
		return fmt.Errorf("%w: %d frames, over the limit of %d", errTooLarge, h.frames, maxGIFFrames)
	}
	if n, max := sourcePixels(h), s.engine.decode.maxPixels; max > 0 && n > max {
		return fmt.Errorf("%w: %d pixels (%dx%d, %d frames), over max_source_pixels (%d)", errTooLarge, n, h.width, h.height, h.frames, max)
	}
	return nil
}
