package commands_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestSlipsRefusedAudited: a command with several slips is refused
// naming each, changes nothing, and leaves its audit entry, the command
// whole, as every refused command does.
func TestSlipsRefusedAudited(t *testing.T) {
	for _, tt := range []struct {
		text string
		want []string // in the refusal, in this order
	}{
		{"deploy deploy web 1 1", []string{`"deploy" is written twice`, `"1" is written twice`}},
		{"deploy web 1 --dry-run --dry-run --force a --force a", []string{`"--dry-run" is written twice`, `"--force" is written twice`}},
		{"deploy web 1 --dry-run --dry-run --force a --force b", []string{`"--dry-run" is written twice`, `--force is given twice`}},
		{"deploy web 1 2", []string{`two builds are named, "1" and "2"`}},
		{"rollback web to 1 2", []string{`two builds are named, "1" and "2"`}},
	} {
		t.Run(tt.text, func(t *testing.T) {
			f := newServiceFixture(t)
			res, out, _ := f.do("ana", tt.text)
			if !res.Failed || res.DeployID != "" {
				t.Fatalf("%q: got outcome %+v (replies %+v), want a refusal", tt.text, res, out.replies)
			}
			entries, err := f.store.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Decision != audit.Refused || entries[0].Command != tt.text {
				t.Fatalf("%q: got audit entries %+v, want one refused entry of the command", tt.text, entries)
			}
			rest := entries[0].Reason
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q: got the reason %q, want %q in it after what came before", tt.text, entries[0].Reason, w)
				}
				rest = rest[i+len(w):]
			}
			if recs, err := f.store.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
				t.Errorf("%q: got records %v (%v), want none", tt.text, recs, err)
			}
			if locks, err := f.store.Locks(t.Context()); err != nil || len(locks) != 0 {
				t.Errorf("%q: got locks %v (%v), want none", tt.text, locks, err)
			}
		})
	}
}
