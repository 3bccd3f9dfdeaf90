package main

// The configuration file: the original picfit's JSON keys, their defaults,
// and the check that names every bad key at once.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is picfit's configuration, read from the JSON file given with
// -c/--config or PICFIT_CONFIG_PATH (see loadConfig). It keeps the original
// picfit's key names, so an existing config file loads unchanged. The JSON
// name of every field is its tag; configHelp lists them all with their
// defaults, and a test keeps the two in step.
//
// After loadConfig the values are valid and normalised: format names are
// "jpeg" (never "jpg"), logger.level is one of debug info warning error
// fatal, storage.dst is filled in from storage.src when omitted, and the
// redis-cluster addresses are filled in from kvstore.redis.addrs when only
// the latter is given.
type config struct {
	// Port is the TCP port of the HTTP server, 1..65535.
	Port int `json:"port"`
	// Debug logs at debug level whatever Logger.Level says (see slogLevel).
	Debug bool `json:"debug"`
	// SecretKey, when set, makes every /display, /redirect and /get request
	// carry sig, the hex HMAC-SHA1 of its canonical query under this key.
	// `picfit signature` signs with it.
	SecretKey string `json:"secret_key"`
	// SecretKeys (Beyond) are further keys a signature may be made with, so
	// keys can be rotated: verification accepts a signature made with any
	// of SecretKey and SecretKeys (see secretKeys). Setting only SecretKeys
	// also turns signing on.
	SecretKeys []string `json:"secret_keys"`
	// AllowedOrigins are the CORS origins: "*", full origins such as
	// "https://www.example.com", or patterns with one leading "*." label
	// such as "https://*.example.com". Empty: no CORS headers.
	AllowedOrigins []string `json:"allowed_origins"`
	// AllowedMethods are the CORS methods (default GET, HEAD).
	AllowedMethods []string `json:"allowed_methods"`
	// AllowedHeaders are the CORS request headers allowed.
	AllowedHeaders []string `json:"allowed_headers"`
	// Sentry configures error reporting to Sentry.
	Sentry sentryConfig `json:"sentry"`
	// Logger configures the log output.
	Logger loggerConfig `json:"logger"`
	// AdminPort (Beyond), when not 0, serves the admin routes (upload,
	// delete, /sys/stats, /sys/health, /debug/pprof, /metrics) on this port
	// instead of Port. 0: everything on Port.
	AdminPort int `json:"admin_port"`
	// ShutdownTimeout (Beyond) bounds how long SIGINT/SIGTERM waits for
	// in-flight requests and pending background stores. 0: no bound.
	ShutdownTimeout duration `json:"shutdown_timeout"`
	// KVStore remembers which stored file answers which request key.
	KVStore kvConfig `json:"kvstore"`
	// Storage holds the source images and the generated results.
	Storage storagesConfig `json:"storage"`
	// Shard splits stored result names into directories.
	Shard shardConfig `json:"shard"`
	// Engine sets the output quality and format defaults.
	Engine engineConfig `json:"engine"`
	// Options turns routes on and sets the security limits.
	Options optionsConfig `json:"options"`
}

// sentryConfig configures Sentry error reporting; an empty DSN turns it off.
type sentryConfig struct {
	// DSN is the Sentry project's DSN URL.
	DSN string `json:"dsn"`
	// Tags are added to every event.
	Tags map[string]string `json:"tags"`
}

// loggerConfig configures the logger.
type loggerConfig struct {
	// Level is the lowest level logged: debug, info, warning, error or
	// fatal ("warn" is read as "warning", any case is accepted). The
	// original's default is debug; ours is info, since debug logs a line
	// per kv and storage operation.
	Level string `json:"level"`
	// Format is "text" (logfmt-like lines) or "json".
	Format string `json:"format"`
	// ContextKeys (original) names the per-request values added to every
	// line logged while a request is served: "request-id" (or
	// "request_id") its X-Request-ID, "key" its result key. The original
	// always adds request-id whatever this says; other names are accepted
	// and have no effect.
	ContextKeys []string `json:"context_keys"`
}

// kvConfig selects and configures the key/value store that maps request
// keys to stored result names (and, for cascade delete, source paths to
// their results). Only the section named by Type is used.
type kvConfig struct {
	// Type is "" (no kv store: every request is processed), "cache",
	// "redis", "redis-cluster" or "redis-roundrobin". The original's
	// "dummy" is read as "".
	Type string `json:"type"`
	// Prefix is prepended to every key written to the store.
	Prefix string `json:"prefix"`
	// Cache configures the in-memory store.
	Cache cacheKVConfig `json:"cache"`
	// Redis configures a single Redis server.
	Redis redisConfig `json:"redis"`
	// RedisCluster configures a Redis Cluster.
	RedisCluster redisClusterConfig `json:"redis-cluster"`
	// RedisRoundRobin configures a primary and read replicas.
	RedisRoundRobin redisRoundRobinConfig `json:"redis-roundrobin"`
}

// cacheKVConfig configures the in-memory kv store.
type cacheKVConfig struct {
	// MaxEntries bounds the number of keys held; the least recently used
	// go first. At least 1.
	MaxEntries int `json:"max_entries"`
	// Expiration is how long a key lives; 0: until evicted.
	Expiration duration `json:"expiration"`
	// CleanupInterval (original) is how often expired keys are swept out
	// of memory; 0: only when they are next looked up or evicted.
	CleanupInterval duration `json:"cleanup_interval"`
}

// redisConfig configures a single Redis server.
type redisConfig struct {
	// Host is the server's host name or address; empty means 127.0.0.1.
	Host string `json:"host"`
	// Port is the server's port, 1..65535.
	Port int `json:"port"`
	// Password is the AUTH password; empty: none.
	Password string `json:"password"`
	// DB is the database number, at least 0.
	DB int `json:"db"`
	// Expiration is how long a key lives; 0: forever.
	Expiration duration `json:"expiration"`
	// Addrs is where the original README puts the redis-cluster node
	// addresses; with type "redis-cluster" and no redis-cluster.addrs,
	// Addrs (and Password and Expiration) are used for the cluster.
	Addrs []string `json:"addrs"`
}

// redisClusterConfig configures a Redis Cluster.
type redisClusterConfig struct {
	// Addrs are seed nodes as host:port.
	Addrs []string `json:"addrs"`
	// Password is the AUTH password; empty: none.
	Password string `json:"password"`
	// Expiration is how long a key lives; 0: forever.
	Expiration duration `json:"expiration"`
}

// redisRoundRobinConfig configures Redis servers used round robin: reads
// are spread over all of them, and a write that hits a read-only replica
// moves on to the next server.
type redisRoundRobinConfig struct {
	// Addrs are redis:// or rediss:// URLs
	// ("redis://:password@127.0.0.1:6379?db=0"; the original's
	// "?password=" is read too).
	Addrs []string `json:"addrs"`
	// Password is the AUTH password of the addresses that give none.
	Password string `json:"password"`
	// Expiration is how long a key lives; 0: forever.
	Expiration duration `json:"expiration"`
}

// storagesConfig names where sources are read and results written.
type storagesConfig struct {
	// Src holds the source images (path=, uploads). A zero Src (type "")
	// means no source storage: images come from url= only.
	Src storageConfig `json:"src"`
	// Dst receives the generated results. When omitted (or {}),
	// loadConfig copies Src into it, so Dst == Src tells that both are
	// the same storage.
	Dst storageConfig `json:"dst"`
	// DstRO (original's "dst-ro"), when set, is where stored results are
	// read from, and whose path and url /get and /redirect report: a
	// read-only view of Dst (a CDN in front of the bucket, a replica, a
	// read-only mount). Results are still written to and deleted from Dst.
	DstRO storageConfig `json:"dst-ro"`
}

// storageConfig configures one storage. S3-compatible services all go
// through one SigV4 client.
type storageConfig struct {
	// Type is "fs", "s3", "dos3" (DigitalOcean Spaces), "gcs" (Google
	// Cloud Storage's S3-compatible API with HMAC keys), or "http+fs",
	// "http+s3", "http+dos3": read files with a GET of their public URL
	// (BaseURL joined as below) and write to the wrapped storage.
	Type string `json:"type"`
	// Location is the directory (fs; empty: the working directory) or the
	// key prefix inside the bucket (s3, dos3, gcs).
	Location string `json:"location"`
	// BaseURL is the public URL of Location (fs) or of the bucket (s3,
	// dos3, gcs: the key, Location included, is appended, as the original
	// picfit does), used for /redirect and the url of /get and /upload, and
	// required by the http+ types to read files.
	BaseURL string `json:"base_url"`
	// AccessKeyID is the S3 (or GCS HMAC) access key.
	AccessKeyID string `json:"access_key_id"`
	// SecretAccessKey is the S3 (or GCS HMAC) secret.
	SecretAccessKey string `json:"secret_access_key"`
	// BucketName is the bucket; required by the S3-like types.
	BucketName string `json:"bucket_name"`
	// ACL is the canned ACL set on written objects: private, public-read,
	// public-read-write, authenticated-read, bucket-owner-read,
	// bucket-owner-full-control, or empty for the bucket's default.
	ACL string `json:"acl"`
	// Region is the S3 region: for s3 without Endpoint, required and one
	// of AWS's; with an Endpoint free form (e.g. us-west-004 for B2, auto
	// for R2; empty: asked once from the service); for dos3 required and
	// one of DigitalOcean's regions; for gcs "auto" when empty.
	Region string `json:"region"`
	// Endpoint is a full URL selecting an S3-compatible service
	// ("https://s3.us-west-004.backblazeb2.com", "http://127.0.0.1:9000");
	// when set, path-style addressing is used. Empty: AWS for s3, the
	// region's Spaces endpoint for dos3, storage.googleapis.com for gcs.
	Endpoint string `json:"endpoint"`
	// CacheControl (original) is the Cache-Control stored with each object
	// written (s3, dos3, gcs); "": none. The fs storage has nowhere to keep
	// it.
	CacheControl string `json:"cache_control"`
	// Name (original) labels the storage; it has no effect here.
	Name string `json:"name"`
}

// shardConfig shards stored result names: Depth directories of Width
// characters taken from the start of the key, then the rest of the key
// (RestOnly) or the whole key. Width or Depth 0: no directories.
type shardConfig struct {
	// Width is the number of key characters per directory, at least 0.
	Width int `json:"width"`
	// Depth is the number of directories, at least 0; Width*Depth <= 32.
	Depth int `json:"depth"`
	// RestOnly drops the characters used by the directories from the file
	// name (default true).
	RestOnly bool `json:"restonly"`
}

// engineConfig sets the encoder defaults.
type engineConfig struct {
	// Quality is the JPEG and WebP quality when q= is absent, 1..100.
	Quality int `json:"quality"`
	// Format, when set, is the output format whenever fmt= is absent,
	// whatever the source's format: jpeg, png, gif, bmp or webp ("jpg" is
	// read as "jpeg").
	Format string `json:"format"`
	// DefaultFormat is the output format when neither fmt=, Format nor
	// the source's format decides (default png; "" is read as png).
	DefaultFormat string `json:"default_format"`
	// JPEGQuality and WebPQuality (original), 1..100, are the JPEG and
	// WebP quality when q= is absent, in place of Quality; 0: Quality.
	JPEGQuality int `json:"jpeg_quality"`
	WebPQuality int `json:"webp_quality"`
	// JPEGProgressive writes progressive JPEGs (DC first, then bands of
	// AC coefficients) instead of baseline ones (default false).
	JPEGProgressive bool `json:"jpeg_progressive"`

	// The original's keys below are read and have no effect here (see
	// noEffectKeys): picfit has one built-in engine and its own PNG level.

	// PNGCompression is the original's PNG compression level.
	PNGCompression int `json:"png_compression"`
	// ImageBufferSize and MaxBufferSize sized the original's buffers.
	ImageBufferSize int `json:"image_buffer_size"`
	MaxBufferSize   int `json:"max_buffer_size"`
	// Backends chose the original's engine backends per MIME type.
	Backends *backendsConfig `json:"backends"`
}

// backendsConfig is the original's engine.backends; it has no effect.
type backendsConfig struct {
	GoImage  *backendConfig `json:"goimage"`
	Gifsicle *backendConfig `json:"gifsicle"`
}

// backendConfig is one of the original's engine backends.
type backendConfig struct {
	Weight    int      `json:"weight"`
	Mimetypes []string `json:"mimetypes"`
	Path      string   `json:"path"` // gifsicle's executable
}

// optionsConfig turns optional routes on and sets the security limits.
// The limits have generous defaults; a limit cannot be set to 0 (omit the
// key to keep the default).
type optionsConfig struct {
	// EnableUpload serves POST /upload into the source storage.
	EnableUpload bool `json:"enable_upload"`
	// EnableDelete serves DELETE of sources and results.
	EnableDelete bool `json:"enable_delete"`
	// EnableCascadeDelete also deletes every result made from a deleted
	// source; it needs a kv store, which records the results per source.
	EnableCascadeDelete bool `json:"enable_cascade_delete"`
	// EnableStats serves GET /sys/stats.
	EnableStats bool `json:"enable_stats"`
	// EnableHealth serves GET /sys/health.
	EnableHealth bool `json:"enable_health"`
	// EnablePprof serves /debug/pprof/ and /debug/vars.
	EnablePprof bool `json:"enable_pprof"`
	// EnablePrometheus serves GET /metrics.
	EnablePrometheus bool `json:"enable_prometheus"`
	// AllowedSizes, when not empty, lists the only w×h a request may ask
	// for (an omitted side counts as 0); others are 403.
	AllowedSizes []allowedSize `json:"allowed_sizes"`
	// AllowedIPAddresses, when not empty, restricts upload, delete, stats,
	// health, pprof and metrics to these addresses or CIDR networks (a
	// bare address is a /32 or /128). IPv4-mapped IPv6 entries are stored
	// as IPv4, so callers should Unmap the client address too.
	AllowedIPAddresses []netip.Prefix `json:"allowed_ip_addresses"`
	// TrustedProxies are the addresses or networks whose X-Forwarded-For
	// header is believed when finding the client address.
	TrustedProxies []netip.Prefix `json:"trusted_proxies"`
	// AllowedHosts, when not empty, are the only host names url= may
	// fetch from (lowercased by loadConfig).
	AllowedHosts []string `json:"allowed_hosts"`
	// AllowPrivateNetworks lets url= reach loopback, private and
	// link-local addresses, refused by default.
	AllowPrivateNetworks bool `json:"allow_private_networks"`
	// DisableURL refuses url= altogether: only the source storage serves.
	DisableURL bool `json:"disable_url"`
	// DefaultUserAgent is the User-Agent sent when fetching url= sources.
	DefaultUserAgent string `json:"default_user_agent"`
	// CacheControl is the Cache-Control header of image responses.
	CacheControl string `json:"cache_control"`
	// MaxImageDimensions is the original's key, an object
	// {"width": W, "height": H} (or "WxH"): a source both wider than W and
	// taller than H is refused before it is decoded, as the original does.
	// The zero value: no limit.
	MaxImageDimensions dimensions `json:"max_image_dimensions"`
	// MaxSourceBytes caps the bytes read from a source (default 64 MiB).
	MaxSourceBytes int64 `json:"max_source_bytes"`
	// MaxSourcePixels caps width*height*frames of a source, read from its
	// header before decoding.
	MaxSourcePixels int64 `json:"max_source_pixels"`
	// MaxOutputDimension caps w and h in a request (400 above it).
	MaxOutputDimension int `json:"max_output_dimension"`
	// MaxOutputPixels caps width*height of a result.
	MaxOutputPixels int64 `json:"max_output_pixels"`
	// MaxOutputTotalPixels caps width*height*frames of a result, so an
	// animation of many frames is refused before decoding.
	MaxOutputTotalPixels int64 `json:"max_output_total_pixels"`
	// MaxMemory is the memory budget of image work, in bytes (a number
	// or a string like "512MiB"); 0, the default, is half the machine's
	// memory (or of the cgroup's limit). See budget.go.
	MaxMemory byteSize `json:"max_memory"`
	// MaxOperations caps the operations in one request's chain.
	MaxOperations int `json:"max_operations"`
	// MaxProcessorConcurrent is how many images are processed at once
	// (default: the number of CPUs).
	MaxProcessorConcurrent int `json:"max_processor_concurrent"`
	// MaxProcessorConcurrentOperations (original), when not empty, limits
	// MaxProcessorConcurrent and MaxQueue to the requests whose chain has
	// one of these operations; the others are processed without waiting.
	MaxProcessorConcurrentOperations []string `json:"max_processor_concurrent_operations"`
	// TransformTimeout (original; a number of seconds or a duration)
	// bounds an image's processing once it holds a processor: past it the
	// request fails with 504 and the result is not stored. 0: only
	// RequestTimeout bounds it. The original's default of 10s is not
	// taken, since its own engine never stopped at it.
	TransformTimeout duration `json:"transform_timeout"`
	// MimetypeDetector and FreeMemoryInterval are the original's keys,
	// read and without effect here (see noEffectKeys).
	MimetypeDetector   string `json:"mimetype_detector"`
	FreeMemoryInterval int    `json:"free_memory_interval"`
	// MaxQueue is how many requests may wait for a processor; more are
	// answered 429. 0: none wait.
	MaxQueue int `json:"max_queue"`
	// FetchTimeout bounds fetching a url= source, redirects included.
	FetchTimeout duration `json:"fetch_timeout"`
	// RequestTimeout bounds a whole request; it also bounds sending a
	// /display answer (a write deadline) and receiving an upload's body.
	RequestTimeout duration `json:"request_timeout"`
	// MaxStoreQueue (Beyond) is how many /display results may wait to be
	// stored in the background.
	MaxStoreQueue int `json:"max_store_queue"`
}

// allowedSize is one entry of options.allowed_sizes.
type allowedSize struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// dimensions is a width×height limit written {"width": W, "height": H} in
// JSON, as the original's AllowedSize, or "WxH"; the zero value means no
// limit.
type dimensions struct {
	Width, Height int
}

// duration is a time.Duration written in JSON as a Go duration string
// ("10s", "1m30s") or a number of seconds (10, 0.5). It is never negative.
type duration time.Duration

// Config defaults, shared by defaultConfig and configHelp's text.
const (
	defaultPort           = 3001
	defaultQuality        = 95
	defaultFormat         = "png"
	defaultUserAgent      = "picfit/1"
	defaultCacheControl   = "must-revalidate"
	defaultMaxSourceBytes = 64 << 20
	// maxConfigBytes bounds the config file read by loadConfig.
	maxConfigBytes = 1 << 20
)

// defaultConfig returns the configuration used for every key the file
// leaves out.
func defaultConfig() config {
	return config{
		Port:            defaultPort,
		AllowedMethods:  []string{"GET", "HEAD"},
		Logger:          loggerConfig{Level: "info", Format: "text"},
		ShutdownTimeout: duration(30 * time.Second),
		KVStore: kvConfig{
			Cache: cacheKVConfig{MaxEntries: 100_000},
			Redis: redisConfig{Host: "127.0.0.1", Port: 6379},
		},
		Shard:  shardConfig{RestOnly: true},
		Engine: engineConfig{Quality: defaultQuality, DefaultFormat: defaultFormat},
		Options: optionsConfig{
			DefaultUserAgent:       defaultUserAgent,
			CacheControl:           defaultCacheControl,
			MaxSourceBytes:         defaultMaxSourceBytes,
			MaxSourcePixels:        100_000_000,
			MaxOutputDimension:     8192,
			MaxOutputPixels:        40_000_000,
			MaxOutputTotalPixels:   100_000_000,
			MaxOperations:          10,
			MaxProcessorConcurrent: runtime.NumCPU(),
			MaxQueue:               64,
			FetchTimeout:           duration(10 * time.Second),
			RequestTimeout:         duration(60 * time.Second),
			MaxStoreQueue:          256,
		},
	}
}

// loadConfig reads a JSON config over defaultConfig and validates it.
//
// A missing key keeps its default, also inside a section that is present,
// and null is read as a missing key. Keys match case-insensitively, like
// encoding/json and the original's viper, and like viper also without
// their underscores ("contextkeys" is logger.context_keys). An unknown key, a repeated key,
// a value of the wrong type or an invalid value is an error naming the key
// path ("config: options.max_queue: want a number, got string"); the
// validation errors are all reported at once. A syntax error gives its line
// and column.
func loadConfig(r io.Reader) (config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return config{}, fmt.Errorf("config: read: %w", err)
	}
	if len(data) > maxConfigBytes {
		return config{}, &configError{msg: fmt.Sprintf("larger than %d bytes", maxConfigBytes)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM
	if len(bytes.TrimSpace(data)) == 0 {
		return config{}, &configError{msg: "empty, want a JSON object such as {}"}
	}
	if err := checkSyntax(data); err != nil {
		return config{}, err
	}
	if data = bytes.TrimSpace(data); data[0] != '{' {
		return config{}, typeError("", "an object", data)
	}
	c := defaultConfig()
	var unknown []error // every unknown key, reported together
	if err := decodeValue(reflect.ValueOf(&c).Elem(), data, "", &unknown); err != nil || len(unknown) > 0 {
		return config{}, errors.Join(append(unknown, err)...)
	}
	if err := c.check(); err != nil {
		return config{}, err
	}
	return c, nil
}

// configError is a config problem at one key path ("kvstore.redis.port";
// empty for the whole file).
type configError struct {
	path string
	msg  string
}

func (e *configError) Error() string {
	if e.path == "" {
		return "config: " + e.msg
	}
	return "config: " + e.path + ": " + e.msg
}

// checkSyntax reports a JSON syntax error in data with its line and column.
func checkSyntax(data []byte) error {
	var raw json.RawMessage
	err := json.Unmarshal(data, &raw)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return &configError{msg: err.Error()}
	}
	off := min(max(int(se.Offset), 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n') - 1
	msg := fmt.Sprintf("line %d, column %d: %v", line, col, se)
	// The original README's examples have trailing commas: say so.
	if off > 0 && (data[off-1] == '}' || data[off-1] == ']') {
		if before := bytes.TrimRight(data[:off-1], " \t\r\n"); len(before) > 0 && before[len(before)-1] == ',' {
			msg += " (a trailing comma; JSON allows none)"
		}
	}
	return &configError{msg: msg}
}

// decodeValue decodes the JSON value raw (already checked for syntax) into
// v, which holds a default that stays wherever raw says nothing. path is
// raw's key path, for errors. It stands in for encoding/json because that
// names neither the path of an unknown key nor that of a value inside a
// custom type, and it rejects repeated keys. Unknown keys are appended
// to *unknown and skipped, so that all of them are reported at once.
func decodeValue(v reflect.Value, raw []byte, path string, unknown *[]error) error {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return nil
	}
	if u, ok := v.Addr().Interface().(json.Unmarshaler); ok {
		if err := u.UnmarshalJSON(raw); err != nil {
			return &configError{path: path, msg: err.Error()}
		}
		return nil
	}
	if v.Type() == reflect.TypeFor[netip.Prefix]() {
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return typeError(path, "an IP address or CIDR string", raw)
		}
		p, err := parseIPOrPrefix(s)
		if err != nil {
			return &configError{path: path, msg: err.Error()}
		}
		v.Set(reflect.ValueOf(p))
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decodeValue(v.Elem(), raw, path, unknown)
	case reflect.Struct:
		if raw[0] != '{' {
			return typeError(path, "an object", raw)
		}
		seen := make(map[string]bool)
		return eachMember(raw, path, func(key string, val []byte) error {
			f, name, ok := fieldByJSONName(v, key)
			if !ok {
				*unknown = append(*unknown, &configError{path: joinPath(path, key), msg: "unknown key"})
				return nil
			}
			if seen[name] {
				return &configError{path: joinPath(path, key), msg: "key given twice"}
			}
			seen[name] = true
			return decodeValue(f, val, joinPath(path, name), unknown)
		})
	case reflect.Map:
		if raw[0] != '{' {
			return typeError(path, "an object", raw)
		}
		m := reflect.MakeMap(v.Type())
		err := eachMember(raw, path, func(key string, val []byte) error {
			k := reflect.ValueOf(key).Convert(v.Type().Key())
			if m.MapIndex(k).IsValid() {
				return &configError{path: joinPath(path, key), msg: "key given twice"}
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if err := decodeValue(e, val, joinPath(path, key), unknown); err != nil {
				return err
			}
			m.SetMapIndex(k, e)
			return nil
		})
		if err != nil {
			return err
		}
		v.Set(m)
		return nil
	case reflect.Slice:
		var elems []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
			return typeError(path, "an array", raw)
		}
		s := reflect.MakeSlice(v.Type(), len(elems), len(elems))
		for i, e := range elems {
			if err := decodeValue(s.Index(i), e, fmt.Sprintf("%s[%d]", path, i), unknown); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.String:
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return typeError(path, "a string", raw)
		}
		v.SetString(s)
		return nil
	case reflect.Bool:
		switch string(raw) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return typeError(path, "true or false", raw)
		}
		return nil
	case reflect.Int, reflect.Int64:
		if jsonKind(raw) != "number" {
			return typeError(path, "a number", raw)
		}
		n, err := parseJSONInt(string(raw), v.Type().Bits())
		if err != nil {
			return &configError{path: path, msg: err.Error()}
		}
		v.SetInt(n)
		return nil
	}
	// Only a config field of a kind not handled above gets here: a bug.
	return &configError{path: path, msg: "cannot decode into " + v.Type().String()}
}

// eachMember calls fn for each member of the JSON object raw, in order.
func eachMember(raw []byte, path string, fn func(key string, val []byte) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return &configError{path: path, msg: err.Error()}
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return &configError{path: path, msg: err.Error()}
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return &configError{path: joinPath(path, key), msg: err.Error()}
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	return nil
}

// fieldByJSONName returns the field of the struct v whose json tag matches
// key (exactly, else case-insensitively, else also ignoring underscores)
// and the tag's name. The last is viper's match of a Go field name: the
// original reads its logger.ContextKeys from "contextkeys".
func fieldByJSONName(v reflect.Value, key string) (reflect.Value, string, bool) {
	t := v.Type()
	folded, bare := -1, -1
	unscored := strings.ReplaceAll(key, "_", "")
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if name == key {
			return v.Field(i), name, true
		}
		if folded < 0 && strings.EqualFold(name, key) {
			folded = i
		}
		if bare < 0 && strings.EqualFold(strings.ReplaceAll(name, "_", ""), unscored) {
			bare = i
		}
	}
	if folded < 0 {
		folded = bare
	}
	if folded < 0 {
		return reflect.Value{}, "", false
	}
	name, _, _ := strings.Cut(t.Field(folded).Tag.Get("json"), ",")
	return v.Field(folded), name, true
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonKind names the JSON type of the valid JSON value raw.
func jsonKind(raw []byte) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func typeError(path, want string, raw []byte) error {
	return &configError{path: path, msg: "want " + want + ", got " + jsonKind(raw)}
}

// parseJSONInt parses a JSON number that must be a whole number fitting in
// bits ("1e3" is 1000).
func parseJSONInt(s string, bits int) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, bits); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	limit := math.Ldexp(1, bits-1)
	if err != nil || f != math.Trunc(f) || f < -limit || f >= limit {
		return 0, fmt.Errorf("want a whole number that fits in %d bits, got %s", bits, s)
	}
	return int64(f), nil
}

// parseIPOrPrefix parses "10.0.0.1" (a /32) or "10.0.0.0/8". The result is
// masked, and IPv4-mapped IPv6 is turned into IPv4.
func parseIPOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR network", s)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR network", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// UnmarshalJSON reads "10s"-style strings and numbers of seconds.
func (d *duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	const want = `want a duration like "10s" or a number of seconds`
	var v time.Duration
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%s: %v", want, err)
		}
		var err error
		if v, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%s, got %q", want, s)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		sec, err := strconv.ParseFloat(string(b), 64)
		if err != nil || sec*1e9 >= math.MaxInt64 || sec*1e9 <= math.MinInt64 {
			return fmt.Errorf("%s, got %s", want, b)
		}
		v = time.Duration(math.Round(sec * 1e9))
	default:
		return fmt.Errorf("%s, got %s", want, jsonKind(b))
	}
	if v < 0 {
		return fmt.Errorf("must not be negative, got %v", v)
	}
	*d = duration(v)
	return nil
}

// MarshalJSON writes d as a duration string, which UnmarshalJSON reads back.
func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// String formats d like time.Duration.
func (d duration) String() string { return time.Duration(d).String() }

// UnmarshalJSON reads the original's {"width": W, "height": H} (keys in
// any case, a missing side is 0, at least one side above 0), or "WxH"
// with W and H at least 1, or "" for no limit.
func (d *dimensions) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	const want = `want an object like {"width": 4000, "height": 4000} (or "4000x4000")`
	switch b[0] {
	case '{':
		var o struct{ Width, Height *int }
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return fmt.Errorf("%s: %v", want, err)
		}
		w, h := 0, 0
		if o.Width != nil {
			w = *o.Width
		}
		if o.Height != nil {
			h = *o.Height
		}
		if w < 0 || h < 0 || (w == 0 && h == 0) {
			return fmt.Errorf("%s, with width and height not negative and one of them above 0, got %dx%d", want, w, h)
		}
		*d = dimensions{Width: w, Height: h}
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%s: %v", want, err)
		}
		if s == "" {
			*d = dimensions{}
			return nil
		}
		ws, hs, ok := strings.Cut(s, "x")
		w, errW := strconv.Atoi(ws)
		h, errH := strconv.Atoi(hs)
		if !ok || errW != nil || errH != nil || w < 1 || h < 1 {
			return fmt.Errorf(`%s, got %q`, want, s)
		}
		*d = dimensions{Width: w, Height: h}
		return nil
	}
	return fmt.Errorf("%s, got %s", want, jsonKind(b))
}

// MarshalJSON writes the original's object form, or null for no limit.
func (d dimensions) MarshalJSON() ([]byte, error) {
	if d == (dimensions{}) {
		return []byte("null"), nil
	}
	return json.Marshal(map[string]int{"width": d.Width, "height": d.Height})
}

// over reports whether a source of w×h is refused: both sides over the
// limit, as the original checks.
func (d dimensions) over(w, h int) bool {
	return d != (dimensions{}) && w > d.Width && h > d.Height
}

// secretKeys returns the keys a signature may be made with: SecretKey
// first, then SecretKeys. Empty: requests are not signed.
func (c config) secretKeys() []string {
	var keys []string
	if c.SecretKey != "" {
		keys = append(keys, c.SecretKey)
	}
	return append(keys, c.SecretKeys...)
}

// slogLevel is the lowest level to log: Logger.Level, or debug when Debug
// is set. fatal maps to slog.LevelError+4.
func (c config) slogLevel() slog.Level {
	if c.Debug {
		return slog.LevelDebug
	}
	switch c.Logger.Level {
	case "debug":
		return slog.LevelDebug
	case "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	case "fatal":
		return slog.LevelError + 4
	}
	return slog.LevelInfo
}

// check normalises c and validates it, reporting every problem found.
func (c *config) check() error {
	var ck configChecker
	c.checkTop(&ck)
	c.checkKVStore(&ck)
	c.checkStorage(&ck)
	c.checkEngine(&ck)
	c.checkOptions(&ck)
	return errors.Join(ck.errs...)
}

// Accepted names.
var (
	logLevels    = []string{"debug", "info", "warning", "error", "fatal"}
	logFormats   = []string{"text", "json"}
	kvTypes      = []string{"", "cache", "redis", "redis-cluster", "redis-roundrobin"}
	storageTypes = []string{"fs", "s3", "dos3", "gcs", "http+fs", "http+s3", "http+dos3"}
	s3ACLs       = []string{"private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"}
	dos3Regions  = []string{"nyc1", "nyc2", "nyc3", "ams2", "ams3", "sfo1", "sfo2", "sfo3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1"}
)

// configChecker gathers what check finds wrong, every key at once.
type configChecker struct{ errs []error }

func (ck *configChecker) bad(path, format string, args ...any) {
	ck.errs = append(ck.errs, &configError{path: path, msg: fmt.Sprintf(format, args...)})
}

func (ck *configChecker) oneOf(path, v string, names []string) {
	if !slices.Contains(names, v) {
		ck.bad(path, "%q is not one of %s", v, strings.Join(quoteAll(names), ", "))
	}
}

func (ck *configChecker) port(path string, p int) {
	if p < 1 || p > 65535 {
		ck.bad(path, "%d is not a port (1..65535)", p)
	}
}

func (ck *configChecker) atLeast(path string, v, least int64) {
	if v < least {
		ck.bad(path, "%d is below %d", v, least)
	}
}

func (ck *configChecker) notEmpty(path string, list []string) {
	for i, s := range list {
		if strings.TrimSpace(s) == "" {
			ck.bad(fmt.Sprintf("%s[%d]", path, i), "empty")
		}
	}
}

func (ck *configChecker) tokens(path string, list []string) {
	for i, s := range list {
		if !isToken(s) {
			ck.bad(fmt.Sprintf("%s[%d]", path, i), "%q is not an HTTP token", s)
		}
	}
}

func (ck *configChecker) headerValue(path, s string) {
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		ck.bad(path, "%q has control characters", s)
	}
}

func (ck *configChecker) httpURL(path, s string) {
	if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ck.bad(path, "%q is not an absolute http(s) URL", s)
	}
}

// checkTop checks the top-level keys and logger.
func (c *config) checkTop(ck *configChecker) {
	ck.port("port", c.Port)
	if c.AdminPort != 0 {
		ck.port("admin_port", c.AdminPort)
		if c.AdminPort == c.Port {
			ck.bad("admin_port", "%d is the same as port; use 0 to serve admin routes on port", c.AdminPort)
		}
	}
	ck.notEmpty("secret_keys", c.SecretKeys)
	ck.notEmpty("allowed_origins", c.AllowedOrigins)
	ck.tokens("allowed_methods", c.AllowedMethods)
	ck.tokens("allowed_headers", c.AllowedHeaders)
	if c.Sentry.DSN != "" {
		ck.httpURL("sentry.dsn", c.Sentry.DSN)
	}
	c.Logger.Level = strings.ToLower(c.Logger.Level)
	if c.Logger.Level == "warn" {
		c.Logger.Level = "warning"
	}
	ck.oneOf("logger.level", c.Logger.Level, logLevels)
	c.Logger.Format = strings.ToLower(c.Logger.Format)
	ck.oneOf("logger.format", c.Logger.Format, logFormats)
	ck.notEmpty("logger.context_keys", c.Logger.ContextKeys)
}

// checkKVStore checks the selected kvstore section only.
func (c *config) checkKVStore(ck *configChecker) {
	kv := &c.KVStore
	if kv.Type == "dummy" {
		kv.Type = ""
	}
	ck.oneOf("kvstore.type", kv.Type, kvTypes)
	switch kv.Type {
	case "cache":
		ck.atLeast("kvstore.cache.max_entries", int64(kv.Cache.MaxEntries), 1)
	case "redis":
		if kv.Redis.Host == "" {
			kv.Redis.Host = "127.0.0.1"
		}
		ck.port("kvstore.redis.port", kv.Redis.Port)
		ck.atLeast("kvstore.redis.db", int64(kv.Redis.DB), 0)
	case "redis-cluster":
		rc := &kv.RedisCluster
		if len(rc.Addrs) == 0 && len(kv.Redis.Addrs) > 0 {
			rc.Addrs = slices.Clone(kv.Redis.Addrs)
			if rc.Password == "" {
				rc.Password = kv.Redis.Password
			}
			if rc.Expiration == 0 {
				rc.Expiration = kv.Redis.Expiration
			}
		}
		if len(rc.Addrs) == 0 {
			ck.bad("kvstore.redis-cluster.addrs", "empty; type redis-cluster needs host:port addresses")
		}
		for i, a := range rc.Addrs {
			if h, p, err := net.SplitHostPort(a); err != nil || h == "" || !validPort(p) {
				ck.bad(fmt.Sprintf("kvstore.redis-cluster.addrs[%d]", i), "%q is not host:port", a)
			}
		}
	case "redis-roundrobin":
		rr := &kv.RedisRoundRobin
		if len(rr.Addrs) == 0 {
			ck.bad("kvstore.redis-roundrobin.addrs", "empty; type redis-roundrobin needs redis:// URLs")
		}
		for i, a := range rr.Addrs {
			if u, err := url.Parse(a); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
				ck.bad(fmt.Sprintf("kvstore.redis-roundrobin.addrs[%d]", i), "%q is not a redis:// URL", a)
			}
		}
	}
}

// checkStorage checks storage.src, then dst, which defaults to src, and
// dst-ro; then shard.
func (c *config) checkStorage(ck *configChecker) {
	st := &c.Storage
	check := func(path string, s *storageConfig) {
		if *s == (storageConfig{}) {
			return
		}
		if s.Type == "" {
			ck.bad(path+".type", "missing; want one of %s", strings.Join(quoteAll(storageTypes), ", "))
			return
		}
		ck.oneOf(path+".type", s.Type, storageTypes)
		base := strings.TrimPrefix(s.Type, "http+")
		if strings.HasPrefix(s.Type, "http+") && s.BaseURL == "" {
			ck.bad(path+".base_url", "missing; type %s reads sources from it", s.Type)
		}
		if s.BaseURL != "" {
			ck.httpURL(path+".base_url", s.BaseURL)
		}
		if base == "s3" || base == "dos3" || base == "gcs" {
			if s.BucketName == "" {
				ck.bad(path+".bucket_name", "missing; type %s needs a bucket", s.Type)
			}
		}
		if base == "dos3" {
			ck.oneOf(path+".region", s.Region, dos3Regions)
		}
		if s.ACL != "" {
			ck.oneOf(path+".acl", s.ACL, s3ACLs)
		}
		if s.Endpoint != "" {
			ck.httpURL(path+".endpoint", s.Endpoint)
		}
		ck.headerValue(path+".cache_control", s.CacheControl)
	}
	check("storage.src", &st.Src)
	if st.Dst == (storageConfig{}) {
		st.Dst = st.Src
	} else {
		check("storage.dst", &st.Dst)
	}
	if st.DstRO != (storageConfig{}) {
		if st.Dst == (storageConfig{}) {
			ck.bad("storage.dst-ro", "set without storage.dst (or storage.src) to write the results to")
		}
		check("storage.dst-ro", &st.DstRO)
	}

	// shard
	ck.atLeast("shard.width", int64(c.Shard.Width), 0)
	ck.atLeast("shard.depth", int64(c.Shard.Depth), 0)
	if c.Shard.Width > 0 && c.Shard.Depth > 0 && int64(c.Shard.Width)*int64(c.Shard.Depth) > 32 {
		ck.bad("shard.width", "width*depth is %d, above the 32 characters of a key", int64(c.Shard.Width)*int64(c.Shard.Depth))
	}
}

// checkEngine checks the engine section.
func (c *config) checkEngine(ck *configChecker) {
	if q := c.Engine.Quality; q < 1 || q > 100 {
		ck.bad("engine.quality", "%d is not in 1..100", q)
	}
	format := func(path string, f *string) {
		*f = strings.ToLower(*f)
		if v, ok := parseFormat(*f, false); ok {
			*f = v.String() // "jpg" is "jpeg"
		} else if *f != "" {
			ck.oneOf(path, *f, imageFormatNames())
		}
	}
	for _, q := range []struct {
		path string
		q    int
	}{{"engine.jpeg_quality", c.Engine.JPEGQuality}, {"engine.webp_quality", c.Engine.WebPQuality}} {
		if q.q < 0 || q.q > 100 {
			ck.bad(q.path, "%d is not in 1..100 (0: engine.quality)", q.q)
		}
	}
	format("engine.format", &c.Engine.Format)
	if c.Engine.DefaultFormat == "" {
		c.Engine.DefaultFormat = defaultFormat
	}
	format("engine.default_format", &c.Engine.DefaultFormat)
}

// checkOptions checks the options section.
func (c *config) checkOptions(ck *configChecker) {
	o := &c.Options
	for i, s := range o.AllowedSizes {
		if s.Width < 0 || s.Height < 0 {
			ck.bad(fmt.Sprintf("options.allowed_sizes[%d]", i), "negative size %dx%d", s.Width, s.Height)
		}
	}
	for i, h := range o.AllowedHosts {
		o.AllowedHosts[i] = strings.ToLower(h)
		if h == "" || strings.ContainsAny(h, "/ \t") {
			ck.bad(fmt.Sprintf("options.allowed_hosts[%d]", i), "%q is not a host name", h)
		}
	}
	ck.headerValue("options.default_user_agent", o.DefaultUserAgent)
	ck.headerValue("options.cache_control", o.CacheControl)
	ck.atLeast("options.max_source_bytes", o.MaxSourceBytes, 1)
	ck.atLeast("options.max_source_pixels", o.MaxSourcePixels, 1)
	ck.atLeast("options.max_output_dimension", int64(o.MaxOutputDimension), 1)
	ck.atLeast("options.max_output_pixels", o.MaxOutputPixels, 1)
	ck.atLeast("options.max_output_total_pixels", o.MaxOutputTotalPixels, 1)
	ck.atLeast("options.max_memory", int64(o.MaxMemory), 0)
	ck.atLeast("options.max_operations", int64(o.MaxOperations), 1)
	ck.atLeast("options.max_processor_concurrent", int64(o.MaxProcessorConcurrent), 1)
	for i, op := range o.MaxProcessorConcurrentOperations {
		if _, ok := parseOpKind(op); !ok {
			ck.bad(fmt.Sprintf("options.max_processor_concurrent_operations[%d]", i), "%q is not an operation", op)
		}
	}
	ck.atLeast("options.max_queue", int64(o.MaxQueue), 0)
	ck.atLeast("options.max_store_queue", int64(o.MaxStoreQueue), 1)
	if o.FetchTimeout == 0 {
		ck.bad("options.fetch_timeout", "must be above 0")
	}
	if o.RequestTimeout == 0 {
		ck.bad("options.request_timeout", "must be above 0")
	}
}

// noEffectKeys names the keys of the original that c sets to something
// other than their zero value and that have no effect here, for one
// startup log line (a png_compression of 0, the original's default, is
// not worth a word).
func (c config) noEffectKeys() []string {
	var keys []string
	add := func(set bool, key string) {
		if set {
			keys = append(keys, key)
		}
	}
	e, o := c.Engine, c.Options
	add(e.PNGCompression != 0, "engine.png_compression")
	add(e.ImageBufferSize != 0, "engine.image_buffer_size")
	add(e.MaxBufferSize != 0, "engine.max_buffer_size")
	add(e.Backends != nil, "engine.backends")
	add(o.MimetypeDetector != "", "options.mimetype_detector")
	add(o.FreeMemoryInterval != 0, "options.free_memory_interval")
	for _, st := range []struct {
		path string
		sc   storageConfig
	}{{"storage.src", c.Storage.Src}, {"storage.dst", c.Storage.Dst}, {"storage.dst-ro", c.Storage.DstRO}} {
		if st.path == "storage.dst" && st.sc == c.Storage.Src {
			continue // copied from src by check
		}
		add(st.sc.Name != "", st.path+".name")
		add(st.sc.CacheControl != "" && strings.TrimPrefix(st.sc.Type, "http+") == "fs", st.path+".cache_control")
	}
	for i, k := range c.Logger.ContextKeys {
		add(!slices.Contains(contextKeyNames, k), fmt.Sprintf("logger.context_keys[%d]", i))
	}
	return keys
}

// contextKeyNames are the logger.context_keys that have an effect.
var contextKeyNames = []string{"request-id", "request_id", "key"}

func quoteAll(names []string) []string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return q
}

func validPort(s string) bool {
	p, err := strconv.Atoi(s)
	return err == nil && p >= 1 && p <= 65535
}

// isToken reports whether s is an HTTP token (RFC 9110), as method and
// header names are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// configHelp is what `picfit --help` prints after the usage lines: every
// config key with its type, its default written as JSON, and its meaning.
// config_test.go checks it against the config struct and defaultConfig.
const configHelp = `Config file: JSON, given with -c FILE, --config FILE or $PICFIT_CONFIG_PATH.
Every key is optional: a missing key keeps its default, also inside a section
that is present, and null counts as missing. An unknown key, a wrong type or
an invalid value stops picfit with an error naming the key (every unknown
key at once). Key names match in any case. Every key of the original picfit
0.16 is read; those without effect here are named in a startup log line.
Durations are strings like "10s" or "1m30s", or numbers of seconds. Each key
below is shown with its type and its default as JSON;
storage.{src,dst,dst-ro}.KEY stands for storage.src.KEY, storage.dst.KEY and
storage.dst-ro.KEY.

Server:
  port              int                3001
      HTTP port, 1..65535.
  admin_port        int                0
      Serve upload, delete, stats, health, pprof and metrics on this port instead; 0: on port.
  shutdown_timeout  duration           "30s"
      On SIGINT/SIGTERM, wait this long for requests and background stores; 0: no limit.
  debug             bool               false
      Log at debug level whatever logger.level says.
  logger.level      string             "info"
      debug, info, warning (or warn), error or fatal; the original defaults to debug.
  logger.format     string             "text"
      Log line format: text or json.
  logger.context_keys  []string        []
      Add to each line logged during a request: request-id (or request_id), key. Also "contextkeys".
  sentry.dsn        string             ""
      Sentry DSN URL to report errors to; empty: no Sentry.
  sentry.tags       map[string]string  {}
      Tags added to every Sentry event.

Signing and CORS:
  secret_key       string    ""
      When set, /display, /redirect and /get need sig, the hex HMAC-SHA1 of the sorted query.
  secret_keys      []string  []
      More keys a sig may be made with, for rotation (also turns signing on).
  allowed_origins  []string  []
      CORS origins: "*", "https://www.example.com", "https://*.example.com", or without the scheme
      (the original's "*.example.com": any scheme); empty: no CORS.
  allowed_methods  []string  ["GET","HEAD"]
      CORS methods.
  allowed_headers  []string  []
      CORS request headers.

Key/value store (remembers which stored file answers which request):
  kvstore.type                         string    ""
      "" (none: every request is processed), cache, redis, redis-cluster or redis-roundrobin.
  kvstore.prefix                       string    ""
      Prepended to every key written to the store.
  kvstore.cache.max_entries            int       100000
      Keys kept in memory; the least recently used are evicted.
  kvstore.cache.expiration             duration  "0s"
      Key lifetime; 0: until evicted.
  kvstore.cache.cleanup_interval       duration  "0s"
      Sweep expired keys out of memory this often; 0: when next looked up or evicted.
  kvstore.redis.host                   string    "127.0.0.1"
      Redis host; empty: 127.0.0.1.
  kvstore.redis.port                   int       6379
      Redis port.
  kvstore.redis.password               string    ""
      Redis AUTH password; empty: none.
  kvstore.redis.db                     int       0
      Redis database number.
  kvstore.redis.expiration             duration  "0s"
      Key lifetime; 0: forever.
  kvstore.redis.addrs                  []string  []
      The original README's place for redis-cluster addrs; used when redis-cluster.addrs is empty.
  kvstore.redis-cluster.addrs          []string  []
      Cluster nodes as host:port.
  kvstore.redis-cluster.password       string    ""
      Cluster AUTH password; empty: none (or kvstore.redis.password).
  kvstore.redis-cluster.expiration     duration  "0s"
      Key lifetime; 0: forever.
  kvstore.redis-roundrobin.addrs       []string  []
      redis:// URLs; reads go round robin, a write refused by a replica moves on.
  kvstore.redis-roundrobin.password    string    ""
      AUTH password of the addrs that give none (in the URL or as ?password=).
  kvstore.redis-roundrobin.expiration  duration  "0s"
      Key lifetime; 0: forever.

Storage (src holds the sources; dst receives the results and is src when omitted;
dst-ro, when set, is where stored results are read from and their path and url
reported, while they are written to and deleted from dst):
  storage.{src,dst,dst-ro}.type               string  ""
      fs, s3, dos3, gcs, http+fs, http+s3 or http+dos3 (http+: read sources from base_url).
  storage.{src,dst,dst-ro}.location           string  ""
      Directory (fs; empty: working directory) or key prefix in the bucket.
  storage.{src,dst,dst-ro}.base_url           string  ""
      Public URL of location (fs) or of the bucket (s3: key appended); required by http+.
  storage.{src,dst,dst-ro}.access_key_id      string  ""
      S3 (or GCS HMAC) access key.
  storage.{src,dst,dst-ro}.secret_access_key  string  ""
      S3 (or GCS HMAC) secret.
  storage.{src,dst,dst-ro}.bucket_name        string  ""
      Bucket; required by s3, dos3, gcs.
  storage.{src,dst,dst-ro}.acl                string  ""
      ACL: private public-read public-read-write authenticated-read bucket-owner-{read,full-control}.
  storage.{src,dst,dst-ro}.region             string  ""
      S3 region (AWS's without endpoint); dos3: nyc1 nyc2 nyc3 ams2 ams3 sfo1 sfo2 sfo3 sgp1
      lon1 fra1 tor1 blr1 syd1.
  storage.{src,dst,dst-ro}.endpoint           string  ""
      S3-compatible service URL (MinIO, B2, R2...); path-style addressing when set.
  storage.{src,dst,dst-ro}.cache_control      string  ""
      Cache-Control stored with each object written to s3, dos3, gcs; none on fs.
  storage.{src,dst,dst-ro}.name               string  ""
      The original's storage label; no effect here.

Stored names and output:
  shard.width            int     0
      Key characters per directory of a stored name.
  shard.depth            int     0
      Directories in a stored name; width*depth <= 32.
  shard.restonly         bool    true
      Leave the directory characters out of the file name.
  engine.quality         int     95
      JPEG and WebP quality when q= is absent, 1..100.
  engine.format          string  ""
      Output format when fmt= is absent, whatever the source: jpeg (or jpg), png, gif, bmp, webp.
  engine.default_format  string  "png"
      Output format when nothing else decides.
  engine.jpeg_quality       int       0
      JPEG quality when q= is absent, 1..100; 0: engine.quality.
  engine.webp_quality       int       0
      WebP quality when q= is absent, 1..100; 0: engine.quality.
  engine.png_compression    int       0
      The original's PNG level; no effect here (picfit has its own).
  engine.image_buffer_size  int       0
      The original's buffer size; no effect here.
  engine.max_buffer_size    int       0
      The original's buffer size; no effect here.
  engine.backends           object    null
      The original's goimage/gifsicle backends (weight, mimetypes, path); no effect here.
  engine.jpeg_progressive  bool  false
      Write progressive JPEGs (DC first, then bands of AC coefficients), not baseline ones.

Options: routes:
  options.enable_upload          bool    false
      Serve POST /upload into the source storage.
  options.enable_delete          bool    false
      Serve DELETE of sources and results.
  options.enable_cascade_delete  bool    false
      Deleting a source deletes its results too (needs a kvstore).
  options.enable_stats           bool    false
      Serve GET /sys/stats.
  options.enable_health          bool    false
      Serve GET /sys/health.
  options.enable_pprof           bool    false
      Serve /debug/pprof/ and /debug/vars.
  options.enable_prometheus      bool    false
      Serve GET /metrics.
  options.cache_control          string  "must-revalidate"
      Cache-Control header of image responses.

Options: access:
  options.allowed_sizes           []object  []
      Only these sizes may be requested, [{"width":W,"height":H}]; others are 403.
  options.allowed_sizes[].width   int       0
      Allowed w; omitted: 0 (w absent).
  options.allowed_sizes[].height  int       0
      Allowed h; omitted: 0 (h absent).
  options.allowed_ip_addresses    []string  []
      IPs or CIDRs allowed on upload, delete, stats, health, pprof, metrics; empty: all.
  options.trusted_proxies         []string  []
      IPs or CIDRs whose X-Forwarded-For is believed.
  options.allowed_hosts           []string  []
      Host names url= may fetch from; empty: any public host.
  options.allow_private_networks  bool      false
      Let url= reach loopback, private and link-local addresses.
  options.disable_url             bool      false
      Refuse url= sources altogether.
  options.default_user_agent      string    "picfit/1"
      User-Agent sent when fetching url= sources.

Options: limits (cannot be 0: omit a key to keep its default):
  options.max_image_dimensions      object    null
      {"width":W,"height":H} (or "WxH"): sources both wider than W and taller than H are refused.
  options.max_source_bytes          int       67108864
      Bytes read from a source (64 MiB).
  options.max_source_pixels         int       100000000
      Width*height*frames of a source, read before decoding.
  options.max_output_dimension      int       8192
      Largest w or h a request may ask for (400 above).
  options.max_output_pixels         int       40000000
      Width*height of a result.
  options.max_output_total_pixels   int       100000000
      Width*height*frames of a result (an animation), refused before decoding.
  options.max_memory                size      0
      Memory budget of image work: bytes, or a string like "512MiB" or "1GB".
      Each request's peak is estimated from its sources' headers before
      decoding; one over the whole budget is a 413, others wait their turn
      (429 past max_queue). The Go runtime's soft memory limit is set to it
      plus 64 MiB unless GOMEMLIMIT is set. 0: half the machine's memory, or
      of the cgroup's limit.
  options.max_operations            int       10
      Operations in one request's chain.
  options.max_processor_concurrent  int       NumCPU
      Images processed at once; default: the number of CPUs.
  options.max_processor_concurrent_operations  []string  []
      When set, only requests with one of these operations wait for max_processor_concurrent/max_queue.
  options.max_queue                 int       64
      Requests waiting for a processor before 429; 0 allowed: none wait.
  options.max_store_queue           int       256
      /display results waiting to be stored in the background.
  options.fetch_timeout             duration  "10s"
      Time to fetch a url= source, redirects included.
  options.request_timeout           duration  "1m0s"
      Time for a whole request; also for sending a /display answer and receiving an upload.
  options.transform_timeout         duration  "0s"
      Time to process an image once it holds a processor (504 past it); 0: request_timeout.
  options.mimetype_detector         string    ""
      The original's MIME type detector; no effect here (picfit reads the bytes).
  options.free_memory_interval      int       0
      The original's memory release interval; no effect here.
`
