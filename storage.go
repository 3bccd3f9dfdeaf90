package main

// Storages: the interface and the file system storage.

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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
// os.Root, so no name, symlink or ".." can reach outside the folder. The
// folder is the one at location now: when it was deleted and recreated,
// or moved and replaced, the new one is opened (see dir).
type fsStorage struct {
	location string
	baseURL  string
	// escapes is os.Root's error for a path that leaves the folder (a
	// symlink pointing out), which os does not export.
	escapes error
	opened  atomic.Pointer[fsRoot]
	reopen  sync.Mutex // one reopening at a time
}

// fsRoot is an opened folder and what identifies it.
type fsRoot struct {
	root *os.Root
	id   os.FileInfo // the folder's own stat, for os.SameFile
}

// newFSStorage opens (creating it if needed) the folder location.
func newFSStorage(location, baseURL string) (*fsStorage, error) {
	if location == "" {
		location = "." // the original's behaviour: the working directory
	}
	s := &fsStorage{location: location, baseURL: baseURL}
	r, err := s.dir(true)
	if err != nil {
		return nil, fmt.Errorf("fs storage: %w", err)
	}
	var pe *fs.PathError
	if _, err := r.Stat(".."); errors.As(err, &pe) {
		s.escapes = pe.Err
	}
	return s, nil
}

// dir returns the root of the folder now at location, opening it again
// when it is not the one opened before: a folder deleted and recreated,
// or moved and replaced, is never served from or written into after it
// left location. create makes a missing folder (for writes); otherwise a
// missing folder is errNotFound. It costs a stat of location per call.
// A root replaced here is closed by its finalizer once the operations
// still using it are done.
func (s *fsStorage) dir(create bool) (*os.Root, error) {
	st, err := os.Stat(s.location)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err = os.MkdirAll(s.location, 0o755); err == nil {
			st, err = os.Stat(s.location)
		}
	}
	if err != nil {
		return nil, s.fsError(s.location, err)
	}
	if o := s.opened.Load(); o != nil && os.SameFile(o.id, st) {
		return o.root, nil
	}
	s.reopen.Lock()
	defer s.reopen.Unlock()
	if o := s.opened.Load(); o != nil && os.SameFile(o.id, st) {
		return o.root, nil // another call reopened it meanwhile
	}
	root, err := os.OpenRoot(s.location)
	if err != nil {
		return nil, s.fsError(s.location, err)
	}
	id, err := root.Stat(".")
	if err != nil {
		root.Close()
		return nil, s.fsError(s.location, err)
	}
	s.opened.Store(&fsRoot{root: root, id: id})
	return root, nil
}

func (s *fsStorage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	root, err := s.dir(false)
	if err != nil {
		return nil, fileInfo{}, err
	}
	f, err := root.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, fileInfo{}, s.fsError(name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileInfo{}, s.fsError(name, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fileInfo{}, fmt.Errorf("open %s: %w", name, errNotFound)
	}
	return f, fileInfo{size: st.Size(), modTime: st.ModTime()}, nil
}

func (s *fsStorage) Stat(ctx context.Context, name string) (fileInfo, error) {
	root, err := s.dir(false)
	if err != nil {
		return fileInfo{}, err
	}
	st, err := root.Stat(filepath.FromSlash(name))
	if err != nil {
		return fileInfo{}, s.fsError(name, err)
	}
	if st.IsDir() {
		return fileInfo{}, fmt.Errorf("stat %s: %w", name, errNotFound)
	}
	return fileInfo{size: st.Size(), modTime: st.ModTime()}, nil
}

// Put writes to a temporary file beside name, syncs it and renames it
// over name, so a crash or a failed write never leaves part of a file
// under the real name. A folder already named name is errConflict.
func (s *fsStorage) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	root, err := s.dir(true)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	name = filepath.FromSlash(name)
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("put %s: %w", name, s.fsError(dir, err))
		}
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	// Not derived from name: a name of up to 255 bytes must leave room.
	tmp := filepath.Join(filepath.Dir(name), ".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, s.fsError(tmp, err))
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = root.Rename(tmp, name); isDirInTheWay(err) {
			err = fmt.Errorf("%w: a folder of that name exists", errConflict)
		}
	}
	if err != nil {
		root.Remove(tmp)
		return fmt.Errorf("put %s: %w", name, s.fsError(name, err))
	}
	return nil
}

// isDirInTheWay tells whether a rename failed because a folder holds the
// target name: Linux says EEXIST or ENOTEMPTY, others EISDIR.
func isDirInTheWay(err error) bool {
	return errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EISDIR)
}

func (s *fsStorage) Delete(ctx context.Context, name string) error {
	root, err := s.dir(false)
	if err != nil {
		return err
	}
	if err := root.Remove(filepath.FromSlash(name)); err != nil {
		return s.fsError(name, err)
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

// fsError translates a file system error on name: missing, or reached
// only through a symlink out of the folder, is errNotFound; a name or a
// path element too long for the file system is errBadParam.
func (s *fsStorage) fsError(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), s.escapes != nil && errors.Is(err, s.escapes):
		return fmt.Errorf("%s: %w", name, errNotFound)
	case errors.Is(err, syscall.ENAMETOOLONG):
		return fmt.Errorf("%w: path: %d bytes: a name in it is too long for the file system", errBadParam, len(name))
	}
	return fmt.Errorf("%s: %w", name, err)
}

// storedName is where the result of key in format is stored: the sharded
// key plus the format's extension.
func storedName(key string, format format, sc shardConfig) string {
	return shard(key, sc) + "." + format.extension()
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
