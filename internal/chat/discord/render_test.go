package discord

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

func TestRenderGolden(t *testing.T) {
	started := time.Date(2025, 3, 14, 14, 2, 0, 0, time.UTC)
	succeeded := record("d-1", deploy.KindDeploy, deploy.OutcomeSucceeded, started)
	reverted := record("d-2", deploy.KindDeploy, deploy.OutcomeReverted, started)
	reverted.Error = "web-2: health check failed: GET /health: 503"
	reverted.Hosts[1].State, reverted.Hosts[1].Current, reverted.Hosts[1].Error = deploy.HostReverted, "1336", "health check failed"

	var manyFields []chat.Field
	for i := range 30 {
		manyFields = append(manyFields, chat.Field{Label: fmt.Sprintf("host-%02d", i), Value: strings.Repeat("v", 300)})
	}
	tests := []struct {
		name string
		m    chat.Message
	}{
		{"reply", chat.Message{Level: chat.Info, Title: "You are ana (discord)", Lines: []string{"role deployer: deploy, rollback on web/* (config)"}}},
		{"refusal", chat.Message{Level: chat.Failure, Title: "web/prod is locked: by ana since 14:02 (db maintenance)"}},
		{"started", commands.EventMessage(deploy.Event{Kind: deploy.EventStarted, Record: record("d-1", deploy.KindDeploy, deploy.OutcomeRunning, started)})},
		{"progress", chat.Message{Level: chat.Info, Public: true, Title: "Deploy d-1 started: web 1337 → prod by ana (2 hosts)",
			Lines: []string{"web-1: deliver ✓", "web-2: deliver…"}}},
		{"final_success", commands.FinalMessage(succeeded, started)},
		{"final_reverted", commands.FinalMessage(reverted, started)},
		{"warning", chat.Message{Level: chat.Warning, Public: true, Title: "Locked web/prod", Lines: []string{"by ana until 16:02: db migration"}}},
		{"no_level", chat.Message{Title: "plain"}},
		{"empty", chat.Message{}},
		{"hostile_markdown", chat.Message{Level: chat.Info,
			Title:  "**bold** [click](https://evil.example) ||spoiler||",
			Lines:  []string{"# heading", "> quote", "`code` ~~strike~~ __under__", "<@123> @everyone <t:0>", `back\slash`},
			Fields: []chat.Field{{Label: "web_1", Value: "*x*"}, {Label: "", Value: ""}}}},
		{"limits", chat.Message{Level: chat.Warning, Title: strings.Repeat("T", 300),
			Lines:  []string{strings.Repeat("L", 5000)},
			Fields: manyFields,
			Buttons: []chat.Button{
				{Label: "Rollback", Action: "rollback web prod", Style: "danger"},
				{Label: "Again", Action: "rollback web prod", Style: "danger"},
				{Label: "Too long", Action: "deploy web " + strings.Repeat("1", 120)},
				{Label: "Status", Action: "status web", Style: "primary"},
				{Label: strings.Repeat("B", 100), Action: "history web"},
				{Action: "help"},
				{Label: "Who", Action: "whoami"},
				{Label: "Unlock", Action: "unlock deploys web"},
				{Label: "Cancel", Action: "cancel web prod", Style: "danger"},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(tt.m, nil)
			checkLimits(t, r)
			golden(t, "render/"+tt.name+".json", indentJSON(t, r))
		})
	}
}

// TestRenderEscapesEveryLine: text from outside with line breaks in it
// (a Sentry issue's title, a host's error) starts no markdown line in the
// title, the description or a field: no heading, subtext, quote or list
// that could pass for a line of the bot's own.
func TestRenderEscapesEveryLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"boom\n# ✅ Rolled back web/prod", "boom\n\\# ✅ Rolled back web/prod"},
		{"boom\n### small", "boom\n\\### small"},
		{"boom\n-# subtext", "boom\n\\-# subtext"},
		{"boom\n> quote", "boom\n\\> quote"},
		{"boom\n>>> the rest quoted", "boom\n\\>>> the rest quoted"},
		{"boom\n- item", "boom\n\\- item"},
		{"boom\n* item", "boom\n\\* item"},
		{"boom\n12. item", "boom\n12\\. item"},
		{"boom\n1.", "boom\n1\\."},
		{"boom\n  - nested item", "boom\n  \\- nested item"},
		{"boom\r\n# heading", "boom\n\\# heading"},
		{"boom\r# heading", "boom\n\\# heading"},
		{"boom\u2028# heading", "boom\n\\# heading"},
		{"boom\u2029> quote", "boom\n\\> quote"},
		{"- first line", "\\- first line"},
		{"1.2.3 is live\n2026 was a year", "1.2.3 is live\n2026 was a year"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e := render(chat.Message{Title: tt.in, Lines: []string{tt.in}, Fields: []chat.Field{{Label: tt.in, Value: tt.in}}}, nil).Embeds[0]
			for what, got := range map[string]string{"title": e.Title, "description": e.Description, "field name": e.Fields[0].Name, "field value": e.Fields[0].Value} {
				if got != tt.want {
					t.Errorf("%s %q, want %q", what, got, tt.want)
				}
			}
		})
	}
}

// TestRenderShowsOutsideControls: text from outside (a host's standard
// error with colour codes, a Sentry issue's title) reaches Discord with
// its control characters and text-reordering characters shown as �, in
// the title, the description and the fields.
func TestRenderShowsOutsideControls(t *testing.T) {
	tests := []struct{ in, want string }{
		{"boom \x1b[31mred\x1b[0m", "boom \uFFFD\\[31mred\uFFFD\\[0m"},
		{"nul\x00 bell\a del\x7f", "nul\uFFFD bell\uFFFD del\uFFFD"},
		{"new: TypeError \u202e04 ot kcab dellor", "new: TypeError \uFFFD04 ot kcab dellor"},
		{"\u202aembedded\u202c \u2067isolated\u2069", "\uFFFDembedded\uFFFD \uFFFDisolated\uFFFD"},
		{"שלום \u200fעולם\u200e 42", "שלום \u200fעולם\u200e 42"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e := render(chat.Message{Title: tt.in, Lines: []string{tt.in}, Fields: []chat.Field{{Label: tt.in, Value: tt.in}}}, nil).Embeds[0]
			for what, got := range map[string]string{"title": e.Title, "description": e.Description, "field name": e.Fields[0].Name, "field value": e.Fields[0].Value} {
				if got != tt.want {
					t.Errorf("%s %q, want %q", what, got, tt.want)
				}
			}
		})
	}
}

// checkLimits fails if r breaks one of Discord's message limits.
func checkLimits(t *testing.T, r rendered) {
	t.Helper()
	if len(r.Embeds) != 1 {
		t.Fatalf("%d embeds, want 1", len(r.Embeds))
	}
	e := r.Embeds[0]
	total := runes(e.Title) + runes(e.Description)
	if runes(e.Title) > maxTitle || runes(e.Description) > maxDesc || len(e.Fields) > maxFields {
		t.Errorf("title %d, description %d runes, %d fields: over Discord's limits", runes(e.Title), runes(e.Description), len(e.Fields))
	}
	for _, f := range e.Fields {
		total += runes(f.Name) + runes(f.Value)
		if f.Name == "" || f.Value == "" || runes(f.Name) > maxFieldName || runes(f.Value) > maxFieldValue {
			t.Errorf("field %q=%q breaks Discord's field limits", f.Name, f.Value)
		}
	}
	if total > maxEmbedTotal {
		t.Errorf("embed holds %d characters, over %d", total, maxEmbedTotal)
	}
	if r.Components == nil {
		t.Errorf("components are nil; want [] so an edit clears old buttons")
	}
	seen := map[string]bool{}
	for _, c := range r.Components {
		row, ok := c.(discordgo.ActionsRow)
		if !ok || len(row.Components) == 0 || len(row.Components) > maxPerRow {
			t.Errorf("component %#v is not an action row of 1-5 buttons", c)
			continue
		}
		for _, bc := range row.Components {
			b := bc.(discordgo.Button)
			if len(b.CustomID) > maxCustomID || seen[b.CustomID] || runes(b.Label) > maxLabel || b.Label == "" {
				t.Errorf("button %+v breaks Discord's button limits", b)
			}
			seen[b.CustomID] = true
		}
	}
}

// TestButtonShortForm: a button whose command is over a custom_id's 100
// bytes sends its short form, under its whole label; one without is left
// out.
func TestButtonShortForm(t *testing.T) {
	to := strings.Repeat("0", 40) // a commit id
	long := commands.RollbackButton(&deploy.Record{ID: "20261123-124158-b25a0a", Kind: deploy.KindDeploy, App: strings.Repeat("a", 40), Env: strings.Repeat("e", 30),
		Build: strings.Repeat("1", 40), RollbackTo: to, Outcome: deploy.OutcomeSucceeded})
	if len(long.Action) <= maxCustomID {
		t.Fatalf("the test's command is %d bytes, want more than %d", len(long.Action), maxCustomID)
	}
	comps := buttons([]chat.Button{long, {Label: "Too long", Action: strings.Repeat("x", 120)}})
	if len(comps) != 1 {
		t.Fatalf("%d rows, want 1", len(comps))
	}
	row := comps[0].(discordgo.ActionsRow)
	if len(row.Components) != 1 {
		t.Fatalf("%d buttons, want the rollback only", len(row.Components))
	}
	if b := row.Components[0].(discordgo.Button); b.CustomID != "rollback 20261123-124158-b25a0a" || b.Label != "Roll back to "+to {
		t.Errorf("button %+v, want Roll back to %s sending rollback 20261123-124158-b25a0a", b, to)
	}
}

// TestLabelLimit: a label the chat layer keeps whole is shown whole.
func TestLabelLimit(t *testing.T) {
	if chat.MaxLabel > maxLabel {
		t.Errorf("chat.MaxLabel: got %d, want at most Discord's %d", chat.MaxLabel, maxLabel)
	}
}

// TestRenderLongTitle: a title over Discord's 256 characters (a train of
// twenty cars, an error's cause) is shown whole, not cut at 256.
func TestRenderLongTitle(t *testing.T) {
	var cars []string
	for i := range 20 {
		cars = append(cars, fmt.Sprintf("service%02d 2026.11.%02d (@engineer%02d)", i, i+1, i))
	}
	tests := []struct {
		name string
		m    chat.Message
		want []string // each is somewhere in the embed
	}{
		{"train of 20 cars", chat.Message{Level: chat.Info, Public: true,
			Title: "🚂 The 15:00 release train to production is boarding: " + strings.Join(cars, ", ") + ". Board with /train board APP BUILD."},
			append(cars, "Board with /train board APP BUILD.")},
		{"sentry failure", chat.Message{Level: chat.Warning, Public: true,
			Title: "Sentry could not register the release for web 1337 on prod: " + strings.Repeat("upstream proxy said no; ", 12) + "status 502 (the deploy is not affected)",
			Lines: []string{"first line"}},
			[]string{"status 502 (the deploy is not affected)", "first line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(tt.m, nil)
			checkLimits(t, r)
			e := r.Embeds[0]
			shown := e.Title + "\n" + e.Description
			for _, want := range tt.want {
				if !strings.Contains(shown, escapeText(want)) {
					t.Errorf("embed title %q, description %q: %q is missing, want the whole title shown", e.Title, e.Description, want)
				}
			}
		})
	}
}

// TestRenderSaysWhatWasCut: a text over an embed's limits (a host's
// standard error, up to 4 KiB, in a deploy's final message) ends saying
// how many characters were left out, instead of a bare "…".
func TestRenderSaysWhatWasCut(t *testing.T) {
	stderr := strings.Repeat("npm ERR! code ELIFECYCLE in /srv/web/releases/1337\n", 100) // 5,100 characters
	r := render(chat.Message{Level: chat.Failure, Public: true, Title: "Deploy d-1 of web 1337 to prod failed after 42s",
		Lines:  []string{"web-07: restart failed: " + stderr},
		Fields: []chat.Field{{Label: "web-07", Value: "failed, on 1336 — " + stderr}}}, nil)
	checkLimits(t, r)
	e := r.Embeds[0]
	if len(e.Fields) != 1 {
		t.Fatalf("got %d fields, want 1", len(e.Fields))
	}
	tests := []struct {
		name, text, whole string
	}{
		{"description", e.Description, escapeText("web-07: restart failed: " + stderr)},
		{"field", e.Fields[0].Value, escapeText("failed, on 1336 — " + stderr)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, note, ok := strings.Cut(tt.text, "… (")
			if !ok {
				t.Fatalf("got %q, want it to end saying what was left out", tt.text[max(0, len(tt.text)-80):])
			}
			if want := fmt.Sprintf("%d more characters not shown)", runes(tt.whole)-runes(kept)); note != want {
				t.Errorf("got note %q, want %q", note, want)
			}
			if !strings.HasPrefix(tt.whole, kept) {
				t.Errorf("kept text %q is not the start of the original", kept[:min(len(kept), 80)])
			}
		})
	}
}

// TestRenderManyFieldsFit: with more than 25 fields, the "… N more" field
// counts towards the embed's 6,000 characters like any other: whatever
// the fields' length, the embed stays within Discord's limits, which
// refuse it whole otherwise.
func TestRenderManyFieldsFit(t *testing.T) {
	tests := []struct {
		name   string
		fields int
		desc   int
	}{
		{"26 fields, long description", 26, 5000},
		{"30 fields, long description", 30, 5000},
		{"50 fields, long description", 50, 2000},
		{"30 fields, short description", 30, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for size := 100; size <= 300; size++ {
				var fields []chat.Field
				for i := range tt.fields {
					fields = append(fields, chat.Field{Label: fmt.Sprintf("host-%02d", i), Value: strings.Repeat("v", size)})
				}
				r := render(chat.Message{Title: strings.Repeat("T", 256), Lines: []string{strings.Repeat("L", tt.desc)}, Fields: fields}, nil)
				e := r.Embeds[0]
				total := runes(e.Title) + runes(e.Description)
				for _, f := range e.Fields {
					total += runes(f.Name) + runes(f.Value)
				}
				if total > maxEmbedTotal {
					t.Fatalf("fields of %d characters: got an embed of %d characters, want at most %d", size, total, maxEmbedTotal)
				}
			}
		})
	}
}

// TestLongFieldLabelKeepsItsEscapes: a field's label over Discord's 256
// characters is cut whole escapes at a time: half an escape left before
// the "…" escaped it, showing a stray backslash where a "*" was.
func TestLongFieldLabelKeepsItsEscapes(t *testing.T) {
	for _, tc := range []struct{ name, label string }{
		{"star at the cut", strings.Repeat("a", maxFieldName-2) + "*b*c"},
		{"backslash at the cut", strings.Repeat("a", maxFieldName-2) + `\b\c`},
		{"escape one rune before the cut", strings.Repeat("a", maxFieldName-3) + "_b_c_d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := render(chat.Message{Title: "t", Fields: []chat.Field{{Label: tc.label, Value: "v"}}}, nil).Embeds[0]
			name := e.Fields[0].Name
			if runes(name) > maxFieldName {
				t.Errorf("name: got %d characters, want at most %d", runes(name), maxFieldName)
			}
			body, ok := strings.CutSuffix(name, "…")
			if !ok {
				t.Fatalf("name: got %q, want it cut with …", name)
			}
			if trailing := len(body) - len(strings.TrimRight(body, `\`)); trailing%2 == 1 {
				t.Errorf("name: got %q, which ends in half an escape", name)
			}
			if !strings.HasPrefix(escapeText(tc.label), body) {
				t.Errorf("name: got %q, want a start of the escaped label", name)
			}
		})
	}
}
