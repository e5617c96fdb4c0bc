package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
)

// testCatalog is the catalog the parser sees in these tests.
type testCatalog struct{}

func (testCatalog) Apps() []string { return []string{"accounting", "web"} }
func (testCatalog) Envs(app string) []string {
	return map[string][]string{"web": {"prod", "staging"}, "accounting": {"production"}}[app]
}
func (testCatalog) DefaultEnv(app string) string {
	return map[string]string{"web": "prod", "accounting": "production"}[app]
}
func (testCatalog) Trains() []string { return []string{"daily", "weekly"} }

// sub is a subcommand option of an invocation, with its options.
func sub(name string, opts ...map[string]any) map[string]any {
	return map[string]any{"name": name, "type": 1, "options": opts}
}

func TestCommandText(t *testing.T) {
	const (
		str  = 3
		num  = 4
		flag = 5
	)
	tests := []struct {
		name    string
		verb    string
		opts    []map[string]any
		want    string
		wantErr string
		// canonical is the parser's canonical form of want, when it
		// differs from want; "-" when the parser refuses want.
		canonical string
	}{
		{name: "deploy full", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "1337"), opt("env", str, "prod"), opt("dry_run", flag, true)},
			want: "deploy web 1337 to prod --dry-run"},
		{name: "deploy default env", verb: "deploy", opts: []map[string]any{opt("build", str, "1337"), opt("app", str, "web")},
			want: "deploy web 1337", canonical: "deploy web 1337 to prod"},
		{name: "deploy dry_run false", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "2.4.0-rc1"), opt("dry_run", flag, false)},
			want: "deploy web 2.4.0-rc1", canonical: "deploy web 2.4.0-rc1 to prod"},
		{name: "deploy force", verb: "deploy", opts: []map[string]any{opt("app", str, "accounting"), opt("build", str, "1338"), opt("env", str, "production"), opt("force", str, "INC-42 hotfix")},
			want: `deploy accounting 1338 to production --force "INC-42 hotfix"`},
		{name: "deploy force with quotes", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "1"), opt("env", str, "prod"), opt("force", str, `it's "urgent" now`)},
			want: `deploy web 1 to prod --force 'it's "urgent" now'`, canonical: `deploy web 1 to prod --force 'it's "urgent" now'`},
		{name: "deploy force that names a target", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "1"), opt("force", str, "urgent to staging")},
			want: `deploy web 1 --force "urgent to staging"`, canonical: `deploy web 1 to prod --force "urgent to staging"`},
		{name: "deploy unknown app reaches the parser", verb: "deploy", opts: []map[string]any{opt("app", str, "wbe"), opt("build", str, "1")},
			want: "deploy wbe 1", canonical: "-"},
		{name: "rollback", verb: "rollback", opts: []map[string]any{opt("app", str, "web")}, want: "rollback web", canonical: "rollback web prod"},
		{name: "rollback env build", verb: "rollback", opts: []map[string]any{opt("app", str, "web"), opt("env", str, "staging"), opt("build", str, "1336")},
			want: "rollback web staging to 1336"},
		{name: "rollback from", verb: "rollback", opts: []map[string]any{opt("app", str, "web"), opt("env", str, "prod"), opt("build", str, "1"), opt("from", str, "2")},
			want: "rollback web prod to 1 from 2"},
		{name: "rollback build only", verb: "rollback", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "1336")},
			want: "rollback web to 1336", canonical: "rollback web prod to 1336"},
		{name: "lock full", verb: "lock", opts: []map[string]any{opt("reason", str, "db migration"), opt("app", str, "web"), opt("env", str, "prod"), opt("duration", str, "2h")},
			want: `lock deploys web prod for 2h "db migration"`},
		{name: "lock everything", verb: "lock", opts: []map[string]any{opt("reason", str, "release freeze")},
			want: `lock deploys "release freeze"`},
		{name: "lock reason that starts with an app", verb: "lock", opts: []map[string]any{opt("reason", str, "web is on fire")},
			want: `lock deploys "web is on fire"`},
		{name: "lock without reason reaches the parser", verb: "lock", opts: []map[string]any{opt("app", str, "web")},
			want: "lock deploys web", canonical: "-"},
		{name: "unlock", verb: "unlock", want: "unlock deploys"},
		{name: "unlock app env", verb: "unlock", opts: []map[string]any{opt("app", str, "web"), opt("env", str, "prod")}, want: "unlock deploys web prod"},
		{name: "status", verb: "status", want: "status"},
		{name: "status app", verb: "status", opts: []map[string]any{opt("app", str, "web")}, want: "status web"},
		{name: "history", verb: "history", opts: []map[string]any{opt("app", str, "web"), opt("env", str, "prod"), opt("n", num, 20.0)}, want: "history web prod 20"},
		{name: "history default", verb: "history", want: "history", canonical: "history 10"},
		{name: "cancel", verb: "cancel", opts: []map[string]any{opt("app", str, "web"), opt("env", str, "staging")}, want: "cancel web staging"},
		{name: "audit", verb: "audit", opts: []map[string]any{opt("app", str, "web"), opt("n", num, 50.0)}, want: "audit web 50"},
		{name: "grant", verb: "grant", opts: []map[string]any{opt("user", 6, "222"), opt("role", str, "deployer"), opt("app", str, "web"), opt("env", str, "prod"), opt("duration", str, "2h")},
			want: "grant <@222> deployer web prod for 2h"},
		{name: "grant everywhere", verb: "grant", opts: []map[string]any{opt("user", 6, "222"), opt("role", str, "viewer")}, want: "grant <@222> viewer"},
		{name: "revoke", verb: "revoke", opts: []map[string]any{opt("user", 6, "222"), opt("role", str, "deployer"), opt("app", str, "web")}, want: "revoke <@222> deployer web"},
		{name: "here", verb: "here", opts: []map[string]any{opt("duration", str, "8h")}, want: "here for 8h"},
		{name: "here default", verb: "here", want: "here"},
		{name: "away", verb: "away", want: "away"},
		{name: "admins", verb: "admins", want: "admins"},
		{name: "help", verb: "help", want: "help"},
		{name: "help topic", verb: "help", opts: []map[string]any{opt("command", str, "deploy")}, want: "help deploy"},
		{name: "whoami", verb: "whoami", want: "whoami"},
		{name: "confirm", verb: "confirm", opts: []map[string]any{opt("id", str, "20260314-140200-ab12cd")}, want: "deploy confirm 20260314-140200-ab12cd"},
		{name: "abort", verb: "abort", opts: []map[string]any{opt("id", str, "20260314-140200-ab12cd")}, want: "deploy abort 20260314-140200-ab12cd"},
		{name: "confirm of no deploy id reaches the parser", verb: "confirm", opts: []map[string]any{opt("id", str, "1337")},
			want: "deploy confirm 1337", canonical: "-"},
		{name: "train list", verb: "train", opts: []map[string]any{sub("list")}, want: "train"},
		{name: "train board", verb: "train", opts: []map[string]any{sub("board", opt("app", str, "web"), opt("build", str, "1337"), opt("env", str, "prod"), opt("train", str, "daily"))},
			want: "train board web 1337 to prod on daily"},
		{name: "train board train's env", verb: "train", opts: []map[string]any{sub("board", opt("train", str, "weekly"), opt("build", str, "2.4.0-rc1"), opt("app", str, "accounting"))},
			want: "train board accounting 2.4.0-rc1 on weekly"},
		{name: "train board which train reaches the parser", verb: "train", opts: []map[string]any{sub("board", opt("app", str, "web"), opt("build", str, "1"))},
			want: "train board web 1", canonical: "-"},
		{name: "train leave", verb: "train", opts: []map[string]any{sub("leave", opt("app", str, "web"), opt("train", str, "daily"))}, want: "train leave web on daily"},
		{name: "train cancel", verb: "train", opts: []map[string]any{sub("cancel", opt("reason", str, "db migration"), opt("train", str, "weekly"))},
			want: `train cancel weekly "db migration"`},
		{name: "train cancel reason naming a train", verb: "train", opts: []map[string]any{sub("cancel", opt("reason", str, "daily is late"), opt("train", str, "weekly"))},
			want: `train cancel weekly "daily is late"`},
		{name: "train cancel which train reaches the parser", verb: "train", opts: []map[string]any{sub("cancel", opt("reason", str, "db migration"))},
			want: `train cancel "db migration"`, canonical: "-"},
		{name: "train depart", verb: "train", opts: []map[string]any{sub("depart", opt("train", str, "daily"))}, want: "train depart daily now"},
		{name: "stats", verb: "stats", opts: []map[string]any{opt("app", str, "web"), opt("env", str, "prod"), opt("window", str, "7d")}, want: "stats web prod 7d"},
		{name: "stats default window", verb: "stats", opts: []map[string]any{opt("app", str, "web")}, want: "stats web", canonical: "stats web 30d"},
		{name: "stats window in weeks", verb: "stats", opts: []map[string]any{opt("app", str, "accounting"), opt("window", str, "2w")},
			want: "stats accounting 2w", canonical: "stats accounting 14d"},
		{name: "stats window too long reaches the parser", verb: "stats", opts: []map[string]any{opt("app", str, "web"), opt("window", str, "400d")},
			want: "stats web 400d", canonical: "-"},
		{name: "white space trimmed", verb: "status", opts: []map[string]any{opt("app", str, "  web ")}, want: "status web"},

		{name: "unknown command", verb: "rm", wantErr: `unknown command "rm"`},
		{name: "build with a flag", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "1337 --force x")}, wantErr: "build must be one word"},
		{name: "app that is a flag", verb: "deploy", opts: []map[string]any{opt("app", str, "--dry-run"), opt("build", str, "1")}, wantErr: "app must be one word"},
		{name: "app with an em dash flag", verb: "status", opts: []map[string]any{opt("app", str, "\u2014force")}, wantErr: "app must be one word"},
		{name: "env opening a quote", verb: "rollback", opts: []map[string]any{opt("app", str, "web"), opt("env", str, `"prod`)}, wantErr: "env must be one word"},
		{name: "lock app with a space", verb: "lock", opts: []map[string]any{opt("reason", str, "x"), opt("app", str, "web prod")}, wantErr: "app must be one word"},
		{name: "duration with a space", verb: "lock", opts: []map[string]any{opt("reason", str, "x"), opt("duration", str, "2 h")}, wantErr: "duration must be one word"},
		// Not a duration: the parser would read "for eod" as words of
		// the reason, and the lock would never expire.
		{name: "duration that is none", verb: "lock", opts: []map[string]any{opt("reason", str, "db migration"), opt("duration", str, "eod")}, wantErr: `duration must be a number and a unit, e.g. 30m, 2h, 1d or 1h30m, not "eod"`},
		{name: "unknown option", verb: "status", opts: []map[string]any{opt("evil", str, "x")}, wantErr: `unknown option "evil"`},
		{name: "option twice", verb: "status", opts: []map[string]any{opt("app", str, "web"), opt("app", str, "x")}, wantErr: "given twice"},
		{name: "boolean as text", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "1"), opt("dry_run", str, "yes")}, wantErr: "dry_run must be true or false"},
		{name: "integer as text", verb: "history", opts: []map[string]any{opt("n", str, "20")}, wantErr: "n must be a whole number"},
		{name: "fraction", verb: "history", opts: []map[string]any{opt("n", num, 2.5)}, wantErr: "n must be a whole number"},
		{name: "text as number", verb: "status", opts: []map[string]any{opt("app", num, 1.0)}, wantErr: "app must be text"},
		{name: "user that is not an id", verb: "grant", opts: []map[string]any{opt("user", 6, "@everyone"), opt("role", str, "admin")}, wantErr: "user must be a Discord user"},
		{name: "role with a space", verb: "grant", opts: []map[string]any{opt("user", 6, "222"), opt("role", str, "dep loyer")}, wantErr: "role must be one word"},
		{name: "confirm id with a space", verb: "confirm", opts: []map[string]any{opt("id", str, "20260314-140200-ab12cd now")}, wantErr: "id must be one word"},
		{name: "train without subcommand", verb: "train", wantErr: "choose one subcommand of /train: list, board, leave, cancel, depart"},
		{name: "train unknown subcommand", verb: "train", opts: []map[string]any{sub("rm")}, wantErr: "choose one subcommand of /train"},
		{name: "train option instead of subcommand", verb: "train", opts: []map[string]any{opt("train", str, "daily")}, wantErr: "choose one subcommand of /train"},
		{name: "train two subcommands", verb: "train", opts: []map[string]any{sub("list"), sub("depart")}, wantErr: "choose one subcommand of /train"},
		{name: "train option of another subcommand", verb: "train", opts: []map[string]any{sub("depart", opt("reason", str, "x"))}, wantErr: `unknown option "reason"`},
		{name: "train with a space", verb: "train", opts: []map[string]any{sub("depart", opt("train", str, "daily now"))}, wantErr: "train must be one word"},
		{name: "window with a space", verb: "stats", opts: []map[string]any{opt("app", str, "web"), opt("window", str, "7 d")}, wantErr: "window must be one word"},
		// Word options take only ASCII: no value the parser takes there
		// is anything else, and the command's budget counts them so.
		{name: "app with a look-alike", verb: "deploy", opts: []map[string]any{opt("app", str, "w\u0435b"), opt("build", str, "1")},
			wantErr: "app \"w\u0435b\" contains the non-ASCII character '\u0435' (U+0435), maybe a look-alike of an ASCII one; an app name is a lowercase letter, then up to 31 lowercase letters, digits, '_' or '-', e.g. web"},
		{name: "env in emoji", verb: "lock", opts: []map[string]any{opt("reason", str, "x"), opt("app", str, "web"), opt("env", str, "\U0001F512")},
			wantErr: "env \"\U0001F512\" contains the non-ASCII character '\U0001F512' (U+1F512), maybe a look-alike of an ASCII one; an env name is"},
		{name: "build in emoji", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "1\U0001F512")},
			wantErr: "build \"1\U0001F512\" contains the non-ASCII character '\U0001F512' (U+1F512), maybe a look-alike of an ASCII one; a build is 1-64 ASCII letters"},
		{name: "rollback from in emoji", verb: "rollback", opts: []map[string]any{opt("app", str, "web"), opt("from", str, "\u00e91")},
			wantErr: "build \"\u00e91\" contains the non-ASCII character"},
		{name: "duration in emoji", verb: "lock", opts: []map[string]any{opt("reason", str, "x"), opt("duration", str, "2\U0001F512")},
			wantErr: "duration \"2\U0001F512\" contains the non-ASCII character '\U0001F512' (U+1F512), maybe a look-alike of an ASCII one; a duration is a number and a unit"},
		{name: "train with a look-alike", verb: "train", opts: []map[string]any{sub("cancel", opt("reason", str, "x"), opt("train", str, "d\u0430ily"))},
			wantErr: "train \"d\u0430ily\" contains the non-ASCII character '\u0430' (U+0430)"},
		{name: "role in full-width letters", verb: "grant", opts: []map[string]any{opt("user", 6, "222"), opt("role", str, "\uff44eployer")},
			wantErr: "role \"\uff44eployer\" contains the non-ASCII character '\uff44' (U+FF44)"},
		{name: "window in full-width digits", verb: "stats", opts: []map[string]any{opt("app", str, "web"), opt("window", str, "\uff17d")},
			wantErr: "window \"\uff17d\" contains the non-ASCII character"},
		{name: "deploy id with a look-alike", verb: "abort", opts: []map[string]any{opt("id", str, "20260314-140200-\u0430b12cd")},
			wantErr: "deploy id \"20260314-140200-\u0430b12cd\" contains the non-ASCII character '\u0430' (U+0430), maybe a look-alike of an ASCII one; a deploy id is"},
		{name: "app over its cap", verb: "status", opts: []map[string]any{opt("app", str, strings.Repeat("a", maxNameLen+1))},
			wantErr: fmt.Sprintf("is %d characters long; the limit is %d", maxNameLen+1, maxNameLen)},
		{name: "build over its cap", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, strings.Repeat("1", maxBuildLen+1))},
			wantErr: fmt.Sprintf("is %d characters long; the limit is 64", maxBuildLen+1)},
		// A value that is a word of the grammar is quoted where the
		// parser reads it back quoted as that value.
		{name: "deploy app named like a form", verb: "deploy", opts: []map[string]any{opt("app", str, "confirm"), opt("build", str, "20250314-140200-abc123")},
			want: `deploy "confirm" 20250314-140200-abc123`, canonical: "-"},
		{name: "deploy build named like a keyword", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "to"), opt("env", str, "prod")},
			want: `deploy web "to" to prod`},
		{name: "rollback builds named like keywords", verb: "rollback", opts: []map[string]any{opt("app", str, "web"), opt("env", str, "prod"), opt("build", str, "from"), opt("from", str, "to")},
			want: `rollback web prod to "from" from "to"`},
		{name: "train board build named like a keyword", verb: "train", opts: []map[string]any{sub("board", opt("app", str, "web"), opt("build", str, "on"), opt("train", str, "daily"))},
			want: `train board web "on" on daily`},
		{name: "app that reads as a flag", verb: "deploy", opts: []map[string]any{opt("app", str, "--force"), opt("build", str, "1")}, wantErr: "leading dash"},
		{name: "build of several words", verb: "deploy", opts: []map[string]any{opt("app", str, "web"), opt("build", str, "1 to prod")}, wantErr: "without spaces"},
		{name: "env in quotes", verb: "unlock", opts: []map[string]any{opt("app", str, "web"), opt("env", str, `"prod"`)}, wantErr: "quotes"},
		{name: "reason no quote can hold", verb: "lock", opts: []map[string]any{opt("reason", str, "a\" b' c\u201d d\u00bb e")}, wantErr: "every kind of closing quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var data discordgo.ApplicationCommandInteractionData
			raw, err := json.Marshal(map[string]any{"name": tt.verb, "type": 1, "options": tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &data); err != nil {
				t.Fatal(err)
			}
			got, err := commandText(data, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("commandText = %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("commandText = %q, %v; want %q", got, err, tt.want)
			}
			p := commands.Parse(got, testCatalog{}, commands.Options{})
			want := tt.canonical
			if want == "" {
				want = tt.want
			}
			if want == "-" {
				if p.Kind != commands.Reply {
					t.Errorf("Parse(%q) = %v, want a refusal", got, p.Kind)
				}
				return
			}
			if p.Kind != commands.Run || p.Cmd.Text != want {
				t.Errorf("Parse(%q) = %v %q (%s), want run %q", got, p.Kind, p.Cmd.Text, p.Reply, want)
			}
		})
	}
}

func TestEveryVerbHasASlashCommand(t *testing.T) {
	verbs := append(commands.Verbs(), commands.VerbConfirm, commands.VerbAbort)
	for _, v := range verbs {
		if _, ok := slash[v]; !ok {
			t.Errorf("verb %q has no slash command", v)
		}
	}
	if len(slash) != len(verbs) {
		t.Errorf("%d slash commands for %d verbs", len(slash), len(verbs))
	}
	if got := slashVerbs(); len(got) != len(verbs) {
		t.Errorf("%d slash commands registered (%v), want %d", len(got), got, len(verbs))
	}
}

var optionName = regexp.MustCompile(`^[-_a-z0-9]{1,32}$`)

func TestCommandsFollowDiscordRules(t *testing.T) {
	hs := newHarness(t, nil, func(o *Options) { o.Catalog = testCatalog{} })
	for _, c := range hs.a.Commands() {
		if !optionName.MatchString(c.Name) || c.Description == "" || runes(c.Description) > 100 {
			t.Errorf("command %q: name or description %q breaks Discord's rules", c.Name, c.Description)
		}
		checkOptions(t, "/"+c.Name, c.Options)
		for _, o := range c.Options {
			if o.Type == discordgo.ApplicationCommandOptionSubCommand {
				checkOptions(t, "/"+c.Name+" "+o.Name, o.Options)
			}
		}
	}
}

// checkOptions checks the options of a command or subcommand against
// Discord's rules.
func checkOptions(t *testing.T, name string, opts []*discordgo.ApplicationCommandOption) {
	t.Helper()
	optional, subs := false, 0
	for _, o := range opts {
		if !optionName.MatchString(o.Name) || o.Description == "" || runes(o.Description) > 100 || len(o.Choices) > maxChoices {
			t.Errorf("%s %s: breaks Discord's rules (description %q, %d choices)", name, o.Name, o.Description, len(o.Choices))
		}
		if o.Required && optional {
			t.Errorf("%s %s: a required option after an optional one", name, o.Name)
		}
		optional = optional || !o.Required
		if o.Type == discordgo.ApplicationCommandOptionSubCommand {
			subs++
		}
	}
	if subs != 0 && subs != len(opts) {
		t.Errorf("%s: %d subcommands among %d options, want all or none", name, subs, len(opts))
	}
}

func TestRegisterCommands(t *testing.T) {
	hs := newHarness(t, nil, func(o *Options) { o.Catalog = testCatalog{} })
	if err := hs.a.RegisterCommands(context.Background()); err != nil {
		t.Fatalf("RegisterCommands: %v", err)
	}
	calls := hs.fd.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls %s, want one PUT", transcript(t, calls))
	}
	c := calls[0]
	if c.Method != http.MethodPut || c.Path != "/api/v9/applications/"+testAppID+"/guilds/"+testGuildID+"/commands" || c.Auth != "bot" {
		t.Errorf("call %s %s (auth %q), want PUT of the guild's commands with the bot token", c.Method, c.Path, c.Auth)
	}
	golden(t, "commands.json", indentJSON(t, c.Body))
}

func TestRegisterCommandsWaitsOutRateLimit(t *testing.T) {
	hs := newHarness(t, nil, func(o *Options) { o.GuildID = "" })
	hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
		if n == 0 {
			return http.StatusTooManyRequests, `{"message":"You are being rate limited.","retry_after":0.2,"global":false}`, true
		}
		return 0, "", false
	}
	start := time.Now()
	if err := hs.a.RegisterCommands(context.Background()); err != nil {
		t.Fatalf("RegisterCommands: %v", err)
	}
	calls := hs.fd.Calls()
	if len(calls) != 2 || calls[1].Path != "/api/v9/applications/"+testAppID+"/commands" || calls[1].Status != http.StatusOK {
		t.Errorf("calls %s, want a 429 then the global commands replaced", transcript(t, calls))
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("took %s, want at least retry_after (200ms)", d)
	}
}

func TestRegisterCommandsNeedsBotToken(t *testing.T) {
	hs := newHarness(t, nil, func(o *Options) { o.BotToken = "" })
	if err := hs.a.RegisterCommands(context.Background()); err == nil {
		t.Fatal("RegisterCommands without a bot token succeeded")
	}
	if calls := hs.fd.Calls(); len(calls) != 0 {
		t.Errorf("calls %s, want none", transcript(t, calls))
	}
}

// appsCatalog is testCatalog with the apps and envs given; Apps lists
// them in the map's order, unsorted.
type appsCatalog struct {
	testCatalog
	apps map[string][]string
}

func (c appsCatalog) Apps() []string           { return slices.Collect(maps.Keys(c.apps)) }
func (c appsCatalog) Envs(app string) []string { return c.apps[app] }

// TestAppAndEnvChoices: the app and env options offer the catalog's
// apps and envs, sorted, each env once, or take free text when there
// are none or more than Discord lists.
func TestAppAndEnvChoices(t *testing.T) {
	many := map[string][]string{}
	for _, name := range strings.Fields("a b c d e f g h i j k l m n o p q r s t u v w x y z") {
		many[name] = []string{"prod"}
	}
	tests := []struct {
		name       string
		cat        commands.Catalog
		apps, envs []string // nil: free text
	}{
		{"the config's apps", appsCatalog{apps: map[string][]string{"web": {"prod", "staging"}, "api": {"staging", "dev"}}},
			[]string{"api", "web"}, []string{"dev", "prod", "staging"}},
		{"no catalog", nil, nil, nil},
		{"more apps than Discord lists", appsCatalog{apps: many}, nil, []string{"prod"}},
	}
	values := func(cs []*discordgo.ApplicationCommandOptionChoice) []string {
		var vs []string
		for _, c := range cs {
			vs = append(vs, c.Value.(string))
		}
		return vs
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, nil, func(o *Options) { o.Catalog = tt.cat })
			var seen int
			for _, c := range hs.a.Commands() {
				if c.Name != string(commands.VerbDeploy) {
					continue
				}
				for _, o := range c.Options {
					switch o.Name {
					case "app":
						seen++
						if got := values(o.Choices); !slices.Equal(got, tt.apps) {
							t.Errorf("/deploy app choices %v, want %v", got, tt.apps)
						}
					case "env":
						seen++
						if got := values(o.Choices); !slices.Equal(got, tt.envs) {
							t.Errorf("/deploy env choices %v, want %v", got, tt.envs)
						}
					}
				}
			}
			if seen != 2 {
				t.Errorf("%d app and env options of /deploy, want 2", seen)
			}
		})
	}
}

// trainsCatalog is testCatalog with the trains given.
type trainsCatalog struct {
	testCatalog
	trains []string
}

func (c trainsCatalog) Trains() []string { return c.trains }

// TestTrainChoices: the train option of every /train subcommand offers
// the catalog's trains, or takes free text when there are none or more
// than Discord lists.
func TestTrainChoices(t *testing.T) {
	many := strings.Fields("a b c d e f g h i j k l m n o p q r s t u v w x y z")
	tests := []struct {
		name string
		cat  commands.Catalog
		want []string // nil: free text
	}{
		{"the config's trains", testCatalog{}, []string{"daily", "weekly"}},
		{"no catalog", nil, nil},
		{"no trains", trainsCatalog{}, nil},
		{"as many as Discord lists", trainsCatalog{trains: many[:maxChoices]}, many[:maxChoices]},
		{"more than Discord lists", trainsCatalog{trains: many}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, nil, func(o *Options) { o.Catalog = tt.cat })
			var subs []string
			for _, c := range hs.a.Commands() {
				if c.Name != string(commands.VerbTrain) {
					continue
				}
				for _, sub := range c.Options {
					for _, o := range sub.Options {
						if o.Name != "train" {
							continue
						}
						subs = append(subs, sub.Name)
						var got []string
						for _, ch := range o.Choices {
							if ch.Name != ch.Value {
								t.Errorf("/train %s: choice %q sends %v, want its name", sub.Name, ch.Name, ch.Value)
							}
							got = append(got, ch.Name)
						}
						if !slices.Equal(got, tt.want) {
							t.Errorf("/train %s: train choices %v, want %v", sub.Name, got, tt.want)
						}
						if tt.want == nil && o.MaxLength != 32 {
							t.Errorf("/train %s: free-text train of at most %d characters, want 32", sub.Name, o.MaxLength)
						}
					}
				}
			}
			want := []string{commands.TrainBoard, commands.TrainLeave, commands.TrainCancel, commands.TrainDepart}
			if !slices.Equal(subs, want) {
				t.Errorf("/train subcommands with a train option %v, want %v", subs, want)
			}
		})
	}
}

// discordMaxLength is the most characters Discord takes in a string
// option that sets no max_length.
const discordMaxLength = 6000

// TestLongestCommandsParse: every slash command, every option given and
// as long as the handler takes it, makes a command within
// commands.MaxCommandLen bytes: Discord counts characters, the parser
// bytes. A reason is typed in characters of four bytes (emoji, say); a
// word option, which the handler takes only in ASCII, at its cap.
func TestLongestCommandsParse(t *testing.T) {
	const emoji = "\U0001F512"
	longest := func(o *discordgo.ApplicationCommandOption) any {
		switch o.Type {
		case discordgo.ApplicationCommandOptionBoolean:
			return true
		case discordgo.ApplicationCommandOptionInteger:
			return o.MaxValue
		case discordgo.ApplicationCommandOptionUser:
			return strings.Repeat("9", 20)
		}
		if len(o.Choices) > 0 {
			var v string
			for _, c := range o.Choices {
				if s := c.Value.(string); len(s) > len(v) {
					v = s
				}
			}
			return v
		}
		n := o.MaxLength
		if n == 0 {
			n = discordMaxLength
		}
		if _, word := wordRules[o.Name]; !word {
			return strings.Repeat(emoji, n)
		}
		// A duration starts with a digit.
		return "1" + strings.Repeat("w", n-1)
	}
	optionsOfAll := func(opts []*discordgo.ApplicationCommandOption) []map[string]any {
		var got []map[string]any
		for _, o := range opts {
			got = append(got, map[string]any{"name": o.Name, "type": int(o.Type), "value": longest(o)})
		}
		return got
	}
	for name, inv := range invocations(t, newHarness(t, nil, nil).a.Commands(), optionsOfAll) {
		t.Run(name, func(t *testing.T) {
			text, err := commandText(inv, nil)
			if err != nil {
				t.Fatalf("commandText: %v", err)
			}
			if len(text) > commands.MaxCommandLen {
				t.Errorf("command of %d bytes, over the %d the parser takes", len(text), commands.MaxCommandLen)
			}
		})
	}
}

// TestWordOptionsTakeASCII: every string option but a reason is a word
// option, capped as its rule counts it, and refuses a value typed in
// emoji at its cap, which the budget of maxReason does not count.
func TestWordOptionsTakeASCII(t *testing.T) {
	const emoji = "\U0001F512"
	for _, c := range newHarness(t, nil, nil).a.Commands() {
		opts := map[string][]*discordgo.ApplicationCommandOption{c.Name: c.Options}
		if len(c.Options) > 0 && c.Options[0].Type == discordgo.ApplicationCommandOptionSubCommand {
			opts = map[string][]*discordgo.ApplicationCommandOption{}
			for _, s := range c.Options {
				opts[c.Name+" "+s.Name] = s.Options
			}
		}
		for name, os := range opts {
			for _, o := range os {
				if o.Type != discordgo.ApplicationCommandOptionString || o.MaxLength == maxReason {
					continue
				}
				t.Run(name+" "+o.Name, func(t *testing.T) {
					r, ok := wordRules[o.Name]
					if !ok {
						t.Fatalf("option %s has no word rule", o.Name)
					}
					if o.MaxLength != 0 && o.MaxLength != r.max {
						t.Errorf("max_length %d, want the rule's cap %d", o.MaxLength, r.max)
					}
					value := "1" + strings.Repeat(emoji, r.max-1)
					one := func(opts []*discordgo.ApplicationCommandOption) []map[string]any {
						var got []map[string]any
						for _, x := range opts {
							if x == o {
								got = append(got, map[string]any{"name": x.Name, "type": int(x.Type), "value": value})
							}
						}
						return got
					}
					for _, inv := range invocations(t, []*discordgo.ApplicationCommand{c}, one) {
						if len(inv.Options) == 0 || inv.Options[0].Type == discordgo.ApplicationCommandOptionSubCommand && len(inv.Options[0].Options) == 0 {
							continue // another subcommand's
						}
						text, err := commandText(inv, nil)
						if err == nil || !strings.Contains(err.Error(), "non-ASCII character '\U0001F512'") {
							t.Errorf("commandText = %q, %v; want it refused as not ASCII", text, err)
						}
					}
				})
			}
		}
	}
}

// invocations returns an invocation of each command of cmds, or of each
// of its subcommands, named by them, with the options values gives.
func invocations(t *testing.T, cmds []*discordgo.ApplicationCommand,
	values func([]*discordgo.ApplicationCommandOption) []map[string]any) map[string]discordgo.ApplicationCommandInteractionData {
	t.Helper()
	decode := func(name string, opts []map[string]any) discordgo.ApplicationCommandInteractionData {
		var data discordgo.ApplicationCommandInteractionData
		raw, err := json.Marshal(map[string]any{"name": name, "type": 1, "options": opts})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &data); err != nil {
			t.Fatal(err)
		}
		return data
	}
	got := map[string]discordgo.ApplicationCommandInteractionData{}
	for _, c := range cmds {
		if len(c.Options) > 0 && c.Options[0].Type == discordgo.ApplicationCommandOptionSubCommand {
			for _, s := range c.Options {
				got[c.Name+" "+s.Name] = decode(c.Name, []map[string]any{sub(s.Name, values(s.Options)...)})
			}
			continue
		}
		got[c.Name] = decode(c.Name, values(c.Options))
	}
	return got
}

// TestNameOptionsCapAtConfigNames: the role option takes as many
// characters as the config takes in a role's name and no more, so a
// value the config could never hold is refused by Discord as it is
// typed, not by the parser after it is sent.
func TestNameOptionsCapAtConfigNames(t *testing.T) {
	for _, c := range newHarness(t, nil, nil).a.Commands() {
		for _, o := range c.Options {
			if o.Name != "role" {
				continue
			}
			t.Run(c.Name, func(t *testing.T) {
				for _, tc := range []struct {
					n    int
					want bool
				}{{o.MaxLength, true}, {o.MaxLength + 1, false}} {
					role := "r" + strings.Repeat("a", tc.n-1)
					yaml := gateYAML + "roles:\n  " + role + ": [deploy]\n"
					_, err := config.Parse(filepath.Join(t.TempDir(), "sw.yaml"), []byte(yaml), nil)
					if got := err == nil; got != tc.want {
						t.Errorf("config with a role of %d characters accepted %v (%v), want %v", tc.n, got, err, tc.want)
					}
				}
			})
		}
	}
}
