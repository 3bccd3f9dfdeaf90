package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestCodecErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		sentinel error
		status   int
		msg      string
	}{
		{"corrupt", corrupt(formatJPEG, "missing SOI marker"), errCorruptImage, 422, "corrupt image: jpeg: missing SOI marker"},
		{"unsupported", unsupported(formatPNG, "filter method 1"), errUnsupportedFormat, 415, "unsupported image format: png: filter method 1"},
		{"read error", codecError(formatGIF, io.ErrUnexpectedEOF), errCorruptImage, 422, "corrupt image: gif: unexpected EOF"},
		{"wrapped", fmt.Errorf("decode png: %w", codecError(formatPNG, unsupported(formatPNG, "interlace"))), errUnsupportedFormat, 415, "decode png: unsupported image format: png: interlace"},
		{"deadline", codecError(formatWebP, fmt.Errorf("x: %w", context.DeadlineExceeded)), context.DeadlineExceeded, 504, "x: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.sentinel) {
				t.Errorf("%v is not %v", tt.err, tt.sentinel)
			}
			if got := httpStatus(tt.err); got != tt.status {
				t.Errorf("httpStatus(%v) = %d, want %d", tt.err, got, tt.status)
			}
			if got := tt.err.Error(); got != tt.msg {
				t.Errorf("Error() = %q, want %q", got, tt.msg)
			}
		})
	}
}

// TestSentinelStatuses holds httpStatus to the statuses errors.go's
// comments give.
func TestSentinelStatuses(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"errBadParam", errBadParam, 400},
		{"errUnsupportedFormat", errUnsupportedFormat, 415},
		{"errCorruptImage", errCorruptImage, 422},
		{"errTooLarge", errTooLarge, 413},
		{"errNotFound", errNotFound, 404},
		{"errConflict", errConflict, 409},
		{"errSignature", errSignature, 401},
		{"errForbidden", errForbidden, 403},
		{"errForbiddenAddress", errForbiddenAddress, 403},
		{"errOverloaded", errOverloaded, 429},
		{"errUpstream", errUpstream, 502},
		{"errKVDown", errKVDown, 502},
		{"errOverBudget", errOverBudget, 413},
		{"panicError", recovered("boom"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := httpStatus(fmt.Errorf("context: %w", tt.err)); got != tt.want {
				t.Errorf("httpStatus(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
