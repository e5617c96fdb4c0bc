package config

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// expandNode replaces ${VAR} and ${VAR:-default} in every scalar value
// under n, and $$ with $. It runs on the parsed tree, not on the text, so a
// value containing ": #" or a newline cannot change the document's
// structure and every node keeps its line. Keys are left alone. Aliases
// are not followed: the anchored node is expanded where it is defined.
func expandNode(n *yaml.Node, env func(string) (string, bool), ps *problems) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			expandNode(c, env, ps)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			expandNode(n.Content[i], env, ps)
		}
	case yaml.ScalarNode:
		expandScalar(n, env, ps)
	}
}

func expandScalar(n *yaml.Node, env func(string) (string, bool), ps *problems) {
	if !strings.Contains(n.Value, "$") {
		return
	}
	out, errs := expand(n.Value, env)
	for _, e := range errs {
		line := n.Line
		if n.Style&yaml.LiteralStyle != 0 {
			// A literal block keeps its lines: the value's first line is
			// the one after the "|" indicator.
			line += 1 + strings.Count(n.Value[:e.offset], "\n")
		}
		ps.add(line, "%s", e.msg)
	}
	if out == n.Value {
		return
	}
	n.Value = out
	if n.Style&(yaml.TaggedStyle|yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		// A plain scalar is typed by its text, so "parallel: ${N:-4}"
		// is a number once expanded. An empty or "null" value stays a
		// string: the variable was set, to that.
		n.Tag = ""
		if n.ShortTag() == "!!null" {
			n.Tag = "!!str"
		}
	}
}

type expandError struct {
	offset int // in the original value
	msg    string
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expand returns s with ${NAME} replaced by the variable's value and
// ${NAME:-default} by the value, or default when the variable is unset or
// empty; $$ is a literal $. A $ followed by anything else is kept as is, so
// shell text such as "$HOME" passes through. An unset variable without a
// default is an error; its reference expands to nothing.
func expand(s string, env func(string) (string, bool)) (string, []expandError) {
	var b strings.Builder
	var errs []expandError
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) || s[i+1] != '$' && s[i+1] != '{' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			errs = append(errs, expandError{i, "unterminated ${ (write $$ for a literal $)"})
			b.WriteString(s[i:])
			return b.String(), errs
		}
		start := i
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		i += 2 + end + 1
		if strings.Contains(ref, "${") {
			// The reference would end at the inner }: ${A:-${B}} would
			// become the text "${B}" when A is unset, a secret anyone who
			// read the config knows.
			errs = append(errs, expandError{start, "a ${...} inside ${...} is not supported: write one reference, or set the variable"})
			if j := strings.IndexByte(s[i:], '}'); j >= 0 {
				i += j + 1
			}
			continue
		}
		if !varName.MatchString(name) {
			errs = append(errs, expandError{start, "invalid variable name in ${" + ref + "} (write $$ for a literal $)"})
			continue
		}
		switch v, ok := env(name); {
		case ok && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			errs = append(errs, expandError{start, "environment variable " + name + " is not set (write ${" + name + ":-default} to give a default)"})
		}
	}
	return b.String(), errs
}
