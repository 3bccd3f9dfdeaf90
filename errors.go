package main

import (
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
	// errUnsupportedFormat: the bytes are not an image format picfit reads,
	// or the requested output format is not one it writes (415 on input,
	// 400 on fmt=).
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
)

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
