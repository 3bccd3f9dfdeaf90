package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The original README's example configs (thoas/picfit README.rst), with
// their placeholders filled in and, where the README has one, the trailing
// comma removed: with it they are not JSON (see TestLoadConfigTrailingComma).
const (
	exampleBasic = `{
  "port": 3001
}`
	exampleFSCache = `{
  "port": 3001,
  "storage": {
    "src": {
      "type": "fs",
      "location": "/path/to/directory/"
    }
  },
  "kvstore": {
    "type": "cache"
  }
}`
	exampleS3RedisShard = `{
  "kvstore": {
    "type": "redis",
    "redis": {
      "host": "127.0.0.1",
      "port": 6379,
      "password": "",
      "db": 0
    }
  },
  "port": 3001,
  "storage": {
    "src": {
      "type": "s3",
      "access_key_id": "[ACCESS_KEY_ID]",
      "secret_access_key": "[SECRET_ACCESS_KEY]",
      "bucket_name": "[BUCKET_NAME]",
      "acl": "public-read",
      "region": "eu-west-1",
      "location": "path/to/directory",
      "endpoint": "https://s3.eu-west-1.amazonaws.com"
    }
  },
  "shard": {
    "width": 1,
    "depth": 2,
    "restonly": true
  }
}`
	exampleFSToS3RedisCluster = `{
  "kvstore": {
    "type": "redis-cluster",
    "redis": {
      "addrs": [
        "127.0.0.1:6379"
      ],
      "password": ""
    }
  },
  "port": 3001,
  "storage": {
    "src": {
      "type": "fs",
      "location": "path/to/directory"
    },
    "dst": {
      "type": "s3",
      "access_key_id": "[ACCESS_KEY_ID]",
      "secret_access_key": "[SECRET_ACCESS_KEY]",
      "bucket_name": "[BUCKET_NAME]",
      "acl": "private",
      "region": "us-east-1",
      "location": "path/to/directory",
      "endpoint": "https://s3.us-east-1.amazonaws.com"
    }
  }
}`
	exampleRoundRobin = `{
  "kvstore": {
    "type": "redis-roundrobin",
    "redis-roundrobin": {
      "addrs": [
        "redis://127.0.0.1:6379?db=0",
        "redis://127.0.0.1:6380?db=0"
      ]
    }
  },
  "port": 3001
}`
	exampleHTTPFSPrefix = `{
  "kvstore": {
    "type": "redis",
    "redis": {
      "host": "127.0.0.1",
      "port": 6379,
      "password": "",
      "db": 0
    },
    "prefix": "dummy:"
  },
  "port": 3001,
  "storage": {
    "src": {
      "type": "http+fs",
      "base_url": "http://media.example.com",
      "location": "path/to/directory"
    },
    "dst": {
      "type": "s3",
      "access_key_id": "[ACCESS_KEY_ID]",
      "secret_access_key": "[SECRET_ACCESS_KEY]",
      "bucket_name": "[BUCKET_NAME]",
      "acl": "public-read",
      "region": "eu-west-1",
      "location": "path/to/directory"
    }
  }
}`
	exampleUpload = `{
  "storage": {
    "src": {
      "type": "fs"
    }
  },
  "options": {
    "enable_upload": true
  }
}`
	exampleSentry = `{
  "sentry": {
    "dsn": "https://public@sentry.example.com/1",
    "tags": {
      "foo": "bar"
    }
  }
}`
	exampleDebug = `{
  "debug": true
}`
	exampleCORS = `{
  "allowed_headers": ["Content-Type", "Authorization", "Accept", "Accept-Encoding", "Accept-Language"],
  "allowed_origins": ["*.ulule.com"],
  "allowed_methods": ["GET", "HEAD"]
}`
	exampleQuality = `{
  "engine": {
    "quality": 70
  }
}`
	exampleFormat = `{
  "engine": {
    "format": "png"
  }
}`
	exampleCascadeDelete = `{
  "options": {
    "enable_delete": true,
    "enable_cascade_delete": true
  }
}`
	exampleStatsPprof = `{
  "options": {
    "enable_stats": true,
    "enable_pprof": true
  }
}`
	exampleLogger = `{
  "logger": {
    "level": "info"
  }
}`
	exampleAllowedSizes = `{
  "options": {
    "allowed_sizes": [
      {"width": 1920, "height": 1080},
      {"width": 720, "height": 480},
      {"width": 480}
    ]
  }
}`
	exampleAllowedIPs = `{
  "options": {
    "allowed_ip_addresses": [
      "127.0.0.1"
    ]
  }
}`
	exampleMaxImageDimensions = `{
  "options": {
    "max_image_dimensions": {
      "width": 8000,
      "height": 8000
    }
  }
}`
	exampleConcurrency = `{
  "options": {
    "max_processor_concurrent": 10,
    "max_processor_concurrent_operations": [
      "resize",
      "thumbnail",
      "fit"
    ]
  }
}`
	// exampleWindowsUser is a user's config from the seed's "Cache misses"
	// report, verbatim.
	exampleWindowsUser = `{
  "port": 28080,
  "storage": {
  "src": {
  "type": "fs",
  "location": "d:\\picfit\\"
  }
  },
  "kvstore" : {
   "type" : "cache"
  },
  "options": {
    "enable_stats": true,
   "enable_delete": true
  }
}`
)

// exampleFull sets every key to something other than its default.
const exampleFull = `{
  "port": 8080, "debug": true, "secret_key": "k", "secret_keys": ["k2"],
  "allowed_origins": ["https://*.example.com"], "allowed_methods": ["GET"], "allowed_headers": ["Accept"],
  "sentry": {"dsn": "https://x@sentry.example.com/1", "tags": {"env": "prod"}},
  "logger": {"level": "error", "format": "json", "context_keys": ["request-id"]}, "admin_port": 9090, "shutdown_timeout": "5s",
  "kvstore": {"type": "redis-cluster", "prefix": "p:",
    "cache": {"max_entries": 10, "expiration": "1h", "cleanup_interval": 30},
    "redis": {"host": "redis", "port": 6380, "password": "pw", "db": 3, "expiration": 60, "addrs": ["r:1"]},
    "redis-cluster": {"addrs": ["c:1", "c:2"], "password": "cpw", "expiration": "2m"},
    "redis-roundrobin": {"addrs": ["redis://a:1"], "password": "rpw", "expiration": "3m"}},
  "storage": {
    "src": {"type": "http+s3", "location": "src", "base_url": "https://cdn.example.com", "access_key_id": "id",
      "secret_access_key": "secret", "bucket_name": "b", "acl": "private", "region": "auto", "endpoint": "http://127.0.0.1:9000",
      "cache_control": "max-age=1", "name": "source"},
    "dst": {"type": "dos3", "location": "dst", "base_url": "https://img.example.com", "access_key_id": "id2",
      "secret_access_key": "secret2", "bucket_name": "b2", "acl": "public-read", "region": "ams3", "endpoint": "https://ams3.example.com",
      "cache_control": "max-age=2", "name": "destination"},
    "dst-ro": {"type": "gcs", "location": "ro", "base_url": "https://ro.example.com", "access_key_id": "id3",
      "secret_access_key": "secret3", "bucket_name": "b3", "acl": "authenticated-read", "region": "eu", "endpoint": "https://ro.example.com",
      "cache_control": "max-age=3", "name": "read-only"}},
  "shard": {"width": 2, "depth": 3, "restonly": false},
  "engine": {"quality": 80, "format": "webp", "default_format": "jpg", "jpeg_quality": 81, "webp_quality": 82, "jpeg_progressive": true,
    "png_compression": 3, "image_buffer_size": 4096, "max_buffer_size": 8192,
    "backends": {"goimage": {"weight": 1, "mimetypes": ["image/png"]}, "gifsicle": {"path": "/usr/bin/gifsicle", "weight": 2, "mimetypes": ["image/gif"]}}},
  "options": {"enable_upload": true, "enable_delete": true, "enable_cascade_delete": true, "enable_stats": true,
    "enable_health": true, "enable_pprof": true, "enable_prometheus": true,
    "allowed_sizes": [{"width": 100, "height": 50}, {"height": 20}],
    "allowed_ip_addresses": ["10.0.0.0/8", "127.0.0.1"], "trusted_proxies": ["::1"], "allowed_hosts": ["example.com"],
    "allow_private_networks": true, "disable_url": true, "default_user_agent": "ua", "cache_control": "public, max-age=60",
    "max_image_dimensions": {"width": 4000, "height": 3000}, "max_source_bytes": 1000, "max_source_pixels": 2000, "max_output_dimension": 300,
    "max_output_pixels": 4000, "max_output_total_pixels": 8000, "max_memory": "64MiB", "max_operations": 5, "max_processor_concurrent": 6, "max_queue": 0,
    "max_processor_concurrent_operations": ["resize", "fit"], "transform_timeout": 11, "mimetype_detector": "extension",
    "free_memory_interval": 10,
    "fetch_timeout": "7s", "request_timeout": 8, "max_store_queue": 9}
}`

// exampleConfigs are all the examples, for the fuzz corpus.
var exampleConfigs = []string{
	exampleBasic, exampleFSCache, exampleS3RedisShard, exampleFSToS3RedisCluster,
	exampleRoundRobin, exampleHTTPFSPrefix, exampleUpload, exampleSentry,
	exampleDebug, exampleCORS, exampleQuality, exampleFormat,
	exampleCascadeDelete, exampleStatsPprof, exampleLogger,
	exampleAllowedSizes, exampleAllowedIPs, exampleWindowsUser, exampleFull,
	exampleMaxImageDimensions, exampleConcurrency,
}

func mustLoad(t *testing.T, js string) config {
	t.Helper()
	c, err := loadConfig(strings.NewReader(js))
	if err != nil {
		t.Fatalf("loadConfig(%q) error: %v", js, err)
	}
	return c
}

// TestLoadConfig loads each example and compares the whole result with
// defaultConfig plus the changes the example makes.
func TestLoadConfig(t *testing.T) {
	s3 := func(acl, region, endpoint string) storageConfig {
		return storageConfig{
			Type: "s3", AccessKeyID: "[ACCESS_KEY_ID]", SecretAccessKey: "[SECRET_ACCESS_KEY]",
			BucketName: "[BUCKET_NAME]", ACL: acl, Region: region,
			Location: "path/to/directory", Endpoint: endpoint,
		}
	}
	tests := []struct {
		name string
		json string
		want func(c *config)
	}{
		{"basic", exampleBasic, func(c *config) {}},
		{"fs and cache", exampleFSCache, func(c *config) {
			c.KVStore.Type = "cache"
			c.Storage.Src = storageConfig{Type: "fs", Location: "/path/to/directory/"}
			c.Storage.Dst = c.Storage.Src
		}},
		{"s3, redis and shard", exampleS3RedisShard, func(c *config) {
			c.KVStore.Type = "redis"
			c.Storage.Src = s3("public-read", "eu-west-1", "https://s3.eu-west-1.amazonaws.com")
			c.Storage.Dst = c.Storage.Src
			c.Shard = shardConfig{Width: 1, Depth: 2, RestOnly: true}
		}},
		{"fs to s3, redis-cluster addrs under redis", exampleFSToS3RedisCluster, func(c *config) {
			c.KVStore.Type = "redis-cluster"
			c.KVStore.Redis.Addrs = []string{"127.0.0.1:6379"}
			c.KVStore.RedisCluster.Addrs = []string{"127.0.0.1:6379"}
			c.Storage.Src = storageConfig{Type: "fs", Location: "path/to/directory"}
			c.Storage.Dst = s3("private", "us-east-1", "https://s3.us-east-1.amazonaws.com")
		}},
		{"redis-roundrobin", exampleRoundRobin, func(c *config) {
			c.KVStore.Type = "redis-roundrobin"
			c.KVStore.RedisRoundRobin.Addrs = []string{"redis://127.0.0.1:6379?db=0", "redis://127.0.0.1:6380?db=0"}
		}},
		{"http+fs to s3, prefix", exampleHTTPFSPrefix, func(c *config) {
			c.KVStore.Type = "redis"
			c.KVStore.Prefix = "dummy:"
			c.Storage.Src = storageConfig{Type: "http+fs", BaseURL: "http://media.example.com", Location: "path/to/directory"}
			c.Storage.Dst = s3("public-read", "eu-west-1", "")
		}},
		{"upload", exampleUpload, func(c *config) {
			c.Storage.Src = storageConfig{Type: "fs"}
			c.Storage.Dst = c.Storage.Src
			c.Options.EnableUpload = true
		}},
		{"sentry", exampleSentry, func(c *config) {
			c.Sentry = sentryConfig{DSN: "https://public@sentry.example.com/1", Tags: map[string]string{"foo": "bar"}}
		}},
		{"debug", exampleDebug, func(c *config) { c.Debug = true }},
		{"cors", exampleCORS, func(c *config) {
			c.AllowedHeaders = []string{"Content-Type", "Authorization", "Accept", "Accept-Encoding", "Accept-Language"}
			c.AllowedOrigins = []string{"*.ulule.com"}
		}},
		{"engine quality", exampleQuality, func(c *config) { c.Engine.Quality = 70 }},
		{"engine format", exampleFormat, func(c *config) { c.Engine.Format = "png" }},
		{"cascade delete", exampleCascadeDelete, func(c *config) {
			c.Options.EnableDelete = true
			c.Options.EnableCascadeDelete = true
		}},
		{"stats and pprof", exampleStatsPprof, func(c *config) {
			c.Options.EnableStats = true
			c.Options.EnablePprof = true
		}},
		{"logger", exampleLogger, func(c *config) {}},
		{"allowed sizes", exampleAllowedSizes, func(c *config) {
			c.Options.AllowedSizes = []allowedSize{{1920, 1080}, {720, 480}, {480, 0}}
		}},
		{"allowed ip addresses", exampleAllowedIPs, func(c *config) {
			c.Options.AllowedIPAddresses = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		}},
		{"max image dimensions", exampleMaxImageDimensions, func(c *config) {
			c.Options.MaxImageDimensions = dimensions{8000, 8000}
		}},
		{"concurrency limiter", exampleConcurrency, func(c *config) {
			c.Options.MaxProcessorConcurrent = 10
			c.Options.MaxProcessorConcurrentOperations = []string{"resize", "thumbnail", "fit"}
		}},
		{"windows user", exampleWindowsUser, func(c *config) {
			c.Port = 28080
			c.Storage.Src = storageConfig{Type: "fs", Location: `d:\picfit\`}
			c.Storage.Dst = c.Storage.Src
			c.KVStore.Type = "cache"
			c.Options.EnableStats = true
			c.Options.EnableDelete = true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, tt.json)
			want := defaultConfig()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("loadConfig() =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestLoadConfigOverDefaults checks that a present section keeps the
// defaults of its missing keys, and the normalisations.
func TestLoadConfigOverDefaults(t *testing.T) {
	tests := []struct {
		name string
		json string
		want func(c *config)
	}{
		{"empty object", `{}`, func(c *config) {}},
		{"whitespace and BOM", "\ufeff \n {} \n", func(c *config) {}},
		{"empty sections", `{"kvstore":{},"storage":{},"shard":{},"engine":{},"options":{},"logger":{},"sentry":{}}`, func(c *config) {}},
		{"null counts as missing", `{"port":null,"options":{"max_queue":null,"allowed_sizes":null},"shard":null,"allowed_methods":null}`, func(c *config) {}},
		{"options keep their defaults", `{"options":{"enable_upload":true}}`, func(c *config) {
			c.Options.EnableUpload = true
		}},
		{"shard keeps restonly", `{"shard":{"width":1,"depth":2}}`, func(c *config) {
			c.Shard.Width, c.Shard.Depth = 1, 2
		}},
		{"shard restonly false", `{"shard":{"restonly":false}}`, func(c *config) { c.Shard.RestOnly = false }},
		{"redis keeps host and port", `{"kvstore":{"type":"redis","redis":{"db":2}}}`, func(c *config) {
			c.KVStore.Type = "redis"
			c.KVStore.Redis.DB = 2
		}},
		{"empty redis host is the default", `{"kvstore":{"type":"redis","redis":{"host":""}}}`, func(c *config) {
			c.KVStore.Type = "redis"
		}},
		{"cache keeps max_entries", `{"kvstore":{"type":"cache","cache":{"expiration":"1h"}}}`, func(c *config) {
			c.KVStore.Type = "cache"
			c.KVStore.Cache.Expiration = duration(time.Hour)
		}},
		{"dummy kvstore is none", `{"kvstore":{"type":"dummy"}}`, func(c *config) {}},
		{"redis-cluster takes password and expiration from redis", `{"kvstore":{"type":"redis-cluster","redis":{"addrs":["a:1","b:2"],"password":"pw","expiration":60}}}`, func(c *config) {
			c.KVStore.Type = "redis-cluster"
			c.KVStore.Redis.Addrs = []string{"a:1", "b:2"}
			c.KVStore.Redis.Password = "pw"
			c.KVStore.Redis.Expiration = duration(time.Minute)
			c.KVStore.RedisCluster = redisClusterConfig{Addrs: []string{"a:1", "b:2"}, Password: "pw", Expiration: duration(time.Minute)}
		}},
		{"redis-cluster addrs win over redis addrs", `{"kvstore":{"type":"redis-cluster","redis":{"addrs":["a:1"]},"redis-cluster":{"addrs":["c:3"]}}}`, func(c *config) {
			c.KVStore.Type = "redis-cluster"
			c.KVStore.Redis.Addrs = []string{"a:1"}
			c.KVStore.RedisCluster.Addrs = []string{"c:3"}
		}},
		{"engine keeps quality, jpg is jpeg", `{"engine":{"format":"JPG"}}`, func(c *config) { c.Engine.Format = "jpeg" }},
		{"empty default_format is png", `{"engine":{"default_format":""}}`, func(c *config) {}},
		{"default_format webp", `{"engine":{"default_format":"webp"}}`, func(c *config) { c.Engine.DefaultFormat = "webp" }},
		{"jpeg_progressive", `{"engine":{"jpeg_progressive":true}}`, func(c *config) { c.Engine.JPEGProgressive = true }},
		{"logger keeps level", `{"logger":{"format":"json"}}`, func(c *config) { c.Logger.Format = "json" }},
		{"warn is warning", `{"logger":{"level":"WARN"}}`, func(c *config) { c.Logger.Level = "warning" }},
		{"allowed_methods replaced", `{"allowed_methods":["GET"]}`, func(c *config) { c.AllowedMethods = []string{"GET"} }},
		{"allowed_methods emptied", `{"allowed_methods":[]}`, func(c *config) { c.AllowedMethods = []string{} }},
		{"addresses and networks", `{"options":{"allowed_ip_addresses":["10.1.2.3/8","::1","::ffff:192.168.0.1","2001:db8::/32"],"trusted_proxies":["::ffff:10.0.0.0/104"]}}`, func(c *config) {
			c.Options.AllowedIPAddresses = []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("::1/128"),
				netip.MustParsePrefix("192.168.0.1/32"),
				netip.MustParsePrefix("2001:db8::/32"),
			}
			c.Options.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}},
		{"allowed_hosts lowercased", `{"options":{"allowed_hosts":["Images.Example.COM"]}}`, func(c *config) {
			c.Options.AllowedHosts = []string{"images.example.com"}
		}},
		{"max_image_dimensions WxH", `{"options":{"max_image_dimensions":"4000x3000"}}`, func(c *config) {
			c.Options.MaxImageDimensions = dimensions{4000, 3000}
		}},
		{"max_image_dimensions one side, keys in any case", `{"options":{"max_image_dimensions":{"Width":4000}}}`, func(c *config) {
			c.Options.MaxImageDimensions = dimensions{4000, 0}
		}},
		{"max_image_dimensions empty", `{"options":{"max_image_dimensions":""}}`, func(c *config) {}},
		{"durations string and seconds", `{"shutdown_timeout":"1m30s","options":{"fetch_timeout":90,"request_timeout":0.5}}`, func(c *config) {
			c.ShutdownTimeout = duration(90 * time.Second)
			c.Options.FetchTimeout = duration(90 * time.Second)
			c.Options.RequestTimeout = duration(500 * time.Millisecond)
		}},
		{"whole numbers in exponent form", `{"options":{"max_source_bytes":1e6,"max_queue":0}}`, func(c *config) {
			c.Options.MaxSourceBytes = 1_000_000
			c.Options.MaxQueue = 0
		}},
		{"keys match case-insensitively", `{"PORT":8080,"Options":{"Enable_Upload":true}}`, func(c *config) {
			c.Port = 8080
			c.Options.EnableUpload = true
		}},
		{"keys match as viper matches Go field names", `{"logger":{"ContextKeys":["request-id"]},"Shard":{"RestOnly":false}}`, func(c *config) {
			c.Logger.ContextKeys = []string{"request-id"}
			c.Shard.RestOnly = false
		}},
		{"dst without src", `{"storage":{"dst":{"type":"fs","location":"/out"}}}`, func(c *config) {
			c.Storage.Dst = storageConfig{Type: "fs", Location: "/out"}
		}},
		{"dos3", `{"storage":{"src":{"type":"http+dos3","base_url":"https://cdn.example.com","bucket_name":"b","region":"fra1"}}}`, func(c *config) {
			c.Storage.Src = storageConfig{Type: "http+dos3", BaseURL: "https://cdn.example.com", BucketName: "b", Region: "fra1"}
			c.Storage.Dst = c.Storage.Src
		}},
		{"secret keys and admin port", `{"secret_key":"a","secret_keys":["b","c"],"admin_port":3002}`, func(c *config) {
			c.SecretKey = "a"
			c.SecretKeys = []string{"b", "c"}
			c.AdminPort = 3002
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, tt.json)
			want := defaultConfig()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("loadConfig(%s) =\n%+v\nwant\n%+v", tt.json, got, want)
			}
		})
	}
}

// TestLoadConfigErrors checks that each bad config fails with an error at
// the right key path.
func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		json string
		path string // the configError's path
		msg  string // part of the message
	}{
		// Syntax.
		{"empty", "", "", "empty"},
		{"blank", " \n\t", "", "empty"},
		{"syntax error position", "{\n  \"port\": 3001\n  \"debug\": true\n}", "", "line 3, column 3"},
		{"trailing comma", "{\n  \"port\": 3001,\n}", "", "trailing comma"},
		{"two values", `{} {}`, "", "line 1, column 4"},
		{"top level array", `[]`, "", "want an object, got array"},
		{"top level null", `null`, "", "want an object, got null"},
		{"top level string", `"port"`, "", "want an object, got string"},
		// Unknown and repeated keys.
		{"unknown top-level key", `{"prot":3001}`, "prot", "unknown key"},
		{"a key under two spellings", `{"logger":{"context_keys":["a"],"contextkeys":["b"]}}`, "logger.contextkeys", "given twice"},
		{"unknown nested key", `{"options":{"max_queue":1,"max_qeue":2}}`, "options.max_qeue", "unknown key"},
		{"unknown deep key", `{"kvstore":{"redis":{"hots":"x"}}}`, "kvstore.redis.hots", "unknown key"},
		{"unknown storage key", `{"storage":{"src":{"type":"fs","bucket":"x"}}}`, "storage.src.bucket", "unknown key"},
		{"unknown key in list element", `{"options":{"allowed_sizes":[{"width":1},{"depth":2}]}}`, "options.allowed_sizes[1].depth", "unknown key"},
		{"unknown storage name", `{"storage":{"source":{}}}`, "storage.source", "unknown key"},
		{"repeated key", `{"port":1,"port":2}`, "port", "twice"},
		{"repeated map key", `{"sentry":{"tags":{"a":"1","a":"2"}}}`, "sentry.tags.a", "twice"},
		{"repeated key other case", `{"options":{"max_queue":1,"MAX_QUEUE":2}}`, "options.MAX_QUEUE", "twice"},
		// Wrong types.
		{"string for number", `{"options":{"max_queue":"64"}}`, "options.max_queue", "want a number, got string"},
		{"bool for number", `{"port":true}`, "port", "want a number, got boolean"},
		{"fraction for integer", `{"options":{"max_queue":1.5}}`, "options.max_queue", "whole number"},
		{"integer overflow", `{"port":1e30}`, "port", "whole number"},
		{"string for bool", `{"debug":"yes"}`, "debug", "want true or false, got string"},
		{"number for string", `{"secret_key":123}`, "secret_key", "want a string, got number"},
		{"string for list", `{"allowed_origins":"*"}`, "allowed_origins", "want an array, got string"},
		{"number in list", `{"allowed_headers":["A",1]}`, "allowed_headers[1]", "want a string, got number"},
		{"number for section", `{"shard":1}`, "shard", "want an object, got number"},
		{"list for section", `{"options":[]}`, "options", "want an object, got array"},
		{"number in map", `{"sentry":{"tags":{"a":1}}}`, "sentry.tags.a", "want a string, got number"},
		{"number for size", `{"options":{"allowed_sizes":[1]}}`, "options.allowed_sizes[0]", "want an object, got number"},
		{"bool for duration", `{"options":{"fetch_timeout":true}}`, "options.fetch_timeout", "got boolean"},
		{"number for ip", `{"options":{"trusted_proxies":[10]}}`, "options.trusted_proxies[0]", "want an IP address or CIDR string, got number"},
		// Durations.
		{"duration without unit", `{"options":{"fetch_timeout":"10"}}`, "options.fetch_timeout", `got "10"`},
		{"duration garbage", `{"shutdown_timeout":"soon"}`, "shutdown_timeout", `got "soon"`},
		{"negative duration", `{"kvstore":{"cache":{"expiration":"-1s"}}}`, "kvstore.cache.expiration", "negative"},
		{"negative seconds", `{"shutdown_timeout":-5}`, "shutdown_timeout", "negative"},
		{"huge seconds", `{"shutdown_timeout":1e300}`, "shutdown_timeout", "want a duration"},
		{"zero fetch_timeout", `{"options":{"fetch_timeout":0}}`, "options.fetch_timeout", "above 0"},
		{"zero request_timeout", `{"options":{"request_timeout":"0s"}}`, "options.request_timeout", "above 0"},
		// Addresses.
		{"bad cidr", `{"options":{"allowed_ip_addresses":["10.0.0.0/33"]}}`, "options.allowed_ip_addresses[0]", "not an IP address or CIDR"},
		{"bad ip", `{"options":{"trusted_proxies":["127.0.0.1","localhost"]}}`, "options.trusted_proxies[1]", `"localhost"`},
		{"zoned ip", `{"options":{"allowed_ip_addresses":["fe80::1%eth0"]}}`, "options.allowed_ip_addresses[0]", "not an IP"},
		{"bad host", `{"options":{"allowed_hosts":["https://example.com/"]}}`, "options.allowed_hosts[0]", "not a host name"},
		// Ports.
		{"port zero", `{"port":0}`, "port", "not a port"},
		{"port too large", `{"port":70000}`, "port", "not a port"},
		{"admin port same as port", `{"port":8080,"admin_port":8080}`, "admin_port", "same as port"},
		{"admin port negative", `{"admin_port":-1}`, "admin_port", "not a port"},
		// Engine.
		{"quality zero", `{"engine":{"quality":0}}`, "engine.quality", "not in 1..100"},
		{"quality too high", `{"engine":{"quality":101}}`, "engine.quality", "not in 1..100"},
		{"bad format", `{"engine":{"format":"tiff"}}`, "engine.format", `"tiff" is not one of`},
		{"bad default_format", `{"engine":{"default_format":"svg"}}`, "engine.default_format", `"svg"`},
		// Logger and top level.
		{"bad logger level", `{"logger":{"level":"verbose"}}`, "logger.level", `"verbose" is not one of`},
		{"bad logger format", `{"logger":{"format":"xml"}}`, "logger.format", `"xml"`},
		{"bad method", `{"allowed_methods":["GET, HEAD"]}`, "allowed_methods[0]", "not an HTTP token"},
		{"empty secret key", `{"secret_keys":[""]}`, "secret_keys[0]", "empty"},
		{"bad sentry dsn", `{"sentry":{"dsn":"nope"}}`, "sentry.dsn", "not an absolute"},
		{"header injection", `{"options":{"cache_control":"public\r\nX-Evil: 1"}}`, "options.cache_control", "control characters"},
		// kvstore.
		{"bad kvstore type", `{"kvstore":{"type":"memcache"}}`, "kvstore.type", `"memcache" is not one of`},
		{"cache max_entries zero", `{"kvstore":{"type":"cache","cache":{"max_entries":0}}}`, "kvstore.cache.max_entries", "below 1"},
		{"redis port", `{"kvstore":{"type":"redis","redis":{"port":0}}}`, "kvstore.redis.port", "not a port"},
		{"redis db", `{"kvstore":{"type":"redis","redis":{"db":-1}}}`, "kvstore.redis.db", "below 0"},
		{"redis-cluster without addrs", `{"kvstore":{"type":"redis-cluster"}}`, "kvstore.redis-cluster.addrs", "empty"},
		{"redis-cluster bad addr", `{"kvstore":{"type":"redis-cluster","redis-cluster":{"addrs":["localhost"]}}}`, "kvstore.redis-cluster.addrs[0]", "host:port"},
		{"redis-roundrobin without addrs", `{"kvstore":{"type":"redis-roundrobin"}}`, "kvstore.redis-roundrobin.addrs", "empty"},
		{"redis-roundrobin bad url", `{"kvstore":{"type":"redis-roundrobin","redis-roundrobin":{"addrs":["127.0.0.1:6379"]}}}`, "kvstore.redis-roundrobin.addrs[0]", "redis:// URL"},
		// storage.
		{"bad storage type", `{"storage":{"src":{"type":"ftp"}}}`, "storage.src.type", `"ftp" is not one of`},
		{"missing storage type", `{"storage":{"src":{"location":"/x"}}}`, "storage.src.type", "missing"},
		{"http+fs without base_url", `{"storage":{"src":{"type":"http+fs","location":"/x"}}}`, "storage.src.base_url", "missing"},
		{"bad base_url", `{"storage":{"src":{"type":"fs","base_url":"cdn.example.com"}}}`, "storage.src.base_url", "not an absolute"},
		{"s3 without bucket", `{"storage":{"src":{"type":"fs"},"dst":{"type":"s3"}}}`, "storage.dst.bucket_name", "missing"},
		{"bad acl", `{"storage":{"src":{"type":"s3","bucket_name":"b","acl":"[ACL]"}}}`, "storage.src.acl", `"[ACL]" is not one of`},
		{"bad dos3 region", `{"storage":{"src":{"type":"dos3","bucket_name":"b","region":"us-east-1"}}}`, "storage.src.region", `"us-east-1" is not one of`},
		{"missing dos3 region", `{"storage":{"src":{"type":"dos3","bucket_name":"b"}}}`, "storage.src.region", `"" is not one of`},
		{"bad endpoint", `{"storage":{"src":{"type":"s3","bucket_name":"b","endpoint":"[protocol://service-code.region-code.amazonaws.com]"}}}`, "storage.src.endpoint", "not an absolute"},
		// shard.
		{"negative shard width", `{"shard":{"width":-1}}`, "shard.width", "below 0"},
		{"negative shard depth", `{"shard":{"depth":-1}}`, "shard.depth", "below 0"},
		{"shard too deep", `{"shard":{"width":4,"depth":9}}`, "shard.width", "above the 32"},
		// options.
		{"negative allowed size", `{"options":{"allowed_sizes":[{"width":-1}]}}`, "options.allowed_sizes[0]", "negative"},
		{"max_operations zero", `{"options":{"max_operations":0}}`, "options.max_operations", "below 1"},
		{"max_processor_concurrent zero", `{"options":{"max_processor_concurrent":0}}`, "options.max_processor_concurrent", "below 1"},
		{"max_queue negative", `{"options":{"max_queue":-1}}`, "options.max_queue", "below 0"},
		{"max_source_bytes zero", `{"options":{"max_source_bytes":0}}`, "options.max_source_bytes", "below 1"},
		{"max_image_dimensions one number", `{"options":{"max_image_dimensions":"4000"}}`, "options.max_image_dimensions", `"4000"`},
		{"max_image_dimensions zero side", `{"options":{"max_image_dimensions":"0x100"}}`, "options.max_image_dimensions", `"0x100"`},
		{"max_image_dimensions both zero", `{"options":{"max_image_dimensions":{"width":0}}}`, "options.max_image_dimensions", "one of them above 0"},
		{"max_image_dimensions negative", `{"options":{"max_image_dimensions":{"width":-1,"height":5}}}`, "options.max_image_dimensions", "not negative"},
		{"max_image_dimensions unknown side", `{"options":{"max_image_dimensions":{"width":5,"depth":5}}}`, "options.max_image_dimensions", "depth"},
		{"max_image_dimensions side a string", `{"options":{"max_image_dimensions":{"width":"5"}}}`, "options.max_image_dimensions", "width"},
		{"jpeg_quality over 100", `{"engine":{"jpeg_quality":101}}`, "engine.jpeg_quality", "not in 1..100"},
		{"webp_quality negative", `{"engine":{"webp_quality":-1}}`, "engine.webp_quality", "not in 1..100"},
		{"unknown concurrent operation", `{"options":{"max_processor_concurrent_operations":["resize","blur"]}}`, "options.max_processor_concurrent_operations[1]", `"blur" is not an operation`},
		{"transform_timeout negative", `{"options":{"transform_timeout":-1}}`, "options.transform_timeout", "negative"},
		{"unknown backend", `{"engine":{"backends":{"lilliput":{"weight":1}}}}`, "engine.backends.lilliput", "unknown key"},
		{"unknown backend key", `{"engine":{"backends":{"gifsicle":{"binary":"x"}}}}`, "engine.backends.gifsicle.binary", "unknown key"},
		{"cache_control with a newline", `{"storage":{"src":{"type":"s3","bucket_name":"b","cache_control":"a\nb"}}}`, "storage.src.cache_control", "control characters"},
		{"dst-ro type missing", `{"storage":{"src":{"type":"fs"},"dst-ro":{"location":"x"}}}`, "storage.dst-ro.type", "missing"},
		{"dst-ro alone", `{"storage":{"dst-ro":{"type":"fs"}}}`, "storage.dst-ro", "without storage.dst"},
		{"empty context key", `{"logger":{"context_keys":[""]}}`, "logger.context_keys[0]", "empty"},
		{"max_image_dimensions number", `{"options":{"max_image_dimensions":4000}}`, "options.max_image_dimensions", "got number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(strings.NewReader(tt.json))
			if err == nil {
				t.Fatalf("loadConfig(%s) = nil error, want one at %q", tt.json, tt.path)
			}
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("loadConfig(%s) error %v (%T), want a *configError", tt.json, err, err)
			}
			if ce.path != tt.path {
				t.Errorf("loadConfig(%s) error path %q, want %q (error: %v)", tt.json, ce.path, tt.path, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("loadConfig(%s) error %q, want it to contain %q", tt.json, err, tt.msg)
			}
			if tt.path != "" && !strings.Contains(err.Error(), "config: "+tt.path+": ") {
				t.Errorf("loadConfig(%s) error %q does not name %q", tt.json, err, tt.path)
			}
		})
	}
}

// TestLoadConfigTrailingComma checks the original README's fs+cache example
// verbatim: its trailing comma is a syntax error, reported as such.
func TestLoadConfigTrailingComma(t *testing.T) {
	verbatim := strings.Replace(exampleFSCache, `"cache"
  }
}`, `"cache"
  },
}`, 1)
	_, err := loadConfig(strings.NewReader(verbatim))
	if err == nil {
		t.Fatal("loadConfig(verbatim README example) = nil error, want a syntax error")
	}
	want := "config: line 12, column 1: invalid character '}' looking for beginning of object key string (a trailing comma; JSON allows none)"
	if err.Error() != want {
		t.Errorf("loadConfig(verbatim README example) error\n%q\nwant\n%q", err, want)
	}
}

// TestLoadConfigReportsAllUnknownKeys checks that every unknown key is
// named in one error, not one per restart, and that a typo next to the
// original's keys still stops picfit.
func TestLoadConfigReportsAllUnknownKeys(t *testing.T) {
	js := `{"prot":1,"engine":{"jpeg_quality":90,"qualty":1},"options":{"transform_timeout":5,"max_qeue":1},
		"storage":{"src":{"type":"fs","cache_control":"x","bucket":"b"}}}`
	_, err := loadConfig(strings.NewReader(js))
	if err == nil {
		t.Fatal("loadConfig() = nil error, want four unknown keys")
	}
	for _, path := range []string{"prot", "engine.qualty", "options.max_qeue", "storage.src.bucket"} {
		if !strings.Contains(err.Error(), "config: "+path+": unknown key") {
			t.Errorf("loadConfig() error %q does not name %q", err, path)
		}
	}
	for _, known := range []string{"jpeg_quality", "transform_timeout", "cache_control"} {
		if strings.Contains(err.Error(), known) {
			t.Errorf("loadConfig() error %q names the known key %s", err, known)
		}
	}
	// A type error after an unknown key is reported with it.
	_, err = loadConfig(strings.NewReader(`{"prot":1,"port":"x"}`))
	if err == nil || !strings.Contains(err.Error(), "config: prot: unknown key") || !strings.Contains(err.Error(), "config: port: want a number") {
		t.Errorf("loadConfig() error %v, want both the unknown key and the type error", err)
	}
}

// TestNoEffectKeys checks which of the original's keys are named in the
// startup line as having no effect.
func TestNoEffectKeys(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"none", `{}`, nil},
		{"honoured keys are not named", `{"engine":{"jpeg_quality":90,"webp_quality":80},"options":{"transform_timeout":5,
			"max_processor_concurrent_operations":["resize"]},"logger":{"context_keys":["request-id"]},
			"storage":{"src":{"type":"s3","bucket_name":"b","cache_control":"max-age=60"}}}`, nil},
		{"engine", `{"engine":{"png_compression":1,"image_buffer_size":2,"max_buffer_size":3,"backends":{}}}`,
			[]string{"engine.png_compression", "engine.image_buffer_size", "engine.max_buffer_size", "engine.backends"}},
		{"options", `{"options":{"mimetype_detector":"mime","free_memory_interval":10}}`,
			[]string{"options.mimetype_detector", "options.free_memory_interval"}},
		{"storage name, fs cache_control, dst copied from src named once", `{"storage":{"src":{"type":"fs","name":"n","cache_control":"c"}}}`,
			[]string{"storage.src.name", "storage.src.cache_control"}},
		{"dst and dst-ro", `{"storage":{"src":{"type":"fs"},"dst":{"type":"fs","name":"d"},"dst-ro":{"type":"http+fs","base_url":"http://x","cache_control":"c"}}}`,
			[]string{"storage.dst.name", "storage.dst-ro.cache_control"}},
		{"unknown context key", `{"logger":{"context_keys":["request-id","user"]}}`, []string{"logger.context_keys[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, tt.json).noEffectKeys()
			if !slices.Equal(got, tt.want) {
				t.Errorf("noEffectKeys() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLoadConfigReportsAllProblems checks that validation names every bad
// key at once.
func TestLoadConfigReportsAllProblems(t *testing.T) {
	_, err := loadConfig(strings.NewReader(`{"port":0,"engine":{"quality":200},"kvstore":{"type":"x"}}`))
	if err == nil {
		t.Fatal("loadConfig() = nil error, want three problems")
	}
	for _, path := range []string{"config: port:", "config: engine.quality:", "config: kvstore.type:"} {
		if !strings.Contains(err.Error(), path) {
			t.Errorf("loadConfig() error %q does not name %q", err, path)
		}
	}
}

func TestDurationUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    time.Duration
		wantErr bool
	}{
		{"string", `"1m30s"`, 90 * time.Second, false},
		{"seconds", `90`, 90 * time.Second, false},
		{"float seconds", `90.0`, 90 * time.Second, false},
		{"fraction", `0.25`, 250 * time.Millisecond, false},
		{"exponent", `1e-3`, time.Millisecond, false},
		{"zero string", `"0"`, 0, false},
		{"zero", `0`, 0, false},
		{"null keeps", `null`, 7, false},
		{"micro", `"1.5µs"`, 1500 * time.Nanosecond, false},
		{"no unit", `"90"`, 0, true},
		{"negative", `-1`, 0, true},
		{"negative string", `"-1s"`, 0, true},
		{"bool", `true`, 0, true},
		{"array", `[1]`, 0, true},
		{"too large", `1e10`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := duration(7)
			err := json.Unmarshal([]byte(tt.json), &d)
			if tt.wantErr {
				if err == nil {
					t.Errorf("unmarshal duration %s = %v, want an error", tt.json, time.Duration(d))
				}
				return
			}
			if err != nil {
				t.Fatalf("unmarshal duration %s: %v", tt.json, err)
			}
			if time.Duration(d) != tt.want {
				t.Errorf("unmarshal duration %s = %v, want %v", tt.json, time.Duration(d), tt.want)
			}
		})
	}
}

// TestConfigRoundTrip checks that a loaded config written back as JSON
// loads to the same config: every field's JSON name and form agree with
// loadConfig's.
func TestConfigRoundTrip(t *testing.T) {
	for _, js := range append([]string{`{}`}, exampleConfigs...) {
		c := mustLoad(t, js)
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal config: %v", err)
		}
		again := mustLoad(t, string(out))
		if !reflect.DeepEqual(again, c) {
			t.Errorf("loadConfig(marshal(loadConfig(%s))) =\n%+v\nwant\n%+v", js, again, c)
		}
	}
	// Every field of the full config differs from its default, so the
	// round trip above went through every key.
	c, def := mustLoad(t, exampleFull), defaultConfig()
	for _, k := range configKeys() {
		if k.elem {
			continue
		}
		if reflect.DeepEqual(k.get(c), k.get(def)) {
			t.Errorf("the full config leaves %s at its default", k.path)
		}
	}
}

func TestConfigHelpers(t *testing.T) {
	keys := []struct {
		name string
		json string
		want []string
	}{
		{"none", `{}`, nil},
		{"one", `{"secret_key":"a"}`, []string{"a"}},
		{"rotation", `{"secret_key":"a","secret_keys":["b","c"]}`, []string{"a", "b", "c"}},
		{"list only", `{"secret_keys":["b"]}`, []string{"b"}},
	}
	for _, tt := range keys {
		t.Run("secretKeys/"+tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.json).secretKeys(); !slices.Equal(got, tt.want) {
				t.Errorf("secretKeys() = %q, want %q", got, tt.want)
			}
		})
	}
	levels := []struct {
		json string
		want slog.Level
	}{
		{`{}`, slog.LevelInfo},
		{`{"logger":{"level":"debug"}}`, slog.LevelDebug},
		{`{"logger":{"level":"warn"}}`, slog.LevelWarn},
		{`{"logger":{"level":"error"}}`, slog.LevelError},
		{`{"logger":{"level":"fatal"}}`, slog.LevelError + 4},
		{`{"debug":true,"logger":{"level":"error"}}`, slog.LevelDebug},
	}
	for _, tt := range levels {
		t.Run("slogLevel/"+tt.json, func(t *testing.T) {
			if got := mustLoad(t, tt.json).slogLevel(); got != tt.want {
				t.Errorf("slogLevel() = %v, want %v", got, tt.want)
			}
		})
	}
}

// configKey is one key path of the config, found by walking its type.
type configKey struct {
	path  string       // "kvstore.redis.host", "options.allowed_sizes[].width"
	typ   reflect.Type // the field's Go type
	elem  bool         // inside a list element: no default of its own
	index []int        // field indexes from config; nil for element keys
}

// get returns the key's value in c (only for keys not inside a list).
func (k configKey) get(c config) any {
	return reflect.ValueOf(c).FieldByIndex(k.index).Interface()
}

// configKeys lists every key of config: the leaves, and lists of objects
// along with their elements' keys.
func configKeys() []configKey {
	var keys []configKey
	leaf := map[reflect.Type]bool{
		reflect.TypeFor[duration]():   true,
		reflect.TypeFor[dimensions](): true,
	}
	var walk func(t reflect.Type, prefix string, index []int, elem bool)
	walk = func(t reflect.Type, prefix string, index []int, elem bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			path := joinPath(prefix, name)
			idx := append(slices.Clone(index), i)
			if elem {
				idx = nil
			}
			switch {
			case f.Type.Kind() == reflect.Struct && !leaf[f.Type]:
				walk(f.Type, path, idx, elem)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct && f.Type.Elem() != reflect.TypeFor[netip.Prefix]():
				keys = append(keys, configKey{path, f.Type, elem, idx})
				walk(f.Type.Elem(), path+"[]", nil, true)
			default:
				keys = append(keys, configKey{path, f.Type, elem, idx})
			}
		}
	}
	walk(reflect.TypeFor[config](), "", nil, false)
	return keys
}

// helpRow is one key of configHelp: "  path  type  default" then a line of
// meaning indented by six spaces.
type helpRow struct{ path, typ, def, meaning string }

func parseHelp(t *testing.T) map[string]helpRow {
	t.Helper()
	rows := make(map[string]helpRow)
	lines := strings.Split(configHelp, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Errorf("help line %q: want path, type and default", line)
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "      ") || strings.TrimSpace(lines[i+1]) == "" {
			t.Errorf("help key %s has no line of meaning", f[0])
			continue
		}
		if _, dup := rows[f[0]]; dup {
			t.Errorf("help lists %s twice", f[0])
		}
		rows[f[0]] = helpRow{f[0], f[1], f[2], strings.TrimSpace(lines[i+1])}
	}
	return rows
}

// TestConfigHelp checks configHelp against the config struct: every key is
// documented with its type and default, and every documented key exists.
func TestConfigHelp(t *testing.T) {
	rows := parseHelp(t)
	helpTypes := map[reflect.Type]string{
		reflect.TypeFor[int]():               "int",
		reflect.TypeFor[int64]():             "int",
		reflect.TypeFor[bool]():              "bool",
		reflect.TypeFor[string]():            "string",
		reflect.TypeFor[duration]():          "duration",
		reflect.TypeFor[byteSize]():          "size",
		reflect.TypeFor[dimensions]():        "object",
		reflect.TypeFor[*backendsConfig]():   "object",
		reflect.TypeFor[[]string]():          "[]string",
		reflect.TypeFor[[]netip.Prefix]():    "[]string",
		reflect.TypeFor[[]allowedSize]():     "[]object",
		reflect.TypeFor[map[string]string](): "map[string]string",
	}
	// Defaults that depend on the machine.
	textDefaults := map[string]string{"options.max_processor_concurrent": "NumCPU"}
	def := defaultConfig()
	documented := make(map[string]bool)
	for _, k := range configKeys() {
		helpPath := strings.NewReplacer("storage.src.", "storage.{src,dst,dst-ro}.", "storage.dst.", "storage.{src,dst,dst-ro}.",
			"storage.dst-ro.", "storage.{src,dst,dst-ro}.").Replace(k.path)
		row, ok := rows[helpPath]
		if !ok {
			t.Errorf("configHelp does not document %s (as %s)", k.path, helpPath)
			continue
		}
		documented[helpPath] = true
		if want, ok := helpTypes[k.typ]; !ok {
			t.Errorf("%s: no help type for Go type %v", k.path, k.typ)
		} else if row.typ != want {
			t.Errorf("configHelp type of %s = %s, want %s", k.path, row.typ, want)
		}
		var want string
		switch {
		case textDefaults[k.path] != "":
			want = textDefaults[k.path]
		case k.elem:
			want = jsonDefault(t, reflect.Zero(k.typ).Interface())
		default:
			want = jsonDefault(t, k.get(def))
		}
		if row.def != want {
			t.Errorf("configHelp default of %s = %s, want %s", k.path, row.def, want)
		}
	}
	for path := range rows {
		if !documented[path] {
			t.Errorf("configHelp documents %s, which is not a config key", path)
		}
	}
	for _, line := range strings.Split(configHelp, "\n") {
		if len(line) > 105 {
			t.Errorf("configHelp line is %d characters long: %q", len(line), line)
		}
	}
}

// jsonDefault writes a default as configHelp does: JSON, with [] and {} for
// empty lists and maps.
func jsonDefault(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	if string(b) == "null" {
		switch reflect.TypeOf(v).Kind() {
		case reflect.Map:
			return "{}"
		case reflect.Slice:
			return "[]"
		}
	}
	return string(b)
}

func BenchmarkLoadConfig(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadConfig(strings.NewReader(exampleFull)); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzLoadConfig checks that loadConfig never panics and that what it
// accepts round-trips through JSON.
func FuzzLoadConfig(f *testing.F) {
	for _, js := range exampleConfigs {
		f.Add(js)
	}
	for _, js := range []string{
		`{}`, `{"shard":{"width":1,"depth":2}}`, `{"options":{"enable_upload":true}}`,
		`{"options":{"allowed_ip_addresses":["10.0.0.0/8","::1"]}}`,
		`{"kvstore":{"type":"redis-cluster","redis":{"addrs":["a:1"]}}}`,
		`{"options":{"fetch_timeout":"1m30s","request_timeout":90}}`,
		`{"options":{"max_image_dimensions":"10x20"}}`, `{"options":{"max_image_dimensions":{"height":20}}}`, `{"sentry":{"tags":{"a":"b"}}}`,
		`{"port":"x"}`, `{"port":1,}`, `[]`, `null`, `{"a":{"b":[{"c":null}]}}`,
	} {
		f.Add(js)
	}
	f.Fuzz(func(t *testing.T, js string) {
		c, err := loadConfig(strings.NewReader(js))
		if err != nil {
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal config from %q: %v", js, err)
		}
		again, err := loadConfig(strings.NewReader(string(out)))
		if err != nil {
			t.Fatalf("loadConfig(marshal(loadConfig(%q))) error: %v", js, err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("loadConfig(marshal(loadConfig(%q))) =\n%+v\nwant\n%+v", js, again, c)
		}
	})
}
