// Package shell quotes values for POSIX sh. It is the one place where text
// from users or the config becomes part of a script that a local or remote
// shell runs: every such value goes through Quote or Join.
package shell

import "strings"

// Quote returns s as one sh word that expands to exactly s.
//
// Strings made only of [A-Za-z0-9_./=:@%+,-] are returned as they are, so
// scripts stay readable; everything else is wrapped in single quotes, and a
// single quote inside becomes quote, backslash, quote, quote:
//
//	Quote("")       → ''
//	Quote("it's")   → 'it'\''s'
//	Quote("a b")    → 'a b'
//	Quote("v1.2.3") → v1.2.3
//
// A string that looks like a variable assignment (NAME=...) is always
// quoted, so that Join never turns an argument into an assignment when it
// is the first word.
//
// s must be Valid: a shell cannot receive a NUL byte. Quote does not
// reject one, but the result always keeps the NUL inside a single-quoted
// word, so a shell or exec call that cuts the script at the NUL sees an
// unterminated quote and fails instead of running a shortened command.
// A shell reading the script from a file or pipe may instead drop the
// byte (dash does) and run the word as another value: the transports
// refuse a script that is not Valid.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b.WriteString(`'\''`)
			continue
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// Join quotes each argument with Quote and joins them with spaces.
func Join(args ...string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = Quote(a)
	}
	return strings.Join(quoted, " ")
}

// Valid reports whether s can be passed through a shell intact, that is,
// whether it has no NUL byte. Values that are not Valid must be refused
// before they are quoted.
func Valid(s string) bool {
	return strings.IndexByte(s, 0) < 0
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("_./=:@%+,-", c) >= 0:
		default:
			return false
		}
	}
	return !looksLikeAssignment(s)
}

// looksLikeAssignment reports whether s starts with NAME= as sh defines a
// variable name, which makes it an assignment in command position.
func looksLikeAssignment(s string) bool {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return false
	}
	for i := 0; i < eq; i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
