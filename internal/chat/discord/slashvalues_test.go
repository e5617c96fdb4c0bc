package discord

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
)

// valuesYAML has an app named confirm, the keyword of deploy confirm.
const valuesYAML = `users:
  ana: {discord: "111"}
admins: [ana]
apps:
  web:
    default_env: prod
    artifact:
      path: artifacts/{app}-{build}.tar.gz
      checksum: optional
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
  confirm:
    default_env: prod
    artifact:
      path: artifacts/{app}-{build}.tar.gz
      checksum: optional
    path: srv/confirm
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
`

// TestSlashOptionValuesAreNeverGrammar: a slash command's option values,
// signed as Discord sends them, reach the service as those values and
// nothing else. An app named confirm with a build shaped like a deploy
// id is deployed (a dry run), not taken for the confirm of that deploy;
// a build named like a keyword is that build; a value that would read as
// a flag or as several words is refused before anything runs. Nothing is
// locked, granted or deployed.
func TestSlashOptionValuesAreNeverGrammar(t *testing.T) {
	const id = "20250314-140200-abc123" // a build shaped like a deploy id
	hs, st := slashService(t, valuesYAML, "confirm-"+id, "web-to")
	const str, flag = 3, 5
	steps := []struct {
		id, name string
		opts     []map[string]any
		command  string // as audited
		decision audit.Decision
	}{
		{"901", "deploy", []map[string]any{opt("app", str, "confirm"), opt("build", str, id), opt("dry_run", flag, true)},
			`deploy "confirm" ` + id + ` to prod --dry-run`, audit.Allowed},
		{"903", "deploy", []map[string]any{opt("app", str, "web"), opt("build", str, "to"), opt("dry_run", flag, true)},
			`deploy web "to" to prod --dry-run`, audit.Allowed},
		{"904", "deploy", []map[string]any{opt("app", str, "--force"), opt("build", str, "1"), opt("dry_run", flag, true)},
			`/deploy app:--force build:1 dry_run:true`, audit.Refused},
		{"905", "deploy", []map[string]any{opt("app", str, "web"), opt("build", str, "1 to prod"), opt("dry_run", flag, true)},
			`/deploy app:web build:1 to prod dry_run:true`, audit.Refused},
		{"906", "lock", []map[string]any{opt("reason", str, "freeze"), opt("app", str, `"web"`)},
			`/lock reason:freeze app:"web"`, audit.Refused},
		{"907", "grant", []map[string]any{opt("user", 6, "111"), opt("role", str, "admin --for"), opt("app", str, "web")},
			`/grant user:111 role:admin --for app:web`, audit.Refused},
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
	// done counts the commands whose outcome is audited.
	done := func() int {
		entries, err := st.Audit(context.Background(), audit.Query{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Decision != audit.Pending {
				n++
			}
		}
		return n
	}
	for i, s := range steps {
		if w := hs.post(t, slashCommand(s.id, "111", s.name, s.opts...)); w.Code != 200 {
			t.Fatalf("/%s: status %d, want 200", s.name, w.Code)
		}
		waitFor(t, "the outcome of /"+s.name, func() bool { return done() > i })
	}
	hs.shutdown(t)

	entries, err := st.Audit(context.Background(), audit.Query{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(steps) {
		t.Errorf("%d audit entries, want one for each of the %d commands", len(entries), len(steps))
	}
	for _, e := range entries {
		t.Logf("audited %q: %s (%s)", e.Command, e.Decision, e.Reason)
	}
	for _, s := range steps {
		if got := decisions(s.command); len(got) != 1 || got[0] != s.decision {
			t.Errorf("/%s: audited %q as %v, want once as %s", s.name, s.command, got, s.decision)
		}
	}
	if locks, err := st.Locks(context.Background()); err != nil || len(locks) != 0 {
		t.Errorf("locks %+v (%v), want none", locks, err)
	}
	if grants, err := st.Grants(context.Background()); err != nil || len(grants) != 0 {
		t.Errorf("grants %+v (%v), want none", grants, err)
	}
}

// writeArtifact writes an empty file at path, the artifact a dry run
// looks for.
func writeArtifact(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
