package discord

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// Discord's limits on one message.
const (
	maxTitle      = 256
	maxDesc       = 4096
	maxFields     = 25
	maxFieldName  = 256
	maxFieldValue = 1024
	maxEmbedTotal = 6000 // title, description and fields together
	maxPerRow     = 5
	maxRows       = 5
	maxCustomID   = 100 // bytes
	maxLabel      = 80
	// minDesc is how much of the description fields may not crowd out.
	minDesc = 1000
	// moreCost is room kept for the "… N more" field.
	moreCost = 20
)

// Embed colours by level: Discord's own palette.
var levelColors = map[chat.Level]int{
	chat.Info:    0x5865F2,
	chat.Success: 0x57F287,
	chat.Warning: 0xFEE75C,
	chat.Failure: 0xED4245,
}

// rendered is a chat.Message in Discord's terms: one embed and the buttons
// in action rows.
type rendered struct {
	Embeds     []*discordgo.MessageEmbed    `json:"embeds"`
	Components []discordgo.MessageComponent `json:"components"`
}

// render turns m into an embed (title, the lines as the description, the
// fields inline, coloured by level; a title over Discord's 256 characters
// leads the description in bold instead) and buttons whose custom_id is the
// command they run. Suggested commands are written as Discord takes them
// (showText), read with cat, the config's apps, envs and trains (nil
// when unknown). Text is escaped so user input cannot format or link,
// and cut to Discord's limits. The lines that give a command's usage
// (m.Usages) show its slash command (see slashUsageLines); those that
// explain commands as typed (m.Typed) are left out. A button whose command exceeds the 100
// bytes of a custom_id sends its short form instead, if it has one, and
// is left out otherwise.
func render(m chat.Message, cat commands.Catalog) rendered {
	e := &discordgo.MessageEmbed{Title: showText(slashUsageTitle(m), cat), Color: levelColors[m.Level]}
	if e.Color == 0 {
		e.Color = levelColors[chat.Info]
	}
	var head string
	if runes(e.Title) > maxTitle {
		// Discord refuses a longer title, and a cut one loses its end
		// (the last cars of a train, the cause of an error): the whole
		// title leads the description in bold instead.
		head = "**" + e.Title + "**"
		e.Title = ""
	}
	lines := make([]string, 0, len(m.Lines))
	for i, l := range slashUsageLines(m) {
		if slices.Contains(m.Typed, i) {
			// What is said of typing a command: Discord's users pick
			// a slash command and its options instead.
			continue
		}
		lines = append(lines, showText(l, cat))
	}
	all := lines
	if head != "" {
		all = append([]string{head}, lines...)
	}
	budget := maxEmbedTotal - runes(e.Title)
	reserve := min(runes(strings.Join(all, "\n")), minDesc)
	for i, f := range m.Fields {
		if len(e.Fields) == maxFields-1 && len(m.Fields) > maxFields {
			// The last field says how many are left out, and counts
			// towards the 6,000 like any other.
			e.Fields = append(e.Fields, more(len(m.Fields)-i))
			budget -= moreCost
			break
		}
		name, value := clipEscaped(escapeText(f.Label), maxFieldName), fit(showText(f.Value, cat), maxFieldValue)
		if name == "" {
			name = "\u200b" // Discord refuses an empty name
		}
		if value == "" {
			value = "—"
		}
		cost := runes(name) + runes(value)
		if cost > budget-reserve-moreCost {
			e.Fields = append(e.Fields, more(len(m.Fields)-i))
			budget -= moreCost
			break
		}
		budget -= cost
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: name, Value: value, Inline: true})
	}
	e.Description = fitDesc(head, lines, min(budget, maxDesc))
	if e.Title == "" && e.Description == "" && len(e.Fields) == 0 {
		e.Description = "(no details)"
	}
	return rendered{Embeds: []*discordgo.MessageEmbed{e}, Components: buttons(m.Buttons)}
}

// fitDesc joins head (the title, when it leads) and lines into a
// description of at most n characters. The lines are cut longest first
// (see chat.FitLines): cut from its end, a deploy's long notes pushed the
// migrations prompt under them out of the message. head stays whole
// unless the lines would have no room left at all.
func fitDesc(head string, lines []string, n int) string {
	if head == "" {
		return chat.FitLines(lines, n, fit)
	}
	if len(lines) == 0 {
		return fit(head, n)
	}
	if rest := n - runes(head) - 1; rest > 0 {
		return head + "\n" + chat.FitLines(lines, rest, fit)
	}
	return fit(head+"\n"+strings.Join(lines, "\n"), n)
}

// more is the last field when not every field fits.
func more(n int) *discordgo.MessageEmbedField {
	return &discordgo.MessageEmbedField{Name: "…", Value: fmt.Sprintf("%d more", n), Inline: true}
}

func buttons(bs []chat.Button) []discordgo.MessageComponent {
	comps := []discordgo.MessageComponent{} // empty, not nil: an edit clears old buttons
	var row []discordgo.MessageComponent
	seen := map[string]bool{}
	for _, b := range bs {
		if len(b.Action) > maxCustomID && b.Short != "" {
			b.Action = b.Short
		}
		if b.Action == "" || len(b.Action) > maxCustomID || seen[b.Action] {
			continue // Discord refuses long or repeated custom_ids
		}
		if len(comps) == maxRows {
			break
		}
		seen[b.Action] = true
		label := b.Label
		if label == "" {
			label = b.Action
		}
		row = append(row, discordgo.Button{Label: clip(label, maxLabel), Style: buttonStyle(b.Style), CustomID: b.Action})
		if len(row) == maxPerRow {
			comps = append(comps, discordgo.ActionsRow{Components: row})
			row = nil
		}
	}
	if len(row) > 0 && len(comps) < maxRows {
		comps = append(comps, discordgo.ActionsRow{Components: row})
	}
	return comps
}

func buttonStyle(s string) discordgo.ButtonStyle {
	switch s {
	case "danger":
		return discordgo.DangerButton
	case "primary":
		return discordgo.PrimaryButton
	}
	return discordgo.SecondaryButton
}

func (r rendered) webhookEdit() *discordgo.WebhookEdit {
	return &discordgo.WebhookEdit{Embeds: &r.Embeds, Components: &r.Components, AllowedMentions: noMentions()}
}

// noMentions stops a message from pinging anyone, whatever its text says.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// markdown escapes the characters Discord's markdown gives a meaning
// anywhere in a line: emphasis, strike-through, code, spoilers, masked
// links, mentions and the escape itself.
var markdown = strings.NewReplacer(
	`\`, `\\`, `*`, `\*`, `_`, `\_`, `~`, `\~`, "`", "\\`", `|`, `\|`,
	`[`, `\[`, `]`, `\]`, `<`, `\<`,
)

func escape(s string) string { return markdown.Replace(s) }

// escapeText escapes s line by line: text from outside (a Sentry issue's
// title, a host's error) may hold newlines, and a line it starts could
// pass for one of the bot's own, a heading saying "Rolled back" say.
// chat.Clean makes every line break a \n first, so that escapeLine sees
// every line start, and shows control and text-reordering characters.
func escapeText(s string) string {
	lines := strings.Split(chat.Clean(s), "\n")
	for i, l := range lines {
		lines[i] = escapeLine(l)
	}
	return strings.Join(lines, "\n")
}

// escapeLine escapes one line, including what means something at its
// start, after any indent: headings (#), subtext (-#), block quotes (>,
// >>>), and lists (- and *, 1.).
func escapeLine(s string) string {
	s = escape(s)
	rest := strings.TrimLeft(s, " \t")
	indent := s[:len(s)-len(rest)]
	if rest == "" {
		return s
	}
	if strings.IndexByte("#>-", rest[0]) >= 0 {
		return indent + `\` + rest
	}
	digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	if digits > 0 && digits < len(rest) && rest[digits] == '.' &&
		(digits+1 == len(rest) || rest[digits+1] == ' ' || rest[digits+1] == '\t') {
		return indent + rest[:digits] + `\` + rest[digits:]
	}
	return s
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// cutNote ends a text fit had to cut.
const cutNote = "… (%d more characters not shown)"

// fit cuts escaped text s to at most n runes as clip does, but ends it
// saying how much was left out: a host's error or a list cut at a
// platform's limit must not read as if it were whole.
func fit(s string, n int) string {
	total := runes(s)
	if total <= n {
		return s
	}
	keep := n - runes(fmt.Sprintf(cutNote, total))
	if keep <= 0 {
		return clipEscaped(s, n)
	}
	cut := wholeEscapes(string([]rune(s)[:keep]))
	return cut + fmt.Sprintf(cutNote, total-runes(cut))
}

// clipEscaped cuts escaped text s as clip does, whole escapes at a time.
func clipEscaped(s string, n int) string {
	if runes(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	return wholeEscapes(string([]rune(s)[:n-1])) + "…"
}

// wholeEscapes drops the half of an escape a cut left at the end of s,
// which would escape what follows (the "…") and show itself.
func wholeEscapes(s string) string {
	if trailing := len(s) - len(strings.TrimRight(s, `\`)); trailing%2 == 1 {
		return s[:len(s)-1]
	}
	return s
}

// clip cuts s to at most n runes, ending a cut text with "…".
func clip(s string, n int) string {
	if runes(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Post sends m to a channel as a message from the bot (announcements,
// post-deploy alerts): the bot token is required.
func (a *Adapter) Post(ctx context.Context, channel string, m chat.Message) error {
	if a.token == "" {
		return fmt.Errorf("discord: post to %s: no bot token configured", channel)
	}
	r := render(m, a.cat)
	err := a.retry(ctx, func() error {
		_, err := a.s.ChannelMessageSendComplex(channel, &discordgo.MessageSend{
			Embeds: r.Embeds, Components: r.Components, AllowedMentions: noMentions(),
		}, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return fmt.Errorf("discord: post to %s: %w", channel, a.hide(err))
	}
	return nil
}
