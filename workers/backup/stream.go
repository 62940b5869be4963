package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"

	"github.com/cpwarden/cpwarden/internal/awsfault"
	"github.com/cpwarden/cpwarden/internal/faults"
)

// trailerReader passes a snapshot stream through unchanged while checking
// the SHA-256 etcd appends after the database: every byte but the last 32
// is hashed, and at the end of the stream the last 32 must equal the hash.
// On a mismatch, Read returns a Backup.Corrupt error instead of io.EOF, so
// the uploader fails and aborts before completing the upload.
type trailerReader struct {
	r       io.Reader
	h       hash.Hash
	tail    [sha256.Size]byte
	tailN   int
	total   int64
	sum     []byte
	readErr error // a failure of the underlying stream, not of the check
}

func newTrailerReader(r io.Reader) *trailerReader {
	return &trailerReader{r: r, h: sha256.New()}
}

func (t *trailerReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.total += int64(n)
	t.absorb(p[:n])
	switch {
	case err == io.EOF:
		if cerr := t.check(); cerr != nil {
			return n, cerr
		}
	case err != nil:
		t.readErr = err
	}
	return n, err
}

// absorb hashes everything that can no longer be part of the trailer.
func (t *trailerReader) absorb(b []byte) {
	if len(b) >= sha256.Size {
		t.h.Write(t.tail[:t.tailN])
		t.h.Write(b[:len(b)-sha256.Size])
		t.tailN = copy(t.tail[:], b[len(b)-sha256.Size:])
		return
	}
	// Fewer than 32 new bytes: the oldest bytes of the tail spill over.
	spill := t.tailN + len(b) - sha256.Size
	if spill > 0 {
		t.h.Write(t.tail[:spill])
		copy(t.tail[:], t.tail[spill:t.tailN])
		t.tailN -= spill
	}
	t.tailN += copy(t.tail[t.tailN:], b)
}

func (t *trailerReader) check() error {
	db := t.total - sha256.Size
	// etcdutl recognises the digest by size: the database is a whole number
	// of 512-byte sectors and the digest follows.
	if t.tailN != sha256.Size || db <= 0 || db%512 != 0 {
		return faults.New(faults.BackupCorrupt, "snapshot stream of %d bytes does not end with a SHA-256 digest after whole 512-byte sectors", t.total)
	}
	t.sum = t.h.Sum(nil)
	if !bytes.Equal(t.sum, t.tail[:]) {
		return faults.New(faults.BackupCorrupt, "snapshot SHA-256 mismatch: etcd sent %x, the %d bytes received hash to %x", t.tail, db, t.sum)
	}
	return nil
}

func (t *trailerReader) digest() string { return hex.EncodeToString(t.sum) }

// classifyS3 classifies an S3 failure once (internal/awsfault): throttling,
// server errors and network failures are transient (AWS.Throttled, retried
// with back-off); a missing bucket is a configuration error (Input.Invalid);
// any other refusal is not retried.
func classifyS3(err error, what string) error {
	if awsfault.Code(err) == "NoSuchBucket" {
		return faults.Wrap(faults.InputInvalid, err, what+": the configured bucket does not exist")
	}
	return awsfault.Wrap(err, what)
}
