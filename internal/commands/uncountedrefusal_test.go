package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
)

// TestNoAdminRefusalSaysWhichCheckInDoesNotCount: a deploy refused as no
// admin being around did not say that a check-in it saw did not count,
// nor whose, nor why: whoever saw carl check in was left to guess. The
// refusal now says so, in the words admins uses, and changes nothing.
func TestNoAdminRefusalSaysWhichCheckInDoesNotCount(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *guardFixture)
		want  string // "" for no check-in said not to count; marks stripped
	}{
		{"made under a grant since revoked", func(t *testing.T, f *guardFixture) {
			checkInUnderRevokedGrant(t, f, "carl")
		}, "carl: checked in until 2026-11-23 14:00:00 CET, not counted: carl checked in as an admin by a runtime grant, and is one now only by another runtime grant; here checks them in anew"},
		{"of a user who is no admin", func(t *testing.T, f *guardFixture) {
			if err := f.store.CheckIn(t.Context(), "bob", f.clock.Now().Add(4*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, "bob: checked in until 2026-11-23 14:00:00 CET, not counted: bob is no admin of every app and env, by the config or a runtime grant in force; it ends then, or when they send away"},
		{"none", func(*testing.T, *guardFixture) {}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			tt.setup(t, f)
			before, err := f.store.CheckIns(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			res, out, _ := f.do("bob", "deploy web 1")
			got := out.last()
			if !res.Failed || !strings.Contains(got, "no admin is around") {
				t.Fatalf("deploy: got failed=%v %q, want refused as no admin is around", res.Failed, got)
			}
			switch {
			case tt.want == "" && strings.Contains(got, "not counted"):
				t.Errorf("deploy: got %q, want no check-in said not to count", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("deploy: got %q, want it to hold %q", got, tt.want)
			}
			after, err := f.store.CheckIns(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("check-ins after the refusal: got %v, want %v, unchanged", after, before)
			}
			for u, c := range before {
				if after[u] != c {
					t.Errorf("check-in of %s after the refusal: got %+v, want %+v, unchanged", u, after[u], c)
				}
			}
		})
	}
}

// checkInUnderRevokedGrant leaves user checked in for 4h under a grant
// of admin since revoked, and an admin again by a grant made later, as a
// revoke whose end of the check-in failed leaves them.
func checkInUnderRevokedGrant(t *testing.T, f *guardFixture, user string) {
	t.Helper()
	for _, step := range []struct{ user, text string }{{"ana", "grant @" + user + " admin"}, {user, "here for 4h"}} {
		if res, out, _ := f.do(step.user, step.text); res.Failed {
			t.Fatalf("%q: %s", step.text, out.last())
		}
	}
	if _, err := f.store.DeleteGrant(t.Context(), user, "admin", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutGrant(t.Context(), acl.Grant{User: user, Role: "admin", GrantedBy: "ana", Created: f.clock.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
}
