package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"testing/iotest"

	"pgregory.net/rapid"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// chunked returns reads of the given sizes, to exercise every way the
// 32-byte trailer can straddle reads.
type chunked struct {
	data  []byte
	sizes []int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.sizes) > 0 {
		n, c.sizes = min(max(c.sizes[0], 1), n), c.sizes[1:]
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestTrailerReaderProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		db := make([]byte, 512*rapid.IntRange(1, 8).Draw(rt, "sectors"))
		for i := range db {
			db[i] = byte(i * 31)
		}
		sum := sha256.Sum256(db)
		stream := append(append([]byte(nil), db...), sum[:]...)
		damage := rapid.IntRange(-1, len(stream)-1).Draw(rt, "damage") // -1: intact
		if damage >= 0 {
			stream[damage] ^= 0x80
		}
		sizes := rapid.SliceOf(rapid.IntRange(1, 700)).Draw(rt, "reads")
		tr := newTrailerReader(&chunked{data: bytes.Clone(stream), sizes: sizes})
		got, err := io.ReadAll(tr)
		if !bytes.Equal(got, stream) {
			rt.Fatal("the reader changed the stream")
		}
		if damage < 0 {
			if err != nil || tr.digest() != hex.EncodeToString(sum[:]) {
				rt.Fatalf("intact stream: err %v digest %s", err, tr.digest())
			}
		} else if !faults.Is(err, faults.BackupCorrupt) {
			rt.Fatalf("byte %d flipped: err = %v, want Backup.Corrupt", damage, err)
		}
	})
}

func TestTrailerReaderRejects(t *testing.T) {
	db := make([]byte, 1024)
	sum := sha256.Sum256(db)
	tests := map[string][]byte{
		"empty":                nil,
		"no digest":            db,
		"digest only":          sum[:],
		"database not sectors": append(append([]byte(nil), db[:1000]...), sum[:]...),
		"truncated mid-digest": append(append([]byte(nil), db...), sum[:20]...),
	}
	for name, stream := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := io.ReadAll(newTrailerReader(bytes.NewReader(stream)))
			if !faults.Is(err, faults.BackupCorrupt) {
				t.Fatalf("err = %v, want Backup.Corrupt", err)
			}
		})
	}
	// A failing source is reported as such, not as corruption.
	tr := newTrailerReader(iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := io.ReadAll(tr); faults.Is(err, faults.BackupCorrupt) || tr.readErr == nil {
		t.Fatalf("source failure classified as corruption: %v", err)
	}
}
