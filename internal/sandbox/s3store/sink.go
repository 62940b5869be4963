package s3store

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// Stats counts what the store checked and, with DiscardMultipartBodies,
// what it dropped.
type Stats struct {
	// ChecksumsVerified counts request bodies (PutObject, UploadPart) whose
	// x-amz-checksum-sha256 header matched the SHA-256 of the bytes
	// received; BytesVerified is their total size.
	ChecksumsVerified, BytesVerified int64
	// PartsDiscarded and BytesDiscarded count multipart parts read, checked
	// and dropped by DiscardMultipartBodies; UploadsCompleted counts the
	// multipart uploads it completed.
	PartsDiscarded, BytesDiscarded, UploadsCompleted int64
}

type counters struct {
	checksums, checkedBytes, parts, partBytes, completed atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{
		ChecksumsVerified: c.checksums.Load(), BytesVerified: c.checkedBytes.Load(),
		PartsDiscarded: c.parts.Load(), BytesDiscarded: c.partBytes.Load(), UploadsCompleted: c.completed.Load(),
	}
}

const checksumHeader = "X-Amz-Checksum-Sha256"

// verifyChecksums checks the SHA-256 of every PUT body that carries an
// x-amz-checksum-sha256 header, as S3 does: a mismatch fails the request
// with 400 BadDigest once the body is read (gofakes3 turns the read error
// into its response). With requireOnParts, an UploadPart without the header
// is refused, so a client that stops sending checksums cannot pass
// unverified.
func verifyChecksums(next http.Handler, c *counters, requireOnParts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.Header.Get("X-Amz-Copy-Source") != "" {
			next.ServeHTTP(w, r)
			return
		}
		want := r.Header.Get(checksumHeader)
		if want == "" {
			q := r.URL.Query()
			if requireOnParts && q.Has("uploadId") && q.Has("partNumber") {
				writeError(w, http.StatusBadRequest, "InvalidRequest", "this store requires an x-amz-checksum-sha256 header on every UploadPart")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		sum, err := base64.StdEncoding.DecodeString(want)
		if err != nil || len(sum) != sha256.Size {
			writeError(w, http.StatusBadRequest, "InvalidDigest", "x-amz-checksum-sha256 is not a base64 SHA-256")
			return
		}
		r.Body = &checksumBody{ReadCloser: r.Body, h: sha256.New(), want: sum, c: c}
		next.ServeHTTP(w, r)
	})
}

// checksumBody hashes a request body as it is read and, at its end,
// replaces io.EOF with gofakes3.ErrBadDigest when the hash differs.
type checksumBody struct {
	io.ReadCloser
	h       hash.Hash
	want    []byte
	c       *counters
	n       int64
	checked bool
	err     error
}

func (b *checksumBody) Read(p []byte) (int, error) {
	if b.checked {
		return 0, b.err
	}
	n, err := b.ReadCloser.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if err == io.EOF {
		b.checked, b.err = true, io.EOF
		if !bytes.Equal(b.h.Sum(nil), b.want) {
			b.err = gofakes3.ErrBadDigest
		} else {
			b.c.checksums.Add(1)
			b.c.checkedBytes.Add(b.n)
		}
		return n, b.err
	}
	return n, err
}

// sum returns the verified SHA-256, or nil before the body ended or when it
// did not match.
func (b *checksumBody) sum() []byte {
	if b.checked && b.err == io.EOF {
		return b.want
	}
	return nil
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}{Code: code, Message: msg})
}

// minPartSize is S3's minimum size of every part but the last.
const minPartSize = 5 << 20

// discardParts is a gofakes3 backend whose multipart uploads keep no
// bytes: each part is read to its end (through checksumBody, which verifies
// its SHA-256), counted and dropped; completion checks the part list as S3
// does (order, ETags, 5 MiB minimum) and stores nothing. Everything else
// (buckets, PutObject, GetObject, listings) is the embedded backend's.
// gofakes3 uses a backend's own multipart implementation when it has one,
// instead of its in-memory uploader that holds every part and joins them
// into one buffer at completion.
type discardParts struct {
	gofakes3.Backend

	c       *counters
	bufs    sync.Pool // of *[]byte read buffers
	mu      sync.Mutex
	next    uint64
	uploads map[gofakes3.UploadID]*sinkUpload
}

type sinkUpload struct {
	bucket, object string
	initiated      time.Time
	parts          map[int]sinkPart
}

type sinkPart struct {
	etag     string
	size     int64
	modified time.Time
}

var _ gofakes3.MultipartBackend = (*discardParts)(nil)

func newDiscardParts(b gofakes3.Backend, c *counters) *discardParts {
	d := &discardParts{Backend: b, c: c, uploads: map[gofakes3.UploadID]*sinkUpload{}}
	d.bufs.New = func() any { b := make([]byte, 256<<10); return &b }
	return d
}

func (d *discardParts) CreateMultipartUpload(bucket, object string, _ map[string]string) (gofakes3.UploadID, error) {
	if ok, err := d.BucketExists(bucket); err != nil {
		return "", err
	} else if !ok {
		return "", gofakes3.ErrNoSuchBucket
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.next++
	id := gofakes3.UploadID(strconv.FormatUint(d.next, 10))
	d.uploads[id] = &sinkUpload{bucket: bucket, object: object, initiated: time.Now(), parts: map[int]sinkPart{}}
	return id, nil
}

func (d *discardParts) get(bucket, object string, id gofakes3.UploadID) (*sinkUpload, error) {
	u, ok := d.uploads[id]
	if !ok || u.bucket != bucket || u.object != object {
		return nil, gofakes3.ErrNoSuchUpload
	}
	return u, nil
}

func (d *discardParts) UploadPart(bucket, object string, id gofakes3.UploadID, partNumber int, contentLength int64, input io.Reader) (string, error) {
	if partNumber < 1 || partNumber > gofakes3.MaxUploadPartNumber {
		return "", gofakes3.ErrInvalidPart
	}
	d.mu.Lock()
	_, err := d.get(bucket, object, id)
	d.mu.Unlock()
	if err != nil {
		return "", err
	}
	// io.Copy to io.Discard would read in 8 KiB steps, a syscall each on
	// the connection; the store's CPU competes with its client's here.
	buf := d.bufs.Get().(*[]byte)
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{input}, *buf)
	d.bufs.Put(buf)
	if err != nil {
		return "", err
	}
	if n != contentLength {
		return "", gofakes3.ErrIncompleteBody
	}
	// The ETag is opaque to clients; the verified SHA-256 is unique enough
	// (S3 uses an MD5, which would cost another pass over the bytes).
	var etag string
	if cb, ok := input.(*checksumBody); ok && cb.sum() != nil {
		etag = `"` + hex.EncodeToString(cb.sum()) + `"`
	} else {
		return "", gofakes3.ErrorMessage(gofakes3.ErrInvalidDigest, "part body was not checksum-verified")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	u, err := d.get(bucket, object, id) // it may have been aborted meanwhile
	if err != nil {
		return "", err
	}
	u.parts[partNumber] = sinkPart{etag: etag, size: n, modified: time.Now()}
	d.c.parts.Add(1)
	d.c.partBytes.Add(n)
	return etag, nil
}

func (d *discardParts) AbortMultipartUpload(bucket, object string, id gofakes3.UploadID) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.get(bucket, object, id); err != nil {
		return err
	}
	delete(d.uploads, id)
	return nil
}

func (d *discardParts) CompleteMultipartUpload(bucket, object string, id gofakes3.UploadID, in *gofakes3.CompleteMultipartUploadRequest) (gofakes3.VersionID, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, err := d.get(bucket, object, id)
	if err != nil {
		return "", "", err
	}
	if len(in.Parts) == 0 {
		return "", "", gofakes3.ErrorMessage(gofakes3.ErrMalformedXML, "no parts")
	}
	h := sha256.New()
	for i, p := range in.Parts {
		if i > 0 && p.PartNumber <= in.Parts[i-1].PartNumber {
			return "", "", gofakes3.ErrInvalidPartOrder
		}
		got, ok := u.parts[p.PartNumber]
		if !ok || strings.Trim(p.ETag, `"`) != strings.Trim(got.etag, `"`) {
			return "", "", gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart, "part %d was not uploaded with ETag %s", p.PartNumber, p.ETag)
		}
		if i < len(in.Parts)-1 && got.size < minPartSize {
			return "", "", gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart, "EntityTooSmall: part %d is %d bytes, under the 5 MiB minimum", p.PartNumber, got.size)
		}
		h.Write([]byte(got.etag))
	}
	delete(d.uploads, id)
	d.c.completed.Add(1)
	return "", `"` + hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(in.Parts)) + `"`, nil
}

func (d *discardParts) ListMultipartUploads(bucket string, marker *gofakes3.UploadListMarker, prefix gofakes3.Prefix, limit int64) (*gofakes3.ListMultipartUploadsResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := &gofakes3.ListMultipartUploadsResult{Bucket: bucket, Prefix: prefix.Prefix, MaxUploads: limit}
	var items []gofakes3.ListMultipartUploadItem
	for id, u := range d.uploads {
		if u.bucket == bucket && strings.HasPrefix(u.object, prefix.Prefix) {
			items = append(items, gofakes3.ListMultipartUploadItem{Key: u.object, UploadID: id, Initiated: gofakes3.NewContentTime(u.initiated)})
		}
	}
	slices.SortFunc(items, func(a, b gofakes3.ListMultipartUploadItem) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(string(a.UploadID), string(b.UploadID))
	})
	if marker != nil {
		res.KeyMarker, res.UploadIDMarker = marker.Object, marker.UploadID
		items = slices.DeleteFunc(items, func(it gofakes3.ListMultipartUploadItem) bool {
			return it.Key < marker.Object || (it.Key == marker.Object && (marker.UploadID == "" || it.UploadID <= marker.UploadID))
		})
	}
	if limit > 0 && int64(len(items)) > limit {
		items = items[:limit]
		res.IsTruncated = true
		res.NextKeyMarker, res.NextUploadIDMarker = items[limit-1].Key, items[limit-1].UploadID
	}
	res.Uploads = items
	return res, nil
}

func (d *discardParts) ListParts(bucket, object string, id gofakes3.UploadID, marker int, limit int64) (*gofakes3.ListMultipartUploadPartsResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, err := d.get(bucket, object, id)
	if err != nil {
		return nil, err
	}
	res := &gofakes3.ListMultipartUploadPartsResult{Bucket: bucket, Key: object, UploadID: id, PartNumberMarker: marker, MaxParts: limit, StorageClass: "STANDARD"}
	nums := make([]int, 0, len(u.parts))
	for n := range u.parts {
		if n > marker {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for _, n := range nums {
		if limit > 0 && int64(len(res.Parts)) >= limit {
			res.IsTruncated = true
			res.NextPartNumberMarker = res.Parts[len(res.Parts)-1].PartNumber
			break
		}
		p := u.parts[n]
		res.Parts = append(res.Parts, gofakes3.ListMultipartUploadPartItem{PartNumber: n, ETag: p.etag, Size: p.size, LastModified: gofakes3.NewContentTime(p.modified)})
	}
	return res, nil
}
