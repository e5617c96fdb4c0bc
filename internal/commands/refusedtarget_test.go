package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
)

// TestRefusedNamesItsTarget: a command the parser refuses is audited
// with the verb, app and env its first words name, when they are the
// config's, so that `audit web` lists the refused attempts on web, hostile
// ones first among them; a command that names no app of the config is
// audited with none.
func TestRefusedNamesItsTarget(t *testing.T) {
	f := newServiceFixture(t)
	for _, tt := range []struct {
		name, text       string
		action, app, env string
	}{
		{"shell after the build", "deploy web 42;rm -rf /", "deploy", "web", ""},
		{"line break", "deploy web 1 to prod\nrm -rf /", "deploy", "web", "prod"},
		{"mention and substitution", "@switchman deploy web $(id) to prod", "deploy", "web", "prod"},
		{"slash command", "/deploy web 1 to prod extra", "deploy", "web", "prod"},
		{"app/env", "rollback web/prod to ../../etc/passwd", "rollback", "web", "prod"},
		{"lock without reason", "lock deploys web prod", "lock", "web", "prod"},
		{"history stray word", "history web prod 5 extra", "history", "web", "prod"},
		{"grant", "grant @carl deployer web prod for ever", "grant", "web", "prod"},
		{"train board", "train board web 1;id to prod", "train", "web", "prod"},
		{"unknown app", "deploy nosuch 1", "deploy", "", ""},
		{"deploy confirm", "deploy confirm ../../etc/passwd", "confirm", "", ""},
		{"unknown verb", "depoly web 1", "", "", ""},
		{"app not first", "status nosuch web", "status", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, out, _ := f.do("bob", tt.text)
			if !res.Failed {
				t.Fatalf("%q: got %+v, reply %q; want a refusal", tt.text, res, out.last())
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Command != tt.text || entries[0].Decision != audit.Refused {
				t.Fatalf("audit: got %+v, want the refusal of %q", entries, tt.text)
			}
			e := entries[0]
			if e.Action != tt.action || e.App != tt.app || e.Env != tt.env {
				t.Errorf("%q audited as action %q app %q env %q, want %q %q %q", tt.text, e.Action, e.App, e.Env, tt.action, tt.app, tt.env)
			}
		})
	}
	_, out, _ := f.do("ana", "audit web 50")
	got := out.last()
	for _, want := range []string{`refused  "deploy web 42;rm -rf /"`, `refused  "history web prod 5 extra"`} {
		if !strings.Contains(got, want) {
			t.Errorf("audit web:\n%s\nwant a line with %q", got, want)
		}
	}
	if strings.Contains(got, "nosuch") {
		t.Errorf("audit web:\n%s\nwant no refusal that names no app web", got)
	}
}
