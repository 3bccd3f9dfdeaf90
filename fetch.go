package main

// Fetching url= sources: allowed hosts, no private addresses (checked when
// dialling), size and time limits.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// fetcher loads url= sources from origins. It refuses, at connect time
// and so after DNS resolution and on every redirect, any address that is
// not public (loopback, private, link-local, CGNAT, multicast,
// unspecified, IPv4-mapped forms included) unless private networks are
// allowed, so a DNS name pointing at 127.0.0.1 or a redirect to the cloud
// metadata address gets nowhere.
type fetcher struct {
	client       *http.Client
	allowIP      func(netip.Addr) bool // isPublic, or anything with allow_private_networks
	userAgent    string
	maxBytes     int64
	allowedHosts []string     // exact hosts or "*.domain"; empty = any
	log          *slog.Logger // nil: refused addresses are not logged
}

const maxRedirects = 5

func newFetcher(timeout time.Duration, allowPrivate bool, userAgent string, maxBytes int64, allowedHosts []string) *fetcher {
	f := &fetcher{userAgent: userAgent, maxBytes: maxBytes, allowedHosts: allowedHosts, allowIP: isPublic}
	if allowPrivate {
		f.allowIP = func(netip.Addr) bool { return true }
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	// Control runs for every connection, after DNS, with the address
	// actually dialled: the only place where the check cannot be raced.
	dialer.Control = func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return err
		}
		if !f.allowIP(ip) {
			return fmt.Errorf("%w: %s is not a public address (options.allow_private_networks lets url= reach it; "+
				"options.allowed_hosts limits url= to the hosts it names)", errForbiddenAddress, ip)
		}
		return nil
	}
	transport := &http.Transport{
		Proxy:                 nil, // never let an environment proxy bypass the address check
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	f.client = &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", errForbiddenAddress, maxRedirects)
			}
			return f.checkURL(req.URL)
		},
	}
	return f
}

// isPublic reports whether ip is a globally routable unicast address.
func isPublic(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() ||
		ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nonPublicPrefixes = []netip.Prefix{
	netip.MustParsePrefix("::/96"), // IPv4-compatible IPv6 (::127.0.0.1): deprecated, and may reach IPv4
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 can reach private IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 likewise
	netip.MustParsePrefix("2002::/16"),      // 6to4 likewise
}

// checkURL applies the scheme and host rules to a source URL or a redirect.
func (f *fetcher) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: url: scheme %q, want http or https", errForbiddenAddress, u.Scheme)
	}
	if len(f.allowedHosts) == 0 {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range f.allowedHosts {
		h = strings.ToLower(h)
		if h == host {
			return nil
		}
		if suffix, ok := strings.CutPrefix(h, "*."); ok && strings.HasSuffix(host, "."+suffix) {
			return nil
		}
	}
	return fmt.Errorf("%w: url: host %q is not in options.allowed_hosts", errForbiddenAddress, host)
}

// fetch GETs u and returns its body, at most maxBytes of it.
func (f *fetcher) fetch(ctx context.Context, u *url.URL) ([]byte, error) {
	if err := f.checkURL(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: url: %v", errBadParam, err)
	}
	req.Header.Set("User-Agent", f.userAgent)
	resp, err := f.client.Do(req)
	var dialErr *net.OpError
	if errors.Is(err, errForbiddenAddress) && errors.As(err, &dialErr) {
		// Refused at connect time: the message would name the address
		// the host resolved to, which is for the log, not the client.
		if f.log != nil {
			f.log.Info("url source refused", "url", u.Redacted(), "err", err)
		}
		return nil, fmt.Errorf("fetch %s: %w: the origin, or a redirect, resolves to an address that is not public "+
			"(options.allow_private_networks lets url= reach it; options.allowed_hosts limits url= to the hosts it names)", u.Redacted(), errForbiddenAddress)
	}
	if err != nil {
		if errors.Is(err, errForbiddenAddress) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("fetch %s: %w", u.Redacted(), err)
		}
		return nil, fmt.Errorf("fetch %s: %w: %v", u.Redacted(), errUpstream, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("fetch %s: %w", u.Redacted(), errNotFound)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, fmt.Errorf("fetch %s: %w: origin answered %s", u.Redacted(), errUpstream, resp.Status)
	case f.maxBytes > 0 && resp.ContentLength > f.maxBytes:
		return nil, fmt.Errorf("%w: source is %d bytes, over max_source_bytes (%d)", errTooLarge, resp.ContentLength, f.maxBytes)
	}
	return readLimited(resp.Body, f.maxBytes, resp.ContentLength)
}

// readLimited reads all of r, failing with errTooLarge past max bytes
// (0 = unlimited). size, when known (a file's size, a Content-Length;
// else 0), sizes the buffer once: io.ReadAll's doublings allocated twice
// a 4 MB photo's bytes, most of what picfit allocated under a flood. A
// read cut by a deadline (fetch_timeout on an origin that trickles, the
// request's own) is context.DeadlineExceeded, a 504; another failure is
// errUpstream, with the reader's error kept in the chain.
func readLimited(r io.Reader, max, size int64) ([]byte, error) {
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	var buf bytes.Buffer
	if size > 0 && size <= max {
		buf.Grow(int(size) + bytes.MinRead) // room to see EOF without growing
	}
	if _, err := buf.ReadFrom(r); err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("read source: %w (%v)", context.DeadlineExceeded, err)
		}
		return nil, fmt.Errorf("%w: read source: %w", errUpstream, err)
	}
	if max > 0 && int64(buf.Len()) > max {
		return nil, fmt.Errorf("%w: source is over max_source_bytes (%d)", errTooLarge, max)
	}
	return buf.Bytes(), nil
}
