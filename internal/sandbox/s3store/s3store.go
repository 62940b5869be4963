// Package s3store serves an S3-protocol object store (gofakes3) over plain
// HTTP on loopback, and builds real aws-sdk-go-v2 S3 clients for it, so
// backup code runs its production S3 path (multipart uploads through the
// transfer manager, metadata, ListObjectsV2 pagination) against a real
// HTTP endpoint.
//
// What gofakes3 v1.2.0 does and does not do, checked by this package's tests:
//   - Multipart upload, abort (the upload and its parts disappear), metadata
//     (x-amz-meta-*), ListObjectsV2 with continuation tokens beyond 1,000
//     keys: supported.
//   - Checksums: it accepts the x-amz-checksum-* headers the SDK sends over
//     plain HTTP (the SDK computes them up front because the part body is
//     seekable) but never verifies them, and it does not keep per-part
//     checksums. Options.VerifyChecksums adds a check of the SHA-256 header
//     in front of gofakes3 (400 BadDigest on a mismatch). Over HTTPS the
//     SDK switches to aws-chunked bodies with a trailing checksum, which
//     gofakes3 stores corrupted; that is why the store is plain HTTP. Code
//     under test must therefore verify integrity by reading objects back and
//     hashing them itself; without VerifyChecksums, passing an upload here
//     proves nothing about checksums.
//   - Objects and in-progress multipart parts are held in memory (the bolt
//     backend would pull in an extra dependency for objects only; parts stay
//     in memory anyway): measure a client's memory in another process than
//     the store.
//   - Options.DiscardMultipartBodies replaces gofakes3's multipart path for
//     throughput benchmarks: parts are verified against their SHA-256 and
//     dropped, completed uploads leave no object.
//   - CopyObject merges the source metadata into the copy even with
//     MetadataDirective REPLACE.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Region is the region clients of the store are configured with.
const Region = "us-east-1"

// Options configures Start. The zero value serves an in-memory store on
// 127.0.0.1 with no bucket.
type Options struct {
	// IP is the loopback address to listen on; empty means 127.0.0.1.
	IP string
	// Buckets are created before Start returns.
	Buckets []string
	// Wrap, when set, wraps the store's handler: tests inject failures
	// (a failing part upload, a cut connection) here.
	Wrap func(http.Handler) http.Handler
	// VerifyChecksums makes the store check the x-amz-checksum-sha256
	// header of PutObject and UploadPart bodies, as S3 does (400 BadDigest
	// on a mismatch). gofakes3 alone accepts any checksum.
	VerifyChecksums bool
	// DiscardMultipartBodies is for throughput benchmarks only: multipart
	// parts are read, their SHA-256 checksum verified (required on every
	// part; VerifyChecksums is implied), and dropped, and a completed
	// multipart upload leaves no object behind (GetObject answers
	// NoSuchKey). gofakes3's own multipart path reads each part into
	// memory, MD5s it under a store-wide lock and joins all parts into one
	// buffer at completion, which makes the store, not its client, the
	// bottleneck. Single-request PutObject still stores objects.
	DiscardMultipartBodies bool
}

// Store is a running S3-protocol server.
type Store struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL string

	srv   *http.Server
	ln    net.Listener
	done  chan struct{}
	stats *counters
}

// Start serves a new store and returns when it accepts connections.
func Start(ctx context.Context, opts Options) (*Store, error) {
	ip := opts.IP
	if ip == "" {
		ip = "127.0.0.1"
	}
	if parsed := net.ParseIP(ip); parsed == nil || !parsed.IsLoopback() {
		return nil, fmt.Errorf("s3store: %q is not a loopback address", ip)
	}
	stats := &counters{}
	var backend gofakes3.Backend = s3mem.New()
	if opts.DiscardMultipartBodies {
		backend = newDiscardParts(backend, stats)
	}
	faker := gofakes3.New(backend,
		gofakes3.WithIntegrityCheck(true), // verifies Content-MD5 when a client sends it
		gofakes3.WithLogger(gofakes3.DiscardLog()),
	)
	var h http.Handler = faker.Server()
	if opts.VerifyChecksums || opts.DiscardMultipartBodies {
		h = verifyChecksums(h, stats, opts.DiscardMultipartBodies)
	}
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return nil, fmt.Errorf("s3store: listen: %w", err)
	}
	s := &Store{
		URL:   "http://" + ln.Addr().String(),
		srv:   &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		ln:    ln,
		done:  make(chan struct{}),
		stats: stats,
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	cli := s.Client()
	for _, b := range opts.Buckets {
		if _, err := cli.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			s.Close()
			return nil, fmt.Errorf("s3store: create bucket %s: %w", b, err)
		}
	}
	return s, nil
}

// Config returns an AWS configuration for the store: static test
// credentials, Region, and the store as the base endpoint. Services other
// than S3 must not be built from it.
func (s *Store) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("s3store", "s3store-secret", ""),
		BaseEndpoint: aws.String(s.URL),
	}
}

// Client returns a real S3 client for the store, path-style (the store does
// not serve virtual-hosted buckets on loopback). optFns apply last.
func (s *Store) Client(optFns ...func(*s3.Options)) *s3.Client {
	return s3.NewFromConfig(s.Config(), append([]func(*s3.Options){func(o *s3.Options) {
		o.UsePathStyle = true
	}}, optFns...)...)
}

// Stats returns what the store has verified and discarded so far.
func (s *Store) Stats() Stats { return s.stats.stats() }

// Close stops the server and releases the backend. It is safe to call more
// than once.
func (s *Store) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = s.srv.Close()
	}
	<-s.done
}
