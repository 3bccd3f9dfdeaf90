package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestFlightShares(t *testing.T) {
	var g flightGroup
	started, release := make(chan struct{}), make(chan struct{})
	calls := 0
	fn := func(ctx context.Context) (made, error) {
		calls++
		close(started)
		<-release
		return made{name: "x.png"}, nil
	}
	var wg sync.WaitGroup
	results := make([]made, 3)
	wg.Go(func() { results[0], _ = g.do(context.Background(), "k", fn) })
	<-started
	for i := 1; i < 3; i++ {
		wg.Go(func() { results[i], _ = g.do(context.Background(), "k", fn) })
	}
	for { // until both followers wait on the call
		g.mu.Lock()
		n := g.calls["k"].waiters
		g.mu.Unlock()
		if n == 3 {
			break
		}
	}
	close(release)
	wg.Wait()
	if calls != 1 {
		t.Errorf("fn ran %d times for 3 callers, want 1", calls)
	}
	for i, r := range results {
		if r.name != "x.png" {
			t.Errorf("caller %d got %+v, want the shared result", i, r)
		}
	}
}

func TestFlightCancelledWhenEveryCallerLeaves(t *testing.T) {
	var g flightGroup
	workCtx := make(chan context.Context, 1)
	fn := func(ctx context.Context) (made, error) {
		workCtx <- ctx
		<-ctx.Done()
		return made{}, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := g.do(ctx, "k", fn); errc <- err }()
	wctx := <-workCtx
	if wctx.Err() != nil {
		t.Fatal("work cancelled while its caller waits")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("do after the caller left = %v, want context.Canceled", err)
	}
	<-wctx.Done() // the work is cancelled once nobody waits: the test would hang otherwise
}

func TestFlightPanicBecomesError(t *testing.T) {
	var g flightGroup
	_, err := g.do(context.Background(), "k", func(context.Context) (made, error) { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("do with a panicking fn = %v, want an error naming the panic", err)
	}
	if _, err := g.do(context.Background(), "k", func(context.Context) (made, error) { return made{name: "ok"}, nil }); err != nil {
		t.Errorf("the key is not usable after a panic: %v", err)
	}
}
