package discord

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRenderKeepsConfirmPromptWhole: a deploy waiting on its migrations
// prompt, after notes as long as a host's standard error, still shows the
// whole prompt, its deadline and the progress bar in its embed, also when
// the hosts' fields leave the description some 1,000 characters; the
// notes are what is cut, never inside an escape, and say so. A title too
// long for Discord still leads the description whole.
func TestRenderKeepsConfirmPromptWhole(t *testing.T) {
	t0 := time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	const id = "20250314-100000-abc123"
	prompt := "1 pending migration(s) wait for confirmation: deploy confirm " + id + ", or deploy abort " + id
	// Markdown in every line, so that a cut anywhere could split an escape.
	stderr := strings.Repeat(`npm ERR! *code* ELIFECYCLE in C:\srv\web_releases\42 <x> [y] & more`+"\n", 64) // some 4,300 characters
	longErr := strings.Repeat("health check failed: GET /health: 503 ", 30)
	tests := []struct {
		name string
		// hosts, each with err as its error: their fields take the
		// embed's budget from the description.
		hosts []string
		err   string
		app   string
	}{
		{"notes", []string{"web1", "web2", "web3"}, "", "web"},
		{"host fields take the budget", []string{"web1", "web2", "web3", "web4", "web5"}, longErr, "web"},
		{"long title leads", []string{"web1", "web2", "web3", "web4", "web5"}, longErr, strings.Repeat("accounting-", 30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &deploy.Record{ID: id, Kind: deploy.KindDeploy, App: tt.app, Env: "prod", Build: "42", Requester: "ana", Started: t0}
			for _, h := range tt.hosts {
				rec.Hosts = append(rec.Hosts, deploy.HostResult{Host: h, State: deploy.HostFailed, Error: tt.err})
			}
			events := []deploy.Event{{Kind: deploy.EventStarted, DeployID: id, Time: t0, Record: rec}}
			for _, h := range tt.hosts[:3] {
				events = append(events, deploy.Event{Kind: deploy.EventNote, DeployID: id, Time: t0, Text: h + ": hook failed: " + stderr})
			}
			events = append(events, deploy.Event{Kind: deploy.EventConfirm, DeployID: id, Time: t0,
				Migrations: []string{"0042_drop_column"}, Deadline: t0.Add(10 * time.Minute), Text: prompt})
			var p commands.Progress
			for _, ev := range events {
				p.Apply(ev)
			}
			m := p.Message(t0.Add(time.Minute))
			e := render(m, nil).Embeds[0]
			desc := e.Description
			total := runes(e.Title) + runes(desc)
			for _, f := range e.Fields {
				total += runes(f.Name) + runes(f.Value)
			}
			if total > maxEmbedTotal || runes(desc) > maxDesc {
				t.Errorf("embed: got %d characters, description %d; want at most %d and %d", total, runes(desc), maxEmbedTotal, maxDesc)
			}
			if tt.err != "" && runes(desc) > 2*minDesc {
				t.Errorf("description: got %d characters, want the hosts' fields to leave it about %d", runes(desc), minDesc)
			}
			want := "⏸ " + showText(prompt, nil) + " (until 10:10:00 UTC)"
			if !strings.Contains(desc, want) {
				t.Errorf("description ends with\n%s\nwant it to contain the whole prompt %q", desc[max(0, len(desc)-300):], want)
			}
			if bar := showText(m.Lines[0], nil); !strings.HasPrefix(strings.TrimPrefix(desc, "**"+showText(m.Title, nil)+"**\n"), bar+"\n") {
				t.Errorf("description: got\n%s\nwant it to start with the progress bar %q", desc, bar)
			}
			if e.Title == "" && !strings.HasPrefix(desc, "**"+showText(m.Title, nil)+"**\n") {
				t.Errorf("description: got\n%s\nwant it to start with the whole title in bold", desc[:min(len(desc), 600)])
			}
			for _, h := range tt.hosts[:3] {
				if !strings.Contains(desc, h+": hook failed: npm ERR! \\*code\\*") {
					t.Errorf("description: want the start of %s's note kept", h)
				}
			}
			cuts := regexp.MustCompile(`(\\*)… \(\d+ more characters not shown\)`).FindAllStringSubmatch(desc, -1)
			if len(cuts) != 3 {
				t.Errorf("description: got %d cut notes saying what was left out, want 3:\n%s", len(cuts), desc)
			}
			for _, c := range cuts {
				if len(c[1])%2 == 1 {
					t.Errorf("description: a cut split an escape: %q", c[0])
				}
			}
		})
	}
}
