package main

// The errors: sentinels shared by the engine, the storages and the
// handlers, and the typed codec errors, each mapped to one status by
// httpStatus.

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// Sentinel errors shared by the engine, the storages and the handlers.
// Code below the handlers wraps one of these with context
// (fmt.Errorf("decode gif: %w", errCorruptImage)); httpStatus in
// handlers.go maps them to statuses with errors.Is.
var (
	// errBadParam: a request parameter is malformed or out of range (400).
	errBadParam = errors.New("bad parameter")
	// errUnsupportedFormat: the bytes are not an image format picfit
	// reads, or use a feature its decoders do not read (415). An fmt=
	// picfit does not write is errBadParam (400).
	errUnsupportedFormat = errors.New("unsupported image format")
	// errCorruptImage: the bytes claim a supported format but do not
	// decode (truncated, invalid, no frames) (422).
	errCorruptImage = errors.New("corrupt image")
	// errTooLarge: a source, an output or a request's memory is over a
	// configured limit (413). A requested w or h over max_output_dimension
	// is errBadParam (400).
	errTooLarge = errors.New("image too large")
	// errNotFound: the source file, object or origin URL does not exist (404).
	errNotFound = errors.New("not found")
	// errConflict: the name is taken by something a file cannot replace,
	// such as a folder (409).
	errConflict = errors.New("conflict")

	// errSignature: sig is missing or wrong while secret keys are
	// configured (401). The text is the original's answer, word for word (SPEC).
	//lint:ignore ST1005 the original's answer, word for word (SPEC)
	errSignature = errors.New("Invalid signature")
	// errForbidden: url= sources are disabled, or a size is not in
	// options.allowed_sizes (403).
	errForbidden = errors.New("forbidden")
	// errForbiddenAddress: a url= source may not be fetched: a private
	// address, a host outside options.allowed_hosts, a scheme other than
	// http or https, or too many redirects (403).
	errForbiddenAddress = errors.New("address not allowed")
	// errOverloaded: every processing slot is busy and the wait queue is
	// full (429).
	errOverloaded = errors.New("too many images in process, retry later")
	// errUpstream: an origin or a backend failed or answered with an
	// error (502).
	errUpstream = errors.New("upstream error")
	// errKVDown: a shared kv store failed a moment ago and is not asked
	// again until kvBreaker's pause is over. It is errUpstream (502)
	// where a request cannot do without the kv store, e.g. cascade
	// delete; image requests are served uncached.
	errKVDown = fmt.Errorf("%w: kv store unavailable, retry later", errUpstream)
	// errOverBudget: a request needs more memory than options.max_memory
	// allows at all. It is errTooLarge (413).
	errOverBudget = fmt.Errorf("%w: over the memory budget", errTooLarge)
)

// formatError is the error of our own decoders (jpeg.go, png.go, gif.go,
// the WebP ones) for bytes that claim format but break its rules:
// truncated, invalid, no frames. It is errCorruptImage (422), as
// image/jpeg's FormatError is its "invalid JPEG format".
type formatError struct {
	format format
	msg    string
}

func (e *formatError) Error() string {
	return errCorruptImage.Error() + ": " + e.format.String() + ": " + e.msg
}

// Is makes a formatError errCorruptImage for httpStatus and the callers.
func (e *formatError) Is(target error) bool { return target == errCorruptImage }

// unsupportedError is the error of our own decoders for a valid file
// using a feature they do not read (12-bit JPEG, PNG filter method 1).
// It is errUnsupportedFormat (415), as image/jpeg's UnsupportedError.
type unsupportedError struct {
	format format
	msg    string
}

func (e *unsupportedError) Error() string {
	return errUnsupportedFormat.Error() + ": " + e.format.String() + ": " + e.msg
}

// Is makes an unsupportedError errUnsupportedFormat.
func (e *unsupportedError) Is(target error) bool { return target == errUnsupportedFormat }

// corrupt is a formatError: what is wrong with the bytes of format f.
func corrupt(f format, what string) error { return &formatError{format: f, msg: what} }

// unsupported is an unsupportedError: what of format f is not read.
func unsupported(f format, what string) error { return &unsupportedError{format: f, msg: what} }

// codecError makes err, an error met while decoding format f, a
// formatError unless it already is one, an unsupportedError or the end
// of the request's context; a read error such as io.ErrUnexpectedEOF
// or zlib's is corrupt data.
func codecError(f format, err error) error {
	var fe *formatError
	var ue *unsupportedError
	if errors.As(err, &fe) || errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return corrupt(f, err.Error())
}

// panicError is a panic recovered where it cannot be left to unwind: in
// a goroutine of our own (parallel's, flightGroup's), so it reaches the
// caller as an error. It is a bug, never the client's fault: a logged
// 500 whose body says only the status text.
type panicError struct {
	value any
	stack []byte // of the goroutine that panicked
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", e.value, e.stack) }

// recovered makes the value of recover() a *panicError with the stack
// of the goroutine calling it, which must be the deferred function of
// the one that panicked.
func recovered(v any) error { return &panicError{value: v, stack: debug.Stack()} }
