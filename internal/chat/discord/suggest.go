package discord

import (
	"strings"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// The commands the bot suggests ("decide: /rollback web prod to 1336, or
// /deploy web BUILD to prod") are written in the typed grammar, which
// Slack's slash commands and the console take as they are. Discord's
// slash commands take options instead, and have no "deploys" word:
// typed as suggested, they fail. slashForm rewrites such a suggestion
// into what a Discord user types: /rollback app:web env:prod build:1336.

// slashForms rewrites every command the bot marked as suggested in s (see
// suggest) that has a Discord form. The rest of s is left as it is: text
// of a command's shape that the bot did not mark (a lock's reason "deploy
// web 5", a run named "(rollback ID)") is not a suggestion, and rewritten
// it would misquote who wrote it.
func slashForms(s string) string { return suggest.Rewrite(s, slashForm) }

// slashForm writes cmd, a suggested command with or without its leading
// slash, as a Discord slash command, or returns cmd as it is when its
// words are not the shape the verb takes (a placeholder "…", the
// "confirm" of a migrations prompt), as Discord would not take it. A
// deploy id is the run named, never an app.
func slashForm(cmd string) string {
	words := strings.Fields(strings.TrimPrefix(cmd, "/"))
	if len(words) == 0 {
		return cmd
	}
	verb, rest := words[0], words[1:]
	if (verb == "lock" || verb == "unlock") && len(rest) > 0 && rest[0] == "deploys" {
		verb, rest = verb+" deploys", rest[1:]
	}
	if len(rest) > 0 && commands.CheckDeployID(rest[0]) == nil {
		return cmd
	}
	form, k := slashFormOf(verb, rest)
	if form == "" || k < len(rest) {
		return cmd
	}
	return form
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
	case "status":
		// status [APP]
		k = min(len(words), 1)
		form = "/status"
		if k == 1 {
			form += " app:" + words[0]
		}
		return form, k
	case "cancel":
		// cancel APP [ENV]
		if len(words) < 1 {
			return "", 0
		}
		k = min(len(words), 2)
		form = "/cancel"
		for i, opt := range []string{"app", "env"}[:k] {
			form += " " + opt + ":" + words[i]
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
		// lock deploys APP ENV REASON, or APP ENV "REASON …": Discord's
		// reason option takes the words of a quoted one without the
		// quotes.
		if len(words) < 3 {
			return "", 0
		}
		reason := strings.Join(words[2:], " ")
		if r, ok := strings.CutPrefix(reason, `"`); ok {
			if r, ok = strings.CutSuffix(r, `"`); !ok || r == "" || strings.Contains(r, `"`) {
				return "", 0
			}
			return "/lock app:" + words[0] + " env:" + words[1] + " reason:" + r, len(words)
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
