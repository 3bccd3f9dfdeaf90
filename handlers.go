package main

// The routes and the image handlers: parse, authorise, find, make, write.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// server holds picfit's dependencies. Per-request data never lives here.
type server struct {
	log     *slog.Logger
	src     storage // source storage, nil: url= sources only
	dst     storage // destination storage, nil: results are not stored
	kv      kvStore // nil: every request is processed
	prefix  string  // kvstore.prefix
	shard   shardConfig
	engine  engineOptions
	limits  requestLimits
	fetcher *fetcher
	limiter *limiter
	budget  *memBudget // options.max_memory
	flight  flightGroup
	stores  *storeQueue
	cors    *corsPolicy // nil: no CORS headers
	metrics *metrics
	sentry  *sentryReporter // nil: no error reporting
	admin   adminOptions
	// adminPort > 0 serves the admin routes on their own listener on
	// 127.0.0.1 instead of the main one.
	adminPort int

	secretKeys     []string
	allowedSizes   []allowedSize
	cacheControl   string
	maxSourceBytes int64
	// maxOutputTotal caps width*height*frames of a result.
	maxOutputTotal int64
	requestTimeout time.Duration
	// writeTimeout bounds sending a /display answer, from its first
	// byte: request_timeout (see setWriteDeadline).
	writeTimeout  time.Duration
	disableURL    bool
	cascadeDelete bool

	version string
	started time.Time
	now     func() time.Time

	// transformTimeout bounds transform once a request holds a processor
	// (options.transform_timeout); 0: no bound of its own.
	transformTimeout time.Duration
	// dstRead is where stored results are read from and their path and
	// url reported: storage.dst-ro, else dst.
	dstRead storage
}

// routes lists every route picfit serves.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthcheck", s.handleHealthcheck)
	for _, method := range []string{"display", "redirect", "get"} {
		h := s.handleImage(method)
		mux.HandleFunc("GET /"+method, h)
		if s.src != nil {
			mux.HandleFunc("GET /"+method+"/{rest...}", h)
		}
	}
	if s.adminPort == 0 {
		s.adminRoutes(mux)
	}
	return s.observe(s.recoverPanics(s.cors.wrap(mux)))
}

// adminHandler serves the admin routes alone, for admin_port.
func (s *server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	s.adminRoutes(mux)
	return s.observe(s.recoverPanics(mux))
}

// recoverPanics turns a panic in a handler into a *panicError that fail
// answers, as it does those recovered in the goroutines that process
// images (flightGroup.run, parallel): a logged 500.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.fail(w, r, recovered(v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *server) handleHealthcheck(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status":     "Ok",
		"version":    s.version,
		"go_version": goVersion(),
		"uptime":     s.now().Sub(s.started).Round(time.Second).String(),
		"started_at": s.started.UTC().Format(time.RFC3339),
	})
}

// handleImage serves /display, /redirect and /get, query and path style:
// parse, authorise, look up (kv, then the destination), process, answer.
func (s *server) handleImage(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := s.parse(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if req.negotiated {
			w.Header().Add("Vary", "Accept")
		}
		ri := info(r.Context())
		ri.key, ri.cache = req.key, "hit"
		if method != "display" && s.dst == nil {
			s.fail(w, r, fmt.Errorf("%w: /%s needs a destination storage (storage.dst or storage.src)", errBadParam, method))
			return
		}
		etag := `"` + req.key + `"`
		if method == "display" && !req.force && etagMatches(r.Header.Get("If-None-Match"), req.key) {
			w.Header().Set("ETag", etag)
			w.Header().Set("Cache-Control", s.cacheControl)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout)
		defer cancel()

		sync := method != "display"
		out, err := s.find(ctx, req, !sync)
		if err == nil && out.name == "" && out.data == nil {
			ri.cache = "miss"
			s.metrics.add(cacheMisses, 1)
			out, err = s.make(ctx, req, sync)
		} else if err == nil {
			s.metrics.add(cacheHits, 1)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		switch method {
		case "get":
			writeJSON(w, http.StatusOK, map[string]string{
				"filename": path.Base(out.name),
				"key":      req.key,
				"path":     s.readDst().Path(out.name),
				"url":      s.readDst().URL(out.name),
			})
		case "redirect":
			u := s.readDst().URL(out.name)
			if u == "" {
				s.fail(w, r, fmt.Errorf("%w: redirect needs a base_url on the destination storage", errBadParam))
				return
			}
			http.Redirect(w, r, u, http.StatusMovedPermanently)
		default:
			body, err := s.responseBody(ctx, out)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			defer body.Close()
			out.data = nil // body holds them while it needs them
			h := w.Header()
			h.Set("Content-Type", out.format.contentType())
			h.Set("ETag", etag)
			h.Set("Cache-Control", s.cacheControl)
			s.setWriteDeadline(w)
			http.ServeContent(w, r, "", out.modTime, body)
		}
	}
}

// parse turns an image request into a checked request: parameters from
// the path and the query, signature, allowed sizes.
func (s *server) parse(r *http.Request) (*request, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", errBadParam, err)
	}
	params := query
	if rest := r.PathValue("rest"); rest != "" {
		fromPath, err := parsePathStyle(rest)
		if err != nil {
			return nil, err
		}
		params = mergeParams(fromPath, query)
	}
	if len(s.secretKeys) > 0 && !verifySignature(s.secretKeys, params, params.Get("sig")) {
		return nil, errSignature
	}
	req, err := parseRequest(params, s.limits)
	if err != nil {
		return nil, err
	}
	req.negotiate(r.Header.Get("Accept"))
	if req.url != nil && s.disableURL {
		return nil, fmt.Errorf("%w: url: url sources are disabled (options.disable_url)", errForbidden)
	}
	if req.path != "" && s.src == nil {
		return nil, fmt.Errorf("%w: path: no source storage is configured", errBadParam)
	}
	if s.src == nil && req.images() > 0 {
		return nil, fmt.Errorf("%w: op: flat path: no source storage is configured", errBadParam)
	}
	if err := s.checkSizes(req); err != nil {
		return nil, err
	}
	return req, nil
}

// checkSizes enforces options.allowed_sizes on every sizing operation,
// and on flat's size when it has one.
func (s *server) checkSizes(req *request) error {
	if len(s.allowedSizes) == 0 {
		return nil
	}
	for _, op := range req.ops {
		switch op.kind {
		case opResize, opThumbnail, opFit, opPad:
		case opFlat:
			if op.w == 0 && op.h == 0 {
				continue
			}
		default:
			continue
		}
		ok := false
		for _, a := range s.allowedSizes {
			if a.Width == op.w && a.Height == op.h {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("%w: Requested size not allowed", errForbidden)
		}
	}
	return nil
}

// made is a result found in or made for the destination storage.
type made struct {
	name    string         // stored name, "" when not stored (yet)
	format  format         // output format
	data    []byte         // the encoded image, when it was made or read whole
	body    readSeekCloser // the stored file, when found and opened
	modTime time.Time
	stored  bool // name holds data in the destination, and the kv knows it
	// landed, for a result stored in the background, tells when the
	// store has finished (see resultBody); nil otherwise.
	landed *landing
}

type readSeekCloser interface {
	io.ReadSeeker
	io.Closer
}

// find looks the result of req up: first in the kv store, then in the
// destination under its deterministic name. open asks for the file's
// content, otherwise existence is enough. A miss returns a zero made.
func (s *server) find(ctx context.Context, req *request, open bool) (made, error) {
	if req.force || s.dst == nil {
		return made{}, nil
	}
	var names []string
	kvName, kvUp := "", false // kvUp: the kv store answered, hit or miss
	if s.kv != nil {
		name, err := s.kv.Get(ctx, s.prefix+req.key)
		switch {
		case err == nil:
			names = append(names, name)
			kvName, kvUp = name, true
		case errors.Is(err, errNotFound):
			kvUp = true
		case !errors.Is(err, errKVDown): // the breaker's pause: already said
			s.log.Warn("kv get failed, serving uncached", "key", req.key, "err", err)
		}
	}
	if f := s.predictFormat(req); f != formatNone {
		if name := storedName(req.key, f, s.shard); len(names) == 0 || names[0] != name {
			names = append(names, name)
		}
	}
	for _, name := range names {
		m := made{name: name, format: guessFormat(name), stored: true}
		var err error
		if open {
			var rc io.ReadCloser
			var fi fileInfo
			rc, fi, err = s.readDst().Open(ctx, name)
			if err == nil {
				m.modTime = fi.modTime
				if rs, ok := rc.(readSeekCloser); ok {
					m.body = rs
				} else {
					m.data, err = readLimited(rc, s.maxSourceBytes, fi.size)
					rc.Close()
				}
			}
		} else {
			var fi fileInfo
			fi, err = s.readDst().Stat(ctx, name)
			m.modTime = fi.modTime
		}
		switch {
		case err == nil:
			if kvUp && name != kvName { // found by name: teach the kv
				s.remember(ctx, req, name)
			}
			return m, nil
		case errors.Is(err, errNotFound):
			continue // vanished or never made: regenerate
		default:
			return made{}, err
		}
	}
	return made{}, nil
}

// readDst is where stored results are read from and their path and url
// reported: storage.dst-ro when set, else the destination.
func (s *server) readDst() storage {
	if s.dstRead != nil {
		return s.dstRead
	}
	return s.dst
}

// predictFormat is the output format of req when it can be known without
// reading the source, from fmt, engine.format or the source's extension.
func (s *server) predictFormat(req *request) format {
	source := req.path
	if req.url != nil {
		source = req.url.Path
	}
	g := guessFormat(source)
	if onlyNoop(req.ops) {
		return g
	}
	if req.format == formatAuto || (req.format == formatNone && s.engine.format == formatNone && !g.image()) {
		return formatNone
	}
	return outputFormat(req.format, s.engine, g)
}

// make processes req once however many identical requests arrive
// together, in this instance and, through the kv store's lock, in the
// others sharing it; then stores the result: before returning when sync,
// in the background otherwise. The lock is held until the result is
// stored, so another instance finds it instead of making it again.
func (s *server) make(ctx context.Context, req *request, sync bool) (made, error) {
	m, err := s.flight.do(ctx, req.key, func(ctx context.Context) (made, error) {
		ctx, cancel := context.WithTimeout(ctx, s.requestTimeout)
		defer cancel()
		unlock, other, found := s.claim(ctx, req)
		if found {
			return other, nil
		}
		res, err := s.process(ctx, req)
		if err != nil {
			unlock()
			return made{}, err
		}
		m := made{format: res.format, data: res.data, modTime: s.now()}
		if s.dst == nil {
			unlock()
			return m, nil
		}
		m.name = storedName(req.key, res.format, s.shard)
		if sync {
			err := s.store(ctx, req, m)
			unlock()
			if err != nil {
				return made{}, err
			}
			m.stored = true
		} else {
			// The bytes wait in memory until stored: they count.
			held := s.budget.hold(int64(len(m.data)))
			m.landed = newLanding()
			s.stores.add(storeJob{req: req, m: m, done: func() { held(); unlock() }})
		}
		return m, nil
	})
	if err != nil {
		return made{}, err
	}
	if sync && !m.stored && s.dst != nil {
		// Joined a /display that stores in the background: store now.
		if err := s.store(ctx, req, m); err != nil {
			return made{}, err
		}
		m.stored = true
	}
	return m, nil
}

// Cross-instance lock on a result being made (see claim).
const (
	resultLockTTL  = 30 * time.Second      // how long a holder may take
	resultLockPoll = 50 * time.Millisecond // how often a waiter looks
)

// claim takes the kv store's lock on req's result, so that instances
// sharing the store do not make it at the same moment. It returns unlock
// (never nil) when this instance is to make the result, or, with found,
// the result another instance stored while this one waited. A waiter
// takes the lock itself once the holder lets go or the lock expires
// without a result, so a failed or dead holder delays it at most
// resultLockTTL. Without a locking kv store, or when the store fails,
// there is no lock: the result may then be made twice, never not at all.
func (s *server) claim(ctx context.Context, req *request) (unlock func(), other made, found bool) {
	noLock := func() {}
	locker, ok := s.kv.(kvLocker)
	if !ok || req.force || s.dst == nil {
		return noLock, made{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, resultLockTTL)
	defer cancel()
	tick := time.NewTicker(resultLockPoll)
	defer tick.Stop()
	for {
		unlock, acquired, err := locker.Lock(ctx, s.prefix+req.key+":lock", resultLockTTL)
		if err != nil {
			if !errors.Is(err, errKVDown) {
				s.log.Warn("kv lock failed, processing without it", "key", req.key, "err", err)
			}
			return noLock, made{}, false
		}
		// Looked up even with the lock: the holder may have just finished.
		m, err := s.storedResult(ctx, req)
		switch {
		case err == nil:
			if acquired {
				unlock()
			}
			return noLock, m, true
		case acquired:
			return unlock, made{}, false
		case !errors.Is(err, errNotFound):
			if !errors.Is(err, errKVDown) {
				s.log.Warn("kv lookup failed while waiting for another instance, processing", "key", req.key, "err", err)
			}
			return noLock, made{}, false
		}
		select {
		case <-ctx.Done():
			return noLock, made{}, false
		case <-tick.C:
		}
	}
}

// storedResult finds the result the kv store names for req in the
// destination; errNotFound when there is none (yet). It is not read:
// /display opens it (responseBody), so that a slow client holds a file.
func (s *server) storedResult(ctx context.Context, req *request) (made, error) {
	name, err := s.kv.Get(ctx, s.prefix+req.key)
	if err != nil {
		return made{}, err
	}
	fi, err := s.readDst().Stat(ctx, name)
	if err != nil {
		return made{}, err
	}
	return made{name: name, format: guessFormat(name), modTime: fi.modTime, stored: true}, nil
}

// process loads req's source and runs its operations. It is admitted
// first, so a flood is refused before it costs memory. A url= source is
// fetched before taking a processing slot (a slow origin holds none); a
// storage source is read inside the slot, so queued requests hold no
// image bytes.
func (s *server) process(ctx context.Context, req *request) (result, error) {
	lim := s.limiter.forOps(req.ops) // nil: not limited
	leave, err := lim.admit()
	if err != nil {
		return result{}, err
	}
	defer leave()
	var src []byte
	fetched := func() {}
	if req.url != nil {
		if fetched, err = lim.prefetch(ctx); err != nil {
			return result{}, err
		}
		if src, err = s.fetcher.fetch(ctx, req.url); err != nil {
			fetched()
			s.countFetchError(err)
			return result{}, err
		}
	}
	release, err := lim.acquire(ctx)
	fetched() // the source is in a slot now, or dropped
	if err != nil {
		return result{}, err
	}
	defer func() { release() }() // transformWithin may take it over
	if req.url == nil {
		if src, err = s.readSource(ctx, req.path); err != nil {
			s.countFetchError(err)
			return result{}, err
		}
	}
	s.metrics.add(sourceBytes, uint64(len(src)))
	extras, err := s.readExtras(ctx, req)
	if err != nil {
		return result{}, err
	}
	in, err := inspectSource(src) // the one read of its header
	if err != nil {
		return result{}, err
	}
	spent, err := s.reserve(ctx, req, in, extras)
	if err != nil {
		return result{}, err
	}
	defer spent()
	start := s.now()
	res, err := s.transformWithin(ctx, in, src, req, extras)
	if err != nil {
		return result{}, err
	}
	s.metrics.processed(req.ops[0].kind.String(), res.format.String(), s.elapsed(start))
	s.metrics.add(outputBytes, uint64(len(res.data)))
	return res, nil
}

// readExtras reads the images that req's flat operations draw, once each;
// parse has refused them when there is no source storage.
func (s *server) readExtras(ctx context.Context, req *request) (map[string][]byte, error) {
	extras := map[string][]byte{}
	for _, op := range req.ops {
		for _, p := range op.images {
			if _, ok := extras[p]; ok {
				continue
			}
			data, err := s.readSource(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("flat image %s: %w", p, err)
			}
			extras[p] = data
		}
	}
	return extras, nil
}

// reserve estimates from the sources' headers what transforming req
// costs, refuses an animation over max_output_total_pixels and a request
// over the whole memory budget, and waits for its share of the budget.
// spent gives the share back.
func (s *server) reserve(ctx context.Context, req *request, in source, extras map[string][]byte) (spent func(), err error) {
	var more []source
	for p, data := range extras {
		e, err := inspectSource(data)
		if err != nil {
			return nil, fmt.Errorf("flat image %s: %w", p, err)
		}
		more = append(more, e)
	}
	format := outputFormat(req.format, s.engine, in.format)
	est := footprint(in, more, req, s.engine, format)
	if est.animated && est.totalPixels() > s.maxOutputTotal {
		return nil, fmt.Errorf("%w: output %dx%d × %d frames is over max_output_total_pixels (%d)",
			errTooLarge, est.width, est.height, est.frames, s.maxOutputTotal)
	}
	s.log.DebugContext(ctx, "memory estimate", "key", req.key, "bytes", est.bytes)
	return s.budget.acquire(ctx, est.bytes)
}

// countFetchError counts a failed source load; a missing source is the
// client's mistake, not a failure.
func (s *server) countFetchError(err error) {
	if !errors.Is(err, errNotFound) {
		s.metrics.add(fetchErrors, 1)
	}
}

// readSource reads a file of the source storage, at most max_source_bytes.
func (s *server) readSource(ctx context.Context, name string) ([]byte, error) {
	rc, fi, err := s.src.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if s.maxSourceBytes > 0 && fi.size > s.maxSourceBytes {
		return nil, fmt.Errorf("%w: %s is %d bytes, over max_source_bytes (%d)", errTooLarge, name, fi.size, s.maxSourceBytes)
	}
	return readLimited(rc, s.maxSourceBytes, fi.size)
}

// store writes m to the destination, then records it in the kv store:
// a kv entry never points at a file that is not yet complete.
func (s *server) store(ctx context.Context, req *request, m made) error {
	if err := s.dst.Put(ctx, m.name, bytes.NewReader(m.data), int64(len(m.data)), m.format.contentType()); err != nil {
		return fmt.Errorf("store %s: %w", m.name, err)
	}
	if s.kv != nil {
		s.remember(ctx, req, m.name)
	}
	return nil
}

// remember records name as req's result in the kv store and, with
// cascade delete, links it to its source. A kv failure is logged, not
// returned: the result is stored and will be found again by name.
func (s *server) remember(ctx context.Context, req *request, name string) {
	if err := s.kv.Set(ctx, s.prefix+req.key, name); err != nil {
		if !errors.Is(err, errKVDown) {
			s.log.Warn("kv set failed", "key", req.key, "err", err)
		}
		return
	}
	if s.cascadeDelete && req.path != "" {
		if err := s.kv.AddToSet(ctx, s.prefix+childrenKey(req.path), req.key); err != nil && !errors.Is(err, errKVDown) {
			s.log.Warn("kv add to set failed", "key", req.key, "err", err)
		}
	}
}

// childrenKey is the kv set holding the keys of the results made from
// the source at path (without prefix).
func childrenKey(path string) string {
	sum := md5.Sum([]byte(path))
	return hex.EncodeToString(sum[:]) + ":children"
}

// storeJob is a result of /display waiting to be stored.
type storeJob struct {
	req  *request
	m    made
	done func() // called once stored, failed or dropped; may be nil
}

// storeQueue stores /display results in the background through a bounded
// queue; stop waits for the queued stores to finish, within a deadline.
type storeQueue struct {
	jobs    chan storeJob
	wg      sync.WaitGroup
	mu      sync.RWMutex // add sends under RLock; stop closes jobs under Lock
	closing bool
	log     *slog.Logger
	dropped func() // counts a job dropped on a full queue
	// aborted ends the stores in flight and has the workers drop the
	// jobs left, once stop's deadline has passed.
	aborted context.Context
	abort   context.CancelFunc
}

func newStoreQueue(size, workers int, store func(context.Context, *request, made) error, log *slog.Logger, timeout time.Duration) *storeQueue {
	q := &storeQueue{jobs: make(chan storeJob, size), log: log}
	q.aborted, q.abort = context.WithCancel(context.Background())
	for range max(1, workers) {
		q.wg.Go(func() {
			for j := range q.jobs {
				if q.aborted.Err() != nil {
					log.Error("shutdown timeout, result not stored", "key", j.req.key, "name", j.m.name)
					j.finish(false)
					continue
				}
				ctx, cancel := context.WithTimeout(q.aborted, timeout)
				err := store(ctx, j.req, j.m)
				if err != nil {
					log.Error("background store failed", "key", j.req.key, "name", j.m.name, "err", err)
				}
				cancel()
				j.finish(err == nil)
			}
		})
	}
	return q
}

// add queues j, or drops it with a log line when the queue is full or
// stopped: the result is made again by a later request.
func (q *storeQueue) add(j storeJob) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closing {
		q.log.Warn("shutting down, result not stored", "key", j.req.key)
		j.finish(false)
		return
	}
	select {
	case q.jobs <- j:
	default:
		q.log.Warn("store queue full, result not stored", "key", j.req.key)
		if q.dropped != nil {
			q.dropped()
		}
		j.finish(false)
	}
}

// finish tells those waiting on j that it is over: stored or not.
func (j storeJob) finish(stored bool) {
	if j.m.landed != nil {
		j.m.landed.finish(stored)
	}
	if j.done != nil {
		j.done()
	}
}

// stop stops accepting jobs and waits until the queued ones are stored
// or ctx ends; then it cancels the stores in flight, drops the jobs left,
// each logged by key, and returns once the workers are done. Calling it
// again only waits.
func (q *storeQueue) stop(ctx context.Context) {
	q.mu.Lock()
	if !q.closing {
		q.closing = true
		close(q.jobs)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		q.abort()
		<-done
	}
}

// etagMatches reports whether an If-None-Match header names key, which
// answers 304 before anything is looked up. "*" is left to
// http.ServeContent: it matches only a result that exists, so a missing
// source is still a 404.
func etagMatches(header, key string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == `"`+key+`"` || t == key {
			return true
		}
	}
	return false
}

// fail answers err with the status httpStatus gives it. 4xx bodies say
// what was wrong; 5xx bodies only the status text, the detail is logged.
// maxErrorBytes bounds the message of an error answer: it may quote a
// request's value, and a request may be a megabyte.
const maxErrorBytes = 512

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := httpStatus(err)
	msg := err.Error()
	if len(msg) > maxErrorBytes { // a 900 KB query is not echoed back
		msg = strings.ToValidUTF8(msg[:maxErrorBytes], "") + "…"
	}
	if code == http.StatusTooManyRequests {
		s.metrics.add(rejections, 1)
	}
	var pe *panicError
	switch {
	case errors.Is(err, errSignature):
		msg = "Invalid signature"
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client hung up
	case errors.As(err, &pe): // a bug: its stack to the log, nothing to the client
		stack := string(pe.stack)
		s.log.Error("panic", "method", r.Method, "url", logURL(r), "panic", pe.value, "stack", stack)
		s.sentry.report("fatal", fmt.Sprintf("panic: %v", pe.value), map[string]string{"url": logURL(r), "stack": stack})
		msg = http.StatusText(code)
	case code >= 500:
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "url", logURL(r), "status", code, "err", err)
		s.sentry.report("error", err.Error(), map[string]string{
			"url": logURL(r), "status": strconv.Itoa(code), "request_id": info(r.Context()).id,
		})
		msg = http.StatusText(code)
	}
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		w.Header().Set("Retry-After", "1") // busy, or a backend down: worth another try
	}
	http.Error(w, msg, code)
}

// httpStatus maps an error to its HTTP status. Our decoders' typed
// errors (errors.go) are sentinels through their Is methods: a
// *formatError is errCorruptImage (422), an *unsupportedError is
// errUnsupportedFormat (415).
func httpStatus(err error) int {
	switch {
	case errors.Is(err, errBadParam):
		return http.StatusBadRequest
	case errors.Is(err, errSignature):
		return http.StatusUnauthorized
	case errors.Is(err, errForbidden), errors.Is(err, errForbiddenAddress):
		return http.StatusForbidden
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errConflict):
		return http.StatusConflict
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errUnsupportedFormat):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errCorruptImage):
		return http.StatusUnprocessableEntity
	case errors.Is(err, errOverloaded):
		return http.StatusTooManyRequests
	case errors.Is(err, errUpstream):
		return http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
