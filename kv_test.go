package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// testKV is the conformance test every kvStore passes.
func testKV(t *testing.T, kv kvStore) {
	t.Helper()
	ctx := context.Background()
	p := fmt.Sprintf("picfit-test-%d:", time.Now().UnixNano())

	if _, err := kv.Get(ctx, p+"missing"); !errors.Is(err, errNotFound) {
		t.Errorf("Get(missing) = %v, want errNotFound", err)
	}
	if err := kv.Set(ctx, p+"k", "a/b/c.png"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got, err := kv.Get(ctx, p+"k"); err != nil || got != "a/b/c.png" {
		t.Errorf("Get(k) = %q, %v, want a/b/c.png", got, err)
	}
	if err := kv.Set(ctx, p+"k", "d.png"); err != nil {
		t.Fatalf("Set again: %v", err)
	}
	if got, _ := kv.Get(ctx, p+"k"); got != "d.png" {
		t.Errorf("Get(k) after overwrite = %q, want d.png", got)
	}
	if err := kv.Delete(ctx, p+"k", p+"never"); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if _, err := kv.Get(ctx, p+"k"); !errors.Is(err, errNotFound) {
		t.Errorf("Get after Delete = %v, want errNotFound", err)
	}

	if m, err := kv.SetMembers(ctx, p+"set"); err != nil || len(m) != 0 {
		t.Errorf("SetMembers(absent) = %v, %v, want empty", m, err)
	}
	for _, m := range []string{"b", "a", "b"} {
		if err := kv.AddToSet(ctx, p+"set", m); err != nil {
			t.Fatalf("AddToSet: %v", err)
		}
	}
	m, err := kv.SetMembers(ctx, p+"set")
	if err != nil {
		t.Fatalf("SetMembers: %v", err)
	}
	if len(m) != 2 || !(reflect.DeepEqual(m, []string{"a", "b"}) || reflect.DeepEqual(m, []string{"b", "a"})) {
		t.Errorf("SetMembers = %v, want a and b", m)
	}
	kv.Delete(ctx, p+"set")

	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			k := fmt.Sprintf("%sc%d", p, i%4)
			kv.Set(ctx, k, "v")
			kv.Get(ctx, k)
			kv.AddToSet(ctx, p+"cs", k)
		})
	}
	wg.Wait()
	if m, _ := kv.SetMembers(ctx, p+"cs"); len(m) != 4 {
		t.Errorf("concurrent AddToSet gave %d members, want 4", len(m))
	}
	kv.Delete(ctx, p+"cs", p+"c0", p+"c1", p+"c2", p+"c3")
}

func TestMemoryKV(t *testing.T) {
	testKV(t, newMemoryKV(0, 0, time.Now))
}

func TestMemoryKVBounded(t *testing.T) {
	ctx := context.Background()
	kv := newMemoryKV(2, 0, time.Now)
	kv.Set(ctx, "a", "1")
	kv.Set(ctx, "b", "2")
	kv.Get(ctx, "a") // a is now the most recently used
	kv.Set(ctx, "c", "3")
	if _, err := kv.Get(ctx, "b"); !errors.Is(err, errNotFound) {
		t.Errorf("Get(b) = %v, want it evicted", err)
	}
	for _, k := range []string{"a", "c"} {
		if _, err := kv.Get(ctx, k); err != nil {
			t.Errorf("Get(%s) = %v, want it kept", k, err)
		}
	}
}

func TestMemoryKVExpiration(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kv := newMemoryKV(0, time.Minute, func() time.Time { return now })
	kv.Set(ctx, "a", "1")
	now = now.Add(59 * time.Second)
	if _, err := kv.Get(ctx, "a"); err != nil {
		t.Errorf("Get before expiry = %v", err)
	}
	now = now.Add(time.Second)
	if _, err := kv.Get(ctx, "a"); !errors.Is(err, errNotFound) {
		t.Errorf("Get at expiry = %v, want errNotFound", err)
	}
}
