package s3store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/cpwarden/cpwarden/internal/sandbox/s3store"
)

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func sha256B64(b []byte) *string {
	s := sha256.Sum256(b)
	return aws.String(base64.StdEncoding.EncodeToString(s[:]))
}

func TestVerifyChecksumsRejectsAWrongSHA256(t *testing.T) {
	for _, opts := range []s3store.Options{{VerifyChecksums: true}, {DiscardMultipartBodies: true}} {
		s := start(t, opts)
		body := []byte("payload")
		tests := []struct {
			name     string
			checksum *string
			wantCode string
		}{
			{"matching checksum", sha256B64(body), ""},
			{"checksum of other bytes", sha256B64([]byte("something else")), "BadDigest"},
		}
		for _, tt := range tests {
			_, err := s.Client().PutObject(t.Context(), &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader(body), ChecksumSHA256: tt.checksum,
			})
			if got := errorCode(err); got != tt.wantCode || (tt.wantCode == "" && err != nil) {
				t.Errorf("%+v %s: err = %v, want code %q", opts, tt.name, err, tt.wantCode)
			}
		}
		if st := s.Stats(); st.ChecksumsVerified != 1 || st.BytesVerified != int64(len(body)) {
			t.Errorf("%+v: stats = %+v, want one verified body of %d bytes", opts, st, len(body))
		}
	}
}

func TestDiscardMultipartBodiesVerifiesAndDropsParts(t *testing.T) {
	s := start(t, s3store.Options{DiscardMultipartBodies: true})
	data := randomBytes(t, 12<<20+123) // three parts, the last one short
	out, err := upload(t.Context(), s, "cluster/snap.db", io.NopCloser(bytes.NewReader(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.UploadID == nil || *out.UploadID == "" {
		t.Fatal("upload did not go through multipart")
	}
	want := s3store.Stats{ChecksumsVerified: 3, BytesVerified: int64(len(data)), PartsDiscarded: 3, BytesDiscarded: int64(len(data)), UploadsCompleted: 1}
	if st := s.Stats(); st != want {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
	_, err = s.Client().HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("cluster/snap.db")})
	if err == nil {
		t.Fatal("a discarded upload left an object behind")
	}
}

// corruptPart2 flips the first byte of part 2 in transit, after the client
// computed its checksum.
func corruptPart2(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == "2" {
			r.Body = &flipFirst{ReadCloser: r.Body}
		}
		h.ServeHTTP(w, r)
	})
}

type flipFirst struct {
	io.ReadCloser
	done bool
}

func (f *flipFirst) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 0xff
		f.done = true
	}
	return n, err
}

func TestDiscardMultipartBodiesFailsACorruptPart(t *testing.T) {
	s := start(t, s3store.Options{DiscardMultipartBodies: true, Wrap: corruptPart2})
	_, err := upload(t.Context(), s, "cluster/snap.db", io.NopCloser(bytes.NewReader(randomBytes(t, 12<<20))), nil)
	if code := errorCode(err); code != "BadDigest" {
		t.Fatalf("err = %v (code %q), want BadDigest", err, code)
	}
	if st := s.Stats(); st.UploadsCompleted != 0 || st.PartsDiscarded > 2 {
		t.Fatalf("stats = %+v: the corrupt part was accepted or the upload completed", st)
	}
	ups, err := s.Client().ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads still open, want the failed one aborted", len(ups.Uploads))
	}
}

func TestDiscardMultipartBodiesRefusesWhatS3Refuses(t *testing.T) {
	s := start(t, s3store.Options{DiscardMultipartBodies: true})
	cli := s.Client()
	ctx := t.Context()
	small := []byte("a part far under five MiB")
	tests := []struct {
		name     string
		parts    int
		checksum func(b []byte) *string
		wantCode string // of UploadPart, or of Complete when parts succeed
	}{
		{"part without a SHA-256 checksum", 1, func([]byte) *string { return nil }, "InvalidRequest"},
		{"non-last part under 5 MiB", 2, sha256B64, "InvalidPart"},
		{"single small part", 1, sha256B64, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr, err := cli.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("k"), ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256})
			if err != nil {
				t.Fatal(err)
			}
			var done []s3types.CompletedPart
			for n := int32(1); n <= int32(tt.parts); n++ {
				in := &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("k"), UploadId: cr.UploadId, PartNumber: aws.Int32(n), Body: bytes.NewReader(small), ChecksumSHA256: tt.checksum(small)}
				up, err := cli.UploadPart(ctx, in)
				if err != nil {
					if got := errorCode(err); got != tt.wantCode {
						t.Fatalf("UploadPart: err = %v, want code %q", err, tt.wantCode)
					}
					return
				}
				done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(n), ETag: up.ETag, ChecksumSHA256: up.ChecksumSHA256})
			}
			_, err = cli.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("k"), UploadId: cr.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
			if got := errorCode(err); got != tt.wantCode || (tt.wantCode == "" && err != nil) {
				t.Fatalf("Complete: err = %v, want code %q", err, tt.wantCode)
			}
		})
	}
}
