package commands_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestGrantRevokeAwayReadCheckInsByTheGateRule: grant, revoke and away
// took any check-in of an admin for one that counts them around, where
// the deploy gate counts one only under the terms it was made under. A
// shorter grant cut short, and said to count until its new end, carl's
// check-in made under a grant since revoked, which counted him around at
// no time; a revoke of another of his grants left it; away told the
// channel he was away as if he had been around. Each now reads it by the
// gate's rule: grant and revoke end it, and say so, and away says it did
// not count.
func TestGrantRevokeAwayReadCheckInsByTheGateRule(t *testing.T) {
	const why = "carl checked in as an admin by a runtime grant, and is one now only by another runtime grant"
	tests := []struct {
		name    string
		lapsed  bool   // carl's check-in was made under a grant since revoked
		by      string // who sends text
		text    string
		line    string // the reply's line, "" for none
		stays   bool   // whether carl's check-in stands afterwards
		entryIn bool   // whether the audit entry's reason holds line
	}{
		{"shorter grant", true, "ana", "grant @carl admin for 1h",
			"carl's check-in from before this grant, made under an admin since ended, ended: they check in again with here", false, true},
		{"revoke of another grant", true, "ana", "revoke @carl deployer web",
			"carl's check-in until 2026-11-23 14:00:00 CET did not count them around (" + why + "), so it ended; here checks them in anew", false, true},
		{"away", true, "carl", "away",
			"their check-in until 2026-11-23 14:00:00 CET did not count them around: " + why, false, true},
		// A check-in that counts is fitted, or ended, as before.
		{"shorter grant, counted", false, "ana", "grant @carl admin for 1h",
			"carl's check-in now ends at 2026-11-23 11:00:00 CET, when their admin (a runtime grant) ends", true, true},
		{"revoke of another grant, counted", false, "ana", "revoke @carl deployer web", "", true, false},
		{"away, counted", false, "carl", "away", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			ctx := t.Context()
			for _, step := range []struct{ user, text string }{{"ana", "grant @carl admin"}, {"carl", "here for 4h"}} {
				if res, out, _ := f.do(step.user, step.text); res.Failed {
					t.Fatalf("%q: %s", step.text, out.last())
				}
			}
			if tt.lapsed {
				// As a revoke whose end of the check-in failed leaves it,
				// and a grant of the admin made later.
				if _, err := f.store.DeleteGrant(ctx, "carl", "admin", "", ""); err != nil {
					t.Fatal(err)
				}
				if err := f.store.PutGrant(ctx, acl.Grant{User: "carl", Role: "admin", GrantedBy: "ana", Created: f.clock.Now().Add(time.Minute)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.store.PutGrant(ctx, acl.Grant{User: "carl", Role: "deployer", App: "web", GrantedBy: "ana", Created: f.clock.Now()}); err != nil {
				t.Fatal(err)
			}
			res, out, _ := f.do(tt.by, tt.text)
			if res.Failed {
				t.Fatalf("%q: %s", tt.text, out.last())
			}
			var lines []string
			for _, l := range out.lastMessage().Lines {
				lines = append(lines, suggest.Strip(l))
			}
			if tt.line == "" && len(lines) > 0 || tt.line != "" && !slices.Contains(lines, tt.line) {
				t.Errorf("%q reply lines: got %q, want %q", tt.text, lines, tt.line)
			}
			if entry := auditEntryOf(t, f.store, tt.by, tt.text); entry == nil || tt.entryIn && !strings.Contains(entry.Reason, tt.line) {
				t.Errorf("%q audit entry: got %+v, want its reason to hold %q", tt.text, entry, tt.line)
			}
			checkIns, err := f.store.CheckIns(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, in := checkIns["carl"]; in != tt.stays {
				t.Errorf("carl checked in after %q: got %v, want %v", tt.text, in, tt.stays)
			}
		})
	}
}
