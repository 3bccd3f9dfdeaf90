package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/redis/go-redis/v9"
)

// TestFaultCheck checks what bench/fault.sh leaves behind after breaking
// picfit's backends under load: every object in the destination decodes
// as an image of the format its name and Content-Type say (nothing
// half-written), and every result entry of the kv store names an object
// that exists (no entry written before its file). It runs only with
// PICFIT_FAULT_CHECK=1, against the servers the script names:
//
//	PICFIT_TEST_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _BUCKET  the bucket
//	PICFIT_FAULT_LOCATION   storage.dst.location ("" or unset: the bucket's root)
//	PICFIT_TEST_REDIS_ADDR  the Redis server, host:port
//	PICFIT_FAULT_PREFIX     kvstore.prefix
func TestFaultCheck(t *testing.T) {
	if os.Getenv("PICFIT_FAULT_CHECK") != "1" {
		t.Skip("PICFIT_FAULT_CHECK is not 1: bench/fault.sh runs this check after its load")
	}
	need := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			t.Fatalf("%s is unset (bench/fault.sh sets it)", name)
		}
		return v
	}
	s3 := s3Env{
		endpoint:  need("PICFIT_TEST_S3_ENDPOINT"),
		accessKey: need("PICFIT_TEST_S3_ACCESS_KEY"),
		secretKey: need("PICFIT_TEST_S3_SECRET_KEY"),
		bucket:    need("PICFIT_TEST_S3_BUCKET"),
	}
	prefix := need("PICFIT_FAULT_PREFIX")
	addr := need("PICFIT_TEST_REDIS_ADDR")
	location := cleanPrefix(os.Getenv("PICFIT_FAULT_LOCATION"))
	dst, err := newStorage(storageConfig{
		Type:            "s3",
		Endpoint:        s3.endpoint,
		Region:          "us-east-1",
		BucketName:      s3.bucket,
		AccessKeyID:     s3.accessKey,
		SecretAccessKey: s3.secretKey,
		Location:        location,
	}, defaultConfig().Options)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("objects decode", func(t *testing.T) {
		checkFaultObjects(t, s3, location)
	})
	t.Run("kv entries name objects", func(t *testing.T) {
		checkFaultKV(t, addr, prefix, dst)
	})
}

// checkFaultObjects reads and decodes every object below location.
func checkFaultObjects(t *testing.T, s3 s3Env, location string) {
	ctx := t.Context()
	c := s3.client(t)
	listPrefix := ""
	if location != "" {
		listPrefix = location + "/"
	}
	lim := decodeLimits{maxPixels: defaultConfig().Options.MaxSourcePixels}
	var (
		wg       sync.WaitGroup
		slots    = make(chan struct{}, 4)
		objects  atomic.Int64
		size     atomic.Int64
		mu       sync.Mutex
		byFormat = map[string]int{}
	)
	for obj := range c.ListObjects(ctx, s3.bucket, minio.ListObjectsOptions{Prefix: listPrefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list %s/%s: %v", s3.bucket, listPrefix, obj.Err)
		}
		objects.Add(1)
		size.Add(obj.Size)
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			format, err := checkFaultObject(ctx, c, s3.bucket, obj.Key, lim)
			if err != "" {
				t.Errorf("object %s (%d bytes): %s", obj.Key, obj.Size, err)
				return
			}
			mu.Lock()
			byFormat[format]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("%d objects, %d bytes, decoded by format: %v", objects.Load(), size.Load(), byFormat)
	if objects.Load() == 0 {
		t.Errorf("no objects below %q in bucket %s: the load stored nothing", listPrefix, s3.bucket)
	}
}

// checkFaultObject reads one object and decodes it; it returns the
// decoded format, or what is wrong with the object.
func checkFaultObject(ctx context.Context, c *minio.Client, bucket, key string, lim decodeLimits) (string, string) {
	body, info, _, err := minio.Core{Client: c}.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", "get: " + err.Error()
	}
	data, err := readLimited(body, defaultMaxSourceBytes, 0)
	body.Close()
	if err != nil {
		return "", "read: " + err.Error()
	}
	if int64(len(data)) != info.Size {
		return "", fmt.Sprintf("read %d bytes of an object of %d", len(data), info.Size)
	}
	p, err := decode(context.Background(), data, lim)
	if err != nil {
		return "", "decode: " + err.Error()
	}
	if want := guessFormat(key); p.format != want {
		return "", "decodes as " + p.format.String() + ", its name says " + want.String()
	}
	if ct := info.ContentType; ct != p.format.contentType() {
		return "", "Content-Type " + ct + ", the image is " + p.format.String()
	}
	return p.format.String(), ""
}

// checkFaultKV checks every string entry below prefix: a result entry
// (PREFIX+KEY) must name an existing object stored for that key; a lock
// (PREFIX+KEY:lock) must expire. Other types (the :children sets of
// cascade delete) are counted, not checked.
func checkFaultKV(t *testing.T, addr, prefix string, dst storage) {
	ctx := t.Context()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	var results, locks, others int
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := rdb.Type(ctx, key).Result()
		if err != nil {
			t.Fatalf("type %s: %v", key, err)
		}
		if typ != "string" {
			others++
			continue
		}
		if strings.HasSuffix(key, ":lock") {
			locks++
			ttl, err := rdb.PTTL(ctx, key).Result()
			if err != nil {
				t.Fatalf("pttl %s: %v", key, err)
			}
			if ttl < 0 {
				t.Errorf("lock %s never expires (PTTL %v)", key, ttl)
			}
			continue
		}
		results++
		name, err := rdb.Get(ctx, key).Result()
		if err == redis.Nil {
			continue // expired between SCAN and GET
		}
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		// The stored name is the key, sharded, plus an extension.
		stem := strings.TrimSuffix(path.Base(name), path.Ext(name))
		if stem == "" || !strings.HasSuffix(strings.TrimPrefix(key, prefix), stem) {
			t.Errorf("kv %s = %q: not a name stored for this key", key, name)
		}
		if _, err := dst.Stat(ctx, name); err != nil {
			t.Errorf("kv %s = %q: %v", key, name, err)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan %s*: %v", prefix, err)
	}
	t.Logf("kv below %q: %d result entries, %d locks, %d other keys", prefix, results, locks, others)
	if results == 0 {
		t.Errorf("no result entries below %q in Redis at %s: nothing was remembered after Redis came back", prefix, addr)
	}
}
