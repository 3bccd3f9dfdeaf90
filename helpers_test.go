package main

import (
	"crypto/md5"
	"encoding/hex"
	"image/color"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func colorOf(r, g, b, a uint8) color.NRGBA { return color.NRGBA{R: r, G: g, B: b, A: a} }

// blackhole accepts connections on a loopback port, reads what comes and
// never answers: a hung Redis or S3 server. It returns the port.
func blackhole(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// must is v, for calls whose error a test does not expect (a context
// that never ends): it panics on one.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
