package discord

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// namesYAML has the apps web (env prod) and api (env staging), and a
// train daily to prod.
const namesYAML = `users:
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
  api:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
      checksum: optional
    path: srv/api
    restart: 'true'
    environments:
      staging:
        hosts: [localhost]
trains:
  daily:
    env: prod
    channels: ["#deploys"]
    boarding: "0 9 * * 1-5"
    departure: "0 14 * * 1-5"
`

// slashService returns a harness whose adapter runs slash commands with
// the real service of yaml on an embedded store, the store, and the
// adapter's catalog.
func slashService(t *testing.T, yaml string, artifacts ...string) (*harness, *embedded.Store) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
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
	for _, name := range artifacts {
		writeArtifact(t, filepath.Join(dir, "artifacts", name+".tar.gz"))
	}
	svc := commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy, Now: clock})
	hs := newHarness(t, nil, func(o *Options) { o.Handler = svc; o.Catalog = commands.CatalogOf(cfg) })
	return hs, st
}

// slashStep is one slash command sent, and what must come of it.
type slashStep struct {
	id, name string
	opts     []map[string]any
	command  string // as audited
	decision audit.Decision
	reply    []string // what the answer says, each
}

// runSlashSteps sends every step, signed as Discord sends it, one after
// the other, and checks each one's audit entry and answer.
//
// payloads, when given, holds the interaction to send for a step, by
// its id, in place of the one its name and options make.
func runSlashSteps(t *testing.T, hs *harness, st *embedded.Store, steps []slashStep, payloads ...map[string]map[string]any) {
	t.Helper()
	entries := func() []audit.Entry {
		es, err := st.Audit(context.Background(), audit.Query{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	done := func() int {
		n := 0
		for _, e := range entries() {
			if e.Decision != audit.Pending {
				n++
			}
		}
		return n
	}
	for i, s := range steps {
		calls := len(hs.fd.Calls())
		payload := slashCommand(s.id, "111", s.name, s.opts...)
		for _, p := range payloads {
			if p[s.id] != nil {
				payload = p[s.id]
			}
		}
		if w := hs.post(t, payload); w.Code != 200 {
			t.Fatalf("/%s: status %d, want 200", s.name, w.Code)
		}
		waitFor(t, "the outcome of /"+s.name, func() bool { return done() > i })
		// The answer edits the deferred response, or follows it.
		waitFor(t, "the answer to /"+s.name, func() bool {
			for _, c := range hs.fd.Calls()[calls:] {
				if c.Method == "PATCH" || c.Method == "POST" {
					return true
				}
			}
			return false
		})
		var answer strings.Builder
		for _, c := range hs.fd.Calls()[calls:] {
			answer.Write(c.Body)
		}
		for _, r := range s.reply {
			if !strings.Contains(answer.String(), r) {
				t.Errorf("/%s: the answer does not say %q:\n%s", s.name, r, answer.String())
			}
		}
	}
	hs.shutdown(t)
	es := entries()
	for _, e := range es {
		t.Logf("audited %q: %s (%s)", e.Command, e.Decision, e.Reason)
	}
	if len(es) != len(steps) {
		t.Errorf("%d audit entries, want one for each of the %d commands", len(es), len(steps))
	}
	for _, s := range steps {
		var got []audit.Decision
		for _, e := range es {
			if e.Command == s.command && e.Platform == Platform && e.Decision != audit.Pending {
				got = append(got, e.Decision)
				if strings.ContainsAny(e.Reason, "\ue000\ue001") {
					t.Errorf("/%s: the audited reason %q holds the marks of a suggestion", s.name, e.Reason)
				}
			}
		}
		if len(got) != 1 || got[0] != s.decision {
			t.Errorf("/%s: audited %q as %v, want once as %s", s.name, s.command, got, s.decision)
		}
	}
}

// TestSlashLockNamesAreTakenAsGiven: a lock's app and env options name
// an app and an env, never the first words of the reason. An unknown
// app or env is refused as unknown, with the command meant offered as a
// slash command when the name is a near miss, and an env without its
// app is refused; nothing is locked. A lock named right is made.
func TestSlashLockNamesAreTakenAsGiven(t *testing.T) {
	hs, st := slashService(t, namesYAML)
	const str = 3
	reason := opt("reason", str, "db work")
	steps := []slashStep{
		{"911", "lock", []map[string]any{reason, opt("app", str, "nosuch")},
			`/lock reason:db work app:nosuch`, audit.Refused, []string{`unknown app \"nosuch\"`, "known apps: api, web"}},
		{"912", "lock", []map[string]any{reason, opt("app", str, "wbe")},
			`/lock reason:db work app:wbe`, audit.Refused, []string{`unknown app \"wbe\"`, "/lock app:web reason:db work"}},
		{"913", "lock", []map[string]any{reason, opt("app", str, "web"), opt("env", str, "nosuch")},
			`/lock reason:db work app:web env:nosuch`, audit.Refused, []string{`unknown env \"nosuch\" for web`, "known envs: prod"}},
		{"914", "lock", []map[string]any{reason, opt("app", str, "web"), opt("env", str, "prdo")},
			`/lock reason:db work app:web env:prdo`, audit.Refused, []string{"/lock app:web env:prod reason:db work"}},
		{"915", "lock", []map[string]any{reason, opt("app", str, "web"), opt("env", str, "for")},
			`/lock reason:db work app:web env:for`, audit.Refused, []string{`unknown env \"for\" for web`}},
		{"916", "lock", []map[string]any{reason, opt("env", str, "prod")},
			`/lock reason:db work env:prod`, audit.Refused, []string{"env:prod needs the app"}},
		{"917", "lock", []map[string]any{reason, opt("env", str, "x")},
			`/lock reason:db work env:x`, audit.Refused, []string{"env:x needs the app"}},
	}
	runSlashSteps(t, hs, st, steps)
	if locks, err := st.Locks(context.Background()); err != nil || len(locks) != 0 {
		t.Errorf("locks %+v (%v), want none", locks, err)
	}
}

// keywordsYAML has the apps web (env prod) and api, whose env is named
// "to", like the keyword, and a train daily to prod.
const keywordsYAML = `users:
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
  api:
    default_env: to
    artifact:
      path: artifacts/{app}-{build}.tar.gz
      checksum: optional
    path: srv/api
    restart: 'true'
    environments:
      to:
        hosts: [localhost]
trains:
  daily:
    env: prod
    channels: ["#deploys"]
    boarding: "0 9 * * 1-5"
    departure: "0 14 * * 1-5"
`

// TestSlashBuildAndEnvNamedLikeGrammar: a build named like an env or a
// train, and an env named like a keyword, are that build and that env:
// the dry runs run, and none is refused as a build given after the env.
func TestSlashBuildAndEnvNamedLikeGrammar(t *testing.T) {
	hs, st := slashService(t, keywordsYAML, "api-1", "web-prod", "web-daily")
	const str, flag = 3, 5
	dry := opt("dry_run", flag, true)
	steps := []slashStep{
		{"921", "deploy", []map[string]any{opt("app", str, "api"), opt("build", str, "1"), opt("env", str, "to"), dry},
			`deploy api 1 to to --dry-run`, audit.Allowed, nil},
		{"922", "deploy", []map[string]any{opt("app", str, "web"), opt("build", str, "prod"), dry},
			`deploy web "prod" to prod --dry-run`, audit.Allowed, nil},
		{"923", "deploy", []map[string]any{opt("app", str, "web"), opt("build", str, "daily"), dry},
			`deploy web daily to prod --dry-run`, audit.Allowed, nil},
	}
	runSlashSteps(t, hs, st, steps)
}

// TestSlashBoardBuildNamedLikeGrammar: /train board's build named like a
// train, an env or a keyword is read by the parser as that build, and
// its env named like a keyword as that env (none given: the train's).
func TestSlashBoardBuildNamedLikeGrammar(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "sw.yaml"), []byte(keywordsYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	cat := commands.CatalogOf(cfg)
	const str = 3
	for _, tc := range []struct {
		opts            []*discordgo.ApplicationCommandInteractionDataOption
		app, build, env string
	}{
		{[]*discordgo.ApplicationCommandInteractionDataOption{{Name: "app", Type: str, Value: "web"}, {Name: "build", Type: str, Value: "daily"}}, "web", "daily", ""},
		{[]*discordgo.ApplicationCommandInteractionDataOption{{Name: "app", Type: str, Value: "web"}, {Name: "build", Type: str, Value: "prod"}}, "web", "prod", ""},
		{[]*discordgo.ApplicationCommandInteractionDataOption{{Name: "app", Type: str, Value: "api"}, {Name: "build", Type: str, Value: "to"},
			{Name: "env", Type: str, Value: "to"}, {Name: "train", Type: str, Value: "daily"}}, "api", "to", "to"},
	} {
		data := discordgo.ApplicationCommandInteractionData{Name: "train", Options: []*discordgo.ApplicationCommandInteractionDataOption{
			{Name: "board", Type: discordgo.ApplicationCommandOptionSubCommand, Options: tc.opts}}}
		text, err := commandText(data, cat)
		if err != nil {
			t.Errorf("board %s %s: %v", tc.app, tc.build, err)
			continue
		}
		r := commands.Parse(text, cat, commands.Options{})
		if r.Kind != commands.Run || r.Cmd.App != tc.app || r.Cmd.Build != tc.build || r.Cmd.Env != tc.env || r.Cmd.Train != "daily" {
			t.Errorf("%q: %v %+v (%s), want the board of %s %s to %s on daily", text, r.Kind, r.Cmd, r.Reply, tc.app, tc.build, tc.env)
		}
	}
}
