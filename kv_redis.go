package main

// The Redis key/value stores: a server, a Cluster, or round robin over
// several.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// redisTimeouts bound every exchange with Redis. They are short on
// purpose: a dead or hung Redis must cost a request a fraction of a
// second, after which picfit serves the result uncached.
type redisTimeouts struct {
	dial time.Duration // opening a connection
	io   time.Duration // one read or write on a connection
	pool time.Duration // waiting for a free connection
	op   time.Duration // a whole kv call, cluster redirects included
	// replicas is how long a redis-roundrobin write waits for the other
	// servers to have it, so that a read right after it sees it.
	replicas time.Duration
}

func defaultRedisTimeouts() redisTimeouts {
	return redisTimeouts{
		dial:     500 * time.Millisecond,
		io:       500 * time.Millisecond,
		pool:     time.Second,
		op:       time.Second,
		replicas: 100 * time.Millisecond,
	}
}

// redisOptions applies t to o: one dial attempt, no command retries (a
// failing Redis is not asked again and again while requests wait), the
// caller's context honoured, pipelines on the one pool. go-redis
// reconnects by itself once Redis is back.
func (t redisTimeouts) redisOptions(o *redis.Options) *redis.Options {
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = t.dial, t.io, t.io, t.pool
	o.DialerRetries = 1
	o.MaxRetries = -1
	o.PipelinePoolSize = -1
	o.ContextTimeoutEnabled = true
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return o
}

// redisLogger passes go-redis's own messages to picfit's logger, at debug
// level: the kv calls they concern are logged anyway, with their error, in
// the configured format.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// unlockScript deletes a lock only if it still holds the caller's token:
// a lock that expired and was taken by another instance stays.
const unlockScript = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`

// redisKV is a kvStore on one Redis server or on a Redis Cluster: values
// are strings (SET, GET), children are sets (SADD, SMEMBERS), exactly the
// original picfit's layout. It also implements kvLocker.
type redisKV struct {
	client     redis.UniversalClient
	expiration time.Duration // 0: keys never expire
	timeouts   redisTimeouts
	unlock     *redis.Script
	// replicas > 0 makes each write wait (WAIT, at most
	// timeouts.replicas) until that many replicas have it.
	replicas int
}

// newRedisKV connects lazily to the single server c describes.
func newRedisKV(c redisConfig, t redisTimeouts) *redisKV {
	o := t.redisOptions(&redis.Options{
		Addr:     net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		Password: c.Password,
		DB:       c.DB,
	})
	return newRedisKVClient(redis.NewClient(o), time.Duration(c.Expiration), t)
}

// newRedisClusterKV connects lazily to the Redis Cluster c describes.
func newRedisClusterKV(c redisClusterConfig, t redisTimeouts) *redisKV {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                    c.Addrs,
		Password:                 c.Password,
		DialTimeout:              t.dial,
		ReadTimeout:              t.io,
		WriteTimeout:             t.io,
		PoolTimeout:              t.pool,
		DialerRetries:            1,
		MaxRetries:               -1,
		PipelinePoolSize:         -1,
		ContextTimeoutEnabled:    true,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	return newRedisKVClient(client, time.Duration(c.Expiration), t)
}

func newRedisKVClient(c redis.UniversalClient, expiration time.Duration, t redisTimeouts) *redisKV {
	return &redisKV{client: c, expiration: expiration, timeouts: t, unlock: redis.NewScript(unlockScript)}
}

// Close closes the connections.
func (k *redisKV) Close() error { return k.client.Close() }

func (k *redisKV) Get(ctx context.Context, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeouts.op)
	defer cancel()
	v, err := k.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("redis get %s: %w", key, errNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("redis get %s: %w", key, err)
	}
	return v, nil
}

func (k *redisKV) Set(ctx context.Context, key, value string) error {
	return k.write(ctx, "set", key, func(ctx context.Context, p redis.Pipeliner) {
		p.Set(ctx, key, value, k.expiration)
	})
}

func (k *redisKV) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	// One DEL per key: in a cluster the keys may live on different nodes.
	return k.write(ctx, "del", strings.Join(keys, " "), func(ctx context.Context, p redis.Pipeliner) {
		for _, key := range keys {
			p.Del(ctx, key)
		}
	})
}

func (k *redisKV) AddToSet(ctx context.Context, key, member string) error {
	return k.write(ctx, "sadd", key, func(ctx context.Context, p redis.Pipeliner) {
		p.SAdd(ctx, key, member)
		if k.expiration > 0 {
			p.Expire(ctx, key, k.expiration)
		}
	})
}

func (k *redisKV) SetMembers(ctx context.Context, key string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeouts.op)
	defer cancel()
	m, err := k.client.SMembers(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("redis smembers %s: %w", key, err)
	}
	return m, nil
}

// write sends the commands queue adds in one round trip.
func (k *redisKV) write(ctx context.Context, op, key string, queue func(context.Context, redis.Pipeliner)) error {
	ctx, cancel := context.WithTimeout(ctx, k.timeouts.op)
	defer cancel()
	_, err := k.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		queue(ctx, p)
		if k.replicas > 0 {
			p.Do(ctx, "wait", k.replicas, k.timeouts.replicas.Milliseconds())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis %s %s: %w", op, key, err)
	}
	return nil
}

// Lock sets key to a random token unless it exists (SET NX PX), so that
// only one caller holds it until unlock or ttl. unlock deletes key only
// while it still holds this token; its failure is not reported: the lock
// then expires by itself.
func (k *redisKV) Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), acquired bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeouts.op)
	defer cancel()
	token := rand.Text()
	ok, err := k.client.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redis lock %s: %w", key, err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() { k.release(key, token) }, true, nil
}

// release deletes the lock at key if it holds token.
func (k *redisKV) release(key, token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeouts.op)
	defer cancel()
	if err := k.unlock.Run(ctx, k.client, []string{key}, token).Err(); err != nil {
		return fmt.Errorf("redis unlock %s: %w", key, err)
	}
	return nil
}

// roundRobinKV spreads reads over several Redis servers, typically a
// primary and its read-only replicas, and sends writes to the one that
// accepts them: a write refused by a read-only replica (READONLY) or by
// an unreachable server moves on to the next, and the server that took
// it takes the next writes. A read that fails moves on as well; a miss
// does not. Each write waits briefly for the other servers to replicate
// it, so a read right after it, wherever it goes, sees it.
type roundRobinKV struct {
	servers []*redisKV
	next    atomic.Uint32 // the next reader
	writer  atomic.Uint32 // the server that took the last write
}

// newRoundRobinKV connects lazily to the redis:// URLs of c.
func newRoundRobinKV(c redisRoundRobinConfig, t redisTimeouts) (*roundRobinKV, error) {
	r := &roundRobinKV{}
	for i, u := range c.Addrs {
		u, password := cutPasswordParam(u)
		o, err := redis.ParseURL(u)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("addrs[%d]: %w", i, err)
		}
		switch {
		case password != "":
			o.Password = password
		case o.Password == "":
			o.Password = c.Password
		}
		k := newRedisKVClient(redis.NewClient(t.redisOptions(o)), time.Duration(c.Expiration), t)
		k.replicas = len(c.Addrs) - 1
		r.servers = append(r.servers, k)
	}
	if len(r.servers) == 0 {
		return nil, errors.New("addrs: empty")
	}
	return r, nil
}

// Close closes every server's connections.
func (r *roundRobinKV) Close() error {
	var errs []error
	for _, s := range r.servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func (r *roundRobinKV) Get(ctx context.Context, key string) (string, error) {
	var v string
	err := r.read(ctx, func(s *redisKV) (err error) {
		v, err = s.Get(ctx, key)
		return err
	})
	return v, err
}

func (r *roundRobinKV) SetMembers(ctx context.Context, key string) ([]string, error) {
	var m []string
	err := r.read(ctx, func(s *redisKV) (err error) {
		m, err = s.SetMembers(ctx, key)
		return err
	})
	return m, err
}

func (r *roundRobinKV) Set(ctx context.Context, key, value string) error {
	return r.write(ctx, func(s *redisKV) error { return s.Set(ctx, key, value) })
}

func (r *roundRobinKV) Delete(ctx context.Context, keys ...string) error {
	return r.write(ctx, func(s *redisKV) error { return s.Delete(ctx, keys...) })
}

func (r *roundRobinKV) AddToSet(ctx context.Context, key, member string) error {
	return r.write(ctx, func(s *redisKV) error { return s.AddToSet(ctx, key, member) })
}

// Lock takes the lock on the server that takes writes.
func (r *roundRobinKV) Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), acquired bool, err error) {
	err = r.write(ctx, func(s *redisKV) (err error) {
		unlock, acquired, err = s.Lock(ctx, key, ttl)
		return err
	})
	return unlock, acquired, err
}

// read runs op on the next server in turn, and on the following ones
// while it fails with anything but a miss.
func (r *roundRobinKV) read(ctx context.Context, op func(*redisKV) error) error {
	start := r.next.Add(1) - 1
	var errs []error
	for i := range r.servers {
		err := op(r.servers[r.index(start, i)])
		if err == nil || errors.Is(err, errNotFound) {
			return err
		}
		if errs = append(errs, err); ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// write runs op on the server that took the last write, then on the
// following ones while it fails, and remembers the one that took it.
func (r *roundRobinKV) write(ctx context.Context, op func(*redisKV) error) error {
	start := r.writer.Load()
	var errs []error
	for i := range r.servers {
		n := r.index(start, i)
		err := op(r.servers[n])
		if err == nil {
			r.writer.Store(uint32(n))
			return nil
		}
		if errs = append(errs, err); ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// index is the position of the i-th server after start.
func (r *roundRobinKV) index(start uint32, i int) int {
	return int((uint64(start) + uint64(i)) % uint64(len(r.servers)))
}

// cutPasswordParam takes the original's "?password=" out of a redis://
// URL, which go-redis refuses, and returns it.
func cutPasswordParam(rawURL string) (string, string) {
	u, err := url.Parse(rawURL)
	if err != nil || !u.Query().Has("password") {
		return rawURL, ""
	}
	q := u.Query()
	password := q.Get("password")
	q.Del("password")
	u.RawQuery = q.Encode()
	return u.String(), password
}
