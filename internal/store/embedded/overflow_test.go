package embedded_test

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestOpenPageCountOverflows: a file whose meta pages count more pages
// than any file holds, so many that their size in bytes overflows (a
// damaged or forged header, whose checksum is no defence), is refused as
// damaged by Open and Check, and left as it is. The overflowed size
// passed the check that the file holds its pages, and bbolt then walked
// page numbers up to the count, and wrote at offsets the overflow folded
// back into the file.
func TestOpenPageCountOverflows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchman.db")
	if err := openStore(t, path, nil).Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	const header, sumEnd = 16, 56
	e := binary.NativeEndian
	meta := make([]byte, 64)
	if _, err := f.ReadAt(meta, header); err != nil {
		t.Fatal(err)
	}
	pageSize := int64(e.Uint32(meta[8:]))
	for _, off := range []int64{0, pageSize} {
		if _, err := f.ReadAt(meta, off+header); err != nil {
			t.Fatal(err)
		}
		// pageSize times this is 2^64, which wraps to 0.
		e.PutUint64(meta[40:], (1<<63)/uint64(pageSize)*2)
		h := fnv.New64a()
		h.Write(meta[:sumEnd])
		e.PutUint64(meta[sumEnd:], h.Sum64())
		if _, err := f.WriteAt(meta, off+header); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		s, err := embedded.Open(path, embedded.Options{})
		if err == nil {
			err = errors.Join(errors.New("opened"), s.Close())
		}
		done <- err
	}()
	var openErr error
	select {
	case openErr = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Open: still opening 10s later")
	}
	want := "state store " + path + " is damaged: its meta page counts"
	if openErr == nil || !strings.Contains(openErr.Error(), want) {
		t.Errorf("Open: got %v, want an error saying %q", openErr, want)
	}
	if err := embedded.Check(path, nil); err == nil || openErr == nil || err.Error() != openErr.Error() {
		t.Errorf("Check: got %v, want %v (what Open says)", err, openErr)
	}
	if after, err := os.ReadFile(path); err != nil || string(after) != string(before) {
		t.Errorf("file after Open: got %d bytes, %v; want it unchanged", len(after), err)
	}
}
