package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
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
// The file is read whole (at most max_source_bytes, 413 beyond) and must
// be an image picfit reads, within max_source_pixels, before anything is
// written: 415 for another format, 422 for a broken header, 413 for too
// many pixels. An existing file of that name is replaced.
func (s *server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if s.src == nil {
		s.fail(w, r, fmt.Errorf("%w: upload needs a source storage", errBadParam))
		return
	}
	name, data, err := s.readUpload(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h, err := readHeader(data)
	if err != nil {
		s.fail(w, r, fmt.Errorf("upload %s: %w", name, err))
		return
	}
	if err := s.checkSourceHeader(h); err != nil {
		s.fail(w, r, fmt.Errorf("upload %s: %w", name, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout)
	defer cancel()
	if err := s.src.Put(ctx, name, bytes.NewReader(data), int64(len(data)), contentType(h.format)); err != nil {
		s.fail(w, r, fmt.Errorf("upload: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{
		"filename": name,
		"path":     s.src.Path(name),
		"url":      s.src.URL(name),
	})
}

// readUpload finds the part named "data" in r's multipart body and returns
// its safe file name and content, at most max_source_bytes of it.
func (s *server) readUpload(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	if s.maxSourceBytes > 0 {
		r.Body = http.MaxBytesReader(w, r.Body, s.maxSourceBytes+maxUploadOverhead)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, fmt.Errorf("%w: want a multipart/form-data body: %v", errBadParam, err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return "", nil, fmt.Errorf("%w: data: missing (the multipart field holding the file)", errBadParam)
		}
		if err != nil {
			return "", nil, uploadReadError(err)
		}
		if part.FormName() != "data" {
			continue // NextPart skips what is left of it
		}
		// part.FileName applies filepath.Base, which keeps backslashes on
		// Unix: read the raw parameter and judge it ourselves.
		_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil {
			return "", nil, fmt.Errorf("%w: data: Content-Disposition: %v", errBadParam, err)
		}
		name, err := uploadName(params["filename"])
		if err != nil {
			return "", nil, fmt.Errorf("%w: data: file name: %v", errBadParam, err)
		}
		limit := s.maxSourceBytes
		if limit <= 0 {
			limit = 1<<63 - 2
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return "", nil, uploadReadError(err)
		}
		if int64(len(data)) > limit {
			return "", nil, fmt.Errorf("%w: upload is over max_source_bytes (%d)", errTooLarge, s.maxSourceBytes)
		}
		return name, data, nil
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
