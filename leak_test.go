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
	// Close waits until every server connection has reported its close
	// (httptest counts them through ConnState): the signal the server side
	// gives. Closing twice (again at Cleanup) is harmless.
	e.ts.Close()

	// What is left cannot signal: a connection goroutine after its
	// StateClosed, the client's read and write loops after the closes
	// above, the load's goroutines after wg.Done, return on their own,
	// already runnable. So poll, a bounded number of times, with no wall
	// clock and no sleep. A yield alone is not enough: the goroutine may
	// wait in the run queue of another P whose thread the OS has paused
	// (the machine is shared), and a yield hands this P back to this
	// goroutine; runtime.GC stops and restarts every P, so the others run
	// what they hold. A leak stays above the bound however long one waits.
	// One fewer than before: the test server's accept loop has ended, and
	// the new store queue's two workers stand in for the old queue's two.
	want := before - 1
	after := runtime.NumGoroutine()
	for round := 0; after > want && round < 100; round++ {
		runtime.GC()
		for range 100 {
			if after = runtime.NumGoroutine(); after <= want {
				break
			}
			runtime.Gosched()
		}
	}
	if after > want {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d before, %d after the load, want <= %d\n%s", before, after, want, buf[:n])
	}
}
