package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// flakyKV is a kvStore whose every call returns err, counting the calls.
type flakyKV struct {
	*memoryKV
	err   error
	calls int
}

func (f *flakyKV) Get(ctx context.Context, key string) (string, error) {
	f.calls++
	if f.err != nil {
		return "", f.err
	}
	return f.memoryKV.Get(ctx, key)
}

func (f *flakyKV) Set(ctx context.Context, key, value string) error {
	f.calls++
	if f.err != nil {
		return f.err
	}
	return f.memoryKV.Set(ctx, key, value)
}

func TestKVBreaker(t *testing.T) {
	ctx := context.Background()
	clock := time.Unix(1e9, 0)
	inner := &flakyKV{memoryKV: newMemoryKV(0, 0, time.Now)}
	var logs syncBuffer
	b := newKVBreaker(inner, slog.New(slog.NewTextHandler(&logs, nil)), func() time.Time { return clock })

	// A miss is an answer, not a failure.
	if _, err := b.Get(ctx, "k"); !errors.Is(err, errNotFound) {
		t.Fatalf("Get of a missing key = %v, want errNotFound", err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, errNotFound) || inner.calls != 2 {
		t.Fatalf("after a miss: %v, %d calls; want errNotFound from the store (2 calls)", err, inner.calls)
	}

	// A failure: reported as upstream, then calls fail at once for the pause.
	down := errors.New("dial tcp: connection refused")
	inner.err = down
	if err := b.Set(ctx, "k", "v"); !errors.Is(err, down) || !errors.Is(err, errUpstream) {
		t.Errorf("failing Set = %v, want the store's error as errUpstream", err)
	}
	calls := inner.calls
	for range 5 {
		if _, err := b.Get(ctx, "k"); !errors.Is(err, errKVDown) {
			t.Errorf("Get during the pause = %v, want errKVDown", err)
		}
	}
	if inner.calls != calls {
		t.Errorf("the store was called %d times during the pause, want 0", inner.calls-calls)
	}

	// Past the pause, one probe goes through; while it runs (here: after
	// it failed) the others still fail fast.
	clock = clock.Add(kvBreakerPause)
	if _, err := b.Get(ctx, "k"); !errors.Is(err, down) {
		t.Errorf("probe = %v, want the store's error", err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, errKVDown) || inner.calls != calls+1 {
		t.Errorf("after a failed probe: %v, %d calls; want errKVDown and 1 call", err, inner.calls-calls)
	}

	// The store is back: the next probe ends the outage.
	inner.err = nil
	clock = clock.Add(kvBreakerPause)
	if err := b.Set(ctx, "k", "v"); err != nil {
		t.Errorf("probe with the store back = %v", err)
	}
	if v, err := b.Get(ctx, "k"); err != nil || v != "v" {
		t.Errorf("Get after recovery = %q, %v; want v", v, err)
	}
	if l := logs.String(); strings.Count(l, "kv store back") != 1 || !strings.Contains(l, "refused_while_down=6") {
		t.Errorf("log = %q, want one kv store back line with refused_while_down=6", l)
	}

	// A caller that gives up does not open the breaker.
	inner.err = context.Canceled
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	b.Get(cctx, "k")
	inner.err = nil
	if _, err := b.Get(ctx, "k"); err != nil {
		t.Errorf("Get after a cancelled call = %v, want the store asked", err)
	}
}
