package main

// DELETE: a result by its request, or a source and, with cascade delete,
// every result made from it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// handleDelete serves DELETE (options.enable_delete), as the original
// picfit: no signature, but restricted to allowed_ip_addresses.
//
//	DELETE /PATH                                  the source PATH; with
//	                                              enable_cascade_delete, first
//	                                              every result made from it
//	DELETE /{display,redirect,get}/OP/[W]x[H]/PATH[?PARAMS]
//	DELETE /{display,redirect,get}?PARAMS         (query style)
//	DELETE /PATH?PARAMS                           (PARAMS holds op, w, ...)
//	DELETE /?path=PATH&PARAMS or /?url=URL&PARAMS one result: the one the
//	                                              same GET would serve
//
// A path-style first segment that does not parse (DELETE /display/a.png)
// names a source in a folder of that name. It answers 200 "Ok"; 404 for
// a source that does not exist, but 200 for a result that was never made
// (or is already gone), as the original does.
func (s *server) handleDelete(w http.ResponseWriter, r *http.Request) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: query: %v", errBadParam, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.requestTimeout)
	defer cancel()
	p := r.PathValue("path")
	params, isResult, err := resultParams(p, query)
	switch {
	case err != nil:
	case isResult:
		err = s.deleteResult(ctx, params)
	default:
		err = s.deleteSource(ctx, p)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "Ok")
}

// resultParams tells whether DELETE /p?query names a result, and its
// parameters, merged as the GET routes merge them.
func resultParams(p string, query url.Values) (url.Values, bool, error) {
	if method, rest, ok := strings.Cut(p, "/"); ok && (method == "display" || method == "redirect" || method == "get") {
		if fromPath, err := parsePathStyle(rest); err == nil {
			return mergeParams(fromPath, query), true, nil
		}
	}
	switch {
	case len(query) == 0:
		return nil, false, nil
	case p == "" || p == "display" || p == "redirect" || p == "get":
		return query, true, nil
	case query.Has("path") || query.Has("url"):
		return nil, true, fmt.Errorf("%w: path: give the source in the URL's path or in the query, not both", errBadParam)
	}
	return mergeParams(url.Values{"path": {p}}, query), true, nil
}

// deleteSource deletes the source file p after, with cascade delete, every
// result made from it, so that a failure half-way can be retried.
func (s *server) deleteSource(ctx context.Context, p string) error {
	if s.src == nil {
		return fmt.Errorf("%w: delete needs a source storage", errBadParam)
	}
	name, err := cleanPath(p)
	if err != nil {
		return fmt.Errorf("%w: path: %v", errBadParam, err)
	}
	if _, err := s.src.Stat(ctx, name); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if s.cascadeDelete && s.kv != nil && s.dst != nil {
		if err := s.deleteChildren(ctx, name); err != nil {
			return fmt.Errorf("delete results of %s: %w", name, err)
		}
	}
	if err := s.src.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// deleteChildren deletes every result the kv set PREFIX+md5(p)+":children"
// lists, their kv entries, then the set.
func (s *server) deleteChildren(ctx context.Context, p string) error {
	set := s.prefix + childrenKey(p)
	keys, err := s.kv.SetMembers(ctx, set)
	if err != nil {
		return err
	}
	for _, key := range keys {
		if _, err := s.deleteStored(ctx, key, formatNone); err != nil {
			return err
		}
	}
	return s.kv.Delete(ctx, set)
}

// deleteResult deletes the one result that params ask for, if it was
// made.
func (s *server) deleteResult(ctx context.Context, params url.Values) error {
	if s.dst == nil {
		return fmt.Errorf("%w: delete needs a destination storage", errBadParam)
	}
	req, err := parseRequest(params, s.limits)
	if err != nil {
		return err
	}
	if _, err := s.deleteStored(ctx, req.key, s.predictFormat(req)); err != nil {
		return err
	}
	return nil // nothing found is no error: the result is gone either way
}

// deleteStored deletes the result of key from the destination, under the
// name the kv store records and the deterministic name for format (every
// format when formatNone and the kv store does not know), then its kv entry. It
// reports whether a file was deleted.
func (s *server) deleteStored(ctx context.Context, key string, format format) (bool, error) {
	var names []string
	if s.kv != nil {
		name, err := s.kv.Get(ctx, s.prefix+key)
		switch {
		case err == nil:
			names = append(names, name)
		case !errors.Is(err, errNotFound):
			return false, err
		}
	}
	switch {
	case format != formatNone:
		if name := storedName(key, format, s.shard); len(names) == 0 || names[0] != name {
			names = append(names, name)
		}
	case len(names) == 0:
		for _, f := range imageFormats { // the formats a result may be stored in
			names = append(names, storedName(key, f, s.shard))
		}
	}
	found := false
	for _, name := range names {
		switch err := s.dst.Delete(ctx, name); {
		case err == nil:
			found = true
		case !errors.Is(err, errNotFound):
			return found, fmt.Errorf("delete result %s: %w", name, err)
		}
	}
	if s.kv != nil {
		if err := s.kv.Delete(ctx, s.prefix+key); err != nil {
			return found, err
		}
	}
	return found, nil
}
