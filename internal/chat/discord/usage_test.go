package discord

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// gateService is a commands.Service of gateYAML's config, as the bot
// runs it, and that config's catalog.
func gateService(t *testing.T) (*commands.Service, commands.Catalog) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(gateYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st})
	t.Cleanup(eng.Wait)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	return commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy}), commands.CatalogOf(cfg)
}

// replies is a commands.Output that keeps the replies.
type replies struct {
	mu   sync.Mutex
	msgs []chat.Message
}

func (r *replies) Reply(m chat.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

func (r *replies) Progress(deploy.Event) {}

// answer returns the one reply svc gives cmd, sent by ana from Discord.
func answer(t *testing.T, svc *commands.Service, cmd string) chat.Message {
	t.Helper()
	var out replies
	svc.Handle(context.Background(), commands.Request{User: "ana", Platform: Platform, Channel: testChannel, Text: cmd}, &out)
	if len(out.msgs) != 1 {
		t.Fatalf("%q: %d replies %+v, want one", cmd, len(out.msgs), out.msgs)
	}
	return out.msgs[0]
}

// TestRefusalUsageIsSlash: a refusal of the parser, as the bot answers
// it, shows its command's usage as a Discord user sends it, the slash
// command and its options, every usage line of its actions too.
func TestRefusalUsageIsSlash(t *testing.T) {
	const indent = "       "
	tests := []struct {
		cmd  string
		want string // the end of the rendered reply
	}{
		{"grant @ana @ana deployer web", `usage: /grant user: role: \[app:\] \[env:\] \[duration:\]`},
		{"revoke @ana", `usage: /revoke user: role: \[app:\] \[env:\]`},
		{"deploy web", `usage: /deploy app: build: \[env:\] \[dry\_run:\] \[force:\]`},
		{"train --now", "usage: /train list\n" + indent + `/train board app: build: \[env:\] \[train:\]` + "\n" +
			indent + `/train leave app: \[train:\]` + "\n" + indent + `/train cancel reason: \[train:\]` + "\n" +
			indent + `/train depart \[train:\]`},
		{"deploy confirm", "usage: /confirm id:"},
		{"train board web", "usage: /train board app: build: \\[env:\\] \\[train:\\]"},
		{"here for ever", `usage: /here \[duration:\]`},
	}
	svc, cat := gateService(t)
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			e := render(answer(t, svc, tt.cmd), cat).Embeds[0]
			if text := e.Title + "\n" + e.Description; !strings.HasSuffix(text, tt.want) {
				t.Errorf("got %q, want it to end with %q", text, tt.want)
			}
		})
	}
}

// TestFormInSentenceIsSlash: a refusal that names a form of deploy in
// its sentence (confirm, abort), rather than on a usage line of its own,
// names it as a Discord user sends it too: the command offered as its
// slash command, the form's usage as the slash command's.
func TestFormInSentenceIsSlash(t *testing.T) {
	const id = "20261123-124158-b25a0a"
	tests := []struct {
		cmd  string
		want string // in the rendered reply
	}{
		{"deploy " + id + " 5", "write /confirm id:" + id + " or /abort id:" + id},
		{"deploy confrim " + id, "did you mean /confirm id:" + id + "?"},
		{"deploy --dry-run confirm " + id, "takes no flags: /confirm id:\n"},
		{"deploy --dry-run abort", "takes no flags: /abort id:\n"},
		{"confirm " + id, "write it after deploy: /confirm id:\n"},
		{"deploy confirm", "the id of the deploy to confirm is missing, e.g. /confirm id:" + id},
		{"deploy abort", "the id of the deploy to abort is missing, e.g. /abort id:" + id},
	}
	svc, cat := gateService(t)
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			e := render(answer(t, svc, tt.cmd), cat).Embeds[0]
			text := e.Title + "\n" + e.Description + "\n"
			if !strings.Contains(text, tt.want) {
				t.Errorf("got\n%s\nwant it to hold %q", text, tt.want)
			}
			for _, typed := range []string{"deploy confirm", "deploy abort"} {
				if strings.Contains(text, typed) {
					t.Errorf("got\n%s\nwant it without %q", text, typed)
				}
			}
		})
	}
}

// TestEveryUsageHasASlashForm: every usage a refusal can end with, every
// command's and form's and their actions', has a slash form, so a
// command added to the grammar or to the slash commands without the
// other fails here.
func TestEveryUsageHasASlashForm(t *testing.T) {
	cmds := []string{"deploy confirm", "deploy abort"}
	for _, v := range commands.Verbs() {
		cmds = append(cmds, string(v))
	}
	for _, cmd := range cmds {
		t.Run(cmd, func(t *testing.T) {
			r := commands.Parse(cmd+" --no-such-flag", testCatalog{}, commands.Options{})
			us := r.Usages()
			if len(us) == 0 {
				t.Fatalf("refusal %q names no usage", r.Reply)
			}
			for _, u := range us {
				if _, ok := slashUsage(commands.Verb(u.Verb), u.Action); !ok {
					t.Errorf("usage %q (%s %s) has no slash form", u.Text, u.Verb, u.Action)
				}
			}
		})
	}
}

// TestUsageLineLeftAsWritten: a line no longer ending with the usage its
// message names for it, or one naming a command without a slash command,
// is shown as written.
func TestUsageLineLeftAsWritten(t *testing.T) {
	m := chat.Message{
		Lines: []string{"usage: grant @USER ROLE", "usage: frobnicate X", "usage: revoke @USER ROLE [APP] [ENV]"},
		Usages: []chat.Usage{
			{Line: 0, Verb: "grant", Text: "grant @USER ROLE [APP] [ENV] [for DURATION]"},
			{Line: 1, Verb: "frobnicate", Text: "frobnicate X"},
			{Line: 2, Verb: "revoke", Text: "revoke @USER ROLE [APP] [ENV]"},
			{Line: 7, Verb: "revoke", Text: "revoke @USER ROLE [APP] [ENV]"},
		},
	}
	want := []string{"usage: grant @USER ROLE", "usage: frobnicate X", "usage: /revoke user: role: [app:] [env:]"}
	got := slashUsageLines(m)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q, want %q", got, want)
	}
}
