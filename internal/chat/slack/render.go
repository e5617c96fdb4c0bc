package slack

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/switchman-bot/switchman/internal/chat"
)

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
const (
	maxBlocks        = 50
	maxHeaderText    = 150
	maxSectionText   = 3000
	maxFieldText     = 2000
	maxFields        = 10 // per section
	maxButtons       = 25 // per actions block
	maxActionID      = 255
	maxButtonValue   = 2000
	maxButtonLabel   = 75
	maxFallbackText  = 4000
	actionIDPrefix   = "switchman:"
	truncationMarker = "…"
)

// levelEmoji marks a message's level where Block Kit has no colour.
var levelEmoji = map[chat.Level]string{
	chat.Success: "✅ ",
	chat.Warning: "⚠️ ",
	chat.Failure: "❌ ",
}

// Render turns a platform-neutral message into Block Kit blocks and the
// fallback text Slack shows in notifications and where blocks cannot be
// shown.
//
// The title is a header block for public messages (deploy progress,
// announcements) and a bold section for replies to one person; lines are
// one section; fields are sections of up to ten fields; buttons are one
// actions block whose buttons carry the command text in their value (and,
// prefixed with "switchman:", in their action_id). A danger button asks
// for confirmation. Every text is escaped, so user input cannot mention
// @channel or forge links, and cut to Slack's limits.
func Render(m chat.Message) ([]slack.Block, string) {
	var blocks []slack.Block
	if m.Title != "" {
		// A header's plain text is not escaped, but cleaned all the same.
		title := levelEmoji[m.Level] + chat.Clean(m.Title)
		if m.Public && utf8.RuneCountInString(title) <= maxHeaderText {
			blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, title, true, false)))
		} else {
			blocks = append(blocks, section(mrkdwn("*"+fit(escape(title), maxSectionText-2)+"*")))
		}
	}
	// Slack refuses a section without text, and a message without any.
	if lines := strings.Join(m.Lines, "\n"); strings.TrimSpace(lines) != "" {
		blocks = append(blocks, section(mrkdwn(fitLines(m.Lines, maxSectionText))))
	} else if len(blocks) == 0 && len(m.Fields) == 0 {
		blocks = append(blocks, section(mrkdwn("(no details)")))
	}
	// Keep room for the buttons and a note about fields left out.
	room := maxBlocks - len(blocks) - 2
	for start := 0; start < len(m.Fields); start += maxFields {
		if room == 0 {
			blocks = append(blocks, section(mrkdwn(fmt.Sprintf("… and %d more", len(m.Fields)-start))))
			break
		}
		var fields []*slack.TextBlockObject
		for _, f := range m.Fields[start:min(start+maxFields, len(m.Fields))] {
			text := fit("*"+escape(f.Label)+"*\n"+escape(f.Value), maxFieldText)
			fields = append(fields, mrkdwn(text))
		}
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
		room--
	}
	if len(m.Buttons) > 0 {
		blocks = append(blocks, actions(m.Buttons))
	}
	return blocks, clip(defuse(escape(strings.TrimRight(chat.Text(m), "\n"))), maxFallbackText)
}

// mentionAt matches an "@" that Slack could read as the start of a mention
// ("@here", "@channel", "@everyone", "@ana").
var mentionAt = regexp.MustCompile(`@([\pL\pN])`)

// defuse puts a word joiner (U+2060, shown as nothing) after every "@"
// that starts a word in the fallback text. A response_url message carries
// no parse or link_names setting (slack-go sends neither there), and
// whether Slack then parses a bare "@here" in the text is Slack's choice:
// a joined "@" is never a mention, however it parses.
func defuse(s string) string { return mentionAt.ReplaceAllString(s, "@\u2060$1") }

func actions(buttons []chat.Button) *slack.ActionBlock {
	var elems []slack.BlockElement
	seen := map[string]bool{}
	for _, b := range buttons[:min(len(buttons), maxButtons)] {
		base := clip(actionIDPrefix+b.Action, maxActionID-4)
		id := base
		for n := 2; seen[id]; n++ {
			id = fmt.Sprintf("%s#%d", base, n) // action_ids must be unique in a message
		}
		seen[id] = true
		btn := slack.NewButtonBlockElement(id, clip(b.Action, maxButtonValue),
			slack.NewTextBlockObject(slack.PlainTextType, clip(b.Label, maxButtonLabel), true, false))
		switch b.Style {
		case "primary":
			btn = btn.WithStyle(slack.StylePrimary)
		case "danger":
			btn = btn.WithStyle(slack.StyleDanger).WithConfirm(slack.NewConfirmationBlockObject(
				slack.NewTextBlockObject(slack.PlainTextType, "Are you sure?", false, false),
				mrkdwn(clip("This runs `"+escape(b.Action)+"` as you.", 300)),
				slack.NewTextBlockObject(slack.PlainTextType, confirmText(b.Label), false, false),
				slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false),
			).WithStyle(slack.StyleDanger))
		}
		elems = append(elems, btn)
	}
	return slack.NewActionBlock("switchman_actions", elems...)
}

// maxConfirmText is Slack's limit on a confirm dialog's button text.
const maxConfirmText = 30

// confirmText is the confirm dialog's button: the label when Slack shows
// it whole, else a plain Confirm, as a label cut short ("Roll back to
// 0123…") names another build, or none; the dialog's text above it shows
// the whole command.
func confirmText(label string) string {
	if utf8.RuneCountInString(label) > maxConfirmText {
		return "Confirm"
	}
	return label
}

func section(text *slack.TextBlockObject) *slack.SectionBlock {
	return slack.NewSectionBlock(text, nil, nil)
}

// mrkdwn is a verbatim mrkdwn text object. Not verbatim (Slack's
// default), Slack "automatically parses certain mentions" in it: a bare
// "@here" in a host's stderr, a build's notes or an app's name would ping
// the channel. Verbatim text still renders the bot's own explicit links
// and formatting.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

// escaper escapes the three characters Slack's mrkdwn gives meaning to
// (https://api.slack.com/reference/surfaces/formatting#escaping).
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape readies s for mrkdwn: cleaned of what would be obeyed rather
// than shown (see chat.Clean), then escaped.
func escape(s string) string { return escaper.Replace(chat.Clean(s)) }

// unescaper undoes Slack's escaping of message text.
var unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

func unescape(s string) string { return unescaper.Replace(s) }

// cutNote ends a text fit had to cut.
const cutNote = "… (%d more characters not shown)"

// fit cuts s to at most n characters as clip does, but ends it saying how
// much was left out: a host's error or a list cut at Slack's limit must
// not read as if it were whole.
func fit(s string, n int) string {
	total := utf8.RuneCountInString(s)
	if total <= n {
		return s
	}
	keep := n - utf8.RuneCountInString(fmt.Sprintf(cutNote, total))
	if keep <= 0 {
		return clip(s, n)
	}
	cut := cutEscape(string([]rune(s)[:keep]))
	return cut + fmt.Sprintf(cutNote, total-utf8.RuneCountInString(cut))
}

// fitLines escapes lines and joins them into at most n characters, the
// longest cut first (see chat.FitLines), so that the migrations prompt
// under a deploy's long notes stays whole.
func fitLines(lines []string, n int) string {
	esc := make([]string, len(lines))
	for i, l := range lines {
		esc[i] = escape(l)
	}
	return chat.FitLines(esc, n, fit)
}

// clip cuts s to at most n characters (runes), marking the cut, without
// splitting an escape sequence.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return cutEscape(string([]rune(s)[:n-1])) + truncationMarker
}

// cutEscape drops an escape sequence cut in half from the end of s.
func cutEscape(s string) string {
	if i := strings.LastIndexByte(s, '&'); i >= 0 && !strings.Contains(s[i:], ";") {
		return s[:i]
	}
	return s
}
