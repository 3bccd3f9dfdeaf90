package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis servers these tests use are started by test.sh (.ci/redis.sh),
// which exports where they are. Without them the tests skip, unless
// PICFIT_REQUIRE_BACKENDS=1, when they fail.
const (
	envRedisAddr       = "PICFIT_TEST_REDIS_ADDR"            // host:port
	envRedisCluster    = "PICFIT_TEST_REDIS_CLUSTER_ADDRS"   // host:port,...
	envRedisRoundRobin = "PICFIT_TEST_REDIS_ROUNDROBIN_URLS" // primary URL, replica URL
)

// redisKinds are the kvstore types backed by Redis.
var redisKinds = []string{"redis", "redis-cluster", "redis-roundrobin"}

// skipBackend skips a test whose backend is missing, or fails it under
// PICFIT_REQUIRE_BACKENDS=1.
func skipBackend(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("PICFIT_REQUIRE_BACKENDS") == "1" {
		t.Fatalf("%s, and PICFIT_REQUIRE_BACKENDS=1", why)
	}
	t.Skip(why + " (test.sh starts the backends)")
}

// backendEnv is the value of the environment variable name, which
// locates a test backend.
func backendEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		skipBackend(t, name+" is unset")
	}
	return v
}

// testPrefix is a kv prefix no other test run uses.
func testPrefix() string { return fmt.Sprintf("picfit-test-%d:", time.Now().UnixNano()) }

// redisTestConfig sets a config's kvstore to the test servers of kind,
// with prefix.
func redisTestConfig(t *testing.T, kind, prefix string) func(*config) {
	t.Helper()
	var kc kvConfig
	kc.Type, kc.Prefix = kind, prefix
	switch kind {
	case "redis":
		host, port, err := net.SplitHostPort(backendEnv(t, envRedisAddr))
		if err != nil {
			t.Fatalf("%s: %v", envRedisAddr, err)
		}
		kc.Redis.Host = host
		if kc.Redis.Port, err = strconv.Atoi(port); err != nil {
			t.Fatalf("%s: %v", envRedisAddr, err)
		}
	case "redis-cluster":
		kc.RedisCluster.Addrs = strings.Split(backendEnv(t, envRedisCluster), ",")
	case "redis-roundrobin":
		kc.RedisRoundRobin.Addrs = strings.Split(backendEnv(t, envRedisRoundRobin), ",")
	}
	return func(c *config) { c.KVStore = kc }
}

// newRedisTestEnv is newTestEnv whose kv store is closed once the
// server and its background stores are done.
func newRedisTestEnv(t *testing.T, edit func(*config), dirs ...string) *testEnv {
	t.Helper()
	var e *testEnv
	t.Cleanup(func() { // registered first, so it runs last
		if e == nil {
			return
		}
		if c, ok := e.s.kv.(io.Closer); ok {
			c.Close()
		}
	})
	e = newTestEnv(t, edit, dirs...)
	return e
}

// newTestRedisKV opens a store of kind on the test servers, and a raw
// client on where it writes (the primary, for round-robin).
func newTestRedisKV(t *testing.T, kind string, expiration time.Duration) (kvStore, redis.UniversalClient) {
	t.Helper()
	var c config
	redisTestConfig(t, kind, "")(&c)
	kc := c.KVStore
	var kv kvStore
	var raw redis.UniversalClient
	switch kind {
	case "redis":
		kc.Redis.Expiration = duration(expiration)
		kv = newRedisKV(kc.Redis, defaultRedisTimeouts())
		raw = redis.NewClient(&redis.Options{Addr: backendEnv(t, envRedisAddr)})
	case "redis-cluster":
		kc.RedisCluster.Expiration = duration(expiration)
		kv = newRedisClusterKV(kc.RedisCluster, defaultRedisTimeouts())
		raw = redis.NewClusterClient(&redis.ClusterOptions{Addrs: kc.RedisCluster.Addrs})
	case "redis-roundrobin":
		kc.RedisRoundRobin.Expiration = duration(expiration)
		rr, err := newRoundRobinKV(kc.RedisRoundRobin, defaultRedisTimeouts())
		if err != nil {
			t.Fatalf("newRoundRobinKV: %v", err)
		}
		kv, raw = rr, rawRedisURL(t, kc.RedisRoundRobin.Addrs[0])
	}
	t.Cleanup(func() {
		kv.(io.Closer).Close()
		raw.Close()
	})
	return kv, raw
}

func rawRedisURL(t *testing.T, u string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return redis.NewClient(o)
}

func TestRedisKVConformance(t *testing.T) {
	for _, kind := range redisKinds {
		t.Run(kind, func(t *testing.T) {
			kv, _ := newTestRedisKV(t, kind, 0)
			testKV(t, kv)
		})
	}
}

func TestRedisKVExpiration(t *testing.T) {
	ctx := context.Background()
	for _, kind := range redisKinds {
		t.Run(kind, func(t *testing.T) {
			kv, raw := newTestRedisKV(t, kind, time.Hour)
			p := testPrefix()
			if err := kv.Set(ctx, p+"k", "v"); err != nil {
				t.Fatal(err)
			}
			if err := kv.AddToSet(ctx, p+"s", "m"); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{p + "k", p + "s"} {
				ttl, err := raw.TTL(ctx, key).Result()
				if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
					t.Errorf("TTL %s = %v, %v, want about 1h", key, ttl, err)
				}
			}
			// Without expiration, keys stay.
			kv0, _ := newTestRedisKV(t, kind, 0)
			if err := kv0.Set(ctx, p+"k0", "v"); err != nil {
				t.Fatal(err)
			}
			if ttl, err := raw.TTL(ctx, p+"k0").Result(); err != nil || ttl != -1 {
				t.Errorf("TTL without expiration = %v, %v, want -1 (none)", ttl, err)
			}
			raw.Del(ctx, p+"k", p+"s", p+"k0")
		})
	}
}

func TestRedisKVLock(t *testing.T) {
	ctx := context.Background()
	for _, kind := range redisKinds {
		t.Run(kind, func(t *testing.T) {
			kvA, raw := newTestRedisKV(t, kind, 0)
			kvB, _ := newTestRedisKV(t, kind, 0)
			a, b := kvA.(kvLocker), kvB.(kvLocker)
			key := testPrefix() + "lock"

			unlockA, ok, err := a.Lock(ctx, key, 10*time.Second)
			if err != nil || !ok {
				t.Fatalf("first Lock = %v, %v, want acquired", ok, err)
			}
			if _, ok, err := b.Lock(ctx, key, 10*time.Second); err != nil || ok {
				t.Errorf("second Lock = %v, %v, want not acquired, no error", ok, err)
			}
			if ttl, err := raw.PTTL(ctx, key).Result(); err != nil || ttl <= 0 || ttl > 10*time.Second {
				t.Errorf("lock PTTL = %v, %v, want within 10s", ttl, err)
			}

			// A's lock expires (deleted here), B takes it; A's late unlock
			// holds the wrong token and must leave B's lock alone.
			raw.Del(ctx, key)
			unlockB, ok, err := b.Lock(ctx, key, 10*time.Second)
			if err != nil || !ok {
				t.Fatalf("Lock after expiry = %v, %v, want acquired", ok, err)
			}
			unlockA()
			if n, _ := raw.Exists(ctx, key).Result(); n != 1 {
				t.Errorf("a stale unlock removed another holder's lock")
			}
			if _, ok, _ := a.Lock(ctx, key, 10*time.Second); ok {
				t.Errorf("Lock while B holds it = acquired")
			}
			unlockB()
			if n, _ := raw.Exists(ctx, key).Result(); n != 0 {
				t.Errorf("the holder's unlock left the lock")
			}
			unlock, ok, err := a.Lock(ctx, key, 10*time.Second)
			if err != nil || !ok {
				t.Errorf("Lock after unlock = %v, %v, want acquired", ok, err)
			} else {
				unlock()
			}
		})
	}
}

// getCalls is how many GETs the server behind raw has answered.
func getCalls(t *testing.T, raw *redis.Client) int {
	t.Helper()
	info, err := raw.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_get:calls=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestRedisRoundRobinWritesMovePastReplica(t *testing.T) {
	ctx := context.Background()
	urls := strings.Split(backendEnv(t, envRedisRoundRobin), ",")
	if len(urls) != 2 {
		t.Fatalf("%s = %q, want a primary and a replica", envRedisRoundRobin, urls)
	}
	primary, replica := rawRedisURL(t, urls[0]), rawRedisURL(t, urls[1])
	defer primary.Close()
	defer replica.Close()
	p := testPrefix()
	if err := replica.Set(ctx, p+"direct", "x", 0).Err(); !redis.IsReadOnlyError(err) {
		t.Fatalf("SET on the replica = %v, want a READONLY error", err)
	}

	// The replica first: the first write is refused there and moves on.
	kv, err := newRoundRobinKV(redisRoundRobinConfig{Addrs: []string{urls[1], urls[0]}}, defaultRedisTimeouts())
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if err := kv.Set(ctx, p+"k", "a.png"); err != nil {
		t.Fatalf("Set = %v", err)
	}
	if got, err := primary.Get(ctx, p+"k").Result(); err != nil || got != "a.png" {
		t.Errorf("primary GET = %q, %v, want a.png", got, err)
	}
	if w := kv.writer.Load(); w != 1 {
		t.Errorf("writer = %d, want 1 (the primary)", w)
	}
	before := getCalls(t, replica)
	for range 4 {
		if got, err := kv.Get(ctx, p+"k"); err != nil || got != "a.png" {
			t.Errorf("Get = %q, %v, want a.png", got, err)
		}
	}
	if n := getCalls(t, replica) - before; n != 2 {
		t.Errorf("replica answered %d of 4 reads, want 2", n)
	}

	// A dead server is passed over, for reads and writes.
	dead := fmt.Sprintf("redis://127.0.0.1:%d", freePort(t))
	kv2, err := newRoundRobinKV(redisRoundRobinConfig{Addrs: []string{dead, urls[0]}}, defaultRedisTimeouts())
	if err != nil {
		t.Fatal(err)
	}
	defer kv2.Close()
	if err := kv2.Set(ctx, p+"k2", "b.png"); err != nil {
		t.Errorf("Set with a dead first server = %v", err)
	}
	for range 2 {
		if got, err := kv2.Get(ctx, p+"k2"); err != nil || got != "b.png" {
			t.Errorf("Get with a dead server = %q, %v, want b.png", got, err)
		}
	}
	primary.Del(ctx, p+"k", p+"k2")
}

// TestRedisLayout checks, through HTTP, the original picfit's layout:
// PREFIX+key a string holding the stored name, and with cascade delete
// PREFIX+md5(path)+":children" a set of result keys.
func TestRedisLayout(t *testing.T) {
	ctx := context.Background()
	for _, kind := range redisKinds {
		t.Run(kind, func(t *testing.T) {
			p := testPrefix()
			redisCfg := redisTestConfig(t, kind, p)
			e := newRedisTestEnv(t, func(c *config) {
				redisCfg(c)
				c.Options.EnableCascadeDelete = true
				c.Shard = shardConfig{Width: 1, Depth: 2, RestOnly: true}
			})
			_, raw := newTestRedisKV(t, kind, 0)
			resp := e.get(t, "/get?path=avatar.png&op=resize&w=100&h=100")
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/get = %d %s", resp.StatusCode, body)
			}
			const key = "895b545d9dca01413aec42d6ae3c6197"
			const name = "8/9/5b545d9dca01413aec42d6ae3c6197.png"
			if typ, _ := raw.Type(ctx, p+key).Result(); typ != "string" {
				t.Errorf("TYPE %s = %q, want string", p+key, typ)
			}
			if got, err := raw.Get(ctx, p+key).Result(); err != nil || got != name {
				t.Errorf("GET %s = %q, %v, want %q", p+key, got, err, name)
			}
			children := p + md5hex("avatar.png") + ":children"
			if typ, _ := raw.Type(ctx, children).Result(); typ != "set" {
				t.Errorf("TYPE %s = %q, want set", children, typ)
			}
			if m, err := raw.SMembers(ctx, children).Result(); err != nil || len(m) != 1 || m[0] != key {
				t.Errorf("SMEMBERS %s = %v, %v, want [%s]", children, m, err, key)
			}
			raw.Del(ctx, p+key, children)
		})
	}
}

// storedFiles lists the files under dir.
func storedFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestTwoInstancesMakeOnce runs two picfit servers sharing a Redis kv
// store, a source folder and a destination folder: 50 identical uncached
// requests spread over both are all answered, and the image is made once.
func TestTwoInstancesMakeOnce(t *testing.T) {
	ctx := context.Background()
	const (
		q        = "/display?path=schwarzy.jpg&op=thumbnail&w=120&h=90"
		requests = 50
	)
	for _, kind := range redisKinds {
		t.Run(kind, func(t *testing.T) {
			p := testPrefix()
			edit := redisTestConfig(t, kind, p)
			a := newRedisTestEnv(t, edit)
			b := newRedisTestEnv(t, edit, a.srcDir, a.dstDir)
			_, raw := newTestRedisKV(t, kind, 0)

			type answer struct {
				code int
				body []byte
				err  error
			}
			answers := make([]answer, requests)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range answers {
				ts := []*testEnv{a, b}[i%2].ts
				wg.Go(func() {
					<-start
					resp, err := http.Get(ts.URL + q)
					if err != nil {
						answers[i].err = err
						return
					}
					defer resp.Body.Close()
					answers[i].code = resp.StatusCode
					answers[i].body, answers[i].err = io.ReadAll(resp.Body)
				})
			}
			close(start)
			wg.Wait()
			a.s.stores.close()
			b.s.stores.close()

			for i, ans := range answers {
				if ans.err != nil || ans.code != http.StatusOK {
					t.Errorf("request %d = %d, %v", i, ans.code, ans.err)
					continue
				}
				m, _, err := image.Decode(bytes.NewReader(ans.body))
				if err != nil || m.Bounds().Dx() != 120 || m.Bounds().Dy() != 90 {
					t.Errorf("request %d: image %v, %v, want 120x90", i, m.Bounds(), err)
				}
			}
			if n := a.opens.Load() + b.opens.Load(); n != 1 {
				t.Errorf("source opened %d times across both instances (a %d, b %d), want 1", n, a.opens.Load(), b.opens.Load())
			}
			files := storedFiles(t, a.dstDir)
			if len(files) != 1 {
				t.Fatalf("stored files = %v, want exactly one", files)
			}
			key := md5hex(`{"h":"90","op":"thumbnail","path":"schwarzy.jpg","w":"120"}`)
			if got, err := raw.Get(ctx, p+key).Result(); err != nil || got != files[0] {
				t.Errorf("GET %s = %q, %v, want %q", p+key, got, err, files[0])
			}
			if n, _ := raw.Exists(ctx, p+key+":lock").Result(); n != 0 {
				t.Errorf("the lock is still held after the result was stored")
			}
			raw.Del(ctx, p+key)
		})
	}
}

// TestLockExpiresWithoutResult: a holder that never stores (it died) only
// delays the others until its lock expires; then they make the result.
func TestLockExpiresWithoutResult(t *testing.T) {
	ctx := context.Background()
	p := testPrefix()
	e := newRedisTestEnv(t, redisTestConfig(t, "redis", p))
	_, raw := newTestRedisKV(t, "redis", 0)
	key := md5hex(`{"op":"resize","path":"avatar.png","w":"40"}`)
	if err := raw.Set(ctx, p+key+":lock", "dead-instance", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	resp := e.get(t, "/get?path=avatar.png&op=resize&w=40")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/get behind an abandoned lock = %d %s", resp.StatusCode, body)
	}
	if n := e.opens.Load(); n != 1 {
		t.Errorf("source opened %d times, want 1", n)
	}
	if _, err := raw.Get(ctx, p+key).Result(); err != nil {
		t.Errorf("result not remembered after the lock expired: %v", err)
	}
	raw.Del(ctx, p+key)
}

// redisProcess is a redis-server the test starts and stops itself.
type redisProcess struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedisProcess(t *testing.T, port int, dir string) *redisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		skipBackend(t, "redis-server is not on PATH")
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r := &redisProcess{t: t, port: port, dir: dir, cmd: cmd}
	t.Cleanup(r.stop)
	c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1})
	defer c.Close()
	if !pollUntil(5*time.Second, func() bool { return c.Ping(context.Background()).Err() == nil }) {
		t.Fatalf("redis-server on port %d did not answer", port)
	}
	return r
}

func (r *redisProcess) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// stop kills the server and waits for it to be gone.
func (r *redisProcess) stop() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// pollUntil calls ok every 20ms until it is true or d has passed.
func pollUntil(d time.Duration, ok func() bool) bool {
	deadline := time.After(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-deadline:
			return false
		case <-tick.C:
		}
	}
	return true
}

// TestRedisKilledServesUncached kills Redis in the middle of a run:
// requests are still answered (uncached, with a warning in the log), and
// once Redis is back, results are remembered again.
func TestRedisKilledServesUncached(t *testing.T) {
	ctx := context.Background()
	port, dir := freePort(t), t.TempDir()
	srv := startRedisProcess(t, port, dir)
	e := newRedisTestEnv(t, func(c *config) {
		c.KVStore = kvConfig{Type: "redis", Prefix: "p:", Redis: redisConfig{Host: "127.0.0.1", Port: port}}
		// A request held by Redis beyond this would answer 504.
		c.Options.RequestTimeout = duration(5 * time.Second)
	})
	var logs syncBuffer
	e.s.log = slog.New(slog.NewTextHandler(&logs, nil))
	raw := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1})
	defer raw.Close()
	keyOf := func(q string) string {
		t.Helper()
		resp := e.get(t, q)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", q, resp.StatusCode, body)
		}
		if strings.HasPrefix(q, "/get") {
			var out map[string]string
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatalf("GET %s: %v", q, err)
			}
			return out["key"]
		}
		decodeAny(t, body)
		return strings.Trim(resp.Header.Get("ETag"), `"`)
	}

	cached := keyOf("/get?path=avatar.png&op=resize&w=50")
	if n, _ := raw.Exists(ctx, "p:"+cached).Result(); n != 1 {
		t.Fatalf("result not remembered while Redis is up")
	}

	srv.stop()
	keyOf("/display?path=avatar.png&op=resize&w=50") // cached before, found by name
	keyOf("/display?path=schwarzy.jpg&op=resize&w=60")
	madeWhileDown := keyOf("/get?path=schwarzy.jpg&op=resize&w=70")
	keyOf("/get?path=avatar.png&op=flip&pos=h")
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "kv get failed") {
		t.Errorf("no kv warning logged while Redis is down:\n%s", l)
	}

	startRedisProcess(t, port, dir) // empty: nothing was saved; stopped by its cleanup
	// Found by name, the result made while Redis was down is taught to
	// it again, as soon as go-redis has reconnected.
	back := pollUntil(10*time.Second, func() bool {
		keyOf("/get?path=schwarzy.jpg&op=resize&w=70")
		n, _ := raw.Exists(ctx, "p:"+madeWhileDown).Result()
		return n == 1
	})
	if !back {
		t.Fatalf("caching did not resume within 10s of Redis coming back")
	}
	fresh := keyOf("/get?path=avatar.png&op=fit&w=20&h=20")
	if n, _ := raw.Exists(ctx, "p:"+fresh).Result(); n != 1 {
		t.Errorf("a new result is not remembered after Redis came back")
	}
}

// TestRedisHungServesUncached: a Redis that accepts connections and never
// answers costs each kv call its short timeout, not the request.
func TestRedisHungServesUncached(t *testing.T) {
	port := blackhole(t)
	e := newRedisTestEnv(t, func(c *config) {
		c.KVStore = kvConfig{Type: "redis", Prefix: "p:", Redis: redisConfig{Host: "127.0.0.1", Port: port}}
		c.Options.RequestTimeout = duration(5 * time.Second) // beyond it: 504
	})
	for _, q := range []string{
		"/get?path=avatar.png&op=resize&w=50",
		"/display?path=schwarzy.jpg&op=resize&w=60",
	} {
		start := time.Now()
		resp := e.get(t, q)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with a hung Redis = %d %s", q, resp.StatusCode, body)
		}
		t.Logf("GET %s with a hung Redis: %v", q, time.Since(start).Round(time.Millisecond))
	}
	// The kv calls fail with a timeout, not a hang.
	kv := newRedisKV(redisConfig{Host: "127.0.0.1", Port: port}, defaultRedisTimeouts())
	defer kv.Close()
	if _, err := kv.Get(context.Background(), "k"); err == nil || errors.Is(err, errNotFound) {
		t.Errorf("Get on a hung Redis = %v, want a failure", err)
	}
}
