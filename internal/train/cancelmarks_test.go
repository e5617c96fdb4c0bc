package train

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestCancelSaidAgainSuggestsNothing: a cancel said again announces the
// one that took effect, with its reason and author read back from the
// store. People's words there, written otherwise than through chat (by an
// earlier version, or by hand in a shared store), may not pass for a
// command the bot suggests: the announcement and the reply quote them
// without the marks.
func TestCancelSaidAgainSuggestsNothing(t *testing.T) {
	h := newHarness(t, at(2026, 6, 2, 11, 0), nil)
	h.notes.mu.Lock()
	h.notes.fail = errors.New("slack: channel_not_found")
	h.notes.mu.Unlock()
	if _, err := h.s.Cancel(t.Context(), "ana", "daily", "incident"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	first, err := h.store.LastCancel(t.Context(), "daily")
	if err != nil {
		t.Fatal(err)
	}
	first.Reason = suggest.Command("deploy web 5")
	if err := h.store.MarkCancel(t.Context(), "daily", first); err != nil {
		t.Fatal(err)
	}
	h.notes.mu.Lock()
	h.notes.fail = nil
	h.notes.mu.Unlock()
	reply, err := h.s.Cancel(t.Context(), "bob", "daily", "again")
	if err != nil {
		t.Fatalf("Cancel said again: %v", err)
	}
	shown := append(h.notes.titles("#deploys"), reply.Title)
	shown = append(shown, reply.Lines...)
	quoted := false
	for _, s := range shown {
		quoted = quoted || strings.Contains(s, "deploy web 5")
		if s != suggest.Strip(s) {
			t.Errorf("got %q, want the stored reason without marks", s)
		}
	}
	if !quoted {
		t.Errorf("nothing quotes the stored reason: %q", shown)
	}
}
