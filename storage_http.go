package main

// The http+ storages: sources read over HTTP, results written to a file
// system or S3.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// httpStorage is the http+fs, http+s3 and http+dos3 storage: it reads
// a file with a GET of its public URL (the wrapped storage's URL, from
// base_url), typically through a CDN in front of the wrapped storage, and
// leaves everything else (Stat, Put, Delete, Path, URL) to the wrapped
// storage, which stays the authority on what exists. base_url is
// configured by the operator, so unlike url= sources its address is not
// checked.
type httpStorage struct {
	storage   // the wrapped storage
	client    *http.Client
	userAgent string
}

// newHTTPStorage wraps inner, which needs a base_url; timeout bounds each
// GET, body included.
func newHTTPStorage(inner storage, timeout time.Duration, userAgent string) *httpStorage {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &httpStorage{
		storage:   inner,
		client:    &http.Client{Transport: backendTransport(timeout), Timeout: timeout},
		userAgent: userAgent,
	}
}

// Open GETs the URL of name. A 404 or 410 is errNotFound; any other
// answer but 200, or no answer, is errUpstream.
func (s *httpStorage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	u := s.URL(name)
	if u == "" {
		return nil, fileInfo{}, fmt.Errorf("http get %s: the storage has no base_url", name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fileInfo{}, fmt.Errorf("http get %s: %w", u, err)
	}
	if s.userAgent != "" {
		req.Header.Set("User-Agent", s.userAgent)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil) {
			return nil, fileInfo{}, fmt.Errorf("http get %s: %w", u, err)
		}
		return nil, fileInfo{}, fmt.Errorf("http get %s: %w: %w", u, errUpstream, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, fileInfo{}, fmt.Errorf("http get %s: %w", u, errNotFound)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, fileInfo{}, fmt.Errorf("http get %s: %w: answered %s", u, errUpstream, resp.Status)
	}
	fi := fileInfo{size: resp.ContentLength}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		fi.modTime = t
	}
	return resp.Body, fi, nil
}
