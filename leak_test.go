package main

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestNoGoroutineLeak sends a mix of good, bad, cached, uncached and
// refused requests, then checks that the goroutines come back to where
// they were once the connections and queues are closed.
func TestNoGoroutineLeak(t *testing.T) {
	e := newTestEnv(t, func(c *config) { c.Options.MaxQueue = 2 })
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()

	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			paths := []string{
				fmt.Sprintf("/display?path=schwarzy.jpg&op=resize&w=%d", 20+i%7),
				"/display?path=avatar.png&op=resize&w=30",
				"/get?path=avatar.png&op=thumbnail&w=10&h=10",
				"/display?path=missing.png&op=resize&w=30",
				"/display?path=avatar.png&op=resize&w=bad",
				"/healthcheck",
			}
			resp, err := http.Get(e.ts.URL + paths[i%len(paths)])
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	e.s.stores.close()
	e.s.stores = newStoreQueue(8, 2, e.s.store, e.s.log, time.Minute)
	http.DefaultClient.CloseIdleConnections()
	e.ts.CloseClientConnections()

	// Goroutines end asynchronously after their connections close: give
	// them a bounded time, checking as soon as the scheduler runs them.
	deadline := time.Now().Add(10 * time.Second)
	after := runtime.NumGoroutine()
	for after > before+2 && time.Now().Before(deadline) { // +2: the new store queue's workers
		runtime.Gosched()
		after = runtime.NumGoroutine()
	}
	if after > before+2 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d before, %d after the load\n%s", before, after, buf[:n])
	}
}
