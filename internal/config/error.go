package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string
	// Line is 1-based; 0 when the problem has no single place in the file.
	Line int
	Msg  string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// Error is every problem found in a configuration file, in line order. Load
// and Parse return it for anything wrong with the file's content, so that a
// user fixes all of it in one go rather than one problem per run.
type Error struct {
	Problems []Problem
}

// Error prints one "file:line: message" per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects what is wrong with one file. Problems found while
// reading the YAML (syntax, expansion, unknown keys, wrong types) come
// first; a validation problem on a line that already has one of those is
// dropped, since it is almost always the same mistake seen twice.
type problems struct {
	file  string
	list  []Problem
	early map[int]bool // lines with a problem from reading the YAML
	late  bool         // validation has started
}

func newProblems(file string) *problems {
	return &problems{file: file, early: map[int]bool{}}
}

func (ps *problems) add(line int, format string, args ...any) {
	if ps.late && line != 0 && ps.early[line] {
		return
	}
	if !ps.late && line != 0 {
		ps.early[line] = true
	}
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// yamlLine matches the position prefix of yaml.v3's messages: "yaml: line
// 3: …" for syntax errors and "line 3: …" for each decode error.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// addYAML records a message from yaml.v3. With skipKnown, a message for a
// line that already has a problem is dropped: the key walk reports the
// same mistakes with the key's path, and says it better.
func (ps *problems) addYAML(msg string, skipKnown bool) {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		ps.add(0, "%s", strings.TrimPrefix(msg, "yaml: "))
		return
	}
	line, _ := strconv.Atoi(m[1]) // the pattern admits digits only
	if skipKnown && ps.early[line] {
		return
	}
	ps.add(line, "%s", m[2])
}

// err returns the collected problems sorted by line, or nil if there are
// none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	return &Error{Problems: list}
}
