// Command picfit is an HTTP server that resizes and transforms images on
// the fly, a drop-in replacement for thoas/picfit. See README.md.
//
// A request is parsed at the edge into a typed request (handlers.go,
// request.go), looked up in the key/value store and the destination
// storage, and on a miss made once: admitted (admission.go), its source
// read and its header inspected once (inspectSource), its memory
// reserved from an estimate (budget.go), then transformed. The engine
// (transform.go, plan.go) plans from the header alone what the first
// operation does to the size and which route decodes the source (a
// JPEG's DCT scaling and planes, PNG or WebP rows scaled as they are
// decoded, an animation frame by frame, or the whole image), decodes by
// it into one kind of picture, finishes the first operation, converts
// colours to sRGB, runs the rest of the chain on each frame kept and
// encodes with picfit's own pure-Go codecs. The result is stored,
// remembered and served; errors are sentinels (errors.go) mapped to a
// status in one place, httpStatus.
package main

// The command line, the server's construction from the config, and serve.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// version is set at build time with -ldflags "-X main.version=...";
// otherwise it comes from the module's build information.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "picfit:", err)
		os.Exit(1)
	}
}

const usage = `picfit resizes and transforms images over HTTP.

Usage:
  picfit [-c FILE]                        serve (config from FILE or $PICFIT_CONFIG_PATH;
                                          without one: port 3001, url= sources only)
  picfit signature --key=KEY "QUERY"      sign a query string
  picfit version (or --version, -v)       print the version
  picfit --help                           this text and every config key

`

// run is picfit's whole command line; main only adds the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "version", "v", "--version", "-version", "-v": // v: the original's short command
			fmt.Fprintln(stdout, "picfit", buildVersion())
			return nil
		case "signature", "s": // s: the original's short command
			return runSignature(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("picfit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	fs.StringVar(&path, "c", "", "config file")
	fs.StringVar(&path, "config", "", "config file")
	fs.Usage = func() { fmt.Fprint(stdout, usage, configHelp) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unknown command %q (see picfit --help)", fs.Arg(0))
	}
	if path == "" {
		path = getenv("PICFIT_CONFIG_PATH")
	}
	cfg := defaultConfig()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		cfg, err = loadConfig(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return serve(ctx, cfg, stderr)
}

// runSignature prints a query string's signature, as the original does
// but with the same signature on both lines.
func runSignature(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("signature", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "the secret key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *key == "" || fs.NArg() != 1 {
		return errors.New(`usage: picfit signature --key=KEY "QUERY"`)
	}
	q := fs.Arg(0)
	v, err := url.ParseQuery(q)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	sig := sign(*key, v)
	fmt.Fprintf(stdout, "Query String: %s\nSignature: %s\nSigned Query String: %s&sig=%s\n", q, sig, q, sig)
	return nil
}

// serve runs the server on cfg.Port until ctx is cancelled.
func serve(ctx context.Context, cfg config, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	// go-redis logs to os.Stderr by itself (a failed dial, ...); its
	// logger is the process's, so it is set here, once per process.
	redis.SetLogger(redisLogger{log})
	s, err := newServer(cfg, log, time.Now)
	if err != nil {
		return err
	}
	if debug.SetMemoryLimit(-1) == math.MaxInt64 { // GOMEMLIMIT is not set
		// The collector works harder as the heap nears the budget, so
		// freed images are returned before the process grows past it.
		debug.SetMemoryLimit(s.budget.total + memoryHeadroom)
	}
	log.Info("memory budget", "max_memory", formatBytes(s.budget.total))
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("port %d: %w", cfg.Port, err)
	}
	return s.serve(ctx, ln, time.Duration(cfg.ShutdownTimeout))
}

// serve answers on ln until ctx is cancelled, then stops accepting, lets
// in-flight requests and queued stores finish within grace, and returns.
func (s *server) serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	return s.serveReady(ctx, ln, grace, nil)
}

// serveReady is serve that calls ready, when not nil, once every
// listener is open and served: admin is the admin listener's address,
// nil without admin_port. Tests wait on it instead of polling the ports.
func (s *server) serveReady(ctx context.Context, ln net.Listener, grace time.Duration, ready func(admin net.Addr)) error {
	hs := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{hs}
	errc := make(chan error, 2)
	var adminAddr net.Addr
	if s.adminPort > 0 {
		aln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.adminPort)))
		if err != nil {
			return fmt.Errorf("admin_port: %w", err)
		}
		adminAddr = aln.Addr()
		as := &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, as)
		s.log.Info("admin listening", "addr", aln.Addr().String())
		go func() { errc <- as.Serve(aln) }()
	}
	if m, ok := s.kv.(*memoryKV); ok {
		go m.sweepEvery(ctx) // kvstore.cache.cleanup_interval
	}
	s.log.Info("picfit listening", "addr", ln.Addr().String(), "version", s.version)
	go func() { errc <- hs.Serve(ln) }()
	if ready != nil {
		ready(adminAddr)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.Background(), context.CancelFunc(func() {})
	if grace > 0 { // 0: wait as long as it takes
		sctx, cancel = context.WithTimeout(sctx, grace)
	}
	defer cancel()
	// Running out of grace is not a failure of the stop that was asked
	// for: what was cut is logged, and serve still returns nil (exit 0),
	// so a routine deploy under load does not leave a unit "failed".
	var err error
	for _, srv := range servers {
		serr := srv.Shutdown(sctx)
		if errors.Is(serr, context.DeadlineExceeded) {
			s.log.Warn("shutdown_timeout reached, closing the connections still open", "grace", grace.String())
			serr = srv.Close()
		}
		if err == nil {
			err = serr
		}
	}
	s.stores.stop(sctx) // within what is left of grace
	if c, ok := s.kv.(io.Closer); ok {
		c.Close()
	}
	s.sentry.close()
	s.log.Info("stopped")
	return err
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.slogLevel()}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Logger.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(withContextKeys(h, cfg.Logger.ContextKeys))
}

// newServer builds the server from cfg: storages, kv store, limits.
func newServer(cfg config, log *slog.Logger, now func() time.Time) (*server, error) {
	o := cfg.Options
	s := &server{
		log:    log,
		prefix: cfg.KVStore.Prefix,
		shard:  cfg.Shard,
		engine: engineOptions{
			quality:         cfg.Engine.Quality,
			jpegQuality:     cfg.Engine.JPEGQuality,
			webpQuality:     cfg.Engine.WebPQuality,
			jpegProgressive: cfg.Engine.JPEGProgressive,
			format:          configFormat(cfg.Engine.Format),
			defaultFormat:   configFormat(cfg.Engine.DefaultFormat),
			maxOutputPixels: o.MaxOutputPixels,
			decode:          decodeLimits{maxPixels: o.MaxSourcePixels, maxDimensions: o.MaxImageDimensions},
			log:             log,
			colours:         newColourCache(),
		},
		limits:         requestLimits{maxDimension: o.MaxOutputDimension, maxPixels: o.MaxOutputPixels, maxOperations: o.MaxOperations},
		fetcher:        newFetcher(time.Duration(o.FetchTimeout), o.AllowPrivateNetworks, o.DefaultUserAgent, o.MaxSourceBytes, o.AllowedHosts),
		limiter:        newLimiter(o.MaxProcessorConcurrent, o.MaxQueue, o.MaxProcessorConcurrentOperations...),
		budget:         newMemBudget(memoryBudget(o)),
		maxOutputTotal: o.MaxOutputTotalPixels,
		secretKeys:     cfg.secretKeys(),
		allowedSizes:   o.AllowedSizes,
		cacheControl:   o.CacheControl,
		maxSourceBytes: o.MaxSourceBytes,
		requestTimeout: time.Duration(o.RequestTimeout),
		writeTimeout:   time.Duration(o.RequestTimeout),
		disableURL:     o.DisableURL,
		cascadeDelete:  o.EnableCascadeDelete,
		metrics:        newMetrics(now),
		admin: adminOptions{
			stats:          o.EnableStats,
			health:         o.EnableHealth,
			pprof:          o.EnablePprof,
			prometheus:     o.EnablePrometheus,
			upload:         o.EnableUpload,
			delete:         o.EnableDelete,
			allowed:        o.AllowedIPAddresses,
			trustedProxies: o.TrustedProxies,
		},
		adminPort: cfg.AdminPort,
		version:   buildVersion(),
		started:   now(),
		now:       now,

		transformTimeout: time.Duration(o.TransformTimeout),
	}
	if keys := cfg.noEffectKeys(); len(keys) > 0 {
		log.Info("these keys of the original picfit have no effect here", "keys", strings.Join(keys, " "))
	}
	s.fetcher.log = log
	var err error
	if s.sentry, err = newSentryReporter(cfg.Sentry.DSN, cfg.Sentry.Tags, s.version, log, now); err != nil {
		return nil, err
	}
	if s.cors, err = newCORSPolicy(cfg.AllowedOrigins, cfg.AllowedMethods, cfg.AllowedHeaders); err != nil {
		return nil, err
	}
	if cfg.Storage.Src.Type != "" {
		if err := checkSourceFolder(cfg.Storage.Src); err != nil {
			return nil, fmt.Errorf("storage.src.location: %w", err)
		}
		if s.src, err = newStorage(cfg.Storage.Src, o); err != nil {
			return nil, fmt.Errorf("storage.src: %w", err)
		}
		s.dst = s.src
	}
	if cfg.Storage.Dst.Type != "" {
		if s.dst, err = newStorage(cfg.Storage.Dst, o); err != nil {
			return nil, fmt.Errorf("storage.dst: %w", err)
		}
	}
	if cfg.Storage.DstRO.Type != "" {
		if s.dstRead, err = newStorage(cfg.Storage.DstRO, o); err != nil {
			return nil, fmt.Errorf("storage.dst-ro: %w", err)
		}
	}
	if (o.EnableUpload || o.EnableDelete) && len(o.AllowedIPAddresses) == 0 {
		log.Warn("upload or delete is enabled for every client: set options.allowed_ip_addresses to restrict them")
	}
	switch cfg.KVStore.Type {
	case "":
	case "cache":
		m := newMemoryKV(cfg.KVStore.Cache.MaxEntries, time.Duration(cfg.KVStore.Cache.Expiration), now)
		m.cleanup = time.Duration(cfg.KVStore.Cache.CleanupInterval)
		s.kv = m
	case "redis":
		s.kv = newRedisKV(cfg.KVStore.Redis, defaultRedisTimeouts())
	case "redis-cluster":
		s.kv = newRedisClusterKV(cfg.KVStore.RedisCluster, defaultRedisTimeouts())
	case "redis-roundrobin":
		if s.kv, err = newRoundRobinKV(cfg.KVStore.RedisRoundRobin, defaultRedisTimeouts()); err != nil {
			return nil, fmt.Errorf("kvstore.redis-roundrobin: %w", err)
		}
	default:
		return nil, fmt.Errorf("kvstore.type: %q is not available in this build yet", cfg.KVStore.Type)
	}
	if strings.HasPrefix(cfg.KVStore.Type, "redis") {
		s.kv = newKVBreaker(s.kv, log, now) // an outage costs a timeout a second, not a call
	}
	s.stores = newStoreQueue(o.MaxStoreQueue, 2, s.store, log, time.Duration(o.RequestTimeout))
	s.stores.dropped = func() { s.metrics.add(storeDropped, 1) }
	return s, nil
}

// newStorage opens the storage that sc describes. The S3 client waits
// at most fetch_timeout for an answer's headers, the http+ reader at
// most fetch_timeout for the whole answer.
func newStorage(sc storageConfig, o optionsConfig) (storage, error) {
	timeout := time.Duration(o.FetchTimeout)
	switch sc.Type {
	case "fs":
		return newFSStorage(sc.Location, sc.BaseURL)
	case "s3", "dos3", "gcs":
		return newS3Storage(sc, timeout)
	case "http+fs", "http+s3", "http+dos3":
		inner := sc
		inner.Type = strings.TrimPrefix(sc.Type, "http+")
		wrapped, err := newStorage(inner, o)
		if err != nil {
			return nil, err
		}
		return newHTTPStorage(wrapped, timeout, o.DefaultUserAgent), nil
	}
	return nil, fmt.Errorf("type %q is unknown", sc.Type)
}

// checkSourceFolder reports a source folder (fs, http+fs) that does not
// exist: a typo in a path must not start picfit on an empty folder. A
// missing destination folder is created instead.
func checkSourceFolder(sc storageConfig) error {
	if strings.TrimPrefix(sc.Type, "http+") != "fs" || sc.Location == "" {
		return nil
	}
	fi, err := os.Stat(sc.Location)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%q does not exist (picfit creates a missing destination folder, not the source folder)", sc.Location)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%q is not a folder", sc.Location)
	}
	return nil
}

// buildVersion is the version stamped at build time, or the module
// version and VCS revision from the build information.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, _ := debug.ReadBuildInfo()
	return versionOf(bi)
}

// versionOf is the module version of bi (go install ...@v1.2.3), else
// the VCS revision and commit time it records (a build in a clone:
// "devel 0123456789ab 2026-01-02T03:04:05Z", "+dirty" when modified),
// else "devel"; never Go's "(devel)".
func versionOf(bi *debug.BuildInfo) string {
	if bi == nil {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return strings.TrimSpace("devel " + rev + dirty + " " + when)
}

func goVersion() string { return runtime.Version() }
