// Package suggest marks the commands the bot suggests in its replies
// ("to undo it: rollback web prod"), so that a renderer can tell them
// from text that only has their shape: a lock's reason "deploy web 5"
// is the user's words, and shown as they wrote them. Discord writes a
// marked command as its slash command takes it; every other renderer
// shows it as written. The marks are two characters of Unicode's private
// use area, which no renderer shows; text from chat has them taken out
// when it is parsed (Strip), so only the bot can mark a command.
package suggest

import (
	"bytes"
	"strings"
)

const (
	openMark  = "\ue000"
	closeMark = "\ue001"
)

// Command marks cmd as a command the bot suggests. Marks inside cmd (in
// words it quotes from elsewhere) are taken out, so that none ends the
// suggestion early or starts another.
func Command(cmd string) string { return openMark + Strip(cmd) + closeMark }

// marks takes out both marks.
var marks = strings.NewReplacer(openMark, "", closeMark, "")

// Strip returns s without marks: the command text of a suggestion, or
// text from outside the bot, which may not suggest.
func Strip(s string) string {
	if !strings.Contains(s, openMark) && !strings.Contains(s, closeMark) {
		return s
	}
	return marks.Replace(s)
}

// StripBytes is Strip for bytes: b itself when it has no marks, as
// output mostly has not, so that megabytes of it are not copied.
func StripBytes(b []byte) []byte {
	if !bytes.Contains(b, []byte(openMark)) && !bytes.Contains(b, []byte(closeMark)) {
		return b
	}
	return []byte(marks.Replace(string(b)))
}

// Rewrite returns s with each suggested command replaced by f of it, and
// every mark taken out.
func Rewrite(s string, f func(cmd string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, openMark)
		if i < 0 {
			b.WriteString(Strip(s))
			return b.String()
		}
		b.WriteString(Strip(s[:i]))
		s = s[i+len(openMark):]
		j := strings.Index(s, closeMark)
		if j < 0 {
			// Cut short, by a renderer's limit say: not a whole
			// command, so shown as written.
			b.WriteString(Strip(s))
			return b.String()
		}
		b.WriteString(f(Strip(s[:j])))
		s = s[j+len(closeMark):]
	}
}
