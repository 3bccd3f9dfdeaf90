package main

import "errors"

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
	// errTooLarge: the source or the output is over a configured limit
	// (413 for sources, 400 for requested sizes).
	errTooLarge = errors.New("image too large")
	// errNotFound: the source file, object or origin URL does not exist (404).
	errNotFound = errors.New("not found")
	// errConflict: the name is taken by something a file cannot replace,
	// such as a folder (409).
	errConflict = errors.New("conflict")
)
