package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// errOverloaded: every processing slot is busy and the wait queue is full (429).
var errOverloaded = errors.New("too many images in process, retry later")

// limiter admits at most cap(slots) images into processing at once and
// lets at most maxQueue more wait for a slot; beyond that it refuses at
// once, so a flood costs a queue of goroutines, not memory per image.
type limiter struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxQueue int64
}

func newLimiter(concurrent, maxQueue int) *limiter {
	return &limiter{slots: make(chan struct{}, max(1, concurrent)), maxQueue: int64(maxQueue)}
}

// acquire waits for a slot and returns the function that frees it.
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	release = func() { <-l.slots }
	select {
	case l.slots <- struct{}{}:
		return release, nil
	default:
	}
	if l.waiting.Add(1) > l.maxQueue {
		l.waiting.Add(-1)
		return nil, errOverloaded
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// flightGroup runs one call per key at a time: requests for the same
// result that arrive while it is being made wait for it and share it.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done chan struct{}
	val  made
	err  error
}

// do runs fn for key unless a call for key is in flight, in which case it
// waits for that call's outcome.
func (g *flightGroup) do(ctx context.Context, key string, fn func() (made, error)) (made, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.val, c.err
		case <-ctx.Done():
			return made{}, ctx.Err()
		}
	}
	c := &flightCall{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.err = errors.New("processing stopped") // what waiters see if fn panics
	c.val, c.err = fn()
	return c.val, c.err
}
