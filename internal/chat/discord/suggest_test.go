package discord

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestSlashForms: the commands the bot marks as suggested are shown as a
// Discord user types them, options named; other text is left alone,
// whatever its shape.
func TestSlashForms(t *testing.T) {
	c := suggest.Command
	tests := []struct {
		name, in, want string
	}{
		{"status advice", "  decide: " + c("/rollback web prod to 1 from 2") + ", or " + c("/deploy web BUILD to prod"),
			"  decide: /rollback app:web env:prod build:1 from:2, or /deploy app:web build:BUILD env:prod"},
		{"unlock first", "decide: " + c("/rollback web prod") + ", or " + c("/unlock deploys web prod") + ", then " + c("/deploy web BUILD to prod"),
			"decide: /rollback app:web env:prod, or /unlock app:web env:prod, then /deploy app:web build:BUILD env:prod"},
		{"without its slash", "name one: " + c("rollback web prod to BUILD") + " (releases on disk: 1, 2)",
			"name one: /rollback app:web env:prod build:BUILD (releases on disk: 1, 2)"},
		// Without the apps, an unquoted word after the app may be its
		// env or the reason's first word: shown as written.
		{"lock with an unquoted reason, as written", "(to stop them: " + c("/lock deploys web prod REASON") + ")",
			"(to stop them: /lock deploys web prod REASON)"},
		{"lock with a quoted reason after the app", "(to stop them: " + c(`lock deploys web "rolled back"`) + ")",
			"(to stop them: /lock app:web reason:rolled back)"},
		{"lock of every app", "stop them: " + c(`lock deploys "release freeze"`), "stop them: /lock reason:release freeze"},
		{"lock for a while", "write it once: " + c(`lock deploys web prod for 2h "db migration"`),
			"write it once: /lock app:web env:prod duration:2h reason:db migration"},
		{"lock of every app for a while", "write it once: " + c(`lock deploys for 1d "release freeze"`),
			"write it once: /lock duration:1d reason:release freeze"},
		{"lock for a while, the reason unquoted", "write it once: " + c("lock deploys web for 2h db migration"),
			"write it once: /lock app:web duration:2h reason:db migration"},
		{"lock with a reason quoted in other quotes", "stop them: " + c(`lock deploys web prod 'the "big" one'`),
			`stop them: /lock app:web env:prod reason:the "big" one`},
		{"lock for a while, the reason at the end, as written", "write it: " + c("lock deploys web db migration for 2h"),
			"write it: lock deploys web db migration for 2h"},
		{"lock with a quoted reason", "(to stop them: " + c(`lock deploys web prod "rolled back from 2 by itself"`) + ")",
			"(to stop them: /lock app:web env:prod reason:rolled back from 2 by itself)"},
		{"lock with a reason half quoted, as written", "stop them: " + c(`lock deploys web prod "rolled back`), `stop them: lock deploys web prod "rolled back`},
		{"unlock when fixed", "web/prod is locked: db down (" + c("/unlock deploys web prod") + " when fixed)",
			"web/prod is locked: db down (/unlock app:web env:prod when fixed)"},
		{"every app", "unlock it first: " + c("unlock deploys"), "unlock it first: /unlock"},
		{"status of an app", "so there is no Rollback button: " + c("/status web") + " shows what each host runs",
			"so there is no Rollback button: /status app:web shows what each host runs"},
		{"status", c("status") + " shows them", "/status shows them"},
		{"admins", c("admins") + " lists who is around", "/admins lists who is around"},
		// Without the config, no Discord account is known for @ana.
		{"revoke", "or take it back: " + c("revoke @ana deployer web prod"), "or take it back: /revoke user:(pick ana's Discord account) role:deployer app:web env:prod"},
		{"revoke everywhere", "or take it back: " + c("revoke @ana viewer"), "or take it back: /revoke user:(pick ana's Discord account) role:viewer"},
		{"grant for a while", "write it once: " + c("grant <@222> deployer web for 2h"),
			"write it once: /grant user:" + mentionOpen + "@222> role:deployer app:web duration:2h"},
		{"grant with a duration in the middle, as written", c("grant @ana deployer for 2h web"), "grant @ana deployer for 2h web"},
		{"revoke for a while, as written", c("revoke @ana deployer for 2h"), "revoke @ana deployer for 2h"},
		{"grant without a user, as written", c("grant deployer web"), "grant deployer web"},
		{"here", c("here for 8h") + " checks you in", "/here duration:8h checks you in"},
		{"away", c("away"), "/away"},
		{"whoami", c("whoami"), "/whoami"},
		{"help", c("help deploy"), "/help command:deploy"},
		{"help of every command", "try " + c("help"), "try /help"},
		{"help of a form, as written", c("help confirm"), "help confirm"},
		{"admins with a word, as written", c("admins web"), "admins web"},
		{"deploy dry run", "write it once: " + c("deploy web 1337 to prod --dry-run"), "write it once: /deploy app:web build:1337 env:prod dry_run:true"},
		{"deploy forced", "write it once: " + c(`deploy web 1337 to prod --force "INC-42 hotfix"`),
			"write it once: /deploy app:web build:1337 env:prod force:INC-42 hotfix"},
		{"deploy with a flag twice, as written", c("deploy web 1337 --dry-run --dry-run"), "deploy web 1337 --dry-run --dry-run"},
		{"deploy forced without a reason, as written", c("deploy web 1337 --force"), "deploy web 1337 --force"},
		{"train", c("train") + " lists who is aboard", "/train list lists who is aboard"},
		{"train leave", "take them off: " + c("train leave web on daily"), "take them off: /train leave app:web train:daily"},
		{"train board", "write it once: " + c("train board web 1337 to prod on daily"),
			"write it once: /train board app:web build:1337 env:prod train:daily"},
		{"train board of the train's env", c("train board web 1337 on daily"), "/train board app:web build:1337 train:daily"},
		{"train depart", "e.g. " + c("train depart daily now"), "e.g. /train depart train:daily"},
		{"train depart without now, as written", c("train depart daily"), "train depart daily"},
		{"train cancel", "quote it: " + c(`train cancel daily "daily is late"`), "quote it: /train cancel train:daily reason:daily is late"},
		{"train cancel with an unquoted reason, as written", c("train cancel daily late"), "train cancel daily late"},
		{"history", c("history web prod 20"), "/history app:web env:prod n:20"},
		{"history of a number", c("history 20"), "/history n:20"},
		{"audit", c("audit web 50"), "/audit app:web n:50"},
		{"stats", c("stats web prod 7d"), "/stats app:web env:prod window:7d"},
		{"stats of an app", c("stats web 2w"), "/stats app:web window:2w"},
		{"stats of an env", c("stats web prod"), "/stats app:web env:prod"},
		{"cancel", "to stop this one: " + c("cancel web prod"), "to stop this one: /cancel app:web env:prod"},
		{"cancel of the default env", "to stop it: " + c("cancel web") + ", or wait for its end", "to stop it: /cancel app:web, or wait for its end"},
		{"build with dots ends a sentence", "to undo it: " + c("rollback web prod to 2.4.0") + ".",
			"to undo it: /rollback app:web env:prod build:2.4.0."},
		{"not the shape, as written", "are not stopped: " + c("lock deploys web prod"), "are not stopped: lock deploys web prod"},
		{"confirm", "to go on: " + c("deploy confirm 20260314-140200-ab12cd") + ", or " + c("deploy abort 20260314-140200-ab12cd"),
			"to go on: /confirm id:20260314-140200-ab12cd, or /abort id:20260314-140200-ab12cd"},
		{"confirm of no deploy id, as written", c("deploy confirm 1337"), "deploy confirm 1337"},
		{"confirm of a quoted app, as written", c(`deploy "confirm" 20260314-140200-ab12cd`), `deploy "confirm" 20260314-140200-ab12cd`},
		{"a deploy id, as written", "then " + c("rollback 20260314-140200-ab12cd"), "then rollback 20260314-140200-ab12cd"},
		{"cut short", "to undo it: \ue000rollback web pr", "to undo it: rollback web pr"},
		{"not a suggestion", "last deploy 1 succeeded by bob", "last deploy 1 succeeded by bob"},
		{"a rollback's id", "Rolling back web/prod from 1337 to 1336 (rollback 20260314-140200-ab12cd)",
			"Rolling back web/prod from 1337 to 1336 (rollback 20260314-140200-ab12cd)"},
		{"prose after a colon", "Error watch of web 1337 on prod ended: deploy 1338 started and replaced it",
			"Error watch of web 1337 on prod ended: deploy 1338 started and replaced it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slashForms(tt.in, nil); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestSlashFormsWithTheConfig: read with the config's apps, envs and
// trains, a suggestion its words alone leave ambiguous is shown as the
// slash command it means. An option the parser fills in by default (an
// env, a train, N, a window) is shown when the suggestion writes it, and
// left out when it does not, as the slash command leaves it to the
// parser. One the parser refuses with them is read as it would be
// without.
func TestSlashFormsWithTheConfig(t *testing.T) {
	c := suggest.Command
	tests := []struct {
		name, in, want string
	}{
		{"lock with an unquoted reason after the env", "(to stop them: " + c("/lock deploys web prod REASON") + ")",
			"(to stop them: /lock app:web env:prod reason:REASON)"},
		{"lock with an unquoted reason after the app", "stop them: " + c("lock deploys web db down"), "stop them: /lock app:web reason:db down"},
		{"lock for a while, the duration at the end", "write it: " + c("lock deploys web db migration for 2h"),
			"write it: /lock app:web duration:2h reason:db migration"},
		{"lock of every app, the duration at the end", c("lock deploys release freeze for 1d"), "/lock duration:1d reason:release freeze"},
		{"train cancel with an unquoted reason", c("train cancel daily late"), "/train cancel train:daily reason:late"},
		{"cancel of the default env", c("cancel web"), "/cancel app:web"},
		{"cancel of the default env named", c("cancel web prod"), "/cancel app:web env:prod"},
		{"deploy to the default env", "deploy it: " + c("deploy web 1338"), "deploy it: /deploy app:web build:1338"},
		{"deploy to another env", c("deploy web 1338 to staging"), "/deploy app:web build:1338 env:staging"},
		{"rollback of the default env", c("rollback web to 1336 from 1337"), "/rollback app:web build:1336 from:1337"},
		{"rollback, the env in the reply", "decide: " + c("rollback accounting production to 1"), "decide: /rollback app:accounting env:production build:1"},
		{"history of the default N", c("history web prod"), "/history app:web env:prod"},
		{"history of N", c("history web 10"), "/history app:web n:10"},
		{"history of nothing named", c("history"), "/history"},
		{"audit of the default N", c("audit web"), "/audit app:web"},
		{"stats of the default window", c("stats web"), "/stats app:web"},
		{"stats of the default window named", c("stats web 30d"), "/stats app:web window:30d"},
		{"stats of another window", c("stats web 2w"), "/stats app:web window:2w"},
		{"stats of a window in days", c("stats web prod 14d"), "/stats app:web env:prod window:14d"},
		{"here for a while", c("here for 90m"), "/here duration:90m"},
		{"lock for a while", c(`lock deploys web prod for 90m "db migration"`), "/lock app:web env:prod duration:90m reason:db migration"},
		{"grant for a while", c("grant <@222> deployer web for 120m"), "/grant user:" + mentionOpen + "@222> role:deployer app:web duration:120m"},
		{"an app the config does not have", c("rollback shop prod to 1"), "/rollback app:shop env:prod build:1"},
		{"a train named and a reason starting with another, as written", c("train cancel weekly daily is late"), "train cancel weekly daily is late"},
		{"a lock without a reason, as written", c("lock deploys web prod"), "lock deploys web prod"},
		{"not a suggestion", "web/prod is locked by ana: lock deploys web db down", "web/prod is locked by ana: lock deploys web db down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slashForms(tt.in, testCatalog{}); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	// With one train, a train action that names none is of that train.
	for _, tt := range []struct{ name, in, want string }{
		{"train board of the only train", c("train board web 1337"), "/train board app:web build:1337"},
		{"train board of the only train named", c("train board web 1337 on daily"), "/train board app:web build:1337 train:daily"},
		{"train depart of the only train", c("train depart now"), "/train depart"},
		{"train cancel of the only train", c(`train cancel "late"`), "/train cancel reason:late"},
		{"train leave of the only train", c("train leave web"), "/train leave app:web"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := slashForms(tt.in, oneTrainCatalog{}); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	// An app named as its default env: the word is the app.
	for _, tt := range []struct{ name, in, want string }{
		{"the app alone", c("cancel prod"), "/cancel app:prod"},
		{"the app and its env", c("cancel prod prod"), "/cancel app:prod env:prod"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := slashForms(tt.in, prodCatalog{}); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	t.Run("lock of an env that starts the reason elsewhere", func(t *testing.T) {
		if got, want := slashForms(c("lock deploys web db down"), dbCatalog{}), "/lock app:web env:db reason:down"; got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	})
}

// TestLeaveDefaultsKeepsMeaning: an option the suggestion does not write
// stays in its slash form when the slash command sent without it would
// be another command.
func TestLeaveDefaultsKeepsMeaning(t *testing.T) {
	tests := []struct {
		name, cmd, text string
		opts            []option
		want            string
	}{
		{"the default env", "cancel web", "cancel web prod", []option{{"app", "web"}, {"env", "prod"}}, "/cancel app:web"},
		{"not the default env", "cancel web", "cancel web staging", []option{{"app", "web"}, {"env", "staging"}}, "/cancel app:web env:staging"},
		{"not the default N", "history web", "history web 5", []option{{"app", "web"}, {"n", "5"}}, "/history app:web n:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &form{cmd: []string{strings.Fields(tt.cmd)[0]}, opts: tt.opts}
			f.leaveDefaults(tt.cmd, tt.text, testCatalog{})
			if got := f.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// oneTrainCatalog is testCatalog with one train.
type oneTrainCatalog struct{ testCatalog }

func (oneTrainCatalog) Trains() []string { return []string{"daily"} }

// prodCatalog has one app, prod, whose default env is prod.
type prodCatalog struct{ testCatalog }

func (prodCatalog) Apps() []string               { return []string{"prod"} }
func (prodCatalog) Envs(string) []string         { return []string{"prod", "staging"} }
func (prodCatalog) DefaultEnv(app string) string { return "prod" }

// dbCatalog is testCatalog with an env db for every app.
type dbCatalog struct{ testCatalog }

func (dbCatalog) Envs(string) []string { return []string{"db", "prod"} }

// TestRepliesReadSuggestionsWithTheConfig: the adapter reads the
// suggestions in its replies with the catalog it is given.
func TestRepliesReadSuggestionsWithTheConfig(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "Rolled back web/prod to 1336",
			Lines: []string{"to stop the next deploy: " + suggest.Command("lock deploys web prod rolled back")}})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, func(o *Options) { o.Catalog = testCatalog{} })
	hs.post(t, deploySlash("431", "111"))
	hs.h.waitOut(t, 1)
	hs.shutdown(t)
	calls := hs.fd.Calls()
	if len(calls) == 0 {
		t.Fatal("no reply was sent")
	}
	const want = "/lock app:web env:prod reason:rolled back"
	if body := string(calls[len(calls)-1].Body); !strings.Contains(body, want) {
		t.Errorf("reply: got %s, want it to hold %q", body, want)
	}
}

// TestRenderedMention: the user of a suggested grant or revoke is shown
// as Discord shows a user option, a mention, where it showed "\<@222>";
// a mention in any other text, or in a suggestion's reason, stays
// escaped.
func TestRenderedMention(t *testing.T) {
	c := suggest.Command
	tests := []struct {
		name, in, want string
		cat            commands.Catalog
	}{
		{"grant", "write it once: " + c("grant <@222> deployer web for 2h"), "write it once: /grant user:<@222> role:deployer app:web duration:2h", nil},
		{"revoke", "or take it back: " + c("revoke <@222> deployer"), "or take it back: /revoke user:<@222> role:deployer", nil},
		{"revoke with the config", c("revoke <@222> deployer web"), "/revoke user:<@222> role:deployer app:web", testCatalog{}},
		{"a user by name", c("revoke @ana deployer"), "/revoke user:(pick ana's Discord account) role:deployer", nil},
		{"a user by name with the config's Discord ids", c("revoke @ana deployer"), "/revoke user:<@111> role:deployer",
			withDiscordIDs(testCatalog{}, map[string]string{"111": "ana"})},
		{"not a suggestion", "asked by <@222>: grant <@222> deployer", `asked by \<@222>: grant \<@222> deployer`, nil},
		{"a mention in a reason", c(`lock deploys web prod "asked by <@222>"`), `/lock app:web env:prod reason:asked by \<@222>`, nil},
		{"a suggestion as written", c("grant <@222> deployer for 2h web"), `grant \<@222> deployer for 2h web`, nil},
		{"a mention's mark from elsewhere", "asked by " + mentionOpen + "@222>", "asked by @222>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := render(chat.Message{Level: chat.Info, Lines: []string{tt.in}, Fields: []chat.Field{{Label: "next", Value: tt.in}}}, tt.cat).Embeds[0]
			for _, got := range []string{e.Description, e.Fields[0].Value} {
				if got != tt.want {
					t.Errorf("got  %q\nwant %q", got, tt.want)
				}
			}
		})
	}
}

// TestSuggestedUserByName: a grant or revoke the bot suggests with a
// user of the config by name (@ana) was shown as /grant user:@ana, a
// value Discord's user option cannot take: it selects an account, and
// the handler sends its id. With the Discord id the config gives the
// user, the form mentions that account, and sent back through the slash
// handler it names the account the config maps to the user; without
// one, it says which user to pick, and is not taken as it is.
func TestSuggestedUserByName(t *testing.T) {
	hs := newHarness(t, nil, func(o *Options) { o.Catalog = testCatalog{} })
	tests := []struct {
		name, typed string
		want        string // the form suggested
		wantUser    string // the user the form grants to, "" when it cannot be sent as shown
	}{
		{"grant", "grant @ana @ana deployer web", "/grant user:<@111> role:deployer app:web", "ana"},
		{"grant for a while", "grant @bob @bob deployer web prod for 2h", "/grant user:<@222> role:deployer app:web env:prod duration:2h", "bob"},
		{"revoke", "revoke @ana @ana deployer", "/revoke user:<@111> role:deployer", "ana"},
		{"a user without a Discord id", "grant @carol @carol deployer web", "/grant user:(pick carol's Discord account) role:deployer app:web", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := commands.Parse(tt.typed, testCatalog{}, commands.Options{})
			if r.Kind != commands.Reply {
				t.Fatalf("Parse(%q) = %v, want a refusal that suggests the command", tt.typed, r.Kind)
			}
			e := render(chat.Message{Level: chat.Failure, Title: r.Reply}, hs.a.cat).Embeds[0]
			first, _, _ := strings.Cut(e.Title, "\n")
			_, form, ok := strings.Cut(first, "write it once: ")
			if !ok || form != tt.want {
				t.Fatalf("got %q, want it to end %q", e.Title, "write it once: "+tt.want)
			}
			text, err := commandText(interactionOf(t, form), nil)
			if tt.wantUser == "" {
				if err == nil {
					t.Errorf("%q sends %q, want it refused as no Discord user", form, text)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v", form, err)
			}
			p := commands.Parse(text, testCatalog{}, commands.Options{})
			if p.Kind != commands.Run || !p.Cmd.UserIsID {
				t.Fatalf("%q sends %q: %v %q (%s), want a grant or revoke of a Discord account", form, text, p.Kind, p.Cmd.Text, p.Reply)
			}
			if got := hs.a.userName(p.Cmd.User); got != tt.wantUser {
				t.Errorf("%q sends %q, of the Discord account of %s, want %s", form, text, got, tt.wantUser)
			}
		})
	}
}

// TestUserTextVerbatim: text from a person that has a command's shape (a
// lock's reason, echoed in the bot's replies) was rewritten as a Discord
// slash command when it followed a colon or a parenthesis, misquoting
// what they wrote. Only the bot's own suggestions are rewritten now.
func TestUserTextVerbatim(t *testing.T) {
	for _, reason := range []string{"deploy web 5", "rollback web prod", "/deploy web 5", "unlock deploys web prod", "lock deploys web prod now"} {
		t.Run(reason, func(t *testing.T) {
			for _, tc := range []struct{ where, text string }{
				{"after a colon", "web/prod is locked by ana since 14:02: " + reason},
				{"in parentheses", "web/prod is locked (" + reason + ")"},
			} {
				e := render(chat.Message{Level: chat.Info, Title: tc.text, Lines: []string{tc.text},
					Fields: []chat.Field{{Label: "reason", Value: reason}}}, nil).Embeds[0]
				for _, got := range []string{e.Title, e.Description, e.Fields[0].Value} {
					if !strings.Contains(got, reason) || strings.Contains(got, ":web") {
						t.Errorf("%s: got %q, want %q as written", tc.where, got, reason)
					}
				}
			}
		})
	}
}

// TestTypedMark: a person who types the marks of a suggestion around their
// words gets nothing of it: Parse takes the marks out, and the reason is
// shown as written.
func TestTypedMark(t *testing.T) {
	mark := suggest.Command("deploy web 5")
	r := commands.Parse("lock deploys "+mark, nil, commands.Options{})
	if r.Kind != commands.Run {
		t.Fatalf("got %v %q, want a run", r.Kind, r.Reply)
	}
	if r.Cmd.Reason != "deploy web 5" {
		t.Errorf("reason: got %q, want %q", r.Cmd.Reason, "deploy web 5")
	}
	e := render(chat.Message{Level: chat.Info, Title: "web/prod is locked: " + r.Cmd.Reason}, nil).Embeds[0]
	if want := "web/prod is locked: deploy web 5"; e.Title != want {
		t.Errorf("got %q, want %q", e.Title, want)
	}
}

// TestRenderedAdvice: a status line's advice reaches Discord in its slash
// form, title and fields included.
func TestRenderedAdvice(t *testing.T) {
	c := suggest.Command
	r := render(chat.Message{Level: chat.Info, Title: "web/prod is locked: " + c("/unlock deploys web prod"),
		Lines:  []string{"  decide: " + c("/rollback web prod to 1 from 2") + ", or " + c("/deploy web BUILD to prod")},
		Fields: []chat.Field{{Label: "next", Value: c("/rollback web prod")}}}, nil)
	e := r.Embeds[0]
	for _, tc := range []struct{ where, got, want string }{
		{"title", e.Title, "/unlock app:web env:prod"},
		{"description", e.Description, "/rollback app:web env:prod build:1 from:2, or /deploy app:web build:BUILD env:prod"},
		{"field", e.Fields[0].Value, "/rollback app:web env:prod"},
	} {
		if !strings.Contains(tc.got, tc.want) {
			t.Errorf("%s: got %q, want it to hold %q", tc.where, tc.got, tc.want)
		}
	}
}

// interactionOf reads a slash form as Discord sends what a user typed
// in it: the command, its subcommand if it has some, and options typed
// by their registered type. A value runs to the next option name.
func interactionOf(t *testing.T, form string) discordgo.ApplicationCommandInteractionData {
	t.Helper()
	fields := strings.Fields(strings.TrimPrefix(form, "/"))
	spec, ok := slash[commands.Verb(fields[0])]
	if !ok {
		t.Fatalf("%q: no slash command %q", form, fields[0])
	}
	fields = fields[1:]
	var subName string
	if spec.subs != nil {
		sub, err := subcommandOf(fields[0], spec, []*discordgo.ApplicationCommandInteractionDataOption{
			{Name: fields[0], Type: discordgo.ApplicationCommandOptionSubCommand}})
		if err != nil {
			t.Fatalf("%q: %v", form, err)
		}
		subName, spec, fields = fields[0], sub.slashSpec, fields[1:]
	}
	types := map[string]discordgo.ApplicationCommandOptionType{}
	for _, o := range spec.options(choiceSet{}) {
		types[o.Name] = o.Type
	}
	var names, values []string
	for _, f := range fields {
		name, value, ok := strings.Cut(f, ":")
		if _, known := types[name]; ok && known {
			names, values = append(names, name), append(values, value)
			continue
		}
		if len(values) == 0 {
			t.Fatalf("%q: %q is no option", form, f)
		}
		values[len(values)-1] += " " + f
	}
	opts := []map[string]any{}
	for i, name := range names {
		var v any = values[i]
		switch types[name] {
		case discordgo.ApplicationCommandOptionInteger:
			n, err := strconv.Atoi(values[i])
			if err != nil {
				t.Fatalf("%q: %s: %v", form, name, err)
			}
			v = float64(n)
		case discordgo.ApplicationCommandOptionBoolean:
			v = values[i] == "true"
		case discordgo.ApplicationCommandOptionUser:
			v = strings.TrimSuffix(strings.TrimPrefix(values[i], "<@"), ">")
		}
		opts = append(opts, opt(name, int(types[name]), v))
	}
	if subName != "" {
		opts = []map[string]any{sub(subName, opts...)}
	}
	raw, err := json.Marshal(map[string]any{"name": strings.Fields(strings.TrimPrefix(form, "/"))[0], "type": 1, "options": opts})
	if err != nil {
		t.Fatal(err)
	}
	var data discordgo.ApplicationCommandInteractionData
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSlashFormsMeanTheSuggestion: a suggestion's slash form, typed in
// Discord as shown, is the command suggested: the interaction it makes
// parses as the suggestion does. Read with the config's apps, envs and
// trains, a suggestion whose words alone could be read two ways has its
// slash form too.
func TestSlashFormsMeanTheSuggestion(t *testing.T) {
	covered := map[commands.Verb]bool{}
	check := func(t *testing.T, cmd string, cat commands.Catalog) {
		t.Helper()
		form := slashForm(cmd, cat)
		if form == cmd {
			t.Fatalf("got %q as written, want a slash form", form)
		}
		// A user typed is shown as a mention, <@ID>.
		form = strings.ReplaceAll(form, mentionOpen, "<")
		text, err := commandText(interactionOf(t, form), nil)
		if err != nil {
			t.Fatalf("%q: %v", form, err)
		}
		want := commands.Parse(cmd, testCatalog{}, commands.Options{})
		got := commands.Parse(text, testCatalog{}, commands.Options{})
		if want.Kind != commands.Run {
			t.Fatalf("the suggestion %q does not parse: %s", cmd, want.Reply)
		}
		if got.Kind != commands.Run || got.Cmd.Text != want.Cmd.Text {
			t.Errorf("%q reads back as %q: %v %q (%s), want %q", form, text, got.Kind, got.Cmd.Text, got.Reply, want.Cmd.Text)
		}
		covered[want.Cmd.Verb] = true
	}
	for _, cmd := range []string{
		"deploy web 1337 to prod",
		"rollback web prod to 1 from 2",
		"status web",
		"cancel web staging",
		"unlock deploys web prod",
		`lock deploys web prod "rolled back from 2 by itself"`,
		`lock deploys web "rolled back"`,
		`lock deploys for 1d "release freeze"`,
		`lock deploys web prod for 2h "db migration"`,
		"lock deploys accounting for 1h30m db migration: step 2",
		`lock deploys web prod 'the "big" one'`,
		"admins",
		"revoke <@222> deployer web prod",
		"revoke <@222> viewer",
		"grant <@222> deployer web prod for 2h",
		"grant <@222> deployer for 1d",
		"here for 8h",
		"here",
		"away",
		"whoami",
		"help lock",
		"deploy confirm 20250314-100000-abc123",
		"deploy abort 20250314-100000-abc123",
		"deploy web 1337 to prod --dry-run",
		`deploy accounting 1338 to production --force "INC-42 hotfix"`,
		`deploy web 1 --dry-run --force 'it's "urgent" now'`,
		"train",
		"train leave web on daily",
		"train board web 1337 to prod on daily",
		"train board accounting 2.4.0-rc1 on weekly",
		"train depart daily now",
		`train cancel weekly "daily is late"`,
		"history web prod 20",
		"history 20",
		"history",
		"audit web 50",
		"audit 50",
		"stats web prod 7d",
		"stats accounting 2w",
		"stats web prod",
		"stats web",
		"cancel web",
		"deploy web 1338",
		"rollback web to 1336 from 1337",
		"history web",
		"audit web",
	} {
		t.Run(cmd, func(t *testing.T) {
			t.Run("words alone", func(t *testing.T) { check(t, cmd, nil) })
			t.Run("with the config", func(t *testing.T) { check(t, cmd, testCatalog{}) })
		})
	}
	// A word after the app that may be its env or the reason's first, a
	// train or the reason's first, a duration after the reason.
	for _, cmd := range []string{
		"lock deploys web prod REASON",
		"lock deploys web prod db down",
		"lock deploys web db down",
		"lock deploys accounting production rolled back from 2 by itself",
		"lock deploys web db migration for 2h",
		"lock deploys web prod db migration for 1h30m",
		"lock deploys db migration for 1d",
		"train cancel daily late",
		"train cancel weekly late again, see #ops",
	} {
		t.Run(cmd, func(t *testing.T) {
			if form := slashForm(cmd, nil); form != cmd {
				t.Errorf("words alone: got %q, want it as written", form)
			}
			check(t, cmd, testCatalog{})
		})
	}
	// A command added to the grammar gets its slash form here too.
	for _, v := range slashVerbs() {
		if !covered[v] {
			t.Errorf("no suggestion of %s is checked here", v)
		}
	}
}

// TestRenderedConfirmPrompt: a migrations prompt, whose answers the
// deploy marks as suggested, shows them as Discord's /confirm and /abort.
func TestRenderedConfirmPrompt(t *testing.T) {
	const id = "20250314-100000-abc123"
	m := commands.ConfirmMessage(deploy.Event{Kind: deploy.EventConfirm, DeployID: id, Migrations: []string{"0042_drop_column"},
		Text: "1 pending migration(s) wait for confirmation: " + suggest.Command("deploy confirm "+id) + ", or " + suggest.Command("deploy abort "+id)})
	e := render(m, nil).Embeds[0]
	all := e.Title + "\n" + e.Description
	for _, f := range e.Fields {
		all += "\n" + f.Value
	}
	if want := "confirm with /confirm id:" + id + ", or abort with /abort id:" + id; !strings.Contains(all, want) {
		t.Errorf("got %q, want it to hold %q", all, want)
	}
}
