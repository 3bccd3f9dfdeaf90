package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// storage moves bytes in and out of one place: a folder, a bucket, an
// origin. Names are slash-separated paths relative to the storage's
// location, already checked by cleanPath; adapters translate their
// backend's "missing" into errNotFound.
type storage interface {
	// Open returns the named file and its size and modification time.
	Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error)
	// Stat returns the named file's size and modification time.
	Stat(ctx context.Context, name string) (fileInfo, error)
	// Put writes the named file atomically: a reader sees the old content
	// or all of the new, never part of it.
	Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error
	// Delete removes the named file; a missing file is errNotFound, in
	// every adapter (S3 itself answers success).
	Delete(ctx context.Context, name string) error
	// Path is where name lives, as the original picfit reports it in /get
	// and /upload: name for fs, the object key (location/name) for S3.
	Path(name string) string
	// URL is the public URL of name, or "" without a base_url.
	URL(name string) string
}

// fileInfo is what picfit needs to know of a stored file.
type fileInfo struct {
	size    int64
	modTime time.Time
}

// fsStorage keeps files below a folder. Every access goes through an
// os.Root, so no name, symlink or ".." can reach outside the folder.
type fsStorage struct {
	root     *os.Root
	location string
	baseURL  string
}

// newFSStorage opens (creating it if needed) the folder location.
func newFSStorage(location, baseURL string) (*fsStorage, error) {
	if location == "" {
		location = "." // the original's behaviour: the working directory
	}
	if err := os.MkdirAll(location, 0o755); err != nil {
		return nil, fmt.Errorf("fs storage: %w", err)
	}
	root, err := os.OpenRoot(location)
	if err != nil {
		return nil, fmt.Errorf("fs storage: %w", err)
	}
	return &fsStorage{root: root, location: location, baseURL: baseURL}, nil
}

func (s *fsStorage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	f, err := s.root.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, fileInfo{}, fsError(name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileInfo{}, fsError(name, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fileInfo{}, fmt.Errorf("open %s: %w", name, errNotFound)
	}
	return f, fileInfo{size: st.Size(), modTime: st.ModTime()}, nil
}

func (s *fsStorage) Stat(ctx context.Context, name string) (fileInfo, error) {
	st, err := s.root.Stat(filepath.FromSlash(name))
	if err != nil {
		return fileInfo{}, fsError(name, err)
	}
	if st.IsDir() {
		return fileInfo{}, fmt.Errorf("stat %s: %w", name, errNotFound)
	}
	return fileInfo{size: st.Size(), modTime: st.ModTime()}, nil
}

// Put writes to a temporary file beside name, syncs it and renames it
// over name, so a crash or a failed write never leaves part of a file
// under the real name.
func (s *fsStorage) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	name = filepath.FromSlash(name)
	if dir := filepath.Dir(name); dir != "." {
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("put %s: %w", name, err)
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, name)
	}
	if err != nil {
		s.root.Remove(tmp)
		return fmt.Errorf("put %s: %w", name, err)
	}
	return nil
}

func (s *fsStorage) Delete(ctx context.Context, name string) error {
	if err := s.root.Remove(filepath.FromSlash(name)); err != nil {
		return fsError(name, err)
	}
	return nil
}

// Path is name itself, relative to the folder, as the original reports
// it: the server's folders are no business of its clients.
func (s *fsStorage) Path(name string) string { return name }

func (s *fsStorage) URL(name string) string { return joinURL(s.baseURL, name) }

// joinURL appends name to base with exactly one slash between them, each
// segment of name escaped (a space is %20), or returns "" when base is
// empty.
func joinURL(base, name string) string {
	if base == "" {
		return ""
	}
	segs := strings.Split(strings.TrimLeft(name, "/"), "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.TrimRight(base, "/") + "/" + strings.Join(segs, "/")
}

func fsError(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", name, errNotFound)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// storedName is where the result of key in format is stored: the sharded
// key plus the format's extension.
func storedName(key, format string, sc shardConfig) string {
	return shard(key, sc) + "." + extension(format)
}

// guessFormat maps a file name's extension to a format name, or "".
func guessFormat(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".jpg", ".jpeg":
		return "jpeg"
	case ".png":
		return "png"
	case ".gif":
		return "gif"
	case ".bmp":
		return "bmp"
	case ".webp":
		return "webp"
	}
	return ""
}

// backendTransport is the HTTP transport of the S3 and http+ storages: it
// connects within 5 s and waits at most timeout for an answer's headers,
// so a hung backend fails a request instead of holding it.
func backendTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
}
