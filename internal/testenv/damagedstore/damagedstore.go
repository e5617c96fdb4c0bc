// Package damagedstore opens a real embedded state store whose file is
// damaged while it is open, for tests of what the bot does once the
// store finds it cannot be trusted.
package damagedstore

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// Open opens the embedded store at path, with an audit trail of pages of
// its own, and damages the trail's first page, as a disk error would
// while the bot runs; the store has found it. The store is closed when
// the test ends.
func Open(t testing.TB, path string) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(path, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := st.AppendAudit(t.Context(), &audit.Entry{User: "ana", Command: fmt.Sprintf("deploy web %d", i), Decision: audit.Allowed}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	off := auditRootPage(t, path)
	if st, err = embedded.Open(path, embedded.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	file, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = file.WriteAt(make([]byte, 16), off)
	if err := errors.Join(err, file.Close()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Audit(t.Context(), audit.Query{}); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("reading the damaged audit trail: got %v, want the store damaged", err)
	}
	return st
}

// auditRootPage returns the offset in the store file at path, not open,
// of the audit trail's root page.
func auditRootPage(t testing.TB, path string) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		if b == nil || b.Root() == 0 {
			return errors.New("the audit trail has no page of its own")
		}
		off = int64(b.Root()) * int64(tx.DB().Info().PageSize)
		return nil
	})
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	return off
}
