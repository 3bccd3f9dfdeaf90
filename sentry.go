package main

// Reporting server errors to Sentry, without its SDK.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// sentryReporter sends errors and panics to Sentry through its envelope
// endpoint, with the standard library only. Reports go through a bounded
// queue to one sender: a request never waits for Sentry, and when Sentry
// is slow, reports beyond the queue are dropped (and logged).
type sentryReporter struct {
	endpoint string // https://HOST/api/PROJECT/envelope/
	auth     string // X-Sentry-Auth header
	dsn      string
	tags     map[string]string
	release  string
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time

	queue chan []byte
	wg    sync.WaitGroup
}

// newSentryReporter parses dsn ("https://KEY[:SECRET]@HOST[/PATH]/PROJECT");
// an empty dsn gives nil, which reports nothing.
func newSentryReporter(dsn string, tags map[string]string, release string, log *slog.Logger, now func() time.Time) (*sentryReporter, error) {
	if dsn == "" {
		return nil, nil
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil || u.User.Username() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("sentry.dsn: want https://KEY@HOST/PROJECT, got %q", dsn)
	}
	i := strings.LastIndex(u.Path, "/")
	project := u.Path[i+1:]
	if project == "" {
		return nil, fmt.Errorf("sentry.dsn: %q has no project id", dsn)
	}
	auth := "Sentry sentry_version=7, sentry_client=picfit/" + release + ", sentry_key=" + u.User.Username()
	if secret, ok := u.User.Password(); ok {
		auth += ", sentry_secret=" + secret
	}
	r := &sentryReporter{
		endpoint: u.Scheme + "://" + u.Host + u.Path[:i] + "/api/" + project + "/envelope/",
		auth:     auth,
		dsn:      dsn,
		tags:     tags,
		release:  release,
		client:   &http.Client{Timeout: 5 * time.Second},
		log:      log,
		now:      now,
		queue:    make(chan []byte, 64),
	}
	r.wg.Go(r.send)
	return r, nil
}

// report queues an event; it never blocks.
func (r *sentryReporter) report(level, message string, extra map[string]string) {
	if r == nil {
		return
	}
	var id [16]byte
	rand.Read(id[:])
	eventID := hex.EncodeToString(id[:])
	host, _ := os.Hostname() // best effort: an empty server_name is fine
	event, err := json.Marshal(map[string]any{
		"event_id":    eventID,
		"timestamp":   r.now().UTC().Format(time.RFC3339Nano),
		"platform":    "go",
		"level":       level,
		"logger":      "picfit",
		"message":     map[string]string{"formatted": message},
		"tags":        r.tags,
		"extra":       extra,
		"release":     r.release,
		"server_name": host,
	})
	if err != nil {
		return
	}
	header, _ := json.Marshal(map[string]string{"event_id": eventID, "dsn": r.dsn, "sent_at": r.now().UTC().Format(time.RFC3339Nano)})
	item, _ := json.Marshal(map[string]any{"type": "event", "length": len(event), "content_type": "application/json"})
	var b bytes.Buffer
	b.Write(header)
	b.WriteByte('\n')
	b.Write(item)
	b.WriteByte('\n')
	b.Write(event)
	b.WriteByte('\n')
	select {
	case r.queue <- b.Bytes():
	default:
		r.log.Warn("sentry queue full, report dropped", "message", message)
	}
}

func (r *sentryReporter) send() {
	for body := range r.queue {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-sentry-envelope")
			req.Header.Set("X-Sentry-Auth", r.auth)
			var resp *http.Response
			if resp, err = r.client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					err = fmt.Errorf("sentry answered %s", resp.Status)
				}
			}
		}
		if err != nil {
			r.log.Warn("sentry report failed", "err", err)
		}
		cancel()
	}
}

// close sends what is queued and stops.
func (r *sentryReporter) close() {
	if r == nil {
		return
	}
	close(r.queue)
	r.wg.Wait()
}
