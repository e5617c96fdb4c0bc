package main

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestHealthzEmbeddedClosed: /healthz of a bot whose embedded store is
// closed, as it stops, says so: not "unreachable", Redis's word, which
// sent operators looking for a network fault in a local file.
func TestHealthzEmbeddedClosed(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := embeddedHealthz(t, st); code != http.StatusOK || body["store"] != "ok" {
		t.Fatalf("/healthz while the store is open: got %d %v, want 200 store ok", code, body)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	code, body := embeddedHealthz(t, st)
	if code != http.StatusServiceUnavailable || len(body) != 2 || body["status"] != "unavailable" || body["store"] != "closed" {
		t.Errorf("/healthz once the store is closed: got %d %v, want 503 {status: unavailable, store: closed}", code, body)
	}
}
