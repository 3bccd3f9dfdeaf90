package main

// A pause after a Redis failure, so that a store that is down costs one
// timeout, not one per request.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// kvBreakerPause is how long calls fail at once after a kv failure.
const kvBreakerPause = time.Second

// kvBreaker wraps a shared kv store (Redis) so that an outage costs its
// timeout once a second, not once a call: after a failure, calls fail at
// once with errKVDown for kvBreakerPause; then one call at a time tries
// the store again, and the first that succeeds ends the outage. A hung
// Redis then delays one request a second instead of every one, and the
// log gets a line per second instead of several per request. Errors
// other than errNotFound count as failures, except those of a caller
// that gave up (its context ended first).
type kvBreaker struct {
	kv  kvStore
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	until   time.Time // calls before it are refused
	down    bool      // a failure was seen and no success since
	refused int       // calls refused during this outage
}

func newKVBreaker(kv kvStore, log *slog.Logger, now func() time.Time) *kvBreaker {
	return &kvBreaker{kv: kv, log: log, now: now}
}

// allow refuses a call during the pause. Past it, the call that gets
// through is the probe: the next pause starts, so the others keep
// failing fast until the probe has its answer.
func (b *kvBreaker) allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.Before(b.until) {
		b.refused++
		return errKVDown
	}
	if b.down {
		b.until = now.Add(kvBreakerPause)
	}
	return nil
}

// record learns from a call's outcome, and returns its error, wrapped in
// errUpstream when the store failed.
func (b *kvBreaker) record(ctx context.Context, err error) error {
	answered := err == nil || errors.Is(err, errNotFound)
	if !answered && ctx.Err() != nil {
		return err // the caller gave up: nothing learnt
	}
	b.mu.Lock()
	wasDown, refused := b.down, b.refused
	if answered {
		b.down, b.until, b.refused = false, time.Time{}, 0
	} else {
		b.down, b.until = true, b.now().Add(kvBreakerPause)
	}
	b.mu.Unlock()
	if !answered {
		return fmt.Errorf("%w: %w", errUpstream, err)
	}
	if wasDown {
		b.log.Info("kv store back", "refused_while_down", refused)
	}
	return err
}

func (b *kvBreaker) Get(ctx context.Context, key string) (string, error) {
	if err := b.allow(); err != nil {
		return "", err
	}
	v, err := b.kv.Get(ctx, key)
	return v, b.record(ctx, err)
}

func (b *kvBreaker) Set(ctx context.Context, key, value string) error {
	if err := b.allow(); err != nil {
		return err
	}
	return b.record(ctx, b.kv.Set(ctx, key, value))
}

func (b *kvBreaker) Delete(ctx context.Context, keys ...string) error {
	if err := b.allow(); err != nil {
		return err
	}
	return b.record(ctx, b.kv.Delete(ctx, keys...))
}

func (b *kvBreaker) AddToSet(ctx context.Context, key, member string) error {
	if err := b.allow(); err != nil {
		return err
	}
	return b.record(ctx, b.kv.AddToSet(ctx, key, member))
}

func (b *kvBreaker) SetMembers(ctx context.Context, key string) ([]string, error) {
	if err := b.allow(); err != nil {
		return nil, err
	}
	v, err := b.kv.SetMembers(ctx, key)
	return v, b.record(ctx, err)
}

// Lock is the wrapped store's lock; the Redis stores all have one.
func (b *kvBreaker) Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), acquired bool, err error) {
	locker, ok := b.kv.(kvLocker)
	if !ok {
		return nil, false, fmt.Errorf("kv store %T has no lock", b.kv)
	}
	if err := b.allow(); err != nil {
		return nil, false, err
	}
	unlock, acquired, err = locker.Lock(ctx, key, ttl)
	return unlock, acquired, b.record(ctx, err)
}

// Close closes the wrapped store.
func (b *kvBreaker) Close() error {
	if c, ok := b.kv.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
