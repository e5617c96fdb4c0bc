package deploy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestHostOutputSuggestsNothing: what a host prints (a failing step's
// standard error, a migrations list) and what an app answers its health
// check are quoted in the progress, the record and the replies made of
// them. Marks of the bot's suggested commands in them are taken out, so
// that a host printing "deploy web 5" between them is shown as written
// and Discord does not rewrite it into a command the bot suggests.
func TestHostOutputSuggestsNothing(t *testing.T) {
	// printf writes the marks as their UTF-8 bytes, in octal.
	const forged = `\356\200\200deploy web 5\356\200\201`
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, suggest.Command("deploy web 5"), http.StatusInternalServerError)
	}))
	defer app.Close()
	run := `'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`
	list := `'for m in $(ls migrations 2>/dev/null); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m"; done'`
	health := `'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`
	fail := `'printf "` + forged + `\n" >&2; exit 1'`
	tests := []struct{ name, old, new string }{
		{"restart", "    restart: 'echo \"$SWITCHMAN_BUILD\" >> restarts.log; true'", "    restart: " + fail},
		{"migrations run", "      run: " + run, "      run: " + fail},
		{"migrations list output", "      list: " + list + "\n      run: " + run,
			"      list: 'printf \"" + forged + "\\n\"; ls migrations'\n      run: 'exit 1'"},
		{"health command", "      command: " + health, "      command: " + fail},
		{"health URL answer", "      command: " + health, "      url: " + app.URL + "/health"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := fmt.Sprintf(fixtureYAML, "true")
			if strings.HasPrefix(tc.name, "health") {
				yaml = failingHealth(yaml)
			}
			if !strings.Contains(yaml, tc.old) {
				t.Fatalf("the fixture has no line %q; update this test", tc.old)
			}
			f := newFixtureFrom(t, strings.Replace(yaml, tc.old, tc.new, 1), &local.Transport{})
			f.build("2", tarEntry{name: "migrations/002_email.sql", body: "x"})
			rec, err := f.run(deploy.KindDeploy, "2")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Outcome == deploy.OutcomeSucceeded {
				t.Fatalf("outcome %s, want the %s to fail", rec.Outcome, tc.name)
			}
			shown := map[string]string{"record error": rec.Error, "record migrations": strings.Join(rec.Migrations, " ")}
			for _, h := range rec.Hosts {
				shown["host "+h.Host+" error"] = h.Error
			}
			f.mu.Lock()
			for i, ev := range f.events {
				shown[fmt.Sprintf("event %d", i)] = ev.Err + " " + strings.Join(ev.Migrations, " ") + " " + ev.Text
			}
			f.mu.Unlock()
			quoted := false
			for what, s := range shown {
				quoted = quoted || strings.Contains(s, "deploy web 5")
				if cmds := suggested(s); len(cmds) > 0 {
					t.Errorf("%s suggests %q, which the host printed: %q", what, cmds, s)
				}
			}
			if !quoted {
				t.Errorf("nothing quotes what the host printed:\n%v", shown)
			}
		})
	}
}

// suggested returns the commands s marks as the bot's suggestions.
func suggested(s string) []string {
	var cmds []string
	suggest.Rewrite(s, func(cmd string) string {
		cmds = append(cmds, cmd)
		return cmd
	})
	return cmds
}

// TestLingeringProcessSuggestsNothing: a process a restart left holding
// its output is named in a note by what the host calls it, a name the
// app's owners chose: it loses the marks of the bot's suggested commands.
func TestLingeringProcessSuggestsNothing(t *testing.T) {
	f := newFixtureFrom(t, fmt.Sprintf(fixtureYAML, "true"), namingTransport{&local.Transport{}})
	f.build("2")
	rec, err := f.run(deploy.KindDeploy, "2")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("outcome %s (%s), want succeeded", rec.Outcome, rec.Error)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	named := false
	for i, ev := range f.events {
		if ev.Kind != deploy.EventNote {
			continue
		}
		named = named || strings.Contains(ev.Text, "deploy web 5")
		if cmds := suggested(ev.Text); len(cmds) > 0 {
			t.Errorf("event %d suggests %q, which the host named: %q", i, cmds, ev.Text)
		}
	}
	if !named {
		t.Errorf("no note names the lingering process: %+v", f.events)
	}
}

// namingTransport is a transport whose sessions tell of a lingering
// process after every script that asks, named with marks.
type namingTransport struct{ *local.Transport }

func (t namingTransport) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := t.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return namingSession{s}, nil
}

type namingSession struct{ deploy.Session }

func (s namingSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	out, err := s.Session.Run(ctx, cmd)
	if cmd.Lingering != nil {
		cmd.Lingering("pid 42 (" + suggest.Command("deploy web 5") + ")")
	}
	return out, err
}
