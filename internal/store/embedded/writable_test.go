package embedded_test

import (
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestWritableHealthyWritesNothing: /healthz asks Writable at every poll,
// which writes only while the store refuses writes (cmd/bot's
// TestHealthzEmbeddedRefusesWrites): a healthy store's file is not
// written, and its fsyncs not added to every poll's.
func TestWritableHealthyWritesNothing(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "switchman.db"), nil)
	before, err := embedded.TxID(s)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := s.Writable(t.Context()); err != nil {
			t.Fatalf("Writable: %v", err)
		}
	}
	after, err := embedded.TxID(s)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("last transaction after 10 Writable on a healthy store: got %d, want %d (no write)", after, before)
	}
}
