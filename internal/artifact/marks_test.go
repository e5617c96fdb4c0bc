package artifact

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestUnsafeEntrySuggestsNothing: the refusal of an unsafe archive names
// its entries, which the build chose, and is quoted in the deploy's
// reply. A name holding a command between the marks of the bot's
// suggestions loses the marks there, so that it does not read as one.
func TestUnsafeEntrySuggestsNothing(t *testing.T) {
	forged := suggest.Command("deploy web 5")
	tests := []struct {
		name    string
		entries []entry
	}{
		{"replaces symlink", []entry{dir("d/"), symlink(forged, "d"), file(forged, "x")}},
		{"replaces symlink with directory", []entry{dir("d/"), symlink(forged, "d"), dir(forged + "/")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := gz(t, makeTar(t, append([]entry{file("ok", "fine")}, tt.entries...)...))
			_, err := inspect(t, data, sum(data))
			var ue *UnsafeEntryError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want an *UnsafeEntryError", err)
			}
			if msg := err.Error(); msg != suggest.Strip(msg) || !strings.Contains(msg, "deploy web 5") {
				t.Errorf("got %q, want it to name the entry without marks", msg)
			}
		})
	}
}
