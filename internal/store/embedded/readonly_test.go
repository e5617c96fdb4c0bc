package embedded_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestOpenFileNobodyMayWrite: a store file whose mode lets nobody write
// it (0444, 0400: a copy restored from read-only media, or made so on
// purpose) is refused to write, by Open and by Check alike, with the
// chmod to run, and left as it is; it is still read (bot audit). A bot
// running as root wrote it all the same, and one running as its owner
// failed with "permission denied" alone.
func TestOpenFileNobodyMayWrite(t *testing.T) {
	for _, mode := range []os.FileMode{0o444, 0o400} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			if err := openStore(t, path, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			s, openErr := embedded.Open(path, embedded.Options{})
			if openErr == nil {
				s.Close()
			}
			want := fmt.Sprintf("state store %s is read-only (mode %04o): the bot writes its locks, grants and audit trail to it: chmod 600 %s", path, mode, path)
			if openErr == nil || !strings.Contains(openErr.Error(), want) {
				t.Errorf("Open: got %v, want an error saying %q", openErr, want)
			}
			if err := embedded.Check(path, nil); err == nil || openErr == nil || err.Error() != openErr.Error() {
				t.Errorf("Check: got %v, want %v (what Open says)", err, openErr)
			}
			r, err := embedded.Open(path, embedded.Options{ReadOnly: true})
			if err != nil {
				t.Errorf("Open read-only: got %v, want the store", err)
			} else if err := r.Close(); err != nil {
				t.Error(err)
			}
			after, err := os.Stat(path)
			if err != nil || after.Size() != before.Size() || after.Mode() != before.Mode() || !after.ModTime().Equal(before.ModTime()) {
				t.Errorf("file after Open: got %v, %v, want it unchanged (%v)", after, err, before)
			}
		})
	}
}
