package main

// The S3 storages (AWS, DigitalOcean Spaces, GCS interoperability, MinIO,
// R2, ...) through minio-go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// s3Storage keeps files as objects of one bucket of an S3-compatible
// service (AWS S3, DigitalOcean Spaces, Google Cloud Storage with HMAC
// keys, Backblaze B2, MinIO, Cloudflare R2, ...), all through one SigV4
// client. A file name maps to the key prefix+"/"+name.
type s3Storage struct {
	client  *minio.Client
	bucket  string
	prefix  string // location without leading, trailing or doubled slashes; "" = the bucket's root
	acl     string // canned ACL sent as x-amz-acl on Put, "" for the bucket's default
	baseURL string
	// cacheControl is stored as each written object's Cache-Control
	// (storage cache_control), "" for none.
	cacheControl string
}

// awsRegions are the AWS regions an "s3" storage without an endpoint may
// name.
var awsRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"ca-central-1", "ca-west-1", "mx-central-1", "sa-east-1",
	"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-north-1", "eu-south-1", "eu-south-2",
	"af-south-1", "il-central-1", "me-central-1", "me-south-1",
	"ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
	"ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"cn-north-1", "cn-northwest-1", "us-gov-east-1", "us-gov-west-1",
}

// s3Target is where and how an S3-like storage connects.
type s3Target struct {
	host   string // host[:port]
	secure bool   // https
	region string // SigV4 region; "" asks the service (GetBucketLocation) once
	lookup minio.BucketLookupType
}

// s3TargetOf resolves the service an "s3", "dos3" or "gcs" config names.
// An endpoint (a full URL) always wins and selects path-style addressing;
// otherwise s3 is AWS in a known region, dos3 the region's Spaces
// endpoint, gcs storage.googleapis.com.
func s3TargetOf(sc storageConfig) (s3Target, error) {
	t := s3Target{region: sc.Region, lookup: minio.BucketLookupAuto}
	endpoint := sc.Endpoint
	switch strings.TrimPrefix(sc.Type, "http+") {
	case "s3":
		if endpoint == "" {
			if !slices.Contains(awsRegions, sc.Region) {
				return s3Target{}, fmt.Errorf("region: %q is not an AWS region (set endpoint for another S3-compatible service)", sc.Region)
			}
			return s3Target{host: "s3.amazonaws.com", secure: true, region: sc.Region, lookup: minio.BucketLookupAuto}, nil
		}
	case "dos3":
		if endpoint == "" {
			endpoint = "https://" + sc.Region + ".digitaloceanspaces.com"
		}
		t.region = "us-east-1" // what Spaces expects in signatures, whatever the datacenter
	case "gcs":
		if endpoint == "" {
			endpoint = "https://storage.googleapis.com"
		}
		if t.region == "" {
			t.region = "auto"
		}
	default:
		return s3Target{}, fmt.Errorf("type %q is not an S3-compatible type", sc.Type)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return s3Target{}, fmt.Errorf("endpoint: want a URL like https://host[:port], got %q", endpoint)
	}
	t.host, t.secure = u.Host, u.Scheme == "https"
	if sc.Endpoint != "" {
		t.lookup = minio.BucketLookupPath
	}
	return t, nil
}

// newS3Storage builds the client for sc. It does not connect: a service
// that is down at start is reported by the requests that need it, and
// picfit recovers by itself when it comes back. timeout bounds the wait
// for a response's headers (the body is bounded by the request's context).
func newS3Storage(sc storageConfig, timeout time.Duration) (*s3Storage, error) {
	if err := s3utils.CheckValidBucketName(sc.BucketName); err != nil {
		return nil, fmt.Errorf("bucket_name: %q: %w", sc.BucketName, err)
	}
	t, err := s3TargetOf(sc)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	transport := backendTransport(timeout)
	client, err := minio.New(t.host, &minio.Options{
		Creds:        credentials.NewStaticV4(sc.AccessKeyID, sc.SecretAccessKey, ""),
		Secure:       t.secure,
		Region:       t.region,
		BucketLookup: t.lookup,
		Transport:    transport,
		MaxRetries:   2, // a blip is retried once; a dead service fails in well under a second
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return &s3Storage{
		client:  client,
		bucket:  sc.BucketName,
		prefix:  cleanPrefix(sc.Location),
		acl:     sc.ACL,
		baseURL: sc.BaseURL,

		cacheControl: sc.CacheControl,
	}, nil
}

// cleanPrefix drops the empty segments of a location: "/a//b/" is "a/b".
func cleanPrefix(location string) string {
	return strings.Join(strings.FieldsFunc(location, func(r rune) bool { return r == '/' }), "/")
}

// key is the object key of name.
func (s *s3Storage) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

// Open GETs the object: one request gives its size, time and stream, and
// a missing key shows at once. The result seeks (a Seek elsewhere than
// where the stream is makes a ranged GET), so handlers can serve it with
// http.ServeContent, ranges included.
func (s *s3Storage) Open(ctx context.Context, name string) (io.ReadCloser, fileInfo, error) {
	key := s.key(name)
	body, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fileInfo{}, s3Error("get", key, err)
	}
	o := &s3Object{ctx: ctx, client: s.client, bucket: s.bucket, key: key, etag: info.ETag, size: info.Size, body: body}
	return o, fileInfo{size: info.Size, modTime: info.LastModified}, nil
}

// s3Object reads an object opened by Open. ctx is the request's, held (as
// http.Request holds its own) for the ranged GETs that a Seek needs; they
// ask for the same version of the object (If-Match on its ETag).
type s3Object struct {
	ctx               context.Context
	client            *minio.Client
	bucket, key, etag string
	size              int64
	body              io.ReadCloser // the current stream, at pos; nil once closed
	pos               int64         // where body is
	off               int64         // where the next Read starts
}

func (o *s3Object) Read(p []byte) (int, error) {
	if o.size >= 0 && o.off >= o.size {
		return 0, io.EOF
	}
	if o.body == nil || o.off != o.pos {
		if o.body != nil {
			o.body.Close()
			o.body = nil
		}
		opts := minio.GetObjectOptions{}
		if o.etag != "" {
			opts.SetMatchETag(o.etag)
		}
		if o.off > 0 {
			opts.SetRange(o.off, 0)
		}
		body, _, _, err := minio.Core{Client: o.client}.GetObject(o.ctx, o.bucket, o.key, opts)
		if err != nil {
			return 0, s3Error("get", o.key, err)
		}
		o.body, o.pos = body, o.off
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	o.off = o.pos
	return n, err
}

// Seek only moves the offset; the next Read fetches from there if needed.
func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.size
	default:
		return 0, fmt.Errorf("s3 seek %s: bad whence %d", o.key, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("s3 seek %s: negative offset %d", o.key, offset)
	}
	o.off = offset
	return offset, nil
}

func (o *s3Object) Close() error {
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body = nil
	return err
}

func (s *s3Storage) Stat(ctx context.Context, name string) (fileInfo, error) {
	key := s.key(name)
	st, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return fileInfo{}, s3Error("stat", key, err)
	}
	return fileInfo{size: st.Size, modTime: st.LastModified}, nil
}

// Put streams r to the object. Up to 16 MiB it is one PUT; above, minio
// uploads parts and completes the multipart upload at the end (aborting
// it on error). Either way S3 shows the object only once it is whole.
func (s *s3Storage) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	key := s.key(name)
	opts := minio.PutObjectOptions{ContentType: contentType, CacheControl: s.cacheControl}
	if s.acl != "" {
		opts.UserMetadata = map[string]string{"x-amz-acl": s.acl}
	}
	if size < 0 {
		size = -1
	}
	if _, err := s.client.PutObject(ctx, s.bucket, key, r, size, opts); err != nil {
		return s3Error("put", key, err)
	}
	return nil
}

// Delete removes the object, or fails with errNotFound when it does not
// exist. S3 answers a DELETE of a missing key with success, so a HEAD
// goes first: the same contract as the fs storage, for one more request
// on a rare operation.
func (s *s3Storage) Delete(ctx context.Context, name string) error {
	key := s.key(name)
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
		return s3Error("delete", key, err)
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return s3Error("delete", key, err)
	}
	return nil
}

// Path is the object's key in the bucket, as the original picfit reports it.
func (s *s3Storage) Path(name string) string { return s.key(name) }

// URL is base_url (the bucket's public URL, or a CDN in front of it)
// joined with the key, location included, as the original picfit builds it.
func (s *s3Storage) URL(name string) string { return joinURL(s.baseURL, s.key(name)) }

// s3Error translates a minio error: a missing key is errNotFound, a
// cancelled or timed-out context stays what it is, and anything else (the
// service unreachable or answering an error, a missing bucket included) is
// errUpstream.
func s3Error(op, key string, err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.Code == "NoSuchBucket":
		case resp.Code == "NoSuchKey" || resp.Code == "NotFound" || resp.StatusCode == http.StatusNotFound:
			return fmt.Errorf("s3 %s %s: %w", op, key, errNotFound)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("s3 %s %s: %w", op, key, err)
	}
	return fmt.Errorf("s3 %s %s: %w: %w", op, key, errUpstream, err)
}
