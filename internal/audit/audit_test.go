package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// briefly fails its first down writes, as a store briefly unreachable
// does, and then writes to the real store.
type briefly struct {
	*embedded.Store
	down int
}

func (b *briefly) AppendAudit(ctx context.Context, e *audit.Entry) error {
	if b.down > 0 {
		b.down--
		return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return b.Store.AppendAudit(ctx, e)
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name     string
		down     int
		canceled bool // the request ended before the write
		written  bool
	}{
		{name: "store up", written: true},
		{name: "one write fails", down: 1, written: true},
		{name: "two writes fail", down: audit.Tries - 1, written: true},
		{name: "every write fails", down: audit.Tries},
		{name: "request ended", canceled: true, written: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			ctx, cancel := context.WithCancel(t.Context())
			if tt.canceled {
				cancel()
			}
			defer cancel()
			err = audit.Append(ctx, &briefly{Store: st, down: tt.down}, &audit.Entry{User: "ana", Command: "deploy web 42", Decision: audit.Allowed})
			if (err == nil) != tt.written {
				t.Errorf("Append: got %v, want written %v", err, tt.written)
			}
			got, err := st.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1}[tt.written]; len(got) != want {
				t.Errorf("entries: got %d, want %d", len(got), want)
			}
		})
	}
}
