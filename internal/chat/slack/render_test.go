package slack_test

// The Block Kit renderings are compared with golden files under testdata/.
// After an intended change of the renderer, rewrite them with
//
//	go test ./internal/chat/slack -run TestRenderGolden -update
//
// and review the diff.

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/suggest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestRenderGolden(t *testing.T) {
	var hosts []chat.Field
	for i := range 12 {
		hosts = append(hosts, chat.Field{Label: fmt.Sprintf("web%02d", i+1), Value: "active, on 42"})
	}
	tests := []struct {
		name string
		msg  chat.Message
	}{
		{"reply", chat.Message{Level: chat.Failure, Title: "carl may not deploy web/prod"}},
		{"help", chat.Message{Level: chat.Info, Lines: []string{"deploy APP BUILD [to ENV]", "rollback APP [ENV]"}}},
		{"progress", chat.Message{Level: chat.Info, Public: true,
			Title:  "Deploying web 42 to prod — requested by ana (deploy 20250314-100000-abc123)",
			Lines:  []string{"▓▓▓░░░░░░░ 1/3 hosts active · 11s elapsed", "pending migrations: 0042_add_invoice_index"},
			Fields: []chat.Field{{Label: "web1", Value: "active"}, {Label: "web2", Value: "checking health"}, {Label: "web3", Value: "delivered"}}}},
		{"final", chat.Message{Level: chat.Success, Public: true,
			Title:   "Deploy 20250314-100000-abc123: web/prod now runs 42 (20.5s)",
			Lines:   []string{"requested by ana"},
			Fields:  hosts,
			Buttons: []chat.Button{{Label: "Rollback", Action: "rollback web prod", Style: "danger"}}}},
		{"hostile", chat.Message{Level: chat.Warning, Public: true,
			Title:   "Locked <!channel> & <https://evil.example|click>",
			Lines:   []string{"reason: <@U123> *bold* &amp;"},
			Fields:  []chat.Field{{Label: "<!here>", Value: "a > b"}},
			Buttons: []chat.Button{{Label: "Again", Action: "lock deploys web <x>"}, {Label: "Again", Action: "lock deploys web <x>", Style: "primary"}}}},
		{"long title", chat.Message{Level: chat.Info, Public: true, Title: strings.Repeat("long ", 40)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blocks, text := slack.Render(tc.msg)
			var js strings.Builder
			enc := json.NewEncoder(&js)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(blocks); err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("fallback:\n%s\n\nblocks:\n%s", text, js.String())
			golden := filepath.Join("testdata", "render_"+strings.ReplaceAll(tc.name, " ", "_")+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("rendering:\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestRenderLimits(t *testing.T) {
	var fields []chat.Field
	for i := range 600 {
		fields = append(fields, chat.Field{Label: fmt.Sprintf("h%d", i), Value: strings.Repeat("x", 3000)})
	}
	blocks, text := slack.Render(chat.Message{Public: true, Title: "big", Lines: []string{strings.Repeat("&", 5000)}, Fields: fields,
		Buttons: []chat.Button{{Label: "Rollback", Action: "rollback web prod", Style: "danger"}}})
	if len(blocks) > 50 {
		t.Errorf("blocks: got %d, want at most 50", len(blocks))
	}
	js, _ := json.Marshal(blocks)
	var decoded []struct {
		Type string `json:"type"`
		Text struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatal(err)
	}
	for i, b := range decoded {
		if n := len([]rune(b.Text.Text)); n > 3000 {
			t.Errorf("block %d: got %d characters, want at most 3000", i, n)
		}
		if strings.HasSuffix(strings.TrimSuffix(b.Text.Text, "…"), "&am") {
			t.Errorf("block %d: an escape was cut in half", i)
		}
		if len(b.Fields) > 10 {
			t.Errorf("block %d: got %d fields, want at most 10", i, len(b.Fields))
		}
		for _, f := range b.Fields {
			if n := len([]rune(f.Text)); n > 2000 {
				t.Errorf("block %d: a field of %d characters, want at most 2000", i, n)
			}
		}
	}
	if last := decoded[len(decoded)-1]; last.Type != "actions" {
		t.Errorf("last block: got %s, want the actions kept", last.Type)
	}
	if len([]rune(text)) > 4000 {
		t.Errorf("fallback: got %d characters, want at most 4000", len([]rune(text)))
	}
}

// TestRenderSaysWhatWasCut: a text over a Block Kit limit (a host's
// standard error, up to 4 KiB, in a deploy's final message) ends saying
// how many characters were left out, instead of a bare "…".
func TestRenderSaysWhatWasCut(t *testing.T) {
	stderr := strings.Repeat("npm ERR! code ELIFECYCLE in /srv/web/releases/1337\n", 80) // 4,080 characters
	m := chat.Message{Level: chat.Failure, Public: true, Title: "Deploy d-1 of web 1337 to prod failed after 42s",
		Lines:  []string{"web-07: restart failed: " + stderr},
		Fields: []chat.Field{{Label: "web-07", Value: "failed, on 1336 — " + stderr}}}
	blocks, _ := slack.Render(m)
	js, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var decoded []struct {
		Text   struct{ Text string }   `json:"text"`
		Fields []struct{ Text string } `json:"fields"`
	}
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatal(err)
	}
	if len(decoded) != 3 || len(decoded[2].Fields) != 1 {
		t.Fatalf("got %d blocks, want title, lines and one field: %s", len(decoded), js)
	}
	tests := []struct {
		name  string
		text  string
		limit int
		whole string
	}{
		{"lines", decoded[1].Text.Text, 3000, "web-07: restart failed: " + stderr},
		{"field", decoded[2].Fields[0].Text, 2000, "*web-07*\nfailed, on 1336 — " + stderr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len([]rune(tt.text))
			if n > tt.limit {
				t.Errorf("got %d characters, want at most %d", n, tt.limit)
			}
			kept, note, ok := strings.Cut(tt.text, "… (")
			if !ok {
				t.Fatalf("got %q, want it to end saying what was left out", tt.text[max(0, len(tt.text)-80):])
			}
			want := fmt.Sprintf("%d more characters not shown)", len([]rune(tt.whole))-len([]rune(kept)))
			if note != want {
				t.Errorf("got note %q, want %q", note, want)
			}
			if !strings.HasPrefix(tt.whole, kept) {
				t.Errorf("kept text %q is not the start of the original", kept[:min(len(kept), 80)])
			}
		})
	}
}

// TestRenderLabelLimit: a label the chat layer keeps whole (a Rollback
// naming its build) is shown whole.
func TestRenderLabelLimit(t *testing.T) {
	label := strings.Repeat("7", chat.MaxLabel)
	blocks, _ := slack.Render(chat.Message{Buttons: []chat.Button{{Label: label, Action: "rollback web prod"}}})
	js, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"text":"` + label + `"`; !strings.Contains(string(js), want) {
		t.Errorf("blocks: got %s, want the label whole", js)
	}
}

// TestRenderConfirmText: the confirm dialog's button repeats the label
// when Slack shows it whole (30 characters), and says Confirm otherwise:
// a label cut there names another build, or none. The dialog's text
// shows the whole command either way.
func TestRenderConfirmText(t *testing.T) {
	long := "Roll back to " + strings.Repeat("a", 40)
	for _, tc := range []struct {
		label, want string
	}{
		{"Roll back to 1336", "Roll back to 1336"},
		{"Roll back to " + strings.Repeat("a", 17), "Roll back to " + strings.Repeat("a", 17)},
		{long, "Confirm"},
	} {
		action := "rollback web prod to " + strings.TrimPrefix(tc.label, "Roll back to ") + " from 2"
		blocks, _ := slack.Render(chat.Message{Buttons: []chat.Button{{Label: tc.label, Action: action, Style: "danger"}}})
		js, err := json.Marshal(blocks)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"confirm":{"type":"plain_text","text":"` + tc.want + `"`, "This runs `" + action + "` as you."} {
			if !strings.Contains(string(js), want) {
				t.Errorf("label %q: got %s, want %s", tc.label, js, want)
			}
		}
	}
}

// TestRenderShowsOutsideControls: text from outside (a host's standard
// error with colour codes, a Sentry issue's title) reaches Slack with its
// control characters and text-reordering characters shown as �, and its
// U+2028 and U+2029 as the line breaks Slack's clients make of them, in
// every text of the message: the header, a reply's title, the lines, the
// fields and the notification's fallback.
func TestRenderShowsOutsideControls(t *testing.T) {
	const outside = "boom \x1b[31mred\x1b[0m\x00\a \u202e04 ot kcab dellor\u2066x\u2069\u2028second\u2029third\r\nfourth"
	for _, public := range []bool{true, false} {
		t.Run(fmt.Sprintf("public %v", public), func(t *testing.T) {
			blocks, fallback := slack.Render(chat.Message{Level: chat.Failure, Public: public, Title: "Deploy failed: " + outside,
				Lines: []string{"web-1: " + outside}, Fields: []chat.Field{{Label: "web-1" + outside, Value: outside}}})
			js, err := json.Marshal(blocks)
			if err != nil {
				t.Fatal(err)
			}
			var tree any
			if err := json.Unmarshal(js, &tree); err != nil {
				t.Fatal(err)
			}
			texts := []string{fallback}
			var walk func(v any)
			walk = func(v any) {
				switch v := v.(type) {
				case map[string]any:
					if s, ok := v["text"].(string); ok {
						texts = append(texts, s)
					}
					for _, c := range v {
						walk(c)
					}
				case []any:
					for _, c := range v {
						walk(c)
					}
				}
			}
			walk(tree)
			if len(texts) < 4 {
				t.Fatalf("got %d texts in %s, want the fallback, the title, the lines and a field", len(texts), js)
			}
			for _, s := range texts {
				if i := strings.IndexFunc(s, func(r rune) bool {
					return r != '\n' && r != '\t' && r < 0x20 || r == 0x7f || r == '\u202e' || r == '\u2066' || r == '\u2069' || r == '\u2028' || r == '\u2029' || r == '\r'
				}); i >= 0 {
					t.Errorf("text %q holds %U, want it shown as \uFFFD or made a \\n", s, []rune(s[i:])[0])
				}
				if i := strings.Index(s, "second"); i >= 0 && !strings.HasSuffix(strings.TrimRight(s[:i], " "), "\n") {
					t.Errorf("text %q: want the U+2028 made a line break", s)
				}
			}
		})
	}
}

// TestRenderSuggestionsAsTyped: the commands the bot suggests are marked
// for Discord's renderer (see suggest); Slack shows them as typed, the
// marks left out of every text of the message.
func TestRenderSuggestionsAsTyped(t *testing.T) {
	undo := "to undo it: " + suggest.Command("rollback web prod")
	for _, public := range []bool{true, false} {
		t.Run(fmt.Sprintf("public %v", public), func(t *testing.T) {
			blocks, fallback := slack.Render(chat.Message{Level: chat.Info, Public: public, Title: undo,
				Lines: []string{undo}, Fields: []chat.Field{{Label: "next", Value: undo}}})
			js, err := json.Marshal(blocks)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range []string{fallback, string(js)} {
				if n := strings.Count(got, "to undo it: rollback web prod"); n != 3 || strings.ContainsAny(got, "\ue000\ue001") {
					t.Errorf("got %q, want the suggestion as typed three times, without marks", got)
				}
			}
		})
	}
}
