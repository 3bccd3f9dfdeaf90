package main

// Admission: how many requests process images at once (limiter, per
// operation too), how many wait, and request coalescing (flightGroup): one
// caller per key does the work.

import (
	"context"
	"fmt"
	"sync"
)

// limiter bounds image processing in two stages. admit lets at most
// concurrent+maxQueue requests past the door, refusing the rest at once,
// before they read their source: a flood costs bounded memory. acquire
// then lets at most concurrent of those decode and transform at a time.
// A url= source is fetched before its slot is taken, so a slow origin
// holds no processing slot, but by at most concurrent requests at once
// (prefetch): with the sources being processed, at most 2*concurrent are
// held in memory, however long the queue.
//
// With ops (options.max_processor_concurrent_operations), only requests
// whose chain has one of those operations go through the limiter, as in
// the original, whose semaphore only they take; forOps tells which.
// A nil *limiter lets everything through.
type limiter struct {
	admitted chan struct{}
	fetching chan struct{}
	slots    chan struct{}
	ops      map[opKind]bool // nil: every request counts
}

func newLimiter(concurrent, maxQueue int, ops ...string) *limiter {
	concurrent = max(1, concurrent)
	l := &limiter{
		admitted: make(chan struct{}, concurrent+max(0, maxQueue)),
		fetching: make(chan struct{}, concurrent),
		slots:    make(chan struct{}, concurrent),
	}
	if len(ops) > 0 {
		l.ops = make(map[opKind]bool, len(ops))
		for _, op := range ops {
			if k, ok := parseOpKind(op); ok { // config.check refuses other names
				l.ops[k] = true
			}
		}
	}
	return l
}

// forOps returns the limiter a request with the operations ops goes
// through: l, or nil (no limit) when l counts other operations only.
func (l *limiter) forOps(ops []operation) *limiter {
	if l == nil || l.ops == nil {
		return l
	}
	for _, op := range ops {
		if l.ops[op.kind] {
			return l
		}
	}
	return nil
}

// admit takes a place in the queue, or fails with errOverloaded, without
// waiting. leave gives the place back.
func (l *limiter) admit() (leave func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.admitted <- struct{}{}:
		return func() { <-l.admitted }, nil
	default:
		return nil, errOverloaded
	}
}

// acquire waits for a processing slot; release frees it.
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	return take(ctx, l.slots)
}

// prefetch waits for a place to fetch a source ahead of its slot; done
// frees it, once the source is in a slot or dropped.
func (l *limiter) prefetch(ctx context.Context) (done func(), err error) {
	if l == nil {
		return func() {}, nil
	}
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

// transformWithin runs transform on src, whose header is in, and the
// flat images in extras, bounded by options.transform_timeout when set:
// transform stops when its context ends, so past the timeout the
// processor is free again at once.
func (s *server) transformWithin(ctx context.Context, in source, src []byte, req *request, extras map[string][]byte) (result, error) {
	images := func(p string) ([]byte, error) { return extras[p], nil }
	if s.transformTimeout <= 0 {
		return transformSource(ctx, in, src, req, s.engine, images)
	}
	tctx, cancel := context.WithTimeout(ctx, s.transformTimeout)
	defer cancel()
	res, err := transformSource(tctx, in, src, req, s.engine, images)
	if err != nil && ctx.Err() == nil && tctx.Err() != nil {
		return result{}, fmt.Errorf("transform: %w: over options.transform_timeout (%v)", context.DeadlineExceeded, s.transformTimeout)
	}
	return res, err
}
