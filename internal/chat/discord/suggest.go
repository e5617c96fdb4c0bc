package discord

import (
	"regexp"
	"strings"

	"github.com/switchman-bot/switchman/internal/commands"
)

// The commands the bot suggests ("decide: /rollback web prod to 1336, or
// /deploy web BUILD to prod") are written in the typed grammar, which
// Slack's slash commands and the console take as they are. Discord's
// slash commands take options instead, and have no "deploys" word:
// typed as suggested, they fail. slashForm rewrites such a suggestion
// into what a Discord user types: /rollback app:web env:prod build:1336.

// suggested finds a command that is suggested: written after a slash, or
// after a colon or an opening parenthesis ("name one: rollback web prod
// to BUILD").
var suggested = regexp.MustCompile(`(^|[\s(])/(deploy|rollback|unlock deploys|lock deploys) |(:\s+|\()(deploy|rollback|unlock deploys|lock deploys) `)

// suggestedWord is one word of a suggested command: an app, env, build or
// placeholder. A trailing dot ends the sentence, not the word.
var suggestedWord = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]*[A-Za-z0-9_+-]|^[A-Za-z0-9]`)

// slashForms rewrites every suggested command in s that has a Discord
// form; the rest of s is left as it is.
func slashForms(s string) string {
	var b strings.Builder
	for {
		loc := suggested.FindStringSubmatchIndex(s)
		if loc == nil {
			b.WriteString(s)
			return b.String()
		}
		// The command starts after its lead (a blank, a colon, "(").
		verbAt, verbEnd := loc[4], loc[5]
		if verbAt < 0 {
			verbAt, verbEnd = loc[8], loc[9]
		}
		start := verbAt
		if loc[4] >= 0 {
			start-- // the slash
		}
		form, n, ok := slashForm(s[verbAt:verbEnd], s[loc[1]:], loc[4] >= 0)
		if !ok {
			b.WriteString(s[:loc[1]])
			s = s[loc[1]:]
			continue
		}
		b.WriteString(s[:start])
		b.WriteString(form)
		s = s[loc[1]+n:]
	}
}

// slashForm writes verb and the words at the start of rest as a Discord
// slash command, and returns how many bytes of rest it took; ok is false
// when they are not the shape the verb takes. A verb written without its
// slash (slashed false) is a suggestion only when the command takes every
// word that follows it: the bot's prose names runs after a colon or in
// parentheses ("(rollback ID)", ": deploy 1338 started and …"), and so
// does text from outside, a lock's reason say; rewritten, they read as
// commands nobody suggested. A deploy id is the run named, never an app.
func slashForm(verb, rest string, slashed bool) (form string, n int, ok bool) {
	var words []string
	var ends []int
	for at := 0; ; {
		w := suggestedWord.FindString(rest[at:])
		if w == "" {
			break
		}
		words = append(words, w)
		at += len(w)
		ends = append(ends, at)
		if at >= len(rest) || rest[at] != ' ' {
			break
		}
		at++
	}
	if len(words) > 0 && commands.CheckDeployID(words[0]) == nil {
		return "", 0, false
	}
	form, k := slashFormOf(verb, words)
	if form == "" || (!slashed && k < len(words)) {
		return "", 0, false
	}
	if k == 0 {
		return form, 0, true
	}
	return form, ends[k-1], true
}

// slashFormOf writes verb and words as a Discord slash command, and
// returns how many of the words it took; form is "" when they are not
// the shape the verb takes.
func slashFormOf(verb string, words []string) (form string, k int) {
	switch verb {
	case "deploy":
		// deploy APP BUILD [to ENV]
		if len(words) < 2 {
			return "", 0
		}
		if w := strings.ToLower(words[0]); w == string(commands.VerbConfirm) || w == string(commands.VerbAbort) {
			// "deploy confirm ID" goes on with a run; Discord's
			// /deploy has no form of it (its buttons do it), and as
			// app:confirm it would deploy an app of that name.
			return "", 0
		}
		form = "/deploy app:" + words[0] + " build:" + words[1]
		k = 2
		if len(words) >= 4 && words[2] == "to" {
			form += " env:" + words[3]
			k = 4
		}
		return form, k
	case "rollback":
		// rollback APP [ENV] [to BUILD] [from BUILD]
		if len(words) < 1 {
			return "", 0
		}
		form = "/rollback app:" + words[0]
		k = 1
		if k < len(words) && words[k] != "to" && words[k] != "from" && isEnvWord(words[k]) {
			form += " env:" + words[k]
			k++
		}
		for _, kw := range []struct{ word, opt string }{{"to", "build"}, {"from", "from"}} {
			if k+1 < len(words) && words[k] == kw.word {
				form += " " + kw.opt + ":" + words[k+1]
				k += 2
			}
		}
		return form, k
	case "unlock deploys":
		// unlock deploys [APP] [ENV]
		k = min(len(words), 2)
		form = "/unlock"
		for i, opt := range []string{"app", "env"}[:k] {
			form += " " + opt + ":" + words[i]
		}
		return form, k
	case "lock deploys":
		// lock deploys APP ENV REASON
		if len(words) < 3 {
			return "", 0
		}
		return "/lock app:" + words[0] + " env:" + words[1] + " reason:" + words[2], 3
	}
	return "", 0
}

// isEnvWord reports whether w may be an env: not a word of the sentence
// the suggestion ends in.
func isEnvWord(w string) bool {
	switch w {
	case "when", "then", "or", "and", "if", "once":
		return false
	}
	return true
}
