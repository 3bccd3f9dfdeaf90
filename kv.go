package main

// The key/value stores that remember processed requests: none, or in
// memory.

import (
	"container/list"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// kvStore remembers which requests were already processed. Keys arrive
// prefixed (the server adds kvstore.prefix); values are stored names.
// The layout matches the original picfit's so Redis data carries over:
// PREFIX+key is a string holding the stored name, and with cascade delete
// PREFIX+md5(source path)+":children" is a set of result keys.
type kvStore interface {
	// Get returns the value of key, or errNotFound.
	Get(ctx context.Context, key string) (string, error)
	// Set stores value under key, with the store's expiration.
	Set(ctx context.Context, key, value string) error
	// Delete removes keys; absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// AddToSet adds member to the set at key.
	AddToSet(ctx context.Context, key, member string) error
	// SetMembers returns the members of the set at key (none when absent).
	SetMembers(ctx context.Context, key string) ([]string, error)
}

// kvLocker is a kvStore shared by several picfit instances that can hold
// a short lock, so that one instance makes a result while the others
// wait for it instead of making it too. The lock lasts until unlock or
// ttl, whichever comes first: an instance that dies does not hold it.
// acquired false (with a nil error) means another holder has it. The
// in-memory store does not implement it: flightGroup already does this
// job within one process.
type kvLocker interface {
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), acquired bool, err error)
}

// memoryKV is an in-process kvStore: a map with least-recently-used
// eviction beyond maxEntries and optional expiration. Safe for concurrent
// use. It is lost on restart; the server then finds results again in the
// destination storage by their deterministic names.
type memoryKV struct {
	maxEntries int           // 0 = unbounded
	expiration time.Duration // 0 = never
	now        func() time.Time
	// cleanup is how often sweepEvery drops expired entries
	// (kvstore.cache.cleanup_interval); 0: never, they go when next
	// looked up or evicted.
	cleanup time.Duration

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // front = most recently used; values are *memoryEntry
}

type memoryEntry struct {
	key     string
	value   string
	set     map[string]struct{} // non-nil for sets
	expires time.Time           // zero = never
}

func newMemoryKV(maxEntries int, expiration time.Duration, now func() time.Time) *memoryKV {
	return &memoryKV{
		maxEntries: maxEntries,
		expiration: expiration,
		now:        now,
		entries:    map[string]*list.Element{},
		lru:        list.New(),
	}
}

// lookup returns the live entry at key, dropping it if expired. mu is held.
func (m *memoryKV) lookup(key string) *memoryEntry {
	el, ok := m.entries[key]
	if !ok {
		return nil
	}
	e := el.Value.(*memoryEntry)
	if !e.expires.IsZero() && !m.now().Before(e.expires) {
		m.lru.Remove(el)
		delete(m.entries, key)
		return nil
	}
	m.lru.MoveToFront(el)
	return e
}

// insert adds a fresh entry, evicting the least recently used beyond
// maxEntries. mu is held.
func (m *memoryKV) insert(e *memoryEntry) {
	if m.expiration > 0 {
		e.expires = m.now().Add(m.expiration)
	}
	if el, ok := m.entries[e.key]; ok {
		m.lru.Remove(el)
	}
	m.entries[e.key] = m.lru.PushFront(e)
	for m.maxEntries > 0 && m.lru.Len() > m.maxEntries {
		old := m.lru.Back()
		m.lru.Remove(old)
		delete(m.entries, old.Value.(*memoryEntry).key)
	}
}

func (m *memoryKV) Get(ctx context.Context, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.lookup(key)
	if e == nil || e.set != nil {
		return "", fmt.Errorf("get %s: %w", key, errNotFound)
	}
	return e.value, nil
}

func (m *memoryKV) Set(ctx context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.insert(&memoryEntry{key: key, value: value})
	return nil
}

func (m *memoryKV) Delete(ctx context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if el, ok := m.entries[k]; ok {
			m.lru.Remove(el)
			delete(m.entries, k)
		}
	}
	return nil
}

func (m *memoryKV) AddToSet(ctx context.Context, key, member string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.lookup(key)
	if e == nil || e.set == nil {
		e = &memoryEntry{key: key, set: map[string]struct{}{}}
		m.insert(e)
	}
	e.set[member] = struct{}{}
	return nil
}

func (m *memoryKV) SetMembers(ctx context.Context, key string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.lookup(key)
	if e == nil || e.set == nil {
		return nil, nil
	}
	members := make([]string, 0, len(e.set))
	for k := range e.set {
		members = append(members, k)
	}
	sort.Strings(members)
	return members, nil
}

// sweep drops every expired entry.
func (m *memoryKV) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.expiration <= 0 {
		return
	}
	now := m.now()
	for el := m.lru.Back(); el != nil; {
		prev := el.Prev()
		if e := el.Value.(*memoryEntry); !e.expires.IsZero() && !now.Before(e.expires) {
			m.lru.Remove(el)
			delete(m.entries, e.key)
		}
		el = prev
	}
}

// sweepEvery sweeps every m.cleanup until ctx ends; it returns at once
// when m.cleanup is 0 or nothing ever expires.
func (m *memoryKV) sweepEvery(ctx context.Context) {
	if m.cleanup <= 0 || m.expiration <= 0 {
		return
	}
	t := time.NewTicker(m.cleanup)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.sweep()
		}
	}
}
