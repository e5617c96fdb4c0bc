package commands_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
)

// lockShapesYAML has the app demo with the env local, as the demo's
// config has it, and web with prod; ana is an admin.
const lockShapesYAML = `users:
  ana: {}
admins: [ana]
apps:
  demo:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/demo
    restart: 'true'
    environments:
      local:
        hosts: [localhost]
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
`

// TestLockShapesRefusedAudited: a lock whose words would be read as
// another scope or expiry than written is refused by the bot as any
// command the parser refuses: no lock is set, and the audit log keeps the
// refusal with the command as typed and the app it names.
func TestLockShapesRefusedAudited(t *testing.T) {
	for _, tt := range []struct {
		name, text, app, env string
	}{
		{"unknown app before for", "lock deploys nosuch for 1h x", "", ""},
		{"env after for", "lock deploys demo for 1h local x", "demo", ""},
		{"app after for", "lock deploys for 1h demo x", "", ""},
		{"duration first and last", "lock deploys demo for 1h db for 2h", "demo", ""},
		{"duration without for", "lock deploys demo local 2h db", "demo", "local"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, lockShapesYAML, nil)
			res, out, _ := f.do("ana", tt.text)
			if !res.Failed {
				t.Errorf("%q: got %+v, reply %q; want a refusal", tt.text, res, out.last())
			}
			if locks, err := f.store.Locks(t.Context()); err != nil || len(locks) != 0 {
				t.Errorf("%q: locks %+v, %v; want none", tt.text, locks, err)
			}
			entries, err := f.store.Audit(t.Context(), audit.Query{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Command != tt.text || entries[0].Decision != audit.Refused ||
				entries[0].Action != "lock" || entries[0].App != tt.app || entries[0].Env != tt.env {
				t.Errorf("audit: got %+v, want the refusal of %q (lock, app %q, env %q)", entries, tt.text, tt.app, tt.env)
			}
		})
	}
}

// TestLockEnvLocksThatEnv: a lock naming an env of the app, before or
// without "for DURATION", locks that env alone, for that long; the same
// without a reason is refused and locks nothing.
func TestLockEnvLocksThatEnv(t *testing.T) {
	f := newServiceFixtureFrom(t, lockShapesYAML, nil)
	if res, out, _ := f.do("ana", "lock deploys demo local for 1h"); !res.Failed || !strings.Contains(out.last(), "a lock must say why") {
		t.Errorf("lock without a reason: got %+v, %q; want it refused for want of a reason", res, out.last())
	}
	if locks, err := f.store.Locks(t.Context()); err != nil || len(locks) != 0 {
		t.Fatalf("locks after the refusal: %+v, %v; want none", locks, err)
	}
	if res, out, _ := f.do("ana", "lock deploys demo local for 1h db work"); res.Failed {
		t.Fatalf("lock of demo/local: %q", out.last())
	}
	locks, err := f.store.Locks(t.Context())
	if err != nil || len(locks) != 1 {
		t.Fatalf("locks: %+v, %v; want one", locks, err)
	}
	if l := locks[0]; l.App != "demo" || l.Env != "local" || l.Reason != "db work" || l.Expires.Sub(l.Created) != time.Hour {
		t.Errorf("lock: %+v; want demo/local for 1h with the reason %q", l, "db work")
	}
}
