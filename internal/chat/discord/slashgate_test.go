package discord

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

const gateYAML = `users:
  ana: {discord: "111"}
  bob: {discord: "222"}
admins: [ana]
deployers: [bob]
apps:
  web:
    default_env: prod
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
  api:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/api
    restart: 'true'
    environments:
      staging:
        hosts: [localhost]
`

// TestSlashCommandsMeetTheGate: /admins, /grant, /revoke, a /lock
// with a duration and /confirm, signed as Discord signs them, reach the same
// commands.Service as any typed command: the text they make is audited
// as the command, an admin's grant and timed lock are kept, and a
// deployer's revoke, and a confirm of no deploy, are refused as typed
// ones would be.
func TestSlashCommandsMeetTheGate(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(gateYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 14, 14, 2, 0, 0, time.UTC) // the harness's, which signs the interactions
	clock := func() time.Time { return now }
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st, Now: clock})
	t.Cleanup(eng.Wait)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy, Now: clock})
	hs := newHarness(t, nil, func(o *Options) { o.Handler = svc })
	if !hs.clock.Now().Equal(now) {
		t.Fatalf("harness time %s, want %s", hs.clock.Now(), now)
	}
	const str, user = 3, 6
	steps := []struct {
		id, userID, name string
		opts             []map[string]any
		command          string
		decision         audit.Decision
	}{
		{"801", "111", "admins", nil, "admins", audit.Allowed},
		{"802", "111", "grant", []map[string]any{opt("user", user, "222"), opt("role", str, "admin"), opt("app", str, "api"),
			opt("env", str, "staging"), opt("duration", str, "2h")}, "grant <@222> admin api staging for 2h", audit.Allowed},
		{"803", "222", "revoke", []map[string]any{opt("user", user, "111"), opt("role", str, "deployer")}, "revoke <@111> deployer", audit.Refused},
		{"804", "111", "lock", []map[string]any{opt("reason", str, "db migration"), opt("app", str, "web"), opt("env", str, "prod"),
			opt("duration", str, "2h")}, `lock deploys web prod for 2h "db migration"`, audit.Allowed},
		{"805", "111", "revoke", []map[string]any{opt("user", user, "222"), opt("role", str, "admin"), opt("app", str, "api"),
			opt("env", str, "staging")}, "revoke <@222> admin api staging", audit.Allowed},
		{"806", "222", "confirm", []map[string]any{opt("id", str, "20250314-140200-abc123")}, "deploy confirm 20250314-140200-abc123", audit.Refused},
	}
	// decisions returns the outcomes audited for command.
	decisions := func(command string) []audit.Decision {
		entries, err := st.Audit(context.Background(), audit.Query{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []audit.Decision
		for _, e := range entries {
			if e.Command == command && e.Platform == Platform && e.Decision != audit.Pending {
				got = append(got, e.Decision)
			}
		}
		return got
	}
	for _, s := range steps {
		if w := hs.post(t, slashCommand(s.id, s.userID, s.name, s.opts...)); w.Code != 200 {
			t.Fatalf("/%s: status %d, want 200", s.name, w.Code)
		}
		// Each command runs after the one before it has ended: the
		// revoke takes back what the grant gave.
		waitFor(t, "the audit of "+s.command, func() bool { return len(decisions(s.command)) > 0 })
	}
	hs.shutdown(t)

	for _, s := range steps {
		if got := decisions(s.command); len(got) != 1 || got[0] != s.decision {
			t.Errorf("/%s: audited %q as %v, want once as %s", s.name, s.command, got, s.decision)
		}
	}
	locks, err := st.Locks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 || locks[0].App != "web" || locks[0].Env != "prod" || locks[0].Owner != "ana" ||
		locks[0].Reason != "db migration" || !locks[0].Expires.Equal(now.Add(2*time.Hour)) {
		t.Errorf("locks %+v, want web/prod by ana for db migration until %s", locks, now.Add(2*time.Hour))
	}
	grants, err := st.Grants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 0 {
		t.Errorf("grants %+v, want none: the grant was revoked", grants)
	}
}
