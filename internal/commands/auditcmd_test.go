package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
)

// TestAuditShowsWhere: each line of `audit` says where the command came
// from, the platform and the channel, as the entry does: the same user
// may type on Slack, on Discord and at the console, whose commands need
// a shell on the bot's machine, and a train deploys in their name.
func TestAuditShowsWhere(t *testing.T) {
	f := newServiceFixture(t)
	for _, r := range []commands.Request{
		{User: "bob", Platform: "slack", Channel: "C0123", Text: "status web"},
		{User: "bob", Platform: "console", Channel: "console", Text: "history web"},
		{User: "carl", Platform: "discord", Channel: "1234567890", Text: "lock deploys web prod db work"},
	} {
		f.svc.Handle(context.Background(), r, newRecorder())
	}
	_, out, _ := f.do("ana", "audit")
	got := out.last()
	tests := []struct {
		name string
		want string
	}{
		{"slack", `bob (slack C0123)  allowed  "status web"`},
		{"console", `bob (console)  allowed  "history web 10"`},
		{"discord", `carl (discord 1234567890)  refused  "lock deploys web prod`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(got, tt.want) {
				t.Errorf("audit:\n%s\nwant a line with %q", got, tt.want)
			}
		})
	}
}

// TestAuditEntryIsOneLine: `audit` shows each entry on one line, its
// reason cut to its first line, as status and history show a host's
// error. A failed deploy's reason holds the host's standard error, and a
// refusal's the usage under it: shown whole, their lines would read, in
// Slack and Discord, as entries of their own.
func TestAuditEntryIsOneLine(t *testing.T) {
	const forged = `2026-12-06 03:00  ana (slack C0123)  allowed  "deploy web 2 to prod"`
	// The host writes the forged line after a U+2028 (in octal, for
	// printf), which Slack's clients break the line at, and after a
	// line break.
	yaml := strings.Replace(serviceYAML, "restart: 'true'", `restart: |
      printf 'boom\342\200\250%s\n' '`+forged+`' >&2
      echo '`+forged+`' >&2
      exit 1`, 1)
	f := newServiceFixtureFrom(t, yaml, nil)
	if _, _, rec := f.do("bob", "deploy web 1 to prod"); rec == nil || rec.Outcome == "succeeded" || !strings.Contains(rec.Error, forged) {
		t.Fatalf("deploy: got record %+v, want a failure whose error holds %q", rec, forged)
	}
	f.do("bob", "deploy nosuchapp 1")
	_, out, _ := f.do("ana", "audit")
	m := out.lastMessage()
	if len(m.Lines) != 3 {
		t.Errorf("audit: got %d lines %q, want 3: the refusal, the deploy's end and the deploy", len(m.Lines), m.Lines)
	}
	for _, l := range m.Lines {
		if strings.ContainsAny(l, "\n\r\u2028\u2029") {
			t.Errorf("audit line %q holds a line break, want one line per entry", l)
		}
		if strings.Contains(l, forged) {
			t.Errorf("audit line %q holds the host's forged line", l)
		}
	}
}

// TestAuditOutcomeUnknown: `audit` shows one line per command. A command
// that changed state left a pending entry and its outcome, shown as the
// outcome alone; one whose outcome never came (the bot died between the
// two) is shown as of unknown outcome, neither left out nor taken for a
// success.
func TestAuditOutcomeUnknown(t *testing.T) {
	f := newServiceFixture(t)
	f.do("ana", "lock deploys web prod db work")
	// What a bot that died as the deploy began leaves: its pending entry.
	crashed := &audit.Entry{User: "bob", Platform: "slack", Channel: "C0123", Command: "deploy web 2 to prod", Action: "deploy", App: "web", Env: "prod"}
	if err := audit.Begin(t.Context(), f.store, crashed); err != nil {
		t.Fatal(err)
	}
	_, out, _ := f.do("ana", "audit")
	got := out.lastMessage().Lines
	want := []string{
		`bob (slack C0123)  unknown  "deploy web 2 to prod"  — ` + audit.UnknownReason,
		`ana (test C1)  allowed  "lock deploys web prod \"db work\""  — role admin (config)`,
	}
	if len(got) != len(want) {
		t.Fatalf("audit: got %d lines %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !strings.HasSuffix(got[i], want[i]) {
			t.Errorf("audit line %d: got %q, want it to end %q", i, got[i], want[i])
		}
	}
}
