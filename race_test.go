//go:build race

package main

// raceDetector tells tests that count allocated bytes that -race is on:
// it changes how buffers grow (append(nil, make(...)...) is no longer one
// allocation), so byte counts do not hold.
const raceDetector = true
