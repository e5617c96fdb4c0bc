package slack_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRenderKeepsConfirmPromptWhole: a deploy waiting on its migrations
// prompt, after notes as long as a host's standard error, still shows the
// whole prompt, and its deadline, in its progress message; the notes are
// what is cut to Slack's 3,000 characters.
func TestRenderKeepsConfirmPromptWhole(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	const id = "20250314-100000-abc123"
	prompt := "1 pending migration(s) wait for confirmation: deploy confirm " + id + ", or deploy abort " + id
	stderr := strings.Repeat("npm ERR! code ELIFECYCLE in /srv/web/releases/42 <x> & more\n", 70) // 4,200 characters
	events := []deploy.Event{
		{Kind: deploy.EventStarted, DeployID: id, App: "web", Env: "prod", Build: "42", Time: t0},
	}
	for _, h := range []string{"web1", "web2", "web3"} {
		events = append(events, deploy.Event{Kind: deploy.EventNote, DeployID: id, Time: t0, Text: h + ": hook failed: " + stderr})
	}
	events = append(events, deploy.Event{Kind: deploy.EventConfirm, DeployID: id, Time: t0,
		Migrations: []string{"0042_drop_column"}, Deadline: t0.Add(10 * time.Minute), Text: prompt})
	var p commands.Progress
	for _, ev := range events {
		p.Apply(ev)
	}
	blocks, _ := slack.Render(p.Message(t0.Add(time.Minute)))
	js, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var decoded []struct {
		Type string `json:"type"`
		Text struct {
			Text string `json:"text"`
		} `json:"text"`
	}
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatal(err)
	}
	var lines string
	for _, b := range decoded {
		if b.Type == "section" && strings.Contains(b.Text.Text, "hosts active") {
			lines = b.Text.Text
		}
	}
	if lines == "" {
		t.Fatalf("no section with the progress lines: %s", js)
	}
	if n := len([]rune(lines)); n > 3000 {
		t.Errorf("lines: got %d characters, want at most 3000", n)
	}
	want := "⏸ " + prompt + " (until 10:10:00 UTC)"
	if !strings.Contains(lines, want) {
		t.Errorf("lines end with\n%s\nwant them to contain the whole prompt %q", lines[max(0, len(lines)-300):], want)
	}
	for _, h := range []string{"web1", "web2", "web3"} {
		if !strings.Contains(lines, h+": hook failed: npm ERR!") {
			t.Errorf("lines: want the start of %s's note kept", h)
		}
	}
	if !strings.Contains(lines, "more characters not shown)") {
		t.Errorf("lines: want the cut notes to say what was left out")
	}
}

// TestRenderConfirmPromptAnswersAsTyped: the answers the migrations prompt
// marks as the bot's suggestions are shown as typed, without marks.
func TestRenderConfirmPromptAnswersAsTyped(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	const id = "20250314-100000-abc123"
	m := commands.ConfirmMessage(deploy.Event{Kind: deploy.EventConfirm, DeployID: id, App: "web", Env: "prod", Build: "42",
		Migrations: []string{"0042_drop_column"}, Time: t0, Deadline: t0.Add(10 * time.Minute)})
	blocks, _ := slack.Render(m)
	js, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	want := "confirm with deploy confirm " + id + ", or abort with deploy abort " + id + ", before 10:10:00 UTC"
	if !strings.Contains(string(js), want) || strings.ContainsAny(string(js), "\ue000\ue001") || strings.Contains(string(js), `\ue000`) {
		t.Errorf("blocks: got %s, want them to contain %q, without marks", js, want)
	}
}
