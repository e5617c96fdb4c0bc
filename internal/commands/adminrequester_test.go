package commands_test

import (
	"strings"
	"testing"
	"time"
)

// TestClosedForNoAdminSpeaksToAnAdmin: where an env needs an admin around
// and none is, an admin asking for a deploy is around; told "no admin is
// around … admins who can force it: ana", ana was sent to ask herself.
// The reply says they have not checked in and how to go on; what the
// gate lets through is unchanged.
func TestClosedForNoAdminSpeaksToAnAdmin(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*guardFixture)
		user   string
		text   string
		failed bool
		want   []string
		unwant []string
	}{
		{
			name: "a deployer", user: "bob", text: "deploy web 1", failed: true,
			want:   []string{"no admin is around (an admin checks in with /here)", `admins who can force it (--force "reason"): ana`},
			unwant: []string{"has not checked in"},
		},
		{
			name: "an admin not checked in", user: "ana", text: "deploy web 1", failed: true,
			want: []string{"deploys to web/prod are closed now: ana, an admin, has not checked in, and no other admin is around (check in with /here)",
				`ana, an admin, can force it (--force "reason")`},
			unwant: []string{"no admin is around", "admins who can force it"},
		},
		{
			name: "an admin not checked in, dry run", user: "ana", text: "deploy web 1 --dry-run", failed: false,
			want:   []string{"ana, an admin, has not checked in"},
			unwant: []string{"no admin is around"},
		},
		{
			name: "an admin by a runtime grant", user: "carl", text: "deploy web 1", failed: true,
			setup: func(f *guardFixture) {
				if res, out, _ := f.do("ana", "grant @carl admin"); res.Failed {
					t.Fatalf("grant: %s", out.last())
				}
			},
			want:   []string{"carl, an admin, has not checked in", `carl, an admin, can force it (--force "reason")`},
			unwant: []string{"no admin is around"},
		},
		{
			name: "an admin not checked in, outside the window too", user: "ana", text: "deploy web 1", failed: true,
			setup: func(f *guardFixture) { f.clock.Set(f.clock.Now().Add(7 * time.Hour)) },
			want: []string{"outside the deploy window (Mon-Thu 09:00-16:00 Europe/Warsaw); the next window opens Tue 2026-11-24 09:00 CET; ana, an admin, has not checked in",
				`can force it (--force "reason")`},
		},
		{
			name: "an admin forcing it", user: "ana", text: `deploy web 1 --force "INC-7"`, failed: false,
			want: []string{`ana forced this deploy outside its window: "INC-7"`},
		},
		{
			name: "an admin checked in", user: "ana", text: "deploy web 1", failed: false,
			setup: func(f *guardFixture) {
				if res, out, _ := f.do("ana", "here"); res.Failed {
					t.Fatalf("here: %s", out.last())
				}
			},
			want: []string{"Deploying web 1 to prod"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			if tt.setup != nil {
				tt.setup(f)
			}
			res, out, _ := f.do(tt.user, tt.text)
			checkReply(t, res.Failed, out.last(), tt.failed, tt.want, tt.unwant)
		})
	}
}

// checkReply checks a command's reply got: whether it failed, what it
// must say and what it must not.
func checkReply(t *testing.T, failed bool, got string, wantFailed bool, want, unwant []string) {
	t.Helper()
	if failed != wantFailed {
		t.Errorf("got failed=%v, want %v; reply %q", failed, wantFailed, got)
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("got reply %q, want it to say %q", got, w)
		}
	}
	for _, u := range unwant {
		if strings.Contains(got, u) {
			t.Errorf("got reply %q, want it not to say %q", got, u)
		}
	}
}
