package commands_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestStoreDamaged: the embedded store's file was damaged while the bot
// ran (a disk error), and the store found it. A command is refused, and
// the audit log cannot take its entry, saying so with the store's advice
// (restore the file), not that a local file is unreachable.
func TestStoreDamaged(t *testing.T) {
	type reply struct{ start, end string } // %[1]s the file, %[2]s what to do
	for _, tt := range []struct {
		name, text string
		want       []reply
	}{
		{"status", "status web", []reply{
			{"state store %[1]s is damaged: ", "%[2]s; nothing was changed"},
			{"The audit log cannot be written: state store %[1]s is damaged: ", "%[2]s"},
		}},
		{"lock", "lock deploys web prod x", []reply{
			{"Not run: the audit log cannot be written, so nothing was changed: state store %[1]s is damaged: ", "%[2]s"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			path := filepath.Join(t.TempDir(), "state.db")
			f.useStore(damagedStore(t, path))

			res, out, _ := f.do("bob", tt.text)
			if !res.Failed {
				t.Errorf("%s on a damaged store: got %+v, want it failed", tt.name, res)
			}
			var got []string
			out.mu.Lock()
			for _, m := range out.replies {
				got = append(got, strings.Join(append([]string{m.Title}, m.Lines...), ": "))
			}
			out.mu.Unlock()
			advice := fmt.Sprintf("stop the bot, then restore it from a backup, or move it aside (mv %s %s.damaged) to start a new, empty store, without its locks, grants and deploy history", path, path)
			if len(got) != len(tt.want) {
				t.Fatalf("replies: got %q, want %d saying the store is damaged", got, len(tt.want))
			}
			for i, w := range tt.want {
				start, end := fmt.Sprintf(w.start, path, advice), fmt.Sprintf(w.end, path, advice)
				if !strings.HasPrefix(got[i], start) || !strings.HasSuffix(got[i], end) {
					t.Errorf("reply %d: got %q, want %q…%q", i, got[i], start, end)
				}
			}
		})
	}
}

// damagedStore opens the embedded store at path, with an audit trail of
// pages of its own, and damages the trail's first page, as a disk error
// would while the bot runs; the store has found it.
func damagedStore(t *testing.T, path string) *embedded.Store {
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
