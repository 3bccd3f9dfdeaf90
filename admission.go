package main

import (
	"context"
	"errors"
	"sync"
)

// errOverloaded: every processing slot is busy and the wait queue is full (429).
var errOverloaded = errors.New("too many images in process, retry later")

// limiter bounds image processing in two stages. admit lets at most
// concurrent+maxQueue requests past the door, refusing the rest at once,
// before they read their source: a flood costs bounded memory. acquire
// then lets at most concurrent of those decode and transform at a time.
type limiter struct {
	admitted chan struct{}
	slots    chan struct{}
}

func newLimiter(concurrent, maxQueue int) *limiter {
	concurrent = max(1, concurrent)
	return &limiter{
		admitted: make(chan struct{}, concurrent+max(0, maxQueue)),
		slots:    make(chan struct{}, concurrent),
	}
}

// admit takes a place in the queue, or fails with errOverloaded, without
// waiting. leave gives the place back.
func (l *limiter) admit() (leave func(), err error) {
	select {
	case l.admitted <- struct{}{}:
		return func() { <-l.admitted }, nil
	default:
		return nil, errOverloaded
	}
}

// acquire waits for a processing slot; release frees it.
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
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
