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
// A url= source is fetched before its slot is taken, so a slow origin
// holds no processing slot, but by at most concurrent requests at once
// (prefetch): with the sources being processed, at most 2*concurrent are
// held in memory, however long the queue.
type limiter struct {
	admitted chan struct{}
	fetching chan struct{}
	slots    chan struct{}
}

func newLimiter(concurrent, maxQueue int) *limiter {
	concurrent = max(1, concurrent)
	return &limiter{
		admitted: make(chan struct{}, concurrent+max(0, maxQueue)),
		fetching: make(chan struct{}, concurrent),
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
	return take(ctx, l.slots)
}

// prefetch waits for a place to fetch a source ahead of its slot; done
// frees it, once the source is in a slot or dropped.
func (l *limiter) prefetch(ctx context.Context) (done func(), err error) {
	return take(ctx, l.fetching)
}

// take waits for a place in the semaphore sem, or for ctx to end.
func take(ctx context.Context, sem chan struct{}) (release func(), err error) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// flightGroup runs one call per key at a time: requests for the same
// result that arrive while it is being made wait for it and share it.
// The call runs in its own goroutine with a context that outlives any one
// caller and is cancelled once every caller has gone, so a result nobody
// waits for any more stops being made.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flightCall
}

type flightCall struct {
	done    chan struct{}
	val     made
	err     error
	waiters int
	cancel  context.CancelFunc
}

// do runs fn for key unless a call for key is in flight, and waits for
// the outcome or for ctx to end.
func (g *flightGroup) do(ctx context.Context, key string, fn func(ctx context.Context) (made, error)) (made, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	c, ok := g.calls[key]
	if !ok {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &flightCall{done: make(chan struct{}), cancel: cancel}
		g.calls[key] = c
		go g.run(key, c, wctx, fn)
	}
	c.waiters++
	g.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		g.mu.Lock()
		if c.waiters--; c.waiters == 0 {
			c.cancel()
		}
		g.mu.Unlock()
		return made{}, ctx.Err()
	}
}

// run makes c's result; a panic becomes c's error, with its stack.
func (g *flightGroup) run(key string, c *flightCall, ctx context.Context, fn func(context.Context) (made, error)) {
	defer func() {
		if v := recover(); v != nil {
			c.val, c.err = made{}, recovered(v)
		}
		c.cancel()
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn(ctx)
}
